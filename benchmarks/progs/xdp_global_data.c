// SPDX-License-Identifier: GPL-2.0
/* Sampling packet histogram driven by global data instead of explicit maps:
 *   .rodata  `const volatile` configuration, set by the loader before load (frozen afterwards)
 *   .data    an initialised counter and a sequence number
 *   .bss     a zero-initialised 256-entry histogram of IP protocols and a length histogram
 * Every `sample_every`-th IPv4/IPv6 packet is recorded; packets from `blocked_proto` are dropped
 * when `drop_blocked` is set.
 */
#include "common.h"

struct config {
	__u32 sample_every;
	__u8 blocked_proto;
	__u8 drop_blocked;
	__u16 min_len;
};

const volatile struct config cfg = {
	.sample_every = 1,
	.blocked_proto = IPPROTO_SCTP,
	.drop_blocked = 0,
	.min_len = ETH_HLEN,
};
const volatile __u32 len_shift = 6; /* length histogram bucket width: 64 bytes */

__u64 seq = 1;            /* .data: next sequence number */
__u64 sampled = 0;        /* .bss */
__u64 proto_hist[256];    /* .bss */
__u64 len_hist[32];       /* .bss */

SEC("xdp")
int xdp_global_data(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	__u64 len = data_end - data;
	__u64 n, bucket;
	__u8 proto;

	if (len < cfg.min_len)
		return XDP_DROP;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end)
			return XDP_DROP;
		proto = iph->protocol;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end)
			return XDP_DROP;
		proto = ip6h->nexthdr;
	} else {
		return XDP_PASS;
	}

	if (cfg.drop_blocked && proto == cfg.blocked_proto)
		return XDP_DROP;

	n = __sync_fetch_and_add(&seq, 1);
	if (cfg.sample_every > 1 && n % cfg.sample_every)
		return XDP_PASS;

	__sync_fetch_and_add(&sampled, 1);
	__sync_fetch_and_add(&proto_hist[proto], 1);
	bucket = len >> (len_shift & 31);
	if (bucket > 31)
		bucket = 31;
	__sync_fetch_and_add(&len_hist[bucket], 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
