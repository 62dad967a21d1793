#include "analyzer/scalar.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "compiler/semantics.hpp"

namespace tristate {

namespace {

constexpr uint64_t kLow32 = 0xffffffffull;

// Overflow-checked arithmetic: true when the exact result does not fit.
template <class T>
bool add_overflows(T a, T b, T& out) { return __builtin_add_overflow(a, b, &out); }
template <class T>
bool sub_overflows(T a, T b, T& out) { return __builtin_sub_overflow(a, b, &out); }
template <class T>
bool mul_overflows(T a, T b, T& out) { return __builtin_mul_overflow(a, b, &out); }

// __update_reg32_bounds / __update_reg64_bounds: what the tnum says about each bound.
void bounds_from_tnum(Scalar& s) {
  const Tnum low = tnum_subreg(s.var);
  s.s32_min = std::max(s.s32_min, int32_t(uint32_t(low.value | (low.mask & 0x80000000u))));
  s.s32_max = std::min(s.s32_max, int32_t(uint32_t(low.value | (low.mask & 0x7fffffffu))));
  s.u32_min = std::max(s.u32_min, uint32_t(low.value));
  s.u32_max = std::min(s.u32_max, uint32_t(low.value | low.mask));
  s.smin = std::max(s.smin, int64_t(s.var.value | (s.var.mask & (uint64_t(1) << 63))));
  s.smax = std::min(s.smax, int64_t(s.var.value | (s.var.mask & ~(uint64_t(1) << 63))));
  s.umin = std::max(s.umin, s.var.value);
  s.umax = std::min(s.umax, s.var.value | s.var.mask);
}

// __reg32_deduce_bounds: the low halves' bounds from the 64-bit ones where the upper halves
// agree (or are two neighbours straddling the 32-bit sign), and signed from unsigned where the
// range does not cross the sign.
void deduce32(Scalar& s) {
  const auto from64 = [&](uint64_t lo, uint64_t hi) {
    if ((lo >> 32) == (hi >> 32)) {
      s.u32_min = std::max(s.u32_min, uint32_t(lo));
      s.u32_max = std::min(s.u32_max, uint32_t(hi));
      if (int32_t(lo) <= int32_t(hi)) {
        s.s32_min = std::max(s.s32_min, int32_t(lo));
        s.s32_max = std::min(s.s32_max, int32_t(hi));
      }
    }
  };
  from64(s.umin, s.umax);
  from64(uint64_t(s.smin), uint64_t(s.smax));
  const auto neighbours = [&](uint64_t lo, uint64_t hi) {
    if (uint32_t(lo >> 32) + 1 == uint32_t(hi >> 32) && int32_t(lo) < 0 && int32_t(hi) >= 0) {
      s.s32_min = std::max(s.s32_min, int32_t(lo));
      s.s32_max = std::min(s.s32_max, int32_t(hi));
    }
  };
  neighbours(s.umin, s.umax);
  neighbours(uint64_t(s.smin), uint64_t(s.smax));
  if (int32_t(s.u32_min) <= int32_t(s.u32_max)) {
    s.s32_min = std::max(s.s32_min, int32_t(s.u32_min));
    s.s32_max = std::min(s.s32_max, int32_t(s.u32_max));
  }
  if (uint32_t(s.s32_min) <= uint32_t(s.s32_max)) {
    s.u32_min = std::max(s.u32_min, uint32_t(s.s32_min));
    s.u32_max = std::min(s.u32_max, uint32_t(s.s32_max));
  }
}

// __reg64_deduce_bounds: signed from unsigned and back where the range does not cross the sign;
// when the signed range does, the unsigned range may sit in one of its two ends.
void deduce64(Scalar& s) {
  if (int64_t(s.umin) <= int64_t(s.umax)) {
    s.smin = std::max(s.smin, int64_t(s.umin));
    s.smax = std::min(s.smax, int64_t(s.umax));
  }
  if (uint64_t(s.smin) <= uint64_t(s.smax)) {
    s.umin = std::max(s.umin, uint64_t(s.smin));
    s.umax = std::min(s.umax, uint64_t(s.smax));
  } else if (s.umax < uint64_t(s.smin)) {
    s.smin = int64_t(s.umin);
    s.umax = std::min(s.umax, uint64_t(s.smax));
  } else if (uint64_t(s.smax) < s.umin) {
    s.smax = int64_t(s.umax);
    s.umin = std::max(s.umin, uint64_t(s.smin));
  }
}

// __reg_deduce_mixed_bounds: the 64-bit bounds' low halves from the 32-bit ones, and the
// sign-extended-load case (a non-negative 32-bit range in a 64-bit range within s32).
void deduce_mixed(Scalar& s) {
  s.umin = std::max(s.umin, (s.umin & ~kLow32) | s.u32_min);
  s.umax = std::min(s.umax, (s.umax & ~kLow32) | s.u32_max);
  s.smin = std::max(s.smin, int64_t((uint64_t(s.smin) & ~kLow32) | s.u32_min));
  s.smax = std::min(s.smax, int64_t((uint64_t(s.smax) & ~kLow32) | s.u32_max));
  if (s.s32_min >= 0 && s.smin >= INT32_MIN && s.smax <= INT32_MAX) {
    s.smin = s.s32_min;
    s.smax = s.s32_max;
    s.umin = uint64_t(int64_t(s.s32_min));
    s.umax = uint64_t(int64_t(s.s32_max));
    s.var = tnum_intersect(s.var, tnum_range(uint64_t(s.smin), uint64_t(s.smax)));
  }
}

// __reg_bound_offset: the tnum from the unsigned ranges.
void tnum_from_bounds(Scalar& s) {
  const Tnum var64 = tnum_intersect(s.var, tnum_range(s.umin, s.umax));
  const Tnum var32 = tnum_intersect(tnum_subreg(var64), tnum_range(uint64_t(s.u32_min), uint64_t(s.u32_max)));
  s.var = tnum_or(tnum_clear_subreg(var64), var32);
}


// zext_32_to_64 after a 32-bit operation: the value is its low half, zero-extended, so its 64-bit
// bounds (signed and unsigned alike) are the low half's unsigned ones.
void zero_extend(Scalar& s) {
  s.var = tnum_subreg(s.var);
  s.umin = s.u32_min, s.umax = s.u32_max;
  s.smin = int64_t(s.u32_min), s.smax = int64_t(s.u32_max);
}

// The bounds of one width: unsigned type U and signed type S (64 or 32 bits), by reference.
template <class U, class S>
struct Bounds {
  U& umin;
  U& umax;
  S& smin;
  S& smax;
  using Signed = S;
  void unbounded_unsigned() const { umin = 0, umax = std::numeric_limits<U>::max(); }
  void unbounded_signed() const { smin = std::numeric_limits<S>::min(), smax = std::numeric_limits<S>::max(); }
};

// Applies `rule` to the destination's and the source's 64-bit bounds, then to their 32-bit ones.
template <class Rule>
void both_widths(Scalar& d, Scalar s, Rule rule) {
  rule(Bounds<uint64_t, int64_t>{d.umin, d.umax, d.smin, d.smax}, Bounds<uint64_t, int64_t>{s.umin, s.umax, s.smin, s.smax});
  rule(Bounds<uint32_t, int32_t>{d.u32_min, d.u32_max, d.s32_min, d.s32_max},
       Bounds<uint32_t, int32_t>{s.u32_min, s.u32_max, s.s32_min, s.s32_max});
}

// The bound rules per operation (scalar_min_max_* and scalar32_min_max_*): each replaces the
// destination's bounds with the result's; an overflow leaves that pair (signed or unsigned)
// unbounded.
void add_bounds(Scalar& dst, const Scalar& src) {
  both_widths(dst, src, [](auto d, auto s) {
    auto slo = d.smin, shi = d.smax;
    if (add_overflows(d.smin, s.smin, slo) || add_overflows(d.smax, s.smax, shi)) d.unbounded_signed();
    else d.smin = slo, d.smax = shi;
    auto ulo = d.umin, uhi = d.umax;
    if (add_overflows(d.umin, s.umin, ulo) || add_overflows(d.umax, s.umax, uhi)) d.unbounded_unsigned();
    else d.umin = ulo, d.umax = uhi;
  });
}

void sub_bounds(Scalar& dst, const Scalar& src) {
  both_widths(dst, src, [](auto d, auto s) {
    auto slo = d.smin, shi = d.smax;
    if (sub_overflows(d.smin, s.smax, slo) || sub_overflows(d.smax, s.smin, shi)) d.unbounded_signed();
    else d.smin = slo, d.smax = shi;
    if (d.umin < s.umax) d.unbounded_unsigned();
    else d.umin -= s.umax, d.umax -= s.umin;
  });
}

void mul_bounds(Scalar& dst, const Scalar& src) {
  both_widths(dst, src, [](auto d, auto s) {
    auto ulo = d.umin, uhi = d.umax;
    const bool unsigned_overflow = mul_overflows(d.umax, s.umax, uhi) || mul_overflows(d.umin, s.umin, ulo);
    typename decltype(d)::Signed p[4];
    if (mul_overflows(d.smin, s.smin, p[0]) || mul_overflows(d.smin, s.smax, p[1]) || mul_overflows(d.smax, s.smin, p[2]) ||
        mul_overflows(d.smax, s.smax, p[3]))
      d.unbounded_signed();
    else
      d.smin = *std::min_element(p, p + 4), d.smax = *std::max_element(p, p + 4);
    if (unsigned_overflow) d.unbounded_unsigned();
    else d.umin = ulo, d.umax = uhi;
  });
}

// Bitwise operations: the unsigned bounds from the result's tnum and the operands' (and: never
// above either; or: never below either), signed bounds from unsigned when neither operand can
// be negative, else unknown (the kernel's scalar_min_max_and/or/xor).
void bitwise(Scalar& d, const Scalar& s, AluOp op, const Tnum& var) {
  const Tnum low = tnum_subreg(var);
  switch (op) {
    case AluOp::And:
      d.u32_min = uint32_t(low.value), d.u32_max = std::min(d.u32_max, s.u32_max);
      d.umin = var.value, d.umax = std::min(d.umax, s.umax);
      break;
    case AluOp::Or:
      d.u32_min = std::max(d.u32_min, s.u32_min), d.u32_max = uint32_t(low.value | low.mask);
      d.umin = std::max(d.umin, s.umin), d.umax = var.value | var.mask;
      break;
    default:  // Xor
      d.u32_min = uint32_t(low.value), d.u32_max = uint32_t(low.value | low.mask);
      d.umin = var.value, d.umax = var.value | var.mask;
      break;
  }
  const bool both32 = d.s32_min >= 0 && s.s32_min >= 0;
  if (both32 && int32_t(d.u32_min) <= int32_t(d.u32_max)) {
    d.s32_min = int32_t(d.u32_min), d.s32_max = int32_t(d.u32_max);
  } else {
    d.s32_min = INT32_MIN, d.s32_max = INT32_MAX;
  }
  const bool both64 = d.smin >= 0 && s.smin >= 0;
  if (both64 && int64_t(d.umin) <= int64_t(d.umax)) {
    d.smin = int64_t(d.umin), d.smax = int64_t(d.umax);
  } else {
    d.smin = INT64_MIN, d.smax = INT64_MAX;
  }
}

}  // namespace

Scalar Scalar::constant(uint64_t v) {
  return {tnum_const(v), v, v, int64_t(v), int64_t(v), uint32_t(v), uint32_t(v), int32_t(uint32_t(v)), int32_t(uint32_t(v))};
}

bool Scalar::contains(uint64_t v) const {
  const auto u32 = uint32_t(v);
  const auto s32 = int32_t(u32);
  return (v & ~var.mask) == var.value && v >= umin && v <= umax && int64_t(v) >= smin && int64_t(v) <= smax &&
         u32 >= u32_min && u32 <= u32_max && s32 >= s32_min && s32 <= s32_max;
}

std::string Scalar::to_string() const {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "scalar(smin=%lld,smax=%lld,umin=%llu,umax=%llu,smin32=%d,smax32=%d,umin32=%u,umax32=%u,var_off=(0x%llx; 0x%llx))",
                (long long)smin, (long long)smax, (unsigned long long)umin, (unsigned long long)umax, s32_min, s32_max,
                u32_min, u32_max, (unsigned long long)var.value, (unsigned long long)var.mask);
  return buf;
}

void sync_bounds(Scalar& s) {
  bounds_from_tnum(s);
  for (int i = 0; i < 2; ++i) {
    deduce32(s);
    deduce64(s);
    deduce_mixed(s);
  }
  tnum_from_bounds(s);
  bounds_from_tnum(s);
}

Scalar scalar_alu(AluOp op, bool is64, const Scalar& dst, const Scalar& src) {
  // Shift amounts the kernel tracks precisely only when known and in range; otherwise the
  // result is unknown (but still zero-extended for 32-bit operations).
  const unsigned width = is64 ? 64 : 32;
  Scalar d = dst;
  switch (op) {
    case AluOp::Mov:
      d = src;
      break;
    case AluOp::Add:
      add_bounds(d, src);
      d.var = tnum_add(dst.var, src.var);
      break;
    case AluOp::Sub:
      sub_bounds(d, src);
      d.var = tnum_sub(dst.var, src.var);
      break;
    case AluOp::Mul:
      mul_bounds(d, src);
      d.var = tnum_mul(dst.var, src.var);
      break;
    case AluOp::And:
    case AluOp::Or:
    case AluOp::Xor: {
      const Tnum var = op == AluOp::And ? tnum_and(dst.var, src.var)
                       : op == AluOp::Or ? tnum_or(dst.var, src.var)
                                         : tnum_xor(dst.var, src.var);
      bitwise(d, src, op, var);
      d.var = var;
      break;
    }
    case AluOp::Neg: {
      // 0 - dst.
      Scalar zero = Scalar::constant(0);
      sub_bounds(zero, dst);
      zero.var = tnum_neg(dst.var);
      d = zero;
      break;
    }
    case AluOp::Lsh:
    case AluOp::Rsh:
    case AluOp::Arsh: {
      if (!src.is_const() || (src.var.value & ~uint64_t(width - 1)) != 0) {
        d = Scalar::unknown();
        break;
      }
      const unsigned n = unsigned(src.var.value);
      Scalar r = Scalar::unknown();
      if (op == AluOp::Lsh) {
        r.var = tnum_lshift(is64 ? dst.var : tnum_subreg(dst.var), n);
      } else if (op == AluOp::Rsh) {
        r.var = tnum_rshift(is64 ? dst.var : tnum_subreg(dst.var), n);
        if (is64) r.umin = dst.umin >> n, r.umax = dst.umax >> n;
        else r.u32_min = dst.u32_min >> n, r.u32_max = dst.u32_max >> n;
      } else {
        r.var = tnum_arshift(dst.var, n, width);
        if (is64) r.smin = dst.smin >> n, r.smax = dst.smax >> n;
        else r.s32_min = dst.s32_min >> n, r.s32_max = dst.s32_max >> n;
      }
      d = r;
      break;
    }
    default:
      // Division, modulo, sign-extending moves: nothing but "a scalar" here (the kernel keeps
      // constants of division exact; that comes with the rest of issue 6).
      d = Scalar::unknown();
      if (dst.is_const() && src.is_const()) {
        const ConcreteDomain c;
        d = Scalar::constant(alu_result(c, op, is64, dst.var.value, src.var.value));
        return d;
      }
      break;
  }
  if (!is64) zero_extend(d);
  sync_bounds(d);
  return d;
}

namespace {

// The four bounds of one width, as 64-bit numbers (32-bit ones sign- or zero-extended).
struct Range {
  uint64_t umin, umax;
  int64_t smin, smax;
};
Range range(const Scalar& s, bool is64) {
  if (is64) return {s.umin, s.umax, s.smin, s.smax};
  return {s.u32_min, s.u32_max, s.s32_min, s.s32_max};
}
void set_range(Scalar& s, bool is64, const Range& r) {
  if (is64) {
    s.umin = r.umin, s.umax = r.umax, s.smin = r.smin, s.smax = r.smax;
  } else {
    s.u32_min = uint32_t(r.umin), s.u32_max = uint32_t(r.umax), s.s32_min = int32_t(r.smin), s.s32_max = int32_t(r.smax);
  }
}

bool empty(const Scalar& s) {
  return s.umin > s.umax || s.smin > s.smax || s.u32_min > s.u32_max || s.s32_min > s.s32_max ||
         (s.var.value & s.var.mask) != 0;
}

}  // namespace

namespace {

// Whether x > y (or x >= y) for every x in [xmin, xmax] and y in [ymin, ymax], for none, or neither.
template <class T>
std::optional<bool> greater(T xmin, T xmax, T ymin, T ymax, bool or_equal) {
  if (or_equal ? xmin >= ymax : xmin > ymax) return true;
  if (or_equal ? xmax < ymin : xmax <= ymin) return false;
  return std::nullopt;
}

}  // namespace

std::optional<bool> branch_decided(Cond cond, bool is64, const Scalar& dst, const Scalar& src) {
  const Range a = range(dst, is64), b = range(src, is64);
  const Tnum ta = is64 ? dst.var : tnum_subreg(dst.var), tb = is64 ? src.var : tnum_subreg(src.var);
  switch (cond) {
    case Cond::Eq:
    case Cond::Ne: {
      std::optional<bool> equal;
      if (ta.mask == 0 && tb.mask == 0) equal = ta.value == tb.value;
      else if (a.umin > b.umax || a.umax < b.umin || a.smin > b.smax || a.smax < b.smin) equal = false;
      else if (((ta.value ^ tb.value) & ~(ta.mask | tb.mask)) != 0) equal = false;  // a known bit differs
      if (!equal) return std::nullopt;
      return cond == Cond::Eq ? *equal : !*equal;
    }
    case Cond::Set:
      if ((ta.value & tb.value) != 0) return true;
      if (((ta.value | ta.mask) & (tb.value | tb.mask)) == 0) return false;
      return std::nullopt;
    case Cond::Gt: return greater(a.umin, a.umax, b.umin, b.umax, false);
    case Cond::Ge: return greater(a.umin, a.umax, b.umin, b.umax, true);
    case Cond::Lt: return greater(b.umin, b.umax, a.umin, a.umax, false);
    case Cond::Le: return greater(b.umin, b.umax, a.umin, a.umax, true);
    case Cond::Sgt: return greater(a.smin, a.smax, b.smin, b.smax, false);
    case Cond::Sge: return greater(a.smin, a.smax, b.smin, b.smax, true);
    case Cond::Slt: return greater(b.smin, b.smax, a.smin, a.smax, false);
    case Cond::Sle: return greater(b.smin, b.smax, a.smin, a.smax, true);
  }
  return std::nullopt;
}

bool refine_branch(Cond cond, bool is64, bool taken, Scalar& dst, Scalar& src) {
  if (const auto decided = branch_decided(cond, is64, dst, src); decided && *decided != taken) return false;
  const Cond c = taken ? cond : negate(cond);
  Range a = range(dst, is64), b = range(src, is64);
  const auto with_subreg = [&](Scalar& s, const Tnum& low) {
    s.var = is64 ? low : tnum_with_subreg(s.var, low);
  };
  const Tnum ta = is64 ? dst.var : tnum_subreg(dst.var), tb = is64 ? src.var : tnum_subreg(src.var);
  const uint64_t umax_w = is64 ? ~uint64_t(0) : 0xffffffffull;
  switch (c) {
    case Cond::Eq: {
      a.umin = b.umin = std::max(a.umin, b.umin);
      a.umax = b.umax = std::min(a.umax, b.umax);
      a.smin = b.smin = std::max(a.smin, b.smin);
      a.smax = b.smax = std::min(a.smax, b.smax);
      const Tnum both = tnum_intersect(ta, tb);
      if (((ta.value ^ tb.value) & ~(ta.mask | tb.mask)) != 0) return false;
      with_subreg(dst, both), with_subreg(src, both);
      break;
    }
    case Cond::Ne: {
      // Only a constant on one side at the edge of the other's range narrows it.
      const auto trim = [&](Range& r, const Tnum& k) {
        if (k.mask != 0) return;
        const uint64_t v = k.value;
        const int64_t sv = is64 ? int64_t(v) : int64_t(int32_t(uint32_t(v)));
        if (r.umin == v && r.umin < umax_w) ++r.umin;
        else if (r.umax == v && r.umax > 0) --r.umax;
        if (r.smin == sv && sv < (is64 ? INT64_MAX : INT32_MAX)) ++r.smin;
        else if (r.smax == sv && sv > (is64 ? INT64_MIN : INT32_MIN)) --r.smax;
      };
      trim(a, tb), trim(b, ta);
      break;
    }
    case Cond::Set:
      if (taken) {
        // Some common bit: with a single possible bit in src (a power of two), dst has it.
        if (tb.mask == 0 && tb.value != 0 && (tb.value & (tb.value - 1)) == 0) with_subreg(dst, tnum_or(ta, tb));
      } else {
        // No common bit: dst's bits where src has a known one are zero.
        if (tb.mask == 0) with_subreg(dst, tnum_and(ta, Tnum{~tb.value & umax_w, 0}));
      }
      break;
    case Cond::Gt:
      if (b.umin == umax_w || a.umax == 0) return false;
      a.umin = std::max(a.umin, b.umin + 1), b.umax = std::min(b.umax, a.umax - 1);
      break;
    case Cond::Ge: a.umin = std::max(a.umin, b.umin), b.umax = std::min(b.umax, a.umax); break;
    case Cond::Lt:
      if (a.umin == umax_w || b.umax == 0) return false;
      a.umax = std::min(a.umax, b.umax - 1), b.umin = std::max(b.umin, a.umin + 1);
      break;
    case Cond::Le: a.umax = std::min(a.umax, b.umax), b.umin = std::max(b.umin, a.umin); break;
    case Cond::Sgt:
      if (b.smin == a.smax || b.smin >= a.smax) return false;
      a.smin = std::max(a.smin, b.smin + 1), b.smax = std::min(b.smax, a.smax - 1);
      break;
    case Cond::Sge: a.smin = std::max(a.smin, b.smin), b.smax = std::min(b.smax, a.smax); break;
    case Cond::Slt:
      if (a.smin >= b.smax) return false;
      a.smax = std::min(a.smax, b.smax - 1), b.smin = std::max(b.smin, a.smin + 1);
      break;
    case Cond::Sle: a.smax = std::min(a.smax, b.smax), b.smin = std::max(b.smin, a.smin); break;
  }
  set_range(dst, is64, a), set_range(src, is64, b);
  if (empty(dst) || empty(src)) return false;
  sync_bounds(dst), sync_bounds(src);
  return !empty(dst) && !empty(src);
}

}  // namespace tristate
