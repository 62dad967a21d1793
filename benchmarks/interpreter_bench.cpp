// Interpreter speed (issue 3's target: >= 300 million instructions per second on straight-line
// ALU code, one core), and time per packet for every corpus program.
// Run: build/benchmarks/interpreter_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "compiler/elf_reader.hpp"
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

// A 64-byte Ethernet/IPv4/TCP SYN from 10.0.0.1:12345 to 10.0.0.2:80 with a valid IPv4
// header checksum: the kind of packet every corpus program parses to the end.
std::vector<uint8_t> tcp_syn() {
  std::vector<uint8_t> p = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,             // Ethernet
                            0x45, 0, 0, 50, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,  // IPv4
                            0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0};  // TCP
  p.resize(64, 0);
  uint32_t sum = 0;
  for (std::size_t i = 14; i < 34; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[24] = uint8_t(~sum >> 8);
  p[25] = uint8_t(~sum);
  return p;
}

// One corpus program on one packet, maps seeded from benchmarks/progs/NAME.maps.json. Reports
// the time per packet (the benchmark's time) and per instruction executed.
void corpus_packet(benchmark::State& state, const std::string& object, std::size_t program) {
  const Module module = read_elf(object);
  MapSet maps(module.maps, 1);
  std::string stem = std::filesystem::path(object).stem().string();
  const auto seeds = std::filesystem::path(TRISTATE_SOURCE_DIR) / "benchmarks/progs" / (stem.substr(0, stem.rfind('.')) + ".maps.json");
  std::vector<std::string> names;
  for (const auto& p : module.programs) names.push_back(p.name());
  if (std::filesystem::exists(seeds)) maps.seed_json(nlohmann::json::parse(std::ifstream(seeds)), names, Location{});
  const Interpreter interp(module, maps);
  const std::vector<uint8_t> packet = tcp_syn();
  uint64_t executed = 0;
  const Environment env;
  PacketResult r;
  for (auto _ : state) {
    interp.run(program, RunInput{packet, {}}, env, RunLimits{}, r);
    if (r.fault) {
      state.SkipWithError(r.fault->reason.c_str());
      return;
    }
    benchmark::DoNotOptimize(r.r0);
    executed += r.executed;
  }
  state.counters["insns/packet"] = double(executed) / double(state.iterations());
  state.counters["ns/insn"] =
      benchmark::Counter(double(executed), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void register_corpus() {
  std::vector<std::filesystem::path> objects;
  for (const auto& e : std::filesystem::directory_iterator(TRISTATE_PROGS_DIR))
    if (e.path().extension() == ".o") objects.push_back(e.path());
  std::sort(objects.begin(), objects.end());
  for (const auto& path : objects) {
    const Module module = read_elf(path.string());
    for (std::size_t i = 0; i < module.programs.size(); ++i) {
      if (!takes_packet(ctx_model_for(module.programs[i].prog_type))) continue;
      benchmark::RegisterBenchmark(("BM_CorpusPacket/" + path.stem().string() + ":" + module.programs[i].name()).c_str(),
                                   corpus_packet, path.string(), i);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_corpus();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
