#include "analyzer/state.hpp"

#include <cinttypes>
#include <cstdio>

namespace tristate {

const char* reg_type_name(RegType t) {
  switch (t) {
    case RegType::NotInit: return "?";
    case RegType::Scalar: return "scalar";
    case RegType::Ctx: return "ctx";
    case RegType::Stack: return "fp";
    case RegType::Packet: return "pkt";
    case RegType::PacketMeta: return "pkt_meta";
    case RegType::PacketEnd: return "pkt_end";
    case RegType::MapPtr: return "map_ptr";
    case RegType::MapValue: return "map_value";
    case RegType::MapValueOrNull: return "map_value_or_null";
    case RegType::Mem: return "mem";
    case RegType::MemOrNull: return "mem_or_null";
    case RegType::Func: return "func";
  }
  return "?";
}

namespace {

// How the Linux 6.18 kernel prints numbers (kernel/bpf/log.c, verbose_snum / verbose_unum): signed
// ones in decimal within [S16_MIN, S16_MAX], unsigned ones up to U16_MAX, otherwise the hex of
// their 64 bits with a 0x prefix (also for 0). Checked against the running kernel's own printing
// by tests/verifier/kernel_log_test.cpp.
constexpr int64_t kSnumMin = INT16_MIN, kSnumMax = INT16_MAX;
constexpr uint64_t kUnumMax = UINT16_MAX;

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}
std::string snum(int64_t v) { return v >= kSnumMin && v <= kSnumMax ? std::to_string(v) : hex(uint64_t(v)); }
std::string unum(uint64_t v) { return v <= kUnumMax ? std::to_string(v) : hex(v); }

// print_scalar_ranges: smin, smax, umin, umax, smin32, smax32, umin32, umax32 in this order, each
// left out when it is its type's extreme; a printed bound takes along every later bound of the
// same parity (mins with mins, maxes with maxes) holding the same 64-bit value, unless one is a
// negative signed bound and the other not ("smin=umin=smin32=umin32=20"). Signed 32-bit bounds are
// widened by sign extension when they print in decimal and by zero extension when in hex.
// Then var_off, unless the tnum is unknown.
void var_part(const Scalar& s, std::string& out, const char*& sep) {
  const auto s32_val = [](int32_t v) { return v >= kSnumMin && v <= kSnumMax ? uint64_t(int64_t(v)) : uint64_t(uint32_t(v)); };
  struct Bound {
    const char* name;
    uint64_t val;
    bool omit;
  } b[] = {
      {"smin", uint64_t(s.smin), s.smin == INT64_MIN},
      {"smax", uint64_t(s.smax), s.smax == INT64_MAX},
      {"umin", s.umin, s.umin == 0},
      {"umax", s.umax, s.umax == ~uint64_t(0)},
      {"smin32", s32_val(s.s32_min), s.s32_min == INT32_MIN},
      {"smax32", s32_val(s.s32_max), s.s32_max == INT32_MAX},
      {"umin32", s.u32_min, s.u32_min == 0},
      {"umax32", s.u32_max, s.u32_max == ~uint32_t(0)},
  };
  constexpr int n = int(std::size(b));
  for (int i = 0; i < n; ++i) {
    if (b[i].omit) continue;
    const bool neg1 = b[i].name[0] == 's' && int64_t(b[i].val) < 0;
    out += sep;
    out += b[i].name;
    out += '=';
    sep = ",";
    for (int j = i + 2; j < n; j += 2) {
      if (b[j].omit || b[j].val != b[i].val) continue;
      const bool neg2 = b[j].name[0] == 's' && int64_t(b[j].val) < 0;
      if (neg1 != neg2) continue;
      out += b[j].name;
      out += '=';
      b[j].omit = true;
    }
    out += b[i].name[0] == 's' ? snum(int64_t(b[i].val)) : unum(b[i].val);
  }
  if (s.var.mask != ~uint64_t(0)) {
    out += sep;
    out += "var_off=(" + hex(s.var.value) + "; " + hex(s.var.mask) + ")";
    sep = ",";
  }
}

}  // namespace

std::string format_scalar(const Scalar& s, uint32_t id) {
  if (s.is_const()) return snum(int64_t(s.var.value));
  std::string out = "scalar(";
  const char* sep = "";
  if (id) {
    out += "id=" + std::to_string(id);
    sep = ",";
  }
  var_part(s, out, sep);
  return out + ")";
}

std::string format_reg(const RegState& r, const std::vector<MapDef>& maps) {
  if (r.type == RegType::NotInit) return "?";
  if (r.type == RegType::Scalar) return format_scalar(r.var, r.id);
  if (r.type == RegType::Stack && r.var.is_const()) return "fp" + snum(int64_t(r.var.var.value) + r.off);
  std::string out = reg_type_name(r.type);
  out += '(';
  const char* sep = "";
  const auto field = [&](const std::string& s) {
    out += sep;
    out += s;
    sep = ",";
  };
  if (r.id) field("id=" + std::to_string(r.id));
  const bool map_typed = r.type == RegType::MapPtr || r.type == RegType::MapValue || r.type == RegType::MapValueOrNull;
  if (map_typed && r.map >= 0 && std::size_t(r.map) < maps.size()) {
    const MapDef& m = maps[std::size_t(r.map)];
    if (!m.name.empty()) field("map=" + m.name.substr(0, 15));
    field("ks=" + std::to_string(m.key_size) + ",vs=" + std::to_string(m.value_size));
  }
  if (r.off) field("off=" + snum(r.off));
  if (is_packet(r.type)) field("r=" + unum(uint64_t(int64_t(r.range))));
  if (r.type == RegType::Mem || r.type == RegType::MemOrNull) field("sz=" + unum(r.mem_size));
  if (r.var.is_const()) {
    if (r.var.var.value) field("imm=" + snum(int64_t(r.var.var.value)));
  } else {
    var_part(r.var, out, sep);
  }
  return out + ")";
}

std::string format_frame(const FrameState& f, const std::vector<MapDef>& maps) {
  std::string out;
  for (std::size_t i = 0; i < f.regs.size(); ++i) {
    if (f.regs[i].type == RegType::NotInit) continue;
    if (!out.empty()) out += ' ';
    out += "R" + std::to_string(i) + "=" + format_reg(f.regs[i], maps);
  }
  static constexpr char kSlotChar[] = {'?', 'r', 'm', '0'};
  for (std::size_t i = 0; i < f.stack.size(); ++i) {
    const StackSlot& s = f.stack[i];
    bool valid = false;
    for (const SlotType t : s.type) valid |= t != SlotType::Invalid;
    if (!valid) continue;
    out += " fp" + std::to_string(-8 * int(i + 1)) + "=";
    for (const SlotType t : s.type)
      if (!(s.is_spill() && t == SlotType::Spill)) out += kSlotChar[int(t)];
    if (s.is_spill()) out += format_reg(s.spilled, maps);
  }
  return out;
}

}  // namespace tristate
