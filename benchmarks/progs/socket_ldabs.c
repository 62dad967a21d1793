// SPDX-License-Identifier: GPL-2.0
/* Classic-style socket filter written with the legacy packet loads (LD_ABS / LD_IND, the
 * llvm.bpf.load.* intrinsics), for a cooked AF_PACKET socket (SOCK_DGRAM: the skb starts at the
 * network header and skb->protocol holds the EtherType). Accepts DNS responses (UDP from port 53
 * with the QR bit set) over IPv4 with any header length, and Ethernet/IPv4 ARP; drops the rest.
 * An accepted packet returns the snap length. A legacy load past the end of the packet ends the
 * program with 0 (drop), so truncated packets need no explicit length checks. Packets seen,
 * accepted DNS and accepted ARP are counted in an array map.
 */
#include "common.h"

/* linux/if_arp.h pulls in libc headers that do not build for -target bpf. */
#define ARPHRD_ETHER 1

struct arp_eth_ipv4 {
	__be16 ar_hrd;
	__be16 ar_pro;
	__u8 ar_hln;
	__u8 ar_pln;
	__be16 ar_op;
};

/* The legacy loads: r6 must hold the skb, the result is in host order. */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

#define SNAP_LEN 262144 /* tcpdump's default snapshot length */
#define DNS_PORT 53
#define DNS_FLAGS_QR 0x8000

enum { LS_SEEN = 0, LS_DNS, LS_ARP, LS_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ldabs_stats SEC(".maps");

static __always_inline void bump(__u32 key)
{
	__u64 *cnt = bpf_map_lookup_elem(&ldabs_stats, &key);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
}

SEC("socket")
int socket_ldabs(struct __sk_buff *skb)
{
	__u32 ihl, l4;

	bump(LS_SEEN);

	if (skb->protocol == bpf_htons(ETH_P_ARP)) {
		/* Only Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4. */
		if (load_half(skb, offsetof(struct arp_eth_ipv4, ar_hrd)) != ARPHRD_ETHER)
			return 0;
		if (load_half(skb, offsetof(struct arp_eth_ipv4, ar_pro)) != ETH_P_IP)
			return 0;
		if (load_half(skb, offsetof(struct arp_eth_ipv4, ar_hln)) != ((ETH_ALEN << 8) | 4))
			return 0;
		bump(LS_ARP);
		return SNAP_LEN;
	}
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;

	/* Version 4, UDP, first fragment (offset 0). */
	if ((load_byte(skb, 0) >> 4) != 4)
		return 0;
	if (load_byte(skb, offsetof(struct iphdr, protocol)) != IPPROTO_UDP)
		return 0;
	if (load_half(skb, offsetof(struct iphdr, frag_off)) & IP_OFFSET)
		return 0;
	ihl = (load_byte(skb, 0) & 0xf) << 2;
	if (ihl < sizeof(struct iphdr))
		return 0;

	/* From here the offsets depend on the header length: LD_IND. */
	l4 = ihl;
	if (load_half(skb, l4 + offsetof(struct udphdr, source)) != DNS_PORT)
		return 0;
	/* DNS header right after UDP: id, then flags with QR in the top bit. */
	if (!(load_half(skb, l4 + sizeof(struct udphdr) + 2) & DNS_FLAGS_QR))
		return 0;
	bump(LS_DNS);
	return SNAP_LEN;
}

char LICENSE[] SEC("license") = "GPL";
