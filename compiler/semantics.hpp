// The meaning of BPF's ALU, byte-swap and conditional-jump instructions, written once as templates
// over a value domain (DESIGN.md, "One semantics, two interpretations"). The concrete interpreter
// instantiates them with ConcreteDomain (uint64_t); the Z3 encoder will instantiate the very same
// templates with a bit-vector domain.
//
// A domain D provides, on 64-bit values `D::Value` and truth values `D::Bool`:
//   constant(u64); add sub mul; udiv urem sdiv srem (SMT-LIB's total semantics: x/0 is all ones,
//   x%0 is x, signed division truncates and wraps INT_MIN / -1 to INT_MIN); band bor bxor;
//   shl lshr ashr (amount < 64); neg; zext(v, bits) and sext(v, bits) of the low `bits` bits;
//   bswap(v, bits) (the low `bits` bits reversed bytewise, zero-extended); ite(Bool, Value, Value);
//   eq ult ule slt sle (Bool); lnot(Bool).
// BPF's own rules (division by zero gives 0, modulo by zero leaves dst, shift amounts masked to
// the operand width, 32-bit results zero-extended, signed 32-bit operations on sign-extended
// operands) live here, once. Facts from RFC 9669 and the Linux 6.18 interpreter's behaviour.
#pragma once

#include <cstdint>

#include "compiler/isa.hpp"

namespace tristate {

// The immediate as the instruction uses it: sign-extended to 64 bits (32-bit operations then look
// at the low half only).
template <class D>
typename D::Value imm_value(const D& d, int32_t imm) {
  return d.constant(uint64_t(int64_t(imm)));
}

// dst OP src for Alu (everything except Neg reads src; Mov ignores dst). Always inlined: it is
// the interpreter's hot path, and inlined into a switch the domain's work folds away.
template <class D>
[[gnu::always_inline]] inline typename D::Value alu_result(const D& d, AluOp op, bool is64, typename D::Value dst, typename D::Value src) {
  using V = typename D::Value;
  const unsigned width = is64 ? 64 : 32;
  // Operands as the operation sees them: 32-bit operations use the low halves, zero-extended for
  // unsigned and bitwise work, sign-extended for signed division and arithmetic shifts.
  const V a = is64 ? dst : d.zext(dst, 32);
  const V b = is64 ? src : d.zext(src, 32);
  const V sa = is64 ? dst : d.sext(dst, 32);
  const V sb = is64 ? src : d.sext(src, 32);
  const V zero = d.constant(0);
  const V amount = d.band(b, d.constant(width - 1));
  V r = zero;
  switch (op) {
    case AluOp::Add: r = d.add(a, b); break;
    case AluOp::Sub: r = d.sub(a, b); break;
    case AluOp::Mul: r = d.mul(a, b); break;
    case AluOp::Div: r = d.ite(d.eq(b, zero), zero, d.udiv(a, b)); break;
    case AluOp::SDiv: r = d.ite(d.eq(b, zero), zero, d.sdiv(sa, sb)); break;
    case AluOp::Mod: r = d.ite(d.eq(b, zero), a, d.urem(a, b)); break;
    case AluOp::SMod: r = d.ite(d.eq(b, zero), a, d.srem(sa, sb)); break;
    case AluOp::Or: r = d.bor(a, b); break;
    case AluOp::And: r = d.band(a, b); break;
    case AluOp::Xor: r = d.bxor(a, b); break;
    case AluOp::Lsh: r = d.shl(a, amount); break;
    case AluOp::Rsh: r = d.lshr(a, amount); break;
    case AluOp::Arsh: r = d.ashr(sa, amount); break;
    case AluOp::Neg: r = d.neg(a); break;
    case AluOp::Mov: r = b; break;
    case AluOp::MovSx8: r = d.sext(src, 8); break;
    case AluOp::MovSx16: r = d.sext(src, 16); break;
    case AluOp::MovSx32: r = d.sext(src, 32); break;
  }
  return is64 ? r : d.zext(r, 32);
}

// BPF_END on a little-endian machine: to_le truncates, to_be and bswap reverse the bytes.
template <class D>
typename D::Value endian_result(const D& d, ByteOrder order, unsigned bits, typename D::Value dst) {
  if (order == ByteOrder::ToLe) return bits == 64 ? dst : d.zext(dst, bits);
  return d.bswap(dst, bits);
}

// Whether a conditional jump is taken.
template <class D>
typename D::Bool condition(const D& d, Cond cond, bool is64, typename D::Value lhs, typename D::Value rhs) {
  const auto a = is64 ? lhs : d.zext(lhs, 32);
  const auto b = is64 ? rhs : d.zext(rhs, 32);
  const auto sa = is64 ? lhs : d.sext(lhs, 32);
  const auto sb = is64 ? rhs : d.sext(rhs, 32);
  switch (cond) {
    case Cond::Eq: return d.eq(a, b);
    case Cond::Ne: return d.lnot(d.eq(a, b));
    case Cond::Gt: return d.lnot(d.ule(a, b));
    case Cond::Ge: return d.lnot(d.ult(a, b));
    case Cond::Lt: return d.ult(a, b);
    case Cond::Le: return d.ule(a, b);
    case Cond::Sgt: return d.lnot(d.sle(sa, sb));
    case Cond::Sge: return d.lnot(d.slt(sa, sb));
    case Cond::Slt: return d.slt(sa, sb);
    case Cond::Sle: return d.sle(sa, sb);
    case Cond::Set: return d.lnot(d.eq(d.band(a, b), d.constant(0)));
  }
  return d.eq(a, b);
}

// The value an atomic read-modify-write (BPF_ATOMIC) leaves in memory, from the value there
// (`old`, zero-extended for 32-bit operations), the source register and, for CmpXchg, r0 (the
// caller reads r0 only for CmpXchg).
template <class D>
typename D::Value atomic_result(const D& d, AtomicOp op, bool is64, typename D::Value old, typename D::Value src,
                                typename D::Value r0) {
  switch (op) {
    case AtomicOp::Add: return alu_result(d, AluOp::Add, is64, old, src);
    case AtomicOp::Or: return alu_result(d, AluOp::Or, is64, old, src);
    case AtomicOp::And: return alu_result(d, AluOp::And, is64, old, src);
    case AtomicOp::Xor: return alu_result(d, AluOp::Xor, is64, old, src);
    case AtomicOp::Xchg: return is64 ? src : d.zext(src, 32);
    case AtomicOp::CmpXchg: return d.ite(condition(d, Cond::Eq, is64, old, r0), is64 ? src : d.zext(src, 32), old);
  }
  return old;
}

// The concrete domain: plain 64-bit integers, with SMT-LIB's total semantics and no undefined
// behaviour for any input.
struct ConcreteDomain {
  using Value = uint64_t;
  using Bool = bool;

  static constexpr Value constant(uint64_t v) { return v; }
  static constexpr Value add(Value a, Value b) { return a + b; }
  static constexpr Value sub(Value a, Value b) { return a - b; }
  static constexpr Value mul(Value a, Value b) { return a * b; }
  static constexpr Value udiv(Value a, Value b) { return b == 0 ? ~Value(0) : a / b; }
  static constexpr Value urem(Value a, Value b) { return b == 0 ? a : a % b; }
  static constexpr Value sdiv(Value a, Value b) {
    const auto sa = int64_t(a), sb = int64_t(b);
    if (sb == 0) return sa < 0 ? 1 : ~Value(0);
    if (sb == -1) return Value(0) - a;  // INT64_MIN / -1 wraps to INT64_MIN
    return Value(sa / sb);
  }
  static constexpr Value srem(Value a, Value b) {
    const auto sa = int64_t(a), sb = int64_t(b);
    if (sb == 0) return a;
    if (sb == -1) return 0;
    return Value(sa % sb);
  }
  static constexpr Value band(Value a, Value b) { return a & b; }
  static constexpr Value bor(Value a, Value b) { return a | b; }
  static constexpr Value bxor(Value a, Value b) { return a ^ b; }
  static constexpr Value shl(Value a, Value n) { return a << (n & 63); }
  static constexpr Value lshr(Value a, Value n) { return a >> (n & 63); }
  static constexpr Value ashr(Value a, Value n) { return Value(int64_t(a) >> (n & 63)); }
  static constexpr Value neg(Value a) { return Value(0) - a; }
  static constexpr Value zext(Value a, unsigned bits) { return bits >= 64 ? a : a & ((Value(1) << bits) - 1); }
  static constexpr Value sext(Value a, unsigned bits) {
    if (bits >= 64) return a;
    const unsigned shift = 64 - bits;
    return Value(int64_t(a << shift) >> shift);
  }
  static constexpr Value bswap(Value a, unsigned bits) {
    switch (bits) {
      case 16: return __builtin_bswap16(uint16_t(a));
      case 32: return __builtin_bswap32(uint32_t(a));
      default: return __builtin_bswap64(a);
    }
  }
  static constexpr Value ite(Bool c, Value a, Value b) { return c ? a : b; }
  static constexpr Bool eq(Value a, Value b) { return a == b; }
  static constexpr Bool ult(Value a, Value b) { return a < b; }
  static constexpr Bool ule(Value a, Value b) { return a <= b; }
  static constexpr Bool slt(Value a, Value b) { return int64_t(a) < int64_t(b); }
  static constexpr Bool sle(Value a, Value b) { return int64_t(a) <= int64_t(b); }
  static constexpr Bool lnot(Bool a) { return !a; }
};

}  // namespace tristate
