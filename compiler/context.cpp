#include "compiler/context.hpp"

#include <linux/bpf.h>

#include <cstddef>
#include <string_view>

namespace tristate {

CtxModel ctx_model_for(uint32_t prog_type) {
  switch (prog_type) {
    case BPF_PROG_TYPE_XDP: return CtxModel::Xdp;
    case BPF_PROG_TYPE_SCHED_CLS:
    case BPF_PROG_TYPE_SCHED_ACT: return CtxModel::Tc;
    case BPF_PROG_TYPE_SOCKET_FILTER: return CtxModel::SocketFilter;
    case BPF_PROG_TYPE_TRACEPOINT:
    case BPF_PROG_TYPE_KPROBE:
    case BPF_PROG_TYPE_RAW_TRACEPOINT:
    case BPF_PROG_TYPE_PERF_EVENT:
    case BPF_PROG_TYPE_TRACING: return CtxModel::Tracing;
    default: return CtxModel::None;
  }
}

const char* ctx_model_name(CtxModel m) {
  switch (m) {
    case CtxModel::None: return "none";
    case CtxModel::Xdp: return "xdp_md";
    case CtxModel::Tc: return "__sk_buff (tc)";
    case CtxModel::SocketFilter: return "__sk_buff (socket filter)";
    case CtxModel::Tracing: return "tracing context";
  }
  return "?";
}

std::size_t ctx_size(CtxModel m) {
  switch (m) {
    case CtxModel::Xdp: return sizeof(xdp_md);
    case CtxModel::Tc:
    case CtxModel::SocketFilter: return sizeof(__sk_buff);
    default: return 0;
  }
}

namespace {

#define XDP(field, value) CtxField{#field, offsetof(xdp_md, field), 4, CtxValue::value, false, false}

std::vector<CtxField> xdp_fields() {
  // ingress_ifindex and rx_queue_index may be given to a test run (they pick the receive queue).
  // egress_ifindex is readable only by programs attached to a devmap (expected attach type
  // BPF_XDP_DEVMAP), which are not modelled: plain XDP programs are refused it.
  std::vector<CtxField> f = {XDP(data, Data), XDP(data_end, DataEnd), XDP(data_meta, DataMeta),
                             XDP(ingress_ifindex, Scalar), XDP(rx_queue_index, Scalar)};
  f[3].user_settable = f[4].user_settable = true;
  return f;
}

#undef XDP

// __sk_buff fields as tc and socket filters see them. `writable_tc` / `writable_sf`: stores the
// verifier allows for each; `user`: fields BPF_PROG_TEST_RUN takes from ctx_in.
std::vector<CtxField> skb_fields(bool tc) {
  struct Row {
    const char* name;
    uint32_t offset, size;
    CtxValue value;
    bool writable_tc, writable_sf, readable_sf, user;
  };
  const Row rows[] = {
      {"len", offsetof(__sk_buff, len), 4, CtxValue::Scalar, false, false, true, false},
      {"pkt_type", offsetof(__sk_buff, pkt_type), 4, CtxValue::Scalar, false, false, true, false},
      {"mark", offsetof(__sk_buff, mark), 4, CtxValue::Scalar, true, false, true, true},
      {"queue_mapping", offsetof(__sk_buff, queue_mapping), 4, CtxValue::Scalar, true, false, true, false},
      {"protocol", offsetof(__sk_buff, protocol), 4, CtxValue::Scalar, false, false, true, false},
      {"vlan_present", offsetof(__sk_buff, vlan_present), 4, CtxValue::Scalar, false, false, true, false},
      {"vlan_tci", offsetof(__sk_buff, vlan_tci), 4, CtxValue::Scalar, false, false, true, false},
      {"vlan_proto", offsetof(__sk_buff, vlan_proto), 4, CtxValue::Scalar, false, false, true, false},
      {"priority", offsetof(__sk_buff, priority), 4, CtxValue::Scalar, true, false, true, true},
      {"ingress_ifindex", offsetof(__sk_buff, ingress_ifindex), 4, CtxValue::Scalar, false, false, true, true},
      {"ifindex", offsetof(__sk_buff, ifindex), 4, CtxValue::Scalar, false, false, true, true},
      {"tc_index", offsetof(__sk_buff, tc_index), 4, CtxValue::Scalar, true, false, true, false},
      {"cb[0]", offsetof(__sk_buff, cb) + 0, 4, CtxValue::Scalar, true, true, true, true},
      {"cb[1]", offsetof(__sk_buff, cb) + 4, 4, CtxValue::Scalar, true, true, true, true},
      {"cb[2]", offsetof(__sk_buff, cb) + 8, 4, CtxValue::Scalar, true, true, true, true},
      {"cb[3]", offsetof(__sk_buff, cb) + 12, 4, CtxValue::Scalar, true, true, true, true},
      {"cb[4]", offsetof(__sk_buff, cb) + 16, 4, CtxValue::Scalar, true, true, true, true},
      {"hash", offsetof(__sk_buff, hash), 4, CtxValue::Scalar, false, false, true, false},
      {"tc_classid", offsetof(__sk_buff, tc_classid), 4, CtxValue::Scalar, true, false, false, false},
      {"data", offsetof(__sk_buff, data), 4, CtxValue::Data, false, false, false, false},
      {"data_end", offsetof(__sk_buff, data_end), 4, CtxValue::DataEnd, false, false, false, false},
      {"napi_id", offsetof(__sk_buff, napi_id), 4, CtxValue::Scalar, false, false, true, false},
      {"data_meta", offsetof(__sk_buff, data_meta), 4, CtxValue::DataMeta, false, false, false, false},
      {"tstamp", offsetof(__sk_buff, tstamp), 8, CtxValue::Scalar, true, false, false, true},
      {"wire_len", offsetof(__sk_buff, wire_len), 4, CtxValue::Scalar, false, false, false, true},
      {"gso_segs", offsetof(__sk_buff, gso_segs), 4, CtxValue::Scalar, false, false, true, true},
      {"gso_size", offsetof(__sk_buff, gso_size), 4, CtxValue::Scalar, false, false, true, true},
      {"tstamp_type", offsetof(__sk_buff, tstamp_type), 1, CtxValue::Scalar, false, false, false, false},
      {"hwtstamp", offsetof(__sk_buff, hwtstamp), 8, CtxValue::Scalar, false, false, false, true},
  };
  // The kernel's own widths behind the UAPI fields (struct sk_buff, skb_shared_info, qdisc_skb_cb):
  // seen in how the 6.18 verifier answers narrow loads.
  const std::pair<std::string_view, uint32_t> targets[] = {
      {"pkt_type", 1}, {"protocol", 2}, {"queue_mapping", 2}, {"vlan_tci", 2}, {"vlan_proto", 2},
      {"tc_index", 2}, {"tc_classid", 2}, {"gso_segs", 2}, {"gso_size", 2}, {"tstamp_type", 1},
      {"tstamp", 8}, {"hwtstamp", 8}};
  std::vector<CtxField> f;
  for (const Row& r : rows) {
    if (!tc && !r.readable_sf) continue;
    const bool cb = std::string_view(r.name).starts_with("cb[");
    CtxField field{r.name, r.offset, r.size, r.value, tc ? r.writable_tc : r.writable_sf, r.user, cb};
    for (const auto& [name, width] : targets)
      if (name == r.name) field.target = width;
    field.narrow = r.size != 8;
    f.push_back(field);
  }
  return f;
}

}  // namespace

const std::vector<CtxField>& ctx_fields(CtxModel m) {
  static const std::vector<CtxField> none, xdp = xdp_fields(), tc = skb_fields(true), sf = skb_fields(false);
  switch (m) {
    case CtxModel::Xdp: return xdp;
    case CtxModel::Tc: return tc;
    case CtxModel::SocketFilter: return sf;
    default: return none;
  }
}

namespace {

// For each byte of a context, the field it belongs to (the interpreter looks fields up on every
// context access).
struct FieldIndex {
  std::vector<const CtxField*> at;
  std::vector<uint32_t> end;  // where the field, or the block of fields, holding each byte ends
  explicit FieldIndex(CtxModel m) : at(ctx_size(m), nullptr), end(ctx_size(m), 0) {
    for (const CtxField& f : ctx_fields(m))
      for (uint32_t i = f.offset; i < f.offset + f.size; ++i) {
        at[i] = &f;
        end[i] = f.offset + f.size;
      }
    for (std::size_t i = at.size(); i-- > 1;)  // extend block fields' ends to their block's
      if (at[i] && at[i - 1] && at[i]->block && at[i - 1]->block) end[i - 1] = end[i];
  }
};

}  // namespace

const CtxField* ctx_field_at(CtxModel m, int64_t offset, int size) {
  static const FieldIndex xdp(CtxModel::Xdp), tc(CtxModel::Tc), sf(CtxModel::SocketFilter);
  const FieldIndex* index = m == CtxModel::Xdp ? &xdp : m == CtxModel::Tc ? &tc : m == CtxModel::SocketFilter ? &sf : nullptr;
  if (!index || offset < 0 || size <= 0 || offset > int64_t(index->at.size()) - size) return nullptr;
  const CtxField* f = index->at[std::size_t(offset)];
  return f && offset + size <= int64_t(index->end[std::size_t(offset)]) ? f : nullptr;
}

const CtxField* ctx_field_named(CtxModel m, const std::string& name) {
  for (const CtxField& f : ctx_fields(m))
    if (name == f.name) return &f;
  return nullptr;
}

const CtxField* ctx_access(CtxModel m, int64_t at, std::size_t n, bool write, std::string& why) {
  const std::string where = "off=" + std::to_string(at) + " size=" + std::to_string(n);
  // The verifier refuses context accesses not aligned to their size (xdp_is_valid_access,
  // bpf_skb_is_valid_access).
  if (at % int64_t(n) != 0) {
    why = "invalid bpf_context access " + where + ": misaligned";
    return nullptr;
  }
  if (m == CtxModel::Xdp && n != 4) {
    why = "invalid bpf_context access " + where + ": xdp_md is accessed 4 bytes at a time";
    return nullptr;
  }
  const CtxField* f = ctx_field_at(m, at, int(n));
  if (!f) {
    why = "invalid bpf_context access " + where + " (" + ctx_model_name(m) + ")";
    return nullptr;
  }
  if (write && !f->writable) {
    why = std::string("invalid bpf_context access: ") + f->name + " is read-only";
    return nullptr;
  }
  if (write && !f->block && (n != f->size || at != int64_t(f->offset))) {
    why = std::string("invalid bpf_context access: ") + f->name + " must be written whole";
    return nullptr;
  }
  if ((f->value != CtxValue::Scalar || !f->narrow) && !f->block && (n != f->size || at != int64_t(f->offset))) {
    why = std::string("invalid bpf_context access: ") + f->name + " must be read whole";
    return nullptr;
  }
  return f;
}

}  // namespace tristate
