// Subcommands of the `tristate` command line. Each lives in its own file and registers itself
// on the CLI11 app; the returned callback runs after parsing and returns the exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace tristate::cli {

using Run = std::function<int()>;

// Options shared by every subcommand that only change how results are shown.
struct OutputOptions {
  bool json = false;
};

void add_info_command(CLI::App& app, Run& run);
void add_disasm_command(CLI::App& app, Run& run);
void add_compile_command(CLI::App& app, Run& run);
void add_run_command(CLI::App& app, Run& run);
void add_equiv_command(CLI::App& app, Run& run);
void add_check_command(CLI::App& app, Run& run);
void add_test_command(CLI::App& app, Run& run);
// `tristate tnum prove|compare|optimal`: the parent in tnum_command.cpp, each verb in its own file.
void add_tnum_command(CLI::App& app, Run& run);
void add_tnum_prove_command(CLI::App& tnum, Run& run);
void add_tnum_compare_command(CLI::App& tnum, Run& run);
void add_tnum_optimal_command(CLI::App& tnum, Run& run);

}  // namespace tristate::cli
