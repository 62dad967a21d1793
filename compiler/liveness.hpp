// Register effects of instructions and live registers at every instruction of a CFG.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/cfg.hpp"
#include "compiler/isa.hpp"

namespace tristate {

// A set of registers r0..r10: bit i stands for ri.
using RegSet = uint16_t;
inline constexpr RegSet reg_bit(Reg r) { return RegSet(1u << r); }
inline constexpr RegSet kArgRegs = 0x003e;      // r1..r5
inline constexpr RegSet kCallerSaved = 0x003f;  // r0..r5: what a call leaves undefined or sets

// What one instruction reads and writes among r0..r10.
struct RegEffects {
  RegSet uses = 0;
  RegSet defs = 0;
  friend bool operator==(const RegEffects&, const RegEffects&) = default;
};

// Conservative where the instruction does not say: every call (helper, kfunc, bpf-to-bpf) uses all
// of r1..r5, since the argument count is not encoded, and defines r0..r5 (r0 is the result, r1..r5
// are scratched); LD_ABS/LD_IND read the context in r6 (and src for IND) and likewise define
// r0..r5. Exit uses r0. A fetching atomic defines src, except cmpxchg, which reads and writes r0.
// Mov, load and LD_IMM64 do not read their destination. r10 counts where it is read.
RegEffects reg_effects(const Decoded& d);

// Live registers before (live_in) and after (live_out) every instruction, indexed by image slot;
// both are 0 for the second slot of an LD_IMM64. r0 is live at every exit (the return value).
// Functions are solved separately: a call is summarised by reg_effects, not by its callee.
struct Liveness {
  std::vector<RegSet> live_in;
  std::vector<RegSet> live_out;
  std::vector<std::vector<RegSet>> block_in;   // [function][block]: live_in of its first insn
  std::vector<std::vector<RegSet>> block_out;  // [function][block]: live_out of its last insn
};

// Backward dataflow over each function's blocks in post-order until nothing changes.
Liveness compute_liveness(const Cfg& cfg);

}  // namespace tristate
