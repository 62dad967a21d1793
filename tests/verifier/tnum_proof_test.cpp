// The Z3 soundness proofs of the tnum operators: every operator but mul proved at 64 bits, each
// multiplication at 8 bits (unrolling mul is exponentially harder with the width; 8 bits takes
// seconds, see the report of `tristate tnum prove mul --width N`), and the test-only broken add
// refuted with a counterexample that replays on the uint64_t instantiation.
#include "verifier/tnum_proof.hpp"

#include <catch2/catch.hpp>

#include "compiler/error.hpp"

using namespace tristate;

namespace {

bool member(const Tnum& t, uint64_t x) { return (x & ~t.mask) == t.value; }

std::string describe(const TnumProofResult& r) {
  if (std::holds_alternative<TnumProved>(r.verdict)) return r.op + ": sound";
  if (const auto* u = std::get_if<TnumUnknown>(&r.verdict)) return r.op + ": unknown: " + u->reason;
  const auto& c = std::get<TnumCounterexample>(r.verdict);
  return r.op + ": counterexample P=" + tnum_strn(c.p) + " Q=" + tnum_strn(c.q) + " abstract=" + tnum_strn(c.abstract);
}

}  // namespace

TEST_CASE("every tnum operator but mul is sound at 64 bits", "[tnum][z3]") {
  for (const auto& op : tnum_proof_operators()) {
    if (op == "mul") continue;
    DYNAMIC_SECTION(op) {
      const TnumProofResult r = prove_tnum_operator(op, {});
      INFO(describe(r));
      CHECK(r.width == 64);
      CHECK(std::holds_alternative<TnumProved>(r.verdict));
    }
  }
}

TEST_CASE("every tnum multiplication is sound at 8 bits", "[tnum][z3]") {
  for (TnumMul v : {TnumMul::KernelPre2021, TnumMul::Our, TnumMul::Kernel618}) {
    DYNAMIC_SECTION(tnum_mul_name(v)) {
      TnumProofOptions options;
      options.width = 8;
      options.mul = v;
      options.timeout_ms = 0;
      const TnumProofResult r = prove_tnum_operator("mul", options);
      INFO(describe(r));
      CHECK(std::holds_alternative<TnumProved>(r.verdict));
    }
  }
}

TEST_CASE("the broken add is refuted and its counterexample replays on uint64_t", "[tnum][z3]") {
  const TnumProofResult r = prove_tnum_operator("broken-add", {});
  REQUIRE(std::holds_alternative<TnumCounterexample>(r.verdict));
  const auto& c = std::get<TnumCounterexample>(r.verdict);
  INFO(describe(r) << " x=" << c.x << " y=" << c.y);
  CHECK_FALSE(c.parameter.has_value());
  // The inputs are what the query assumes: well-formed tnums and members of them.
  CHECK((c.p.value & c.p.mask) == 0);
  CHECK((c.q.value & c.q.mask) == 0);
  CHECK(member(c.p, c.x));
  CHECK(member(c.q, c.y));
  // Z3's values are the uint64_t computation's, and the concrete sum really is outside.
  CHECK(c.concrete == c.x + c.y);
  const Tnum replayed = tnum_add_without_carries(c.p, c.q);
  CHECK(replayed == c.abstract);
  CHECK_FALSE(member(replayed, c.x + c.y));
  // The real add holds it.
  CHECK(member(tnum_add(c.p, c.q), c.x + c.y));
}

TEST_CASE("the broken add is refuted at a small width too", "[tnum][z3]") {
  TnumProofOptions options;
  options.width = 8;
  const TnumProofResult r = prove_tnum_operator("broken-add", options);
  REQUIRE(std::holds_alternative<TnumCounterexample>(r.verdict));
  const auto& c = std::get<TnumCounterexample>(r.verdict);
  // Every value is an 8-bit one, and the sum wraps at 8 bits.
  for (uint64_t v : {c.p.value, c.p.mask, c.q.value, c.q.mask, c.x, c.y, c.concrete}) CHECK(v < 256);
  CHECK(c.concrete == ((c.x + c.y) & 0xff));
  CHECK_FALSE(member(c.abstract, c.concrete));
}

TEST_CASE("tnum proofs refuse unknown operators and widths an operator does not support", "[tnum][z3]") {
  CHECK_THROWS_AS(prove_tnum_operator("div", {}), InputError);
  TnumProofOptions narrow;
  narrow.width = 16;
  CHECK_THROWS_AS(prove_tnum_operator("bswap32", narrow), InputError);
  CHECK_THROWS_AS(prove_tnum_operator("subreg", narrow), InputError);
  TnumProofOptions zero;
  zero.width = 0;
  CHECK_THROWS_AS(prove_tnum_operator("add", zero), InputError);
  CHECK(parse_tnum_mul("kernel618") == TnumMul::Kernel618);
  CHECK_FALSE(parse_tnum_mul("broken").has_value());
  CHECK(tnum_proof_parameter_name("lshift") == "shift amount");
  CHECK(tnum_proof_width_generic("add"));
  CHECK_FALSE(tnum_proof_width_generic("bswap16"));
}
