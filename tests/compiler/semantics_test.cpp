// Hand-checked values for every ALU, byte-swap and jump operation on the concrete domain,
// including the corner cases: INT_MIN / -1, shifts by the width or more, division and modulo by
// zero, 32-bit wrap and zero extension, sign extension of each width.
#include "compiler/semantics.hpp"

#include <catch2/catch.hpp>

using namespace tristate;

namespace {

constexpr ConcreteDomain d;
constexpr uint64_t kI64Min = 0x8000000000000000ull;
constexpr uint64_t kAll = ~0ull;

uint64_t alu64(AluOp op, uint64_t dst, uint64_t src) { return alu_result(d, op, true, dst, src); }
uint64_t alu32(AluOp op, uint64_t dst, uint64_t src) { return alu_result(d, op, false, dst, src); }
bool jmp64(Cond c, uint64_t a, uint64_t b) { return condition(d, c, true, a, b); }
bool jmp32(Cond c, uint64_t a, uint64_t b) { return condition(d, c, false, a, b); }

}  // namespace

TEST_CASE("64-bit arithmetic wraps", "[semantics]") {
  CHECK(alu64(AluOp::Add, kAll, 2) == 1);
  CHECK(alu64(AluOp::Sub, 0, 1) == kAll);
  CHECK(alu64(AluOp::Mul, 0x100000000ull, 0x100000000ull) == 0);
  CHECK(alu64(AluOp::Mul, kAll, kAll) == 1);
  CHECK(alu64(AluOp::Neg, 5, 0) == uint64_t(-5));
  CHECK(alu64(AluOp::Neg, kI64Min, 0) == kI64Min);
  CHECK(alu64(AluOp::Or, 0xf0, 0x0f) == 0xff);
  CHECK(alu64(AluOp::And, 0xf0, 0x3c) == 0x30);
  CHECK(alu64(AluOp::Xor, 0xff, 0x0f) == 0xf0);
  CHECK(alu64(AluOp::Mov, 123, 456) == 456);
}

TEST_CASE("32-bit arithmetic wraps at 32 bits and zero-extends", "[semantics]") {
  CHECK(alu32(AluOp::Add, 0xffffffffull, 1) == 0);
  CHECK(alu32(AluOp::Add, 0xdeadbeef00000001ull, 1) == 2);  // high half of dst ignored
  CHECK(alu32(AluOp::Sub, 0, 1) == 0xffffffffull);
  CHECK(alu32(AluOp::Mul, 0x10000, 0x10000) == 0);
  CHECK(alu32(AluOp::Neg, 1, 0) == 0xffffffffull);
  CHECK(alu32(AluOp::Mov, 0, 0x123456789ull) == 0x23456789ull);
  CHECK(alu32(AluOp::Xor, kAll, 0) == 0xffffffffull);
  CHECK(alu32(AluOp::Or, 0xaaaaaaaa00000000ull, 1) == 1);
}

TEST_CASE("unsigned division and modulo, including by zero", "[semantics]") {
  CHECK(alu64(AluOp::Div, 100, 7) == 14);
  CHECK(alu64(AluOp::Mod, 100, 7) == 2);
  CHECK(alu64(AluOp::Div, kAll, 2) == 0x7fffffffffffffffull);
  CHECK(alu64(AluOp::Div, 100, 0) == 0);      // BPF: x / 0 == 0
  CHECK(alu64(AluOp::Mod, 100, 0) == 100);    // BPF: x % 0 == x
  CHECK(alu32(AluOp::Div, 0x1ffffffffull, 2) == 0x7fffffffull);
  CHECK(alu32(AluOp::Div, 7, 0x100000000ull) == 0);  // divisor's low half is 0
  CHECK(alu32(AluOp::Mod, 0x1234567800000009ull, 0) == 9);  // dst truncated, then kept
  CHECK(alu32(AluOp::Mod, 10, 0x100000003ull) == 1);
}

TEST_CASE("signed division and modulo, INT_MIN / -1 and by zero", "[semantics]") {
  CHECK(alu64(AluOp::SDiv, uint64_t(-7), 2) == uint64_t(-3));  // truncates toward zero
  CHECK(alu64(AluOp::SMod, uint64_t(-7), 2) == uint64_t(-1));  // sign of the dividend
  CHECK(alu64(AluOp::SMod, 7, uint64_t(-2)) == 1);
  CHECK(alu64(AluOp::SDiv, kI64Min, kAll) == kI64Min);
  CHECK(alu64(AluOp::SMod, kI64Min, kAll) == 0);
  CHECK(alu64(AluOp::SDiv, uint64_t(-5), 0) == 0);
  CHECK(alu64(AluOp::SMod, uint64_t(-5), 0) == uint64_t(-5));
  CHECK(alu32(AluOp::SDiv, 0x80000000ull, 0xffffffffull) == 0x80000000ull);
  CHECK(alu32(AluOp::SMod, 0x80000000ull, 0xffffffffull) == 0);
  CHECK(alu32(AluOp::SDiv, 0xfffffff9ull, 2) == 0xfffffffdull);  // -7 / 2 == -3
  CHECK(alu32(AluOp::SMod, 0xfffffff9ull, 2) == 0xffffffffull);  // -7 % 2 == -1
  CHECK(alu32(AluOp::SDiv, 0xfffffff9ull, 0) == 0);
  CHECK(alu32(AluOp::SMod, 0xabcdef01fffffff9ull, 0) == 0xfffffff9ull);
}

TEST_CASE("shifts mask their amount to the width", "[semantics]") {
  CHECK(alu64(AluOp::Lsh, 1, 63) == kI64Min);
  CHECK(alu64(AluOp::Lsh, 1, 64) == 1);   // 64 & 63 == 0
  CHECK(alu64(AluOp::Lsh, 1, 65) == 2);
  CHECK(alu64(AluOp::Rsh, kI64Min, 63) == 1);
  CHECK(alu64(AluOp::Rsh, kI64Min, 127) == 1);
  CHECK(alu64(AluOp::Arsh, kI64Min, 63) == kAll);
  CHECK(alu64(AluOp::Arsh, 0x4000000000000000ull, 62) == 1);
  CHECK(alu32(AluOp::Lsh, 1, 31) == 0x80000000ull);
  CHECK(alu32(AluOp::Lsh, 1, 32) == 1);    // 32 & 31 == 0
  CHECK(alu32(AluOp::Lsh, 3, 33) == 6);
  CHECK(alu32(AluOp::Rsh, 0xffffffff00000000ull, 1) == 0);  // high half is not shifted in
  CHECK(alu32(AluOp::Arsh, 0x80000000ull, 31) == 0xffffffffull);
  CHECK(alu32(AluOp::Arsh, 0x80000000ull, 63) == 0xffffffffull);  // 63 & 31 == 31
  CHECK(alu32(AluOp::Arsh, 0x1234567840000000ull, 30) == 1);
}

TEST_CASE("sign extension of each width", "[semantics]") {
  CHECK(alu64(AluOp::MovSx8, 0, 0x80) == 0xffffffffffffff80ull);
  CHECK(alu64(AluOp::MovSx8, 0, 0x17f) == 0x7f);
  CHECK(alu64(AluOp::MovSx16, 0, 0x8000) == 0xffffffffffff8000ull);
  CHECK(alu64(AluOp::MovSx16, 0, 0x12347fff) == 0x7fff);
  CHECK(alu64(AluOp::MovSx32, 0, 0x80000000ull) == 0xffffffff80000000ull);
  CHECK(alu64(AluOp::MovSx32, 0, 0xffffffff7fffffffull) == 0x7fffffffull);
  CHECK(alu32(AluOp::MovSx8, 0, 0xff) == 0xffffffffull);  // w = (s8)w: sign-extended to 32 only
  CHECK(alu32(AluOp::MovSx16, 0, 0x8001) == 0xffff8001ull);
  CHECK(imm_value(d, -1) == kAll);  // immediates are sign-extended
  CHECK(imm_value(d, 0x7fffffff) == 0x7fffffffull);
}

TEST_CASE("byte order conversions", "[semantics]") {
  const uint64_t v = 0x1122334455667788ull;
  CHECK(endian_result(d, ByteOrder::ToLe, 16, v) == 0x7788);
  CHECK(endian_result(d, ByteOrder::ToLe, 32, v) == 0x55667788);
  CHECK(endian_result(d, ByteOrder::ToLe, 64, v) == v);
  CHECK(endian_result(d, ByteOrder::ToBe, 16, v) == 0x8877);
  CHECK(endian_result(d, ByteOrder::ToBe, 32, v) == 0x88776655);
  CHECK(endian_result(d, ByteOrder::ToBe, 64, v) == 0x8877665544332211ull);
  CHECK(endian_result(d, ByteOrder::Swap, 16, v) == 0x8877);
  CHECK(endian_result(d, ByteOrder::Swap, 32, v) == 0x88776655);
  CHECK(endian_result(d, ByteOrder::Swap, 64, v) == 0x8877665544332211ull);
}

TEST_CASE("jump conditions, 64 and 32 bits, signed and unsigned", "[semantics]") {
  CHECK(jmp64(Cond::Eq, 5, 5));
  CHECK_FALSE(jmp64(Cond::Eq, 5, 0x100000005ull));
  CHECK(jmp32(Cond::Eq, 5, 0x100000005ull));  // only the low halves compare
  CHECK(jmp64(Cond::Ne, 1, 2));
  CHECK(jmp64(Cond::Gt, kAll, 1));
  CHECK_FALSE(jmp64(Cond::Sgt, kAll, 1));  // -1 > 1 is false when signed
  CHECK(jmp64(Cond::Ge, 3, 3));
  CHECK(jmp64(Cond::Lt, 1, kAll));
  CHECK(jmp64(Cond::Le, 3, 3));
  CHECK(jmp64(Cond::Slt, kAll, 0));
  CHECK(jmp64(Cond::Sle, kI64Min, kI64Min));
  CHECK(jmp64(Cond::Sge, 0, kI64Min));
  CHECK(jmp64(Cond::Set, 0x10, 0x30));
  CHECK_FALSE(jmp64(Cond::Set, 0x100000000ull, 0xffffffffull));
  CHECK_FALSE(jmp32(Cond::Set, 0x100000000ull, 0x100000000ull));
  CHECK(jmp32(Cond::Slt, 0x80000000ull, 0));            // INT32_MIN < 0
  CHECK_FALSE(jmp64(Cond::Slt, 0x80000000ull, 0));      // but 2^31 > 0 on 64 bits
  CHECK(jmp32(Cond::Gt, 0x80000000ull, 0x7fffffffull));
  CHECK(jmp32(Cond::Sgt, 0x7fffffffull, 0xffffffff80000000ull));
  CHECK(jmp32(Cond::Sle, 0xffffffffull, 0));             // -1 <= 0
  CHECK(jmp32(Cond::Sge, 0, 0xffffffffull));
  CHECK(jmp32(Cond::Lt, 0x1ffffffffull, 0x200000000ull) == false);  // 0xffffffff < 0
}

TEST_CASE("the concrete domain has total division like SMT-LIB", "[semantics]") {
  CHECK(ConcreteDomain::udiv(5, 0) == kAll);
  CHECK(ConcreteDomain::urem(5, 0) == 5);
  CHECK(ConcreteDomain::sdiv(5, 0) == kAll);
  CHECK(ConcreteDomain::sdiv(uint64_t(-5), 0) == 1);
  CHECK(ConcreteDomain::srem(uint64_t(-5), 0) == uint64_t(-5));
  CHECK(ConcreteDomain::sdiv(kI64Min, kAll) == kI64Min);
  CHECK(ConcreteDomain::srem(kI64Min, kAll) == 0);
}
