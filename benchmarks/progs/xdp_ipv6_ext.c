// SPDX-License-Identifier: GPL-2.0
/* IPv6 extension-header walker. After Ethernet (up to two VLAN tags, common.h) and the fixed IPv6
 * header, a bounded loop follows the Next Header chain through at most MAX_EXT_HDRS hop-by-hop,
 * routing, destination-options, fragment and AH headers to the upper-layer protocol, and counts
 * packets and bytes per upper-layer protocol in a per-CPU array. It drops:
 *   - packets with a type-0 routing header (deprecated by RFC 5095),
 *   - fragments without the upper-layer header: non-first fragments (offset != 0), which a
 *     stateless filter cannot classify, and first fragments whose header chain or L4 header is
 *     cut short (RFC 7112),
 *   - truncated extension headers.
 * Chains longer than MAX_EXT_HDRS are passed unclassified. Drop and pass reasons are counted in a
 * second per-CPU array. Non-IPv6 traffic is passed untouched.
 */
#include "common.h"

#define MAX_EXT_HDRS 8

/* The first two bytes of an extension header (in the fragment header the second is reserved). */
struct ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct rt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 type;
	__u8 segments_left;
};

struct frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3, two reserved bits, M flag */
	__be32 identification;
};

#define FRAG_OFFSET_MASK 0xfff8

enum ext_event {
	EV_RH0 = 0,        /* dropped: type-0 routing header */
	EV_LATER_FRAG,     /* dropped: non-first fragment */
	EV_SHORT_FRAG,     /* dropped: first fragment without the whole L4 header */
	EV_TRUNCATED,      /* dropped: extension or L4 header past the end of the packet */
	EV_CHAIN_TOO_LONG, /* passed: more than MAX_EXT_HDRS extension headers */
	EV_MAX,
};

struct l4_counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct l4_counter);
} ipv6_l4_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ipv6_ext_events SEC(".maps");

static __always_inline int event(__u32 ev, int verdict)
{
	__u64 *cnt = bpf_map_lookup_elem(&ipv6_ext_events, &ev);

	if (cnt)
		*cnt += 1;
	return verdict;
}

/* Minimum bytes of the upper-layer header a first fragment must carry. */
static __always_inline int l4_min_len(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_ICMPV6:
		return 4; /* type, code, checksum */
	default:
		return 0;
	}
}

static __always_inline int is_ext_hdr(int nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING || nexthdr == IPPROTO_DSTOPTS ||
	       nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_AH;
}

SEC("xdp")
int xdp_ipv6_ext(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct ipv6hdr *ip6h;
	struct ethhdr *eth;
	struct l4_counter *c;
	int eth_type, nexthdr, vlans, i, len;
	int fragmented = 0;
	__u32 key;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type != ETH_P_IPV6)
		return XDP_PASS;
	nexthdr = parse_ip6hdr(&nh, data_end, &ip6h);
	if (nexthdr < 0)
		return XDP_PASS; /* not even an IPv6 header: the stack drops it */

	for (i = 0; i < MAX_EXT_HDRS; i++) {
		struct ext_hdr *eh = nh.pos;

		switch (nexthdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_DSTOPTS:
			if ((void *)(eh + 1) > data_end)
				return event(EV_TRUNCATED, XDP_DROP);
			len = (eh->hdrlen + 1) << 3;
			break;
		case IPPROTO_ROUTING: {
			struct rt_hdr *rh = nh.pos;

			if ((void *)(rh + 1) > data_end)
				return event(EV_TRUNCATED, XDP_DROP);
			if (rh->type == 0)
				return event(EV_RH0, XDP_DROP);
			len = (rh->hdrlen + 1) << 3;
			break;
		}
		case IPPROTO_AH:
			/* AH counts 4-byte units minus 2, the others 8-byte units minus 1. */
			if ((void *)(eh + 1) > data_end)
				return event(EV_TRUNCATED, XDP_DROP);
			len = (eh->hdrlen + 2) << 2;
			break;
		case IPPROTO_FRAGMENT: {
			struct frag_hdr *fh = nh.pos;

			if ((void *)(fh + 1) > data_end)
				return event(EV_TRUNCATED, XDP_DROP);
			if (fh->frag_off & bpf_htons(FRAG_OFFSET_MASK))
				return event(EV_LATER_FRAG, XDP_DROP);
			fragmented = 1;
			len = sizeof(*fh);
			break;
		}
		default:
			goto upper_layer;
		}
		nexthdr = eh->nexthdr;
		nh.pos += len;
	}
	if (is_ext_hdr(nexthdr))
		return event(EV_CHAIN_TOO_LONG, XDP_PASS);

upper_layer:
	/* The whole L4 header must be there; for a first fragment RFC 7112 requires the full chain. */
	if (nh.pos + l4_min_len(nexthdr) > data_end)
		return event(fragmented ? EV_SHORT_FRAG : EV_TRUNCATED, XDP_DROP);

	key = nexthdr;
	c = bpf_map_lookup_elem(&ipv6_l4_stats, &key);
	if (c) {
		c->packets += 1;
		c->bytes += data_end - data;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
