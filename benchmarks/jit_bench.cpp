// Per-packet cost of the JIT (issue 9: within 1.2x of the kernel's JIT), side by side with the
// kernel on the same programs and packets.
//
// For every XDP program of the corpus (clang -O2, cpu v3 unless --variant), on the packet of its
// first functional case with its maps seeded as that case seeds them:
//  - kernel: BPF_PROG_TEST_RUN with --repeat repetitions per call (the kernel's JIT; the call is
//    timed with CLOCK_MONOTONIC and divided by the repetitions, as benchmarks/suite.cpp does);
//  - jit: PacketProgram::run with Engine::Jit, --repeat runs on one 4096-byte buffer (data at 256
//    like the kernel's test run; as in the kernel's repetitions, neither the packet nor its data
//    offsets are restored between runs, so a program that moves the head runs on what it left);
//  - stage: the same through a Stage (enqueue, run, route to a loopback sink, dequeue): what a
//    pipeline pays per packet besides the queues' own I/O;
//  - interpreter, for scale.
// --rounds rounds, each engine once per round, pinned to CPU 0; the table gives medians, the
// median per-round ratios jit / kernel and stage / kernel per program, and their geometric means.
// Run: build/benchmarks/jit_bench [--rounds 9] [--repeat 100000] [--json FILE]   (as root)
#include <sched.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compiler/frontend.hpp"
#include "datapath/loopback.hpp"
#include "datapath/stage.hpp"
#include "verifier/functional.hpp"
#include "verifier/kernel_object.hpp"
#include "verifier/kernel_oracle.hpp"

using namespace tristate;
using json = nlohmann::json;
namespace dp = tristate::datapath;

namespace {

double now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return double(t.tv_sec) * 1e9 + double(t.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// ns per packet of `repeat` runs of the program on one buffer.
double time_program(dp::PacketProgram& p, const std::vector<uint8_t>& packet, uint32_t repeat) {
  std::vector<uint8_t> frame(4096, 0);
  std::copy(packet.begin(), packet.end(), frame.begin() + 256);
  dp::Buffer b{.region = 1, .length = 4096, .valid_offset = 256, .valid_length = uint32_t(packet.size())};
  const double start = now_ns();
  for (uint32_t i = 0; i < repeat; ++i) p.run(frame, b);  // packet and data offsets as the last run left them
  return (now_ns() - start) / repeat;
}

// ns per packet through a stage whose routes are loopback sinks.
double time_stage(std::shared_ptr<dp::PacketProgram> p, const std::vector<uint8_t>& packet, uint32_t repeat) {
  dp::RegionTable table;
  std::vector<uint8_t> memory(4096, 0);
  std::copy(packet.begin(), packet.end(), memory.begin() + 256);
  dp::RegionId id = table.add(memory).id;
  dp::LoopbackQueue sink(64, &table);
  dp::Stage stage(std::move(p), dp::Routes{.pass = &sink, .tx = &sink, .redirect = {}}, table);
  dp::Buffer b{.region = id, .length = 4096, .valid_offset = 256, .valid_length = uint32_t(packet.size())};
  const double start = now_ns();
  for (uint32_t i = 0; i < repeat; ++i) {
    stage.enqueue(b);
    dp::Dequeued d = sink.dequeue();
    if (d.status != dp::Status::Ok) d = stage.dequeue();  // dropped ones come back from the stage
    b = d.buffer;
  }
  return (now_ns() - start) / repeat;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Per-packet time of Tristate's JIT stage against the kernel's JIT (BPF_PROG_TEST_RUN)."};
  unsigned rounds = 9;
  uint32_t repeat = 100000;
  std::string variant = "v3", json_out, only;
  app.add_option("--rounds", rounds, "rounds (medians are reported)")->capture_default_str();
  app.add_option("--repeat", repeat, "runs per timed call")->capture_default_str();
  app.add_option("--variant", variant, "corpus build: v3 or v4 (clang -O2)")->capture_default_str();
  app.add_option("--only", only, "one program (file stem, e.g. xdp_firewall)");
  app.add_option("--json", json_out, "also write the results to this file");
  CLI11_PARSE(app, argc, argv);

  std::string why;
  if (!kernel_bpf_available(&why)) {
    std::cerr << "jit_bench: this process cannot run BPF programs (" << why << "); run it as root\n";
    return 2;
  }
  cpu_set_t cpu0;
  CPU_ZERO(&cpu0);
  CPU_SET(0, &cpu0);
  sched_setaffinity(0, sizeof cpu0, &cpu0);

  std::vector<std::filesystem::path> objects;
  for (const auto& e : std::filesystem::directory_iterator(TRISTATE_PROGS_DIR)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("xdp_", 0) == 0 && name.ends_with("." + variant + ".o") && (only.empty() || name.rfind(only + ".", 0) == 0))
      objects.push_back(e.path());
  }
  std::sort(objects.begin(), objects.end());

  json rows = json::array();
  double log_jit = 0, log_stage = 0, worst_jit = 0;
  std::size_t counted = 0;
  std::printf("%-22s %10s %10s %10s %10s %8s %8s\n", "program", "kernel ns", "jit ns", "stage ns", "interp ns", "jit/k", "stage/k");
  for (const auto& object : objects) {
    Module m = load_input(object.string(), {});
    const Program& prog = m.programs.front();
    auto tests = find_functional_tests(object.string(), {TRISTATE_CORPUS_SOURCE_DIR});
    if (!tests) continue;
    FunctionalSuite suite = load_functional_suite(*tests);
    std::vector<FunctionalInput> inputs = functional_inputs(m, object.string(), suite);
    auto input = std::find_if(inputs.begin(), inputs.end(), [&](const FunctionalInput& i) { return i.program == 0 && !i.packet.empty(); });
    if (input == inputs.end()) continue;

    KernelObject kernel = KernelObject::load(object.string());
    {
      MapSet seeds(m.maps, kernel.ncpus());
      seed_functional_maps(seeds, m, suite, *input);
      std::vector<MapContents> named;
      for (const MapContents& c : seeds.dump())
        if (suite.seeds.contains(c.name) || (!input->maps.is_null() && input->maps.contains(c.name))) named.push_back(c);
      kernel.seed(named);
    }
    auto make = [&](dp::Engine e) {
      auto p = std::make_shared<dp::PacketProgram>(m, prog.name(), e);
      seed_functional_maps(p->maps(), m, suite, *input);
      return p;
    };
    std::shared_ptr<dp::PacketProgram> jit, stage_prog, interp;
    try {
      jit = make(dp::Engine::Jit);
      stage_prog = make(dp::Engine::Jit);
      interp = make(dp::Engine::Interpreter);
    } catch (const InputError& e) {
      std::printf("%-22s skipped: %s\n", prog.name().c_str(), e.what());
      continue;
    }

    // Ratios are taken per round (the kernel and the JIT measured back to back share the
    // machine's state of the moment) and their median reported: steadier than a ratio of medians.
    std::vector<double> k_ns, j_ns, s_ns, i_ns, jr, sr;
    for (unsigned r = 0; r < rounds; ++r) {
      const double s = now_ns();
      kernel.run(prog.name(), input->packet, input->ctx, repeat);
      k_ns.push_back((now_ns() - s) / repeat);
      j_ns.push_back(time_program(*jit, input->packet, repeat));
      s_ns.push_back(time_stage(stage_prog, input->packet, repeat));
      i_ns.push_back(time_program(*interp, input->packet, std::max<uint32_t>(1, repeat / 10)));
      jr.push_back(j_ns.back() / k_ns.back());
      sr.push_back(s_ns.back() / k_ns.back());
    }
    const double k = median(k_ns), j = median(j_ns), st = median(s_ns), in = median(i_ns), jk = median(jr), sk = median(sr);
    std::printf("%-22s %10.1f %10.1f %10.1f %10.1f %8.2f %8.2f\n", prog.name().c_str(), k, j, st, in, jk, sk);
    log_jit += std::log(jk);
    log_stage += std::log(sk);
    worst_jit = std::max(worst_jit, jk);
    ++counted;
    rows.push_back({{"program", prog.name()}, {"object", object.filename().string()}, {"case", input->name},
                    {"kernel_ns", k}, {"jit_ns", j}, {"stage_ns", st}, {"interpreter_ns", in},
                    {"jit_over_kernel", jk}, {"stage_over_kernel", sk}});
  }
  const double geo_jit = counted ? std::exp(log_jit / double(counted)) : 0;
  const double geo_stage = counted ? std::exp(log_stage / double(counted)) : 0;
  std::printf("geometric means over %zu programs: jit / kernel %.2f (worst %.2f), stage / kernel %.2f (rounds %u, repeat %u, CPU 0)\n",
              counted, geo_jit, worst_jit, geo_stage, rounds, repeat);
  if (!json_out.empty()) {
    std::ofstream(json_out) << json{{"rounds", rounds}, {"repeat", repeat}, {"variant", variant}, {"rows", rows},
                                    {"geomean_jit_over_kernel", geo_jit}, {"worst_jit_over_kernel", worst_jit},
                                    {"geomean_stage_over_kernel", geo_stage}}.dump(2) << "\n";
  }
  return 0;
}
