// SPDX-License-Identifier: GPL-2.0
/* Stateless IPv4 firewall. Rules live in a hash map keyed on (source address, destination port,
 * protocol); a rule with port 0 matches every port of that protocol from that source. The value
 * holds the verdict (XDP_DROP / XDP_PASS / XDP_TX ...) and a hit counter. Packets without a
 * rule take the default verdict from a one-element array (PASS if unset). Verdict totals go to a
 * per-CPU array.
 */
#include "common.h"

struct fw_key {
	__be32 saddr;
	__be16 dport;
	__u8 proto;
	__u8 pad;
};

struct fw_rule {
	__u32 verdict;
	__u32 flags;
	__u64 hits;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fw_key);
	__type(value, struct fw_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} fw_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fw_default SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_REDIRECT + 1);
	__type(key, __u32);
	__type(value, __u64);
} fw_verdicts SEC(".maps");

static __always_inline __u32 record(__u32 verdict)
{
	__u32 key;
	__u64 *cnt;

	if (verdict > XDP_REDIRECT)
		verdict = XDP_ABORTED;
	/* The key is a copy: with the lookup taking `verdict`'s own address, clang -O1 emitted code
	 * the verifier refuses (R0 !read_ok at the exit). */
	key = verdict;
	cnt = bpf_map_lookup_elem(&fw_verdicts, &key);
	if (cnt)
		*cnt += 1;
	return verdict;
}

static __always_inline struct fw_rule *match(__be32 saddr, __be16 dport, __u8 proto)
{
	struct fw_key key = {};
	struct fw_rule *rule;

	key.saddr = saddr;
	key.dport = dport;
	key.proto = proto;
	rule = bpf_map_lookup_elem(&fw_rules, &key);
	if (rule || !dport)
		return rule;
	key.dport = 0;
	return bpf_map_lookup_elem(&fw_rules, &key);
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct ethhdr *eth;
	struct iphdr *iph;
	struct fw_rule *rule;
	__be16 dport = 0;
	__u32 zero = 0, *dflt;
	int eth_type, proto, vlans;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type < 0)
		return record(XDP_DROP);
	if (eth_type != ETH_P_IP)
		return record(XDP_PASS);
	proto = parse_iphdr(&nh, data_end, &iph);
	if (proto < 0)
		return record(XDP_DROP);

	if (!(iph->frag_off & bpf_htons(IP_OFFSET))) {
		if (proto == IPPROTO_TCP) {
			struct tcphdr *th = nh.pos;

			if ((void *)(th + 1) > data_end)
				return record(XDP_DROP);
			dport = th->dest;
		} else if (proto == IPPROTO_UDP) {
			struct udphdr *uh = nh.pos;

			if ((void *)(uh + 1) > data_end)
				return record(XDP_DROP);
			dport = uh->dest;
		}
	}

	rule = match(iph->saddr, dport, proto);
	if (rule) {
		__sync_fetch_and_add(&rule->hits, 1);
		return record(rule->verdict);
	}
	dflt = bpf_map_lookup_elem(&fw_default, &zero);
	if (dflt && *dflt)
		return record(*dflt);
	return record(XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
