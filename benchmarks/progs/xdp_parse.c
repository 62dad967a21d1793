// SPDX-License-Identifier: GPL-2.0
/* Full header parser: Ethernet with up to two VLAN tags (802.1Q / 802.1ad), then IPv4 (with
 * options) or IPv6, then TCP (with options), UDP or ICMP / ICMPv6. Counts packets and bytes per
 * protocol class in an array map with atomic adds, and passes every packet.
 */
#include "common.h"

enum proto_class {
	PC_ETH_OTHER = 0,
	PC_VLAN,
	PC_IPV4,
	PC_IPV6,
	PC_TCP,
	PC_UDP,
	PC_ICMP,
	PC_ICMPV6,
	PC_L4_OTHER,
	PC_MALFORMED,
	PC_MAX,
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PC_MAX);
	__type(key, __u32);
	__type(value, struct counter);
} proto_stats SEC(".maps");

static __always_inline void count(__u32 class, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(&proto_stats, &class);

	if (!c)
		return;
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, bytes);
}

SEC("xdp")
int xdp_parse(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u64 bytes = data_end - data;
	struct hdr_cursor nh = { .pos = data };
	struct ethhdr *eth;
	struct iphdr *iph;
	struct ipv6hdr *ip6h;
	struct tcphdr *tcph;
	struct udphdr *udph;
	int eth_type, ip_type, vlans;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type < 0) {
		count(PC_MALFORMED, bytes);
		return XDP_PASS;
	}
	if (vlans)
		count(PC_VLAN, bytes);

	if (eth_type == ETH_P_IP) {
		ip_type = parse_iphdr(&nh, data_end, &iph);
		if (ip_type < 0) {
			count(PC_MALFORMED, bytes);
			return XDP_PASS;
		}
		count(PC_IPV4, bytes);
		/* Later fragments have no L4 header. */
		if (iph->frag_off & bpf_htons(IP_OFFSET)) {
			count(PC_L4_OTHER, bytes);
			return XDP_PASS;
		}
	} else if (eth_type == ETH_P_IPV6) {
		ip_type = parse_ip6hdr(&nh, data_end, &ip6h);
		if (ip_type < 0) {
			count(PC_MALFORMED, bytes);
			return XDP_PASS;
		}
		count(PC_IPV6, bytes);
	} else {
		count(PC_ETH_OTHER, bytes);
		return XDP_PASS;
	}

	switch (ip_type) {
	case IPPROTO_TCP:
		if (parse_tcphdr(&nh, data_end, &tcph) < 0)
			count(PC_MALFORMED, bytes);
		else
			count(PC_TCP, bytes);
		break;
	case IPPROTO_UDP:
		if (parse_udphdr(&nh, data_end, &udph) < 0)
			count(PC_MALFORMED, bytes);
		else
			count(PC_UDP, bytes);
		break;
	case IPPROTO_ICMP:
		count(PC_ICMP, bytes);
		break;
	case IPPROTO_ICMPV6:
		count(PC_ICMPV6, bytes);
		break;
	default:
		count(PC_L4_OTHER, bytes);
		break;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
