// bpf-to-bpf calls: global and static subprograms in .text, a transitive chain, two programs
// sharing a subprogram, and a static callback passed to bpf_loop (an LD_IMM64 function pointer).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int leaf(int x) { return x * 3 + 1; }

__attribute__((noinline)) int middle(int x) { return leaf(x) ^ leaf(x + 1); }

static __attribute__((noinline)) int unused_helper(int x) { return x - 7; }

struct loop_ctx {
  int sum;
};

static long add_index(__u32 index, void *data) {
  struct loop_ctx *c = data;
  c->sum += leaf((int)index);
  return 0;
}

SEC("xdp")
int xdp_calls(struct xdp_md *ctx) {
  struct loop_ctx c = {.sum = 0};
  bpf_loop(4, add_index, &c, 0);
  return (middle((int)ctx->rx_queue_index) + c.sum) & 1 ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int tc_calls(struct __sk_buff *skb) { return leaf((int)skb->len) > 100 ? 0 : 2; }

SEC("socket")
int sock_plain(struct __sk_buff *skb) { return skb->len; }

int keep_unused(int x) { return unused_helper(x); }

char LICENSE[] SEC("license") = "GPL";
