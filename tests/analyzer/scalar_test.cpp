// The scalar domain (tnum and the eight bounds, analyzer/scalar.hpp) against the concrete
// semantics: for random sets of values, the state built from them contains every one after the
// kernel's bound deductions, and every ALU operation's result state contains the concrete result
// of every pair of members (soundness; the kernel's exact precision is issue 6's log comparison).
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

#include "analyzer/scalar.hpp"
#include "compiler/semantics.hpp"

using namespace tristate;

namespace {

// The tightest state of this domain before deductions: the tnum join and the bounds' hulls.
Scalar hull(const std::vector<uint64_t>& values) {
  Scalar s = Scalar::constant(values[0]);
  for (uint64_t v : values) {
    s.var = tnum_union(s.var, tnum_const(v));
    s.umin = std::min(s.umin, v), s.umax = std::max(s.umax, v);
    s.smin = std::min(s.smin, int64_t(v)), s.smax = std::max(s.smax, int64_t(v));
    s.u32_min = std::min(s.u32_min, uint32_t(v)), s.u32_max = std::max(s.u32_max, uint32_t(v));
    s.s32_min = std::min(s.s32_min, int32_t(uint32_t(v))), s.s32_max = std::max(s.s32_max, int32_t(uint32_t(v)));
  }
  sync_bounds(s);
  return s;
}

uint64_t interesting(std::mt19937_64& rng) {
  static const uint64_t edges[] = {0, 1, 2, 7, 8, 31, 32, 63, 64, 255, 0x7fffffff, 0x80000000, 0xffffffff,
                                   0x100000000, 0x7fffffffffffffff, 0x8000000000000000, ~uint64_t(0), ~uint64_t(1)};
  switch (rng() % 5) {
    case 0: return edges[rng() % std::size(edges)];
    case 1: return rng() % 64;
    case 2: return uint64_t(int64_t(int32_t(uint32_t(rng()))));
    case 3: return edges[rng() % std::size(edges)] + (rng() % 5) - 2;
    default: return rng();
  }
}

std::vector<uint64_t> random_set(std::mt19937_64& rng) {
  std::vector<uint64_t> out{interesting(rng)};
  const unsigned n = unsigned(rng() % 4);
  for (unsigned i = 0; i < n; ++i) out.push_back(rng() % 2 ? interesting(rng) : out[0] + (rng() % 16));
  return out;
}

}  // namespace

TEST_CASE("scalar: the bounds' deductions keep every member", "[scalar]") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const auto values = random_set(rng);
    const Scalar s = hull(values);
    for (uint64_t v : values) {
      INFO(s.to_string() << " must contain " << v);
      REQUIRE(s.contains(v));
    }
  }
}

TEST_CASE("scalar: every ALU operation contains the concrete results", "[scalar]") {
  const ConcreteDomain c;
  const AluOp ops[] = {AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::Div, AluOp::SDiv, AluOp::Or, AluOp::And,
                       AluOp::Lsh, AluOp::Rsh, AluOp::Neg, AluOp::Mod, AluOp::SMod, AluOp::Xor, AluOp::Mov,
                       AluOp::MovSx8, AluOp::MovSx16, AluOp::MovSx32, AluOp::Arsh};
  std::mt19937_64 rng(11);
  long checked = 0;
  for (int i = 0; i < 6000; ++i) {
    const auto a = random_set(rng);
    auto b = random_set(rng);
    if (rng() % 3 == 0) b = {rng() % 70};  // constant shift amounts, some out of range
    const Scalar sa = hull(a), sb = hull(b);
    for (AluOp op : ops)
      for (bool is64 : {true, false}) {
        const Scalar r = scalar_alu(op, is64, sa, sb);
        for (uint64_t x : a)
          for (uint64_t y : b) {
            const uint64_t v = alu_result(c, op, is64, x, y);
            INFO("op " << int(op) << (is64 ? " 64" : " 32") << ": " << sa.to_string() << " OP " << sb.to_string()
                       << " = " << r.to_string() << " must contain " << v << " (" << x << " OP " << y << ")");
            REQUIRE(r.contains(v));
            ++checked;
          }
      }
  }
  CHECK(checked > 1000000);
}

TEST_CASE("scalar: constants stay constants, and masks bound a value as the kernel shows it", "[scalar]") {
  const Scalar seven = Scalar::constant(7), five = Scalar::constant(5);
  CHECK(scalar_alu(AluOp::Add, true, seven, five) == Scalar::constant(12));
  CHECK(scalar_alu(AluOp::Sub, false, five, seven) == Scalar::constant(0xfffffffe));
  CHECK(scalar_alu(AluOp::Div, true, seven, Scalar::constant(0)) == Scalar::constant(0));
  const Scalar byte = scalar_alu(AluOp::And, true, Scalar::unknown(), Scalar::constant(0xff));
  CHECK(byte.var == Tnum{0, 0xff});
  CHECK(byte.umin == 0);
  CHECK(byte.umax == 0xff);
  CHECK(byte.smin == 0);
  CHECK(byte.smax == 0xff);
  CHECK(byte.u32_max == 0xff);
  // A 32-bit result is zero-extended: whatever the operands, it is below 2^32.
  const Scalar w = scalar_alu(AluOp::Add, false, Scalar::unknown(), Scalar::unknown());
  CHECK(w.umax == 0xffffffff);
  CHECK(w.smin == 0);
  CHECK(w.var == Tnum{0, 0xffffffff});
}

TEST_CASE("scalar: branches decided and refined keep every pair that takes them", "[scalar]") {
  const ConcreteDomain c;
  const Cond conds[] = {Cond::Eq, Cond::Gt, Cond::Ge, Cond::Set, Cond::Ne, Cond::Sgt,
                        Cond::Sge, Cond::Lt, Cond::Le, Cond::Slt, Cond::Sle};
  std::mt19937_64 rng(13);
  long pairs = 0, decided = 0, dead = 0;
  for (int i = 0; i < 8000; ++i) {
    const auto a = random_set(rng);
    auto b = rng() % 3 == 0 ? std::vector<uint64_t>{interesting(rng)} : random_set(rng);
    if (rng() % 4 == 0) b = a;  // equal sets: the edges of Eq and Ne
    const Scalar sa = hull(a), sb = hull(b);
    for (Cond cond : conds)
      for (bool is64 : {true, false}) {
        const auto verdict = branch_decided(cond, is64, sa, sb);
        decided += verdict.has_value();
        for (bool taken : {true, false}) {
          Scalar ra = sa, rb = sb;
          const bool live = refine_branch(cond, is64, taken, ra, rb);
          dead += !live;
          for (uint64_t x : a)
            for (uint64_t y : b) {
              if (condition(c, cond, is64, x, y) != taken) continue;
              INFO("cond " << int(cond) << (is64 ? " 64 " : " 32 ") << (taken ? "taken: " : "not taken: ") << sa.to_string()
                           << " vs " << sb.to_string() << " with " << x << ", " << y);
              REQUIRE((!verdict || *verdict == taken));
              REQUIRE(live);
              INFO("refined " << ra.to_string() << " vs " << rb.to_string());
              REQUIRE(ra.contains(x));
              REQUIRE(rb.contains(y));
              ++pairs;
            }
        }
      }
  }
  CHECK(pairs > 500000);
  CHECK(decided > 1000);  // the checks above mean something: many branches are decided
  CHECK(dead > 1000);
}
