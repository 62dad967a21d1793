// SPDX-License-Identifier: GPL-2.0
/* Per-source token-bucket rate limiter. Each IPv4 / IPv6 source address owns a bucket in an LRU
 * hash holding fixed-point tokens (16 fractional bits) and the time of the last refill. A packet
 * refills the bucket by the time elapsed since then (bpf_ktime_get_ns) times the configured rate,
 * with the elapsed time capped at what it takes to fill an empty bucket so the product cannot
 * overflow, and the level capped at the burst size; it then takes one token or is dropped if
 * there is none. A new source starts with a full bucket. Rate and burst are `const volatile`
 * globals in .rodata, set by the loader; verdicts are counted per CPU. Non-IP traffic passes.
 */
#include "common.h"

#define NSEC_PER_SEC 1000000000ULL
#define TOKEN_SHIFT 16
#define TOKEN_ONE (1ULL << TOKEN_SHIFT)
#define MAX_RATE 100000000ULL /* packets per second */
#define MAX_BURST 65535ULL

const volatile __u64 rate_pps = 1000; /* refill rate, packets per second */
const volatile __u64 burst = 100;     /* bucket depth, packets */

struct rl_key {
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
	__be32 addr[4];
};

struct rl_bucket {
	__u64 tokens;  /* TOKEN_ONE per packet */
	__u64 last_ns; /* time of the last refill */
};

enum {
	RL_STAT_PASSED = 0,
	RL_STAT_DROPPED,
	RL_STAT_NEW_SOURCE,
	RL_STAT_NON_IP,
	RL_STAT_MALFORMED,
	RL_STAT_MAX
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct rl_key);
	__type(value, struct rl_bucket);
} rl_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RL_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rl_stats SEC(".maps");

static __always_inline int account(__u32 stat, int action)
{
	__u64 *cnt = bpf_map_lookup_elem(&rl_stats, &stat);

	if (cnt)
		*cnt += 1;
	return action;
}

/* Takes one token from the source's bucket; returns 0 if there was none. */
static __always_inline int take_token(struct rl_key *key)
{
	__u64 rate = rate_pps, depth = burst, cap, now, elapsed, fill_ns, add;
	struct rl_bucket *b, fresh;

	if (rate == 0 || rate > MAX_RATE)
		rate = MAX_RATE;
	if (depth == 0 || depth > MAX_BURST)
		depth = MAX_BURST;
	cap = depth << TOKEN_SHIFT;

	now = bpf_ktime_get_ns();
	b = bpf_map_lookup_elem(&rl_buckets, key);
	if (!b) {
		fresh.tokens = cap - TOKEN_ONE;
		fresh.last_ns = now;
		bpf_map_update_elem(&rl_buckets, key, &fresh, BPF_ANY);
		account(RL_STAT_NEW_SOURCE, 0);
		return 1;
	}

	/* A stamp from another CPU may be slightly ahead of ours: no refill then. */
	if ((__s64)(now - b->last_ns) > 0) {
		elapsed = now - b->last_ns;
		/* Beyond the time an empty bucket takes to fill up, more time adds nothing; capping
		 * here keeps elapsed * rate below depth * 1e9 < 2^46, so the shift cannot overflow. */
		fill_ns = depth * NSEC_PER_SEC / rate;
		if (elapsed > fill_ns)
			elapsed = fill_ns;
		add = ((elapsed * rate) << TOKEN_SHIFT) / NSEC_PER_SEC;
		if (add) {
			b->tokens = b->tokens + add > cap ? cap : b->tokens + add;
			b->last_ns = now;
		}
	}
	if (b->tokens < TOKEN_ONE)
		return 0;
	b->tokens -= TOKEN_ONE;
	return 1;
}

SEC("xdp")
int xdp_rate_limit(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct rl_key key = {};
	struct ethhdr *eth;
	int eth_type, vlans;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type < 0)
		return account(RL_STAT_MALFORMED, XDP_DROP);
	if (eth_type == ETH_P_IP) {
		struct iphdr *iph;

		if (parse_iphdr(&nh, data_end, &iph) < 0)
			return account(RL_STAT_MALFORMED, XDP_DROP);
		key.family = 4;
		key.addr[0] = iph->saddr;
	} else if (eth_type == ETH_P_IPV6) {
		struct ipv6hdr *ip6h;

		if (parse_ip6hdr(&nh, data_end, &ip6h) < 0)
			return account(RL_STAT_MALFORMED, XDP_DROP);
		key.family = 6;
		__builtin_memcpy(key.addr, &ip6h->saddr, sizeof(key.addr));
	} else {
		return account(RL_STAT_NON_IP, XDP_PASS);
	}

	if (!take_token(&key))
		return account(RL_STAT_DROPPED, XDP_DROP);
	return account(RL_STAT_PASSED, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
