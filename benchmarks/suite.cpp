// The benchmark suite (issue 7): every corpus program at every build variant, before and after
// the optimizer, measured the same way each time. Run it with `benchmarks/run` (which builds
// first and draws the plot); this program writes results.json and results.md.
//
// For each object (-O1/-O2/-O3 x v3/v4) it
//   - asks `tristate opt OBJ -o OUT --budget S --json` for the optimized object; while the
//     command does not exist (before issue 8), "after" is the object itself;
//   - counts instruction slots of each program before and after (the kernel's count: LD_IMM64 is
//     two), from the objects themselves;
//   - asks the analyzer and the kernel (BPF_PROG_LOAD through libbpf) whether they accept the
//     optimized object, and runs its functional tests (NAME.tests.json) in both;
//   - times each packet program in the kernel with BPF_PROG_TEST_RUN: the slope between a call
//     of `repeat` runs and one of a tenth as many, each timed with CLOCK_MONOTONIC
//     (KernelObject::ns_per_run: a call's own fixed cost is left out; the kernel's own per-run
//     figure is rounded to whole nanoseconds), before and after paired in each round (their order alternating), on
//     CPU 0, on the packet of the program's first functional test case; the median over the
//     rounds and the spread (min..max) are reported.
#include <CLI/CLI.hpp>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <tuple>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analyzer/analyzer.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"
#include "compiler/maps.hpp"
#include "compiler/packet_spec.hpp"
#include "verifier/functional.hpp"
#include "verifier/kernel_object.hpp"
#include "verifier/kernel_oracle.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace tristate;

namespace {

struct Options {
  std::string progs_dir = TRISTATE_PROGS_DIR;
  std::string source_dir = TRISTATE_CORPUS_SOURCE_DIR;
  std::string tristate = TRISTATE_BIN;
  std::string out = "benchmarks/results";
  double budget = 4.0;  // seconds of optimizer search per object
  unsigned rounds = 9;
  unsigned repeat = 1000000;
  std::vector<std::string> only;      // program file names (NAME), empty: all
  std::vector<std::string> variants;  // "O2/v3", ..., empty: all
  uint64_t seed = 1;
};

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs argv with stdout and stderr into files; returns the exit status (-1 when it did not exit).
int spawn(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (!freopen(out.c_str(), "w", stdout) || !freopen(err.c_str(), "w", stderr)) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Whether the tristate command line has the optimizer (`tristate opt`).
// (CLI11 answers `tristate opt --help` with the main help when there is no such subcommand, so
// the subcommand list of the main help is what tells.)
bool have_optimizer(const Options& o, const fs::path& scratch) {
  if (spawn({o.tristate, "--help"}, scratch / "help.out", scratch / "help.err") != 0) return false;
  std::istringstream help(read_text(scratch / "help.out"));
  bool in_subcommands = false;
  for (std::string line; std::getline(help, line);) {
    if (line.rfind("SUBCOMMANDS", 0) == 0 || line.rfind("Subcommands:", 0) == 0) in_subcommands = true;  // CLI11 2.x, 1.x
    if (in_subcommands && line.rfind("  opt ", 0) == 0) return true;
  }
  fs::remove(scratch / "help.out");
  fs::remove(scratch / "help.err");
  return false;
}

std::string machine() {
  std::string model = "unknown CPU";
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  utsname u{};
  uname(&u);
  return model + ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " cores, Linux " + u.release;
}

// The variant label of an object: "O2/v3" for progs/NAME.v3.o, "O1/v4" for progs/O1/NAME.v4.o.
std::string variant_of(const fs::path& object, const fs::path& progs_dir) {
  const std::string level = object.parent_path() == progs_dir ? "O2" : object.parent_path().filename().string();
  const std::string stem = object.stem().string();  // NAME.v3
  return level + "/" + stem.substr(stem.rfind('.') + 1);
}

struct Timing {
  std::vector<double> before, after;  // ns per run, one per round
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

json timing_json(const std::vector<double>& v) {
  if (v.empty()) return nullptr;
  return {{"median_ns", median(v)},
          {"min_ns", *std::min_element(v.begin(), v.end())},
          {"max_ns", *std::max_element(v.begin(), v.end())},
          {"rounds_ns", v}};
}

// The first functional case of `program`: its packet, ctx and the seeds it adds.
struct BenchInput {
  std::vector<uint8_t> packet, ctx;
  json maps = json::object();
  std::string name;
};

std::optional<BenchInput> bench_input(const FunctionalSuite& suite, const std::string& program, std::size_t nprograms) {
  for (const json& c : suite.cases) {
    if (c.contains("trigger") || !c.contains("packet")) continue;
    if (c.contains("program") ? c["program"] != program : nprograms != 1) continue;
    BenchInput in;
    in.name = c.value("name", "");
    in.packet = build_packet(c["packet"]);
    if (c.contains("ctx")) in.ctx = parse_byte_spec(c["ctx"].get<std::string>()).bytes;
    if (c.contains("maps")) in.maps = c["maps"];
    return in;
  }
  return std::nullopt;
}

// The maps `seeds` (then `more`) name, as the kernel takes them.
std::vector<MapContents> seeds_for(const Module& module, unsigned ncpus, const json& seeds, const json& more) {
  MapSet maps(module.maps, ncpus);
  std::vector<std::string> names;
  for (const auto& p : module.programs) names.push_back(p.name());
  maps.seed_json(seeds, names, Location{module.path, {}, {}});
  maps.seed_json(more, names, Location{module.path, {}, {}});
  std::vector<MapContents> out;
  for (const MapContents& m : maps.dump())
    if (seeds.contains(m.name) || more.contains(m.name)) out.push_back(m);
  return out;
}

std::string fmt(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string markdown(const json& results) {
  std::ostringstream md;
  md << "Machine: " << results["machine"].get<std::string>() << ". Command: `" << results["command"].get<std::string>()
     << "`. Optimizer: " << (results["optimizer"].get<bool>() ? "`tristate opt`, budget " + fmt(results["budget_s"], 1) + " s per object"
                                                             : "not built yet (after = before)")
     << ". Run time: median of " << results["rounds"] << " rounds of the per-run slope between BPF_PROG_TEST_RUN calls of "
     << results["repeat"] << " and a tenth as many repetitions (min–max in parentheses); speed-up is the median of the rounds' paired before/after ratios.\n\n";
  md << "| program | variant | insns before | after | reduction | time to best (s) | total (s) | Z3 queries | cache hits "
        "| proved | random packets | analyzer | kernel | functional | ns/pkt before | ns/pkt after | speed-up |\n";
  md << "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|---|---|--:|--:|--:|\n";
  const auto num_or_dash = [](const json& j, int digits) { return j.is_null() ? std::string("–") : fmt(j.get<double>(), digits); };
  for (const json& r : results["rows"]) {
    md << "| " << r["object"].get<std::string>() << ":" << r["program"].get<std::string>() << " | " << r["variant"].get<std::string>()
       << " | " << r["insns_before"] << " | " << r["insns_after"] << " | " << fmt(100.0 * r["reduction"].get<double>(), 1) << "% | "
       << num_or_dash(r["time_to_best_s"], 2) << " | " << num_or_dash(r["total_s"], 2) << " | "
       << (r["z3_queries"].is_null() ? "–" : r["z3_queries"].dump()) << " | "
       << (r["cache_hits"].is_null() ? "–" : r["cache_hits"].dump()) << " | " << r.value("proved", "–") << " | "
       << r.value("kernel_packets", "–") << " | " << r["analyzer"].get<std::string>() << " | "
       << r["kernel"].get<std::string>() << " | " << r["functional"].get<std::string>() << " | ";
    if (r["ns_before"].is_null()) {
      md << "n/a | n/a | n/a |\n";
      continue;
    }
    const json& b = r["ns_before"];
    const json& a = r["ns_after"];
    md << fmt(b["median_ns"], 1) << " (" << fmt(b["min_ns"], 1) << "–" << fmt(b["max_ns"], 1) << ") | " << fmt(a["median_ns"], 1)
       << " (" << fmt(a["min_ns"], 1) << "–" << fmt(a["max_ns"], 1) << ") | " << fmt(r["speedup"], 2) << "× ("
       << fmt(r["speedup_min"], 2) << "–" << fmt(r["speedup_max"], 2) << ") |\n";
  }
  const json& s = results["summary"];
  md << "\n" << s["programs"] << " program variants; instructions " << s["insns_before"] << " → " << s["insns_after"] << " ("
     << fmt(100.0 * s["reduction"].get<double>(), 1) << "% fewer; mean per-program reduction at -O2 "
     << fmt(100.0 * s.value("mean_reduction_O2", 0.0), 2) << "%; median time to best "
     << (s["median_time_to_best_s"].is_null() ? std::string("–") : fmt(s["median_time_to_best_s"], 2) + " s") << "); geometric-mean speed-up " << fmt(s["geomean_speedup"], 3)
     << "×; analyzer accepted " << s["analyzer_accepted"].get<std::string>() << ", kernel accepted "
     << s["kernel_accepted"].get<std::string>() << ", functional tests passed " << s["functional_passed"].get<std::string>() << "; total " << fmt(s["total_s"], 0) << " s.\n";
  return md.str();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("The Tristate benchmark suite: every corpus program and build variant, before and after the optimizer");
  app.add_option("--progs", o.progs_dir, "The built corpus (with O1/ and O3/ folders)")->capture_default_str();
  app.add_option("--source", o.source_dir, "The corpus sources (NAME.tests.json, NAME.maps.json)")->capture_default_str();
  app.add_option("--tristate", o.tristate, "The tristate command line (its `opt` makes the after columns)")->capture_default_str();
  app.add_option("--out", o.out, "Where results.json and results.md go")->capture_default_str();
  app.add_option("--budget", o.budget, "Optimizer search time per object, seconds")->capture_default_str();
  app.add_option("--rounds", o.rounds, "Timing rounds (before and after paired in each)")->capture_default_str();
  app.add_option("--repeat", o.repeat, "BPF_PROG_TEST_RUN repetitions per timed call")->capture_default_str();
  app.add_option("--only", o.only, "Only these programs (file names without .c), e.g. --only xdp_lb,tc_nat")->delimiter(',');
  app.add_option("--variants", o.variants, "Only these variants, e.g. --variants O2/v3,O3/v4")->delimiter(',');
  app.add_option("--seed", o.seed, "Seed given to the optimizer")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string why;
  if (!kernel_bpf_available(&why)) {
    std::cerr << "bench_suite: this process cannot load BPF programs (" << why << "); the suite measures in the kernel\n";
    return 2;
  }
  const double t_start = now_s();
  const fs::path progs = fs::absolute(o.progs_dir);
  const fs::path out = fs::absolute(o.out);
  fs::create_directories(out / "optimized");
  const bool optimizer = have_optimizer(o, out);

  std::vector<fs::path> objects;
  for (const fs::path& d : {progs / "O1", progs, progs / "O3"})
    for (const auto& e : fs::directory_iterator(d))
      if (e.path().extension() == ".o") objects.push_back(e.path());
  std::sort(objects.begin(), objects.end(), [&](const fs::path& a, const fs::path& b) {
    return std::make_pair(a.filename(), variant_of(a, progs)) < std::make_pair(b.filename(), variant_of(b, progs));
  });

  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  json results{{"machine", machine()},         {"command", command},   {"optimizer", optimizer}, {"budget_s", o.budget},
               {"rounds", o.rounds},           {"repeat", o.repeat},   {"rows", json::array()}};

  std::size_t done = 0;
  for (const fs::path& object : objects) {
    const std::string stem = object.filename().string();
    const std::string name = stem.substr(0, stem.find('.'));
    const std::string variant = variant_of(object, progs);
    if (!o.only.empty() && std::find(o.only.begin(), o.only.end(), name) == o.only.end()) continue;
    if (!o.variants.empty() && std::find(o.variants.begin(), o.variants.end(), variant) == o.variants.end()) continue;
    ++done;
    std::cerr << "[" << done << "] " << name << " " << variant << "\n";

    const Module before = read_elf(object.string());
    // The optimizer, when there is one.
    fs::path optimized = object;
    json opt_stats = json::object();
    std::string opt_error;
    const double t0 = now_s();
    if (optimizer) {
      const fs::path target = out / "optimized" / (name + "." + variant.substr(0, 2) + "." + variant.substr(3) + ".o");
      const fs::path stats = out / "optimized" / (target.stem().string() + ".json");
      const fs::path err = out / "optimized" / (target.stem().string() + ".err");
      const int rc = spawn({o.tristate, "opt", object.string(), "-o", target.string(), "--budget", fmt(o.budget, 3),
                            "--seed", std::to_string(o.seed), "--json"},
                           stats, err);
      if (rc == 0) {
        optimized = target;
        try {
          opt_stats = json::parse(read_text(stats));
        } catch (const json::exception& e) {
          opt_error = std::string("unreadable --json output: ") + e.what();
        }
      } else {
        opt_error = "tristate opt exited with " + std::to_string(rc) + ": " + read_text(err);
      }
    }
    const double opt_total = now_s() - t0;
    const Module after = read_elf(optimized.string());

    // Verdicts and functional tests of the optimized object.
    std::string kernel_verdict = "accepted";
    std::optional<KernelObject> kb, ka;
    try {
      kb.emplace(KernelObject::load(object.string()));
      ka.emplace(KernelObject::load(optimized.string()));
    } catch (const InputError& e) {
      kernel_verdict = std::string("refused: ") + e.what();
    }
    const auto tests = find_functional_tests(object.string(), {o.source_dir});
    std::optional<FunctionalSuite> suite;
    if (tests) suite = load_functional_suite(*tests);

    for (std::size_t i = 0; i < after.programs.size(); ++i) {
      const Program& pa = after.programs[i];
      const Program* pb = nullptr;
      for (const auto& p : before.programs)
        if (p.name() == pa.name()) pb = &p;
      if (!pb) continue;
      json row{{"object", name},
               {"program", pa.name()},
               {"variant", variant},
               {"insns_before", pb->image.size()},
               {"insns_after", pa.image.size()},
               {"reduction", 1.0 - double(pa.image.size()) / double(pb->image.size())}};
      // The optimizer's own figures for this program (its --json output), when it ran.
      json prog_stats = nullptr;
      if (opt_stats.contains("programs"))
        for (const json& p : opt_stats["programs"])
          if (p.value("program", "") == pa.name()) prog_stats = p;
      const auto stat = [&](const char* key) { return prog_stats.is_object() && prog_stats.contains(key) ? prog_stats[key] : json(nullptr); };
      row["time_to_best_s"] = stat("time_to_best_s");
      row["total_s"] = optimizer ? (stat("total_s").is_null() ? json(opt_total) : stat("total_s")) : json(nullptr);
      row["z3_queries"] = stat("z3_queries");
      row["cache_hits"] = stat("cache_hits");
      if (!opt_error.empty()) row["optimizer_error"] = opt_error;
      // The optimizer's gates: a program it changed was proved equivalent as a whole and compared
      // with the input on random packets in the kernel; one it left alone is the input itself.
      const bool changed = stat("optimized") == true;
      row["proved"] = !optimizer ? "–" : changed ? (stat("gates").value("z3", "").rfind("passed", 0) == 0 ? "yes" : "NO") : "unchanged";
      row["kernel_packets"] = !changed ? json("–")
                              : stat("gates").value("kernel", "").rfind("passed", 0) == 0
                                  ? (stat("kernel_packets").get<int>() == 0
                                         ? json("loaded; type not test-runnable")
                                         : json(std::to_string(stat("kernel_packets").get<int>()) + " same"))
                                  : json("NO: " + stat("gates").value("kernel", ""));
      if (!stat("reason").is_null()) row["unchanged_reason"] = stat("reason");

      const AnalysisResult ar = analyze(after, pa);
      row["analyzer"] = ar.accepted ? "accepted" : (ar.reason.rfind("unsupported:", 0) == 0 ? "unsupported" : "refused");
      if (!ar.accepted) row["analyzer_reason"] = ar.reason;
      row["kernel"] = kernel_verdict.rfind("refused", 0) == 0 ? "refused" : "accepted";
      if (kernel_verdict != "accepted") row["kernel_reason"] = kernel_verdict;

      // Functional tests of this program, optimized, in both engines.
      std::string functional = "no tests";
      if (suite && ka) {
        FunctionalSuite mine = *suite;
        mine.cases.clear();
        for (const json& c : suite->cases)
          if (c.value("program", after.programs.size() == 1 ? pa.name() : "") == pa.name()) mine.cases.push_back(c);
        auto res = run_functional_interpreter(after, optimized.string(), mine);
        auto kres = run_functional_kernel(after, optimized.string(), mine);
        res.insert(res.end(), kres.begin(), kres.end());
        std::size_t ok = 0;
        for (const auto& r : res) ok += r.passed();
        functional = std::to_string(ok) + "/" + std::to_string(res.size());
      }
      row["functional"] = functional;

      // Run time per packet, paired before/after.
      row["ns_before"] = nullptr;
      row["ns_after"] = nullptr;
      row["speedup"] = nullptr;
      if (kb && ka && kb->can_test_run(pa.name()) && suite) {
        const auto input = bench_input(*suite, pa.name(), after.programs.size());
        if (input) {
          row["timing_case"] = input->name;
          for (KernelObject* k : {&*kb, &*ka}) {
            k->reset();
            k->seed(seeds_for(before, k->ncpus(), suite->seeds, input->maps));
          }
          Timing t;
          for (unsigned r = 0; r < o.rounds; ++r) {
            for (int side = 0; side < 2; ++side) {
              const bool is_after = (side == 1) != (r % 2 == 1);  // alternate which goes first
              KernelObject& k = is_after ? *ka : *kb;
              (is_after ? t.after : t.before).push_back(k.ns_per_run(pa.name(), input->packet, input->ctx, o.repeat));
            }
          }
          row["ns_before"] = timing_json(t.before);
          row["ns_after"] = timing_json(t.after);
          // Each round's before/after pair shares the machine's state of the moment; the median of
          // the paired ratios is steadier than the ratio of the medians.
          std::vector<double> ratios;
          for (std::size_t r = 0; r < t.before.size(); ++r) ratios.push_back(t.before[r] / t.after[r]);
          row["speedup"] = median(ratios);
          row["speedup_min"] = *std::min_element(ratios.begin(), ratios.end());
          row["speedup_max"] = *std::max_element(ratios.begin(), ratios.end());
        }
      }
      results["rows"].push_back(row);
    }
  }

  // Totals.
  uint64_t ib = 0, ia = 0;
  double log_speedup = 0;
  std::size_t timed = 0, az = 0, kz = 0, fz = 0;
  for (const json& r : results["rows"]) {
    ib += r["insns_before"].get<uint64_t>();
    ia += r["insns_after"].get<uint64_t>();
    if (!r["speedup"].is_null()) {
      log_speedup += std::log(r["speedup"].get<double>());
      ++timed;
    }
    az += r["analyzer"] == "accepted";
    kz += r["kernel"] == "accepted";
    const std::string f = r["functional"];
    fz += f.find('/') != std::string::npos && f.substr(0, f.find('/')) == f.substr(f.find('/') + 1);
  }
  const std::size_t n = results["rows"].size();
  // The yardsticks: the mean of per-program reductions on -O2 builds, and the median
  // time to the best program.
  double o2_sum = 0;
  std::size_t o2 = 0;
  std::vector<double> to_best;
  for (const json& r : results["rows"]) {
    if (r["variant"].get<std::string>().rfind("O2", 0) == 0) {
      o2_sum += r["reduction"].get<double>();
      ++o2;
    }
    if (!r["time_to_best_s"].is_null()) to_best.push_back(r["time_to_best_s"].get<double>());
  }
  std::sort(to_best.begin(), to_best.end());
  results["summary"] = {{"programs", n},
                        {"mean_reduction_O2", o2 ? o2_sum / double(o2) : 0.0},
                        {"median_time_to_best_s", to_best.empty() ? json(nullptr) : json(to_best[to_best.size() / 2])},
                        {"insns_before", ib},
                        {"insns_after", ia},
                        {"reduction", ib ? 1.0 - double(ia) / double(ib) : 0.0},
                        {"geomean_speedup", timed ? std::exp(log_speedup / double(timed)) : 1.0},
                        {"analyzer_accepted", std::to_string(az) + "/" + std::to_string(n)},
                        {"kernel_accepted", std::to_string(kz) + "/" + std::to_string(n)},
                        {"functional_passed", std::to_string(fz) + "/" + std::to_string(n)},
                        {"total_s", now_s() - t_start}};
  // plot.tsv for benchmarks/run's plot: per program, the mean reduction (%) over its variants and
  // the geometric mean of their speed-ups (NaN, no bar, for programs the kernel cannot time).
  {
    std::map<std::string, std::tuple<double, double, std::size_t, std::size_t>> per;  // red sum, log sum, n, timed
    std::vector<std::string> order;
    for (const json& r : results["rows"]) {
      const std::string label = r["object"].get<std::string>() == r["program"].get<std::string>()
                                    ? r["object"].get<std::string>()
                                    : r["object"].get<std::string>() + ":" + r["program"].get<std::string>();
      if (!per.count(label)) order.push_back(label);
      auto& [red, logs, count, timed_n] = per[label];
      red += 100.0 * r["reduction"].get<double>();
      ++count;
      if (!r["speedup"].is_null()) {
        logs += std::log(r["speedup"].get<double>());
        ++timed_n;
      }
    }
    std::ofstream tsv(out / "plot.tsv");
    for (const std::string& label : order) {
      const auto& [red, logs, count, timed_n] = per[label];
      tsv << label << "\t" << red / double(count) << "\t" << (timed_n ? std::to_string(std::exp(logs / double(timed_n))) : std::string("NaN")) << "\n";
    }
  }
  std::ofstream(out / "results.json") << results.dump(2) << "\n";
  std::ofstream(out / "results.md") << markdown(results);
  std::cerr << "wrote " << (out / "results.json").string() << " and " << (out / "results.md").string() << " ("
            << n << " rows, " << fmt(now_s() - t_start, 0) << " s)\n";
  return 0;
}
