// SPDX-License-Identifier: GPL-2.0
/* ICMP echo responder in XDP: an IPv4 echo request (no IP options) is turned into the reply in
 * place and sent back with XDP_TX. MAC and IP addresses are swapped, the TTL reset, the IP header
 * checksum recomputed from scratch (an unrolled 10-word ones'-complement sum) and the ICMP
 * checksum updated incrementally (RFC 1624). Replies per CPU are counted.
 */
#include "common.h"

/* linux/icmp.h drags in libc headers through linux/if.h: the two fields needed here. */
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;
	__be16 sequence;
};

#define REPLY_TTL 64

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} echo_replies SEC(".maps");

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Full checksum of a 20-byte IPv4 header; the caller has checked it lies in the packet. */
static __always_inline __u16 ipv4_csum(struct iphdr *iph)
{
	__u16 *w = (__u16 *)iph;
	__u32 sum = 0;
	int i;

	iph->check = 0;
#pragma unroll
	for (i = 0; i < (int)sizeof(*iph) / 2; i++)
		sum += w[i];
	return csum_fold(sum);
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), all in network order. */
static __always_inline __u16 csum16_replace(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32)new;

	return csum_fold(sum);
}

static __always_inline void swap_mac(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

SEC("xdp")
int xdp_icmp_echo(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct icmphdr *icmp;
	__u16 old_word, new_word;
	__be32 addr;
	__u32 zero = 0;
	__u64 *cnt;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	if (iph->ihl != 5 || iph->protocol != IPPROTO_ICMP)
		return XDP_PASS;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return XDP_PASS;
	icmp = (void *)(iph + 1);
	if ((void *)(icmp + 1) > data_end)
		return XDP_PASS;
	if (icmp->type != ICMP_ECHO || icmp->code != 0)
		return XDP_PASS;

	/* ICMP: type 8 -> 0 changes the first 16-bit word (type, code). */
	old_word = *(__u16 *)icmp;
	icmp->type = ICMP_ECHOREPLY;
	new_word = *(__u16 *)icmp;
	icmp->checksum = csum16_replace(icmp->checksum, old_word, new_word);

	addr = iph->saddr;
	iph->saddr = iph->daddr;
	iph->daddr = addr;
	iph->ttl = REPLY_TTL;
	iph->check = ipv4_csum(iph);
	swap_mac(eth);

	cnt = bpf_map_lookup_elem(&echo_replies, &zero);
	if (cnt)
		*cnt += 1;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
