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

// The kernel prints small numbers in decimal and the rest in hex (verbose_unum / verbose_snum).
std::string unum(uint64_t v) {
  char buf[32];
  if (v <= 1024) std::snprintf(buf, sizeof buf, "%" PRIu64, v);
  else std::snprintf(buf, sizeof buf, "%#" PRIx64, v);
  return buf;
}

std::string snum(int64_t v) {
  char buf[32];
  if (v >= -1024 && v <= 1024) std::snprintf(buf, sizeof buf, "%" PRId64, v);
  else if (v < 0) std::snprintf(buf, sizeof buf, "-%#" PRIx64, uint64_t(0) - uint64_t(v));
  else std::snprintf(buf, sizeof buf, "%#" PRIx64, uint64_t(v));
  return buf;
}

// print_scalar_ranges: each bound not at its default, with equal minima (or maxima) of the same
// sign grouped as "smin=smin32=0".
void scalar_ranges(const Scalar& s, std::string& out, const char*& sep) {
  struct Bound {
    const char* name;
    uint64_t val;
    bool omit;
  } b[] = {
      {"smin", uint64_t(s.smin), s.smin == INT64_MIN},
      {"smax", uint64_t(s.smax), s.smax == INT64_MAX},
      {"umin", s.umin, s.umin == 0},
      {"umax", s.umax, s.umax == ~uint64_t(0)},
      {"smin32", uint64_t(int64_t(s.s32_min)), s.s32_min == INT32_MIN},
      {"smax32", uint64_t(int64_t(s.s32_max)), s.s32_max == INT32_MAX},
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
      if (b[j].omit) continue;
      const bool neg2 = b[j].name[0] == 's' && int64_t(b[j].val) < 0;
      if (neg1 == neg2 && b[i].val == b[j].val) {
        out += b[j].name;
        out += '=';
        b[j].omit = true;
      }
    }
    out += b[i].name[0] == 's' ? snum(int64_t(b[i].val)) : unum(b[i].val);
  }
}

void var_part(const Scalar& s, std::string& out, const char*& sep) {
  scalar_ranges(s, out, sep);
  if (s.var.mask != ~uint64_t(0)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "var_off=(%#" PRIx64 "; %#" PRIx64 ")", s.var.value, s.var.mask);
    // The kernel's tnum_strn prints 0 as "0x0".
    std::string t = buf;
    for (std::size_t p; (p = t.find("(0;")) != std::string::npos;) t.replace(p, 3, "(0x0;");
    for (std::size_t p; (p = t.find("; 0)")) != std::string::npos;) t.replace(p, 4, "; 0x0)");
    out += sep;
    out += t;
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
