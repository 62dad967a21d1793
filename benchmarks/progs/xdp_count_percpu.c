// SPDX-License-Identifier: GPL-2.0
/* Packet and byte counter per receive queue in a per-CPU array (no atomics needed: each CPU owns
 * its slot). Queues beyond the array share the last slot. Passes every packet.
 */
#include "common.h"

#define MAX_QUEUES 64

struct datarec {
	__u64 rx_packets;
	__u64 rx_bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct datarec);
} rxq_stats SEC(".maps");

SEC("xdp")
int xdp_count_percpu(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 key = ctx->rx_queue_index;
	struct datarec *rec;

	if (key >= MAX_QUEUES)
		key = MAX_QUEUES - 1;
	rec = bpf_map_lookup_elem(&rxq_stats, &key);
	if (!rec)
		return XDP_ABORTED;
	rec->rx_packets++;
	rec->rx_bytes += data_end - data;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
