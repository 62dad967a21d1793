// The Z3 optimality proofs of add, sub, and, or, xor at 64 bits, and the test-only lossy and
// refuted with a counterexample that replays on the uint64_t instantiation: every member pair
// enumerated gives the same value at the bit the operator leaves unknown. The test-only broken
// add is refuted as unsound.
#include "verifier/tnum_optimality.hpp"

#include <bit>
#include <catch2/catch.hpp>

#include "compiler/error.hpp"

using namespace tristate;

namespace {

std::string describe(const TnumOptimalityResult& r) {
  if (std::holds_alternative<TnumOptimal>(r.verdict)) return r.op + ": optimal";
  if (const auto* u = std::get_if<TnumUnknown>(&r.verdict)) return r.op + ": unknown: " + u->reason;
  if (const auto* s = std::get_if<TnumCounterexample>(&r.verdict))
    return r.op + ": unsound P=" + tnum_strn(s->p) + " Q=" + tnum_strn(s->q);
  const auto& c = std::get<TnumOptimalityCounterexample>(r.verdict);
  return r.op + ": counterexample P=" + tnum_strn(c.p) + " Q=" + tnum_strn(c.q) + " bit " + std::to_string(c.bit);
}

uint64_t low_bits(unsigned width) { return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1; }

// Replays a counterexample to the lossy and on uint64_t: the inputs are well formed, the lossy
// result is the reported one and leaves the bit unknown, and every member pair, enumerated, has
// the reported value there (so the tighter result is sound).
void replay_lossy_and(const TnumOptimalityCounterexample& c) {
  INFO("P=" << tnum_strn(c.p) << " Q=" << tnum_strn(c.q) << " bit " << c.bit << " value " << c.value);
  const uint64_t low = low_bits(c.width);
  REQUIRE(c.bit < c.width);
  CHECK((c.p.value & c.p.mask) == 0);
  CHECK((c.q.value & c.q.mask) == 0);
  const Tnum lossy = tnum_and_lossy(c.p, c.q);
  CHECK(Tnum{lossy.value & low, lossy.mask & low} == c.abstract);
  const uint64_t b = uint64_t{1} << c.bit;
  CHECK((c.abstract.mask & b) != 0);
  REQUIRE(std::popcount(c.p.mask) + std::popcount(c.q.mask) <= 20);  // enumerable
  uint64_t pairs = 0;
  for (uint64_t sx = c.p.mask;; sx = (sx - 1) & c.p.mask) {
    for (uint64_t sy = c.q.mask;; sy = (sy - 1) & c.q.mask) {
      const uint64_t z = (c.p.value | sx) & (c.q.value | sy);
      CHECK(((z & b) != 0) == c.value);
      ++pairs;
      if (sy == 0) break;
    }
    if (sx == 0) break;
  }
  CHECK(pairs >= 1);
  // The real and knows the bit, with that value.
  const Tnum exact = tnum_and(c.p, c.q);
  CHECK((exact.mask & b) == 0);
  CHECK(((exact.value & b) != 0) == c.value);
}

}  // namespace

TEST_CASE("add, sub, and, or, xor are optimal at 64 bits", "[tnum][z3]") {
  for (const auto& op : tnum_optimality_operators()) {
    DYNAMIC_SECTION(op) {
      const TnumOptimalityResult r = prove_tnum_optimality(op, {});
      INFO(describe(r));
      CHECK(r.width == 64);
      CHECK(std::holds_alternative<TnumOptimal>(r.verdict));
    }
  }
}

TEST_CASE("the lossy and is refuted at 64 bits and its counterexample replays on uint64_t", "[tnum][z3]") {
  const TnumOptimalityResult r = prove_tnum_optimality("lossy-and", {});
  INFO(describe(r));
  REQUIRE(std::holds_alternative<TnumOptimalityCounterexample>(r.verdict));
  const auto& c = std::get<TnumOptimalityCounterexample>(r.verdict);
  CHECK(c.width == 64);
  CHECK(c.bit == 0);  // the only bit it loses
  replay_lossy_and(c);
}

TEST_CASE("the lossy and is refuted at a small width too", "[tnum][z3]") {
  TnumOptimalityOptions options;
  options.width = 8;
  const TnumOptimalityResult r = prove_tnum_optimality("lossy-and", options);
  INFO(describe(r));
  REQUIRE(std::holds_alternative<TnumOptimalityCounterexample>(r.verdict));
  const auto& c = std::get<TnumOptimalityCounterexample>(r.verdict);
  CHECK(c.width == 8);
  for (uint64_t v : {c.p.value, c.p.mask, c.q.value, c.q.mask, c.abstract.value, c.abstract.mask}) CHECK(v < 256);
  replay_lossy_and(c);
}

TEST_CASE("the enumeration finds the lossy and's counterexample and none for the real operators", "[tnum]") {
  const auto found = search_tnum_optimality_counterexample("lossy-and", 4);
  REQUIRE(found.has_value());
  CHECK(found->width == 1);  // the first width tried: 0 & 0 with bit 0 unknown
  replay_lossy_and(*found);
  for (const auto& op : tnum_optimality_operators()) {
    INFO(op);
    CHECK_FALSE(search_tnum_optimality_counterexample(op, 4).has_value());
  }
}

TEST_CASE("an unsound add is not optimal: its soundness counterexample replays on uint64_t", "[tnum][z3]") {
  const TnumOptimalityResult r = prove_tnum_optimality("broken-add", {});
  INFO(describe(r));
  REQUIRE(std::holds_alternative<TnumCounterexample>(r.verdict));
  const auto& c = std::get<TnumCounterexample>(r.verdict);
  CHECK((c.x & ~c.p.mask) == c.p.value);
  CHECK((c.y & ~c.q.mask) == c.q.value);
  CHECK(c.concrete == c.x + c.y);
  const Tnum replayed = tnum_add_without_carries(c.p, c.q);
  CHECK(replayed == c.abstract);
  CHECK(((c.concrete & ~replayed.mask) != replayed.value));
}

TEST_CASE("tnum optimality refuses unknown operators and widths", "[tnum][z3]") {
  CHECK_THROWS_AS(prove_tnum_optimality("mul", {}), InputError);
  CHECK_THROWS_AS(prove_tnum_optimality("neg", {}), InputError);
  TnumOptimalityOptions zero;
  zero.width = 0;
  CHECK_THROWS_AS(prove_tnum_optimality("add", zero), InputError);
  TnumOptimalityOptions wide;
  wide.width = 65;
  CHECK_THROWS_AS(prove_tnum_optimality("add", wide), InputError);
  CHECK_THROWS_AS(search_tnum_optimality_counterexample("add", 9), InputError);
}
