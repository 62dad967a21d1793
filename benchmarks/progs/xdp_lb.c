// SPDX-License-Identifier: GPL-2.0
/* L4 load balancer with IP-in-IP encapsulation (direct server return).
 *
 * TCP and UDP packets over IPv4 or IPv6 (optionally behind up to two VLAN tags) are matched
 * against a VIP table keyed by (address, port, protocol); a VIP entry with port 0 catches every
 * port. A flow's backend comes from the connection table (an LRU hash of 5-tuples) when the flow
 * is known, otherwise from the service's Maglev-style lookup ring: a per-service slice of an
 * array indexed by a MurmurHash3-style hash of the 5-tuple (or of the addresses alone for VIPs
 * flagged to ignore ports) modulo a prime ring size; the choice is then recorded in the
 * connection table. The packet is encapsulated towards the backend with bpf_xdp_adjust_head:
 * IPv4 in IPv4 (protocol 4, outer header checksum summed in full, unrolled), IPv4 in IPv6 or
 * IPv6 in IPv6 (next header 4 / 41, flow label from the flow hash), the L2 header moved to the
 * new front with its MACs swapped, and sent back out with XDP_TX. A TCP RST is forwarded and
 * removes its flow from the connection table.
 *
 * ICMP / ICMPv6 echo requests to an address with an ICMP "VIP" entry are answered in place
 * (XDP_TX, checksums updated incrementally as in RFC 1624). Traffic that is not for a VIP,
 * IPv4 / IPv6 fragments, and other ICMP (notably "fragmentation needed" / "packet too big",
 * which the host's PMTU logic needs) go to the stack, as do packets that would exceed the
 * configured MTU once encapsulated. Packets and bytes are counted per CPU by outcome and per
 * service.
 */
#include "common.h"

#define RING_SIZE 257 /* prime, per service */
#define MAX_SERVICES 64
#define MAX_BACKENDS 1024
#define DEFAULT_MTU 1500
#define OUTER_TTL 64

#define IPPROTO_IPIP_ 4
#define IPPROTO_IPV6_ 41
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_ICMPV6_ 58
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4
#define ICMPV6_PKT_TOOBIG 2

#define VIP_F_HASH_NO_PORTS 0x1 /* hash addresses only: a client sticks to one backend */
#define BACKEND_F_DOWN 0x1

struct vip_key {
	__be32 addr[4]; /* IPv4 in addr[0] */
	__be16 port;    /* 0: any port */
	__u8 proto;
	__u8 family; /* 4 or 6 */
};

struct vip_meta {
	__u32 ring_id; /* service index: its ring is rings[ring_id * RING_SIZE ...] */
	__u32 flags;
};

struct backend {
	__be32 addr[4];
	__u8 family; /* 4 or 6; 0 = unused */
	__u8 flags;
	__u16 pad;
};

struct flow_key {
	__be32 src[4];
	__be32 dst[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

struct conn {
	__u32 backend_id;
	__u32 pad;
	__u64 last_seen_ns;
};

struct lb_config {
	__be32 src4;    /* outer source address for IPv4 encapsulation */
	__be32 src6[4]; /* and for IPv6 */
	__u32 mtu;      /* largest outer IP packet */
};

/* ICMP and ICMPv6 echo share this layout (linux/icmp.h does not build for -target bpf). */
struct icmp_echo {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be16 id;
	__be16 sequence;
};

struct lb_counter {
	__u64 packets;
	__u64 bytes;
};

enum {
	LB_STAT_TX_IPIP = 0,  /* IPv4 in IPv4 */
	LB_STAT_TX_4IN6,      /* IPv4 in IPv6 */
	LB_STAT_TX_6IN6,      /* IPv6 in IPv6 */
	LB_STAT_CONN_HIT,     /* backend from the connection table */
	LB_STAT_CONN_NEW,     /* backend from the ring */
	LB_STAT_NOT_VIP,      /* passed: no VIP */
	LB_STAT_FRAGMENT,     /* passed: IP fragment */
	LB_STAT_ICMP,         /* passed: ICMP / ICMPv6 to a VIP */
	LB_STAT_TOO_BIG,      /* passed: would exceed the MTU */
	LB_STAT_NO_BACKEND,   /* dropped: empty ring slot, down or mismatched backend */
	LB_STAT_MALFORMED,    /* dropped: truncated or inconsistent headers */
	LB_STAT_ADJUST_FAIL,  /* dropped: no headroom */
	LB_STAT_ECHO_REPLY,   /* ICMP / ICMPv6 echo to a VIP answered */
	LB_STAT_MAX
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, struct vip_key);
	__type(value, struct vip_meta);
} lb_vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RING_SIZE * MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u32); /* backend id */
} lb_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} lb_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct flow_key);
	__type(value, struct conn);
} lb_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_config);
} lb_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_STAT_MAX);
	__type(key, __u32);
	__type(value, struct lb_counter);
} lb_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32); /* ring id */
	__type(value, struct lb_counter);
} lb_vip_stats SEC(".maps");

static __always_inline int account(__u32 stat, __u64 bytes, int action)
{
	struct lb_counter *c = bpf_map_lookup_elem(&lb_stats, &stat);

	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
	return action;
}

/* ---- flow hash: MurmurHash3 (x86, 32-bit) over the 32-bit words of the flow ---- */

#define HASH_SEED 0x8badf00dU

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 mur_round(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51U;
	k = rotl32(k, 15);
	k *= 0x1b873593U;
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64U;
}

static __always_inline __u32 mur_final(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6bU;
	h ^= h >> 13;
	h *= 0xc2b2ae35U;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 flow_hash(const struct flow_key *f, int use_ports)
{
	__u32 h = HASH_SEED, words = 0;

	if (f->family == 4) {
		h = mur_round(h, f->src[0]);
		h = mur_round(h, f->dst[0]);
		words = 2;
	} else {
		h = mur_round(h, f->src[0]);
		h = mur_round(h, f->src[1]);
		h = mur_round(h, f->src[2]);
		h = mur_round(h, f->src[3]);
		h = mur_round(h, f->dst[0]);
		h = mur_round(h, f->dst[1]);
		h = mur_round(h, f->dst[2]);
		h = mur_round(h, f->dst[3]);
		words = 8;
	}
	if (use_ports) {
		h = mur_round(h, ((__u32)f->sport << 16) | f->dport);
		words++;
	}
	h = mur_round(h, f->proto);
	words++;
	return mur_final(h, words * 4);
}

/* ---- checksums ---- */

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Full checksum of an option-less IPv4 header, one word at a time. */
static __always_inline __u16 ipv4_hdr_csum(struct iphdr *iph)
{
	__u16 *w = (__u16 *)iph;
	__u32 sum = 0;

	iph->check = 0;
	sum += w[0];
	sum += w[1];
	sum += w[2];
	sum += w[3];
	sum += w[4];
	sum += w[5];
	sum += w[6];
	sum += w[7];
	sum += w[8];
	sum += w[9];
	return csum_fold(sum);
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), on network-order 16-bit words. */
static __always_inline __u16 csum16_replace(__u16 check, __u16 old, __u16 new)
{
	return csum_fold((__u16)~check + (__u16)~old + (__u32)new);
}

/* ---- ICMP echo to a VIP address ---- */

/* A VIP entry for ICMP / ICMPv6 (port 0) asks the balancer to answer pings to that address. */
static __always_inline int is_ping_vip(const struct flow_key *f, __u8 proto)
{
	struct vip_key vk = {};

	__builtin_memcpy(vk.addr, f->dst, sizeof(vk.addr));
	vk.proto = proto;
	vk.family = f->family;
	return bpf_map_lookup_elem(&lb_vips, &vk) != 0;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

/* Turns the echo request into its reply in place: type, checksums, addresses, TTL, MACs. */
static __always_inline void echo_reply4(struct ethhdr *eth, struct iphdr *iph, struct icmp_echo *ic,
					const struct flow_key *f)
{
	__u16 old = *(__u16 *)ic;

	ic->type = ICMP_ECHOREPLY;
	ic->checksum = csum16_replace(ic->checksum, old, *(__u16 *)ic);
	iph->saddr = f->dst[0]; /* the swap leaves the header sum unchanged */
	iph->daddr = f->src[0];
	old = *(__u16 *)&iph->ttl;
	iph->ttl = OUTER_TTL;
	iph->check = csum16_replace(iph->check, old, *(__u16 *)&iph->ttl);
	swap_macs(eth);
}

static __always_inline void echo_reply6(struct ethhdr *eth, struct ipv6hdr *ip6h, struct icmp_echo *ic,
					const struct flow_key *f)
{
	__u16 old = *(__u16 *)ic;

	/* The pseudo-header only has its addresses swapped: only the type word changes the sum. */
	ic->type = ICMPV6_ECHO_REPLY;
	ic->checksum = csum16_replace(ic->checksum, old, *(__u16 *)ic);
	__builtin_memcpy(&ip6h->saddr, f->dst, sizeof(ip6h->saddr));
	__builtin_memcpy(&ip6h->daddr, f->src, sizeof(ip6h->daddr));
	ip6h->hop_limit = OUTER_TTL;
	swap_macs(eth);
}

/* ---- encapsulation ---- */

/* After bpf_xdp_adjust_head(-hdrlen): moves the L2 header (Ethernet and `vlans` tags) from
 * data + hdrlen to data with the MACs swapped, sets its innermost EtherType to `type`, and
 * returns where the outer IP header goes (0 if the packet is too short). */
static __always_inline void *move_l2(void *data, void *data_end, __u32 hdrlen, int vlans, __be16 type)
{
	struct ethhdr *neth = data, *oeth = data + hdrlen;
	struct vlan_hdr *nv, *ov;

	if ((void *)(oeth + 1) > data_end)
		return 0;
	__builtin_memcpy(neth->h_dest, oeth->h_source, ETH_ALEN);
	__builtin_memcpy(neth->h_source, oeth->h_dest, ETH_ALEN);
	if (vlans == 0) {
		neth->h_proto = type;
		return neth + 1;
	}
	neth->h_proto = oeth->h_proto;
	nv = (void *)(neth + 1);
	ov = (void *)(oeth + 1);
	if ((void *)(ov + 1) > data_end)
		return 0;
	nv->h_vlan_TCI = ov->h_vlan_TCI;
	if (vlans == 1) {
		nv->h_vlan_encapsulated_proto = type;
		return nv + 1;
	}
	nv->h_vlan_encapsulated_proto = ov->h_vlan_encapsulated_proto;
	nv++;
	ov++;
	if ((void *)(ov + 1) > data_end)
		return 0;
	nv->h_vlan_TCI = ov->h_vlan_TCI;
	nv->h_vlan_encapsulated_proto = type;
	return nv + 1;
}

static __always_inline int encap_ipip(struct xdp_md *ctx, int vlans, const struct backend *be,
				      const struct lb_config *cfg, __u16 inner_len, __u8 tos)
{
	void *data, *data_end;
	struct iphdr *outer;

	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer = move_l2(data, data_end, sizeof(struct iphdr), vlans, bpf_htons(ETH_P_IP));
	if (!outer || (void *)(outer + 1) > data_end)
		return -1;
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = tos;
	outer->tot_len = bpf_htons(inner_len + sizeof(struct iphdr));
	outer->id = 0;
	outer->frag_off = 0;
	outer->ttl = OUTER_TTL;
	outer->protocol = IPPROTO_IPIP_;
	outer->saddr = cfg->src4;
	outer->daddr = be->addr[0];
	outer->check = ipv4_hdr_csum(outer);
	return 0;
}

static __always_inline int encap_ip6(struct xdp_md *ctx, int vlans, const struct backend *be,
				     const struct lb_config *cfg, __u16 inner_len, __u8 tclass, __u8 nexthdr,
				     __u32 flow_label)
{
	void *data, *data_end;
	struct ipv6hdr *outer;
	__u32 word;

	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct ipv6hdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer = move_l2(data, data_end, sizeof(struct ipv6hdr), vlans, bpf_htons(ETH_P_IPV6));
	if (!outer || (void *)(outer + 1) > data_end)
		return -1;
	/* version 6, traffic class, 20-bit flow label */
	word = (6U << 28) | ((__u32)tclass << 20) | (flow_label & 0xfffff);
	*(__be32 *)outer = bpf_htonl(word);
	outer->payload_len = bpf_htons(inner_len);
	outer->nexthdr = nexthdr;
	outer->hop_limit = OUTER_TTL;
	__builtin_memcpy(&outer->saddr, cfg->src6, sizeof(outer->saddr));
	__builtin_memcpy(&outer->daddr, be->addr, sizeof(outer->daddr));
	return 0;
}

/* ---- backend selection ---- */

static __always_inline struct vip_meta *vip_lookup(struct flow_key *f)
{
	struct vip_key vk = {};
	struct vip_meta *vip;

	__builtin_memcpy(vk.addr, f->dst, sizeof(vk.addr));
	vk.port = f->dport;
	vk.proto = f->proto;
	vk.family = f->family;
	vip = bpf_map_lookup_elem(&lb_vips, &vk);
	if (vip)
		return vip;
	vk.port = 0;
	return bpf_map_lookup_elem(&lb_vips, &vk);
}

/* Returns the backend for the flow, from the connection table or the service's ring. */
static __always_inline struct backend *pick_backend(struct flow_key *f, struct vip_meta *vip, __u32 *hash,
						    __u64 bytes)
{
	struct conn *ct, fresh = {};
	struct backend *be;
	__u32 slot, *id, bid;
	__u64 now = bpf_ktime_get_ns();

	*hash = flow_hash(f, !(vip->flags & VIP_F_HASH_NO_PORTS));

	ct = bpf_map_lookup_elem(&lb_conns, f);
	if (ct) {
		bid = ct->backend_id;
		be = bpf_map_lookup_elem(&lb_backends, &bid);
		if (be && be->family && !(be->flags & BACKEND_F_DOWN)) {
			ct->last_seen_ns = now;
			account(LB_STAT_CONN_HIT, bytes, 0);
			return be;
		}
		/* Backend gone: fall through and rehash the flow. */
	}

	if (vip->ring_id >= MAX_SERVICES)
		return 0;
	slot = vip->ring_id * RING_SIZE + *hash % RING_SIZE;
	id = bpf_map_lookup_elem(&lb_rings, &slot);
	if (!id)
		return 0;
	bid = *id;
	be = bpf_map_lookup_elem(&lb_backends, &bid);
	if (!be || !be->family || (be->flags & BACKEND_F_DOWN))
		return 0;
	fresh.backend_id = bid;
	fresh.last_seen_ns = now;
	bpf_map_update_elem(&lb_conns, f, &fresh, BPF_ANY);
	account(LB_STAT_CONN_NEW, bytes, 0);
	return be;
}

/* Fills the ports of the flow; returns -1 if the header is cut, else 1 for a TCP RST, 0 otherwise. */
static __always_inline int parse_ports(struct hdr_cursor *nh, void *data_end, struct flow_key *f)
{
	if (f->proto == IPPROTO_TCP) {
		struct tcphdr *th;

		if (parse_tcphdr(nh, data_end, &th) < 0)
			return -1;
		f->sport = th->source;
		f->dport = th->dest;
		return th->rst;
	}
	if (f->proto == IPPROTO_UDP) {
		struct udphdr *uh;

		if (parse_udphdr(nh, data_end, &uh) < 0)
			return -1;
		f->sport = uh->source;
		f->dport = uh->dest;
		return 0;
	}
	return -1;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct flow_key flow = {};
	struct lb_counter *vstat;
	struct lb_config *cfg;
	struct vip_meta *vip;
	struct backend *be;
	struct ethhdr *eth;
	__u64 bytes = data_end - data;
	__u32 zero = 0, hash = 0, mtu;
	__u16 inner_len = 0;
	__u8 tos = 0;
	int eth_type, proto, vlans, rst;

	cfg = bpf_map_lookup_elem(&lb_config, &zero);
	if (!cfg)
		return XDP_PASS;
	mtu = cfg->mtu ? cfg->mtu : DEFAULT_MTU;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type < 0)
		return account(LB_STAT_MALFORMED, bytes, XDP_DROP);

	if (eth_type == ETH_P_IP) {
		struct iphdr *iph;

		proto = parse_iphdr(&nh, data_end, &iph);
		if (proto < 0)
			return account(LB_STAT_MALFORMED, bytes, XDP_DROP);
		inner_len = bpf_ntohs(iph->tot_len);
		if (inner_len < iph->ihl * 4 || (void *)iph + inner_len > data_end)
			return account(LB_STAT_MALFORMED, bytes, XDP_DROP);
		flow.family = 4;
		flow.proto = proto;
		flow.src[0] = iph->saddr;
		flow.dst[0] = iph->daddr;
		tos = iph->tos;
		if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return account(LB_STAT_FRAGMENT, bytes, XDP_PASS);
		if (proto == IPPROTO_ICMP) {
			struct icmp_echo *ic = nh.pos;

			if ((void *)(ic + 1) > data_end)
				return account(LB_STAT_NOT_VIP, bytes, XDP_PASS);
			if (ic->type == ICMP_ECHO && ic->code == 0 && is_ping_vip(&flow, IPPROTO_ICMP)) {
				echo_reply4(eth, iph, ic, &flow);
				return account(LB_STAT_ECHO_REPLY, bytes, XDP_TX);
			}
			/* Other ICMP (PMTU signals above all) is the host's business. */
			if (ic->type == ICMP_DEST_UNREACH && ic->code == ICMP_FRAG_NEEDED)
				return account(LB_STAT_ICMP, bytes, XDP_PASS);
			return account(LB_STAT_NOT_VIP, bytes, XDP_PASS);
		}
	} else if (eth_type == ETH_P_IPV6) {
		struct ipv6hdr *ip6h;

		proto = parse_ip6hdr(&nh, data_end, &ip6h);
		if (proto < 0)
			return account(LB_STAT_MALFORMED, bytes, XDP_DROP);
		inner_len = bpf_ntohs(ip6h->payload_len);
		if ((void *)(ip6h + 1) + inner_len > data_end)
			return account(LB_STAT_MALFORMED, bytes, XDP_DROP);
		inner_len += sizeof(*ip6h);
		flow.family = 6;
		flow.proto = proto;
		__builtin_memcpy(flow.src, &ip6h->saddr, sizeof(flow.src));
		__builtin_memcpy(flow.dst, &ip6h->daddr, sizeof(flow.dst));
		tos = (bpf_ntohs(*(__be16 *)ip6h) >> 4) & 0xff;
		if (proto == IPPROTO_FRAGMENT_)
			return account(LB_STAT_FRAGMENT, bytes, XDP_PASS);
		if (proto == IPPROTO_ICMPV6_) {
			struct icmp_echo *ic = nh.pos;

			if ((void *)(ic + 1) > data_end)
				return account(LB_STAT_NOT_VIP, bytes, XDP_PASS);
			if (ic->type == ICMPV6_ECHO_REQUEST && ic->code == 0 &&
			    is_ping_vip(&flow, IPPROTO_ICMPV6_)) {
				echo_reply6(eth, ip6h, ic, &flow);
				return account(LB_STAT_ECHO_REPLY, bytes, XDP_TX);
			}
			if (ic->type == ICMPV6_PKT_TOOBIG)
				return account(LB_STAT_ICMP, bytes, XDP_PASS);
			return account(LB_STAT_NOT_VIP, bytes, XDP_PASS);
		}
	} else {
		return account(LB_STAT_NOT_VIP, bytes, XDP_PASS);
	}

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return account(LB_STAT_NOT_VIP, bytes, XDP_PASS);
	rst = parse_ports(&nh, data_end, &flow);
	if (rst < 0)
		return account(LB_STAT_MALFORMED, bytes, XDP_DROP);

	vip = vip_lookup(&flow);
	if (!vip)
		return account(LB_STAT_NOT_VIP, bytes, XDP_PASS);
	vstat = bpf_map_lookup_elem(&lb_vip_stats, &vip->ring_id);
	if (vstat) {
		vstat->packets += 1;
		vstat->bytes += bytes;
	}

	be = pick_backend(&flow, vip, &hash, bytes);
	if (!be)
		return account(LB_STAT_NO_BACKEND, bytes, XDP_DROP);
	/* A reset ends the connection: forward it, but forget the flow. */
	if (rst)
		bpf_map_delete_elem(&lb_conns, &flow);

	if (flow.family == 4 && be->family == 4) {
		if (inner_len + sizeof(struct iphdr) > mtu)
			return account(LB_STAT_TOO_BIG, bytes, XDP_PASS);
		if (encap_ipip(ctx, vlans, be, cfg, inner_len, tos))
			return account(LB_STAT_ADJUST_FAIL, bytes, XDP_DROP);
		return account(LB_STAT_TX_IPIP, bytes, XDP_TX);
	}
	if (be->family != 6)
		return account(LB_STAT_NO_BACKEND, bytes, XDP_DROP);
	if (inner_len + sizeof(struct ipv6hdr) > mtu)
		return account(LB_STAT_TOO_BIG, bytes, XDP_PASS);
	if (flow.family == 4) {
		if (encap_ip6(ctx, vlans, be, cfg, inner_len, tos, IPPROTO_IPIP_, hash))
			return account(LB_STAT_ADJUST_FAIL, bytes, XDP_DROP);
		return account(LB_STAT_TX_4IN6, bytes, XDP_TX);
	}
	if (encap_ip6(ctx, vlans, be, cfg, inner_len, tos, IPPROTO_IPV6_, hash))
		return account(LB_STAT_ADJUST_FAIL, bytes, XDP_DROP);
	return account(LB_STAT_TX_6IN6, bytes, XDP_TX);
}

char LICENSE[] SEC("license") = "GPL";
