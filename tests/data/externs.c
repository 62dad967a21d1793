// Externs: Kconfig variables (LD_IMM64 of an undefined symbol) and kfunc calls (calls to an
// undefined symbol). libbpf adds a .kconfig internal map for the former.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
SEC("tc") int ext_prog(struct __sk_buff *skb) { bpf_rcu_read_lock(); bpf_rcu_read_unlock(); return LINUX_KERNEL_VERSION > 0x60000 ? CONFIG_HZ : 0; }
char LICENSE[] SEC("license") = "GPL";
