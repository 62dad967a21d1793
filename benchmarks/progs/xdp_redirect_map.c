// SPDX-License-Identifier: GPL-2.0
/* Port-to-port forwarder: frames arriving on an interface are redirected through a DEVMAP to the
 * egress port configured for their ingress ifindex (a hash map ifindex -> devmap slot), with the
 * destination MAC rewritten from a per-slot array. Frames without a route go to the stack
 * (the XDP_PASS fallback of bpf_redirect_map).
 */
#include "common.h"

#define MAX_PORTS 64

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);   /* ingress ifindex */
	__type(value, __u32); /* tx_ports slot */
} port_routes SEC(".maps");

struct next_hop {
	__u8 dmac[ETH_ALEN];
	__u8 valid;
	__u8 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, struct next_hop);
} next_hops SEC(".maps");

SEC("xdp")
int xdp_redirect_map(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	__u32 ifindex = ctx->ingress_ifindex;
	struct next_hop *nh;
	__u32 *slot;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	slot = bpf_map_lookup_elem(&port_routes, &ifindex);
	if (!slot)
		return XDP_PASS;
	nh = bpf_map_lookup_elem(&next_hops, slot);
	if (nh && nh->valid) {
		__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
		__builtin_memcpy(eth->h_dest, nh->dmac, ETH_ALEN);
	}
	return bpf_redirect_map(&tx_ports, *slot, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
