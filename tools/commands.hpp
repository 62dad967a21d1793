// Subcommands of the `tristate` command line. Each lives in its own file and registers itself
// on the CLI11 app; the returned callback runs after parsing and returns the exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

namespace tristate::cli {

using Run = std::function<int()>;

// Options shared by every subcommand that only change how results are shown.
struct OutputOptions {
  bool json = false;
};

// The optimizer's options (`tristate opt`, and `tristate compile -O`).
struct OptArgs {
  double budget = 30;
  std::string cost = "insns";
  unsigned jobs = 1;
  uint64_t seed = 1;
  std::string mcpu;
  std::string tests;
  std::string report;
  std::string prog;
  bool json = false;
};
void add_opt_search_options(CLI::App& cmd, OptArgs& args);
// Optimizes `in` into `out` and prints the report; `in_place` allows out == in.
int optimize_file(const std::string& in, const std::string& out, const OptArgs& args, bool in_place);

void add_info_command(CLI::App& app, Run& run);
void add_disasm_command(CLI::App& app, Run& run);
void add_compile_command(CLI::App& app, Run& run);
void add_run_command(CLI::App& app, Run& run);
void add_equiv_command(CLI::App& app, Run& run);
void add_check_command(CLI::App& app, Run& run);
void add_test_command(CLI::App& app, Run& run);
void add_opt_command(CLI::App& app, Run& run);
void add_load_command(CLI::App& app, Run& run);
void add_pipeline_command(CLI::App& app, Run& run);
// `tristate tnum prove|compare|optimal`: the parent in tnum_command.cpp, each verb in its own file.
void add_tnum_command(CLI::App& app, Run& run);
void add_tnum_prove_command(CLI::App& tnum, Run& run);
void add_tnum_compare_command(CLI::App& tnum, Run& run);
void add_tnum_optimal_command(CLI::App& tnum, Run& run);

}  // namespace tristate::cli
