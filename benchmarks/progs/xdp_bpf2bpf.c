// SPDX-License-Identifier: GPL-2.0
/* Per-flow rate limiter built from real BPF-to-BPF calls (static __noinline subprograms, so the
 * object has a .text section with several functions and BPF_PSEUDO_CALL relocations):
 *   parse_ports()  5 args: packet pointers, the protocol and two out-pointers to the stack
 *   flow_hash()    5 scalar args: a jhash-like mix of the 5-tuple
 *   bucket_charge() map access inside a subprogram, called from flow_verdict()
 *   flow_verdict() calls the two above: three levels of calls
 * A flow whose hash bucket has seen more than `limit` packets in the current window is dropped.
 */
#include "common.h"

#define NR_BUCKETS 1024
#define WINDOW_NS 1000000000ULL
#define DEFAULT_LIMIT 10000

struct bucket {
	__u64 window_start;
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_BUCKETS);
	__type(key, __u32);
	__type(value, struct bucket);
} flow_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} flow_limit SEC(".maps");

static __always_inline __u32 rol32(__u32 word, unsigned int shift)
{
	return (word << shift) | (word >> ((-shift) & 31));
}

/* Five scalar arguments: r1..r5. */
static __noinline __u32 flow_hash(__u32 saddr, __u32 daddr, __u32 sport, __u32 dport, __u32 proto)
{
	__u32 a = saddr + 0xdeadbeef, b = daddr + 0xdeadbeef, c = ((sport << 16) | dport) + proto;

	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

/* Five arguments mixing packet pointers, a scalar and stack pointers. */
static __noinline int parse_ports(void *l4, void *data_end, __u32 proto, __u16 *sport, __u16 *dport)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return -1;
		*sport = bpf_ntohs(th->source);
		*dport = bpf_ntohs(th->dest);
		return 0;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return -1;
		*sport = bpf_ntohs(uh->source);
		*dport = bpf_ntohs(uh->dest);
		return 0;
	}
	*sport = 0;
	*dport = 0;
	return 0;
}

/* Charges one packet to a bucket; returns the packet count of the current window. */
static __noinline __u64 bucket_charge(__u32 idx, __u64 bytes)
{
	struct bucket *b = bpf_map_lookup_elem(&flow_buckets, &idx);
	__u64 now;

	if (!b)
		return 0;
	now = bpf_ktime_get_ns();
	if (now - b->window_start > WINDOW_NS) {
		b->window_start = now;
		b->packets = 0;
		b->bytes = 0;
	}
	b->packets++;
	b->bytes += bytes;
	return b->packets;
}

static __noinline int flow_verdict(__u32 hash, __u64 bytes)
{
	__u32 zero = 0;
	__u64 *limit = bpf_map_lookup_elem(&flow_limit, &zero);
	__u64 max = (limit && *limit) ? *limit : DEFAULT_LIMIT;

	return bucket_charge(hash % NR_BUCKETS, bytes) > max ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_bpf2bpf(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	__u16 sport, dport;
	__u32 hash;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_DROP;
	if (iph->ihl < 5)
		return XDP_DROP;
	if (parse_ports((void *)iph + iph->ihl * 4, data_end, iph->protocol, &sport, &dport) < 0)
		return XDP_DROP;

	hash = flow_hash(bpf_ntohl(iph->saddr), bpf_ntohl(iph->daddr), sport, dport, iph->protocol);
	return flow_verdict(hash, data_end - data);
}

char LICENSE[] SEC("license") = "GPL";
