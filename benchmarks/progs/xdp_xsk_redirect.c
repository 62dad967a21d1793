// SPDX-License-Identifier: GPL-2.0
/* AF_XDP steering: UDP datagrams (IPv4 or IPv6, optionally VLAN-tagged) to the configured
 * destination port are redirected to the AF_XDP socket bound to the receiving queue, through an
 * XSKMAP indexed by rx_queue_index; if no socket is bound there, bpf_redirect_map falls back to
 * XDP_PASS. Non-first IPv4 fragments and everything else go to the stack. The port (and an
 * enable flag) come from an array map; per-CPU counters record what happened.
 */
#include "common.h"

#define MAX_QUEUES 64

struct xsk_config {
	__u16 udp_port; /* host order; 0 disables steering */
	__u8 enabled;
	__u8 pad;
};

enum {
	XSK_STAT_SEEN = 0,   /* packets inspected */
	XSK_STAT_MATCHED,    /* UDP to the configured port */
	XSK_STAT_REDIRECTED, /* handed to bpf_redirect_map and it said XDP_REDIRECT */
	XSK_STAT_NO_SOCKET,  /* matched, but no socket on this queue */
	XSK_STAT_PASSED,     /* everything else */
	XSK_STAT_MALFORMED,  /* truncated headers */
	XSK_STAT_MAX
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xsk_config);
} xsk_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XSK_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} xsk_stats SEC(".maps");

static __always_inline void count(__u32 key)
{
	__u64 *cnt = bpf_map_lookup_elem(&xsk_stats, &key);

	if (cnt)
		*cnt += 1;
}

SEC("xdp")
int xdp_xsk_redirect(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct xsk_config *cfg;
	struct ethhdr *eth;
	struct udphdr *uh;
	__u32 zero = 0, queue;
	int eth_type, proto, vlans;
	long ret;

	count(XSK_STAT_SEEN);
	cfg = bpf_map_lookup_elem(&xsk_config, &zero);
	if (!cfg || !cfg->enabled || !cfg->udp_port)
		goto pass;

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type < 0)
		goto malformed;
	if (eth_type == ETH_P_IP) {
		struct iphdr *iph;

		proto = parse_iphdr(&nh, data_end, &iph);
		if (proto < 0)
			goto malformed;
		if (iph->frag_off & bpf_htons(IP_OFFSET))
			goto pass;
	} else if (eth_type == ETH_P_IPV6) {
		struct ipv6hdr *ip6h;

		proto = parse_ip6hdr(&nh, data_end, &ip6h);
		if (proto < 0)
			goto malformed;
	} else {
		goto pass;
	}
	if (proto != IPPROTO_UDP)
		goto pass;
	if (parse_udphdr(&nh, data_end, &uh) < 0)
		goto malformed;
	if (uh->dest != bpf_htons(cfg->udp_port))
		goto pass;

	count(XSK_STAT_MATCHED);
	queue = ctx->rx_queue_index;
	ret = bpf_redirect_map(&xsks_map, queue, XDP_PASS);
	count(ret == XDP_REDIRECT ? XSK_STAT_REDIRECTED : XSK_STAT_NO_SOCKET);
	return ret;

malformed:
	count(XSK_STAT_MALFORMED);
	return XDP_PASS;
pass:
	count(XSK_STAT_PASSED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
