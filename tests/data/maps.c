// BTF-defined maps of several types and flags, and programs of several types, so the reader's
// map and program-type tables can be checked against what the source says.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 1024);
  __uint(map_flags, BPF_F_NO_PREALLOC);
} hash_map SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __type(key, __u32);
  __type(value, __u32[4]);
  __uint(max_entries, 16);
} percpu SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(key_size, 12);
  __uint(value_size, 24);
  __uint(max_entries, 4096);
} lru SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int xdp_prog(struct xdp_md *ctx) {
  __u32 k = ctx->rx_queue_index;
  __u64 *v = bpf_map_lookup_elem(&hash_map, &k);
  return v ? XDP_DROP : XDP_PASS;
}

SEC("tc")
int tc_prog(struct __sk_buff *skb) {
  __u32 k = 0;
  __u32 *v = bpf_map_lookup_elem(&percpu, &k);
  if (v) v[1] += skb->len;
  return 0;
}

SEC("socket")
int socket_prog(struct __sk_buff *skb) { return skb->len > 64 ? -1 : 0; }

SEC("cgroup_skb/ingress")
int cgroup_prog(struct __sk_buff *skb) {
  char key[12] = {};
  key[0] = (char)skb->protocol;
  return bpf_map_lookup_elem(&lru, key) ? 0 : 1;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_prog(void *ctx) {
  __u64 *e = bpf_ringbuf_reserve(&events, 8, 0);
  if (!e) return 0;
  *e = bpf_ktime_get_ns();
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("kprobe/do_sys_open")
int kprobe_prog(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
