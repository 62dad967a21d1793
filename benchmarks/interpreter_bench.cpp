// Interpreter speed (issue 3's target: >= 300 million instructions per second on straight-line
// ALU code, one core). Run: build/benchmarks/interpreter_bench
#include <benchmark/benchmark.h>

#include <random>

#include "compiler/interpreter.hpp"

using namespace tristate;

namespace {

// r0..r9 set, then `n` ALU instructions over r0..r9 (no division: it is the slow outlier), exit.
std::vector<Insn> straight_line_alu(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Insn> out;
  for (Reg r = 0; r < 10; ++r) out.push_back(encode(Alu{true, AluOp::Mov, r, Operand::k(int32_t(rng()))}).insn[0]);
  static constexpr AluOp kOps[] = {AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::Or, AluOp::And,
                                   AluOp::Xor, AluOp::Lsh, AluOp::Rsh, AluOp::Arsh, AluOp::Mov};
  for (int i = 0; i < n; ++i) {
    const AluOp op = kOps[rng() % std::size(kOps)];
    const bool shift = op == AluOp::Lsh || op == AluOp::Rsh || op == AluOp::Arsh;
    const Operand src = rng() % 2 ? Operand::r(Reg(rng() % 10)) : Operand::k(shift ? int32_t(rng() % 32) : int32_t(rng()));
    out.push_back(encode(Alu{rng() % 2 == 0, op, Reg(rng() % 10), src}).insn[0]);
  }
  out.push_back(encode(Exit{}).insn[0]);
  return out;
}

void BM_StraightLineAlu(benchmark::State& state) {
  const Interpreter interp(straight_line_alu(int(state.range(0)), 42));
  uint64_t executed = 0;
  for (auto _ : state) {
    RunResult r = interp.run();
    benchmark::DoNotOptimize(r.r0);
    executed += r.executed;
  }
  state.counters["insn/s"] = benchmark::Counter(double(executed), benchmark::Counter::kIsRate);
  state.counters["ns/insn"] =
      benchmark::Counter(double(executed), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_StraightLineAlu)->Arg(28)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
