// SPDX-License-Identifier: GPL-2.0
/* TC classifier (direct-action): reads the DSCP of IPv4 / IPv6 packets and maps it to an
 * skb->priority (the qdisc band) and an skb->mark through a DSCP table; packets whose DSCP has
 * no entry get a priority derived from the class selector bits. Always returns TC_ACT_OK.
 */
#include <linux/pkt_cls.h>

#include "common.h"

#define MARK_CLASSIFIED 0x10000

struct dscp_class {
	__u32 priority;
	__u32 mark;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct dscp_class);
} dscp_map SEC(".maps");

static __always_inline int read_dscp(struct __sk_buff *skb, __u8 *dscp)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end)
			return -1;
		*dscp = iph->tos >> 2;
		return 0;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end)
			return -1;
		/* Traffic class straddles the version nibble and the flow label. */
		*dscp = ((ip6h->priority << 4) | (ip6h->flow_lbl[0] >> 4)) >> 2;
		return 0;
	}
	return -1;
}

SEC("tc")
int tc_classifier(struct __sk_buff *skb)
{
	struct dscp_class *cls;
	__u32 key;
	__u8 dscp;

	if (read_dscp(skb, &dscp) < 0)
		return TC_ACT_OK;

	key = dscp;
	cls = bpf_map_lookup_elem(&dscp_map, &key);
	if (cls && cls->priority) {
		skb->priority = cls->priority;
		skb->mark = cls->mark | MARK_CLASSIFIED;
		return TC_ACT_OK;
	}
	/* Fallback: class selector (top three bits), EF (46) to the highest band. */
	if (dscp == 46)
		skb->priority = 7;
	else
		skb->priority = dscp >> 3;
	/* Keep the upper bits of an existing mark. The volatile store stops clang from narrowing the
	 * read-modify-write into a one-byte store, which the verifier rejects for skb->mark. */
	*(volatile __u32 *)&skb->mark = (skb->mark & ~0xffU) | dscp;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
