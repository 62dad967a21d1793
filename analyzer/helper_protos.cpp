#include "analyzer/helper_protos.hpp"

#include <linux/bpf.h>

namespace tristate {

namespace {

using A = ArgType;
constexpr uint8_t kPacket = kXdp | kTc;
constexpr uint8_t kSkb = kTc | kSocketFilter;

// Helper ids are the UAPI's enum bpf_func_id values.
constexpr HelperProto kProtos[] = {
    {BPF_FUNC_map_lookup_elem, {A::MapPtr, A::MapKey}, RetType::MapValueOrNull, kAll, false, true},
    {BPF_FUNC_map_update_elem, {A::MapPtr, A::MapKey, A::MapValue, A::Anything}, RetType::Integer, kAll, false, true},
    {BPF_FUNC_map_delete_elem, {A::MapPtr, A::MapKey}, RetType::Integer, kAll, false, true},
    {BPF_FUNC_probe_read, {A::UninitMem, A::ConstSizeOrZero, A::Anything}, RetType::Integer, kTracing},
    {BPF_FUNC_ktime_get_ns, {}, RetType::Integer, kAll},
    {BPF_FUNC_trace_printk, {A::Mem, A::ConstSize}, RetType::Integer, kAll},
    {BPF_FUNC_get_prandom_u32, {}, RetType::Integer, kAll},
    {BPF_FUNC_get_smp_processor_id, {}, RetType::Integer, kAll},
    {BPF_FUNC_skb_store_bytes, {A::Ctx, A::Anything, A::Mem, A::ConstSize, A::Anything}, RetType::Integer, kTc, true},
    {BPF_FUNC_l3_csum_replace, {A::Ctx, A::Anything, A::Anything, A::Anything, A::Anything}, RetType::Integer, kTc, true},
    {BPF_FUNC_l4_csum_replace, {A::Ctx, A::Anything, A::Anything, A::Anything, A::Anything}, RetType::Integer, kTc, true},
    {BPF_FUNC_get_current_pid_tgid, {}, RetType::Integer, kTracing},
    {BPF_FUNC_get_current_comm, {A::UninitMem, A::ConstSize}, RetType::Integer, kTracing},
    {BPF_FUNC_redirect, {A::Anything, A::Anything}, RetType::Integer, kPacket},
    {BPF_FUNC_skb_load_bytes, {A::Ctx, A::Anything, A::UninitMem, A::ConstSize}, RetType::Integer, kSkb},
    {BPF_FUNC_xdp_adjust_head, {A::Ctx, A::Anything}, RetType::Integer, kXdp, true},
    {BPF_FUNC_redirect_map, {A::MapPtr, A::Anything, A::Anything}, RetType::Integer, kXdp},
    {BPF_FUNC_xdp_adjust_meta, {A::Ctx, A::Anything}, RetType::Integer, kXdp, true},
    {BPF_FUNC_xdp_adjust_tail, {A::Ctx, A::Anything}, RetType::Integer, kXdp, true},
    {BPF_FUNC_probe_read_user, {A::UninitMem, A::ConstSizeOrZero, A::Anything}, RetType::Integer, kTracing},
    {BPF_FUNC_probe_read_kernel, {A::UninitMem, A::ConstSizeOrZero, A::Anything}, RetType::Integer, kTracing},
    {BPF_FUNC_probe_read_kernel_str, {A::UninitMem, A::ConstSizeOrZero, A::Anything}, RetType::Integer, kTracing},
    {BPF_FUNC_probe_read_user_str, {A::UninitMem, A::ConstSizeOrZero, A::Anything}, RetType::Integer, kTracing},
    {BPF_FUNC_ringbuf_output, {A::MapPtr, A::Mem, A::ConstSizeOrZero, A::Anything}, RetType::Integer, kAll},
};

}  // namespace

const HelperProto* helper_proto(int32_t id) {
  for (const HelperProto& p : kProtos)
    if (p.id == id) return &p;
  return nullptr;
}

}  // namespace tristate
