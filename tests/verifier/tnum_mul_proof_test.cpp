// The multiplications' 64-bit proofs by lemmas (verifier/tnum_mul_proof.hpp): 6.18's and
// Tristate's proved, each lemma named and timed; the lemma proof refused for the variants that
// have none; Tristate's unrolled proof at a narrow width, one query per part.
#include "verifier/tnum_mul_proof.hpp"

#include <catch2/catch.hpp>

#include "compiler/error.hpp"

using namespace tristate;

namespace {

void check_proved(const TnumMulProof& p, std::size_t lemmas) {
  CHECK(p.lemmas.size() == lemmas);
  for (const auto& l : p.lemmas) {
    INFO(l.name << " [" << l.logic << "]: " << l.detail);
    CHECK(l.verdict == TnumLemmaVerdict::Proved);
    CHECK(l.seconds > 0);
    CHECK_FALSE(l.statement.empty());
  }
  CHECK(p.proved());
  CHECK_FALSE(p.refuted());
}

}  // namespace

TEST_CASE("the 6.18 multiplication is sound at 64 bits by its loop step", "[tnum][z3]") {
  const TnumMulProof p = prove_tnum_mul_inductive(TnumMul::Kernel618, 0);
  CHECK(p.width == 64);
  check_proved(p, 1);
  CHECK(p.lemmas[0].name == "union-add step");
}

TEST_CASE("Tristate's multiplication is sound at 64 bits by lemmas", "[tnum][z3]") {
  const TnumMulProof p = prove_tnum_mul_inductive(TnumMul::Tristate, 0);
  CHECK(p.width == 64);
  check_proved(p, 9);
}

TEST_CASE("the lemma proof is refused for variants without one", "[tnum][z3]") {
  CHECK_THROWS_AS(prove_tnum_mul_inductive(TnumMul::Our, 0), InputError);
  CHECK_THROWS_AS(prove_tnum_mul_inductive(TnumMul::KernelPre2021, 0), InputError);
  CHECK_FALSE(tnum_mul_has_inductive_proof(TnumMul::Our));
  CHECK(tnum_mul_has_inductive_proof(TnumMul::Tristate));
  CHECK_THROWS_AS(prove_tnum_mul_tristate_unrolled(0, 0), InputError);
  CHECK_THROWS_AS(prove_tnum_mul_tristate_unrolled(65, 0), InputError);
}

TEST_CASE("Tristate's multiplication is sound unrolled at 5 bits, part by part", "[tnum][z3]") {
  const TnumMulProof p = prove_tnum_mul_tristate_unrolled(5, 0);
  CHECK(p.width == 5);
  check_proved(p, 5);
}
