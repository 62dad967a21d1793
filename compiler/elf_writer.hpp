// Writes a BPF ELF object back with new, shorter bodies for some of its functions.
//
// Instructions are really removed, not padded with no-ops, so everything that points into an
// edited executable section is moved with them:
//   - the section's bytes, and the file layout (libelf lays the new file out);
//   - symbols defined in the section (st_value; st_size of functions);
//   - the section's relocations (r_offset);
//   - bpf-to-bpf calls and function-pointer loads (LD_IMM64 with a relocation against code) that
//     land in the section, wherever they are: their imm is recomputed so that libbpf resolves them
//     to the same function (relocated: target = sym/8 + imm + 1 for calls and (sym + imm)/8 for
//     pointer loads, as libbpf 1.1 does; unrelocated: pc-relative within the section);
//   - .BTF.ext func_info, line_info and CO-RE records of the section (byte offsets), and the
//     .rel.BTF.ext entries that point at their offset fields.
// DWARF (.debug_* and their relocations) is carried over unchanged and goes stale: libbpf and the
// kernel read line and function information from .BTF.ext only. Everything else (license, maps,
// .BTF, global data, ...) is carried over byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "compiler/isa.hpp"

namespace tristate {

// A new body for one function of the object (Function in compiler/program.hpp).
struct FunctionEdit {
  std::string section;             // the executable section holding it (Function::section)
  std::size_t section_offset = 0;  // its first instruction there, in instructions (Function::section_offset)
  std::size_t old_size = 0;        // its instruction count in the input (Function::insns.size())
  std::vector<Insn> insns;         // the new body, in file form (relocated instructions as in the input)
  // For every old slot 0..old_size-1: the new slot it became, or -1 when removed. Monotone
  // increasing over kept slots. Jumps inside the function are already fixed in `insns`
  // by the caller; everything outside the function is the writer's job.
  std::vector<std::ptrdiff_t> old_to_new;
};

// The object `input` (named `name` in errors) with the edits applied, as the bytes of a new
// object file; the input is not modified. The edits are checked first: each names a function of
// the object by section and offset, with its size, a body of at least one instruction, and an
// old_to_new whose k-th kept slot becomes new slot k (so the new body has exactly as many slots as
// are kept). InputError naming the file, function and instruction when an edit cannot be written
// safely: a relocation or CO-RE record on a removed slot, a relocated instruction replaced by one
// of another kind, a relocation kind the writer does not know on moved code, a func_info record on
// a removed slot other than the function's first, old_size not matching, two edits of one
// function, or an output that no longer reads back (read_elf_memory) as a valid object.
//
// A removed first slot is allowed: the function then starts at its first kept slot, and its
// symbol, its func_info record and calls to it follow. A line_info record on a removed slot
// moves to the next kept slot of the same function unless that slot has a record of its own (of
// several records moving to one slot, the last one wins: it is the line that slot was in); with
// no kept slot after it in the function it is dropped. This is what the kernel does with
// line_info when its verifier removes instructions.
std::vector<uint8_t> rewrite_elf(std::span<const uint8_t> input, const std::string& name,
                                 const std::vector<FunctionEdit>& edits);

}  // namespace tristate
