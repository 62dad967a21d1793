// Candidate designs for Tristate's own tnum multiplication (issue 4), measured for precision
// against the 6.18 one over every pair of N-bit tnums (whole 64-bit results, as `tristate tnum
// compare` measures): how often each is optimal, and how often it is more or less precise than
// 6.18. Each candidate is sound by construction (an intersection or a union over a case split of
// sound results); the comparison also checks soundness by enumeration.
// Run: build/benchmarks/tnum_mul_candidates [WIDTH]   (default 6; 8 takes under a minute)
#include <cstdio>
#include <cstdlib>

#include "analyzer/tnum.hpp"
#include "analyzer/tnum_precision.hpp"

using namespace tristate;

namespace {

Tnum mul618(const Tnum& a, const Tnum& b) { return tnum_mul_kernel618(a, b); }

// 6.18's result depends on the operands' order; both orders are sound, so their intersection is.
Tnum both_orders(const Tnum& a, const Tnum& b) {
  return tnum_intersect(tnum_mul_kernel618(a, b), tnum_mul_kernel618(b, a));
}

Tnum with_bit(const Tnum& t, uint64_t bit, bool one) { return {t.value | (one ? bit : 0), t.mask & ~bit}; }

// Case split on b's lowest (or highest) unknown bit: the union of the two products is sound.
Tnum split_b(const Tnum& a, const Tnum& b, bool lowest) {
  if (!b.mask) return tnum_mul_kernel618(a, b);
  const uint64_t bit = lowest ? b.mask & -b.mask : uint64_t(1) << (63 - __builtin_clzll(b.mask));
  return tnum_union(tnum_mul_kernel618(a, with_bit(b, bit, false)), tnum_mul_kernel618(a, with_bit(b, bit, true)));
}
Tnum split_low(const Tnum& a, const Tnum& b) { return split_b(a, b, true); }
Tnum split_high(const Tnum& a, const Tnum& b) { return split_b(a, b, false); }
Tnum split_low_both_orders(const Tnum& a, const Tnum& b) { return tnum_intersect(split_b(a, b, true), split_b(b, a, true)); }

// The pieces tnum_mul_tristate is made of (analyzer/tnum.hpp), alone and together.
Tnum known_first(const Tnum& a, const Tnum& b) { return tnum_detail::mul_known_first(a, b); }
Tnum with_range(const Tnum& a, const Tnum& b) { return tnum_intersect(mul618(a, b), tnum_detail::mul_range(a, b)); }
Tnum estimates(const Tnum& a, const Tnum& b) { return tnum_detail::mul_estimates(a, b); }
Tnum ours(const Tnum& a, const Tnum& b) { return tnum_mul_tristate(a, b); }

}  // namespace

int main(int argc, char** argv) {
  TnumPrecisionOptions options;
  options.width = argc > 1 ? unsigned(std::atoi(argv[1])) : 6;
  options.jobs = 2;
  const std::vector<TnumVariant> candidates = {{"kernel618 (1 mul)", mul618},
                                               {"both orders (2 muls)", both_orders},
                                               {"split b's lowest unknown bit (2 muls)", split_low},
                                               {"split b's highest unknown bit (2 muls)", split_high},
                                               {"split lowest, both orders (4 muls)", split_low_both_orders},
                                               {"known first (alone)", known_first},
                                               {"6.18 and range", with_range},
                                               {"6.18, known first and range", estimates},
                                               {"tristate (those, or exact if <= 4 unknown)", ours}};
  const TnumPrecisionReport r = compare_tnum_precision(TnumOp::Mul, candidates, options);
  std::printf("%u-bit pairs: %llu; unsound results: %llu\n", options.width, static_cast<unsigned long long>(r.pairs),
              static_cast<unsigned long long>(r.unsound_count));
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const TnumPairCounts& c = r.against(i, 0);
    std::printf("%-40s optimal %6.2f%%   vs kernel618: more precise %5.2f%%, less %5.2f%%, incomparable %5.2f%%\n",
                candidates[i].name.c_str(), 100.0 * double(r.optimal[i]) / double(r.pairs),
                100.0 * double(c.more) / double(r.pairs), 100.0 * double(c.less) / double(r.pairs),
                100.0 * double(c.incomparable) / double(r.pairs));
  }
  return r.unsound_count == 0 ? 0 : 1;
}
