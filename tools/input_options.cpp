#include "tools/input_options.hpp"

#include "compiler/bytecode.hpp"
#include "compiler/error.hpp"

namespace tristate::cli {

void add_input_options(CLI::App& cmd, InputArgs& args) {
  cmd.add_option("FILE", args.path,
                 "BPF ELF object (.o), raw bytecode (8-byte little-endian instructions), C "
                 "source (.c, compiled with clang-19), or assembly text (.s, .asm)")
      ->required();
  std::string types;
  for (const auto& t : prog_type_names()) types += (types.empty() ? "" : ", ") + t;
  cmd.add_option("--prog-type", args.options.prog_type,
                 "program type of raw bytecode, and of assembly text without a `; type:` line (ELF "
                 "objects carry their own): " + types);
  cmd.add_option("--cpu", args.options.cpu, "BPF ISA version for C sources (v1..v4)")
      ->capture_default_str();
}

Module load(const InputArgs& args) {
  try {
    return load_input(args.path, args.options);
  } catch (const InputError& e) {
    throw e.within(Location{args.path, {}, {}});
  }
}

std::vector<const Program*> select_programs(const Module& module, const std::string& name) {
  std::vector<const Program*> out;
  for (const auto& p : module.programs)
    if (name.empty() || p.name() == name) out.push_back(&p);
  if (out.empty() && !name.empty()) {
    std::string have;
    for (const auto& p : module.programs) have += (have.empty() ? "" : ", ") + p.name();
    throw InputError(Location{module.path, name, {}},
                     "no such program; the file has: " + (have.empty() ? "(none)" : have));
  }
  return out;
}

}  // namespace tristate::cli
