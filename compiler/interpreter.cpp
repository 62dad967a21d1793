#include "compiler/interpreter.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <cstring>

#include "compiler/error.hpp"
#include "compiler/machine.hpp"
#include "compiler/semantics.hpp"

namespace tristate {

namespace {

constexpr ConcreteDomain kDomain;

// Interpreter::FastAlu's code for (operation, width, operand kind).
constexpr uint8_t fast_code(AluOp op, bool is64, bool is_reg) {
  return uint8_t(1 + (unsigned(op) * 2 + is64) * 2 + is_reg);
}
constexpr uint32_t kEthHeader = 14;
// bpf_prog_test_run_skb's headroom (NET_SKB_PAD + NET_IP_ALIGN on x86-64) and the room after
// the data it keeps for struct skb_shared_info (SKB_DATA_ALIGN'ed); Linux 6.18.
constexpr uint32_t kSkbHeadroom = 64, kSkbTailroom = 320, kPageSize = 4096;
// The kernel's may_goto budget per function invocation (BPF_MAX_LOOPS).
constexpr uint64_t kMayGotoBudget = 8 * 1024 * 1024;

std::string reg_name(int r) { return "R" + std::to_string(r); }

// Pretend addresses for pointers, used where a program compares pointers or subtracts them (both
// allowed to privileged programs). Regions lie far apart, so only comparisons within one region
// (a packet pointer against data_end, a pointer against NULL) mean anything, as in the kernel.
uint64_t address(const RegState& s) {
  switch (s.kind) {
    case Kind::Stack: return 0xffffc90000000000 + uint64_t(s.region) * 0x10000 + Interpreter::kStackSize + s.value;
    case Kind::Ctx: return 0xffff888100000000 + s.value;
    case Kind::Packet:
    case Kind::PacketMeta:
    case Kind::PacketEnd: return 0xffff888200000000 + s.value;
    case Kind::Mem: return 0xffff888300000000 + s.value;
    case Kind::MapValue: return 0xffff888400000000 + uint64_t(s.region) * 0x1000000 + s.value;
    case Kind::MapPtr: return 0xffff888500000000 + uint64_t(s.region) * 0x1000;
    default: return s.value;
  }
}

bool same_region(const RegState& a, const RegState& b) {
  const auto packet = [](Kind k) { return k == Kind::Packet || k == Kind::PacketMeta || k == Kind::PacketEnd; };
  if (packet(a.kind) && packet(b.kind)) return true;
  return a.kind == b.kind && a.region == b.region;
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Uninit: return "uninitialised";
    case Kind::Scalar: return "scalar";
    case Kind::Stack: return "fp";
    case Kind::Ctx: return "ctx";
    case Kind::Packet: return "pkt";
    case Kind::PacketMeta: return "pkt_meta";
    case Kind::PacketEnd: return "pkt_end";
    case Kind::Mem: return "mem";
    case Kind::MapValue: return "map_value";
    case Kind::MapPtr: return "map_ptr";
  }
  return "?";
}

MapSet& Executor::maps() const {
  if (!interp.maps_) throw Stop{"the program uses maps, but runs without any"};
  return *interp.maps_;
}

namespace {

// --- memory -----------------------------------------------------------------------------------

// Where an access lands: `p` is the first byte; for the stack also the frame and the index.
struct Access {
  uint8_t* p;
  Frame* frame;  // non-null for the stack
  std::size_t at;
  bool writable;
};

[[gnu::always_inline]] inline uint64_t scalar(const Executor& x, int reg) {
  const RegState& s = x.r[reg];
  if (s.kind == Kind::Scalar) [[likely]]
    return s.value;
  if (s.kind == Kind::Uninit) throw Stop{reg_name(reg) + " !read_ok"};
  throw Stop{reg_name(reg) + " is a pointer (" + std::string(kind_name(s.kind)) + ") where a scalar is expected"};
}

[[gnu::always_inline]] inline uint64_t operand(const Executor& x, const Operand& o) {
  return o.is_reg ? scalar(x, o.reg) : imm_value(kDomain, o.imm);
}

std::string range_text(int64_t off, std::size_t n) { return "off=" + std::to_string(off) + " size=" + std::to_string(n); }

// The memory behind pointer `b` + off for n bytes; ctx accesses are handled by the caller.
Access access(Executor& x, const RegState& b, int reg, int64_t off, std::size_t n) {
  // In 128 bits: pointer arithmetic may leave any 64-bit offset and a helper may be given any
  // 64-bit size (the verifier would refuse both); neither may overflow before the checks.
  using Wide = __int128;
  const Wide at = Wide(int64_t(b.value)) + off;
  const Wide end = at + Wide(n);
  switch (b.kind) {
    case Kind::Uninit: throw Stop{reg_name(reg) + " !read_ok"};
    case Kind::Scalar: throw Stop{reg_name(reg) + " invalid mem access 'scalar'"};
    case Kind::Stack: {
      const Wide i = Wide(Interpreter::kStackSize) + at;  // `at` counts down from the top
      if (i < 0 || i + Wide(n) > Wide(Interpreter::kStackSize))
        throw Stop{"invalid stack access " + range_text(int64_t(at), n)};
      Frame& f = x.frames[b.region];
      return {&f.stack[std::size_t(i)], &f, std::size_t(i), true};
    }
    case Kind::Packet:
      if (at < int64_t(x.data) || end > int64_t(x.data_end))
        throw Stop{"invalid access to packet, " + range_text(int64_t(at - x.data), n) + ", the packet has " +
                   std::to_string(x.data_end - x.data) + " bytes"};
      return {x.packet->data() + std::size_t(at), nullptr, 0, true};
    case Kind::PacketMeta:
      if (at < int64_t(x.meta) || end > int64_t(x.data))
        throw Stop{"invalid access to packet metadata, " + range_text(int64_t(at - x.meta), n) + ", there are " +
                   std::to_string(x.data - x.meta) + " bytes of it"};
      return {x.packet->data() + std::size_t(at), nullptr, 0, true};
    case Kind::Mem:
      if (at < 0 || end > int64_t(x.memory.size()))
        throw Stop{"invalid access to memory, " + range_text(int64_t(at), n) + " (the block has " +
                   std::to_string(x.memory.size()) + " bytes)"};
      return {x.memory.data() + std::size_t(at), nullptr, 0, true};
    case Kind::MapValue: {
      const Region& g = x.regions[b.region];
      if (at < 0 || end > int64_t(g.size))
        throw Stop{"invalid access to map value, value_size=" + std::to_string(g.size) + " " + range_text(int64_t(at), n)};
      return {g.base + std::size_t(at), nullptr, 0, g.writable};
    }
    case Kind::PacketEnd: throw Stop{reg_name(reg) + " invalid mem access 'pkt_end'"};
    case Kind::MapPtr: throw Stop{reg_name(reg) + " invalid mem access 'map_ptr'"};
    case Kind::Ctx: break;
  }
  throw InternalError("access(): context accesses are handled by the caller");
}

uint64_t read_bytes(const Access& a, std::size_t n, int64_t off_for_message) {
  if (a.frame)
    for (std::size_t i = 0; i < n; ++i)
      if (!a.frame->is_written(a.at + i))
        throw Stop{"invalid read from stack " + range_text(off_for_message, n)};
  uint64_t v = 0;
  std::memcpy(&v, a.p, n);  // little-endian host, as BPF's memory is
  return v;
}

void write_bytes(const Access& a, std::size_t n, uint64_t v) {
  if (!a.writable) throw Stop{"write into map that is read-only to programs"};
  std::memcpy(a.p, &v, n);
  if (a.frame) {
    a.frame->mark_written(a.at, n);
    for (std::size_t s = a.at / 8; s <= (a.at + n - 1) / 8; ++s) a.frame->spilled &= ~(uint64_t(1) << s);
  }
}

// --- context ----------------------------------------------------------------------------------

const CtxField& ctx_field(const Executor& x, int64_t at, std::size_t n, bool write) {
  if (x.model == CtxModel::None) throw Stop{"the program has no context type; r1 is an opaque number"};
  std::string why;
  const CtxField* f = ctx_access(x.model, at, n, write, why);
  if (!f) throw Stop{why};
  return *f;
}

// A context pointer's offset plus the instruction's, wrapping as the pretend addresses do (the
// verifier would refuse arithmetic that gets this far; the access is then out of bounds).
int64_t ctx_offset(const RegState& b, int64_t off) { return int64_t(b.value + uint64_t(off)); }

RegState ctx_load(Executor& x, const RegState& b, int64_t off, std::size_t n) {
  const int64_t at = ctx_offset(b, off);
  if (x.model == CtxModel::Tracing) {
    if (at < 0 || at > int64_t(x.ctx->size()) - int64_t(n))
      throw Stop{"invalid bpf_context access " + range_text(at, n) + " (the tracing context given has " +
                 std::to_string(x.ctx->size()) + " bytes)"};
    uint64_t v = 0;
    std::memcpy(&v, x.ctx->data() + at, n);
    return {Kind::Scalar, 0, v};
  }
  const CtxField& f = ctx_field(x, at, n, false);
  switch (f.value) {
    case CtxValue::Data: return {Kind::Packet, 0, x.data};
    case CtxValue::DataEnd: return {Kind::PacketEnd, 0, x.data_end};
    case CtxValue::DataMeta: return {Kind::PacketMeta, 0, x.meta};
    case CtxValue::Scalar: break;
  }
  uint64_t v = 0;
  if (!f.block && n >= f.target) {
    // As wide as the kernel's real field: the verifier's rewrite loads all of it.
    std::memcpy(&v, x.ctx->data() + f.offset, std::min<std::size_t>(f.target, f.size));
  } else {
    std::memcpy(&v, x.ctx->data() + at, n);
  }
  return {Kind::Scalar, 0, v};
}

void ctx_store(Executor& x, const RegState& b, int64_t off, std::size_t n, uint64_t v) {
  const int64_t at = ctx_offset(b, off);
  if (x.model == CtxModel::Tracing) throw Stop{"invalid bpf_context access: the tracing context is read-only"};
  ctx_field(x, at, n, true);
  std::memcpy(x.ctx->data() + at, &v, n);
}

// --- loads, stores, atomics ---------------------------------------------------------------------

void load(Executor& x, const Load& l) {
  const std::size_t n = std::size_t(bytes(l.width));
  const RegState b = x.r[l.base];
  if (b.kind == Kind::Ctx) {
    RegState v = ctx_load(x, b, l.off, n);
    if (l.sign_extend) v.value = kDomain.sext(v.value, unsigned(n) * 8);
    x.r[l.dst] = v;
    return;
  }
  const Access a = access(x, b, l.base, l.off, n);
  if (a.frame && (a.frame->spilled >> (a.at / 8) & 1)) {
    if (n != 8 || a.at % 8 != 0 || l.sign_extend) throw Stop{"partial read of a spilled pointer"};
    x.r[l.dst] = a.frame->spill[a.at / 8];
    return;
  }
  uint64_t v = read_bytes(a, n, int64_t(b.value) + l.off);
  if (l.sign_extend) v = kDomain.sext(v, unsigned(n) * 8);
  x.r[l.dst] = {Kind::Scalar, 0, v};
}

void store(Executor& x, const Store& s) {
  const std::size_t n = std::size_t(bytes(s.width));
  const RegState b = x.r[s.base];
  if (s.src.is_reg && is_pointer(x.r[s.src.reg].kind)) {
    // The kernel lets a program spill any pointer, whole, to its stack, and nowhere else.
    const RegState p = x.r[s.src.reg];
    if (b.kind != Kind::Stack) throw Stop{reg_name(s.src.reg) + " leaks addr into mem"};
    const Access a = access(x, b, s.base, s.off, n);
    if (n != 8 || a.at % 8 != 0) throw Stop{"spill of a pointer must be an aligned 8-byte store"};
    write_bytes(a, 8, address(p));
    a.frame->spilled |= uint64_t(1) << (a.at / 8);
    a.frame->spill[a.at / 8] = p;
    return;
  }
  const uint64_t v = operand(x, s.src);
  if (b.kind == Kind::Ctx) return ctx_store(x, b, s.off, n, v);
  write_bytes(access(x, b, s.base, s.off, n), n, v);
  if (b.kind == Kind::MapValue) x.regions[b.region].written = true;
}

void atomic(Executor& x, const Atomic& at) {
  const std::size_t n = std::size_t(bytes(at.width));
  const RegState b = x.r[at.base];
  if (b.kind == Kind::Ctx) throw Stop{"BPF_ATOMIC stores into R" + std::to_string(at.base) + " ctx is not allowed"};
  const Access a = access(x, b, at.base, at.off, n);
  if (a.frame && (a.frame->spilled >> (a.at / 8) & 1)) throw Stop{"atomic operation on a spilled pointer"};
  const uint64_t old = read_bytes(a, n, int64_t(b.value) + at.off);
  const uint64_t src = scalar(x, at.src);
  const bool is64 = at.width == Width::DW;
  const uint64_t r0 = at.op == AtomicOp::CmpXchg ? scalar(x, 0) : 0;
  const uint64_t next = atomic_result(kDomain, at.op, is64, old, src, r0);
  write_bytes(a, n, next);
  if (b.kind == Kind::MapValue) x.regions[b.region].written = true;
  if (at.op == AtomicOp::CmpXchg)
    x.r[0] = {Kind::Scalar, 0, old};
  else if (at.fetch)
    x.r[at.src] = {Kind::Scalar, 0, old};
}

// --- ALU and jumps on pointers --------------------------------------------------------------------

void pointer_alu(Executor& x, const Alu& a) {
  RegState& dst = x.r[a.dst];
  const RegState src = a.src.is_reg ? x.r[a.src.reg] : RegState{Kind::Scalar, 0, imm_value(kDomain, a.src.imm)};
  if (a.op == AluOp::Mov) {
    // A 32-bit copy of a pointer is a number to privileged programs: the address's low half.
    // Like every use of a pointer as a number it is meaningful only where addresses cancel
    // (clang emits `w1 = w7; w1 -= w8` for data_end - data); these are pretend addresses, so a
    // value that does not cancel differs from the kernel's, whose addresses are random anyway.
    dst = a.is64 ? src : RegState{Kind::Scalar, 0, uint32_t(address(src))};
    return;
  }
  if (dst.kind == Kind::Uninit) throw Stop{reg_name(a.dst) + " !read_ok"};
  if (src.kind == Kind::Uninit) throw Stop{reg_name(a.src.reg) + " !read_ok"};
  const bool dst_ptr = is_pointer(dst.kind), src_ptr = is_pointer(src.kind);
  if (!a.is64) {
    // Privileged programs may subtract in 32 bits, getting a number (clang emits `w1 -= w2` for
    // data_end - data); meaningful only for two pointers into one region.
    if (a.op == AluOp::Sub && (!dst_ptr || !src_ptr || same_region(dst, src))) {
      dst = {Kind::Scalar, 0, uint32_t(address(dst) - address(src))};
      return;
    }
    throw Stop{reg_name(a.dst) + " 32-bit pointer arithmetic prohibited"};
  }
  if (a.op == AluOp::Sub && dst_ptr && src_ptr) {
    // ptr - ptr: a number (privileged programs may); only meaningful within one region.
    if (!same_region(dst, src)) throw Stop{reg_name(a.dst) + " subtraction of pointers into different regions"};
    dst = {Kind::Scalar, 0, address(dst) - address(src)};
    return;
  }
  if (a.op == AluOp::Add && !dst_ptr && src_ptr) {  // scalar + ptr
    const uint64_t delta = dst.value;
    dst = src;
    dst.value += delta;
  } else if ((a.op == AluOp::Add || a.op == AluOp::Sub) && dst_ptr && !src_ptr) {
    dst.value = a.op == AluOp::Add ? dst.value + src.value : dst.value - src.value;
  } else {
    throw Stop{reg_name(a.dst) + " pointer arithmetic with this operation is prohibited"};
  }
  if (dst.kind == Kind::PacketEnd || dst.kind == Kind::MapPtr)
    throw Stop{reg_name(a.dst) + " pointer arithmetic on " + kind_name(dst.kind) + " prohibited"};
}

bool pointer_condition(const Executor& x, const Jmp& j) {
  const RegState lhs = x.r[j.dst];
  const RegState rhs = j.src.is_reg ? x.r[j.src.reg] : RegState{Kind::Scalar, 0, imm_value(kDomain, j.src.imm)};
  if (lhs.kind == Kind::Uninit) throw Stop{reg_name(j.dst) + " !read_ok"};
  if (rhs.kind == Kind::Uninit) throw Stop{reg_name(j.src.reg) + " !read_ok"};
  const bool both = is_pointer(lhs.kind) && is_pointer(rhs.kind);
  const bool null_check = !both && (j.cond == Cond::Eq || j.cond == Cond::Ne) &&
                          (is_pointer(lhs.kind) ? rhs : lhs).value == 0;
  if (!j.is64 || !(both ? same_region(lhs, rhs) : null_check))
    throw Stop{"R" + std::to_string(j.dst) + " pointer comparison prohibited"};
  return condition(kDomain, j.cond, true, address(lhs), address(rhs));
}

// LD_ABS / LD_IND: the kernel's rewrite calls a loader that returns the big-endian value or a
// negative error, on which the program exits with r0 = 0. Negative offsets address from the
// network header (SKF_NET_OFF) or the link-layer header (SKF_LL_OFF).
void packet_load(Executor& x, const PacketLoad& l) {
  if (x.model != CtxModel::Tc && x.model != CtxModel::SocketFilter)
    throw Stop{"BPF_LD_[ABS|IND] instructions are only valid for socket filters and tc programs"};
  if (x.r[6].kind != Kind::Ctx) throw Stop{"at the time of BPF_LD_ABS|IND R6 != pointer to skb"};
  const std::size_t n = std::size_t(bytes(l.width));
  int32_t k = l.imm;
  if (l.indirect) k = int32_t(uint32_t(scalar(x, l.src)) + uint32_t(l.imm));
  constexpr int32_t kNetOff = -0x100000, kLlOff = -0x200000;
  int64_t at;  // offset in the packet buffer
  if (k >= 0)
    at = int64_t(x.data) + k;
  else if (k >= kNetOff)
    at = int64_t(x.eth_start + kEthHeader) + (k - kNetOff);
  else if (k >= kLlOff)
    at = int64_t(x.eth_start) + (k - kLlOff);
  else
    at = -1;
  const bool from_data = k >= 0;
  const int64_t lo = from_data ? int64_t(x.data) : int64_t(x.eth_start);
  for (int i = 1; i <= 5; ++i) x.r[i] = {Kind::Uninit, 0, 0};
  if (at < lo || at + int64_t(n) > int64_t(x.data_end)) throw ExitNow{0};
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | (*x.packet)[std::size_t(at) + i];
  x.r[0] = {Kind::Scalar, 0, v};
}

}  // namespace

// --- calls ------------------------------------------------------------------------------------

void Executor::enter_program(std::size_t index) {
  prog = index;
  model = interp.programs_[index].model;
  depth = 0;
  frames[0].reset();
  r[kFramePointer] = {Kind::Stack, 0, 0};
}

void Executor::observe(const InsnObserver& observer, const StackObserver* stack_observer, std::size_t pc) const {
  ObservedReg regs[11];
  for (int i = 0; i < 11; ++i) {
    const RegState& x = r[i];
    regs[i] = {x.kind, x.region, int64_t(x.value)};
    if (x.kind == Kind::Packet || x.kind == Kind::PacketEnd) regs[i].value = int64_t(x.value) - int64_t(data);
    else if (x.kind == Kind::PacketMeta) regs[i].value = int64_t(x.value) - int64_t(meta);
  }
  observer(pc, depth, regs);
  if (stack_observer) (*stack_observer)(frames[depth].stack, frames[depth].written);
}

void Executor::execute(const RunLimits& limits) {
  std::size_t pc = 0;
  uint64_t may_goto_left[Interpreter::kMaxFrames];
  may_goto_left[0] = kMayGotoBudget;
  const std::vector<Decoded>* by_slot = &interp.programs_[prog].by_slot;
  const std::vector<MapRef>* refs = &interp.programs_[prog].map_refs;
  // Kept in locals on the hot path, written back however the run ends.
  const Decoded* code = by_slot->data();
  const Interpreter::FastAlu* fast = interp.programs_[prog].fast.data();
  std::size_t size = by_slot->size();
  uint64_t executed = out.executed;
  const uint64_t limit = limits.max_insns;
  const InsnObserver* observer = limits.observer;
  const std::vector<bool>* observe_at = limits.observe_at;
  if ((map_effects = limits.map_effects)) map_effects->bytes.clear();
  // However the run ends, the map values it wrote go into its effects last.
  struct EffectsAtEnd {
    Executor& x;
    ~EffectsAtEnd() {
      if (!x.map_effects) return;
      for (std::size_t i = 0; i < x.regions.size(); ++i) {
        const Region& g = x.regions[i];
        if (!g.written) continue;
        x.map_effects->bytes.push_back(uint8_t(i));
        x.map_effects->bytes.insert(x.map_effects->bytes.end(), g.base, g.base + g.size);
      }
    }
  } effects_at_end{*this};
  struct WriteBack {
    uint64_t& from;
    uint64_t& to;
    ~WriteBack() { to = from; }
  } write_back{executed, out.executed};
  try {
    for (;;) {
      if (pc >= size) [[unlikely]]
        throw Stop{"fell off the end of the program"};
      if (executed == limit) [[unlikely]]
        throw Stop{"instruction limit of " + std::to_string(limit) + " reached"};
      ++executed;
      if (observer && (!observe_at || (pc < observe_at->size() && (*observe_at)[pc]))) [[unlikely]]
        observe(*observer, limits.stack_observer, pc);
      // The common case first: an ALU instruction on scalars needs none of the pointer rules,
      // and one switch on its precomputed code picks operation, width and operand together.
      if (const Interpreter::FastAlu f = fast[pc]; f.code != 0 && r[f.dst].kind == Kind::Scalar &&
                                      (!((f.code - 1) & 1) || r[f.src].kind == Kind::Scalar)) [[likely]] {
        uint64_t& d = r[f.dst].value;
        const uint64_t reg = r[f.src].value, imm = uint64_t(int64_t(f.imm));
        switch (f.code) {
#define TRISTATE_FAST_ALU(OP)                                                                                  \
  case fast_code(AluOp::OP, true, true): d = alu_result(kDomain, AluOp::OP, true, d, reg); break;             \
  case fast_code(AluOp::OP, true, false): d = alu_result(kDomain, AluOp::OP, true, d, imm); break;            \
  case fast_code(AluOp::OP, false, true): d = alu_result(kDomain, AluOp::OP, false, d, reg); break;           \
  case fast_code(AluOp::OP, false, false): d = alu_result(kDomain, AluOp::OP, false, d, imm); break;
          TRISTATE_FAST_ALU(Add) TRISTATE_FAST_ALU(Sub) TRISTATE_FAST_ALU(Mul) TRISTATE_FAST_ALU(Div)
          TRISTATE_FAST_ALU(SDiv) TRISTATE_FAST_ALU(Or) TRISTATE_FAST_ALU(And) TRISTATE_FAST_ALU(Lsh)
          TRISTATE_FAST_ALU(Rsh) TRISTATE_FAST_ALU(Neg) TRISTATE_FAST_ALU(Mod) TRISTATE_FAST_ALU(SMod)
          TRISTATE_FAST_ALU(Xor) TRISTATE_FAST_ALU(Mov) TRISTATE_FAST_ALU(MovSx8) TRISTATE_FAST_ALU(MovSx16)
          TRISTATE_FAST_ALU(MovSx32) TRISTATE_FAST_ALU(Arsh)
#undef TRISTATE_FAST_ALU
          default: __builtin_unreachable();
        }
        ++pc;
        continue;
      }
      const Decoded& insn = code[pc];
      std::size_t next = pc + 1;
      if (const auto* a = std::get_if<Alu>(&insn)) {
        // Not on scalars only: pointer rules, or a move into a register that held no scalar.
        const RegState& dst = r[a->dst];
        if (const bool moves = a->op == AluOp::Mov || a->op == AluOp::MovSx8 || a->op == AluOp::MovSx16 ||
                                      a->op == AluOp::MovSx32;
                   (a->src.is_reg && is_pointer(r[a->src.reg].kind)) || (!moves && is_pointer(dst.kind))) {
          pointer_alu(*this, *a);
        } else {
          const uint64_t d = moves ? 0 : scalar(*this, a->dst);
          r[a->dst] = {Kind::Scalar, 0, alu_result(kDomain, a->op, a->is64, d, operand(*this, a->src))};
        }
      } else if (const auto* j = std::get_if<Jmp>(&insn)) {
        const bool taken = r[j->dst].kind == Kind::Scalar && (!j->src.is_reg || r[j->src.reg].kind == Kind::Scalar)
                               ? condition(kDomain, j->cond, j->is64, r[j->dst].value,
                                           j->src.is_reg ? r[j->src.reg].value : imm_value(kDomain, j->src.imm))
                               : pointer_condition(*this, *j);
        if (taken) next = pc + 1 + std::size_t(int64_t(j->off));
      } else if (const auto* ld = std::get_if<Load>(&insn)) {
        load(*this, *ld);
      } else if (const auto* st = std::get_if<Store>(&insn)) {
        store(*this, *st);
      } else if (const auto* e = std::get_if<Endian>(&insn)) {
        r[e->dst] = {Kind::Scalar, 0, endian_result(kDomain, e->order, e->bits, scalar(*this, e->dst))};
      } else if (const auto* ja = std::get_if<Ja>(&insn)) {
        next = std::size_t(int64_t(pc) + 1 + ja->off);
      } else if (const auto* l = std::get_if<LdImm64>(&insn)) {
        const auto [map, offset] = (*refs)[pc];
        if (map >= 0) {
          if (offset < 0) {
            r[l->dst] = {Kind::MapPtr, uint16_t(map), 0};
          } else {
            MapInstance& m = maps()[std::size_t(map)];
            const uint32_t zero = 0;
            uint8_t* value = m.lookup({reinterpret_cast<const uint8_t*>(&zero), 4}, env.cpu);
            if (!value) throw InternalError("global data map without its value");
            const bool writable = !(m.def().flags & BPF_F_RDONLY_PROG);
            r[l->dst] = {Kind::MapValue, region_for(value, m.def().value_size, writable), uint64_t(offset)};
          }
        } else if (l->pseudo != 0) {
          throw Stop{"ldimm64 of a map, BTF object or function that the object file does not relocate"};
        } else {
          r[l->dst] = {Kind::Scalar, 0, l->value()};
        }
        next = pc + 2;
      } else if (const auto* at = std::get_if<Atomic>(&insn)) {
        atomic(*this, *at);
      } else if (const auto* c = std::get_if<Call>(&insn)) {
        if (c->kind == CallKind::Helper) {
          if (c->imm != BPF_FUNC_tail_call) {
            call_helper(*this, c->imm);
          } else if (tail_call()) {
            // The program was replaced (possibly by itself): start the new one.
            by_slot = &interp.programs_[prog].by_slot;
            refs = &interp.programs_[prog].map_refs;
            code = by_slot->data();
            fast = interp.programs_[prog].fast.data();
            size = by_slot->size();
            may_goto_left[0] = kMayGotoBudget;
            next = 0;
          }
        } else if (c->kind == CallKind::Local) {
          if (depth + 1 == Interpreter::kMaxFrames)
            throw Stop{"the call stack of " + std::to_string(Interpreter::kMaxFrames) + " frames is too deep"};
          Frame& f = frames[++depth];
          f.reset();
          f.return_pc = pc + 1;
          // The callee starts with r6-r9 unreadable (the verifier's new frame has them NOT_INIT).
          for (int i = 0; i < 4; ++i) f.saved[i] = r[6 + i], r[6 + i] = {Kind::Uninit, 0, 0};
          may_goto_left[depth] = kMayGotoBudget;
          r[kFramePointer] = {Kind::Stack, uint16_t(depth), 0};
          next = pc + 1 + std::size_t(int64_t(c->imm));
        } else {
          throw Stop{"kfunc calls are not modelled by the interpreter"};
        }
      } else if (std::holds_alternative<Exit>(insn)) {
        if (r[0].kind == Kind::Uninit) throw Stop{"R0 !read_ok"};
        if (depth == 0) {
          // Privileged programs may return a pointer; its value is an address (here a pretend
          // one), as meaningless as the kernel's.
          out.r0 = address(r[0]);
          return;
        }
        const Frame& f = frames[depth--];
        for (int i = 0; i < 4; ++i) r[6 + i] = f.saved[i];
        for (int i = 1; i <= 5; ++i) r[i] = {Kind::Uninit, 0, 0};
        r[kFramePointer] = {Kind::Stack, uint16_t(depth), 0};
        next = f.return_pc;
      } else if (const auto* pl = std::get_if<PacketLoad>(&insn)) {
        packet_load(*this, *pl);
      } else if (const auto* mg = std::get_if<MayGoto>(&insn)) {
        if (may_goto_left[depth] == 0)
          next = pc + 1 + std::size_t(int64_t(mg->off));
        else
          --may_goto_left[depth];
      } else {
        throw Stop{"this instruction (addr_space_cast) is not modelled by the interpreter"};
      }
      pc = next;
    }
  } catch (const Stop& s) {
    out.fault = Fault{pc, s.reason};
  } catch (const ExitNow& e) {
    out.r0 = e.r0;
  }
}

bool Executor::tail_call() {
  // bpf_tail_call(ctx, prog_array, index): on success the current program is replaced (its
  // frame with it); on failure execution continues, r0 untouched and r1-r5 clobbered.
  int map_index = -1;
  MapInstance& m = map_arg(2, &map_index);
  if (m.def().type != BPF_MAP_TYPE_PROG_ARRAY) throw Stop{"bpf_tail_call needs a prog array"};
  if (r[1].kind != Kind::Ctx) throw Stop{"bpf_tail_call's R1 must be the context"};
  if (depth != 0) throw Stop{"tail calls from bpf-to-bpf callees are not modelled"};
  const uint32_t index = uint32_t(scalar_arg(3));
  const RegState ctx_reg = r[1];
  for (int i = 1; i <= 5; ++i) r[i] = {Kind::Uninit, 0, 0};
  if (index >= m.def().max_entries || out.tail_calls >= Interpreter::kMaxTailCalls) return false;
  const uint8_t* slot = m.lookup({reinterpret_cast<const uint8_t*>(&index), 4}, env.cpu);
  if (!slot) return false;
  uint32_t target = 0;
  std::memcpy(&target, slot, 4);
  if (target >= interp.programs_.size()) throw Stop{"the prog array holds program " + std::to_string(target) + ", which the module lacks"};
  ++out.tail_calls;
  enter_program(target);
  r[1] = ctx_reg;
  return true;
}

void Executor::note_map_call(int32_t helper, int map, std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (!map_effects) return;
  std::vector<uint8_t>& out = map_effects->bytes;
  out.push_back(uint8_t(helper));
  out.push_back(uint8_t(map));
  out.insert(out.end(), a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
}

uint16_t Executor::region_for(uint8_t* base, uint32_t n, bool writable) {
  for (std::size_t i = 0; i < regions.size(); ++i)
    if (regions[i].base == base && regions[i].size == n) return uint16_t(i);
  if (regions.size() == 0xffff) throw Stop{"too many distinct map values in one run"};
  regions.push_back({base, n, writable});
  return uint16_t(regions.size() - 1);
}

std::span<uint8_t> Executor::mem_arg(int reg, std::size_t n, bool write, const char* what) {
  const RegState& b = r[reg];
  if (n == 0) return {};
  if (b.kind == Kind::Ctx) throw Stop{reg_name(reg) + " (" + what + "): the context is not helper memory"};
  if (b.kind == Kind::Scalar && b.value == 0) throw Stop{reg_name(reg) + " (" + what + ") is NULL"};
  const Access a = access(*this, b, reg, 0, n);
  if (a.frame) {
    for (std::size_t i = 0; i < n; ++i)
      if (!write && !a.frame->is_written(a.at + i))
        throw Stop{"invalid indirect read from stack " + reg_name(reg) + " (" + what + ") " +
                   range_text(int64_t(b.value) + int64_t(i), n - i)};
    if (write) {
      a.frame->mark_written(a.at, n);
      for (std::size_t s = a.at / 8; s <= (a.at + n - 1) / 8; ++s) a.frame->spilled &= ~(uint64_t(1) << s);
    }
  } else if (write && !a.writable) {
    throw Stop{reg_name(reg) + " (" + what + ") points to read-only memory"};
  }
  if (write && b.kind == Kind::MapValue) regions[b.region].written = true;
  return {a.p, n};
}

uint64_t Executor::scalar_arg(int reg) const { return scalar(*this, reg); }

MapInstance& Executor::map_arg(int reg, int* index) {
  if (r[reg].kind != Kind::MapPtr) throw Stop{reg_name(reg) + " must be a map (type " + kind_name(r[reg].kind) + ")"};
  if (index) *index = r[reg].region;
  return maps()[r[reg].region];
}

std::span<uint8_t> Executor::skb_data() {
  if (model != CtxModel::Tc && model != CtxModel::SocketFilter) throw Stop{"the helper needs an skb (tc or socket filter)"};
  return {packet->data() + data, data_end - data};
}

// --- Interpreter ------------------------------------------------------------------------------

namespace {

std::vector<Decoded> decode_image(std::span<const Insn> image) {
  std::vector<Decoded> by_slot(image.size(), Decoded{Exit{}});
  for (auto& [pc, insn] : decode_program(image)) by_slot[pc] = insn;
  return by_slot;
}

}  // namespace

Interpreter::FastAlu Interpreter::fast_of(const Decoded& d) {
  if (const auto* a = std::get_if<Alu>(&d)) return {fast_code(a->op, a->is64, a->src.is_reg), a->dst, a->src.reg, a->src.imm};
  return {};
}

std::vector<Interpreter::FastAlu> Interpreter::fast_view(const std::vector<Decoded>& by_slot) {
  std::vector<FastAlu> fast(by_slot.size());
  for (std::size_t pc = 0; pc < by_slot.size(); ++pc) fast[pc] = fast_of(by_slot[pc]);
  return fast;
}

namespace {

}  // namespace

Interpreter::Interpreter(std::span<const Insn> image, uint32_t prog_type) {
  Prog p;
  p.by_slot = decode_image(image);
  p.fast = fast_view(p.by_slot);
  p.model = prog_type == 0 ? CtxModel::None : ctx_model_for(prog_type);
  p.map_refs.assign(image.size(), MapRef{});
  p.name = "prog";
  programs_.push_back(std::move(p));
}

Interpreter::Interpreter(const Module& module, MapSet& maps) : maps_(&maps) {
  if (maps.size() != module.maps.size()) throw InternalError("the MapSet was not made from this module's maps");
  for (const Program& program : module.programs) {
    Prog p;
    p.name = program.name();
    p.model = ctx_model_for(program.prog_type);
    try {
      p.by_slot = decode_image(program.image);
      p.fast = fast_view(p.by_slot);
    } catch (const InputError& e) {
      throw e.within(Location{module.path, program.name(), {}});
    }
    try {
      p.map_refs = resolve_map_refs(module, program);
    } catch (const InputError& e) {
      throw e.within(Location{module.path, program.name(), {}});
    }
    programs_.push_back(std::move(p));
  }
}

std::optional<std::string> Interpreter::replace(std::size_t program, std::size_t slot, const Insn& insn) {
  Prog& p = programs_.at(program);
  if (slot >= p.by_slot.size()) throw InternalError("Interpreter::replace: slot outside the program");
  const DecodeResult r = decode(std::span<const Insn>(&insn, 1), 0);
  if (!r.ok()) return r.error();
  if (slots(r.decoded()) != 1) return std::string("an LD_IMM64 does not fit one slot");
  p.by_slot[slot] = r.decoded();
  p.fast[slot] = fast_of(p.by_slot[slot]);
  return std::nullopt;
}

RunResult Interpreter::run(uint64_t r1, const RunLimits& limits) const {
  PacketResult out;
  Environment env;
  Executor x(*this, env, out);
  x.enter_program(0);
  x.model = CtxModel::None;
  for (int i = 0; i < 10; ++i) x.r[i] = {Kind::Uninit, 0, 0};
  x.r[1] = {Kind::Scalar, 0, r1};
  x.execute(limits);
  return out;
}

RunResult Interpreter::run(std::span<uint8_t> memory, const RunLimits& limits) const {
  PacketResult out;
  Environment env;
  Executor x(*this, env, out);
  x.enter_program(0);
  x.model = CtxModel::None;
  x.memory = memory;
  for (int i = 0; i < 10; ++i) x.r[i] = {Kind::Uninit, 0, 0};
  x.r[1] = {Kind::Mem, 0, 0};
  x.r[2] = {Kind::Scalar, 0, memory.size()};
  x.execute(limits);
  return out;
}

namespace {

// eth_type_trans's packet type for a frame received on the loopback device, whose address and
// broadcast address are both zero: so ff:ff:ff:ff:ff:ff counts as multicast (seen on Linux 6.18).
uint32_t packet_type(std::span<const uint8_t> frame) {
  const uint8_t* dst = frame.data();
  if (dst[0] & 1) return 2;  // PACKET_MULTICAST
  return std::all_of(dst, dst + 6, [](uint8_t b) { return b == 0; }) ? 0 /*HOST*/ : 3 /*OTHERHOST*/;
}

// eth_type_trans's protocol, as the __sk_buff field holds it (a __be16 in a u32).
uint32_t skb_protocol(std::span<const uint8_t> frame) {
  const uint16_t type = uint16_t(frame[12] << 8 | frame[13]);
  uint16_t proto = type;
  if (type < 0x600) proto = frame.size() >= 16 && frame[14] == 0xff && frame[15] == 0xff ? 0x0001 : 0x0004;
  return uint32_t(uint16_t(proto >> 8 | proto << 8));
}

void put32(std::vector<uint8_t>& ctx, uint32_t offset, uint32_t v) { std::memcpy(ctx.data() + offset, &v, 4); }

}  // namespace

PacketResult Interpreter::run(std::size_t program, const RunInput& input, const Environment& env,
                              const RunLimits& limits) const {
  PacketResult out;
  run(program, input, env, limits, out);
  return out;
}

void Interpreter::run(std::size_t program, const RunInput& input, const Environment& env, const RunLimits& limits,
                      PacketResult& out) const {
  if (program >= programs_.size()) throw InternalError("no program " + std::to_string(program));
  const Prog& p = programs_[program];
  const std::size_t len = input.packet.size();
  const auto where = [&p] { return Location{{}, p.name, {}}; };  // only built for an error
  out.r0 = 0;
  out.executed = 0;
  out.fault.reset();
  out.trace.clear();
  out.redirect.reset();
  out.tail_calls = 0;
  Executor x(*this, env, out);
  x.enter_program(program);
  for (int i = 0; i < 10; ++i) x.r[i] = {Kind::Uninit, 0, 0};
  x.r[1] = {Kind::Ctx, 0, 0};
  x.prandom_state = env.prandom_seed;
  out.ctx.assign(input.ctx.begin(), input.ctx.end());
  x.ctx = &out.ctx;

  if (p.model == CtxModel::None)
    throw InputError(where(), "the program's type has no context the interpreter models; run it with a memory block instead");
  if (takes_packet(p.model)) {
    if (len < kEthHeader)
      throw InputError(where(), "a packet of " + std::to_string(len) + " bytes is shorter than the 14-byte Ethernet header the kernel requires");
    const std::size_t size = ctx_size(p.model);
    if (!out.ctx.empty() && out.ctx.size() != size)
      throw InputError(where(), "the context has " + std::to_string(out.ctx.size()) + " bytes; " + ctx_model_name(p.model) +
                                  " has " + std::to_string(size));
    out.ctx.resize(size, 0);
    for (std::size_t i = 0; i < size; ++i) {
      if (out.ctx[i] == 0) continue;
      const CtxField* f = ctx_field_at(p.model, int64_t(i), 1);
      if (out.ctx[i] != 0 && (!f || !f->user_settable))
        throw InputError(where(), std::string("the test run context may not set ") + (f ? f->name : "byte " + std::to_string(i)));
    }
  } else if (input.packet.size() != 0) {
    throw InputError(where(), "a tracing program does not take a packet");
  }

  x.packet = &out.packet;
  const std::span<const uint8_t> frame = input.packet;
  switch (p.model) {
    case CtxModel::Xdp: {
      const std::size_t max = kXdpFrameSize - kXdpHeadroom - kXdpTailroom;
      if (len > max)
        throw InputError(where(), "a packet of " + std::to_string(len) + " bytes does not fit the " + std::to_string(max) +
                                    " bytes of an XDP test-run frame");
      // The frame's bytes past the packet are only reachable through bpf_xdp_adjust_tail, which
      // grows the buffer (zeroed, as the kernel clears them) when it needs to.
      out.packet.assign(kXdpHeadroom + len, 0);
      std::copy(frame.begin(), frame.end(), out.packet.begin() + kXdpHeadroom);
      x.meta = x.data = x.eth_start = uint32_t(kXdpHeadroom);
      x.data_end = uint32_t(kXdpHeadroom + len);
      x.frame_end = uint32_t(kXdpFrameSize - kXdpTailroom);
      uint32_t ingress = 0;
      std::memcpy(&ingress, out.ctx.data() + offsetof(xdp_md, ingress_ifindex), 4);
      if (ingress == 0) put32(out.ctx, offsetof(xdp_md, ingress_ifindex), env.ifindex);
      break;
    }
    case CtxModel::Tc:
    case CtxModel::SocketFilter: {
      const std::size_t max = kPageSize - kSkbHeadroom - kSkbTailroom;
      if (len > max)
        throw InputError(where(), "a packet of " + std::to_string(len) + " bytes does not fit the " + std::to_string(max) +
                                    " bytes of an skb test run");
      // The skb test run also wants the whole network header of IPv4 and IPv6 frames (it reads
      // their addresses into the socket it makes): seen on Linux 6.18, EINVAL below 34 and 54 bytes.
      const uint16_t ethertype = uint16_t(frame[12] << 8 | frame[13]);
      if ((ethertype == 0x0800 && len < kEthHeader + 20) || (ethertype == 0x86dd && len < kEthHeader + 40))
        throw InputError(where(), "an skb test run refuses an " + std::string(ethertype == 0x0800 ? "IPv4" : "IPv6") +
                                    " frame of " + std::to_string(len) + " bytes, shorter than its network header");
      out.packet.assign(kSkbHeadroom + len, 0);
      std::copy(frame.begin(), frame.end(), out.packet.begin() + kSkbHeadroom);
      x.eth_start = kSkbHeadroom;
      x.data = p.model == CtxModel::Tc ? kSkbHeadroom : kSkbHeadroom + kEthHeader;
      x.meta = x.data;
      x.data_end = uint32_t(kSkbHeadroom + len);
      x.frame_end = x.data_end;
      put32(out.ctx, offsetof(__sk_buff, len), x.data_end - x.data);
      put32(out.ctx, offsetof(__sk_buff, pkt_type), packet_type(frame));
      put32(out.ctx, offsetof(__sk_buff, protocol), skb_protocol(frame));
      uint32_t ifindex = 0;
      std::memcpy(&ifindex, out.ctx.data() + offsetof(__sk_buff, ifindex), 4);
      if (ifindex == 0) put32(out.ctx, offsetof(__sk_buff, ifindex), env.ifindex);
      break;
    }
    case CtxModel::Tracing:
    case CtxModel::None: break;
  }

  x.execute(limits);

  if (takes_packet(p.model)) {
    const uint32_t from = p.model == CtxModel::Xdp ? x.meta : x.eth_start;
    if (p.model == CtxModel::SocketFilter) std::fill_n(out.packet.begin() + x.eth_start, kEthHeader, 0);
    out.packet.resize(x.data_end);
    out.packet.erase(out.packet.begin(), out.packet.begin() + from);
    if (p.model == CtxModel::Xdp) {
      put32(out.ctx, offsetof(xdp_md, data), x.data - x.meta);
      put32(out.ctx, offsetof(xdp_md, data_end), x.data_end - x.meta);
    }
  } else {
    out.packet.clear();
  }
}

}  // namespace tristate
