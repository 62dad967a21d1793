// Speed of the tnum multiplications (issue 4: ours must stay within 2x of the 6.18 one), with
// tnum_add as the yardstick, on random 64-bit tnums. The inputs are drawn once from a fixed seed
// (printed in the context) with a random mask density per tnum, so constants, half-known and
// nearly unknown operands all occur; each benchmark walks the same array.
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

const std::vector<Tnum>& inputs() {
  static const std::vector<Tnum> tnums = [] {
    std::mt19937_64 rng(kSeed);
    std::vector<Tnum> out(kInputs);
    for (Tnum& t : out) {
      // The mask is the AND of 0..3 random words (all unknown, half, a quarter, an eighth).
      uint64_t mask = ~0ull;
      for (uint64_t k = rng() % 4; k > 0; --k) mask &= rng();
      t.mask = mask;
      t.value = rng() & ~mask;
    }
    return out;
  }();
  return tnums;
}

template <Tnum (*Op)(const Tnum&, const Tnum&)>
void BM_Tnum(benchmark::State& state) {
  const std::vector<Tnum>& in = inputs();
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

}  // namespace

BENCHMARK(BM_Tnum<add>)->Name("tnum_add");
BENCHMARK(BM_Tnum<mul_kernel_pre2021>)->Name("tnum_mul/kernel-pre2021");
BENCHMARK(BM_Tnum<mul_our>)->Name("tnum_mul/our");
BENCHMARK(BM_Tnum<mul_kernel618>)->Name("tnum_mul/kernel618");

int main(int argc, char** argv) {
  benchmark::AddCustomContext("seed", std::to_string(kSeed));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
