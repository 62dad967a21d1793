// `tristate check`: would the kernel verifier accept the program? Answered in-process by the
// analyzer (analyzer/analyzer.hpp), which mirrors the Linux 6.18 verifier for a root loader.
//
//   tristate check FILE [--prog NAME] [--log] [--json] [--max-insns N]
//
// Prints, per program, `accepted` with the instructions processed, or the refused instruction and
// the reason in the kernel's words. --log prints the state after every instruction, in the style
// of the kernel's log_level=2 output. Exit status: 0 every program accepted; 2 a program refused
// (or bad input); 3 the analyzer cannot decide (a construct it does not mirror).
#include <iostream>
#include <nlohmann/json.hpp>

#include "analyzer/analyzer.hpp"
#include "compiler/error.hpp"
#include "tools/commands.hpp"
#include "tools/input_options.hpp"

namespace tristate::cli {

namespace {

struct CheckArgs {
  InputArgs input;
  std::string prog;
  bool log = false;
  bool json = false;
  uint64_t max_insns = AnalyzeOptions{}.max_insns;
};

bool unsupported(const AnalysisResult& r) { return !r.accepted && r.reason.rfind("unsupported:", 0) == 0; }

int run_check(const CheckArgs& args) {
  const Module module = load(args.input);
  const std::vector<const Program*> programs = select_programs(module, args.prog);
  AnalyzeOptions opts;
  opts.log = args.log;
  opts.max_insns = args.max_insns;
  int status = 0;
  nlohmann::json out = nlohmann::json::array();
  for (const Program* p : programs) {
    const AnalysisResult r = analyze(module, *p, opts);
    if (unsupported(r)) status = std::max(status, 3);
    else if (!r.accepted) status = 2;
    if (args.json) {
      nlohmann::json j{{"program", p->name()},
                       {"accepted", r.accepted},
                       {"processed", r.processed},
                       {"states", r.states}};
      if (!r.accepted) {
        j["insn"] = r.insn;
        j["reason"] = r.reason;
        j["unsupported"] = unsupported(r);
      }
      if (args.log) j["log"] = r.log;
      out.push_back(j);
      continue;
    }
    if (args.log) std::cout << r.log;
    if (r.accepted) {
      std::cout << module.path << ": " << p->name() << ": accepted (processed " << r.processed << " insns, "
                << r.states << " states)\n";
    } else {
      // Refusals go to stderr in the form every bad input takes.
      std::cerr << "tristate: " << format_location(Location{module.path, p->name(), r.insn}) << ": " << r.reason << "\n";
    }
  }
  if (args.json) std::cout << out.dump(2) << "\n";
  return status;
}

}  // namespace

void add_check_command(CLI::App& app, Run& run) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* cmd = app.add_subcommand("check", "Would the kernel verifier accept the program? (in-process analyzer)");
  cmd->footer(
      "The analyzer mirrors the Linux 6.18 verifier for a loader with CAP_BPF and CAP_PERFMON: typed registers,\n"
      "tnums with the eight bounds, packet ranges, null checks, stack slots, helpers, bpf-to-bpf calls, bounded\n"
      "loops, state pruning and the 1M-instruction complexity limit. Exit status: 0 accepted, 2 refused (the\n"
      "instruction and the kernel's reason are printed) or bad input, 3 a construct the analyzer does not mirror.");
  add_input_options(*cmd, args->input);
  cmd->add_option("--prog", args->prog, "Check only this program (by name)");
  cmd->add_flag("--log", args->log, "Print the state after every instruction (the kernel's log_level=2 style)");
  cmd->add_flag("--json", args->json, "Print the verdicts as JSON");
  cmd->add_option("--max-insns", args->max_insns, "Complexity limit: instructions processed before giving up")
      ->capture_default_str();
  cmd->callback([&run, args] { run = [args] { return run_check(*args); }; });
}

}  // namespace tristate::cli
