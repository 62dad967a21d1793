// Every instruction form of the ISA model through the interpreter, with expected values computed
// independently of Tristate's code (ALU, byte-swap and jump cases: from RFC 9669's definitions,
// with arbitrary-precision integers, once, and written here as literals; memory cases: by hand).
// The last test checks that together the cases cover every form the decoder produces, so a new
// form without a case fails here. Corner cases (INT_MIN / -1, shifts by >= width, division by
// zero, each sign extension) are in semantics_test.cpp.
#include <catch2/catch.hpp>
#include <set>
#include <tuple>

#include "compiler/asm.hpp"
#include "compiler/interpreter.hpp"

using namespace tristate;

namespace {

struct Case {
  const char* text;
  uint64_t r0;
};

// r0 = -17, src 5 (register or immediate) for every ALU operation, 64 and 32 bits; moves and
// sign-extending moves; byte swaps of 0x0102030405060708; each jump condition on (-3, 5),
// (5, 5) and (-3, 0x100000005) in 64 and 32 bits (r0 = 1 when taken, 2 when not).
const Case kComputed[] = {
    {"r0 = -17\nr1 = 5\nr0 += r1\nexit\n", 0xfffffffffffffff4ull},
    {"r0 = -17\nr0 += 5\nexit\n", 0xfffffffffffffff4ull},
    {"r0 = -17\nr1 = 5\nr0 -= r1\nexit\n", 0xffffffffffffffeaull},
    {"r0 = -17\nr0 -= 5\nexit\n", 0xffffffffffffffeaull},
    {"r0 = -17\nr1 = 5\nr0 *= r1\nexit\n", 0xffffffffffffffabull},
    {"r0 = -17\nr0 *= 5\nexit\n", 0xffffffffffffffabull},
    {"r0 = -17\nr1 = 5\nr0 /= r1\nexit\n", 0x333333333333332full},
    {"r0 = -17\nr0 /= 5\nexit\n", 0x333333333333332full},
    {"r0 = -17\nr1 = 5\nr0 s/= r1\nexit\n", 0xfffffffffffffffdull},
    {"r0 = -17\nr0 s/= 5\nexit\n", 0xfffffffffffffffdull},
    {"r0 = -17\nr1 = 5\nr0 %= r1\nexit\n", 0x4ull},
    {"r0 = -17\nr0 %= 5\nexit\n", 0x4ull},
    {"r0 = -17\nr1 = 5\nr0 s%= r1\nexit\n", 0xfffffffffffffffeull},
    {"r0 = -17\nr0 s%= 5\nexit\n", 0xfffffffffffffffeull},
    {"r0 = -17\nr1 = 5\nr0 |= r1\nexit\n", 0xffffffffffffffefull},
    {"r0 = -17\nr0 |= 5\nexit\n", 0xffffffffffffffefull},
    {"r0 = -17\nr1 = 5\nr0 &= r1\nexit\n", 0x5ull},
    {"r0 = -17\nr0 &= 5\nexit\n", 0x5ull},
    {"r0 = -17\nr1 = 5\nr0 ^= r1\nexit\n", 0xffffffffffffffeaull},
    {"r0 = -17\nr0 ^= 5\nexit\n", 0xffffffffffffffeaull},
    {"r0 = -17\nr1 = 5\nr0 <<= r1\nexit\n", 0xfffffffffffffde0ull},
    {"r0 = -17\nr0 <<= 5\nexit\n", 0xfffffffffffffde0ull},
    {"r0 = -17\nr1 = 5\nr0 >>= r1\nexit\n", 0x7ffffffffffffffull},
    {"r0 = -17\nr0 >>= 5\nexit\n", 0x7ffffffffffffffull},
    {"r0 = -17\nr1 = 5\nr0 s>>= r1\nexit\n", 0xffffffffffffffffull},
    {"r0 = -17\nr0 s>>= 5\nexit\n", 0xffffffffffffffffull},
    {"r0 = -17\nr0 = -r0\nexit\n", 0x11ull},
    {"r1 = -17\nr0 = r1\nexit\n", 0xffffffffffffffefull},
    {"r0 = -17\nexit\n", 0xffffffffffffffefull},
    {"r1 = 305432197\nr0 = (s8)r1\nexit\n", 0xffffffffffffff85ull},
    {"r1 = 305432197\nr0 = (s16)r1\nexit\n", 0xffffffffffff8685ull},
    {"r1 = 305432197\nr0 = (s32)r1\nexit\n", 0x12348685ull},
    {"r0 = -17\nr1 = 5\nw0 += w1\nexit\n", 0xfffffff4ull},
    {"r0 = -17\nw0 += 5\nexit\n", 0xfffffff4ull},
    {"r0 = -17\nr1 = 5\nw0 -= w1\nexit\n", 0xffffffeaull},
    {"r0 = -17\nw0 -= 5\nexit\n", 0xffffffeaull},
    {"r0 = -17\nr1 = 5\nw0 *= w1\nexit\n", 0xffffffabull},
    {"r0 = -17\nw0 *= 5\nexit\n", 0xffffffabull},
    {"r0 = -17\nr1 = 5\nw0 /= w1\nexit\n", 0x3333332full},
    {"r0 = -17\nw0 /= 5\nexit\n", 0x3333332full},
    {"r0 = -17\nr1 = 5\nw0 s/= w1\nexit\n", 0xfffffffdull},
    {"r0 = -17\nw0 s/= 5\nexit\n", 0xfffffffdull},
    {"r0 = -17\nr1 = 5\nw0 %= w1\nexit\n", 0x4ull},
    {"r0 = -17\nw0 %= 5\nexit\n", 0x4ull},
    {"r0 = -17\nr1 = 5\nw0 s%= w1\nexit\n", 0xfffffffeull},
    {"r0 = -17\nw0 s%= 5\nexit\n", 0xfffffffeull},
    {"r0 = -17\nr1 = 5\nw0 |= w1\nexit\n", 0xffffffefull},
    {"r0 = -17\nw0 |= 5\nexit\n", 0xffffffefull},
    {"r0 = -17\nr1 = 5\nw0 &= w1\nexit\n", 0x5ull},
    {"r0 = -17\nw0 &= 5\nexit\n", 0x5ull},
    {"r0 = -17\nr1 = 5\nw0 ^= w1\nexit\n", 0xffffffeaull},
    {"r0 = -17\nw0 ^= 5\nexit\n", 0xffffffeaull},
    {"r0 = -17\nr1 = 5\nw0 <<= w1\nexit\n", 0xfffffde0ull},
    {"r0 = -17\nw0 <<= 5\nexit\n", 0xfffffde0ull},
    {"r0 = -17\nr1 = 5\nw0 >>= w1\nexit\n", 0x7ffffffull},
    {"r0 = -17\nw0 >>= 5\nexit\n", 0x7ffffffull},
    {"r0 = -17\nr1 = 5\nw0 s>>= w1\nexit\n", 0xffffffffull},
    {"r0 = -17\nw0 s>>= 5\nexit\n", 0xffffffffull},
    {"r0 = -17\nw0 = -w0\nexit\n", 0x11ull},
    {"r1 = -17\nw0 = w1\nexit\n", 0xffffffefull},
    {"w0 = -17\nexit\n", 0xffffffefull},
    {"r1 = 305432197\nw0 = (s8)w1\nexit\n", 0xffffff85ull},
    {"r1 = 305432197\nw0 = (s16)w1\nexit\n", 0xffff8685ull},
    {"r0 = 0x102030405060708 ll\nr0 = le16 r0\nexit\n", 0x708ull},
    {"r0 = 0x102030405060708 ll\nr0 = be16 r0\nexit\n", 0x807ull},
    {"r0 = 0x102030405060708 ll\nr0 = bswap16 r0\nexit\n", 0x807ull},
    {"r0 = 0x102030405060708 ll\nr0 = le32 r0\nexit\n", 0x5060708ull},
    {"r0 = 0x102030405060708 ll\nr0 = be32 r0\nexit\n", 0x8070605ull},
    {"r0 = 0x102030405060708 ll\nr0 = bswap32 r0\nexit\n", 0x8070605ull},
    {"r0 = 0x102030405060708 ll\nr0 = le64 r0\nexit\n", 0x102030405060708ull},
    {"r0 = 0x102030405060708 ll\nr0 = be64 r0\nexit\n", 0x807060504030201ull},
    {"r0 = 0x102030405060708 ll\nr0 = bswap64 r0\nexit\n", 0x807060504030201ull},
    {"r1 = -3\nr0 = 1\nif r1 == 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 == r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif r1 == 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 == r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 == r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif r1 != 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 != r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif r1 != 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 != r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 != r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif r1 > 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 > r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif r1 > 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 > r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 > r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif r1 >= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 >= r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif r1 >= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 >= r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 >= r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif r1 < 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 < r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif r1 < 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 < r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 < r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif r1 <= 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 <= r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif r1 <= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 <= r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 <= r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif r1 & 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 & r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif r1 & 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 & r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 & r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif r1 s> 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 s> r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif r1 s> 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 s> r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 s> r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif r1 s>= 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 s>= r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif r1 s>= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 s>= r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 s>= r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif r1 s< 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 s< r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif r1 s< 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 s< r2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 s< r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif r1 s<= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif r1 s<= r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif r1 s<= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif r1 s<= r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif r1 s<= r2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif w1 == 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 == w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif w1 == 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 == w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 == w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif w1 != 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 != w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif w1 != 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 != w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 != w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif w1 > 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 > w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif w1 > 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 > w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 > w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif w1 >= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 >= w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif w1 >= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 >= w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 >= w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif w1 < 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 < w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif w1 < 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 < w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 < w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif w1 <= 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 <= w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif w1 <= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 <= w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 <= w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif w1 & 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 & w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif w1 & 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 & w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 & w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif w1 s> 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 s> w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif w1 s> 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 s> w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 s> w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif w1 s>= 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 s>= w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr0 = 1\nif w1 s>= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 s>= w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 s>= w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr0 = 1\nif w1 s< 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 s< w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif w1 s< 5 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 s< w2 goto +1\nr0 = 2\nexit\n", 0x2ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 s< w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr0 = 1\nif w1 s<= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 5 ll\nr0 = 1\nif w1 s<= w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr0 = 1\nif w1 s<= 5 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = 5\nr2 = 5 ll\nr0 = 1\nif w1 s<= w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
    {"r1 = -3\nr2 = 4294967301 ll\nr0 = 1\nif w1 s<= w2 goto +1\nr0 = 2\nexit\n", 0x1ull},
};

// Loads, stores, atomics, calls, exits, LD_IMM64, gotol and may_goto, checked by hand. The stack
// slot at fp-8 holds 0x8877665544332211 where a case starts with kSlot.
#define SLOT "r1 = 0x8877665544332211 ll\n*(u64 *)(r10 - 8) = r1\n"
const Case kMemory[] = {
    {SLOT "r0 = *(u8 *)(r10 - 8)\nexit\n", 0x11},
    {SLOT "r0 = *(u16 *)(r10 - 8)\nexit\n", 0x2211},
    {SLOT "r0 = *(u32 *)(r10 - 8)\nexit\n", 0x44332211},
    {SLOT "r0 = *(u64 *)(r10 - 8)\nexit\n", 0x8877665544332211},
    {SLOT "r0 = *(s8 *)(r10 - 1)\nexit\n", 0xffffffffffffff88},
    {SLOT "r0 = *(s16 *)(r10 - 2)\nexit\n", 0xffffffffffff8877},
    {SLOT "r0 = *(s32 *)(r10 - 4)\nexit\n", 0xffffffff88776655},
    {SLOT "r0 = load_acquire((u8 *)(r10 - 8))\nexit\n", 0x11},
    {SLOT "r0 = load_acquire((u16 *)(r10 - 8))\nexit\n", 0x2211},
    {SLOT "r0 = load_acquire((u32 *)(r10 - 8))\nexit\n", 0x44332211},
    {SLOT "r0 = load_acquire((u64 *)(r10 - 8))\nexit\n", 0x8877665544332211},
    {SLOT "*(u8 *)(r10 - 8) = 0xaa\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322aa},
    {SLOT "*(u16 *)(r10 - 8) = -2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x887766554433fffe},
    {SLOT "*(u32 *)(r10 - 8) = -2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655fffffffe},
    {SLOT "*(u64 *)(r10 - 8) = -2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0xfffffffffffffffe},
    {SLOT "r2 = 0xaabb\n*(u8 *)(r10 - 8) = r2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322bb},
    {SLOT "r2 = 0xaabb\n*(u16 *)(r10 - 8) = r2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x887766554433aabb},
    {SLOT "r2 = 0xaabb\n*(u32 *)(r10 - 8) = r2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x887766550000aabb},
    {SLOT "r2 = 0xaabb\n*(u64 *)(r10 - 8) = r2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0xaabb},
    {SLOT "r2 = 0xaabb\nstore_release((u8 *)(r10 - 8), w2)\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322bb},
    {SLOT "r2 = 0xaabb\nstore_release((u16 *)(r10 - 8), w2)\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x887766554433aabb},
    {SLOT "r2 = 0xaabb\nstore_release((u32 *)(r10 - 8), w2)\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x887766550000aabb},
    {SLOT "r2 = 0xaabb\nstore_release((u64 *)(r10 - 8), r2)\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0xaabb},
    // atomics on the low word (0x44332211) and the whole slot, plain and fetching
    {SLOT "r2 = 0xf0\nlock *(u32 *)(r10 - 8) += w2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x8877665544332301},
    {SLOT "r2 = 0xf0\nlock *(u32 *)(r10 - 8) |= w2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322f1},
    {SLOT "r2 = 0xf0\nlock *(u32 *)(r10 - 8) &= w2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x8877665500000010},
    {SLOT "r2 = 0xf0\nlock *(u32 *)(r10 - 8) ^= w2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322e1},
    {SLOT "r2 = 0xf0\nlock *(u64 *)(r10 - 8) += r2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x8877665544332301},
    {SLOT "r2 = 0xf0\nlock *(u64 *)(r10 - 8) |= r2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322f1},
    {SLOT "r2 = 0xf0\nlock *(u64 *)(r10 - 8) &= r2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x10},
    {SLOT "r2 = 0xf0\nlock *(u64 *)(r10 - 8) ^= r2\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322e1},
    {SLOT "r2 = 0xf0\nw2 = atomic_fetch_add((u32 *)(r10 - 8), w2)\nr0 = *(u64 *)(r10 - 8)\nr0 ^= r2\nexit\n", 0x8877665500000110},
    {SLOT "r2 = 0xf0\nw2 = atomic_fetch_or((u32 *)(r10 - 8), w2)\nr0 = r2\nexit\n", 0x44332211},
    {SLOT "r2 = 0xf0\nw2 = atomic_fetch_and((u32 *)(r10 - 8), w2)\nr0 = *(u32 *)(r10 - 8)\nexit\n", 0x10},
    {SLOT "r2 = 0xf0\nw2 = atomic_fetch_xor((u32 *)(r10 - 8), w2)\nr0 = r2\nexit\n", 0x44332211},
    {SLOT "r2 = 0xf0\nr2 = atomic_fetch_add((u64 *)(r10 - 8), r2)\nr0 = r2\nexit\n", 0x8877665544332211},
    {SLOT "r2 = 0xf0\nr2 = atomic_fetch_or((u64 *)(r10 - 8), r2)\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322f1},
    {SLOT "r2 = 0xf0\nr2 = atomic_fetch_and((u64 *)(r10 - 8), r2)\nr0 = r2\nexit\n", 0x8877665544332211},
    {SLOT "r2 = 0xf0\nr2 = atomic_fetch_xor((u64 *)(r10 - 8), r2)\nr0 = *(u64 *)(r10 - 8)\nexit\n", 0x88776655443322e1},
    {SLOT "r2 = 7\nw2 = xchg32_32(r10 - 8, w2)\nr0 = *(u64 *)(r10 - 8)\nr0 += r2\nexit\n", 0x8877665544332218},
    {SLOT "r2 = 7\nr2 = xchg_64(r10 - 8, r2)\nr0 = *(u64 *)(r10 - 8)\nr0 += r2\nexit\n", 0x8877665544332218},
    // cmpxchg: equal to r0 -> stores; r0 becomes the old value either way
    {SLOT "r0 = 0x44332211\nr2 = 9\nw0 = cmpxchg32_32(r10 - 8, w0, w2)\nr1 = *(u64 *)(r10 - 8)\nr0 += r1\nexit\n", 0x887766554433221a},
    {SLOT "r0 = 1\nr2 = 9\nr0 = cmpxchg_64(r10 - 8, r0, r2)\nr1 = *(u64 *)(r10 - 8)\nr0 -= r1\nexit\n", 0},
    // LD_IMM64, gotol, a bpf-to-bpf call, may_goto's budget
    {"r0 = 0x123456789abcdef0 ll\nexit\n", 0x123456789abcdef0},
    {"r0 = 1\ngotol +1\nr0 = 2\nexit\n", 1},
    {"r1 = 20\ncall pc+2\nr0 += 1\nexit\nr0 = r1\nexit\n", 21},
};

// may_goto falls through while its budget lasts (BPF_MAX_LOOPS, 8M per call frame), then jumps.
const char* kMayGotoLoop = "r0 = 0\nmay_goto +2\nr0 += 1\ngoto -3\nexit\n";
#undef SLOT

uint64_t run(const char* text) {
  const RunResult r = Interpreter(assemble(text)).run();
  INFO(text);
  INFO((r.fault ? r.fault->reason : ""));
  REQUIRE(!r.fault);
  return r.r0;
}

// What distinguishes one instruction form from another in the decoded view.
using Form = std::tuple<int, int, int, int, int>;
Form form_of(const Decoded& d) {
  struct V {
    Form operator()(const Alu& a) const { return {0, a.is64, int(a.op), a.src.is_reg, 0}; }
    Form operator()(const Endian& e) const { return {1, int(e.order), e.bits, 0, 0}; }
    Form operator()(const AddrSpaceCast&) const { return {2, 0, 0, 0, 0}; }
    Form operator()(const Jmp& j) const { return {3, j.is64, int(j.cond), j.src.is_reg, 0}; }
    Form operator()(const Ja& j) const { return {4, j.is_long, 0, 0, 0}; }
    Form operator()(const MayGoto&) const { return {5, 0, 0, 0, 0}; }
    Form operator()(const Load& l) const { return {6, int(l.width), l.sign_extend, l.acquire, 0}; }
    Form operator()(const Store& s) const { return {7, int(s.width), s.release, s.src.is_reg, 0}; }
    Form operator()(const Atomic& a) const { return {8, int(a.width), int(a.op), a.fetch, 0}; }
    Form operator()(const Call& c) const { return {9, int(c.kind), 0, 0, 0}; }
    Form operator()(const Exit&) const { return {10, 0, 0, 0, 0}; }
    Form operator()(const LdImm64& l) const { return {11, l.pseudo, 0, 0, 0}; }
    Form operator()(const PacketLoad& p) const { return {12, p.indirect, int(p.width), 0, 0}; }
  };
  return std::visit(V{}, d);
}

void collect(const std::vector<Insn>& insns, std::set<Form>& forms) {
  for (const auto& [pc, d] : decode_program(insns)) forms.insert(form_of(d));
}

}  // namespace

TEST_CASE("ALU, byte swap and jump instructions compute the independently computed values", "[interpreter][opcodes]") {
  for (const Case& c : kComputed) CHECK(run(c.text) == c.r0);
}

TEST_CASE("memory, atomic, call and control instructions compute the hand-checked values", "[interpreter][opcodes]") {
  for (const Case& c : kMemory) CHECK(run(c.text) == c.r0);
  const RunResult r = Interpreter(assemble(kMayGotoLoop)).run(0, RunLimits{40'000'000});
  REQUIRE(!r.fault);
  CHECK(r.r0 == 8 * 1024 * 1024);
}

TEST_CASE("LD_ABS and LD_IND read big-endian packet bytes, every width", "[interpreter][opcodes]") {
  std::vector<uint8_t> packet(64);
  for (std::size_t i = 0; i < packet.size(); ++i) packet[i] = uint8_t(0x10 + i);
  packet[12] = 0x08;
  packet[13] = 0x06;  // ARP: no IPv4 length rules
  const auto run_sf = [&](const char* text) {
    const PacketResult r = Interpreter(assemble(text), 1 /*socket filter*/).run(0, RunInput{packet, {}});
    INFO(text);
    REQUIRE(!r.fault);
    return r.r0;
  };
  // A socket filter's skb->data is past the Ethernet header: offset 0 is packet[14] = 0x1e.
  CHECK(run_sf("r6 = r1\nr0 = *(u8 *)skb[0]\nexit\n") == 0x1e);
  CHECK(run_sf("r6 = r1\nr0 = *(u16 *)skb[0]\nexit\n") == 0x1e1f);
  CHECK(run_sf("r6 = r1\nr0 = *(u32 *)skb[0]\nexit\n") == 0x1e1f2021);
  CHECK(run_sf("r6 = r1\nr7 = 2\nr0 = *(u8 *)skb[r7 + 1]\nexit\n") == 0x21);
  CHECK(run_sf("r6 = r1\nr7 = 2\nr0 = *(u16 *)skb[r7 + 1]\nexit\n") == 0x2122);
  CHECK(run_sf("r6 = r1\nr7 = 2\nr0 = *(u32 *)skb[r7 + 1]\nexit\n") == 0x21222324);
}

TEST_CASE("the cases above cover every instruction form the decoder produces", "[interpreter][opcodes]") {
  std::set<Form> covered;
  for (const Case& c : kComputed) collect(assemble(c.text), covered);
  for (const Case& c : kMemory) collect(assemble(c.text), covered);
  collect(assemble(kMayGotoLoop), covered);
  for (const char* t : {"r0 = *(u8 *)skb[0]\nexit\n", "r0 = *(u16 *)skb[0]\nexit\n", "r0 = *(u32 *)skb[0]\nexit\n",
                        "r0 = *(u8 *)skb[r7 + 1]\nexit\n", "r0 = *(u16 *)skb[r7 + 1]\nexit\n",
                        "r0 = *(u32 *)skb[r7 + 1]\nexit\n", "call 5\nexit\n"})
    collect(assemble(t), covered);

  std::set<Form> all;
  const AluOp ops[] = {AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::Div, AluOp::SDiv, AluOp::Or, AluOp::And,
                       AluOp::Lsh, AluOp::Rsh, AluOp::Neg, AluOp::Mod, AluOp::SMod, AluOp::Xor, AluOp::Mov,
                       AluOp::MovSx8, AluOp::MovSx16, AluOp::MovSx32, AluOp::Arsh};
  for (bool is64 : {false, true})
    for (AluOp op : ops)
      for (bool is_reg : {false, true}) {
        if (op == AluOp::Neg && is_reg) continue;  // NEG has no register operand
        const bool movsx = op == AluOp::MovSx8 || op == AluOp::MovSx16 || op == AluOp::MovSx32;
        if (movsx && (!is_reg || (op == AluOp::MovSx32 && !is64))) continue;
        all.insert({0, is64, int(op), is_reg, 0});
      }
  for (int order : {0, 1, 2})
    for (int bits : {16, 32, 64}) all.insert({1, order, bits, 0, 0});
  for (bool is64 : {false, true})
    for (int cond = 0; cond <= int(Cond::Sle); ++cond)
      for (bool is_reg : {false, true}) all.insert({3, is64, cond, is_reg, 0});
  all.insert({4, false, 0, 0, 0});
  all.insert({4, true, 0, 0, 0});
  all.insert({5, 0, 0, 0, 0});
  for (Width w : {Width::B, Width::H, Width::W, Width::DW}) {
    all.insert({6, int(w), false, false, 0});
    all.insert({6, int(w), false, true, 0});
    if (w != Width::DW) all.insert({6, int(w), true, false, 0});
    all.insert({7, int(w), false, false, 0});
    all.insert({7, int(w), false, true, 0});
    all.insert({7, int(w), true, true, 0});
  }
  for (Width w : {Width::W, Width::DW}) {
    for (AtomicOp op : {AtomicOp::Add, AtomicOp::Or, AtomicOp::And, AtomicOp::Xor})
      for (bool fetch : {false, true}) all.insert({8, int(w), int(op), fetch, 0});
    all.insert({8, int(w), int(AtomicOp::Xchg), true, 0});
    all.insert({8, int(w), int(AtomicOp::CmpXchg), true, 0});
  }
  all.insert({9, int(CallKind::Helper), 0, 0, 0});
  all.insert({9, int(CallKind::Local), 0, 0, 0});
  all.insert({10, 0, 0, 0, 0});
  all.insert({11, 0, 0, 0, 0});
  for (bool indirect : {false, true})
    for (Width w : {Width::B, Width::H, Width::W}) all.insert({12, indirect, int(w), 0, 0});
  // Not run by these cases, on purpose: addr_space_cast (arena programs; the interpreter refuses
  // it with a fault), kfunc calls, and LD_IMM64 of maps and functions (their own tests).
  for (const Form& f : all) {
    INFO("form (" << std::get<0>(f) << ", " << std::get<1>(f) << ", " << std::get<2>(f) << ", " << std::get<3>(f) << ")");
    CHECK(covered.count(f) == 1);
  }
  CHECK(covered.size() >= all.size());
}
