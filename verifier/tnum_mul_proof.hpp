// Soundness of the tnum multiplications at 64 bits by lemmas (issue 4). Unrolling a
// multiplication at 64 bits puts 64 tnum additions and a 64-bit multiplier into one query, which
// no solver finishes; instead every piece of the algorithm is proved at 64 bits on its own and an
// induction over the loop joins them (docs/tnum.md, "Multiplication at 64 bits", writes the
// argument out). The lemmas instantiate the very code of analyzer/tnum.hpp on Z3 bit-vectors.
//
// Also the direct, unrolled proof of Tristate's multiplication at narrow widths, one query per
// estimate it intersects (the select and the intersection between them are sound by the
// lemmas "select" and "intersect").
// This header does not mention Z3.
#pragma once

#include <string>
#include <vector>

#include "analyzer/tnum.hpp"

namespace tristate {

enum class TnumLemmaVerdict { Proved, Refuted, Unknown };

struct TnumLemmaResult {
  std::string name;
  std::string statement;  // what was proved, in words
  std::string logic;      // "QF_BV, 64 bits", "QF_UFBV, 64 bits", "integers (QF_NIA)", or the width unrolled
  TnumLemmaVerdict verdict = TnumLemmaVerdict::Unknown;
  std::string detail;  // Z3's reason for unknown, or the model of a refutation
  double seconds = 0;
};

struct TnumMulProof {
  TnumMul variant = TnumMul::Tristate;
  unsigned width = 64;
  std::vector<TnumLemmaResult> lemmas;
  double seconds = 0;
  bool proved() const;
  bool refuted() const;
};

// The variants with a 64-bit proof by lemmas: kernel618 and tristate.
bool tnum_mul_has_inductive_proof(TnumMul variant);

// Throws InputError for a variant without one.
TnumMulProof prove_tnum_mul_inductive(TnumMul variant, unsigned timeout_ms);

// Tristate's multiplication unrolled at `width` bits (1..64), one query per part: the enumerated
// join (when it is complete), the 6.18 product, the known-first product and the range.
TnumMulProof prove_tnum_mul_tristate_unrolled(unsigned width, unsigned timeout_ms);

}  // namespace tristate
