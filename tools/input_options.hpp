// Input options shared by the subcommands that read a BPF program (info, disasm, ...).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "compiler/frontend.hpp"
#include "compiler/program.hpp"

namespace tristate::cli {

struct InputArgs {
  std::string path;
  InputOptions options;
};

// FILE plus --prog-type (for raw bytecode) and --cpu (for C sources).
void add_input_options(CLI::App& cmd, InputArgs& args);

// Loads the input; a file that cannot be read is an InputError naming it.
Module load(const InputArgs& args);

// The programs selected by --prog (all when empty); an unknown name is an InputError that lists
// the programs the file has.
std::vector<const Program*> select_programs(const Module& module, const std::string& name);

}  // namespace tristate::cli
