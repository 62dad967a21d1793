// Reads BPF ELF objects (as clang writes them) into the program model.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "compiler/program.hpp"

namespace tristate {

// Every program (functions in executable sections other than .text), every subprogram (functions
// in .text), each program's linked image, the maps (BTF-defined, legacy `maps` section, and
// libbpf's internal global-data maps), the license and whether BTF is present. Every image is
// validated instruction by instruction. Bad input of any kind is an InputError naming the file
// (and the program and instruction where there is one).
Module read_elf(const std::string& path);

// The same from bytes in memory; `name` is what errors and Module::path call the input.
Module read_elf_memory(std::span<const uint8_t> bytes, const std::string& name);

namespace detail {
// The path read_elf takes for objects with a legacy `maps` section, which libbpf 1.x refuses:
// program types from section names, maps from the `maps` section, and internal maps for global
// data derived the way libbpf names and sizes them. BTF-defined `.maps` are not read. Exposed so
// tests can check it against libbpf on objects libbpf does open.
Module read_elf_memory_without_libbpf(std::span<const uint8_t> bytes, const std::string& name);
}  // namespace detail

}  // namespace tristate
