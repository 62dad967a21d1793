// SPDX-License-Identifier: GPL-2.0
/* Deterministic 1-in-N packet sampler. A per-CPU counter numbers the packets; every
 * `sample_every`-th one (a `const volatile` .rodata setting the loader fills in before load)
 * is sent to user space through a ring buffer with bpf_ringbuf_output as a record of the
 * ingress ifindex, the frame length, the EtherType (after up to two VLAN tags) and the first
 * SAMPLE_BYTES bytes of the frame, copied with a bounded loop. Records the ring buffer has no
 * room for are counted as lost. Every packet is passed.
 */
#include "common.h"

#define SAMPLE_BYTES 64

const volatile __u32 sample_every = 4; /* 0 disables sampling */

struct sample {
	__u32 ifindex;
	__u32 len;     /* frame length */
	__u16 protocol; /* EtherType, host order; 0 if the frame is too short */
	__u16 cap_len;  /* bytes valid in data[] */
	__u32 pad;
	__u8 data[SAMPLE_BYTES];
};

enum { SS_SEEN = 0, SS_SAMPLED, SS_LOST, SS_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sampler_stats SEC(".maps");

static __always_inline __u64 bump(__u32 key)
{
	__u64 *cnt = bpf_map_lookup_elem(&sampler_stats, &key);

	if (!cnt)
		return 0;
	*cnt += 1;
	return *cnt;
}

SEC("xdp")
int xdp_sampler(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct sample rec = {};
	struct ethhdr *eth;
	int eth_type, vlans;
	__u32 i;
	__u64 n;

	n = bump(SS_SEEN);
	if (!sample_every || !n || n % sample_every)
		return XDP_PASS;

	rec.ifindex = ctx->ingress_ifindex;
	rec.len = data_end - data;
	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	rec.protocol = eth_type < 0 ? 0 : eth_type;

	for (i = 0; i < SAMPLE_BYTES; i++) {
		__u8 *p = data + i;

		if ((void *)(p + 1) > data_end)
			break;
		rec.data[i] = *p;
	}
	rec.cap_len = i;

	if (bpf_ringbuf_output(&samples, &rec, sizeof(rec), 0))
		bump(SS_LOST);
	else
		bump(SS_SAMPLED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
