// Analyzer speed (issue 6): the time to judge every corpus program and the instructions processed
// per second (the kernel's "processed N insns" count of the analysis), one core.
// Run: build/benchmarks/analyzer_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>

#include "analyzer/analyzer.hpp"
#include "compiler/elf_reader.hpp"

using namespace tristate;

namespace {

void BM_AnalyzeProgram(benchmark::State& state, const Module& module, std::size_t index) {
  const Program& prog = module.programs[index];
  uint64_t processed = 0;
  for (auto _ : state) {
    const AnalysisResult r = analyze(module, prog);
    if (!r.accepted) {
      state.SkipWithError(("refused: " + r.reason).c_str());
      return;
    }
    processed += r.processed;
    benchmark::DoNotOptimize(r.states);
  }
  state.counters["insns/s"] = benchmark::Counter(double(processed), benchmark::Counter::kIsRate);
  state.counters["processed"] = double(processed) / double(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> objects;
  for (const auto& e : std::filesystem::directory_iterator(TRISTATE_PROGS_DIR))
    if (e.path().extension() == ".o") objects.push_back(e.path());
  std::sort(objects.begin(), objects.end());
  static std::vector<Module> modules;
  modules.reserve(objects.size());
  for (const auto& p : objects) modules.push_back(read_elf(p.string()));
  for (const Module& m : modules)
    for (std::size_t i = 0; i < m.programs.size(); ++i)
      benchmark::RegisterBenchmark(
          (std::filesystem::path(m.path).filename().string() + ":" + m.programs[i].name()).c_str(),
          [&m, i](benchmark::State& s) { BM_AnalyzeProgram(s, m, i); })
          ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
