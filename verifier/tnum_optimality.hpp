// Optimality proofs of the tnum operators add, sub, and, or, xor (analyzer/tnum.hpp) with Z3.
//
// The smallest sound tnum for op over (P, Q) is unique: the join of every op(x, y) with x in P
// and y in Q, known exactly where all of them agree. So R = op#(P, Q) is optimal if it is sound
// and each of its unknown bits is witnessed: some member pair gives 0 there and some gives 1.
// Both are quantifier-free queries at the full width. Soundness asks for x in P, y in Q with
// op(x, y) outside R (as verifier/tnum_proof.hpp does). The witness query does not search for
// witnesses; it names them, as terms of P, Q and the bit: each operand's smallest member (value),
// largest (value + mask) and smallest with the bit set, paired per operator (two to five pairs).
// Where the sums (differences) of the extreme members differ, a carry (borrow) decides the bit;
// elsewhere an operand's bit is unknown, and adding or subtracting 2^i flips bit i. For the
// bitwise operators the extremes decide every bit. A third small query proves the named terms
// members. Unsat for all three: every unknown bit of every result has both witnesses.
//
// A sat witness query is not yet a counterexample: the terms may merely miss the witnesses of
// that case. Its (P, Q, bit) is checked with two more queries (does any member pair give 0
// there? 1?); if all members agree it is a counterexample, shrunk to few unknown operand bits.
// Otherwise every pair of tnums of width 1 to search_width is enumerated for a counterexample,
// and the verdict is unknown if there is none.
// This header does not mention Z3.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "analyzer/tnum.hpp"
#include "verifier/tnum_proof.hpp"  // TnumCounterexample (soundness), TnumUnknown

namespace tristate {

struct TnumOptimalityOptions {
  unsigned width = 64;           // bit-vector width of the queries, 1..64
  unsigned timeout_ms = 60'000;  // per query; 0: no limit
  unsigned search_width = 6;     // widest enumeration when the witness terms miss a case
};

struct TnumOptimal {};

// op#(P, Q) leaves `bit` unknown although every op(x, y), x in P and y in Q, has `value` there:
// `abstract` with that bit known to be `value` is sound and more precise. At `width` bits (the
// query's, or the enumeration's if that found it).
struct TnumOptimalityCounterexample {
  Tnum p;
  Tnum q;
  unsigned width = 64;
  unsigned bit = 0;
  bool value = false;
  Tnum abstract;

  Tnum tighter() const {
    const uint64_t b = uint64_t{1} << bit;
    return {(abstract.value & ~b) | (value ? b : 0), abstract.mask & ~b};
  }
};

// TnumCounterexample: the operator is unsound (so not optimal either).
using TnumOptimalityVerdict =
    std::variant<TnumOptimal, TnumOptimalityCounterexample, TnumCounterexample, TnumUnknown>;

struct TnumOptimalityResult {
  std::string op;
  unsigned width = 64;
  TnumOptimalityVerdict verdict;
  double seconds = 0;
};

// "add", "sub", "and", "or", "xor": the order `all` proves them in.
const std::vector<std::string>& tnum_optimality_operators();

// Throws InputError for an unknown operator or a width outside 1..64. Besides
// tnum_optimality_operators() it accepts two test-only operators that show counterexamples are
// found: "lossy-and", a sound but imprecise and (tnum_and_lossy), and "broken-add", the unsound
// add of verifier/tnum_proof.hpp (tnum_add_without_carries).
TnumOptimalityResult prove_tnum_optimality(std::string_view op, const TnumOptimalityOptions& options);

// The enumeration on its own: every pair of tnums of width 1, 2, ..., max_width (at most 8) in
// turn, the first pair (lowest width, then enumeration order) with an unknown result bit on which
// every member pair agrees, or nullopt. Throws InputError like prove_tnum_optimality.
std::optional<TnumOptimalityCounterexample> search_tnum_optimality_counterexample(std::string_view op,
                                                                                   unsigned max_width);

// The test-only operator "lossy-and": tnum_and with bit 0 always unknown. Sound, and not optimal
// wherever tnum_and knows bit 0. A template so that tests replay its counterexamples on uint64_t.
template <BitVector V>
BasicTnum<V> tnum_and_lossy(const BasicTnum<V>& a, const BasicTnum<V>& b) {
  const BasicTnum<V> exact = tnum_and(a, b);
  const V bit0 = BvTraits<V>::constant(a.value, 1);
  return {exact.value & ~bit0, exact.mask | bit0};
}

}  // namespace tristate
