#include "analyzer/analyzer.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <optional>
#include <variant>

#include "analyzer/helper_protos.hpp"
#include "compiler/bytecode.hpp"
#include "compiler/cfg.hpp"
#include "compiler/context.hpp"
#include "compiler/disasm.hpp"
#include "compiler/error.hpp"
#include "compiler/helper_names.hpp"
#include "compiler/liveness.hpp"
#include "compiler/maps.hpp"
#include "compiler/semantics.hpp"

namespace tristate {

namespace {

constexpr int64_t kMaxVarOff = int64_t(1) << 29;  // BPF_MAX_VAR_OFF
constexpr int64_t kMaxPacketOff = 0xffff;         // MAX_PACKET_OFF
constexpr std::size_t kMaxPending = 8192;         // BPF_COMPLEXITY_LIMIT_JMP_SEQ

// A refusal, thrown from deep inside the checks and caught by analyze().
struct Refusal {
  std::size_t insn;
  std::string reason;
};

std::string r(int reg) { return "R" + std::to_string(reg); }

const char* alu_name(AluOp op) {
  switch (op) {
    case AluOp::Add: return "+=";
    case AluOp::Sub: return "-=";
    case AluOp::Mul: return "*=";
    case AluOp::Div: case AluOp::SDiv: return "/=";
    case AluOp::Or: return "|=";
    case AluOp::And: return "&=";
    case AluOp::Lsh: return "<<=";
    case AluOp::Rsh: return ">>=";
    case AluOp::Neg: return "neg";
    case AluOp::Mod: case AluOp::SMod: return "%=";
    case AluOp::Xor: return "^=";
    case AluOp::Mov: case AluOp::MovSx8: case AluOp::MovSx16: case AluOp::MovSx32: return "=";
    case AluOp::Arsh: return "s>>=";
  }
  return "?";
}

// coerce_reg_to_size: the value truncated to `size` bytes and zero-extended.
void coerce_to_size(Scalar& s, int size) {
  if (size >= 8) return;
  s.var = tnum_cast(s.var, unsigned(size));
  const uint64_t mask = (uint64_t(1) << (size * 8)) - 1;
  if ((s.umin & ~mask) == (s.umax & ~mask)) {
    s.umin &= mask;
    s.umax &= mask;
  } else {
    s.umin = 0;
    s.umax = mask;
  }
  s.smin = int64_t(s.umin);
  s.smax = int64_t(s.umax);
  if (size < 4) {
    s.u32_min = 0, s.u32_max = ~uint32_t(0);
    s.s32_min = INT32_MIN, s.s32_max = INT32_MAX;
  }
  sync_bounds(s);
}

// coerce_reg_to_size_sx (64-bit result): the low `size` bytes sign-extended.
void coerce_to_size_sx(Scalar& s, int size) {
  if (s.is_const()) {
    const int sh = 64 - size * 8;
    s = Scalar::constant(uint64_t(int64_t(s.var.value << sh) >> sh));
    return;
  }
  const int sh = 64 - size * 8;
  const int64_t lo = int64_t(s.umin << sh) >> sh, hi = int64_t(s.umax << sh) >> sh;
  const uint64_t top = ~((uint64_t(1) << (size * 8)) - 1);
  Scalar out;
  if ((s.umin & top) == (s.umax & top) && lo <= hi) {
    out.smin = lo, out.smax = hi;
    out.umin = uint64_t(lo), out.umax = uint64_t(hi);
    if (lo < 0 && hi >= 0) out.umin = 0, out.umax = ~uint64_t(0);
    out.s32_min = int32_t(lo), out.s32_max = int32_t(hi);
    if (lo < INT32_MIN || hi > INT32_MAX) out.s32_min = INT32_MIN, out.s32_max = INT32_MAX;
  } else {
    const int64_t lim = int64_t(1) << (size * 8 - 1);
    out.smin = -lim, out.smax = lim - 1;
    out.s32_min = int32_t(std::max<int64_t>(-lim, INT32_MIN)), out.s32_max = int32_t(std::min<int64_t>(lim - 1, INT32_MAX));
  }
  sync_bounds(out);
  s = out;
}

bool fits_s32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

struct Node {
  VerifierState st;
  std::size_t pc = 0;
  int parent = -1;
  int branches = 0;
  uint32_t hits = 0, misses = 0;
};

struct Pending {
  VerifierState st;
  std::size_t pc = 0;
  std::size_t from = 0;
  int parent = -1;
};

class Checker {
 public:
  Checker(const AnalysisInput& in, const AnalyzeOptions& opts)
      : in_(in), opts_(opts), model_(ctx_model_for(in.prog_type)) {}

  AnalysisResult run();

 private:
  // --- setup
  void check_program_type();
  // --- the walk
  void walk();
  bool is_state_visited();
  void end_path();
  void step(const Decoded& d);
  // --- instructions
  void do_alu(const Alu& a);
  void do_endian(const Endian& e);
  void do_jmp(const Jmp& j);
  void do_load(const Load& l);
  void do_store(const Store& s);
  void do_atomic(const Atomic& a);
  void do_call(const Call& c);
  void do_helper(int32_t id);
  std::optional<uint64_t> constant_key(const RegState& key, uint32_t key_size);
  void do_exit();
  void do_ld_imm64(const LdImm64& l);
  void do_packet_load(const PacketLoad& p);
  // --- pieces
  [[noreturn]] void refuse(const std::string& why) const { throw Refusal{pc_, why}; }
  RegState& reg(int i) { return cur_.cur().regs[std::size_t(i)]; }
  const RegState& read(int i) {
    const RegState& x = reg(i);
    if (x.type == RegType::NotInit) refuse(r(i) + " !read_ok");
    return x;
  }
  void set_unknown(int i) { reg(i) = RegState::unknown(); }
  void adjust_ptr(int dst, const Alu& a, RegState ptr, const RegState& off_reg, bool ptr_is_dst);
  void check_sane_offset(const RegState& x, RegType ptr_type, bool is_off_reg);
  // Memory access of `size` bytes at register `base` + off; loads give the value in `out`.
  void mem_access(int base, int16_t off, int size, bool write, RegState* out, const RegState* value, bool is_st, bool atomic);
  void stack_access(const RegState& ptr, int base, int16_t off, int size, bool write, RegState* out, const RegState* value, bool is_st);
  void stack_read_fixed(FrameState& f, int64_t at, int size, RegState* out);
  void stack_write_fixed(FrameState& f, int64_t at, int size, const RegState* value, bool is_st, int32_t imm);
  void check_map_value(const RegState& ptr, int base, int64_t off, int size, bool write);
  void check_packet(const RegState& ptr, int base, int64_t off, int size, bool write);
  void check_helper_mem(int argno, const RegState& ptr, int64_t size, bool write, bool zero_ok, bool packet_ok);
  StackSlot& slot(FrameState& f, int64_t at);
  uint32_t new_id() { return ++id_gen_; }
  void mark_ptr_or_null(VerifierState& st, uint32_t id, bool is_null);
  void find_good_pkt_pointers(VerifierState& st, const RegState& dst, bool right_open);
  void sync_linked(VerifierState& st, const RegState& known);
  void invalidate_packet_pointers();
  template <class F> void for_each_reg(VerifierState& st, F f);
  void log_line(const std::string& s) {
    if (opts_.log) result_.log += s + "\n";
  }

  const AnalysisInput& in_;
  const AnalyzeOptions& opts_;
  CtxModel model_;
  Cfg cfg_;
  Liveness live_;
  std::vector<const Decoded*> by_slot_;
  std::vector<bool> prune_point_;
  std::vector<MapRef> refs_;

  VerifierState cur_;
  std::size_t pc_ = 0;
  std::size_t next_pc_ = 0;
  bool path_done_ = false;
  int parent_ = -1;
  uint32_t id_gen_ = 0;
  int32_t st_imm_ = 0;  // the immediate of the BPF_ST being checked
  RegState* source_ = nullptr;  // the register a BPF_STX stores (spills link to it)
  uint64_t jmps_ = 0, prev_jmps_ = 0, prev_insns_ = 0;
  std::vector<Node> nodes_;
  std::vector<std::vector<int>> explored_;
  std::vector<Pending> pending_;
  AnalysisResult result_;
};

// --- state comparison (states_equal) -------------------------------------------------------------

// A consistent renaming of ids between an explored state and the current one (check_ids).
struct IdMap {
  std::vector<std::pair<uint32_t, uint32_t>> pairs;  // (old, cur): few, so a linear search
  uint32_t fresh = 0x80000000u;
  // check_ids: both ids set and consistently paired, or both zero.
  bool same(uint32_t old_id, uint32_t cur_id) {
    if (!old_id || !cur_id) return !old_id && !cur_id;
    return pair(old_id, cur_id);
  }
  // check_scalar_ids: a zero id stands for an id of its own.
  bool same_scalar(uint32_t old_id, uint32_t cur_id) {
    if (!old_id) old_id = ++fresh;
    if (!cur_id) cur_id = ++fresh;
    return pair(old_id, cur_id);
  }
  bool pair(uint32_t old_id, uint32_t cur_id) {
    for (const auto& [o, c] : pairs) {
      if (o == old_id || c == cur_id) return o == old_id && c == cur_id;
    }
    pairs.emplace_back(old_id, cur_id);
    return true;
  }
};

bool scalar_within(const Scalar& o, const Scalar& c) {
  return o.umin <= c.umin && o.umax >= c.umax && o.smin <= c.smin && o.smax >= c.smax && o.u32_min <= c.u32_min &&
         o.u32_max >= c.u32_max && o.s32_min <= c.s32_min && o.s32_max >= c.s32_max && tnum_in(o.var, c.var);
}

// regsafe: every behaviour the current register allows, the explored one allowed (exact: equal).
bool reg_safe(const RegState& o, const RegState& c, bool exact, IdMap& ids) {
  if (o.type == RegType::NotInit) return !exact || c.type == RegType::NotInit;
  if (o.type != c.type) return false;
  if (o.type == RegType::Scalar) {
    if (exact) return o.var == c.var && o.add_const == c.add_const && o.off == c.off && ids.same(o.id, c.id);
    if (!ids.same_scalar(o.id, c.id)) return false;
    if (o.add_const != c.add_const || (o.add_const && o.off != c.off)) return false;
    return scalar_within(o.var, c.var);
  }
  if (o.off != c.off || o.map != c.map || o.mem_size != c.mem_size || o.frame != c.frame) return false;
  if (exact) return o.var == c.var && o.range == c.range && ids.same(o.id, c.id);
  if (is_packet(o.type)) {
    if (o.range > c.range) return false;
    if (!ids.same(o.id, c.id)) return false;
  }
  if (may_be_null(o.type) && !ids.same(o.id, c.id)) return false;
  return scalar_within(o.var, c.var);
}

bool stack_safe(const FrameState& o, const FrameState& c, bool exact, IdMap& ids) {
  for (std::size_t i = 0; i < o.stack.size(); ++i) {
    const StackSlot& os = o.stack[i];
    static const StackSlot kEmpty{};
    const StackSlot& cs = i < c.stack.size() ? c.stack[i] : kEmpty;
    if (exact) {
      if (os.type != cs.type) return false;
      if (os.is_spill() && !reg_safe(os.spilled, cs.spilled, true, ids)) return false;
      continue;
    }
    for (int b = 0; b < 8; ++b) {
      const SlotType ot = os.type[std::size_t(b)], ct = cs.type[std::size_t(b)];
      if (ot == SlotType::Invalid) continue;
      // Uninitialised stack may be read (root), so misc data covers anything but a spill.
      if (ot == SlotType::Misc && ct != SlotType::Spill) continue;
      if (ot != ct) return false;
    }
    if (os.is_spill() && !reg_safe(os.spilled, cs.spilled, false, ids)) return false;
  }
  if (exact)
    for (std::size_t i = o.stack.size(); i < c.stack.size(); ++i)
      if (c.stack[i] != StackSlot{}) return false;
  return true;
}

// states_equal: `o` (explored) covers `c` (current). Registers not live at the instruction are
// not compared (live: per frame, innermost last).
bool states_cover(const VerifierState& o, const VerifierState& c, const std::vector<RegSet>& live, bool exact) {
  if (o.frames.size() != c.frames.size()) return false;
  IdMap ids;
  for (std::size_t f = 0; f < o.frames.size(); ++f) {
    const FrameState& of = o.frames[f];
    const FrameState& cf = c.frames[f];
    if (of.callsite != cf.callsite) return false;
    for (int i = 0; i < 11; ++i) {
      if (!exact && !(live[f] & reg_bit(Reg(i)))) continue;
      if (!reg_safe(of.regs[std::size_t(i)], cf.regs[std::size_t(i)], exact, ids)) return false;
    }
    if (!stack_safe(of, cf, exact, ids)) return false;
  }
  return true;
}

// --- the walk -------------------------------------------------------------------------------------

AnalysisResult Checker::run() {
  try {
    check_program_type();
    std::vector<FunctionRange> fns = in_.functions;
    try {
      if (fns.empty()) fns = function_ranges(decode_program(in_.image), in_.image.size(), "prog");
      cfg_ = build_cfg(in_.image, fns);
    } catch (const InputError& e) {
      // The structural checks name the instruction in their message.
      throw Refusal{0, e.reason()};
    }
    live_ = compute_liveness(cfg_);
    by_slot_.assign(in_.image.size(), nullptr);
    prune_point_.assign(in_.image.size(), false);
    for (const DecodedInsn& d : cfg_.insns) {
      by_slot_[d.pc] = &d.insn;
      if (std::holds_alternative<Jmp>(d.insn)) {
        prune_point_[d.pc] = true;
      } else if (const auto* ja = std::get_if<Ja>(&d.insn)) {
        const int64_t t = int64_t(d.pc) + 1 + ja->off;
        if (t >= 0 && std::size_t(t) < prune_point_.size()) prune_point_[std::size_t(t)] = true;
      } else if (const auto* c = std::get_if<Call>(&d.insn); c && c->kind == CallKind::Local) {
        prune_point_[d.pc] = true;
      }
    }
    refs_ = in_.map_refs;
    refs_.resize(in_.image.size());
    explored_.assign(in_.image.size(), {});
    walk();
    result_.accepted = true;
  } catch (const Refusal& e) {
    result_.accepted = false;
    result_.insn = e.insn;
    result_.reason = e.reason;
    log_line(e.reason);
  }
  result_.states = nodes_.size();
  return result_;
}

void Checker::check_program_type() {
  switch (in_.prog_type) {
    case BPF_PROG_TYPE_XDP:
    case BPF_PROG_TYPE_SCHED_CLS:
    case BPF_PROG_TYPE_SCHED_ACT:
    case BPF_PROG_TYPE_SOCKET_FILTER:
    case BPF_PROG_TYPE_TRACEPOINT:
    case BPF_PROG_TYPE_KPROBE:
    case BPF_PROG_TYPE_RAW_TRACEPOINT:
      return;
    default:
      throw Refusal{0, "unsupported: program type " + std::to_string(in_.prog_type)};
  }
}

void Checker::walk() {
  {
    VerifierState st;
    st.frames.emplace_back();
    FrameState& f = st.frames.back();
    f.regs[1] = RegState::pointer(RegType::Ctx);
    f.regs[10] = RegState::pointer(RegType::Stack);
    cur_ = std::move(st);
    pc_ = 0;
    parent_ = -1;
    log_line("0: " + format_frame(cur_.cur(), in_.maps));
  }
  for (;;) {
    path_done_ = false;
    while (!path_done_) {
      if (++result_.processed > opts_.max_insns)
        refuse("BPF program is too large. Processed " + std::to_string(result_.processed) + " insn");
      if (prune_point_[pc_] && is_state_visited()) {
        ++result_.pruned;
        log_line(std::to_string(pc_) + ": safe");
        end_path();
        break;
      }
      const Decoded* d = by_slot_[pc_];
      if (!d) refuse("invalid insn idx " + std::to_string(pc_));
      if (opts_.on_state) opts_.on_state(pc_, cur_);
      next_pc_ = pc_ + slots(*d);
      step(*d);
      if (path_done_) {
        end_path();
        break;
      }
      if (opts_.after_insn) opts_.after_insn(pc_, cur_);
      if (opts_.log) log_line(std::to_string(pc_) + ": (" + format_insn(*d) + ") ; " + format_frame(cur_.cur(), in_.maps));
      pc_ = next_pc_;
    }
    if (pending_.empty()) return;
    Pending p = std::move(pending_.back());
    pending_.pop_back();
    cur_ = std::move(p.st);
    pc_ = p.pc;
    parent_ = p.parent;
    log_line("from " + std::to_string(p.from) + " to " + std::to_string(p.pc) + ": " + format_frame(cur_.cur(), in_.maps));
  }
}

void Checker::end_path() {
  for (int n = parent_; n >= 0;) {
    if (--nodes_[std::size_t(n)].branches > 0) break;
    n = nodes_[std::size_t(n)].parent;
  }
}

bool Checker::is_state_visited() {
  std::vector<RegSet> live(cur_.frames.size());
  for (std::size_t f = 0; f < cur_.frames.size(); ++f) {
    if (f + 1 == cur_.frames.size()) {
      live[f] = live_.live_in[pc_] | reg_bit(10);
    } else {
      // Caller frames resume after their call, where r0..r5 are the call's to define.
      const std::size_t ret = cur_.frames[f + 1].callsite + 1;
      live[f] = RegSet(live_.live_in[ret] & ~kCallerSaved) | reg_bit(10);
    }
  }
  // Whether this visit would store the state (the kernel's add_new_state): after at least 2
  // jumps and 8 instructions since the last one, but inside a loop only every 20 jumps or 100
  // instructions.
  bool add = jmps_ - prev_jmps_ >= 2 && result_.processed - prev_insns_ >= 8;
  std::vector<int>& list = explored_[pc_];
  for (std::size_t k = 0; k < list.size();) {
    Node& n = nodes_[std::size_t(list[k])];
    if (n.branches > 0) {
      // A state on the current path: the same state again means no progress.
      if (states_cover(n.st, cur_, live, true)) refuse("infinite loop detected at insn " + std::to_string(pc_));
      if (jmps_ - prev_jmps_ < 20 && result_.processed - prev_insns_ < 100) add = false;
    } else if (states_cover(n.st, cur_, live, false)) {
      ++n.hits;
      return true;
    }
    // Like the kernel, forget loop states that keep missing (more than 3 misses per hit, plus 3),
    // counting only misses of visits that store a state. Explored states stay: without precision
    // tracking the analyzer prunes less than the kernel and needs all of them.
    if (add && n.branches > 0) ++n.misses;
    if (n.misses > n.hits * 3 + 3) {
      list[k] = list.back();
      list.pop_back();
      continue;
    }
    ++k;
  }
  if (!add) return false;
  prev_jmps_ = jmps_;
  prev_insns_ = result_.processed;
  nodes_.push_back(Node{cur_, pc_, parent_, 1});
  parent_ = int(nodes_.size() - 1);
  explored_[pc_].push_back(parent_);
  return false;
}

template <class F>
void Checker::for_each_reg(VerifierState& st, F f) {
  for (FrameState& fr : st.frames) {
    for (RegState& x : fr.regs) f(x);
    for (StackSlot& s : fr.stack)
      if (s.is_spill()) f(s.spilled);
  }
}

void Checker::step(const Decoded& d) {
  std::visit(
      [&](const auto& i) {
        using T = std::decay_t<decltype(i)>;
        if constexpr (std::is_same_v<T, Alu>) do_alu(i);
        else if constexpr (std::is_same_v<T, Endian>) do_endian(i);
        else if constexpr (std::is_same_v<T, Jmp>) { ++jmps_; do_jmp(i); }
        else if constexpr (std::is_same_v<T, Ja>) { ++jmps_; next_pc_ = std::size_t(int64_t(pc_) + 1 + i.off); }
        else if constexpr (std::is_same_v<T, Load>) do_load(i);
        else if constexpr (std::is_same_v<T, Store>) do_store(i);
        else if constexpr (std::is_same_v<T, Atomic>) do_atomic(i);
        else if constexpr (std::is_same_v<T, Call>) { ++jmps_; do_call(i); }
        else if constexpr (std::is_same_v<T, Exit>) { ++jmps_; do_exit(); }
        else if constexpr (std::is_same_v<T, LdImm64>) do_ld_imm64(i);
        else if constexpr (std::is_same_v<T, PacketLoad>) do_packet_load(i);
        else if constexpr (std::is_same_v<T, MayGoto>) refuse("unsupported: may_goto");
        else refuse("unsupported: addr_space_cast");
      },
      d);
}

// --- ALU ------------------------------------------------------------------------------------------

void Checker::check_sane_offset(const RegState& x, RegType ptr_type, bool is_off_reg) {
  const std::string pt = reg_type_name(ptr_type);
  if (is_off_reg) {
    if (x.var.is_const()) {
      const int64_t v = int64_t(x.var.var.value);
      if (v >= kMaxVarOff || v <= -kMaxVarOff)
        refuse("math between " + pt + " pointer and " + std::to_string(v) + " is not allowed");
      return;
    }
  } else if (x.off >= kMaxVarOff || x.off <= -kMaxVarOff) {
    refuse(pt + " pointer offset " + std::to_string(x.off) + " is not allowed");
  }
  if (x.var.smin == INT64_MIN)
    refuse("math between " + pt + " pointer and register with unbounded min value is not allowed");
  if (x.var.smin <= -kMaxVarOff)
    refuse("value " + std::to_string(x.var.smin) + " makes " + pt + " pointer be out of bounds");
}

// adjust_ptr_min_max_vals: pointer +/- scalar.
void Checker::adjust_ptr(int dst, const Alu& a, RegState ptr, const RegState& off_reg, bool ptr_is_dst) {
  const std::string name = reg_type_name(ptr.type);
  if (!a.is64) {
    // 32-bit ALU on a pointer gives a meaningless scalar; a root loader may subtract.
    if (a.op == AluOp::Sub) {
      set_unknown(dst);
      return;
    }
    refuse(r(dst) + " 32-bit pointer arithmetic prohibited");
  }
  if (may_be_null(ptr.type)) refuse(r(dst) + " pointer arithmetic on " + name + " prohibited, null-check it first");
  switch (ptr.type) {
    case RegType::MapPtr:
    case RegType::PacketEnd:
    case RegType::Func:
      refuse(r(dst) + " pointer arithmetic on " + name + " prohibited");
    default:
      break;
  }
  if (a.op == AluOp::Sub && !ptr_is_dst) refuse(r(dst) + " tried to subtract pointer from scalar");
  if (a.op != AluOp::Add && a.op != AluOp::Sub) {
    if (a.op == AluOp::And || a.op == AluOp::Or || a.op == AluOp::Xor)
      refuse(r(dst) + " bitwise operator " + alu_name(a.op) + " on pointer prohibited");
    refuse(r(dst) + " pointer arithmetic with " + alu_name(a.op) + " operator prohibited");
  }
  check_sane_offset(off_reg, ptr.type, true);
  check_sane_offset(ptr, ptr.type, false);
  RegState out = ptr;
  const bool known = off_reg.var.is_const();
  const int64_t val = int64_t(off_reg.var.var.value);
  if (a.op == AluOp::Add) {
    if (known && fits_s32(int64_t(ptr.off) + val)) {
      out.off = int32_t(ptr.off + val);
    } else {
      Scalar v = ptr.var;
      v = scalar_alu(AluOp::Add, true, v, off_reg.var);
      out.var = v;
      if (is_packet(ptr.type)) {
        out.id = new_id();
        out.range = 0;
      }
    }
  } else {
    if (ptr.type == RegType::Stack) refuse(r(dst) + " subtraction from stack pointer prohibited");
    if (known && fits_s32(int64_t(ptr.off) - val)) {
      out.off = int32_t(ptr.off - val);
    } else {
      out.var = scalar_alu(AluOp::Sub, true, ptr.var, off_reg.var);
      if (is_packet(ptr.type)) {
        out.id = new_id();
        out.range = 0;
      }
    }
  }
  check_sane_offset(out, out.type, false);
  reg(dst) = out;
}

void Checker::do_alu(const Alu& a) {
  RegState src;
  if (a.src.is_reg) {
    src = read(a.src.reg);
  } else {
    src = RegState::constant(uint64_t(int64_t(a.src.imm)));
  }
  if (a.op == AluOp::Mov || a.op == AluOp::MovSx8 || a.op == AluOp::MovSx16 || a.op == AluOp::MovSx32) {
    if (a.op != AluOp::Mov) {
      if (src.type != RegType::Scalar) {
        set_unknown(a.dst);
        return;
      }
      const int size = a.op == AluOp::MovSx8 ? 1 : a.op == AluOp::MovSx16 ? 2 : 4;
      Scalar v = src.var;
      coerce_to_size_sx(v, size);
      if (!a.is64) {
        v = scalar_alu(AluOp::Mov, false, v, v);
      }
      reg(a.dst) = RegState::scalar(v);
      return;
    }
    if (!a.src.is_reg) {
      reg(a.dst) = RegState::constant(a.is64 ? uint64_t(int64_t(a.src.imm)) : uint64_t(uint32_t(a.src.imm)));
      return;
    }
    RegState& s = reg(a.src.reg);
    if (a.is64) {
      if (s.type == RegType::Scalar && !s.id && !s.var.is_const()) s.id = new_id();
      reg(a.dst) = s;
      return;
    }
    if (s.type != RegType::Scalar) {
      set_unknown(a.dst);
      reg(a.dst).var = scalar_alu(AluOp::Mov, false, Scalar::unknown(), Scalar::unknown());
      return;
    }
    // 32-bit move: linked only when the value already fits in 32 bits.
    const bool fits = s.var.umax <= 0xffffffffull;
    if (fits && !s.id && !s.var.is_const()) s.id = new_id();
    RegState out = RegState::scalar(scalar_alu(AluOp::Mov, false, s.var, s.var));
    if (fits && !s.add_const) out.id = s.id;
    reg(a.dst) = out;
    return;
  }
  const RegState dst = read(a.dst);
  if (a.op == AluOp::Neg) {
    if (dst.type != RegType::Scalar) {
      set_unknown(a.dst);
      return;
    }
    reg(a.dst) = RegState::scalar(scalar_alu(AluOp::Neg, a.is64, dst.var, dst.var));
    return;
  }
  if (dst.type != RegType::Scalar || src.type != RegType::Scalar) {
    if (dst.type != RegType::Scalar && src.type != RegType::Scalar) {
      if (a.op == AluOp::Sub) {  // at either width: a root loader may subtract pointers
        set_unknown(a.dst);
        return;
      }
      refuse(r(a.dst) + " pointer " + alu_name(a.op) + " pointer prohibited");
    }
    if (dst.type != RegType::Scalar) adjust_ptr(a.dst, a, dst, src, true);
    else adjust_ptr(a.dst, a, src, dst, false);
    return;
  }
  Scalar v = scalar_alu(a.op, a.is64, dst.var, src.var);
  RegState out = RegState::scalar(v);
  // Linked scalars survive `rX += const` (BPF_ADD_CONST).
  if (a.op == AluOp::Add && a.is64 && dst.id && src.var.is_const()) {
    const uint64_t k = src.var.var.value;
    if (!dst.add_const && k <= uint64_t(INT32_MAX)) {
      out.id = dst.id;
      out.add_const = true;
      out.off = int32_t(k);
    }
  }
  reg(a.dst) = out;
}

void Checker::do_endian(const Endian& e) {
  const RegState& x = read(e.dst);
  if (x.type != RegType::Scalar) {
    set_unknown(e.dst);
    return;
  }
  if (x.var.is_const()) {
    const ConcreteDomain c;
    reg(e.dst) = RegState::constant(endian_result(c, e.order, e.bits, x.var.var.value));
    return;
  }
  Scalar v = Scalar::unknown();
  if (e.order == ByteOrder::ToLe) {
    v = x.var;
    if (e.bits < 64) coerce_to_size(v, e.bits / 8);
  } else if (e.bits < 64) {
    coerce_to_size(v, e.bits / 8);
  }
  reg(e.dst) = RegState::scalar(v);
}

// --- jumps ----------------------------------------------------------------------------------------

void Checker::mark_ptr_or_null(VerifierState& st, uint32_t id, bool is_null) {
  for_each_reg(st, [&](RegState& x) {
    if (!may_be_null(x.type) || x.id != id) return;
    if (is_null) {
      x = RegState::constant(0);
    } else {
      x.type = x.type == RegType::MapValueOrNull ? RegType::MapValue : RegType::Mem;
      x.id = 0;
    }
  });
}

void Checker::find_good_pkt_pointers(VerifierState& st, const RegState& dst, bool right_open) {
  if (dst.off < 0 || (dst.off == 0 && right_open)) return;
  if (dst.var.umax > uint64_t(kMaxPacketOff) || dst.var.umax + uint64_t(dst.off) > uint64_t(kMaxPacketOff)) return;
  // `pkt + off < end` proves off + 1 bytes, `pkt + off <= end` proves off.
  int32_t range = dst.off;
  if (right_open) ++range;
  for_each_reg(st, [&](RegState& x) {
    if (x.type == dst.type && x.id == dst.id) x.range = std::max(x.range, range);
  });
}

void Checker::sync_linked(VerifierState& st, const RegState& known) {
  if (known.type != RegType::Scalar || !known.id) return;
  for_each_reg(st, [&](RegState& x) {
    if (x.type != RegType::Scalar || x.id != known.id || &x == &known) return;
    if ((!x.add_const && !known.add_const) || x.off == known.off) {
      const bool ac = x.add_const;
      const int32_t off = x.off;
      x = known;
      x.add_const = ac, x.off = off;
      return;
    }
    const int64_t delta = int64_t(x.off) - int64_t(known.off);
    const bool ac = x.add_const;
    const int32_t off = x.off;
    x.var = scalar_alu(AluOp::Add, true, known.var, Scalar::constant(uint64_t(delta)));
    x.add_const = ac, x.off = off;
  });
}

void Checker::do_jmp(const Jmp& j) {
  const RegState dst = read(j.dst);
  RegState src = j.src.is_reg ? read(j.src.reg) : RegState::constant(uint64_t(int64_t(j.src.imm)));
  const std::size_t target = std::size_t(int64_t(pc_) + 1 + j.off);
  if (dst.type != RegType::Scalar || src.type != RegType::Scalar) {
    VerifierState taken = cur_;
    bool both = true;
    bool fall_alive = true;
    // Null checks of possibly-null pointers.
    if (j.is64 && !j.src.is_reg && j.src.imm == 0 && (j.cond == Cond::Eq || j.cond == Cond::Ne) && may_be_null(dst.type)) {
      const uint32_t id = dst.id;
      mark_ptr_or_null(taken, id, j.cond == Cond::Eq);
      mark_ptr_or_null(cur_, id, j.cond == Cond::Ne);
    } else if (is_pointer(dst.type) && !may_be_null(dst.type) && src.is_null() && (j.cond == Cond::Eq || j.cond == Cond::Ne)) {
      // A pointer that cannot be null is not equal to 0.
      both = false;
      fall_alive = j.cond == Cond::Eq;
    } else if (j.is64 && j.src.is_reg) {
      // Packet pointers against the packet end: the range learnt (try_match_pkt_pointers).
      const auto pkt_vs_end = [](const RegState& p, const RegState& e) {
        return (p.type == RegType::Packet && e.type == RegType::PacketEnd) ||
               (p.type == RegType::PacketMeta && e.type == RegType::Packet && e.off == 0 && e.var.is_const() && e.var.var.value == 0);
      };
      // Which branch learns the range, and whether the bound is strict (right open).
      if (pkt_vs_end(dst, src)) {
        switch (j.cond) {
          case Cond::Gt: find_good_pkt_pointers(cur_, dst, false); break;
          case Cond::Lt: find_good_pkt_pointers(taken, dst, true); break;
          case Cond::Ge: find_good_pkt_pointers(cur_, dst, true); break;
          case Cond::Le: find_good_pkt_pointers(taken, dst, false); break;
          default: break;
        }
      } else if (pkt_vs_end(src, dst)) {
        switch (j.cond) {
          case Cond::Gt: find_good_pkt_pointers(taken, src, true); break;
          case Cond::Lt: find_good_pkt_pointers(cur_, src, false); break;
          case Cond::Ge: find_good_pkt_pointers(taken, src, false); break;
          case Cond::Le: find_good_pkt_pointers(cur_, src, true); break;
          default: break;
        }
      }
    }
    if (!both) {
      if (!fall_alive) next_pc_ = target;
      return;
    }
    if (pending_.size() >= kMaxPending) refuse("The sequence of " + std::to_string(pending_.size()) + " jumps is too complex.");
    if (parent_ >= 0) ++nodes_[std::size_t(parent_)].branches;
    pending_.push_back(Pending{std::move(taken), target, pc_, parent_});
    return;
  }
  const std::optional<bool> decided = branch_decided(j.cond, j.is64, dst.var, src.var);
  if (decided) {
    if (*decided) next_pc_ = target;
    return;
  }
  VerifierState taken = cur_;
  const auto refine = [&](VerifierState& st, bool dir) {
    RegState& d = st.cur().regs[j.dst];
    RegState s = j.src.is_reg ? st.cur().regs[j.src.reg] : src;
    Scalar dv = d.var, sv = s.var;
    const bool alive = refine_branch(j.cond, j.is64, dir, dv, sv);
    if (!alive) return false;
    d.var = dv;
    if (j.src.is_reg) st.cur().regs[j.src.reg].var = sv;
    const RegState dk = d;
    sync_linked(st, dk);
    if (j.src.is_reg) {
      const RegState sk = st.cur().regs[j.src.reg];
      sync_linked(st, sk);
    }
    return true;
  };
  const bool taken_alive = refine(taken, true);
  const bool fall_alive = refine(cur_, false);
  if (!fall_alive && !taken_alive) {
    // Both directions impossible: the kernel would have decided the branch; follow the jump.
    next_pc_ = target;
    return;
  }
  if (!fall_alive) {
    cur_ = std::move(taken);
    next_pc_ = target;
    return;
  }
  if (!taken_alive) return;
  if (pending_.size() >= kMaxPending) refuse("The sequence of " + std::to_string(pending_.size()) + " jumps is too complex.");
  if (parent_ >= 0) ++nodes_[std::size_t(parent_)].branches;
  pending_.push_back(Pending{std::move(taken), target, pc_, parent_});
}

// --- memory ---------------------------------------------------------------------------------------

StackSlot& Checker::slot(FrameState& f, int64_t at) {
  const std::size_t spi = std::size_t((-at - 1) / 8);
  if (f.stack.size() <= spi) f.stack.resize(spi + 1);
  f.depth_used = std::max(f.depth_used, int(-at));
  return f.stack[spi];
}

void Checker::stack_read_fixed(FrameState& f, int64_t at, int size, RegState* out) {
  StackSlot& s = slot(f, at);
  const int first = int((-at - 1) % 8);  // index of the byte at `at` in s.type
  if (s.is_spill()) {
    int spill_size = 1;
    for (int i = 7; i > 0 && s.type[std::size_t(i - 1)] == SlotType::Spill; --i) ++spill_size;
    if (size != 8 || spill_size != 8) {
      if (s.spilled.type != RegType::Scalar) refuse("invalid size of register fill");
      if (!out) return;
      if (size <= spill_size && at % 8 == 0) {
        *out = s.spilled;
        Scalar v = out->var;
        if (v.umax > (size >= 8 ? ~uint64_t(0) : (uint64_t(1) << (size * 8)) - 1)) out->id = 0, out->add_const = false;
        coerce_to_size(v, size);
        out->var = v;
        return;
      }
      int spill_cnt = 0, zero_cnt = 0;
      for (int i = 0; i < size; ++i) {
        const SlotType t = s.type[std::size_t((first - i + 8) % 8)];
        if (t == SlotType::Spill) ++spill_cnt;
        else if (t == SlotType::Zero) ++zero_cnt;
      }
      if ((spill_cnt == size && s.spilled.is_null()) || zero_cnt == size) *out = RegState::constant(0);
      else *out = RegState::unknown();
      return;
    }
    if (out) *out = s.spilled;
    return;
  }
  int zeros = 0;
  for (int i = 0; i < size; ++i)
    if (s.type[std::size_t((first - i + 8) % 8)] == SlotType::Zero) ++zeros;
  if (out) *out = zeros == size ? RegState::constant(0) : RegState::unknown();
}

void Checker::stack_write_fixed(FrameState& f, int64_t at, int size, const RegState* value, bool is_st, int32_t imm) {
  StackSlot& s = slot(f, at);
  const int first = int((-at - 1) % 8);
  const bool aligned8 = at % 8 == 0;
  const auto save = [&](const RegState& v) {
    s.spilled = v;
    for (int i = 8; i > 8 - size; --i) s.type[std::size_t(i - 1)] = SlotType::Spill;
    for (int i = 8 - size; i > 0; --i) {
      SlotType& t = s.type[std::size_t(i - 1)];
      if (t != SlotType::Zero && t != SlotType::Invalid) t = SlotType::Misc;
    }
  };
  if (value && aligned8 && value->type == RegType::Scalar) {
    // A spill links the stack copy to the register (assign_scalar_id_before_mov), unless it
    // narrows the value.
    const uint64_t lim = size >= 8 ? ~uint64_t(0) : (uint64_t(1) << (size * 8)) - 1;
    const bool fits = value->var.umax <= lim;
    if (fits && source_ && !source_->id && !source_->var.is_const()) source_->id = new_id();
    RegState v = source_ ? *source_ : *value;
    if (!fits) v.id = 0, v.add_const = false;
    save(v);
    return;
  }
  if (!value && aligned8 && is_st) {
    save(RegState::constant(uint64_t(int64_t(imm))));
    return;
  }
  if (value && is_pointer(value->type)) {
    if (size != 8) refuse("invalid size of register spill");
    if (&f != &cur_.cur() && value->type == RegType::Stack)
      refuse("cannot spill pointers to stack into stack frame of the caller");
    save(*value);
    return;
  }
  SlotType type = SlotType::Misc;
  const bool was_spill = s.is_spill();
  s.spilled = RegState{};
  if (was_spill)
    for (SlotType& t : s.type)
      if (t != SlotType::Invalid) t = SlotType::Misc;
  if ((value && value->is_null()) || (!value && is_st && imm == 0)) type = SlotType::Zero;
  for (int i = 0; i < size; ++i) s.type[std::size_t((first - i + 8) % 8)] = type;
}

void Checker::stack_access(const RegState& ptr, int base, int16_t off, int size, bool write, RegState* out,
                           const RegState* value, bool is_st) {
  FrameState& f = cur_.frames[ptr.frame];
  // Stack accesses must be aligned to their size (strict alignment for the stack).
  const Tnum at_t = tnum_add(ptr.var.var, tnum_const(uint64_t(int64_t(ptr.off) + off)));
  if (!tnum_is_aligned(at_t, uint64_t(size))) {
    char tn[64];
    std::snprintf(tn, sizeof tn, "(%#llx; %#llx)", (unsigned long long)ptr.var.var.value, (unsigned long long)ptr.var.var.mask);
    refuse("misaligned stack access off " + std::string(tn) + "+" + std::to_string(ptr.off) + "+" + std::to_string(off) +
           " size " + std::to_string(size));
  }
  const char* what = write ? " write to" : " read from";
  if (ptr.var.is_const()) {
    const int64_t at = int64_t(ptr.var.var.value) + ptr.off + off;
    if (at < -kMaxStack || at + size > 0)
      refuse(std::string("invalid") + what + " stack " + r(base) + " off=" + std::to_string(at) + " size=" + std::to_string(size));
    if (write) {
      stack_write_fixed(f, at, size, value, is_st, st_imm_);
    } else {
      stack_read_fixed(f, at, size, out);
    }
    return;
  }
  if (ptr.var.smax >= kMaxVarOff || ptr.var.smin <= -kMaxVarOff)
    refuse(std::string("invalid unbounded variable-offset") + what + " stack " + r(base));
  const int64_t lo = ptr.var.smin + ptr.off + off, hi = ptr.var.smax + ptr.off + off;
  if (lo < -kMaxStack || hi + size > 0)
    refuse(std::string("invalid variable-offset") + what + " stack " + r(base) + " var_off=(" +
           std::to_string(ptr.var.var.value) + "; " + std::to_string(ptr.var.var.mask) + ") off=" + std::to_string(off) +
           " size=" + std::to_string(size));
  if (write) {
    const bool zero = (value && value->is_null()) || (!value && is_st && st_imm_ == 0);
    for (int64_t at = lo; at < hi + size; ++at) {
      StackSlot& s = slot(f, at);
      if (s.is_spill()) {
        for (SlotType& t : s.type)
          if (t != SlotType::Invalid) t = SlotType::Misc;
        s.spilled = RegState{};
      }
      SlotType& t = s.type[std::size_t((-at - 1) % 8)];
      if (!(zero && t == SlotType::Zero)) t = SlotType::Misc;
    }
    return;
  }
  bool all_zero = true;
  for (int64_t at = lo; at < hi + size; ++at) {
    StackSlot& s = slot(f, at);
    if (s.type[std::size_t((-at - 1) % 8)] != SlotType::Zero) all_zero = false;
  }
  if (out) *out = all_zero ? RegState::constant(0) : RegState::unknown();
}

void Checker::check_map_value(const RegState& ptr, int base, int64_t off, int size, bool write) {
  const MapDef& m = in_.maps.at(std::size_t(ptr.map));
  if (write && m.internal && m.section.rfind(".rodata", 0) == 0)
    refuse("write into map forbidden, value_size=" + std::to_string(m.value_size) + " off=" + std::to_string(off + ptr.off) +
           " size=" + std::to_string(size));
  const int64_t o = off + ptr.off;
  const auto check = [&](int64_t at) {
    if (at < 0 || at + size > int64_t(m.value_size))
      refuse("invalid access to map value, value_size=" + std::to_string(m.value_size) + " off=" + std::to_string(at) +
             " size=" + std::to_string(size));
  };
  if (ptr.var.is_const()) {
    check(o + int64_t(ptr.var.var.value));
    return;
  }
  if (ptr.var.smin < 0 && (ptr.var.smin == INT64_MIN || !fits_s32(o + ptr.var.smin) || ptr.var.smin + o < 0))
    refuse(r(base) + " min value is negative, either use unsigned index or do a if (index >=0) check.");
  if (ptr.var.smin + o < 0 || ptr.var.smin + o + size > int64_t(m.value_size))
    refuse(r(base) + " min value is outside of the allowed memory range");
  if (ptr.var.umax >= uint64_t(kMaxVarOff))
    refuse(r(base) + " unbounded memory access, make sure to bounds check any such access");
  if (int64_t(ptr.var.umax) + o + size > int64_t(m.value_size))
    refuse(r(base) + " max value is outside of the allowed memory range");
}

void Checker::check_packet(const RegState& ptr, int base, int64_t off, int size, bool write) {
  if (write && in_.prog_type != BPF_PROG_TYPE_XDP && in_.prog_type != BPF_PROG_TYPE_SCHED_CLS &&
      in_.prog_type != BPF_PROG_TYPE_SCHED_ACT)
    refuse("cannot write into packet");
  if (ptr.var.smin < 0)
    refuse(r(base) + " min value is negative, either use unsigned index or do a if (index >=0) check.");
  const int64_t o = off + ptr.off;
  if (o < 0 || o + size > ptr.range)
    refuse("invalid access to packet, off=" + std::to_string(o) + " size=" + std::to_string(size) + ", " + r(base) +
           "(id=" + std::to_string(ptr.id) + ",off=" + std::to_string(ptr.off) + ",r=" + std::to_string(ptr.range) + ")");
}

void Checker::mem_access(int base, int16_t off, int size, bool write, RegState* out, const RegState* value, bool is_st,
                         bool atomic) {
  const RegState ptr = read(base);
  switch (ptr.type) {
    case RegType::Stack:
      stack_access(ptr, base, off, size, write, out, value, is_st);
      break;
    case RegType::MapValue: {
      check_map_value(ptr, base, off, size, write);
      if (!out) break;
      *out = RegState::unknown();
      // Reads from a frozen read-only map (.rodata) at a known offset give its bytes.
      const MapDef& m = in_.maps.at(std::size_t(ptr.map));
      const int64_t at = int64_t(ptr.var.var.value) + ptr.off + off;
      if (m.internal && m.section.rfind(".rodata", 0) == 0 && ptr.var.is_const() && at >= 0 &&
          at + size <= int64_t(m.initial_value.size())) {
        uint64_t v = 0;
        for (int i = size - 1; i >= 0; --i) v = (v << 8) | m.initial_value[std::size_t(at + i)];
        *out = RegState::constant(v);
      }
      break;
    }
    case RegType::Mem: {
      const int64_t o = off + ptr.off;
      if (!ptr.var.is_const() || o + int64_t(ptr.var.var.value) < 0 || o + int64_t(ptr.var.var.value) + size > int64_t(ptr.mem_size))
        refuse("invalid access to memory, mem_size=" + std::to_string(ptr.mem_size) + " off=" + std::to_string(o) +
               " size=" + std::to_string(size));
      if (out) *out = RegState::unknown();
      break;
    }
    case RegType::Packet:
    case RegType::PacketMeta:
      if (atomic) refuse("BPF_ATOMIC stores into " + r(base) + " pkt is not allowed");
      check_packet(ptr, base, off, size, write);
      if (out) *out = RegState::unknown();
      break;
    case RegType::Ctx: {
      if (atomic) refuse("BPF_ATOMIC stores into " + r(base) + " context is not allowed");
      if (ptr.off != 0) refuse("dereference of modified ctx ptr " + r(base) + " off=" + std::to_string(ptr.off) + " disallowed");
      if (!ptr.var.is_const() || ptr.var.var.value != 0) refuse("variable ctx access var_off=" + format_scalar(ptr.var) + " disallowed");
      const int64_t at = off;
      if (model_ == CtxModel::Tracing) {
        // Tracepoints: past the common fields, up to PERF_MAX_TRACE_SIZE; kprobes: within pt_regs;
        // raw tracepoints: the 12 u64 arguments. Read-only, aligned.
        int64_t lo = 0, hi = 0;
        if (in_.prog_type == BPF_PROG_TYPE_TRACEPOINT) lo = 8, hi = 2048;
        else if (in_.prog_type == BPF_PROG_TYPE_KPROBE) lo = 0, hi = 168;
        else lo = 0, hi = 8 * 12;
        if (write || at < lo || at + size > hi || at % size != 0)
          refuse("invalid bpf_context access off=" + std::to_string(at) + " size=" + std::to_string(size));
        if (out) {
          *out = RegState::unknown();
          coerce_to_size(out->var, size);
        }
        break;
      }
      std::string why;
      const CtxField* fld = ctx_access(model_, at, std::size_t(size), write, why);
      if (!fld) refuse("invalid bpf_context access off=" + std::to_string(at) + " size=" + std::to_string(size));
      if (out) {
        switch (fld->value) {
          case CtxValue::Data: *out = RegState::pointer(RegType::Packet); break;
          case CtxValue::DataEnd: *out = RegState::pointer(RegType::PacketEnd); break;
          case CtxValue::DataMeta: *out = RegState::pointer(RegType::PacketMeta); break;
          case CtxValue::Scalar: *out = RegState::unknown(); break;
        }
      }
      break;
    }
    case RegType::NotInit:
      refuse(r(base) + " !read_ok");
    default:
      refuse(r(base) + " invalid mem access '" + reg_type_name(ptr.type) + "'");
  }
}

void Checker::do_load(const Load& l) {
  if (l.acquire) refuse("unsupported: load-acquire");
  RegState out;
  mem_access(l.base, l.off, bytes(l.width), false, &out, nullptr, false, false);
  if (out.type == RegType::Scalar && bytes(l.width) < 8) {
    if (l.sign_extend) coerce_to_size_sx(out.var, bytes(l.width));
    else coerce_to_size(out.var, bytes(l.width));
  }
  reg(l.dst) = out;
}

void Checker::do_store(const Store& s) {
  if (s.release) refuse("unsupported: store-release");
  st_imm_ = s.src.is_reg ? 0 : s.src.imm;
  if (s.src.is_reg) {
    const RegState v = read(s.src.reg);
    source_ = &reg(s.src.reg);
    mem_access(s.base, s.off, bytes(s.width), true, nullptr, &v, false, false);
    source_ = nullptr;
  } else {
    mem_access(s.base, s.off, bytes(s.width), true, nullptr, nullptr, true, false);
  }
}

void Checker::do_atomic(const Atomic& a) {
  read(a.src);
  if (a.op == AtomicOp::CmpXchg) read(0);
  const RegState base = read(a.base);
  if (base.type == RegType::Ctx) refuse("BPF_ATOMIC stores into " + r(a.base) + " context is not allowed");
  if (is_packet(base.type)) refuse("BPF_ATOMIC stores into " + r(a.base) + " pkt is not allowed");
  const int size = bytes(a.width);
  mem_access(a.base, a.off, size, false, nullptr, nullptr, false, true);
  st_imm_ = 0;
  const RegState misc = RegState::unknown();
  mem_access(a.base, a.off, size, true, nullptr, &misc, false, true);
  const bool fetch = a.fetch || a.op == AtomicOp::Xchg || a.op == AtomicOp::CmpXchg;
  if (fetch) {
    const int dst = a.op == AtomicOp::CmpXchg ? 0 : a.src;
    RegState v = RegState::unknown();
    coerce_to_size(v.var, size);
    reg(dst) = v;
  }
}

void Checker::do_ld_imm64(const LdImm64& l) {
  const MapRef ref = refs_[pc_];
  if (ref.map >= 0) {
    if (std::size_t(ref.map) >= in_.maps.size()) refuse("fd " + std::to_string(ref.map) + " is not pointing to valid bpf_map");
    RegState x;
    if (ref.offset < 0) {
      x = RegState::pointer(RegType::MapPtr);
    } else {
      x = RegState::pointer(RegType::MapValue, int32_t(ref.offset));
    }
    x.map = ref.map;
    reg(l.dst) = x;
    return;
  }
  switch (l.pseudo) {
    case 0:
      reg(l.dst) = RegState::constant(l.value());
      return;
    case bpf::PSEUDO_FUNC:
      refuse("unsupported: callbacks (ld_imm64 of a function)");
    default:
      refuse("unsupported: ld_imm64 with src_reg " + std::to_string(l.pseudo) + " and no map relocation");
  }
}

void Checker::do_packet_load(const PacketLoad& p) {
  if (model_ != CtxModel::SocketFilter && model_ != CtxModel::Tc)
    refuse("BPF_LD_[ABS|IND] instructions not allowed for this program type");
  if (read(6).type != RegType::Ctx) refuse("at the time of BPF_LD_ABS|IND R6 != pointer to skb");
  if (p.indirect) read(p.src);
  for (int i = 1; i <= 5; ++i) reg(i) = RegState{};
  RegState v = RegState::unknown();
  coerce_to_size(v.var, bytes(p.width));
  reg(0) = v;
}

// --- calls ----------------------------------------------------------------------------------------

void Checker::invalidate_packet_pointers() {
  for_each_reg(cur_, [](RegState& x) {
    if (is_packet(x.type) || x.type == RegType::PacketEnd) x = RegState::unknown();
  });
}

void Checker::check_helper_mem(int argno, const RegState& ptr, int64_t size, bool write, bool zero_ok, bool packet_ok) {
  if (size == 0 && zero_ok) return;
  switch (ptr.type) {
    case RegType::Stack: {
      FrameState& f = cur_.frames[ptr.frame];
      if (!ptr.var.is_const()) {
        if (ptr.var.smin + ptr.off < -kMaxStack || ptr.var.smax + ptr.off + size > 0)
          refuse("invalid variable-offset indirect access to stack " + r(argno));
      }
      const int64_t lo = ptr.var.smin + ptr.off, hi = ptr.var.smax + ptr.off + size;
      if (ptr.var.is_const() && (lo < -kMaxStack || lo + size > 0 || size <= 0))
        refuse("invalid indirect access to stack " + r(argno) + " off=" + std::to_string(lo) + " size=" + std::to_string(size));
      for (int64_t at = lo; at < hi; ++at) {
        StackSlot& s = slot(f, at);
        if (write) {
          if (s.is_spill()) {
            for (SlotType& t : s.type) t = SlotType::Misc;
            s.spilled = RegState{};
          }
          s.type[std::size_t((-at - 1) % 8)] = SlotType::Misc;
        }
      }
      return;
    }
    case RegType::MapValue:
      check_map_value(ptr, argno, 0, int(size), write);
      return;
    case RegType::Packet:
    case RegType::PacketMeta:
      if (!packet_ok) break;
      check_packet(ptr, argno, 0, int(size), write);
      return;
    case RegType::Mem:
      if (ptr.off < 0 || ptr.off + size > int64_t(ptr.mem_size)) refuse("invalid access to memory " + r(argno));
      return;
    default:
      break;
  }
  refuse(r(argno) + " type=" + reg_type_name(ptr.type) + " expected=fp, pkt, pkt_meta, map_key, map_value, mem");
}

// get_constant_map_key: the key a stack pointer points to, when the stack holds it as zero bytes
// or as a constant scalar spilled with exactly the key's size.
std::optional<uint64_t> Checker::constant_key(const RegState& key, uint32_t key_size) {
  if (key.type != RegType::Stack || !key.var.is_const()) return std::nullopt;
  const int64_t at = int64_t(key.var.var.value) + key.off;
  if (at >= 0 || at < -kMaxStack) return std::nullopt;
  const FrameState& f = cur_.frames[key.frame];
  const std::size_t spi = std::size_t((-at - 1) / 8);
  if (spi >= f.stack.size()) return std::nullopt;
  const StackSlot& s = f.stack[spi];
  const int off = int((-at - 1) % 8);
  uint32_t zeros = 0, spilled = 0;
  for (int i = off; i >= 0 && s.type[std::size_t(i)] == SlotType::Zero; --i) ++zeros;
  if (zeros >= key_size) return 0;
  if (!s.is_spill() || s.spilled.type != RegType::Scalar) return std::nullopt;
  for (int i = off; i >= 0 && s.type[std::size_t(i)] == SlotType::Spill; --i) ++spilled;
  if (spilled != key_size || !s.spilled.var.is_const()) return std::nullopt;
  return s.spilled.var.var.value;
}

void Checker::do_helper(int32_t id) {
  const HelperProto* p = helper_proto(id);
  const std::string name = helper_name(id) + "#" + std::to_string(id);
  if (!p) refuse("unsupported: helper " + name);
  uint8_t family = 0;
  switch (model_) {
    case CtxModel::Xdp: family = kXdp; break;
    case CtxModel::Tc: family = kTc; break;
    case CtxModel::SocketFilter: family = kSocketFilter; break;
    default: family = kTracing; break;
  }
  if (!(p->families & family)) refuse("program of this type cannot use helper " + name);
  int map = -1;
  RegState key_arg;
  for (int a = 0; a < 5; ++a) {
    const int argno = a + 1;
    const ArgType t = p->args[std::size_t(a)];
    if (t == ArgType::None) break;
    const RegState x = read(argno);
    switch (t) {
      case ArgType::None:
      case ArgType::Anything:
        break;
      case ArgType::MapPtr: {
        if (x.type != RegType::MapPtr) refuse(r(argno) + " type=" + reg_type_name(x.type) + " expected=map_ptr");
        map = x.map;
        const uint32_t mt = in_.maps.at(std::size_t(map)).type;
        const bool elem_op = id == BPF_FUNC_map_lookup_elem || id == BPF_FUNC_map_update_elem || id == BPF_FUNC_map_delete_elem;
        const bool bad = (elem_op && (mt == BPF_MAP_TYPE_PROG_ARRAY || mt == BPF_MAP_TYPE_RINGBUF || mt == BPF_MAP_TYPE_PERF_EVENT_ARRAY)) ||
                         (id == BPF_FUNC_ringbuf_output && mt != BPF_MAP_TYPE_RINGBUF) ||
                         (id == BPF_FUNC_redirect_map && mt != BPF_MAP_TYPE_DEVMAP && mt != BPF_MAP_TYPE_DEVMAP_HASH &&
                          mt != BPF_MAP_TYPE_CPUMAP && mt != BPF_MAP_TYPE_XSKMAP) ||
                         (mt == BPF_MAP_TYPE_RINGBUF && id != BPF_FUNC_ringbuf_output);
        if (bad) refuse("cannot pass map_type " + std::to_string(mt) + " into func " + name);
        if (!is_modelled_map_type(mt) && mt != BPF_MAP_TYPE_PERF_EVENT_ARRAY) refuse("unsupported: map type " + std::to_string(mt));
        break;
      }
      case ArgType::MapKey:
      case ArgType::MapValue: {
        if (map < 0) refuse("invalid map_ptr to access map->key");
        const MapDef& m = in_.maps.at(std::size_t(map));
        check_helper_mem(argno, x, t == ArgType::MapKey ? m.key_size : m.value_size, false, false, p->packet_args);
        if (t == ArgType::MapKey) key_arg = x;
        break;
      }
      case ArgType::Mem:
      case ArgType::UninitMem:
      case ArgType::MemOrNull: {
        const RegState& sz = read(argno + 1);
        if (sz.type != RegType::Scalar) refuse(r(argno + 1) + " type=" + reg_type_name(sz.type) + " expected=scalar");
        const bool zero_ok = p->args[std::size_t(a + 1)] == ArgType::ConstSizeOrZero;
        if (sz.var.smin < 0)
          refuse(r(argno + 1) + " min value is negative, either use unsigned index or do a if (index >=0) check.");
        if (sz.var.umin == 0 && !zero_ok) refuse("invalid zero-sized read");
        if (sz.var.umax >= uint64_t(kMaxVarOff))
          refuse(r(argno + 1) + " unbounded memory access, use 'var &= const' or 'if (var < const)'");
        if (t == ArgType::MemOrNull && x.is_null()) break;
        check_helper_mem(argno, x, int64_t(sz.var.umax), t == ArgType::UninitMem, zero_ok, p->packet_args);
        break;
      }
      case ArgType::ConstSize:
      case ArgType::ConstSizeOrZero:
        break;
      case ArgType::Ctx:
        if (x.type != RegType::Ctx) refuse(r(argno) + " type=" + reg_type_name(x.type) + " expected=ctx");
        if (x.off != 0 || !x.var.is_const() || x.var.var.value != 0)
          refuse("dereference of modified ctx ptr " + r(argno) + " off=" + std::to_string(x.off) + " disallowed");
        break;
    }
  }
  for (int i = 1; i <= 5; ++i) reg(i) = RegState{};
  switch (p->ret) {
    case RetType::Integer: reg(0) = RegState::unknown(); break;
    case RetType::Void: reg(0) = RegState{}; break;
    case RetType::MapValueOrNull: {
      RegState x = RegState::pointer(RegType::MapValueOrNull);
      x.map = map;
      x.id = new_id();
      // Lookups in an array with a constant key below max_entries cannot fail (Linux 6.14+).
      const MapDef& m = in_.maps.at(std::size_t(map));
      if (id == BPF_FUNC_map_lookup_elem && (m.type == BPF_MAP_TYPE_ARRAY || m.type == BPF_MAP_TYPE_PERCPU_ARRAY)) {
        const std::optional<uint64_t> key = constant_key(key_arg, m.key_size);
        if (key && *key < m.max_entries) x.type = RegType::MapValue, x.id = 0;
      }
      reg(0) = x;
      break;
    }
  }
  if (p->changes_packet) invalidate_packet_pointers();
}

void Checker::do_call(const Call& c) {
  if (c.kind == CallKind::Kfunc) refuse("unsupported: kfunc calls");
  if (c.kind == CallKind::Helper) {
    do_helper(c.imm);
    return;
  }
  if (cur_.frames.size() >= std::size_t(kMaxFrames))
    refuse("the call stack of " + std::to_string(cur_.frames.size() + 1) + " frames is too deep !");
  const std::size_t target = std::size_t(int64_t(pc_) + 1 + c.imm);
  FrameState callee;
  for (int i = 1; i <= 5; ++i) callee.regs[std::size_t(i)] = reg(i);
  callee.regs[10] = RegState::pointer(RegType::Stack);
  callee.regs[10].frame = uint8_t(cur_.frames.size());
  callee.callsite = pc_;
  callee.function = cfg_.function_of(target);
  for (int i = 0; i <= 5; ++i) reg(i) = RegState{};
  cur_.frames.push_back(std::move(callee));
  next_pc_ = target;
}

void Checker::do_exit() {
  if (cur_.frames.size() > 1) {
    const RegState r0 = reg(0);
    if (r0.type == RegType::Stack) refuse("cannot return stack pointer to the caller");
    const std::size_t ret = cur_.cur().callsite + 1;
    cur_.frames.pop_back();
    reg(0) = r0;
    next_pc_ = ret;
    return;
  }
  read(0);
  path_done_ = true;
}

}  // namespace

AnalysisResult analyze(const AnalysisInput& input, const AnalyzeOptions& options) {
  Checker c(input, options);
  return c.run();
}

AnalysisResult analyze(const Module& module, const Program& program, const AnalyzeOptions& options) {
  AnalysisInput in;
  in.image = program.image;
  in.functions = program.functions;
  in.prog_type = program.prog_type;
  in.maps = module.maps;
  in.map_refs = resolve_map_refs(module, program);
  return analyze(in, options);
}

}  // namespace tristate
