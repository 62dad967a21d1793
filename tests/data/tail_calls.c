// Tail calls, ring buffer output and the hash map types the corpus does not use, for the
// interpreter/kernel differential test: the entry program tail-calls one of three programs
// through a prog array, chosen by the last byte of the source MAC address; each leaves its mark in
// the packet, in maps and in a ring buffer record; slot 2 holds the dispatcher itself.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u32);
} jump_table SEC(".maps");

/* Large enough never to evict: the kernel's LRU is approximate (per-CPU free lists), the
 * interpreter's exact, so eviction order is not something to compare. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 1024);
  __type(key, __u32);
  __type(value, __u64);
} recent SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 64);
  __type(key, __u16);
  __type(value, __u64);
} per_type SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} events SEC(".maps");

/* How many times dispatch ran: it tail-calls itself through slot 2, which the kernel allows 33
 * times per packet (MAX_TAIL_CALL_CNT). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} dispatches SEC(".maps");

struct event {
  __u32 len;
  __u16 ethertype;
  __u8 which;
  __u8 cpu;
  __u8 head[8];
};

static __always_inline int note(struct xdp_md *ctx, __u8 which)
{
  void *data = (void *)(long)ctx->data;
  void *data_end = (void *)(long)ctx->data_end;
  __u8 *p = data;
  struct event ev = {};
  __u32 key;
  __u64 one = 1, *v;

  if (data + 16 > data_end)
    return XDP_ABORTED;
  ev.len = data_end - data;
  ev.ethertype = (__u16)(p[12] << 8 | p[13]);
  ev.which = which;
  ev.cpu = bpf_get_smp_processor_id();
  __builtin_memcpy(ev.head, p, 8);
  bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);

  key = (__u32)p[6] << 24 | p[7] << 16 | p[8] << 8 | p[9];
  v = bpf_map_lookup_elem(&recent, &key);
  if (v)
    __sync_fetch_and_add(v, 1);
  else
    bpf_map_update_elem(&recent, &key, &one, BPF_NOEXIST);

  v = bpf_map_lookup_elem(&per_type, &ev.ethertype);
  if (v)
    *v += ev.len;
  else
    bpf_map_update_elem(&per_type, &ev.ethertype, &ev.len, BPF_ANY);
  p[15] = which;  /* leave a mark in the packet */
  return XDP_PASS;
}

SEC("xdp")
int stage_a(struct xdp_md *ctx) { return note(ctx, 0xa); }

SEC("xdp")
int stage_b(struct xdp_md *ctx)
{
  void *data = (void *)(long)ctx->data;
  if (data + 16 > (void *)(long)ctx->data_end)
    return XDP_ABORTED;
  if (((__u8 *)data)[14] & 1)  /* chain on: a tail call from a tail-called program */
    bpf_tail_call(ctx, &jump_table, 0);
  return note(ctx, 0xb) == XDP_PASS ? XDP_TX : XDP_ABORTED;
}

SEC("xdp")
int dispatch(struct xdp_md *ctx)
{
  void *data = (void *)(long)ctx->data;
  __u32 slot;

  __u32 zero = 0;
  __u64 *n = bpf_map_lookup_elem(&dispatches, &zero);

  if (n)
    __sync_fetch_and_add(n, 1);
  if (data + 16 > (void *)(long)ctx->data_end)
    return XDP_DROP;
  slot = ((__u8 *)data)[11] & 3;
  bpf_tail_call(ctx, &jump_table, slot);
  /* an empty slot: the tail call falls through */
  return note(ctx, 0xd) == XDP_PASS ? XDP_DROP : XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
