// `tristate opt IN -o OUT`: the superoptimizer (synth/optimize.hpp) on one ELF object.
//
//   tristate opt IN -o OUT [--budget S] [--cost insns|latency] [--jobs N] [--seed S]
//                [--mcpu v1|v2|v3|v4] [--prog NAME] [--tests FILE] [--report FILE.json] [--json]
//
// Progress goes to stderr while stderr is a terminal; the final table (or --json) to stdout. The
// output is written to a temporary file beside OUT and renamed over it, so OUT is either the old
// file or the whole new object; OUT may not be IN. Exit status: 0 written, 2 bad input.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compiler/error.hpp"
#include "synth/optimize.hpp"
#include "tools/commands.hpp"

namespace tristate::cli {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

void write_atomically(const std::string& path, const std::vector<uint8_t>& bytes) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string templ = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = mkstemp(templ.data());
  if (fd < 0) throw InputError(Location{path, {}, {}}, "cannot create a file beside it (is the folder writable?)");
  bool ok = ::write(fd, bytes.data(), bytes.size()) == ssize_t(bytes.size());
  ok = ::fchmod(fd, 0644) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  std::error_code ec;
  if (ok) fs::rename(templ, target, ec);
  if (!ok || ec) {
    fs::remove(templ, ec);
    throw InputError(Location{path, {}, {}}, "cannot write the output");
  }
}

json report_json(const std::string& in, const std::string& out, const OptArgs& args, const OptimizeResult& r) {
  json j{{"file", in},          {"output", out},       {"seed", args.seed},   {"budget_s", args.budget},
         {"jobs", args.jobs},   {"cost", args.cost},   {"cpu", r.cpu},        {"tests", r.tests.empty() ? json() : json(r.tests)},
         {"total_s", r.total_s}, {"kernel", r.kernel_available ? json("available") : json("unavailable: " + r.kernel_why)},
         {"programs", json::array()}};
  for (const ProgramReport& p : r.programs) {
    const ProgramSearch& s = p.search;
    json moves = json::object();
    for (std::size_t k = 0; k < kMoveKinds; ++k)
      moves[move_name(MoveKind(k))] = {{"proposed", s.moves[k].proposed}, {"valid", s.moves[k].valid}, {"accepted", s.moves[k].accepted}};
    j["programs"].push_back({{"program", s.program},
                             {"insns_before", p.insns_before},
                             {"insns_after", p.insns_after},
                             {"cost_before", s.cost_before},
                             {"cost_after", p.kept ? s.cost_after : s.cost_before},
                             {"optimized", p.kept},
                             {"reason", p.reason.empty() ? json() : json(p.reason)},
                             {"time_to_best_s", s.time_to_best_s},
                             {"total_s", s.total_s},
                             {"z3_queries", s.z3_queries},
                             {"cache_hits", s.cache_hits},
                             {"windows", s.windows},
                             {"windows_searched", s.windows_searched},
                             {"windows_improved", s.windows_improved},
                             {"tail_merges", p.tail_merges},
                             {"budget_exhausted", s.budget_exhausted},
                             {"effort", s.effort},
                             {"proposals", s.proposals},
                             {"counterexamples", s.counterexamples},
                             {"analyzer_rejects", s.analyzer_rejects},
                             {"proof_errors", s.proof_errors},
                             {"moves", moves},
                             {"gates", {{"z3", p.gates.z3}, {"analyzer", p.gates.analyzer}, {"kernel", p.gates.kernel}}},
                             {"kernel_packets", p.kernel_packets}});
  }
  return j;
}

void print_table(const OptimizeResult& r, const std::string& out, std::ostream& os) {
  os << std::left << std::setw(24) << "program" << std::right << std::setw(8) << "insns" << std::setw(8) << "after"
     << std::setw(10) << "est.cost" << std::setw(8) << "after" << std::setw(10) << "best(s)" << std::setw(8) << "Z3"
     << std::setw(8) << "cached" << "  result\n";
  for (const ProgramReport& p : r.programs) {
    const ProgramSearch& s = p.search;
    os << std::left << std::setw(24) << s.program << std::right << std::setw(8) << p.insns_before << std::setw(8)
       << p.insns_after << std::setw(10) << fixed(s.cost_before, 0) << std::setw(8) << fixed(p.kept ? s.cost_after : s.cost_before, 0)
       << std::setw(10) << fixed(s.time_to_best_s, 2) << std::setw(8) << s.z3_queries << std::setw(8) << s.cache_hits << "  "
       << (p.kept ? "optimized" : "unchanged: " + p.reason) << "\n";
  }
  os << "wrote " << out << " in " << fixed(r.total_s, 1) << " s"
     << (r.tests.empty() ? "" : " (test cases from " + r.tests + ")") << "\n";
}

}  // namespace

OptimizeOptions optimize_options(const OptArgs& args) {
  OptimizeOptions o;
  o.search.budget_s = args.budget;
  o.search.jobs = args.jobs;
  o.search.seed = args.seed;
  o.search.cost = args.cost == "latency" ? CostModel::Latency : CostModel::Insns;
  if (!args.mcpu.empty()) o.mcpu = unsigned(args.mcpu[1] - '0');
  o.tests_path = args.tests;
  o.tests_dirs = {TRISTATE_CORPUS_SOURCE_DIR};
  o.program = args.prog;
  return o;
}

int optimize_file(const std::string& in, const std::string& out, const OptArgs& args, bool in_place) {
  std::error_code ec;
  if (!in_place && fs::exists(out) && fs::equivalent(in, out, ec))
    throw InputError(Location{out, {}, {}}, "the output would overwrite the input; give another -o");
  const bool tty = isatty(STDERR_FILENO) && !args.json;
  const auto progress = [&](const SearchProgress& p) {
    if (!tty) return;
    std::cerr << "\r\033[K" << p.program << ": window " << p.window + 1 << "/" << p.windows << ", best cost "
              << fixed(p.best_cost, 0) << ", " << fixed(p.rate, 0) << " candidates/s, " << p.proofs << " proofs, "
              << fixed(p.time_left_s, 1) << " s left" << std::flush;
  };
  const OptimizeResult r = optimize_object(in, optimize_options(args), progress);
  if (tty) std::cerr << "\r\033[K" << std::flush;
  write_atomically(out, r.bytes);
  const json j = report_json(in, out, args, r);
  if (!args.report.empty()) {
    std::ofstream f(args.report);
    f << j.dump(2) << "\n";
    if (!f) throw InputError(Location{args.report, {}, {}}, "cannot write the report");
  }
  if (args.json) std::cout << j.dump(2) << "\n";
  else print_table(r, out, std::cout);
  return 0;
}

void add_opt_search_options(CLI::App& cmd, OptArgs& args) {
  cmd.add_option("--budget", args.budget, "Search time for the whole object, seconds")->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  cmd.add_option("--cost", args.cost, "What a candidate saves: insns (instruction count) or latency (estimated run time)")
      ->check(CLI::IsMember({"insns", "latency"}))
      ->capture_default_str();
  cmd.add_option("--jobs", args.jobs, "Search chains per window, one thread each")->capture_default_str()->check(CLI::Range(1, 64));
  cmd.add_option("--seed", args.seed, "Seed of every random choice (same seed and --jobs 1: same output)")->capture_default_str();
  cmd.add_option("--mcpu", args.mcpu, "Highest BPF instruction set version the output may use (default: the input's)")
      ->check(CLI::IsMember({"v1", "v2", "v3", "v4"}));
  cmd.add_option("--tests", args.tests, "Functional tests to draw test cases from (default: NAME.tests.json beside IN or in the corpus)");
  cmd.add_option("--report", args.report, "Also write the JSON report to this file");
}

void add_opt_command(CLI::App& app, Run& run) {
  auto args = std::make_shared<OptArgs>();
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("opt", "Superoptimize the programs of a BPF ELF object (proved equivalent, kernel-checked)");
  cmd->footer(
      "First, repeated tails of each program (copies of the same code that end the same way) are merged, each\n"
      "merge proved by a simulation check and accepted by the analyzer. Then each program's entry function is\n"
      "searched window by window (straight-line code of its basic blocks) by Markov chain Monte Carlo; a\n"
      "candidate must pass the test cases, the analyzer and a Z3 proof of window equivalence. Before writing,\n"
      "every changed program is proved equivalent as a whole by Z3 to the merged program, accepted by the\n"
      "analyzer and, when bpf() is available, loaded by the kernel and compared with the input on random packets\n"
      "in BPF_PROG_TEST_RUN; a program that fails any of these is written unchanged, with the reason.\n"
      "Test cases: the cases of NAME.tests.json (NAME: IN's file name up to its first dot) and generated packets.\n"
      "Exit status: 0 written, 2 bad input.");
  cmd->add_option("IN", *in, "The ELF object to optimize")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", *out, "The object to write (not IN)")->required();
  add_opt_search_options(*cmd, *args);
  cmd->add_option("--prog", args->prog, "Only this program (default: all)");
  cmd->add_flag("--json", args->json, "Print the report as JSON instead of the table");
  cmd->callback([&run, args, in, out] { run = [args, in, out] { return optimize_file(*in, *out, *args, false); }; });
}

}  // namespace tristate::cli
