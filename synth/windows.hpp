// Where the search looks: windows of straight-line code in a program's entry function, found over
// the whole function from its CFG, each with the registers live into and out of it.
#pragma once

#include <cstddef>
#include <set>
#include <vector>

#include "compiler/cfg.hpp"
#include "compiler/liveness.hpp"
#include "compiler/program.hpp"

namespace tristate {

struct SearchWindow {
  std::size_t start = 0;  // [start, end): image slots
  std::size_t end = 0;
  RegSet live_in = 0;
  RegSet live_out = 0;
  std::size_t size() const { return end - start; }
};

// Whether the search may rewrite this instruction: one-slot ALU, byte order, loads and stores
// (not atomics, calls, jumps, exits, LD_IMM64 or legacy packet loads).
bool rewritable(const Decoded& d);

// Maximal runs of rewritable instructions inside the entry function's basic blocks, cut into
// windows of at most `max_size` slots, skipping the slots in `pinned` (instructions a relocation
// or CO-RE record names). With `shift`, each run's first window is `shift` slots long (windows
// then straddle the edges of the unshifted ones). In address order.
std::vector<SearchWindow> choose_windows(const Program& program, std::size_t max_size, const std::set<std::size_t>& pinned = {},
                                         std::size_t shift = 0);

}  // namespace tristate
