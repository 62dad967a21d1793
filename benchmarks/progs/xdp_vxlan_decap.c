// SPDX-License-Identifier: GPL-2.0
/* VXLAN (RFC 7348) termination in XDP. Frames that are outer Ethernet / IPv4 without options /
 * UDP to port 4789 / VXLAN with the I flag set have their VNI looked up in a hash of allowed
 * VNIs: VNI_DECAP strips the 50 outer bytes with bpf_xdp_adjust_head and passes the inner
 * Ethernet frame to the stack, VNI_PASS leaves the frame encapsulated for the kernel's VXLAN
 * device, VNI_DROP drops it; the entry counts packets and bytes. Unknown VNIs, VXLAN headers
 * without the I flag and encapsulations too short to hold an inner Ethernet header are dropped
 * and counted in a per-CPU array. Everything else (not IPv4/UDP/4789, IP options, fragments)
 * passes untouched.
 */
#include "common.h"

#define VXLAN_PORT 4789
#define VXLAN_FLAG_I 0x08 /* the VNI is valid */

struct vxlanhdr {
	__u8 flags;
	__u8 reserved1[3];
	__be32 vni_rsvd; /* VNI in the top 24 bits */
};

#define VXLAN_OUTER_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr) + \
			 sizeof(struct vxlanhdr))

enum vni_action {
	VNI_DECAP = 0,
	VNI_PASS = 1,
	VNI_DROP = 2,
};

struct vni_entry {
	__u32 action;
	__u32 pad;
	__u64 packets;
	__u64 bytes;
};

enum vxlan_event {
	VX_DECAPPED = 0,
	VX_UNKNOWN_VNI,
	VX_BAD_FLAGS,
	VX_TRUNCATED,
	VX_DECAP_FAILED,
	VX_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* VNI, host order */
	__type(value, struct vni_entry);
} vxlan_vnis SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VX_MAX);
	__type(key, __u32);
	__type(value, __u64);
} vxlan_events SEC(".maps");

static __always_inline int event(__u32 ev, int verdict)
{
	__u64 *cnt = bpf_map_lookup_elem(&vxlan_events, &ev);

	if (cnt)
		*cnt += 1;
	return verdict;
}

SEC("xdp")
int xdp_vxlan_decap(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct udphdr *uh;
	struct vxlanhdr *vxh;
	struct ethhdr *inner;
	struct vni_entry *vni;
	__u32 key;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	/* Fixed outer length: leave options and fragments to the stack. */
	if (iph->ihl != 5 || iph->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return XDP_PASS;
	uh = (void *)(iph + 1);
	if ((void *)(uh + 1) > data_end)
		return XDP_PASS;
	if (uh->dest != bpf_htons(VXLAN_PORT))
		return XDP_PASS;

	vxh = (void *)(uh + 1);
	inner = (void *)(vxh + 1);
	if ((void *)(inner + 1) > data_end)
		return event(VX_TRUNCATED, XDP_DROP);
	if (!(vxh->flags & VXLAN_FLAG_I))
		return event(VX_BAD_FLAGS, XDP_DROP);

	key = bpf_ntohl(vxh->vni_rsvd) >> 8;
	vni = bpf_map_lookup_elem(&vxlan_vnis, &key);
	if (!vni)
		return event(VX_UNKNOWN_VNI, XDP_DROP);
	__sync_fetch_and_add(&vni->packets, 1);
	__sync_fetch_and_add(&vni->bytes, data_end - data);

	switch (vni->action) {
	case VNI_DECAP:
		break;
	case VNI_PASS:
		return XDP_PASS;
	default:
		return XDP_DROP;
	}

	/* Invalidates every packet pointer: the inner frame is re-read from ctx if needed. */
	if (bpf_xdp_adjust_head(ctx, (int)VXLAN_OUTER_LEN))
		return event(VX_DECAP_FAILED, XDP_DROP);
	return event(VX_DECAPPED, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
