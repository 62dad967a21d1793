// SPDX-License-Identifier: GPL-2.0
/* TC egress classifier (direct-action). Parses Ethernet (up to two VLAN tags), IPv4 (with
 * options) or IPv6, then the TCP/UDP destination port, and walks a small rule table of
 * (protocol, destination-port range) -> class entries; the first matching rule wins, packets no
 * rule matches go to class 0. The class table gives skb->priority, skb->tc_classid (the HTB/
 * prio minor to enqueue into) and the low 16 bits of skb->mark; a class flagged "drop" is
 * policed with TC_ACT_SHOT. Packets and bytes are counted per class in a per-CPU array.
 */
#include <linux/pkt_cls.h>

#include "common.h"

#define MAX_RULES 16
#define MAX_CLASSES 16

#define RULE_PROTO_ANY 0xff /* proto 0 marks an unused slot and ends the table */

#define CLASS_F_DROP 0x1
#define MARK_CLASS_MASK 0xffffU

struct egress_rule {
	__u8 proto;
	__u8 pad;
	__u16 class_id;
	__u16 dport_lo; /* host order, inclusive */
	__u16 dport_hi;
};

struct egress_class {
	__u32 priority;
	__u32 classid; /* TC_H_MAKE(major, minor) */
	__u32 mark;
	__u32 flags;
};

struct class_counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RULES);
	__type(key, __u32);
	__type(value, struct egress_rule);
} egress_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CLASSES);
	__type(key, __u32);
	__type(value, struct egress_class);
} egress_classes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_CLASSES);
	__type(key, __u32);
	__type(value, struct class_counter);
} egress_stats SEC(".maps");

/* Fills the L4 protocol and destination port (host order, 0 when there is none).
 * Returns -1 for frames that are not IP or too short to parse. */
static __always_inline int flow_of(struct __sk_buff *skb, __u8 *proto, __u16 *dport)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct hdr_cursor nh = { .pos = data };
	struct ethhdr *eth;
	struct iphdr *iph;
	struct ipv6hdr *ip6h;
	struct tcphdr *th;
	struct udphdr *uh;
	int eth_type, l4, vlans;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type == ETH_P_IP) {
		l4 = parse_iphdr(&nh, data_end, &iph);
		if (l4 < 0)
			return -1;
		*proto = l4;
		*dport = 0;
		/* A later fragment carries no L4 header: classify on the protocol alone. */
		if (iph->frag_off & bpf_htons(IP_OFFSET))
			return 0;
	} else if (eth_type == ETH_P_IPV6) {
		l4 = parse_ip6hdr(&nh, data_end, &ip6h);
		if (l4 < 0)
			return -1;
		*proto = l4;
		*dport = 0;
	} else {
		return -1;
	}

	if (l4 == IPPROTO_TCP) {
		th = nh.pos;
		if ((void *)(th + 1) > data_end)
			return -1;
		*dport = bpf_ntohs(th->dest);
	} else if (l4 == IPPROTO_UDP) {
		if (parse_udphdr(&nh, data_end, &uh) < 0)
			return -1;
		*dport = bpf_ntohs(uh->dest);
	}
	return 0;
}

static __always_inline __u32 match_rules(__u8 proto, __u16 dport)
{
	struct egress_rule *r;
	__u32 i;

	for (i = 0; i < MAX_RULES; i++) {
		__u32 key = i;

		r = bpf_map_lookup_elem(&egress_rules, &key);
		if (!r || !r->proto)
			break;
		if (r->proto != RULE_PROTO_ANY && r->proto != proto)
			continue;
		if (dport < r->dport_lo || dport > r->dport_hi)
			continue;
		return r->class_id < MAX_CLASSES ? r->class_id : 0;
	}
	return 0;
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	struct class_counter *cnt;
	struct egress_class *cls;
	__u32 class_id = 0;
	__u16 dport = 0;
	__u8 proto = 0;

	if (flow_of(skb, &proto, &dport) == 0)
		class_id = match_rules(proto, dport);

	cnt = bpf_map_lookup_elem(&egress_stats, &class_id);
	if (cnt) {
		cnt->packets += 1;
		cnt->bytes += skb->len;
	}

	cls = bpf_map_lookup_elem(&egress_classes, &class_id);
	if (!cls)
		return TC_ACT_OK;
	if (cls->flags & CLASS_F_DROP)
		return TC_ACT_SHOT;
	if (cls->priority)
		skb->priority = cls->priority;
	if (cls->classid)
		skb->tc_classid = cls->classid;
	/* The upper half of the mark belongs to other subsystems; the volatile store keeps clang
	 * from narrowing the read-modify-write into a byte store the verifier rejects. */
	*(volatile __u32 *)&skb->mark = (skb->mark & ~MARK_CLASS_MASK) | (cls->mark & MARK_CLASS_MASK);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
