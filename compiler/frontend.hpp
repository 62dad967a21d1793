// One entry point for every kind of input: ELF objects, C sources, assembly text and raw bytecode.
#pragma once

#include <string>

#include "compiler/program.hpp"

namespace tristate {

struct InputOptions {
  std::string prog_type;  // for raw bytecode (ELF objects carry their own)
  std::string cpu = "v3"; // for C sources
  std::string opt = "-O2";
};

// An ELF object (recognised by its magic bytes, whatever its name) is read with read_elf; a
// `.c` file is compiled with clang-19 into a temporary object (removed afterwards) and read, with
// Module::path and error locations naming the source; a `.s` or `.asm` file is assembly text,
// read with assemble_module (compiler/asm_module.hpp: its `; type:` line gives the program type,
// else opts.prog_type, else xdp); anything else is raw bytecode, which needs opts.prog_type
// (InputError saying so otherwise).
Module load_input(const std::string& path, const InputOptions& opts);

// Whether the file starts with the ELF magic bytes; InputError naming it when it cannot be opened.
bool is_elf_file(const std::string& path);

}  // namespace tristate
