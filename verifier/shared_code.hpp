// Proof of a code-sharing rewrite (a tail merge, synth/tails.hpp) by simulation, without a solver.
//
// `after` claims to be `before` with the code at [copy, copy + length) of the entry function
// replaced by a jump to the code at [kept, kept + length). Let f map every slot to itself, except
// copy + i to kept + i. The claim holds when, for every instruction start s of `before`'s entry
// function, `after` runs at f(s) an instruction with the same effect as `before`'s at s that goes
// on to f(t) wherever `before`'s goes on to t: the same opcode, registers, immediate and
// relocation, a branch target t' with f(t) == t', a fall-through only where f(s + 1) follows f(s)
// (or, when `before` falls into the copy, to a plain jump to kept). Then, by induction over a run,
// the two programs from the same input are at s and f(s) with the same state after every step
// (the added jump changes nothing), so they leave the same world: equivalence for every input,
// whatever the values, paths or loops. Subprograms must be identical.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "compiler/program.hpp"

namespace tristate {

struct SharedCode {
  std::size_t kept = 0;
  std::size_t copy = 0;
  std::size_t length = 0;
};

// Nothing when the claim holds; otherwise why not, naming the slot.
// Both programs in image form (same layout; `after` has the copy's slots as it leaves them).
std::optional<std::string> check_shared_code(const Program& before, const Program& after, const SharedCode& claim);

}  // namespace tristate
