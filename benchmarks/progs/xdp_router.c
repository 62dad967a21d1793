// SPDX-License-Identifier: GPL-2.0
/* LPM-routed IPv4 / IPv6 forwarder. The destination address is looked up in a longest-prefix-match
 * trie per family, giving a next-hop id; the next-hop array holds the egress ifindex, the source
 * and destination MACs and flags. Forwarded packets have their TTL (IPv4, with the header checksum
 * updated incrementally as in RFC 1624) or hop limit (IPv6) decremented and their MACs rewritten,
 * then leave through a DEVMAP slot (checked with a lookup first; bpf_redirect_map with the XDP_PASS
 * fallback) or bpf_redirect to the ifindex. Packets with TTL <= 1, without a route, to local or
 * unusable next hops, or with IPv4 options go to the stack (which answers with ICMP where due);
 * truncated ones are dropped. Outcomes are counted per CPU.
 */
#include "common.h"

#define MAX_NEXTHOPS 256

#define NH_F_VALID 0x1  /* entry in use */
#define NH_F_DEVMAP 0x2 /* egress through tx_devs[nh id] instead of bpf_redirect */
#define NH_F_LOCAL 0x4  /* deliver to the local stack */

struct route4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct route6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct nexthop {
	__u32 ifindex;
	__u8 smac[ETH_ALEN];
	__u8 dmac[ETH_ALEN];
	__u32 flags;
};

enum {
	RT_STAT_FORWARDED = 0,
	RT_STAT_NO_ROUTE,
	RT_STAT_TTL_EXPIRED,
	RT_STAT_LOCAL,
	RT_STAT_SLOW_PATH, /* IPv4 options, bad next hop */
	RT_STAT_NON_IP,
	RT_STAT_MALFORMED,
	RT_STAT_MAX
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__type(key, struct route4_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__type(key, struct route6_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_NEXTHOPS);
	__type(key, __u32);
	__type(value, struct nexthop);
} nexthops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, MAX_NEXTHOPS);
	__type(key, __u32);
	__type(value, __u32);
} tx_devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rt_stats SEC(".maps");

static __always_inline int count(__u32 stat, int action)
{
	__u64 *cnt = bpf_map_lookup_elem(&rt_stats, &stat);

	if (cnt)
		*cnt += 1;
	return action;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), on network-order 16-bit words. */
static __always_inline __u16 csum16_update(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32)new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline void ipv4_dec_ttl(struct iphdr *iph)
{
	__u16 *word = (__u16 *)&iph->ttl; /* TTL and protocol share a 16-bit word */
	__u16 old = *word;

	iph->ttl--;
	iph->check = csum16_update(iph->check, old, *word);
}

static __always_inline struct nexthop *nexthop_get(__u32 *id)
{
	struct nexthop *nh;

	if (!id)
		return 0;
	nh = bpf_map_lookup_elem(&nexthops, id);
	if (!nh || !(nh->flags & NH_F_VALID))
		return 0;
	/* An empty DEVMAP slot would bounce the rewritten packet to the stack: check it first. */
	if ((nh->flags & NH_F_DEVMAP) && !bpf_map_lookup_elem(&tx_devs, id))
		return 0;
	return nh;
}

static __always_inline int forward(struct ethhdr *eth, struct nexthop *nh, __u32 id)
{
	__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, nh->smac, ETH_ALEN);
	count(RT_STAT_FORWARDED, 0);
	if (nh->flags & NH_F_DEVMAP)
		return bpf_redirect_map(&tx_devs, id, XDP_PASS);
	return bpf_redirect(nh->ifindex, 0);
}

SEC("xdp")
int xdp_router(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor cur = { .pos = data };
	struct nexthop *nh;
	struct ethhdr *eth;
	__u32 *id;
	int eth_type, vlans;

	eth_type = parse_ethhdr(&cur, data_end, &eth, &vlans);
	if (eth_type < 0)
		return count(RT_STAT_MALFORMED, XDP_DROP);

	if (eth_type == ETH_P_IP) {
		struct route4_key key = { .prefixlen = 32 };
		struct iphdr *iph;

		if (parse_iphdr(&cur, data_end, &iph) < 0)
			return count(RT_STAT_MALFORMED, XDP_DROP);
		if (iph->ihl != 5)
			return count(RT_STAT_SLOW_PATH, XDP_PASS);
		__builtin_memcpy(key.addr, &iph->daddr, sizeof(key.addr));
		id = bpf_map_lookup_elem(&routes4, &key);
		if (!id)
			return count(RT_STAT_NO_ROUTE, XDP_PASS);
		nh = nexthop_get(id);
		if (!nh)
			return count(RT_STAT_SLOW_PATH, XDP_PASS);
		if (nh->flags & NH_F_LOCAL)
			return count(RT_STAT_LOCAL, XDP_PASS);
		if (iph->ttl <= 1)
			return count(RT_STAT_TTL_EXPIRED, XDP_PASS);
		ipv4_dec_ttl(iph);
		return forward(eth, nh, *id);
	}
	if (eth_type == ETH_P_IPV6) {
		struct route6_key key = { .prefixlen = 128 };
		struct ipv6hdr *ip6h;

		if (parse_ip6hdr(&cur, data_end, &ip6h) < 0)
			return count(RT_STAT_MALFORMED, XDP_DROP);
		/* Link-local destinations never leave the link. */
		if (ip6h->daddr.in6_u.u6_addr8[0] == 0xfe && (ip6h->daddr.in6_u.u6_addr8[1] & 0xc0) == 0x80)
			return count(RT_STAT_LOCAL, XDP_PASS);
		__builtin_memcpy(key.addr, &ip6h->daddr, sizeof(key.addr));
		id = bpf_map_lookup_elem(&routes6, &key);
		if (!id)
			return count(RT_STAT_NO_ROUTE, XDP_PASS);
		nh = nexthop_get(id);
		if (!nh)
			return count(RT_STAT_SLOW_PATH, XDP_PASS);
		if (nh->flags & NH_F_LOCAL)
			return count(RT_STAT_LOCAL, XDP_PASS);
		if (ip6h->hop_limit <= 1)
			return count(RT_STAT_TTL_EXPIRED, XDP_PASS);
		ip6h->hop_limit--;
		return forward(eth, nh, *id);
	}
	return count(RT_STAT_NON_IP, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
