// Abstract contains concrete: for every corpus program, run 1,000 inputs in the interpreter and
// check that at every instruction every live register's concrete value lies inside one of the
// states the analyzer had for that register there (same type, the value or pointer offset within
// its tnum and bounds). Registers the analyzer has as not initialised are never read, so they
// hold anything.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "analyzer/analyzer.hpp"
#include "compiler/cfg.hpp"
#include "compiler/context.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/liveness.hpp"
#include "compiler/packet_gen.hpp"
#include "tests/support/corpus.hpp"
#include "tests/support/process.hpp"

namespace fs = std::filesystem;
using namespace tristate;

namespace {

// The distinct register states the analyzer had at each (slot, call depth, register).
struct SeenStates {
  std::vector<std::vector<std::array<std::vector<RegState>, 11>>> at;  // [pc][depth][reg]

  void add(std::size_t pc, const VerifierState& st) {
    const std::size_t depth = st.frames.size() - 1;
    if (at[pc].size() <= depth) at[pc].resize(depth + 1);
    for (std::size_t i = 0; i < 11; ++i) {
      auto& v = at[pc][depth][i];
      const RegState& x = st.cur().regs[i];
      if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
    }
  }
};

bool offset_within(const RegState& a, int64_t value) { return a.var.contains(uint64_t(value - a.off)); }

bool contains(const RegState& a, const ObservedReg& c) {
  if (c.kind == ValueKind::Uninit || a.type == RegType::NotInit) return true;
  switch (a.type) {
    case RegType::Scalar:
      if (c.kind == ValueKind::Scalar) return a.var.contains(uint64_t(c.value));
      // A pointer the analyzer lost track of (invalidated packet pointers are unknown scalars).
      return a.var == Scalar::unknown();
    case RegType::Stack: return c.kind == ValueKind::Stack && offset_within(a, c.value);
    case RegType::Ctx: return c.kind == ValueKind::Ctx && offset_within(a, c.value);
    case RegType::Packet: return c.kind == ValueKind::Packet && offset_within(a, c.value);
    case RegType::PacketMeta: return c.kind == ValueKind::PacketMeta && offset_within(a, c.value);
    case RegType::PacketEnd: return c.kind == ValueKind::PacketEnd;
    case RegType::MapPtr: return c.kind == ValueKind::MapPtr;
    case RegType::MapValue: return c.kind == ValueKind::MapValue && offset_within(a, c.value);
    case RegType::MapValueOrNull:
      return (c.kind == ValueKind::MapValue && offset_within(a, c.value)) || (c.kind == ValueKind::Scalar && c.value == 0);
    case RegType::Mem: return c.kind == ValueKind::Mem;
    case RegType::MemOrNull: return c.kind == ValueKind::Mem || (c.kind == ValueKind::Scalar && c.value == 0);
    default: return false;
  }
}

}  // namespace

TEST_CASE("analyzer states contain every concrete value of the corpus programs over 1,000 inputs", "[analyzer][containment]") {
  const std::vector<fs::path> objects = test::corpus_objects();
  REQUIRE(objects.size() >= 28);

  uint64_t programs = 0, runs = 0, checked = 0, outside = 0;
  for (const fs::path& path : objects) {
    const Module module = read_elf(path.string());
    std::vector<std::string> names;
    for (const auto& p : module.programs) names.push_back(p.name());
    for (std::size_t index = 0; index < module.programs.size(); ++index) {
      const Program& prog = module.programs[index];
      const std::string label = path.filename().string() + ":" + prog.name();
      SeenStates seen;
      seen.at.resize(prog.image.size());
      AnalyzeOptions opts;
      opts.on_state = [&](std::size_t pc, const VerifierState& st) { seen.add(pc, st); };
      const AnalysisResult verdict = analyze(module, prog, opts);
      INFO(label << ": " << verdict.reason);
      REQUIRE(verdict.accepted);
      const Liveness live = compute_liveness(build_cfg(prog));
      ++programs;

      MapSet maps(module.maps, 1);
      maps.seed_json(test::corpus_seeds(path), names, Location{path.string(), {}, {}});
      const Interpreter interp(module, maps);
      uint64_t misses_here = 0;
      std::string first_miss;
      InsnObserver observe = [&](std::size_t pc, std::size_t depth, const ObservedReg (&regs)[11]) {
        for (int i = 0; i < 11; ++i) {
          if (!(live.live_in[pc] & (1u << i)) && i != 10) continue;
          ++checked;
          bool ok = false;
          if (pc < seen.at.size() && depth < seen.at[pc].size())
            for (const RegState& a : seen.at[pc][depth][std::size_t(i)]) ok = ok || contains(a, regs[i]);
          if (!ok) {
            ++outside;
            if (misses_here++ == 0)
              first_miss = "insn " + std::to_string(pc) + " R" + std::to_string(i) + " kind " +
                           std::to_string(int(regs[i].kind)) + " value " + std::to_string(regs[i].value);
          }
        }
      };
      RunLimits limits;
      limits.observer = &observe;
      const CtxModel model = interp.ctx_model(index);
      std::mt19937_64 rng(std::hash<std::string>{}(label));
      // 1,000 inputs that run: packets BPF_PROG_TEST_RUN would refuse (too short for the
      // program type) are skipped and replaced by later ones.
      const auto packets = generate_packets(1200, std::hash<std::string>{}(label));
      uint64_t ran = 0;
      for (std::size_t k = 0; k < packets.size() && ran < 1000; ++k) {
        PacketResult out;
        try {
          if (takes_packet(model)) {
            interp.run(index, RunInput{packets[k], {}}, Environment{}, limits, out);
          } else {
            std::vector<uint8_t> ctx(256);
            for (auto& b : ctx) b = uint8_t(rng());
            interp.run(index, RunInput{{}, ctx}, Environment{}, limits, out);
          }
        } catch (const InputError&) {
          continue;  // an input BPF_PROG_TEST_RUN refuses before running (too short for the type)
        }
        INFO(label << " input " << k << ": " << (out.fault ? out.fault->reason : ""));
        CHECK(!out.fault);
        ++runs;
        ++ran;
      }
      CHECK(ran == 1000);
      INFO("first value outside: " << first_miss);
      CHECK(misses_here == 0);
    }
  }
  std::cout << "containment: compared " << checked << " register values at instructions of " << runs << " runs of "
            << programs << " corpus programs with the analyzer's states, " << outside << " outside\n";
  CHECK(programs >= 28);
}
