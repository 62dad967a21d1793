// SPDX-License-Identifier: GPL-2.0
/* DNS query filter. UDP datagrams to port 53 over IPv4 or IPv6 (optionally VLAN-tagged) that
 * carry a standard query are inspected: the QNAME of the first question is walked in wire format
 * (length-prefixed labels) with a bounded loop of at most 128 bytes, lower-cased and hashed with
 * 32-bit FNV-1a (length octets included, the root label not). Queries whose name hash is in the
 * blocklist hash, and queries of type ANY (255), are dropped; names with compression pointers or
 * running past the end of the packet are dropped as malformed, names longer than the walk limit
 * pass uninspected. Everything else passes. Verdicts go to an array of counters, blocklist hits
 * to the matching entry.
 */
#include "common.h"

#define DNS_PORT 53
#define DNS_QR 0x8000     /* response bit of the flags */
#define DNS_OPCODE 0x7800 /* 0 = standard query */
#define DNS_TYPE_ANY 255
#define MAX_QNAME 128
#define MAX_LABEL 63
#define FNV32_OFFSET 2166136261U
#define FNV32_PRIME 16777619U

struct dnshdr {
	__be16 id;
	__be16 flags;
	__be16 qdcount;
	__be16 ancount;
	__be16 nscount;
	__be16 arcount;
};

enum {
	DNS_STAT_QUERY = 0,  /* queries inspected */
	DNS_STAT_BLOCKED,    /* name on the blocklist */
	DNS_STAT_ANY,        /* QTYPE ANY */
	DNS_STAT_PASSED,     /* inspected and allowed */
	DNS_STAT_MALFORMED,  /* bad or truncated question */
	DNS_STAT_NOT_DNS,    /* not a DNS query at all */
	DNS_STAT_TOO_LONG,   /* name longer than the walk limit: passed uninspected */
	DNS_STAT_MAX
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);   /* FNV-1a of the lower-cased wire-format name */
	__type(value, __u64); /* hits */
} dns_blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DNS_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dns_stats SEC(".maps");

static __always_inline int verdict(__u32 stat, int action)
{
	__u64 *cnt = bpf_map_lookup_elem(&dns_stats, &stat);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	return action;
}

SEC("xdp")
int xdp_dns_filter(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = { .pos = data };
	struct ethhdr *eth;
	struct udphdr *uh;
	struct dnshdr *dns;
	__u8 *qname, *p;
	__be16 *qtype;
	__u32 hash = FNV32_OFFSET, i, next_label = 0;
	__u64 *hits;
	int eth_type, proto, vlans, state = 0; /* 1: root label found, -1: bad name */

	eth_type = parse_ethhdr(&nh, data_end, &eth, &vlans);
	if (eth_type == ETH_P_IP) {
		struct iphdr *iph;

		proto = parse_iphdr(&nh, data_end, &iph);
		if (proto < 0)
			return verdict(DNS_STAT_NOT_DNS, XDP_PASS);
		if (iph->frag_off & bpf_htons(IP_OFFSET))
			return verdict(DNS_STAT_NOT_DNS, XDP_PASS);
	} else if (eth_type == ETH_P_IPV6) {
		struct ipv6hdr *ip6h;

		proto = parse_ip6hdr(&nh, data_end, &ip6h);
		if (proto < 0)
			return verdict(DNS_STAT_NOT_DNS, XDP_PASS);
	} else {
		return verdict(DNS_STAT_NOT_DNS, XDP_PASS);
	}
	if (proto != IPPROTO_UDP)
		return verdict(DNS_STAT_NOT_DNS, XDP_PASS);
	if (parse_udphdr(&nh, data_end, &uh) < 0)
		return verdict(DNS_STAT_NOT_DNS, XDP_PASS);
	if (uh->dest != bpf_htons(DNS_PORT))
		return verdict(DNS_STAT_NOT_DNS, XDP_PASS);

	dns = nh.pos;
	if ((void *)(dns + 1) > data_end)
		return verdict(DNS_STAT_MALFORMED, XDP_DROP);
	if (dns->flags & bpf_htons(DNS_QR | DNS_OPCODE))
		return verdict(DNS_STAT_NOT_DNS, XDP_PASS); /* responses, updates, notifies */
	if (dns->qdcount == 0)
		return verdict(DNS_STAT_MALFORMED, XDP_DROP);
	verdict(DNS_STAT_QUERY, 0);

	qname = (__u8 *)(dns + 1);
#pragma clang loop unroll(disable)
	for (i = 0; i < MAX_QNAME; i++) {
		__u8 c;

		p = qname + i;
		if ((void *)(p + 1) > data_end) {
			state = -1;
			break;
		}
		c = *p;
		if (i == next_label) {
			if (c == 0) {
				state = 1;
				break;
			}
			if (c > MAX_LABEL) { /* compression pointer or reserved label type */
				state = -1;
				break;
			}
			next_label = i + 1 + c;
		} else if (c >= 'A' && c <= 'Z') {
			c += 'a' - 'A';
		}
		hash ^= c;
		hash *= FNV32_PRIME;
	}
	if (state < 0)
		return verdict(DNS_STAT_MALFORMED, XDP_DROP);
	if (state == 0)
		return verdict(DNS_STAT_TOO_LONG, XDP_PASS);

	/* QTYPE follows the root label. */
	qtype = (__be16 *)(qname + i + 1);
	if ((void *)(qtype + 2) > data_end) /* QTYPE and QCLASS */
		return verdict(DNS_STAT_MALFORMED, XDP_DROP);
	if (*qtype == bpf_htons(DNS_TYPE_ANY))
		return verdict(DNS_STAT_ANY, XDP_DROP);

	hits = bpf_map_lookup_elem(&dns_blocklist, &hash);
	if (hits) {
		__sync_fetch_and_add(hits, 1);
		return verdict(DNS_STAT_BLOCKED, XDP_DROP);
	}
	return verdict(DNS_STAT_PASSED, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
