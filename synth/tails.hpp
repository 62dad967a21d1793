// Tail merging: clang often leaves several copies of the same code that end the same way (an
// inlined "count the reason in a map, then return" after every check of a parser, say). When the
// code at [copy, copy + length) repeats the code at [kept, kept + length) instruction for
// instruction and both leave it to the same places (the same exit or jump targets, or the same
// relative place inside the copy), every run entering the copy can enter the kept code instead:
// jumps into the copy are re-aimed at the kept code, and the copy's slots become kNop (its first
// a jump to the kept code when the instruction before it falls into it).
//
// A deterministic rewrite, not a search move: the search applies merges before its windows, and
// each is proved (whole program) like any other rewrite before it stays.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "compiler/isa.hpp"
#include "compiler/program.hpp"

namespace tristate {

struct TailMerge {
  std::size_t kept = 0;    // first slot of the code that stays
  std::size_t copy = 0;    // first slot of the repeat that goes (after `kept`, not overlapping it)
  std::size_t length = 0;  // slots
  bool jump = false;       // the instruction before the copy falls into it: its first slot jumps
  std::size_t saved() const { return length - (jump ? 1 : 0); }
};

// The tail merge of the entry function of `program` (with `image` as its instructions) that saves
// the most slots, or nothing when none saves any. Bpf-to-bpf calls, kfunc calls and loads of
// function addresses or externs are never merged (their immediates or relocations are not
// position-free); map and global-data loads merge when their relocations name the same thing.
// A merged tail never starts between a map load and the helper call that uses it: the kernel
// specialises a call site to its map only when every path brings the same one (two lookups in
// different maps sharing one call ran 40% slower in BPF_PROG_TEST_RUN, xdp_lpm_acl at -O1).
// Pairs (kept, copy) in `skip` are not offered again.
std::optional<TailMerge> best_tail_merge(const Program& program, const std::vector<Insn>& image,
                                         const std::set<std::pair<std::size_t, std::size_t>>& skip = {});

// `image` with `merge` applied; nothing when a re-aimed jump's offset does not fit.
std::optional<std::vector<Insn>> apply_tail_merge(const Program& program, const std::vector<Insn>& image,
                                                  const TailMerge& merge);

}  // namespace tristate
