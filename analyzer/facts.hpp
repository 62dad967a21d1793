// What the analyzer knows about every instruction of a program's entry function, for checking a
// rewrite of one window of it: the facts that hold whenever the window is entered (register
// values, zero and spilled stack bytes, joined over every path the analysis walked there), and
// which bytes of the stack some path after it may still read. A window check that assumes the
// first and compares only the second proves rewrites that hold in the program although not
// from every conceivable state (the stores of a key that a later store overwrites, a register the
// code before has set to zero).
//
// Sound because the analysis is: every concrete run reaching an instruction has a state the
// analysis visited there or one a visited state covers (state pruning keeps only covered paths),
// on the registers live there and the whole stack.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/scalar.hpp"
#include "analyzer/state.hpp"
#include "compiler/program.hpp"

namespace tristate {

// The entry frame's stack, one bit per byte: bit i is the byte at r10 - 512 + i (the
// interpreter's stack index).
using StackBytes = std::bitset<kMaxStack>;

// What holds on every path into one instruction, in the entry frame.
struct EntryFacts {
  // A register's value: a scalar, or a packet pointer at `off` + var from the packet's start.
  struct Reg {
    RegType type = RegType::Scalar;
    int32_t off = 0;
    Scalar var;
    friend bool operator==(const Reg&, const Reg&) = default;
  };
  std::array<std::optional<Reg>, 11> regs;  // nullopt: nothing known (or not the same kind everywhere)
  StackBytes zero;                          // bytes that are zero
  std::map<int, Scalar> spilled;            // r10 offset (multiple of 8) -> a scalar spilled whole there
  // A line per fact, for cache keys and debugging ("r3 scalar(...)", "fp-8 zero", ...).
  std::string text() const;
};

struct ProgramFacts {
  bool analyzed = false;  // false: the analyzer refused the program (then nothing below is known)
  uint64_t processed = 0; // instructions the analysis processed
  std::vector<std::optional<EntryFacts>> entry;  // per slot; nullopt where the entry frame never is
  // Per slot: stack bytes that may be read, before being written, from that instruction on
  // (before it executes). Past the window [s, e) that is live_stack[e].
  std::vector<StackBytes> live_stack;
};

// Runs the analyzer over `program` (with the module's maps) once, collecting both.
ProgramFacts program_facts(const Module& module, const Program& program);

// The join of two scalars: the smallest one (tnum and bounds) holding every value of both.
Scalar join(const Scalar& a, const Scalar& b);

}  // namespace tristate
