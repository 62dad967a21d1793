// A program whose maps live in the legacy `maps` section (pre-BTF style, as samples/bpf and
// iproute2 wrote them). libbpf 1.x refuses such objects, so the reader parses them itself.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// The original five-field definition (20 bytes).
struct bpf_map_def {
  unsigned int type;
  unsigned int key_size;
  unsigned int value_size;
  unsigned int max_entries;
  unsigned int map_flags;
};

// iproute2's larger record (36 bytes): the first five fields mean the same.
struct bpf_elf_map {
  unsigned int type;
  unsigned int size_key;
  unsigned int size_value;
  unsigned int max_elem;
  unsigned int flags;
  unsigned int id;
  unsigned int pinning;
  unsigned int inner_id;
  unsigned int inner_idx;
};

struct bpf_map_def SEC("maps") packet_count = {
    .type = BPF_MAP_TYPE_ARRAY,
    .key_size = sizeof(__u32),
    .value_size = sizeof(__u64),
    .max_entries = 4,
    .map_flags = 0,
};

struct bpf_elf_map SEC("maps") flow_table = {
    .type = BPF_MAP_TYPE_HASH,
    .size_key = 8,
    .size_value = 16,
    .max_elem = 1024,
    .flags = BPF_F_NO_PREALLOC,
};

SEC("xdp")
int count_packets(struct xdp_md *ctx) {
  __u32 key = ctx->rx_queue_index & 3;
  __u64 *value = bpf_map_lookup_elem(&packet_count, &key);
  if (value) __sync_fetch_and_add(value, 1);
  __u64 flow = ctx->ingress_ifindex;
  if (bpf_map_lookup_elem(&flow_table, &flow)) return XDP_DROP;
  return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
