// SPDX-License-Identifier: GPL-2.0
/* execve accounting from tracepoints. On syscalls:sys_enter_execve the program bumps a per-process
 * record in a hash map keyed by tgid (exec count, last comm, first 32 bytes of the filename read
 * from user memory), and a per-CPU array counts all calls. On sched:sched_process_exit the record
 * of a dying thread-group leader is deleted so the map does not fill up.
 */
#include "common.h"

#define FNAME_LEN 32
#define COMM_LEN 16

/* The layout of /sys/kernel/tracing/events/syscalls/sys_enter_execve/format. */
struct sys_enter_execve_args {
	__u64 common; /* type, flags, preempt_count, pid */
	__s32 syscall_nr;
	__u32 pad;
	const char *filename;
	const char *const *argv;
	const char *const *envp;
};

struct exec_info {
	__u64 execs;
	__u64 last_ns;
	char comm[COMM_LEN];
	char filename[FNAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct exec_info);
} execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} exec_total SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int tp_sys_enter_execve(struct sys_enter_execve_args *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct exec_info *info, fresh = {};
	__u32 zero = 0;
	__u64 *total;

	total = bpf_map_lookup_elem(&exec_total, &zero);
	if (total)
		*total += 1;

	info = bpf_map_lookup_elem(&execs, &tgid);
	if (!info) {
		if (bpf_map_update_elem(&execs, &tgid, &fresh, BPF_NOEXIST) < 0)
			return 0;
		info = bpf_map_lookup_elem(&execs, &tgid);
		if (!info)
			return 0;
	}
	__sync_fetch_and_add(&info->execs, 1);
	info->last_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(info->comm, sizeof(info->comm));
	bpf_probe_read_user_str(info->filename, sizeof(info->filename), ctx->filename);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int tp_sched_process_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	/* Only the group leader's exit ends the process. */
	if ((__u32)id != tgid)
		return 0;
	bpf_map_delete_elem(&execs, &tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
