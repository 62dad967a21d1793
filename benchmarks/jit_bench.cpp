// Per-packet cost of the JIT (issue 9: within 1.2x of the kernel's JIT), side by side with the
// kernel on the same programs and packets.
//
// For every XDP program of the corpus (clang -O2, cpu v3 unless --variant), on the packet of its
// first functional case with its maps seeded as that case seeds them:
//  - kernel: BPF_PROG_TEST_RUN, the kernel's JIT: the slope between a call of --repeat
//    repetitions and one of a tenth as many (KernelObject::ns_per_run);
//  - jit: PacketProgram::run with Engine::Jit, --repeat runs on one 4096-byte buffer (data at 256
//    like the kernel's test run; as in the kernel's repetitions, neither the packet nor its data
//    offsets are restored between runs, so a program that moves the head runs on what it left);
//  - stage: the same through a Stage, in batches of 32 buffers (enqueue_batch, run, route to a
//    loopback sink, dequeue_batch), each buffer with its own copy of the packet: what a pipeline
//    pays per packet besides the queues' own I/O;
//  - stage1: the same one buffer at a time (enqueue, dequeue);
//  - interpreter, for scale (--no-interpreter leaves it out).
// --rounds rounds, each engine once per round, pinned to CPU 0; the table gives medians, the
// median per-round ratios to the kernel per program, and their geometric means.
// Run: build/benchmarks/jit_bench [--rounds 9] [--repeat 1000000] [--json FILE]   (as root)
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

// Buffers per batch in the batched stage column: a NAPI-sized batch, as AF_XDP rings deliver them.
constexpr std::size_t kStageBatch = 32;

// ns per packet through a stage whose routes are loopback sinks, one buffer at a time (enqueue
// one, dequeue it from the sink or, dropped, from the stage) or in batches of `batch` buffers
// (each with its own copy of the packet in one region), as a pipeline moves them.
double time_stage(std::shared_ptr<dp::PacketProgram> p, const std::vector<uint8_t>& packet, uint32_t repeat, std::size_t batch) {
  constexpr uint32_t kFrame = 4096;
  dp::RegionTable table;
  std::vector<uint8_t> memory(std::size_t(kFrame) * batch, 0);
  std::vector<dp::Buffer> buffers(batch);
  const dp::RegionId id = table.add(memory).id;
  for (std::size_t i = 0; i < batch; ++i) {
    std::copy(packet.begin(), packet.end(), memory.begin() + std::ptrdiff_t(i * kFrame + 256));
    buffers[i] = dp::Buffer{.region = id, .offset = i * kFrame, .length = kFrame, .valid_offset = 256, .valid_length = uint32_t(packet.size())};
  }
  dp::LoopbackQueue sink(2 * batch, &table);
  dp::Stage stage(std::move(p), dp::Routes{.pass = &sink, .tx = &sink, .redirect = {}}, table);
  const uint32_t rounds = std::max<uint32_t>(1, repeat / uint32_t(batch));
  const double start = now_ns();
  for (uint32_t r = 0; r < rounds; ++r) {
    if (batch == 1) {
      stage.enqueue(buffers[0]);
      dp::Dequeued d = sink.dequeue();
      if (d.status != dp::Status::Ok) d = stage.dequeue();  // dropped ones come back from the stage
      buffers[0] = d.buffer;
      continue;
    }
    stage.enqueue_batch(buffers);
    const std::size_t got = sink.dequeue_batch(buffers).done;
    stage.dequeue_batch(std::span<dp::Buffer>(buffers).subspan(got));  // dropped ones come back from the stage
  }
  return (now_ns() - start) / (double(rounds) * double(batch));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Per-packet time of Tristate's JIT stage against the kernel's JIT (BPF_PROG_TEST_RUN)."};
  unsigned rounds = 9;
  uint32_t repeat = 1000000;
  std::string variant = "v3", json_out, only;
  app.add_option("--rounds", rounds, "rounds (medians are reported)")->capture_default_str();
  app.add_option("--repeat", repeat, "runs per timed call")->capture_default_str();
  app.add_option("--variant", variant, "corpus build: v3 or v4 (clang -O2)")->capture_default_str();
  app.add_option("--only", only, "one program (file stem, e.g. xdp_firewall)");
  app.add_option("--json", json_out, "also write the results to this file");
  bool no_interpreter = false;
  app.add_flag("--no-interpreter", no_interpreter, "leave out the interpreter's column (it takes most of the run)");
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

  // Per program: median ns of each side, and median per-round ratios to the kernel.
  struct Side {
    const char* name;
    std::vector<double> ns, ratio;
    double log_ratio_sum = 0, worst = 0;
  };
  json rows = json::array();
  Side jit_side{"jit"}, stage_side{"stage"}, single_side{"stage_single"};
  std::size_t counted = 0;
  std::printf("%-20s %9s %9s %9s %9s %9s %7s %7s %7s\n", "program", "kernel ns", "jit ns", "stage ns", "stage1 ns",
              "interp ns", "jit/k", "stage/k", "stage1/k");
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
    std::shared_ptr<dp::PacketProgram> jit, stage_prog, single_prog, interp;
    try {
      jit = make(dp::Engine::Jit);
      stage_prog = make(dp::Engine::Jit);
      single_prog = make(dp::Engine::Jit);
      interp = make(dp::Engine::Interpreter);
    } catch (const InputError& e) {
      std::printf("%-20s skipped: %s\n", prog.name().c_str(), e.what());
      continue;
    }

    // Ratios are taken per round (the kernel and the JIT measured back to back share the
    // machine's state of the moment) and their median reported: steadier than a ratio of medians.
    std::vector<double> k_ns, i_ns;
    for (Side* side : {&jit_side, &stage_side, &single_side}) side->ns.clear(), side->ratio.clear();
    for (unsigned r = 0; r < rounds; ++r) {
      k_ns.push_back(kernel.ns_per_run(prog.name(), input->packet, input->ctx, repeat));
      jit_side.ns.push_back(time_program(*jit, input->packet, repeat));
      stage_side.ns.push_back(time_stage(stage_prog, input->packet, repeat, kStageBatch));
      single_side.ns.push_back(time_stage(single_prog, input->packet, repeat, 1));
      if (!no_interpreter) i_ns.push_back(time_program(*interp, input->packet, std::max<uint32_t>(1, repeat / 10)));
      for (Side* side : {&jit_side, &stage_side, &single_side}) side->ratio.push_back(side->ns.back() / k_ns.back());
    }
    const double k = median(k_ns), in = median(i_ns);
    json row = {{"program", prog.name()}, {"object", object.filename().string()}, {"case", input->name},
                {"kernel_ns", k}, {"interpreter_ns", in}};
    for (Side* side : {&jit_side, &stage_side, &single_side}) {
      const double ratio = median(side->ratio);
      side->log_ratio_sum += std::log(ratio);
      side->worst = std::max(side->worst, ratio);
      row[std::string(side->name) + "_ns"] = median(side->ns);
      row[std::string(side->name) + "_over_kernel"] = ratio;
    }
    std::printf("%-20s %9.1f %9.1f %9.1f %9.1f %9.1f %7.2f %7.2f %7.2f\n", prog.name().c_str(), k, median(jit_side.ns),
                median(stage_side.ns), median(single_side.ns), in, median(jit_side.ratio), median(stage_side.ratio),
                median(single_side.ratio));
    ++counted;
    rows.push_back(row);
  }
  json summary = {{"rounds", rounds}, {"repeat", repeat}, {"variant", variant}, {"stage_batch", kStageBatch}, {"rows", rows}};
  std::printf("geometric means over %zu programs (worst in brackets):", counted);
  for (Side* side : {&jit_side, &stage_side, &single_side}) {
    const double geo = counted ? std::exp(side->log_ratio_sum / double(counted)) : 0;
    std::printf(" %s / kernel %.2f (%.2f)", side->name, geo, side->worst);
    summary["geomean_" + std::string(side->name) + "_over_kernel"] = geo;
    summary["worst_" + std::string(side->name) + "_over_kernel"] = side->worst;
  }
  std::printf("; rounds %u, repeat %u, CPU 0\n", rounds, repeat);
  if (!json_out.empty()) std::ofstream(json_out) << summary.dump(2) << "\n";
  return 0;
}
