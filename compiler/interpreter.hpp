// The concrete interpreter: runs a program image on the shared semantics (compiler/semantics.hpp)
// instantiated with 64-bit integers.
//
// This is the first slice of the interpreter (issue 3): registers, a 512-byte stack per run with
// bounds and initialisation checks, a flat memory block behind r1 (for programs without a context
// type), every ALU/byte-swap/jump instruction, LD_IMM64 constants, loads, stores, atomics and exit. Context and packet memory, maps, helpers and bpf-to-bpf calls come next; until then the
// instructions that need them stop the run with a fault that says so.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "compiler/isa.hpp"

namespace tristate {

// Why a run stopped early, at which instruction (slot index in the image).
struct Fault {
  std::size_t insn = 0;
  std::string reason;
};

struct RunResult {
  uint64_t r0 = 0;
  uint64_t executed = 0;  // instructions executed, exit included
  std::optional<Fault> fault;
};

struct RunLimits {
  uint64_t max_insns = 1'000'000;  // the kernel's complexity limit, as a bound on concrete steps
};

class Interpreter {
 public:
  static constexpr std::size_t kStackSize = 512;

  // Decodes and checks the image once (InputError if the kernel would refuse its encoding).
  explicit Interpreter(std::span<const Insn> image);

  // Runs from slot 0 with r1 = `r1` (an opaque context value in this slice) and r10 at the top
  // of a fresh stack.
  RunResult run(uint64_t r1 = 0, const RunLimits& limits = {}) const;

  // Runs with r1 pointing to `memory` (read and written in place) and r2 holding its size: the
  // convention of BPF ISA conformance suites, for programs without a context type.
  RunResult run(std::span<uint8_t> memory, const RunLimits& limits = {}) const;

 private:

  std::vector<Decoded> by_slot_;  // indexed by slot; the second slot of LD_IMM64 is never reached
};

}  // namespace tristate
