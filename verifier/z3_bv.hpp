// A Z3 bit-vector as an analyzer BitVector (analyzer/tnum.hpp): the tnum operators, written once as
// templates, instantiated on symbolic values for the soundness proofs (verifier/tnum_proof.cpp).
// Only verifier/ includes this header. Every value carries its own z3::context (no global one), and
// its width is the width of the sort, so the same template code runs at 64 bits or at N bits.
#pragma once

#include <z3++.h>

#include <cstdint>

#include "analyzer/tnum.hpp"

namespace tristate {

struct Z3Bv {
  z3::expr e;

  friend Z3Bv operator&(const Z3Bv& a, const Z3Bv& b) { return {a.e & b.e}; }
  friend Z3Bv operator|(const Z3Bv& a, const Z3Bv& b) { return {a.e | b.e}; }
  friend Z3Bv operator^(const Z3Bv& a, const Z3Bv& b) { return {a.e ^ b.e}; }
  friend Z3Bv operator~(const Z3Bv& a) { return {~a.e}; }
  friend Z3Bv operator+(const Z3Bv& a, const Z3Bv& b) { return {a.e + b.e}; }
  friend Z3Bv operator-(const Z3Bv& a, const Z3Bv& b) { return {a.e - b.e}; }
  friend Z3Bv operator*(const Z3Bv& a, const Z3Bv& b) { return {a.e * b.e}; }
  // Shift amounts are constants below the width, as in the templates.
  friend Z3Bv operator<<(const Z3Bv& a, unsigned n) { return {z3::shl(a.e, static_cast<int>(n))}; }
  friend Z3Bv operator>>(const Z3Bv& a, unsigned n) { return {z3::lshr(a.e, static_cast<int>(n))}; }
};

template <>
struct BvTraits<Z3Bv> {
  using Bool = z3::expr;
  static constexpr bool concrete = false;
  static unsigned width(const Z3Bv& a) { return a.e.get_sort().bv_size(); }
  // Truncated to the width of `like` (at N < 64 bits the 64-bit constants keep their low N bits).
  static Z3Bv constant(const Z3Bv& like, uint64_t c) {
    const unsigned w = width(like);
    return {like.e.ctx().bv_val(static_cast<uint64_t>(w >= 64 ? c : c & ((uint64_t{1} << w) - 1)), w)};
  }
  static Z3Bv ashr(const Z3Bv& a, unsigned n) { return {z3::ashr(a.e, static_cast<int>(n))}; }
  static z3::expr is_zero(const Z3Bv& a) { return a.e == 0; }
  static Z3Bv mul_fits(const Z3Bv& a, const Z3Bv& b) {
    const z3::expr fits(a.e.ctx(), Z3_mk_bvmul_no_overflow(a.e.ctx(), a.e, b.e, false));
    return {z3::ite(fits, ~a.e.ctx().bv_val(0, width(a)), a.e.ctx().bv_val(0, width(a)))};
  }
};

static_assert(BitVector<Z3Bv>);

using Z3Tnum = BasicTnum<Z3Bv>;

}  // namespace tristate
