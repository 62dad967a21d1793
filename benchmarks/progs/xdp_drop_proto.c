// SPDX-License-Identifier: GPL-2.0
/* XDP filter by IP protocol and port.
 *
 * Drops UDP datagrams aimed at well-known amplification ports (memcached 11211, chargen 19,
 * SSDP 1900) and IPv4 fragments of UDP datagrams that would bypass the port check; every other
 * packet (TCP, ICMP, non-IP, ...) passes. Works on IPv4 and IPv6, untagged frames only.
 */
#include "common.h"

#define PORT_CHARGEN 19
#define PORT_SSDP 1900
#define PORT_MEMCACHED 11211

static __always_inline int udp_port_blocked(__u16 dport)
{
	switch (dport) {
	case PORT_CHARGEN:
	case PORT_SSDP:
	case PORT_MEMCACHED:
		return 1;
	default:
		return 0;
	}
}

SEC("xdp")
int xdp_drop_proto(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	__u8 l4proto;
	void *l4;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);

		if ((void *)(iph + 1) > data_end)
			return XDP_DROP;
		if (iph->ihl < 5)
			return XDP_DROP;
		l4proto = iph->protocol;
		if (l4proto != IPPROTO_UDP)
			return XDP_PASS;
		/* Non-first fragments carry no UDP header: drop them, the port is unknown. */
		if (iph->frag_off & bpf_htons(IP_OFFSET))
			return XDP_DROP;
		l4 = (void *)iph + iph->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);

		if ((void *)(ip6h + 1) > data_end)
			return XDP_DROP;
		l4proto = ip6h->nexthdr;
		if (l4proto != IPPROTO_UDP)
			return XDP_PASS;
		l4 = ip6h + 1;
	} else {
		return XDP_PASS;
	}

	udp = l4;
	if ((void *)(udp + 1) > data_end)
		return XDP_DROP;
	if (udp_port_blocked(bpf_ntohs(udp->dest)))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
