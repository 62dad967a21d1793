// Removing instructions from an instruction array for real: every jump (and, in a linked image,
// every bpf-to-bpf call and function-pointer load) that crosses a removed slot is re-aimed so it
// reaches the same instruction as before.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "compiler/isa.hpp"

namespace tristate {

struct SlotRemoval {
  std::vector<Insn> insns;
  // For every old slot: the slot it became, or -1 when it was removed.
  std::vector<std::ptrdiff_t> old_to_new;
};

// `insns` without the slots marked in `removed` (one flag per slot). A jump to a removed slot goes
// to the next kept one. With `retarget_calls` (a linked image, where call and PSEUDO_FUNC offsets
// are pc-relative), calls and function-pointer loads are re-aimed too; without (one function in
// file form, where the ELF writer fixes what leaves the function), only jumps. InputError naming
// the slot when a removed slot is half of an LD_IMM64, when a removed call target has no kept
// slot after it, or when a new offset does not fit the instruction's field.
SlotRemoval remove_slots(std::span<const Insn> insns, const std::vector<bool>& removed, bool retarget_calls);

// `ja +0`: the no-op the search writes where it deletes an instruction, before remove_slots.
inline constexpr Insn kNop = make_insn(bpf::JMP | bpf::JA, 0, 0, 0, 0);

}  // namespace tristate
