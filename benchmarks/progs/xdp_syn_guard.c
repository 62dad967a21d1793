// SPDX-License-Identifier: GPL-2.0
/* SYN-flood guard. Every TCP SYN (without ACK) over IPv4 or IPv6 is charged to its source address
 * in an LRU hash of fixed time windows (bpf_ktime_get_ns): the first SYN of a window starts it,
 * later ones increment an atomic counter, and once a source has sent more than the configured
 * threshold within the window its SYNs are dropped until the window expires. Sources in an
 * allowlist hash bypass the check; all other traffic passes. Threshold and window length come
 * from an array map; verdicts are counted per CPU.
 */
#include "common.h"

#define DEFAULT_THRESHOLD 64
#define DEFAULT_WINDOW_NS 1000000000ULL /* 1 s */

struct src_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__be32 addr[4]; /* IPv4 in addr[0], the rest zero */
};

struct syn_window {
	__u64 start_ns; /* start of the current window */
	__u32 syns;     /* SYNs seen in it */
	__u32 dropped;  /* SYNs dropped in it */
};

struct syn_config {
	__u32 threshold; /* SYNs allowed per window and source */
	__u32 pad;
	__u64 window_ns;
};

enum {
	SG_STAT_SYN = 0,
	SG_STAT_ALLOWLISTED,
	SG_STAT_SYN_PASSED,
	SG_STAT_SYN_DROPPED,
	SG_STAT_OTHER,
	SG_STAT_MALFORMED,
	SG_STAT_MAX
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct src_key);
	__type(value, struct syn_window);
} syn_track SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct src_key);
	__type(value, __u32);
} syn_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct syn_config);
} syn_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SG_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} syn_stats SEC(".maps");

static __always_inline int verdict(__u32 stat, int action)
{
	__u64 *cnt = bpf_map_lookup_elem(&syn_stats, &stat);

	if (cnt)
		*cnt += 1;
	return action;
}

/* Charges one SYN to the source; returns nonzero if it is over the limit. */
static __always_inline int over_limit(struct src_key *key)
{
	struct syn_window *w, fresh = {};
	struct syn_config *cfg;
	__u32 zero = 0, threshold = DEFAULT_THRESHOLD, n;
	__u64 window = DEFAULT_WINDOW_NS, now;
	__s64 elapsed;

	cfg = bpf_map_lookup_elem(&syn_config, &zero);
	if (cfg) {
		if (cfg->threshold)
			threshold = cfg->threshold;
		if (cfg->window_ns)
			window = cfg->window_ns;
	}

	now = bpf_ktime_get_ns();
	w = bpf_map_lookup_elem(&syn_track, key);
	if (!w) {
		fresh.start_ns = now;
		fresh.syns = 1;
		bpf_map_update_elem(&syn_track, key, &fresh, BPF_ANY);
		return 0;
	}
	/* Signed: another CPU may have opened the window a little after our timestamp. */
	elapsed = (__s64)(now - w->start_ns);
	if (elapsed >= (__s64)window) {
		w->start_ns = now;
		w->syns = 1;
		w->dropped = 0;
		return 0;
	}
	n = __sync_fetch_and_add(&w->syns, 1) + 1;
	if (n <= threshold)
		return 0;
	__sync_fetch_and_add(&w->dropped, 1);
	return 1;
}

SEC("xdp")
int xdp_syn_guard(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct src_key key = {};
	struct ethhdr *eth;
	struct tcphdr *th;
	int eth_type, proto, vlans;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type < 0)
		return verdict(SG_STAT_MALFORMED, XDP_DROP);
	if (eth_type == ETH_P_IP) {
		struct iphdr *iph;

		proto = parse_iphdr(&nh, data_end, &iph);
		if (proto < 0)
			return verdict(SG_STAT_MALFORMED, XDP_DROP);
		if (iph->frag_off & bpf_htons(IP_OFFSET))
			return verdict(SG_STAT_OTHER, XDP_PASS);
		key.family = 4;
		key.addr[0] = iph->saddr;
	} else if (eth_type == ETH_P_IPV6) {
		struct ipv6hdr *ip6h;

		proto = parse_ip6hdr(&nh, data_end, &ip6h);
		if (proto < 0)
			return verdict(SG_STAT_MALFORMED, XDP_DROP);
		key.family = 6;
		__builtin_memcpy(key.addr, &ip6h->saddr, sizeof(key.addr));
	} else {
		return verdict(SG_STAT_OTHER, XDP_PASS);
	}
	if (proto != IPPROTO_TCP)
		return verdict(SG_STAT_OTHER, XDP_PASS);
	if (parse_tcphdr(&nh, data_end, &th) < 0)
		return verdict(SG_STAT_MALFORMED, XDP_DROP);
	if (!th->syn || th->ack)
		return verdict(SG_STAT_OTHER, XDP_PASS);

	verdict(SG_STAT_SYN, 0);
	if (bpf_map_lookup_elem(&syn_allow, &key))
		return verdict(SG_STAT_ALLOWLISTED, XDP_PASS);
	if (over_limit(&key))
		return verdict(SG_STAT_SYN_DROPPED, XDP_DROP);
	return verdict(SG_STAT_SYN_PASSED, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
