// Soundness proofs of the tnum operators (analyzer/tnum.hpp) with Z3: the operator's own template
// code, instantiated on symbolic bit-vectors (verifier/z3_bv.hpp), against the concrete operation
// written independently with Z3's bit-vector operations. For tnums P = (v1; m1), Q = (v2; m2),
// well formed (v & m == 0), and members x of P and y of Q, the query asks for op(x, y) outside
// op#(P, Q); unsat proves the operator sound for every input at that width.
// This header does not mention Z3.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "analyzer/tnum.hpp"

namespace tristate {

struct TnumProofOptions {
  // Bit-vector width of the query. Only operators whose code is width-independent accept a width
  // other than 64 (tnum_proof_width_generic).
  unsigned width = 64;
  TnumMul mul = TnumMul::Tristate;  // the variant "mul" proves
  unsigned timeout_ms = 60'000;      // 0: no limit
};

struct TnumProved {};

// Inputs and both sides' values, at the query's width. `parameter` is the shift amount or the
// cast size for the operators that take one (every amount is in the same query).
struct TnumCounterexample {
  Tnum p;
  Tnum q;
  uint64_t x = 0;
  uint64_t y = 0;
  uint64_t concrete = 0;  // op(x, y)
  Tnum abstract;          // op#(P, Q), which does not contain `concrete`
  std::optional<unsigned> parameter;
};

struct TnumUnknown {
  std::string reason;  // Z3's reason: "timeout", "canceled", ...
};

using TnumProofVerdict = std::variant<TnumProved, TnumCounterexample, TnumUnknown>;

struct TnumProofResult {
  std::string op;
  unsigned width = 64;
  TnumProofVerdict verdict;
  double seconds = 0;
};

// The operators `prove` knows, in the order `all` proves them. "mul" proves options.mul.
const std::vector<std::string>& tnum_proof_operators();

// What the operator's parameter is ("shift amount", "size"), or empty when it has none.
std::string_view tnum_proof_parameter_name(std::string_view op);

// Whether the operator's code is independent of the width (so --width may change it).
bool tnum_proof_width_generic(std::string_view op);

// Throws InputError for an unknown operator or a width the operator does not support. Besides
// tnum_proof_operators() it accepts "broken-add", a test-only add without its carry mask (so
// unsound), to show that counterexamples are found.
TnumProofResult prove_tnum_operator(std::string_view op, const TnumProofOptions& options);

// The test-only unsound operator "broken-add" proves: tnum_add without the carry mask (a bit is
// unknown only where an operand is unknown), wrong wherever a carry out of an unknown bit may or
// may not happen. A template so that tests replay its counterexamples on uint64_t.
template <BitVector V>
BasicTnum<V> tnum_add_without_carries(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const V unknown = a.mask | b.mask;
  return {(a.value + b.value) & ~unknown, unknown};
}

// The variant named by tnum_mul_name, or nullopt.
std::optional<TnumMul> parse_tnum_mul(std::string_view name);

}  // namespace tristate
