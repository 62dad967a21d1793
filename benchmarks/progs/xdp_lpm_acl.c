// SPDX-License-Identifier: GPL-2.0
/* Source-prefix ACL: the IPv4 and IPv6 source addresses are looked up in two longest-prefix-match
 * tries (BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC). A matching prefix's value says drop or pass
 * and counts its hits; unmatched traffic passes. Up to two VLAN tags are skipped.
 */
#include "common.h"

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct acl_entry {
	__u32 action; /* XDP_DROP or XDP_PASS */
	__u32 pad;
	__u64 hits;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__type(key, struct lpm_v4_key);
	__type(value, struct acl_entry);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} acl_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__type(key, struct lpm_v6_key);
	__type(value, struct acl_entry);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} acl_v6 SEC(".maps");

static __always_inline int apply(struct acl_entry *e)
{
	if (!e)
		return XDP_PASS;
	__sync_fetch_and_add(&e->hits, 1);
	return e->action == XDP_DROP ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_lpm_acl(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct ethhdr *eth;
	int eth_type, vlans;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type == ETH_P_IP) {
		struct iphdr *iph = nh.pos;
		struct lpm_v4_key key;

		if ((void *)(iph + 1) > data_end)
			return XDP_DROP;
		key.prefixlen = 32;
		__builtin_memcpy(key.addr, &iph->saddr, sizeof(key.addr));
		return apply(bpf_map_lookup_elem(&acl_v4, &key));
	}
	if (eth_type == ETH_P_IPV6) {
		struct ipv6hdr *ip6h = nh.pos;
		struct lpm_v6_key key;

		if ((void *)(ip6h + 1) > data_end)
			return XDP_DROP;
		key.prefixlen = 128;
		__builtin_memcpy(key.addr, &ip6h->saddr, sizeof(key.addr));
		return apply(bpf_map_lookup_elem(&acl_v6, &key));
	}
	return eth_type < 0 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
