// The tnum operators: hand-checked examples for each (values worked out by hand from the operator's
// description, several taken from the examples in the 6.18 multiplication's review thread), and
// exhaustive soundness at small widths: for every pair of tnums whose unknown and known bits
// range over a few bit positions (the other bits fixed to 0 or to a constant pattern), every
// concrete result of every pair of members lies in the abstract result.
#include "analyzer/tnum.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace tristate;

namespace {

constexpr uint64_t kAll = ~0ull;
// A fixed pattern for the bits outside the enumerated positions: both halves, the sign bits of
// both halves and every byte have ones and zeros.
constexpr uint64_t kHigh = 0xa5c396f00f693c5aull;

// Membership by the definition, independent of the operators under test.
bool member(const Tnum& t, uint64_t x) { return (x & ~t.mask) == t.value; }

std::vector<uint64_t> members(const Tnum& t) {
  std::vector<uint64_t> out;
  for (uint64_t s = t.mask;; s = (s - 1) & t.mask) {
    out.push_back(t.value | s);
    if (s == 0) break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Every tnum whose bits at `positions` are 0, 1 or unknown and whose other bits are base's.
struct Family {
  std::vector<unsigned> positions;
  uint64_t base;
  std::string name;
};

std::vector<Tnum> tnums(const Family& f) {
  uint64_t clear = 0;
  for (unsigned p : f.positions) clear |= 1ull << p;
  std::vector<Tnum> out;
  size_t count = 1;
  for (size_t i = 0; i < f.positions.size(); ++i) count *= 3;
  for (size_t code = 0; code < count; ++code) {
    Tnum t{f.base & ~clear, 0};
    size_t c = code;
    for (unsigned p : f.positions) {
      const unsigned trit = unsigned(c % 3);
      c /= 3;
      if (trit == 1) t.value |= 1ull << p;
      if (trit == 2) t.mask |= 1ull << p;
    }
    out.push_back(t);
  }
  return out;
}

Family low(unsigned k, uint64_t base) {
  Family f{{}, base, base ? "low bits, pattern above" : "low bits, zeros above"};
  for (unsigned i = 0; i < k; ++i) f.positions.push_back(i);
  return f;
}

const std::vector<std::pair<Family, Family>>& binary_families() {
  static const std::vector<std::pair<Family, Family>> families = [] {
    const Family spread{{0, 31, 32, 63}, kHigh, "bits 0 31 32 63, pattern elsewhere"};
    const Family straddle{{30, 31, 32, 33}, kHigh, "bits 30-33, pattern elsewhere"};
    return std::vector<std::pair<Family, Family>>{
        {low(4, 0), low(4, 0)},   {low(4, 0), low(4, kHigh)}, {low(4, kHigh), low(4, 0)},
        {low(4, kHigh), low(4, kHigh)}, {spread, spread}, {straddle, low(4, kHigh)},
        {low(5, 0), low(5, 0)},   {low(5, kHigh), low(5, kHigh)}};
  }();
  return families;
}

const std::vector<Family>& unary_families() {
  static const std::vector<Family> families = {
      low(6, 0),
      low(6, kHigh),
      {{58, 59, 60, 61, 62, 63}, kHigh, "bits 58-63, pattern elsewhere"},
      {{29, 30, 31, 32, 33, 63}, kHigh, "bits 29-33 and 63, pattern elsewhere"},
      {{3, 12, 21, 30, 47, 60}, kHigh, "one bit in six bytes, pattern elsewhere"},
  };
  return families;
}

using BinaryAbs = std::function<Tnum(const Tnum&, const Tnum&)>;
using BinaryConc = std::function<uint64_t(uint64_t, uint64_t)>;

// Counts the (P, Q, x, y) with op(x, y) outside op#(P, Q); reports the first one.
void check_binary_sound(const BinaryAbs& abs, const BinaryConc& conc) {
  uint64_t checked = 0, failures = 0;
  std::string first;
  for (const auto& [fa, fb] : binary_families()) {
    const auto as = tnums(fa), bs = tnums(fb);
    for (const Tnum& p : as) {
      const auto xs = members(p);
      for (const Tnum& q : bs) {
        const Tnum r = abs(p, q);
        for (uint64_t x : xs)
          for (uint64_t y = q.mask;; y = (y - 1) & q.mask) {
            const uint64_t z = conc(x, q.value | y);
            ++checked;
            if (!member(r, z) && failures++ == 0) {
              std::ostringstream s;
              s << fa.name << " / " << fb.name << ": P=" << p << " Q=" << q << " x=0x" << std::hex << x
                << " y=0x" << (q.value | y) << " op=0x" << z << " not in " << r;
              first = s.str();
            }
            if (y == 0) break;
          }
      }
    }
  }
  INFO(first);
  CHECK(failures == 0);
  CHECK(checked == 6 * 256 * 256 + 2 * 1024 * 1024);  // the sum of |P| over 3^k tnums is 4^k
}

using UnaryAbs = std::function<Tnum(const Tnum&)>;
using UnaryConc = std::function<uint64_t(uint64_t)>;

void check_unary_sound(const UnaryAbs& abs, const UnaryConc& conc) {
  uint64_t checked = 0, failures = 0;
  std::string first;
  for (const Family& f : unary_families())
    for (const Tnum& p : tnums(f)) {
      const Tnum r = abs(p);
      for (uint64_t x : members(p)) {
        const uint64_t z = conc(x);
        ++checked;
        if (!member(r, z) && failures++ == 0) {
          std::ostringstream s;
          s << f.name << ": P=" << p << " x=0x" << std::hex << x << " op=0x" << z << " not in " << r;
          first = s.str();
        }
      }
    }
  INFO(first);
  CHECK(failures == 0);
  CHECK(checked == 5 * 4096);  // five families of 3^6 tnums, 4^6 members in all per family
}

constexpr Tnum T(uint64_t value, uint64_t mask) { return Tnum{value, mask}; }

// The multiplications as their descriptions state them, with the kernel's early exit and
// branches, to check the branch-free templates against (all three loop over the multiplier a).
Tnum ref_mul_pre2021(Tnum a, Tnum b) {
  auto hma = [](Tnum acc, uint64_t bits, uint64_t addend) {
    for (; bits; bits >>= 1, addend <<= 1)
      if (bits & 1) acc = tnum_add(acc, T(0, addend));
    return acc;
  };
  return hma(hma(T(a.value * b.value, 0), a.mask, b.value | b.mask), b.mask, a.value);
}

Tnum ref_mul_our(Tnum a, Tnum b) {
  const uint64_t product = a.value * b.value;
  Tnum acc = T(0, 0);
  for (; a.value || a.mask; a = tnum_rshift(a, 1), b = tnum_lshift(b, 1)) {
    if (a.value & 1)
      acc = tnum_add(acc, T(0, b.mask));
    else if (a.mask & 1)
      acc = tnum_add(acc, T(0, b.value | b.mask));
  }
  return tnum_add(T(product, 0), acc);
}

Tnum ref_mul_618(Tnum a, Tnum b) {
  Tnum acc = T(0, 0);
  for (; a.value || a.mask; a = tnum_rshift(a, 1), b = tnum_lshift(b, 1)) {
    if (a.value & 1)
      acc = tnum_add(acc, b);
    else if (a.mask & 1)
      acc = tnum_union(acc, tnum_add(acc, b));
  }
  return acc;
}

// A well-formed random tnum with about half its bits unknown (or, with `sparse`, few).
Tnum random_tnum(std::mt19937_64& rng, bool sparse) {
  uint64_t mask = rng();
  if (sparse) mask &= rng() & rng();
  return T(rng() & ~mask, mask);
}

// A bit-vector class wrapping uint64_t, to show the templates instantiate with a class type the
// way the Z3 wrapper will (operators plus BvTraits, Bool not bool).
struct Wrapped {
  uint64_t v;
  friend Wrapped operator&(Wrapped a, Wrapped b) { return {a.v & b.v}; }
  friend Wrapped operator|(Wrapped a, Wrapped b) { return {a.v | b.v}; }
  friend Wrapped operator^(Wrapped a, Wrapped b) { return {a.v ^ b.v}; }
  friend Wrapped operator~(Wrapped a) { return {~a.v}; }
  friend Wrapped operator+(Wrapped a, Wrapped b) { return {a.v + b.v}; }
  friend Wrapped operator-(Wrapped a, Wrapped b) { return {a.v - b.v}; }
  friend Wrapped operator*(Wrapped a, Wrapped b) { return {a.v * b.v}; }
  friend Wrapped operator<<(Wrapped a, unsigned n) { return {a.v << n}; }
  friend Wrapped operator>>(Wrapped a, unsigned n) { return {a.v >> n}; }
};

struct WrappedBool {
  bool b;
};

}  // namespace

template <>
struct tristate::BvTraits<Wrapped> {
  using Bool = WrappedBool;
  static constexpr bool concrete = false;
  static unsigned width(const Wrapped&) { return 64; }
  static Wrapped constant(const Wrapped&, uint64_t c) { return {c}; }
  static Wrapped ashr(const Wrapped& a, unsigned n) { return {uint64_t(int64_t(a.v) >> n)}; }
  static WrappedBool is_zero(const Wrapped& a) { return {a.v == 0}; }
  static Wrapped mul_fits(const Wrapped& a, const Wrapped& b) { return {BvTraits<uint64_t>::mul_fits(a.v, b.v)}; }
};

static_assert(BitVector<uint64_t>);
static_assert(BitVector<Wrapped>);

// ---- Hand-checked examples ----------------------------------------------------------------

TEST_CASE("tnum printing in the kernel's two forms", "[tnum]") {
  CHECK(tnum_strn(T(0x5, 0xa)) == "(0x5; 0xa)");
  CHECK(tnum_strn(T(0, 0)) == "(0x0; 0x0)");
  CHECK(tnum_strn(tnum_unknown(uint64_t(0))) == "(0x0; 0xffffffffffffffff)");
  CHECK(tnum_sbin(T(0x5, 0xa), 4) == "x1x1");
  CHECK(tnum_sbin(T(0x5, 0xa)) == std::string(60, '0') + "x1x1");
  CHECK(tnum_sbin(T(0x8000000000000000ull, 1)).front() == '1');
  CHECK(tnum_sbin(T(0x8000000000000000ull, 1)).back() == 'x');
  std::ostringstream s;
  s << T(0x10, 0x3);
  CHECK(s.str() == "(0x10; 0x3)");
}

TEST_CASE("tnum const, range and the predicates", "[tnum]") {
  CHECK(tnum_const(uint64_t(7)) == T(7, 0));
  CHECK(tnum_range(uint64_t(0), uint64_t(4)) == T(0, 7));
  CHECK(tnum_range(uint64_t(5), uint64_t(5)) == T(5, 0));
  CHECK(tnum_range(uint64_t(0x10), uint64_t(0x1f)) == T(0x10, 0xf));
  CHECK(tnum_range(uint64_t(0x13), uint64_t(0x21)) == T(0, 0x3f));
  CHECK(tnum_range(uint64_t(0), kAll) == T(0, kAll));
  CHECK(tnum_range(uint64_t(1), uint64_t(0x8000000000000000ull)) == T(0, kAll));
  CHECK(tnum_is_const(T(3, 0)));
  CHECK_FALSE(tnum_is_const(T(3, 4)));
  CHECK(tnum_equals_const(T(3, 0), uint64_t(3)));
  CHECK_FALSE(tnum_equals_const(T(3, 4), uint64_t(3)));
  CHECK(tnum_is_unknown(T(0, kAll)));
  CHECK_FALSE(tnum_is_unknown(T(0, kAll >> 1)));
  CHECK(tnum_subreg_is_const(T(0x1234, 0xff00000000ull)));
  CHECK(tnum_subreg_equals_const(T(0x1234, 0xff00000000ull), uint64_t(0x1234)));
  CHECK(tnum_is_aligned(T(8, 0x10), 8));
  CHECK_FALSE(tnum_is_aligned(T(8, 0x4), 8));
  CHECK_FALSE(tnum_is_aligned(T(9, 0), 2));
  CHECK(tnum_is_aligned(T(9, 6), 0));
  CHECK(tnum_in(T(0, 0xf), T(5, 0)));
  CHECK(tnum_in(T(0, 0xf), T(4, 3)));
  CHECK_FALSE(tnum_in(T(5, 0), T(0, 0xf)));
  CHECK_FALSE(tnum_in(T(0, 0xf), T(0x10, 0)));
  CHECK(tnum_overlap(T(1, 2), T(3, 0)));
  CHECK_FALSE(tnum_overlap(T(1, 0), T(2, 0)));
  CHECK(tnum_contains(T(1, 2), uint64_t(3)));
  CHECK_FALSE(tnum_contains(T(1, 2), uint64_t(2)));
}

TEST_CASE("tnum shifts", "[tnum]") {
  CHECK(tnum_lshift(T(1, 2), 4) == T(0x10, 0x20));
  CHECK(tnum_lshift(T(1, 0x8000000000000000ull), 1) == T(2, 0));
  CHECK(tnum_rshift(T(0x30, 0x0c), 2) == T(0xc, 0x3));
  CHECK(tnum_arshift(T(0x8000000000000000ull, 0), 4, 64) == T(0xf800000000000000ull, 0));
  CHECK(tnum_arshift(T(0, 0x8000000000000000ull), 3, 64) == T(0, 0xf000000000000000ull));
  CHECK(tnum_arshift(T(0x40, 0x8), 3, 64) == T(0x8, 0x1));
  CHECK(tnum_arshift(T(0x80000000, 0), 4, 32) == T(0xf8000000, 0));
  CHECK(tnum_arshift(T(0, 0x80000000), 1, 32) == T(0, 0xc0000000));
  CHECK(tnum_arshift(T(0xffffffff00000010ull, 0), 1, 32) == T(0x8, 0));
}

TEST_CASE("tnum add, sub, neg", "[tnum]") {
  CHECK(tnum_add(T(1, 0), T(1, 0)) == T(2, 0));
  CHECK(tnum_add(T(0, 1), T(1, 0)) == T(0, 3));  // {1, 2}
  CHECK(tnum_add(T(0, 1), T(0, 1)) == T(0, 3));  // {0, 1, 2}
  CHECK(tnum_add(T(kAll, 0), T(0, 1)) == T(0, kAll));  // {-1, 0}
  CHECK(tnum_add(T(0x10, 0x1), T(0x2, 0)) == T(0x12, 0x1));
  CHECK(tnum_sub(T(3, 0), T(1, 0)) == T(2, 0));
  CHECK(tnum_sub(T(0, 1), T(1, 0)) == T(0, kAll));  // {-1, 0}
  CHECK(tnum_sub(T(0x10, 0x1), T(0x10, 0)) == T(0, 1));
  CHECK(tnum_neg(T(5, 0)) == T(uint64_t(-5), 0));
  CHECK(tnum_neg(T(0, 1)) == T(0, kAll));  // {0, -1}
  CHECK(tnum_neg(T(2, 4)) == T(0xfffffffffffffffaull, 4));  // {-2, -6}: ...11111x10
}

TEST_CASE("tnum and, or, xor", "[tnum]") {
  CHECK(tnum_and(T(0b1100, 0b0011), T(0b1010, 0)) == T(0b1000, 0b0010));
  CHECK(tnum_and(T(0, kAll), T(0xff, 0)) == T(0, 0xff));
  CHECK(tnum_or(T(0b1000, 0b0011), T(0b0001, 0)) == T(0b1001, 0b0010));
  CHECK(tnum_or(T(0, kAll), T(0xff, 0)) == T(0xff, ~0xffull));
  CHECK(tnum_xor(T(0b1000, 0b0011), T(0b0001, 0)) == T(0b1000, 0b0011));
  CHECK(tnum_xor(T(0b1100, 0), T(0b1010, 0)) == T(0b0110, 0));
}

TEST_CASE("tnum intersect and union", "[tnum]") {
  CHECK(tnum_intersect(T(0, 0xf), T(5, 0xa)) == T(5, 0xa));
  CHECK(tnum_intersect(T(4, 3), T(1, 6)) == T(5, 2));
  CHECK(tnum_union(T(1, 0), T(2, 0)) == T(0, 3));
  CHECK(tnum_union(T(5, 0), T(5, 0)) == T(5, 0));
  CHECK(tnum_union(T(4, 1), T(6, 0)) == T(4, 3));
}

TEST_CASE("tnum multiplications: examples from their descriptions", "[tnum]") {
  for (auto variant : {TnumMul::KernelPre2021, TnumMul::Our, TnumMul::Kernel618, TnumMul::Tristate}) {
    INFO(tnum_mul_name(variant));
    CHECK(tnum_mul_variant(variant, T(6, 0), T(7, 0)) == T(42, 0));
    CHECK(tnum_mul_variant(variant, T(0, 0), T(0, kAll)) == T(0, 0));
    CHECK(tnum_mul_variant(variant, T(kAll, 0), T(kAll, 0)) == T(1, 0));
  }
  // 0bx1 * 0b11, the example of github.com/nandedamana/improved-tnum-mul: the products are 3
  // and 9; the CGO'22 algorithm (and the one before it) answers xxx1, 6.18 answers x0x1.
  CHECK(tnum_mul_kernel_pre2021(T(1, 2), T(3, 0)) == T(1, 0xe));
  CHECK(tnum_mul_our(T(1, 2), T(3, 0)) == T(1, 0xe));
  CHECK(tnum_mul_kernel618(T(1, 2), T(3, 0)) == T(1, 0xa));
  // Eduard Zingerman's example on the v4 thread: with 0b111 as the multiplier, 6.18 answers
  // 00xxxxx1 where the union of all sums is 00xx0xx1; with 0bxx1 as the multiplier it finds the
  // latter. Worked by hand through the loop.
  CHECK(tnum_mul_kernel618(T(7, 0), T(1, 6)) == T(1, 0x3e));
  CHECK(tnum_mul_kernel618(T(1, 6), T(7, 0)) == T(1, 0x36));
  CHECK(tnum_mul(T(1, 6), T(7, 0)) == T(1, 0x36));
  // Pre-2021: 0b1x * 0b10: product of values 2*2 = 4; a's unknown bit 0 adds an unknown copy of
  // b's possible ones (0b10), so 0b1x0 plus 0bx0... = {4, 6}: 0b1x0.
  CHECK(tnum_mul_kernel_pre2021(T(2, 1), T(2, 0)) == T(4, 2));
  CHECK(tnum_mul_variant(TnumMul::Our, T(2, 1), T(2, 0)) == T(4, 2));
}

TEST_CASE("tnum cast, subregisters, byte swaps, step", "[tnum]") {
  CHECK(tnum_cast(T(0x1204, 0x00f0), 1) == T(0x04, 0xf0));
  CHECK(tnum_cast(T(0x1204, 0x00f0), 2) == T(0x1204, 0xf0));
  CHECK(tnum_cast(T(0x123400000000ull, 0xf0000000ull), 4) == T(0, 0xf0000000ull));
  CHECK(tnum_cast(T(kAll, 0), 8) == T(kAll, 0));
  const Tnum reg = T(0x100000005ull, 0xf000000000ull);
  CHECK(tnum_subreg(reg) == T(5, 0));
  CHECK(tnum_clear_subreg(reg) == T(0x100000000ull, 0xf000000000ull));
  CHECK(tnum_with_subreg(reg, T(0x7, 0x8)) == T(0x100000007ull, 0xf000000008ull));
  CHECK(tnum_with_subreg(reg, T(0xffffffff00000000ull, 0xffffffff00000000ull)) == T(0x100000000ull, 0xf000000000ull));
  CHECK(tnum_const_subreg(reg, uint64_t(0xdeadbeef)) == T(0x1deadbeefull, 0xf000000000ull));
  CHECK(tnum_bswap16(T(0x1204, 0x00f0)) == T(0x0412, 0xf000));
  CHECK(tnum_bswap16(T(0xffff0000ull, 0xff)) == T(0, 0xff00));
  CHECK(tnum_bswap32(T(0x12345600, 0xff)) == T(0x00563412, 0xff000000));
  CHECK(tnum_bswap64(T(0x0102030405060700ull, 0xff)) == T(0x0007060504030201ull, 0xff00000000000000ull));
  CHECK(tnum_step(T(0, 0b101), uint64_t(0)) == 1);
  CHECK(tnum_step(T(0, 0b101), uint64_t(1)) == 4);
  CHECK(tnum_step(T(0, 0b101), uint64_t(2)) == 4);
  CHECK(tnum_step(T(0, 0b101), uint64_t(4)) == 5);
  CHECK(tnum_step(T(0x10, 0b101), uint64_t(0x10)) == 0x11);
  // The 8-bit example of "bpf: Simplify tnum_step()": mask 0b11010110, d = 162 (value 0 here).
  // The members above 162 start with 0b11000000 = 192.
  CHECK(tnum_step(T(0, 0b11010110), uint64_t(162)) == 192);
}

// ---- Exhaustive soundness -----------------------------------------------------------------

TEST_CASE("tnum add, sub, and, or, xor are sound on every small pair", "[tnum]") {
  SECTION("add") { check_binary_sound(tnum_add<uint64_t>, [](uint64_t x, uint64_t y) { return x + y; }); }
  SECTION("sub") { check_binary_sound(tnum_sub<uint64_t>, [](uint64_t x, uint64_t y) { return x - y; }); }
  SECTION("and") { check_binary_sound(tnum_and<uint64_t>, [](uint64_t x, uint64_t y) { return x & y; }); }
  SECTION("or") { check_binary_sound(tnum_or<uint64_t>, [](uint64_t x, uint64_t y) { return x | y; }); }
  SECTION("xor") { check_binary_sound(tnum_xor<uint64_t>, [](uint64_t x, uint64_t y) { return x ^ y; }); }
}

TEST_CASE("every tnum multiplication is sound on every small pair", "[tnum]") {
  for (auto variant : {TnumMul::KernelPre2021, TnumMul::Our, TnumMul::Kernel618, TnumMul::Tristate}) {
    DYNAMIC_SECTION(tnum_mul_name(variant)) {
      check_binary_sound([variant](const Tnum& a, const Tnum& b) { return tnum_mul_variant(variant, a, b); },
                         [](uint64_t x, uint64_t y) { return x * y; });
    }
  }
}

// Every pair of 5-bit tnums (3^10 pairs), against the optimal result: never less precise than the
// 6.18 multiplication, exact when there are at most four unknown bits, and the same through the
// symbolic code path (the class type takes the branch-free selects, uint64_t the shortcuts).
TEST_CASE("Tristate's multiplication on every 5-bit pair", "[tnum]") {
  std::vector<Tnum> all;
  for (uint64_t value = 0; value < 32; ++value)
    for (uint64_t mask = 0; mask < 32; ++mask)
      if ((value & mask) == 0) all.push_back(T(value, mask));
  REQUIRE(all.size() == 243);
  uint64_t less_precise = 0, inexact_enumerated = 0, optimal = 0, differs_symbolically = 0;
  auto u = [](const BasicTnum<Wrapped>& t) { return T(t.value.v, t.mask.v); };
  for (const Tnum& a : all) {
    for (const Tnum& b : all) {
      uint64_t all_and = ~0ull, any_or = 0;
      for (uint64_t x = 0; x < 32; ++x)
        for (uint64_t y = 0; y < 32; ++y)
          if (tnum_contains(a, x) && tnum_contains(b, y)) all_and &= x * y, any_or |= x * y;
      const Tnum best = T(all_and, all_and ^ any_or);
      const Tnum ours = tnum_mul_tristate(a, b);
      less_precise += !tnum_in(tnum_mul_kernel618(a, b), ours);
      optimal += ours == best;
      if (__builtin_popcountll(a.mask) + __builtin_popcountll(b.mask) <= 4) inexact_enumerated += ours != best;
      differs_symbolically += u(tnum_mul_tristate(BasicTnum<Wrapped>{{a.value}, {a.mask}}, BasicTnum<Wrapped>{{b.value}, {b.mask}})) != ours;
    }
  }
  CHECK(less_precise == 0);
  CHECK(inexact_enumerated == 0);
  CHECK(differs_symbolically == 0);
  // Measured 58993 of 59049 (99.91%); a regression guard.
  CHECK(optimal == 58993);
}

TEST_CASE("tnum multiplications equal their descriptions' branching form", "[tnum]") {
  std::mt19937_64 rng(20250826);
  INFO("seed 20250826");
  std::vector<std::pair<Tnum, Tnum>> pairs;
  for (const Tnum& a : tnums(low(4, 0)))
    for (const Tnum& b : tnums(low(4, kHigh))) pairs.emplace_back(a, b);
  for (int i = 0; i < 20000; ++i) pairs.emplace_back(random_tnum(rng, i % 2), random_tnum(rng, i % 3 == 0));
  uint64_t differ[3] = {0, 0, 0};
  for (const auto& [a, b] : pairs) {
    differ[0] += tnum_mul_kernel_pre2021(a, b) != ref_mul_pre2021(a, b);
    differ[1] += tnum_mul_our(a, b) != ref_mul_our(a, b);
    differ[2] += tnum_mul_kernel618(a, b) != ref_mul_618(a, b);
  }
  CHECK(differ[0] == 0);
  CHECK(differ[1] == 0);
  CHECK(differ[2] == 0);
}

TEST_CASE("tnum union and intersect are sound on every small pair", "[tnum]") {
  uint64_t failures = 0, common = 0;
  for (const auto& [fa, fb] : binary_families())
    for (const Tnum& p : tnums(fa))
      for (const Tnum& q : tnums(fb)) {
        const Tnum u = tnum_union(p, q), i = tnum_intersect(p, q);
        for (uint64_t x : members(p)) failures += !member(u, x);
        for (uint64_t y : members(q)) {
          failures += !member(u, y);
          if (member(p, y)) {
            ++common;
            failures += !member(i, y);
          }
        }
      }
  CHECK(failures == 0);
  CHECK(common > 10000);
}

TEST_CASE("tnum shifts are sound for every constant amount", "[tnum]") {
  for (unsigned s = 0; s < 64; ++s) {
    INFO("shift " << s);
    check_unary_sound([s](const Tnum& a) { return tnum_lshift(a, s); }, [s](uint64_t x) { return x << s; });
    check_unary_sound([s](const Tnum& a) { return tnum_rshift(a, s); }, [s](uint64_t x) { return x >> s; });
    check_unary_sound([s](const Tnum& a) { return tnum_arshift(a, s, 64); },
                      [s](uint64_t x) { return uint64_t(int64_t(x) >> s); });
    if (s < 32)
      check_unary_sound([s](const Tnum& a) { return tnum_arshift(a, s, 32); },
                        [s](uint64_t x) { return uint64_t(uint32_t(int32_t(uint32_t(x)) >> s)); });
  }
}

TEST_CASE("tnum neg, cast, subregister operations and byte swaps are sound", "[tnum]") {
  SECTION("neg") { check_unary_sound(tnum_neg<uint64_t>, [](uint64_t x) { return 0 - x; }); }
  SECTION("cast") {
    for (unsigned size : {1u, 2u, 4u, 8u}) {
      INFO("size " << size);
      const uint64_t keep = size == 8 ? kAll : (1ull << (8 * size)) - 1;
      check_unary_sound([size](const Tnum& a) { return tnum_cast(a, size); }, [keep](uint64_t x) { return x & keep; });
    }
  }
  SECTION("subreg") {
    check_unary_sound(tnum_subreg<uint64_t>, [](uint64_t x) { return x & 0xffffffffull; });
    check_unary_sound(tnum_clear_subreg<uint64_t>, [](uint64_t x) { return x & ~0xffffffffull; });
    for (uint64_t c : {0ull, 0xdeadbeefull, 0xffffffffull, 0x123456789ull}) {
      INFO("constant " << c);
      check_unary_sound([c](const Tnum& a) { return tnum_const_subreg(a, c); },
                        [c](uint64_t x) { return (x & ~0xffffffffull) | (c & 0xffffffffull); });
    }
    check_binary_sound(tnum_with_subreg<uint64_t>,
                       [](uint64_t x, uint64_t y) { return (x & ~0xffffffffull) | (y & 0xffffffffull); });
  }
  SECTION("bswap") {
    check_unary_sound(tnum_bswap16<uint64_t>, [](uint64_t x) { return uint64_t(__builtin_bswap16(uint16_t(x))); });
    check_unary_sound(tnum_bswap32<uint64_t>, [](uint64_t x) { return uint64_t(__builtin_bswap32(uint32_t(x))); });
    check_unary_sound(tnum_bswap64<uint64_t>, [](uint64_t x) { return __builtin_bswap64(x); });
  }
}

// ---- Predicates and range against enumeration ---------------------------------------------

TEST_CASE("tnum in, overlap and is_aligned agree with enumeration", "[tnum]") {
  uint64_t wrong = 0, in_true = 0, overlap_true = 0;
  std::vector<Family> families = {low(4, 0), low(4, kHigh), {{0, 1, 30, 63}, 0, "bits 0 1 30 63"}};
  for (const Family& fa : families)
    for (const Family& fb : families)
      for (const Tnum& a : tnums(fa))
        for (const Tnum& b : tnums(fb)) {
          const auto bs = members(b);
          const bool all_in = std::all_of(bs.begin(), bs.end(), [&](uint64_t y) { return member(a, y); });
          const bool any_in = std::any_of(bs.begin(), bs.end(), [&](uint64_t y) { return member(a, y); });
          wrong += tnum_in(a, b) != all_in;
          wrong += tnum_overlap(a, b) != any_in;
          in_true += all_in;
          overlap_true += any_in;
        }
  for (const Family& f : unary_families())
    for (const Tnum& a : tnums(f))
      for (uint64_t size : {1ull, 2ull, 4ull, 8ull, 16ull, 64ull}) {
        const auto xs = members(a);
        wrong += tnum_is_aligned(a, size) != std::all_of(xs.begin(), xs.end(), [&](uint64_t x) { return x % size == 0; });
      }
  CHECK(wrong == 0);
  CHECK(in_true > 1000);
  CHECK(overlap_true > 1000);
}

TEST_CASE("tnum_step walks the members in order", "[tnum]") {
  uint64_t wrong = 0, checked = 0;
  for (const Family& f : unary_families())
    for (const Tnum& t : tnums(f)) {
      const auto xs = members(t);
      for (size_t i = 0; i + 1 < xs.size(); ++i) {
        // Every z from this member up to the one before the next member, or both ends of a gap too
        // wide to walk.
        const uint64_t gap = xs[i + 1] - xs[i];
        for (uint64_t d = 0; d < gap; d = (gap <= 64 || d + 1 == gap) ? d + 1 : gap - 1) {
          ++checked;
          wrong += tnum_step(t, xs[i] + d) != xs[i + 1];
        }
      }
    }
  CHECK(wrong == 0);
  CHECK(checked > 10000);
}

TEST_CASE("tnum_range holds every value of the range", "[tnum]") {
  uint64_t wrong = 0;
  for (uint64_t lo = 0; lo < 256; ++lo)
    for (uint64_t hi = lo; hi < 256; ++hi) {
      const Tnum r = tnum_range(lo, hi);
      for (uint64_t x = lo; x <= hi; ++x) wrong += !member(r, x);
    }
  std::mt19937_64 rng(4);
  INFO("seed 4");
  for (int i = 0; i < 2000; ++i) {
    const uint64_t lo = rng() >> (rng() % 64);
    const uint64_t span = i % 2 ? rng() % 5000 : rng() >> (rng() % 64);
    const uint64_t hi = lo + span < lo ? kAll : lo + span;
    const Tnum r = tnum_range(lo, hi);
    if (span < 5000)
      for (uint64_t x = lo; x <= hi && x >= lo; ++x) wrong += !member(r, x);
    for (int j = 0; j < 100; ++j) wrong += !member(r, lo + (hi - lo == kAll ? rng() : rng() % (hi - lo + 1)));
    wrong += !member(r, lo) + !member(r, hi);
  }
  CHECK(wrong == 0);
}

// ---- The templates on a class type --------------------------------------------------------

TEST_CASE("tnum templates instantiate with a bit-vector class and agree with uint64_t", "[tnum]") {
  std::mt19937_64 rng(7);
  INFO("seed 7");
  using W = BasicTnum<Wrapped>;
  auto w = [](const Tnum& t) { return W{{t.value}, {t.mask}}; };
  auto u = [](const W& t) { return T(t.value.v, t.mask.v); };
  for (int i = 0; i < 2000; ++i) {
    const Tnum a = random_tnum(rng, i % 2), b = random_tnum(rng, i % 3 == 0);
    const unsigned s = unsigned(rng() % 64);
    CHECK(u(tnum_add(w(a), w(b))) == tnum_add(a, b));
    CHECK(u(tnum_sub(w(a), w(b))) == tnum_sub(a, b));
    CHECK(u(tnum_neg(w(a))) == tnum_neg(a));
    CHECK(u(tnum_and(w(a), w(b))) == tnum_and(a, b));
    CHECK(u(tnum_or(w(a), w(b))) == tnum_or(a, b));
    CHECK(u(tnum_xor(w(a), w(b))) == tnum_xor(a, b));
    CHECK(u(tnum_mul_kernel_pre2021(w(a), w(b))) == tnum_mul_kernel_pre2021(a, b));
    CHECK(u(tnum_mul_our(w(a), w(b))) == tnum_mul_our(a, b));
    CHECK(u(tnum_mul_kernel618(w(a), w(b))) == tnum_mul_kernel618(a, b));
    CHECK(u(tnum_mul_tristate(w(a), w(b))) == tnum_mul_tristate(a, b));
    CHECK(u(tnum_union(w(a), w(b))) == tnum_union(a, b));
    CHECK(u(tnum_intersect(w(a), w(b))) == tnum_intersect(a, b));
    CHECK(u(tnum_arshift(w(a), s, 64)) == tnum_arshift(a, s, 64));
    CHECK(u(tnum_arshift(w(a), s % 32, 32)) == tnum_arshift(a, s % 32, 32));
    CHECK(u(tnum_range(Wrapped{a.value}, Wrapped{a.value | a.mask})) == tnum_range(a.value, a.value | a.mask));
    CHECK(u(tnum_with_subreg(w(a), w(b))) == tnum_with_subreg(a, b));
    CHECK(u(tnum_bswap64(w(a))) == tnum_bswap64(a));
    CHECK(u(tnum_bswap32(w(a))) == tnum_bswap32(a));
    CHECK(u(tnum_bswap16(w(a))) == tnum_bswap16(a));
    CHECK(tnum_step(w(a), Wrapped{a.value}).v == tnum_step(a, a.value));
    CHECK(tnum_in(w(a), w(b)).b == tnum_in(a, b));
    CHECK(tnum_overlap(w(a), w(b)).b == tnum_overlap(a, b));
  }
}
