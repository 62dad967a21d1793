#include "compiler/interpreter.hpp"

#include <cstring>

#include "compiler/error.hpp"
#include "compiler/semantics.hpp"

namespace tristate {

namespace {

constexpr ConcreteDomain kDomain;

// What a register holds. Pointers are kept as (kind, offset) so that memory accesses can be
// checked against the region they point into; the stack pointer's offset is from the frame top.
enum class Kind : uint8_t { Uninit, Scalar, StackPtr, MemPtr, Ctx };

struct RegState {
  Kind kind = Kind::Uninit;
  uint64_t value = 0;  // the scalar, or the pointer's offset into its region
};

// One run's machine state: registers and a stack whose bytes remember whether they were written
// and whether an 8-byte slot holds a spilled stack pointer.
struct Machine {
  std::array<RegState, 11> r{};
  std::array<uint8_t, Interpreter::kStackSize> stack{};
  std::array<bool, Interpreter::kStackSize> written{};
  std::array<bool, Interpreter::kStackSize / 8> spilled_ptr{};
  std::span<uint8_t> memory;  // the block r1 points to in run(memory): always readable
};

bool is_pointer(Kind k) { return k == Kind::StackPtr || k == Kind::MemPtr; }

struct Stop {
  std::string reason;
};

std::string reg_name(Reg r) { return "R" + std::to_string(r); }

[[gnu::always_inline]] inline uint64_t scalar(const Machine& m, Reg r) {
  const RegState& s = m.r[r];
  if (s.kind == Kind::Uninit) throw Stop{reg_name(r) + " !read_ok"};
  if (s.kind != Kind::Scalar) throw Stop{reg_name(r) + " is a pointer where a scalar is expected"};
  return s.value;
}

[[gnu::always_inline]] inline uint64_t operand(const Machine& m, const Operand& o) { return o.is_reg ? scalar(m, o.reg) : imm_value(kDomain, o.imm); }

// Where an access of n bytes through `base` + off lands: an index into the stack or into the
// memory block. Throws when the base is no pointer or the access is out of bounds.
struct Place {
  bool stack;
  std::size_t at;
};

Place place_of(const Machine& m, Reg base, int16_t off, int n) {
  const RegState& b = m.r[base];
  if (b.kind == Kind::Uninit) throw Stop{reg_name(base) + " !read_ok"};
  if (b.kind == Kind::Scalar) throw Stop{reg_name(base) + " invalid mem access 'scalar'"};
  if (b.kind == Kind::Ctx) throw Stop{"context access is not modelled yet"};
  if (b.kind == Kind::MemPtr) {
    const int64_t at = int64_t(b.value) + off;
    if (at < 0 || at + n > int64_t(m.memory.size()))
      throw Stop{"invalid access to memory, off=" + std::to_string(at) + " size=" + std::to_string(n) +
                 " (the block has " + std::to_string(m.memory.size()) + " bytes)"};
    return {false, std::size_t(at)};
  }
  const int64_t from_top = int64_t(b.value) + off;  // negative: below the frame top
  const int64_t at = int64_t(Interpreter::kStackSize) + from_top;
  if (at < 0 || at + n > int64_t(Interpreter::kStackSize))
    throw Stop{"invalid stack access off=" + std::to_string(from_top) + " size=" + std::to_string(n)};
  return {true, std::size_t(at)};
}

uint64_t load_bytes(const Machine& m, Place p, int n) {
  const uint8_t* src = p.stack ? &m.stack[p.at] : &m.memory[p.at];
  if (p.stack)
    for (int i = 0; i < n; ++i)
      if (!m.written[p.at + i])
        throw Stop{"invalid read from stack off=" + std::to_string(int64_t(p.at) - int64_t(Interpreter::kStackSize)) +
                   " size=" + std::to_string(n)};
  uint64_t v = 0;
  std::memcpy(&v, src, std::size_t(n));  // little-endian host, as BPF's memory is
  return v;
}

void store_bytes(Machine& m, Place p, int n, uint64_t v) {
  if (!p.stack) {
    std::memcpy(&m.memory[p.at], &v, std::size_t(n));
    return;
  }
  std::memcpy(&m.stack[p.at], &v, std::size_t(n));
  for (int i = 0; i < n; ++i) m.written[p.at + i] = true;
  for (std::size_t s = p.at / 8; s <= (p.at + std::size_t(n) - 1) / 8; ++s) m.spilled_ptr[s] = false;
}

RegState load(const Machine& m, const Load& l) {
  const int n = bytes(l.width);
  const Place p = place_of(m, l.base, l.off, n);
  if (p.stack && m.spilled_ptr[p.at / 8]) {
    if (n != 8 || p.at % 8 != 0 || l.sign_extend) throw Stop{"partial read of a spilled pointer"};
    RegState ptr{Kind::StackPtr, 0};
    std::memcpy(&ptr.value, &m.stack[p.at], 8);
    return ptr;
  }
  uint64_t v = load_bytes(m, p, n);
  if (l.sign_extend) v = kDomain.sext(v, unsigned(n) * 8);
  return {Kind::Scalar, v};
}

void store(Machine& m, const Store& s) {
  const int n = bytes(s.width);
  const Place p = place_of(m, s.base, s.off, n);
  if (s.src.is_reg && is_pointer(m.r[s.src.reg].kind)) {
    // Only stack pointers may be spilled, whole, to the stack (the kernel refuses leaking
    // pointers into other memory).
    if (!p.stack || m.r[s.src.reg].kind != Kind::StackPtr || n != 8 || p.at % 8 != 0)
      throw Stop{reg_name(s.src.reg) + " pointer may only be spilled whole to the stack"};
    store_bytes(m, p, 8, m.r[s.src.reg].value);
    m.spilled_ptr[p.at / 8] = true;
    return;
  }
  store_bytes(m, p, n, operand(m, s.src));
}

void atomic(Machine& m, const Atomic& a) {
  const int n = bytes(a.width);
  const Place p = place_of(m, a.base, a.off, n);
  if (p.stack && m.spilled_ptr[p.at / 8]) throw Stop{"atomic operation on a spilled pointer"};
  const uint64_t old = load_bytes(m, p, n);
  const uint64_t src = scalar(m, a.src);
  const bool is64 = a.width == Width::DW;
  uint64_t next = old;
  switch (a.op) {
    case AtomicOp::Add: next = alu_result(kDomain, AluOp::Add, is64, old, src); break;
    case AtomicOp::Or: next = alu_result(kDomain, AluOp::Or, is64, old, src); break;
    case AtomicOp::And: next = alu_result(kDomain, AluOp::And, is64, old, src); break;
    case AtomicOp::Xor: next = alu_result(kDomain, AluOp::Xor, is64, old, src); break;
    case AtomicOp::Xchg: next = is64 ? src : kDomain.zext(src, 32); break;
    case AtomicOp::CmpXchg: {
      const uint64_t expected = scalar(m, 0);
      if (condition(kDomain, Cond::Eq, is64, old, expected)) next = is64 ? src : kDomain.zext(src, 32);
      break;
    }
  }
  store_bytes(m, p, n, next);
  if (a.op == AtomicOp::CmpXchg)
    m.r[0] = {Kind::Scalar, old};
  else if (a.fetch)
    m.r[a.src] = {Kind::Scalar, old};
}

// ALU on a pointer: the kernel allows adding or subtracting a scalar (64-bit) and moving it.
bool pointer_alu(Machine& m, const Alu& a) {
  const RegState dst = m.r[a.dst];
  const bool src_ptr = a.src.is_reg && is_pointer(m.r[a.src.reg].kind);
  if (a.op == AluOp::Mov && a.is64 && src_ptr) {
    m.r[a.dst] = m.r[a.src.reg];
    return true;
  }
  if (!is_pointer(dst.kind) || a.op == AluOp::Mov) return false;
  if (!a.is64 || (a.op != AluOp::Add && a.op != AluOp::Sub) || src_ptr)
    throw Stop{reg_name(a.dst) + " pointer arithmetic with this operation is prohibited"};
  const uint64_t delta = operand(m, a.src);
  m.r[a.dst].value = a.op == AluOp::Add ? dst.value + delta : dst.value - delta;
  return true;
}

}  // namespace

Interpreter::Interpreter(std::span<const Insn> image) : by_slot_(image.size(), Decoded{Exit{}}) {
  for (auto& [pc, insn] : decode_program(image)) by_slot_[pc] = insn;
}

namespace {

RunResult execute(const std::vector<Decoded>& by_slot_, Machine& m, const RunLimits& limits) {
  m.r[kFramePointer] = {Kind::StackPtr, 0};
  RunResult result;
  std::size_t pc = 0;
  try {
    for (;;) {
      if (pc >= by_slot_.size()) throw Stop{"fell off the end of the program"};
      if (result.executed == limits.max_insns)
        throw Stop{"instruction limit of " + std::to_string(limits.max_insns) + " reached"};
      ++result.executed;
      const Decoded& insn = by_slot_[pc];
      std::size_t next = pc + 1;
      if (const auto* a = std::get_if<Alu>(&insn)) {
        RegState& dst = m.r[a->dst];
        // The common case first: scalars on both sides need none of the pointer rules.
        if (dst.kind == Kind::Scalar && (!a->src.is_reg || m.r[a->src.reg].kind == Kind::Scalar)) {
          const uint64_t src = a->src.is_reg ? m.r[a->src.reg].value : imm_value(kDomain, a->src.imm);
          dst.value = alu_result(kDomain, a->op, a->is64, dst.value, src);
        } else if (!pointer_alu(m, *a)) {
          const uint64_t dst = a->op == AluOp::Mov || a->op == AluOp::MovSx8 || a->op == AluOp::MovSx16 ||
                                       a->op == AluOp::MovSx32
                                   ? 0
                                   : scalar(m, a->dst);
          m.r[a->dst] = {Kind::Scalar, alu_result(kDomain, a->op, a->is64, dst, operand(m, a->src))};
        }
      } else if (const auto* e = std::get_if<Endian>(&insn)) {
        m.r[e->dst] = {Kind::Scalar, endian_result(kDomain, e->order, e->bits, scalar(m, e->dst))};
      } else if (const auto* j = std::get_if<Jmp>(&insn)) {
        if (condition(kDomain, j->cond, j->is64, scalar(m, j->dst), operand(m, j->src))) next = pc + 1 + j->off;
      } else if (const auto* ja = std::get_if<Ja>(&insn)) {
        next = std::size_t(int64_t(pc) + 1 + ja->off);
      } else if (const auto* l = std::get_if<LdImm64>(&insn)) {
        if (l->pseudo != 0) throw Stop{"ldimm64 of a map, BTF object or function is not modelled yet"};
        m.r[l->dst] = {Kind::Scalar, l->value()};
        next = pc + 2;
      } else if (const auto* ld = std::get_if<Load>(&insn)) {
        m.r[ld->dst] = load(m, *ld);
      } else if (const auto* st = std::get_if<Store>(&insn)) {
        store(m, *st);
      } else if (const auto* at = std::get_if<Atomic>(&insn)) {
        atomic(m, *at);
      } else if (std::holds_alternative<Exit>(insn)) {
        result.r0 = scalar(m, 0);
        return result;
      } else {
        throw Stop{"this instruction is not modelled by the interpreter yet"};
      }
      pc = next;
    }
  } catch (const Stop& s) {
    result.fault = Fault{pc, s.reason};
  }
  return result;
}

}  // namespace

RunResult Interpreter::run(uint64_t r1, const RunLimits& limits) const {
  Machine m;
  m.r[1] = {Kind::Ctx, r1};
  return execute(by_slot_, m, limits);
}

RunResult Interpreter::run(std::span<uint8_t> memory, const RunLimits& limits) const {
  Machine m;
  m.memory = memory;
  m.r[1] = {Kind::MemPtr, 0};
  m.r[2] = {Kind::Scalar, memory.size()};
  return execute(by_slot_, m, limits);
}

}  // namespace tristate
