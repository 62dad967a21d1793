/* Shared definitions for the Tristate BPF corpus.
 *
 * Only uapi headers and libbpf's bpf_helpers.h / bpf_endian.h are used, so every program
 * builds with plain `clang -target bpf` and no vmlinux.h.
 */
#ifndef TRISTATE_CORPUS_COMMON_H
#define TRISTATE_CORPUS_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* 802.1Q / 802.1ad tag as it sits after the MAC addresses (not in the uapi headers). */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* Fragment bits of iphdr->frag_off (network order on the wire). */
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

/* Cursor over packet data: every parser advances it only after a check against data_end. */
struct hdr_cursor {
	void *pos;
};

/* Ethernet header plus up to VLAN_MAX_DEPTH VLAN tags. Returns the inner EtherType in host
 * order, or -1 if the packet is too short. */
#define VLAN_MAX_DEPTH 2

static __always_inline int proto_is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD);
}

static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end, struct ethhdr **ethhdr,
					int *vlans)
{
	struct ethhdr *eth = nh->pos;
	struct vlan_hdr *vlh;
	__u16 h_proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return -1;
	nh->pos = eth + 1;
	*ethhdr = eth;
	h_proto = eth->h_proto;
	*vlans = 0;

#pragma unroll
	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (!proto_is_vlan(h_proto))
			break;
		vlh = nh->pos;
		if ((void *)(vlh + 1) > data_end)
			return -1;
		h_proto = vlh->h_vlan_encapsulated_proto;
		nh->pos = vlh + 1;
		*vlans += 1;
	}
	return bpf_ntohs(h_proto);
}

/* IPv4 header with options; returns the L4 protocol or -1. */
static __always_inline int parse_iphdr(struct hdr_cursor *nh, void *data_end, struct iphdr **iphdr)
{
	struct iphdr *iph = nh->pos;
	int hdrsize;

	if ((void *)(iph + 1) > data_end)
		return -1;
	hdrsize = iph->ihl * 4;
	if (hdrsize < (int)sizeof(*iph))
		return -1;
	if (nh->pos + hdrsize > data_end)
		return -1;
	nh->pos += hdrsize;
	*iphdr = iph;
	return iph->protocol;
}

/* Fixed IPv6 header (no extension headers); returns the next header or -1. */
static __always_inline int parse_ip6hdr(struct hdr_cursor *nh, void *data_end, struct ipv6hdr **ip6hdr)
{
	struct ipv6hdr *ip6h = nh->pos;

	if ((void *)(ip6h + 1) > data_end)
		return -1;
	nh->pos = ip6h + 1;
	*ip6hdr = ip6h;
	return ip6h->nexthdr;
}

static __always_inline int parse_udphdr(struct hdr_cursor *nh, void *data_end, struct udphdr **udphdr)
{
	struct udphdr *h = nh->pos;

	if ((void *)(h + 1) > data_end)
		return -1;
	nh->pos = h + 1;
	*udphdr = h;
	return bpf_ntohs(h->len) - (int)sizeof(*h);
}

/* TCP header with options; returns the header length or -1. */
static __always_inline int parse_tcphdr(struct hdr_cursor *nh, void *data_end, struct tcphdr **tcphdr)
{
	struct tcphdr *h = nh->pos;
	int len;

	if ((void *)(h + 1) > data_end)
		return -1;
	len = h->doff * 4;
	if (len < (int)sizeof(*h))
		return -1;
	if (nh->pos + len > data_end)
		return -1;
	nh->pos += len;
	*tcphdr = h;
	return len;
}

#endif /* TRISTATE_CORPUS_COMMON_H */
