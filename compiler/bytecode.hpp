// Reads raw BPF bytecode: a file of 8-byte little-endian instructions (struct bpf_insn), one
// program, no relocations. The program type is not in the bytes, so the caller names it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "compiler/error.hpp"
#include "compiler/isa.hpp"
#include "compiler/program.hpp"

namespace tristate {

// One program named after the file's stem, in section "", of type `prog_type` (a name from
// prog_type_names(), or a libbpf section name such as "tc" or "kprobe/foo"). The instructions
// are validated with decode_program. InputError names the file (and the instruction) for a size
// that is not a positive multiple of 8, an unknown type, or an invalid instruction.
Module read_bytecode(const std::string& path, const std::string& prog_type);
Module read_bytecode_memory(std::span<const uint8_t> bytes, const std::string& name, const std::string& prog_type);

// The instructions in `bytes` (little-endian struct bpf_insn), unchecked beyond their count:
// InputError at `where` when the size is not a positive multiple of 8.
std::vector<Insn> insns_from_bytes(std::span<const uint8_t> bytes, const Location& where);

// The functions of an image without symbols, found the way the kernel finds them: every
// bpf-to-bpf call target and every function-pointer target starts a function. They are named
// after the program (`stem`) and their first slot ("prog+12"). `decoded` is decode_program's.
std::vector<FunctionRange> function_ranges(const std::vector<DecodedInsn>& decoded, std::size_t size,
                                           const std::string& stem);

// Every program type name --prog-type accepts: libbpf's names for the kernel's program types
// ("socket_filter", "kprobe", "sched_cls", "xdp", ...), in enum order, without "unspec".
std::vector<std::string> prog_type_names();

// The kernel's enum bpf_prog_type value for a name from prog_type_names() or a libbpf section
// name ("tc", "socket", "kprobe/foo"). InputError listing the accepted names otherwise.
uint32_t prog_type_from_name(const std::string& name);

}  // namespace tristate
