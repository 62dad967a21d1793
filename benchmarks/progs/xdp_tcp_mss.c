// SPDX-License-Identifier: GPL-2.0
/* TCP MSS clamping in XDP. For IPv4 SYN and SYN-ACK segments the TCP options are walked with a
 * bounded (not unrolled) loop; an MSS option larger than the configured clamp is lowered and the
 * TCP checksum updated incrementally. The clamp comes from an array map (default 1360). Every
 * packet passes; clamped segments are counted.
 */
#include "common.h"

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOLEN_MSS 4
#define MAX_OPT_WORDS 40 /* options are at most 40 bytes */
#define DEFAULT_MSS 1360

enum { MSS_CFG_CLAMP = 0, MSS_CFG_MAX };
enum { MSS_STAT_SYN = 0, MSS_STAT_CLAMPED, MSS_STAT_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MSS_CFG_MAX);
	__type(key, __u32);
	__type(value, __u32);
} mss_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MSS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mss_stats SEC(".maps");

static __always_inline void bump(__u32 key)
{
	__u64 *cnt = bpf_map_lookup_elem(&mss_stats, &key);

	if (cnt)
		*cnt += 1;
}

static __always_inline __u16 csum_replace16(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32)new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u16 mss_clamp(void)
{
	__u32 key = MSS_CFG_CLAMP;
	__u32 *v = bpf_map_lookup_elem(&mss_config, &key);

	return (v && *v && *v < 0xffff) ? *v : DEFAULT_MSS;
}

SEC("xdp")
int xdp_tcp_mss(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct tcphdr *th;
	__u32 off, optlen, i;
	__u16 clamp;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	if (iph->ihl != 5 || iph->protocol != IPPROTO_TCP)
		return XDP_PASS;
	th = (void *)(iph + 1);
	if ((void *)(th + 1) > data_end)
		return XDP_PASS;
	if (!th->syn)
		return XDP_PASS;
	bump(MSS_STAT_SYN);

	optlen = th->doff * 4;
	if (optlen <= sizeof(*th))
		return XDP_PASS;
	optlen -= sizeof(*th);
	clamp = mss_clamp();

	off = 0;
#pragma clang loop unroll(disable)
	for (i = 0; i < MAX_OPT_WORDS; i++) {
		__u8 *opt;
		__u8 kind, len;

		if (off >= optlen)
			break;
		opt = (__u8 *)(th + 1) + (off & 63);
		if ((void *)(opt + 1) > data_end)
			break;
		kind = opt[0];
		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			off++;
			continue;
		}
		if ((void *)(opt + 2) > data_end)
			break;
		len = opt[1];
		if (len < 2)
			break;
		if (kind == TCPOPT_MSS && len == TCPOLEN_MSS) {
			__be16 *mssp = (__be16 *)(opt + 2);
			__u16 old;

			if ((void *)(mssp + 1) > data_end)
				break;
			old = *mssp;
			if (bpf_ntohs(old) > clamp) {
				__u16 new = bpf_htons(clamp);

				*mssp = new;
				th->check = csum_replace16(th->check, old, new);
				bump(MSS_STAT_CLAMPED);
			}
			break;
		}
		off += len;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
