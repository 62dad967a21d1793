// SPDX-License-Identifier: GPL-2.0
/* Socket filter for an AF_PACKET / SOCK_RAW socket (the skb starts at the Ethernet header).
 * Accepts only TCP segments to port 80 or 443 over IPv4 or IPv6 and drops the rest. Headers are
 * copied out with bpf_skb_load_bytes; skb->protocol selects the L3 parser. Accept and drop
 * totals are kept in an array map.
 */
#include "common.h"

enum { SF_ACCEPT = 0, SF_DROP = 1, SF_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SF_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sf_stats SEC(".maps");

static __always_inline int verdict(struct __sk_buff *skb, int accept)
{
	__u32 key = accept ? SF_ACCEPT : SF_DROP;
	__u64 *cnt = bpf_map_lookup_elem(&sf_stats, &key);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	/* Returning the length keeps the whole packet; 0 drops it. */
	return accept ? skb->len : 0;
}

static __always_inline int web_port(__be16 port)
{
	return port == bpf_htons(80) || port == bpf_htons(443);
}

SEC("socket")
int socket_filter(struct __sk_buff *skb)
{
	__u32 l4off;
	__be16 dport;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr iph;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &iph, sizeof(iph)) < 0)
			return verdict(skb, 0);
		if (iph.protocol != IPPROTO_TCP || iph.ihl < 5)
			return verdict(skb, 0);
		if (iph.frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return verdict(skb, 0);
		l4off = ETH_HLEN + iph.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6h;

		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6h, sizeof(ip6h)) < 0)
			return verdict(skb, 0);
		if (ip6h.nexthdr != IPPROTO_TCP)
			return verdict(skb, 0);
		l4off = ETH_HLEN + sizeof(ip6h);
	} else {
		return verdict(skb, 0);
	}

	if (bpf_skb_load_bytes(skb, l4off + offsetof(struct tcphdr, dest), &dport, sizeof(dport)) < 0)
		return verdict(skb, 0);
	return verdict(skb, web_port(dport));
}

char LICENSE[] SEC("license") = "GPL";
