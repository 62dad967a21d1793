// SPDX-License-Identifier: GPL-2.0
/* Stateless IPv4 destination NAT on TC ingress. A hash map keyed on (destination address,
 * destination port, protocol) gives the new address and port; the program rewrites them with
 * bpf_skb_store_bytes and fixes the IP header checksum with bpf_l3_csum_replace and the TCP/UDP
 * checksum (pseudo-header included) with bpf_l4_csum_replace. A zero UDP checksum is left alone.
 */
#include <linux/pkt_cls.h>

#include "common.h"

struct nat_key {
	__be32 daddr;
	__be16 dport;
	__u8 proto;
	__u8 pad;
};

struct nat_target {
	__be32 addr;
	__be16 port;
	__u16 pad;
	__u64 packets;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct nat_key);
	__type(value, struct nat_target);
} nat_rules SEC(".maps");

#define IP_OFF ETH_HLEN
#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define IP_DST_OFF (IP_OFF + offsetof(struct iphdr, daddr))

SEC("tc")
int tc_nat(struct __sk_buff *skb)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct nat_target *tgt;
	struct nat_key key = {};
	__u32 l4off, csum_off, port_off;
	__be32 old_addr, new_addr;
	__be16 old_port, new_port;
	__u64 csum_flags;
	__u8 proto;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return TC_ACT_OK;
	if (iph->ihl != 5) /* no options: fixed offsets below */
		return TC_ACT_OK;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return TC_ACT_OK;

	proto = iph->protocol;
	l4off = IP_OFF + sizeof(*iph);
	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(iph + 1);

		if ((void *)(th + 1) > data_end)
			return TC_ACT_OK;
		old_port = th->dest;
		csum_off = l4off + offsetof(struct tcphdr, check);
		port_off = l4off + offsetof(struct tcphdr, dest);
		csum_flags = BPF_F_PSEUDO_HDR;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = (void *)(iph + 1);

		if ((void *)(uh + 1) > data_end)
			return TC_ACT_OK;
		old_port = uh->dest;
		csum_off = l4off + offsetof(struct udphdr, check);
		port_off = l4off + offsetof(struct udphdr, dest);
		csum_flags = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0;
	} else {
		return TC_ACT_OK;
	}

	old_addr = iph->daddr;
	key.daddr = old_addr;
	key.dport = old_port;
	key.proto = proto;
	tgt = bpf_map_lookup_elem(&nat_rules, &key);
	if (!tgt)
		return TC_ACT_OK;
	new_addr = tgt->addr;
	new_port = tgt->port;
	__sync_fetch_and_add(&tgt->packets, 1);

	/* The helpers below invalidate packet pointers: only offsets from here on. */
	if (bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr, csum_flags | sizeof(new_addr)) < 0)
		return TC_ACT_SHOT;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_addr, new_addr, sizeof(new_addr)) < 0)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, IP_DST_OFF, &new_addr, sizeof(new_addr), 0) < 0)
		return TC_ACT_SHOT;

	if (new_port && new_port != old_port) {
		if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port,
					(csum_flags & BPF_F_MARK_MANGLED_0) | sizeof(new_port)) < 0)
			return TC_ACT_SHOT;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0) < 0)
			return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
