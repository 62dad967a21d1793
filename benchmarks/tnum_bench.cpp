// Speed of the tnum multiplications (issue 4: ours must stay within 2x of the 6.18 one), with
// tnum_add as the yardstick. Two input sets, drawn once from a fixed seed (printed in the
// context); each benchmark walks the same array:
//  - wide: random 64-bit tnums with a random mask density per tnum, so constants, half-known and
//    nearly unknown operands all occur;
//  - narrow: random 8-bit tnums (each bit 0, 1 or unknown with equal odds, the rest known 0), the
//    inputs of the precision comparison; about a third of the pairs have at most four unknown
//    bits, where tnum_mul_tristate enumerates the products.
// Run: build/benchmarks/tnum_bench
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "analyzer/tnum.hpp"

using namespace tristate;

namespace {

constexpr uint64_t kSeed = 20250826;
constexpr std::size_t kInputs = 4096;  // a power of two, so the index wraps with a mask

enum class Inputs { Wide, Narrow };

std::vector<Tnum> draw_inputs(Inputs kind) {
  std::mt19937_64 rng(kSeed);
  std::vector<Tnum> out(kInputs);
  for (Tnum& t : out) {
    if (kind == Inputs::Wide) {
      // The mask is the AND of 0..3 random words (all unknown, half, a quarter, an eighth).
      uint64_t mask = ~0ull;
      for (uint64_t k = rng() % 4; k > 0; --k) mask &= rng();
      t.mask = mask;
      t.value = rng() & ~mask;
    } else {
      t = {0, 0};
      for (unsigned bit = 0; bit < 8; ++bit) {
        const uint64_t trit = rng() % 3;  // 0, 1, unknown
        if (trit == 1) t.value |= uint64_t{1} << bit;
        if (trit == 2) t.mask |= uint64_t{1} << bit;
      }
    }
  }
  return out;
}

const std::vector<Tnum>& inputs(Inputs kind) {
  static const std::vector<Tnum> wide = draw_inputs(Inputs::Wide);
  static const std::vector<Tnum> narrow = draw_inputs(Inputs::Narrow);
  return kind == Inputs::Wide ? wide : narrow;
}

template <Tnum (*Op)(const Tnum&, const Tnum&), Inputs Kind>
void BM_Tnum(benchmark::State& state) {
  const std::vector<Tnum>& in = inputs(Kind);
  std::size_t i = 0;
  for (auto _ : state) {
    const Tnum r = Op(in[i & (kInputs - 1)], in[(i + 1) & (kInputs - 1)]);
    benchmark::DoNotOptimize(r);
    ++i;
  }
  state.counters["ns/op"] =
      benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

Tnum add(const Tnum& a, const Tnum& b) { return tnum_add(a, b); }
Tnum mul_kernel_pre2021(const Tnum& a, const Tnum& b) { return tnum_mul_kernel_pre2021(a, b); }
Tnum mul_our(const Tnum& a, const Tnum& b) { return tnum_mul_our(a, b); }
Tnum mul_kernel618(const Tnum& a, const Tnum& b) { return tnum_mul_kernel618(a, b); }
Tnum mul_tristate(const Tnum& a, const Tnum& b) { return tnum_mul_tristate(a, b); }

}  // namespace

BENCHMARK(BM_Tnum<add, Inputs::Wide>)->Name("tnum_add/wide");
BENCHMARK(BM_Tnum<mul_kernel_pre2021, Inputs::Wide>)->Name("tnum_mul/kernel-pre2021/wide");
BENCHMARK(BM_Tnum<mul_our, Inputs::Wide>)->Name("tnum_mul/our/wide");
BENCHMARK(BM_Tnum<mul_kernel618, Inputs::Wide>)->Name("tnum_mul/kernel618/wide");
BENCHMARK(BM_Tnum<mul_tristate, Inputs::Wide>)->Name("tnum_mul/tristate/wide");
BENCHMARK(BM_Tnum<add, Inputs::Narrow>)->Name("tnum_add/narrow");
BENCHMARK(BM_Tnum<mul_kernel_pre2021, Inputs::Narrow>)->Name("tnum_mul/kernel-pre2021/narrow");
BENCHMARK(BM_Tnum<mul_our, Inputs::Narrow>)->Name("tnum_mul/our/narrow");
BENCHMARK(BM_Tnum<mul_kernel618, Inputs::Narrow>)->Name("tnum_mul/kernel618/narrow");
BENCHMARK(BM_Tnum<mul_tristate, Inputs::Narrow>)->Name("tnum_mul/tristate/narrow");

int main(int argc, char** argv) {
  benchmark::AddCustomContext("seed", std::to_string(kSeed));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
