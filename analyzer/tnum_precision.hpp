// Precision of tnum operators, measured exhaustively at a small width N: for every pair of N-bit
// tnums (3^2N pairs) each variant of an operator is compared with every other variant and with
// the optimal result, the smallest tnum holding every concrete result. Used by
// `tristate tnum compare` and by the analyzer when it picks an operator.
//
// Two ways to compare results. Whole (the default): the 64-bit operators on operands whose bits
// above N are known zero, the way the verifier runs them on small values, so the high bits of a
// result count (up to 2N of them for mul, all 64 for a negative difference). This is the measure
// of the published comparisons: the 6.18 multiplication comes out optimal on 81.4% of 6-bit pairs,
// as its authors report. Truncated (--truncate): both results cut to their low N bits. That is a
// sound N-bit abstraction, since the low N bits of x op y (op one of + - & | ^ *) depend only on
// the low N bits of x and y, and it is exactly what the operator computes when run at width N:
// every operation the operators use (+ - * & | ^ ~ <<) has that low-bits property, the only right
// shifts are of the multiplier, whose bits above N are zero either way, and steps past bit N add
// copies shifted out of the low N bits. It measures the N-bit operator, and hides most of the
// differences between the multiplications, which lie in the carries into the high bits.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/tnum.hpp"

namespace tristate {

enum class TnumOp { Add, Sub, And, Or, Xor, Mul };

// "add", "sub", "and", "or", "xor", "mul".
std::string_view tnum_op_name(TnumOp op);
std::optional<TnumOp> parse_tnum_op(std::string_view name);

// The concrete operation on 64-bit numbers.
uint64_t tnum_op_concrete(TnumOp op, uint64_t x, uint64_t y);

// One abstract operator under comparison.
struct TnumVariant {
  std::string name;
  Tnum (*apply)(const Tnum&, const Tnum&);
};

// The variants of an operator: every multiplication of tnum.hpp for mul (in TnumMul order), the
// kernel's operator for the others.
std::vector<TnumVariant> tnum_variants(TnumOp op);

// Variant i against variant j over all pairs: i's result strictly inside j's (more precise), the
// same tnum, strictly containing j's (less precise), or neither containing the other.
struct TnumPairCounts {
  uint64_t more = 0;
  uint64_t equal = 0;
  uint64_t less = 0;
  uint64_t incomparable = 0;
};

// A pair where a variant's result misses a concrete result: the operator is unsound.
struct TnumUnsoundPair {
  std::size_t variant = 0;
  Tnum a, b, result, optimal;
};

struct TnumPrecisionReport {
  TnumOp op = TnumOp::Mul;
  unsigned width = 0;
  bool truncate = false;
  uint64_t pairs = 0;
  std::vector<std::string> variants;
  std::vector<uint64_t> optimal;       // per variant: pairs where its result is the optimal one
  std::vector<TnumPairCounts> versus;  // [i * variants + j]: variant i against variant j
  uint64_t unsound_count = 0;          // over all variants and pairs
  std::vector<TnumUnsoundPair> unsound;  // the first few, in no particular order

  const TnumPairCounts& against(std::size_t i, std::size_t j) const { return versus[i * variants.size() + j]; }
};

struct TnumPrecisionOptions {
  unsigned width = 8;  // 1..10
  unsigned jobs = 1;   // worker threads; 0 is taken as 1
  // Compare the results cut to their low N bits rather than whole (see above).
  bool truncate = false;
  // Called on the calling thread about every 200 ms with the pairs done so far and the total.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

inline constexpr unsigned kTnumPrecisionMaxWidth = 10;

// Throws InputError for a width outside 1..kTnumPrecisionMaxWidth.
TnumPrecisionReport compare_tnum_precision(TnumOp op, const std::vector<TnumVariant>& variants,
                                           const TnumPrecisionOptions& options);

// The N-bit tnums in the order the comparison enumerates them: index = sum of trit_i * 3^i with
// trit 0 (known 0), 1 (known 1) or 2 (unknown) for bit i.
std::vector<Tnum> all_tnums(unsigned width);

}  // namespace tristate
