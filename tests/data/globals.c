// Global data in .data, .rodata and .bss, plus one BTF-defined map: each global access is an
// LD_IMM64 with a relocation against its section.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 8);
} stats SEC(".maps");

volatile __u64 packets = 1;           // .data
volatile const __u32 drop_port = 53;  // .rodata
volatile __u64 dropped;               // .bss

SEC("xdp")
int filter(struct xdp_md *ctx) {
  packets++;
  __u32 key = 0;
  __u64 *v = bpf_map_lookup_elem(&stats, &key);
  if (v) *v += 1;
  if (ctx->rx_queue_index == drop_port) {
    dropped++;
    return XDP_DROP;
  }
  return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
