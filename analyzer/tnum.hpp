// Tristate numbers (tnums): the kernel verifier's domain of known bits. A tnum (value; mask)
// stands for every 64-bit x with x & ~mask == value: a set mask bit is unknown, a clear one is
// known and equal to the value bit (value & mask == 0 in every well-formed tnum).
//
// Every operator the Linux 6.18 verifier uses, with the kernel's names and results, written as
// templates over a bit-vector type (DESIGN.md, "One semantics, two interpretations"): the
// analyzer runs them on uint64_t, the proofs instantiate the very same code with a Z3 bit-vector.
// Each operator is written from its published description, cited next to it:
//   [CGO22]  Vishwanathan, Shachnai, Narayana, Nagarakatte, "Sound, Precise, and Fast Abstract
//            Interpretation with Tristate Numbers", CGO 2022 (arXiv:2105.05398).
//   [KDOC]   the comments of the kernel's include/linux/tnum.h and kernel/bpf/tnum.c.
//   [MUL618] Nandakumar Edamana, "bpf: Improve the general precision of tnum_mul" (Aug 2025,
//            commit 1df7dad4, first released in 6.18), its v2..v4 review thread on the bpf list and
//            github.com/nandedamana/improved-tnum-mul.
//   [STEP]   "bpf: Introduce tnum_step to step through tnum's members" (Vishwanathan et al., 2026)
//            and Hao Sun's straight-line reformulation "bpf: Simplify tnum_step()" (Mar 2026).
//   [BSWAP]  "bpf: Add bitwise tracking for BPF_END" (tnum_bswap16/32/64).
// [STEP] and [BSWAP] postdate 6.18 as far as we could find; they are here because the analyzer
// mirrors them too.
//
// Operators are branch-free where the kernel branches on data (selection by all-ones/all-zeros
// masks), so the symbolic instantiation needs no if-then-else; the multiplications run a loop of
// exactly `width` steps (the concrete instantiation stops early once the remaining multiplier is
// zero, which changes nothing: a zero multiplier bit adds nothing).
#pragma once

#include <concepts>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace tristate {

// What a bit-vector type provides besides the C++ operators & | ^ ~ + - * and << >> by an
// unsigned amount below the width (>> is the logical shift). Specialised per type.
template <class V>
struct BvTraits;

template <>
struct BvTraits<uint64_t> {
  using Bool = bool;
  static constexpr bool concrete = true;
  static constexpr unsigned width(uint64_t) { return 64; }
  // The constant c as a value of the same type (and, symbolically, the same context) as `like`.
  static constexpr uint64_t constant(uint64_t /*like*/, uint64_t c) { return c; }
  static constexpr uint64_t ashr(uint64_t a, unsigned n) { return uint64_t(int64_t(a) >> n); }
  static constexpr bool is_zero(uint64_t a) { return a == 0; }
  // All ones when the unsigned product a * b fits in the width, else zero.
  static constexpr uint64_t mul_fits(uint64_t a, uint64_t b) {
    uint64_t product;
    return __builtin_mul_overflow(a, b, &product) ? 0 : ~uint64_t{0};
  }
};

template <class V>
concept BitVector = requires(V a, V b, unsigned n, uint64_t c) {
  { a & b } -> std::convertible_to<V>;
  { a | b } -> std::convertible_to<V>;
  { a ^ b } -> std::convertible_to<V>;
  { ~a } -> std::convertible_to<V>;
  { a + b } -> std::convertible_to<V>;
  { a - b } -> std::convertible_to<V>;
  { a * b } -> std::convertible_to<V>;
  { a << n } -> std::convertible_to<V>;
  { a >> n } -> std::convertible_to<V>;
  { BvTraits<V>::width(a) } -> std::convertible_to<unsigned>;
  { BvTraits<V>::constant(a, c) } -> std::convertible_to<V>;
  { BvTraits<V>::ashr(a, n) } -> std::convertible_to<V>;
  { BvTraits<V>::is_zero(a) } -> std::convertible_to<typename BvTraits<V>::Bool>;
  { BvTraits<V>::mul_fits(a, b) } -> std::convertible_to<V>;
};

template <BitVector V>
struct BasicTnum {
  V value;
  V mask;
  // Only usable where V == V is a bool (uint64_t); symbolic types compare with tnum_equal.
  bool operator==(const BasicTnum&) const = default;
};

using Tnum = BasicTnum<uint64_t>;

namespace tnum_detail {

template <BitVector V>
V k(const V& like, uint64_t c) {
  return BvTraits<V>::constant(like, c);
}

// All ones where bit 0 of x is set, else all zeros.
template <BitVector V>
V lsb_fill(const V& x) {
  return k(x, 0) - (x & k(x, 1));
}

// Every bit at or below the highest set bit of x: (1 << fls64(x)) - 1, all ones when bit 63 is
// set, without a branch or a shift by 64.
template <BitVector V>
V smear_right(V x) {
  for (unsigned s = 1; s < BvTraits<V>::width(x); s <<= 1) x = x | (x >> s);
  return x;
}

// Per bit: where `sel` is 1, a; else b.
template <BitVector V>
BasicTnum<V> select(const V& sel, const BasicTnum<V>& a, const BasicTnum<V>& b) {
  return {(a.value & sel) | (b.value & ~sel), (a.mask & sel) | (b.mask & ~sel)};
}

template <BitVector V>
V bswap16(const V& x) {
  return ((x & k(x, 0xff)) << 8) | ((x >> 8) & k(x, 0xff));
}

template <BitVector V>
V bswap32(const V& x) {
  return ((x & k(x, 0xff)) << 24) | ((x & k(x, 0xff00)) << 8) | ((x >> 8) & k(x, 0xff00)) |
         ((x >> 24) & k(x, 0xff));
}

template <BitVector V>
V bswap64(V x) {
  x = ((x >> 8) & k(x, 0x00ff00ff00ff00ffull)) | ((x & k(x, 0x00ff00ff00ff00ffull)) << 8);
  x = ((x >> 16) & k(x, 0x0000ffff0000ffffull)) | ((x & k(x, 0x0000ffff0000ffffull)) << 16);
  return (x >> 32) | (x << 32);
}

}  // namespace tnum_detail

// ---- Construction -------------------------------------------------------------------------

template <BitVector V>
BasicTnum<V> tnum_const(const V& value) {
  return {value, tnum_detail::k(value, 0)};
}

template <BitVector V>
BasicTnum<V> tnum_unknown(const V& like) {
  return {tnum_detail::k(like, 0), tnum_detail::k(like, ~0ull)};
}

// The smallest tnum holding [min, max] that the kernel builds: every bit from the highest bit in
// which min and max differ downwards is unknown, the bits above are min's ([KDOC] tnum_range;
// fls64 of min ^ max, the whole word unknown when they differ in bit 63).
template <BitVector V>
BasicTnum<V> tnum_range(const V& min, const V& max) {
  const V delta = tnum_detail::smear_right(min ^ max);
  return {min & ~delta, delta};
}

// ---- Shifts (the amount is a constant below the operand width, as the verifier calls them) --

template <BitVector V>
BasicTnum<V> tnum_lshift(const BasicTnum<V>& a, unsigned shift) {
  return {a.value << shift, a.mask << shift};
}

template <BitVector V>
BasicTnum<V> tnum_rshift(const BasicTnum<V>& a, unsigned shift) {
  return {a.value >> shift, a.mask >> shift};
}

// Arithmetic shift by the smallest possible amount, on a 64- or 32-bit operand ([KDOC]
// tnum_arshift(a, min_shift, insn_bitness)): a sign-extended mask makes the copies of an unknown
// sign bit unknown. The 32-bit form shifts the sign-extended low half and zero-extends the result.
template <BitVector V>
BasicTnum<V> tnum_arshift(const BasicTnum<V>& a, unsigned min_shift, unsigned insn_bitness) {
  using T = BvTraits<V>;
  if (insn_bitness == 32) {
    const V low = tnum_detail::k(a.value, 0xffffffffull);
    return {T::ashr(a.value << 32, 32 + min_shift) & low, T::ashr(a.mask << 32, 32 + min_shift) & low};
  }
  return {T::ashr(a.value, min_shift), T::ashr(a.mask, min_shift)};
}

// ---- Arithmetic ---------------------------------------------------------------------------

// [CGO22] tnum_add: add the minimum members and the maximum members; a bit is unknown where the
// two sums differ (a carry may or may not reach it) or where either operand is unknown.
template <BitVector V>
BasicTnum<V> tnum_add(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V sum_values = a.value + b.value;
  const V sum_max = sum_values + (a.mask + b.mask);
  const V unknown = (sum_max ^ sum_values) | a.mask | b.mask;
  return {sum_values & ~unknown, unknown};
}

// [CGO22] tnum_sub: the largest and the smallest differences (min(a) - max(b) and max(a) - min(b),
// both taken from value(a) - value(b)) disagree wherever a borrow may or may not reach.
template <BitVector V>
BasicTnum<V> tnum_sub(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V diff = a.value - b.value;
  const V high = diff + a.mask;
  const V low = diff - b.mask;
  const V unknown = (high ^ low) | a.mask | b.mask;
  return {diff & ~unknown, unknown};
}

// Negation as the verifier does it for BPF_NEG: 0 - a.
template <BitVector V>
BasicTnum<V> tnum_neg(const BasicTnum<V>& a) {
  return tnum_sub(tnum_const(tnum_detail::k(a.value, 0)), a);
}

// ---- Bitwise ([CGO22] section 3, [KDOC]) ---------------------------------------------------

// Known 1 where both are known 1; possibly 1 (so unknown) where both may be 1 and not both are 1.
template <BitVector V>
BasicTnum<V> tnum_and(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V ones = a.value & b.value;
  return {ones, (a.value | a.mask) & (b.value | b.mask) & ~ones};
}

// Known 1 where either is known 1; unknown where either is unknown and neither is known 1.
template <BitVector V>
BasicTnum<V> tnum_or(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V ones = a.value | b.value;
  return {ones, (a.mask | b.mask) & ~ones};
}

// Unknown where either is unknown; elsewhere the xor of the known bits.
template <BitVector V>
BasicTnum<V> tnum_xor(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V unknown = a.mask | b.mask;
  return {(a.value ^ b.value) & ~unknown, unknown};
}

// ---- Lattice operations --------------------------------------------------------------------

// The numbers in both a and b ([KDOC] tnum_intersect): a bit is known if either knows it. Where a
// and b know opposite values the intersection is empty and the result has a known 1 there.
template <BitVector V>
BasicTnum<V> tnum_intersect(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V unknown = a.mask & b.mask;
  return {(a.value | b.value) & ~unknown, unknown};
}

// The smallest tnum holding every number of a and of b ([MUL618], added with the 6.18 tnum_mul):
// unknown where either is unknown or where their known bits disagree.
template <BitVector V>
BasicTnum<V> tnum_union(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V unknown = (a.value ^ b.value) | a.mask | b.mask;
  return {a.value & b.value & ~unknown, unknown};
}

// ---- Multiplications, side by side ---------------------------------------------------------
//
// All are long multiplication over the bits of the multiplier a, adding shifted copies of the
// multiplicand b; they differ in how an unknown multiplier bit and the unknown bits of b enter
// the sum. tnum_mul is the one the 6.18 verifier runs.

namespace tnum_detail {

// The state of a long multiplication: the accumulator, the rest of the multiplier (shifted right
// past the bits done) and the multiplicand shifted left to the multiplier's next bit.
template <BitVector V>
struct LongMultiplication {
  BasicTnum<V> acc;
  BasicTnum<V> multiplier;
  BasicTnum<V> multiplicand;
};

// One step of long multiplication: acc = step(acc, one, unknown, multiplicand), where `one` is
// all ones if the multiplier's lowest bit is a known 1 and `unknown` all ones if it is unknown
// (both zero for a known 0); then the multiplier moves right and the multiplicand left.
template <BitVector V, class Step>
LongMultiplication<V> long_multiply_step(const LongMultiplication<V>& s, const Step& step) {
  const V one = lsb_fill(s.multiplier.value);
  const V unknown = lsb_fill(s.multiplier.mask) & ~one;
  return {step(s.acc, one, unknown, s.multiplicand), tnum_rshift(s.multiplier, 1), tnum_lshift(s.multiplicand, 1)};
}

// Long multiplication of a by b from the accumulator `acc`, least significant bit of a first.
// Runs `width` steps; the concrete instantiation skips runs of known-0 bits of a and stops once
// the rest of a is known zero, since a step at a known-0 bit leaves the accumulator as it is.
template <BitVector V, class Step>
BasicTnum<V> long_multiply(const BasicTnum<V>& acc, const BasicTnum<V>& a, const BasicTnum<V>& b, const Step& step) {
  using T = BvTraits<V>;
  LongMultiplication<V> s{acc, a, b};
  const unsigned width = T::width(a.value);
  for (unsigned i = 0; i < width; ++i) {
    if constexpr (T::concrete) {
      const V rest = s.multiplier.value | s.multiplier.mask;
      if (T::is_zero(rest)) break;
      const unsigned zeros = static_cast<unsigned>(__builtin_ctzll(rest));
      s.multiplier = tnum_rshift(s.multiplier, zeros);
      s.multiplicand = tnum_lshift(s.multiplicand, zeros);
      i += zeros;
    }
    s = long_multiply_step(s, step);
  }
  return s.acc;
}

// The step of 6.18's long multiplication ([MUL618]): a known-1 bit of the multiplier adds the
// shifted multiplicand b; an unknown bit makes the accumulator the union of both outcomes, acc
// (the bit is 0) and acc + b (it is 1). verifier/tnum_mul_proof.cpp proves this step sound at 64
// bits, which proves every long multiplication built from it.
template <BitVector V>
BasicTnum<V> union_add_step(const BasicTnum<V>& acc, const V& one, const V& unknown, const BasicTnum<V>& b) {
  const BasicTnum<V> with_b = tnum_add(acc, b);
  if constexpr (BvTraits<V>::concrete) {
    return one ? with_b : unknown ? tnum_union(acc, with_b) : acc;
  } else {
    return select(one, with_b, select(unknown, tnum_union(acc, with_b), acc));
  }
}

template <BitVector V>
BasicTnum<V> union_add_multiply(const BasicTnum<V>& acc, const BasicTnum<V>& a, const BasicTnum<V>& b) {
  return long_multiply(acc, a, b, union_add_step<V>);
}

}  // namespace tnum_detail

// Kernels up to 5.12 ([CGO22] section 4 describes it as "kern_mul"; its source comment calls the
// step a "half-multiply add"): start from the product of the values, then for every unknown bit
// of a add a fully unknown copy of b's possible ones (value | mask) shifted to that bit, and for
// every unknown bit of b a fully unknown copy of a's value shifted to that bit.
template <BitVector V>
BasicTnum<V> tnum_mul_kernel_pre2021(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  using T = BvTraits<V>;
  const auto half_multiply_add = [](BasicTnum<V> acc, V bits, V addend) {
    const unsigned width = T::width(bits);
    for (unsigned i = 0; i < width; ++i) {
      if constexpr (T::concrete) {
        if (T::is_zero(bits)) break;
      }
      const BasicTnum<V> added = tnum_add(acc, BasicTnum<V>{tnum_detail::k(bits, 0), addend});
      acc = tnum_detail::select(tnum_detail::lsb_fill(bits), added, acc);
      bits = bits >> 1;
      addend = addend << 1;
    }
    return acc;
  };
  const BasicTnum<V> acc = half_multiply_add(tnum_const(a.value * b.value), a.mask, b.value | b.mask);
  return half_multiply_add(acc, b.mask, a.value);
}

// Kernels 5.13 to 6.17, [CGO22] Listing "our_mul": the product of the values, plus a mask-only
// accumulator that gains b's unknown bits for every known-1 bit of a and b's possible ones
// (value | mask) for every unknown bit of a, each shifted to that bit of a.
template <BitVector V>
BasicTnum<V> tnum_mul_our(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V zero = tnum_detail::k(a.value, 0);
  const BasicTnum<V> uncertain = tnum_detail::long_multiply(
      BasicTnum<V>{zero, zero}, a, b,
      [zero](const BasicTnum<V>& acc, const V& one, const V& unknown, const BasicTnum<V>& b_here) {
        const BasicTnum<V> with_mask = tnum_add(acc, BasicTnum<V>{zero, b_here.mask});
        const BasicTnum<V> with_possible = tnum_add(acc, BasicTnum<V>{zero, b_here.value | b_here.mask});
        return tnum_detail::select(one, with_mask, tnum_detail::select(unknown, with_possible, acc));
      });
  return tnum_add(tnum_const(a.value * b.value), uncertain);
}

// Linux 6.18 ([MUL618]): plain long multiplication on tnums (union_add_step), which keeps the
// correlation between the unknown bits of one partial product that adding a mask-only copy loses.
template <BitVector V>
BasicTnum<V> tnum_mul_kernel618(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V zero = tnum_detail::k(a.value, 0);
  return tnum_detail::union_add_multiply(BasicTnum<V>{zero, zero}, a, b);
}

// ---- Tristate's multiplication -------------------------------------------------------------
//
// Three sound estimates of the product, intersected, and the exact result when the operands have
// at most four unknown bits between them (docs/tnum.md has the measurements that chose them):
//  - 6.18's long multiplication;
//  - the same union-add steps over the partial products in another order, known part first:
//    with x = a.value + xu and y = b.value + yu (xu, yu the unknown parts),
//      x * y = a.value * b.value + a.value * yu + xu * y,
//    so the accumulator starts as the constant a.value * b.value, takes a.value for each unknown
//    bit of b, then b for each unknown bit of a. The unions come last, after every known partial
//    product is in, instead of between them; a single unknown bit comes out exact;
//  - the interval [a.value * b.value, max(a) * max(b)] when that product does not overflow
//    (multiplication is monotonic on naturals), which knows the high zeros the sums lose.

namespace tnum_detail {

template <BitVector V>
BasicTnum<V> mul_known_first(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V zero = k(a.value, 0);
  const BasicTnum<V> known = union_add_multiply(tnum_const(a.value * b.value), BasicTnum<V>{zero, b.mask},
                                                tnum_const(a.value));
  return union_add_multiply(known, BasicTnum<V>{zero, a.mask}, b);
}

template <BitVector V>
BasicTnum<V> mul_range(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V max_a = a.value | a.mask;
  const V max_b = b.value | b.mask;
  const V fits = BvTraits<V>::mul_fits(max_a, max_b);
  const BasicTnum<V> range = tnum_range(a.value * b.value, max_a * max_b);
  return {range.value & fits, range.mask | ~fits};
}

// All ones when x is not zero, else zero.
template <BitVector V>
V nonzero_fill(const V& x) {
  const V zero = k(x, 0);
  return zero - ((x | (zero - x)) >> (BvTraits<V>::width(x) - 1));
}

inline constexpr unsigned kEnumeratedBits = 4;

// The unknown bits a join over members enumerates: the lowest kEnumeratedBits unknown bits of a
// and b together, a's first, each a one-bit mask in a's word or in b's (the other one zero), and
// all ones in `complete` when that is every unknown bit.
template <BitVector V>
struct EnumeratedBits {
  V in_a[kEnumeratedBits];
  V in_b[kEnumeratedBits];
  V complete;
};

template <BitVector V>
EnumeratedBits<V> enumerated_bits(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V zero = k(a.value, 0);
  EnumeratedBits<V> out{{zero, zero, zero, zero}, {zero, zero, zero, zero}, zero};
  V rest_a = a.mask;
  V rest_b = b.mask;
  for (unsigned i = 0; i < kEnumeratedBits; ++i) {
    out.in_a[i] = rest_a & (zero - rest_a);
    out.in_b[i] = rest_b & (zero - rest_b) & ~nonzero_fill(rest_a);
    rest_a = rest_a ^ out.in_a[i];
    rest_b = rest_b ^ out.in_b[i];
  }
  out.complete = ~nonzero_fill(rest_a | rest_b);
  return out;
}

// The join of op(x, y) over the members x of a and y of b that differ from a.value and b.value
// only in the enumerated bits: the optimal result when bits.complete is all ones. `op` is the
// multiplication; the proof passes an uninterpreted function, since the join is sound for any.
template <BitVector V, class Op>
BasicTnum<V> join_enumerated(const BasicTnum<V>& a, const BasicTnum<V>& b, const EnumeratedBits<V>& bits,
                             const Op& op) {
  const V zero = k(a.value, 0);
  V all = ~zero;
  V any = zero;
  // The bits are picked in order, so the concrete instantiation needs only the choices of the
  // ones it found (the others repeat them).
  unsigned choices = 1u << kEnumeratedBits;
  if constexpr (BvTraits<V>::concrete) {
    choices = 1;
    for (unsigned i = 0; i < kEnumeratedBits; ++i) choices <<= (bits.in_a[i] | bits.in_b[i]) != 0;
  }
  for (unsigned choice = 0; choice < choices; ++choice) {
    V x = a.value;
    V y = b.value;
    for (unsigned i = 0; i < kEnumeratedBits; ++i) {
      if (choice & (1u << i)) {
        x = x | bits.in_a[i];
        y = y | bits.in_b[i];
      }
    }
    const V product = op(x, y);
    all = all & product;
    any = any | product;
  }
  return {all, all ^ any};
}

template <BitVector V>
BasicTnum<V> mul_estimates(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  return tnum_intersect(tnum_intersect(tnum_mul_kernel618(a, b), mul_known_first(a, b)), mul_range(a, b));
}

}  // namespace tnum_detail

template <BitVector V>
BasicTnum<V> tnum_mul_tristate(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  using T = BvTraits<V>;
  const auto multiply = [](const V& x, const V& y) { return x * y; };
  const tnum_detail::EnumeratedBits<V> bits = tnum_detail::enumerated_bits(a, b);
  if constexpr (T::concrete) {
    return bits.complete ? tnum_detail::join_enumerated(a, b, bits, multiply) : tnum_detail::mul_estimates(a, b);
  } else {
    return tnum_detail::select(bits.complete, tnum_detail::join_enumerated(a, b, bits, multiply),
                               tnum_detail::mul_estimates(a, b));
  }
}

// The multiplication the analyzer uses.
template <BitVector V>
BasicTnum<V> tnum_mul(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  return tnum_mul_tristate(a, b);
}

enum class TnumMul { KernelPre2021, Our, Kernel618, Tristate };

// Names for the command line and reports: "kernel-pre2021", "our", "kernel618", "tristate".
std::string_view tnum_mul_name(TnumMul variant);

template <BitVector V>
BasicTnum<V> tnum_mul_variant(TnumMul variant, const BasicTnum<V>& a, const BasicTnum<V>& b) {
  switch (variant) {
    case TnumMul::KernelPre2021: return tnum_mul_kernel_pre2021(a, b);
    case TnumMul::Our: return tnum_mul_our(a, b);
    case TnumMul::Kernel618: return tnum_mul_kernel618(a, b);
    case TnumMul::Tristate: return tnum_mul_tristate(a, b);
  }
  return tnum_mul_tristate(a, b);
}

// ---- Truncation and subregisters ([KDOC]) --------------------------------------------------

// a with all but the low `size` bytes cleared. The kernel calls it with size < 8 only (its
// (1ULL << 64) would be undefined); here size >= 8 leaves a as it is.
template <BitVector V>
BasicTnum<V> tnum_cast(const BasicTnum<V>& a, unsigned size) {
  if (size >= 8) return a;
  const V keep = tnum_detail::k(a.value, (1ull << (size * 8)) - 1);
  return {a.value & keep, a.mask & keep};
}

// The low 32 bits, zero-extended.
template <BitVector V>
BasicTnum<V> tnum_subreg(const BasicTnum<V>& a) {
  return tnum_cast(a, 4);
}

// The high 32 bits, with the low 32 bits known zero.
template <BitVector V>
BasicTnum<V> tnum_clear_subreg(const BasicTnum<V>& a) {
  return tnum_lshift(tnum_rshift(a, 32), 32);
}

// reg's high 32 bits with subreg's low 32 bits.
template <BitVector V>
BasicTnum<V> tnum_with_subreg(const BasicTnum<V>& reg, const BasicTnum<V>& subreg) {
  return tnum_or(tnum_clear_subreg(reg), tnum_subreg(subreg));
}

// a's high 32 bits with the low 32 bits the constant's.
template <BitVector V>
BasicTnum<V> tnum_const_subreg(const BasicTnum<V>& a, const V& value) {
  return tnum_with_subreg(a, tnum_const(value));
}

// ---- Byte swaps ([BSWAP]): a permutation of bits, applied to value and mask alike ----------

template <BitVector V>
BasicTnum<V> tnum_bswap16(const BasicTnum<V>& a) {
  return {tnum_detail::bswap16(a.value), tnum_detail::bswap16(a.mask)};
}

template <BitVector V>
BasicTnum<V> tnum_bswap32(const BasicTnum<V>& a) {
  return {tnum_detail::bswap32(a.value), tnum_detail::bswap32(a.mask)};
}

template <BitVector V>
BasicTnum<V> tnum_bswap64(const BasicTnum<V>& a) {
  return {tnum_detail::bswap64(a.value), tnum_detail::bswap64(a.mask)};
}

// ---- Stepping through the members ([STEP]) -------------------------------------------------

// The smallest member of t greater than z, for value <= z < value | mask (specified there only).
// With d = z - value, the members above z are value + s for the submasks s of mask with s > d:
// fill every position that cannot take the carry (known bits, and everything below d's highest
// known-position 1), add one, and keep the mask bits.
template <BitVector V>
V tnum_step(const BasicTnum<V>& t, const V& z) {
  const V d = z - t.value;
  const V below_fixed_one = tnum_detail::smear_right(d & ~t.mask);
  const V next = ((d | below_fixed_one | ~t.mask) + tnum_detail::k(z, 1)) & t.mask;
  return t.value | next;
}

// ---- Predicates ----------------------------------------------------------------------------

template <BitVector V>
using TnumBool = typename BvTraits<V>::Bool;

template <BitVector V>
TnumBool<V> tnum_is_const(const BasicTnum<V>& a) {
  return BvTraits<V>::is_zero(a.mask);
}

template <BitVector V>
TnumBool<V> tnum_equals_const(const BasicTnum<V>& a, const V& b) {
  return BvTraits<V>::is_zero(a.mask | (a.value ^ b));
}

template <BitVector V>
TnumBool<V> tnum_is_unknown(const BasicTnum<V>& a) {
  return BvTraits<V>::is_zero(~a.mask);
}

template <BitVector V>
TnumBool<V> tnum_subreg_is_const(const BasicTnum<V>& a) {
  return tnum_is_const(tnum_subreg(a));
}

template <BitVector V>
TnumBool<V> tnum_subreg_equals_const(const BasicTnum<V>& a, const V& b) {
  return tnum_equals_const(tnum_subreg(a), b & tnum_detail::k(b, 0xffffffffull));
}

// Whether every member is a multiple of size, a power of two ([KDOC]; size 0 counts as aligned).
template <BitVector V>
TnumBool<V> tnum_is_aligned(const BasicTnum<V>& a, uint64_t size) {
  const uint64_t low = size == 0 ? 0 : size - 1;
  return BvTraits<V>::is_zero((a.value | a.mask) & tnum_detail::k(a.value, low));
}

// Whether every member of b is a member of a ([KDOC] tnum_in): b knows every bit a knows, with
// the same value.
template <BitVector V>
TnumBool<V> tnum_in(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  return BvTraits<V>::is_zero((b.mask & ~a.mask) | ((b.value & ~a.mask) ^ a.value));
}

// Whether a and b have a member in common: they agree on every bit both know.
template <BitVector V>
TnumBool<V> tnum_overlap(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  return BvTraits<V>::is_zero((a.value ^ b.value) & ~a.mask & ~b.mask);
}

// Whether x is a member of a.
template <BitVector V>
TnumBool<V> tnum_contains(const BasicTnum<V>& a, const V& x) {
  return BvTraits<V>::is_zero((x & ~a.mask) ^ a.value);
}

// ---- Printing (concrete tnums) -------------------------------------------------------------

// The verifier log's form, "(0x5; 0xa)": both fields in hex with a 0x prefix, zero as 0x0.
std::string tnum_strn(const Tnum& a);

// The low `width` bits, most significant first: 1 and 0 known, x unknown ("0b" not included).
std::string tnum_sbin(const Tnum& a, unsigned width = 64);

std::ostream& operator<<(std::ostream& out, const Tnum& a);

}  // namespace tristate
