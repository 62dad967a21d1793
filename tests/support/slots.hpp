// A program with some slots of its image removed for real (compiler/rewrite.hpp), for tests that
// run or analyze what the optimizer's edits leave: jumps and calls re-aimed, functions moved,
// the entry's relocations moved with their instructions (dropped with removed ones).
#pragma once

#include <vector>

#include "compiler/program.hpp"
#include "compiler/rewrite.hpp"

namespace tristate::test {

// `p` with `image` (same layout as p.image) as its instructions, less the slots `removed` flags.
inline Program without_slots(const Program& p, const std::vector<Insn>& image, const std::vector<bool>& removed) {
  Program out = p;
  SlotRemoval r = remove_slots(image, removed, true);
  out.image = std::move(r.insns);
  for (std::size_t f = 0; f < out.functions.size(); ++f) {
    std::size_t first = p.functions[f].start;  // the function's first kept slot
    while (first < r.old_to_new.size() && r.old_to_new[first] < 0) ++first;
    out.functions[f].start = std::size_t(r.old_to_new[first]);
  }
  for (std::size_t f = 0; f < out.functions.size(); ++f)
    out.functions[f].size = (f + 1 < out.functions.size() ? out.functions[f + 1].start : out.image.size()) - out.functions[f].start;
  // The entry starts the image, so its own slots are the image's.
  out.entry.relocs.clear();
  for (Relocation rel : p.entry.relocs)
    if (r.old_to_new[rel.insn] >= 0) {
      rel.insn = std::size_t(r.old_to_new[rel.insn]);
      out.entry.relocs.push_back(rel);
    }
  return out;
}

}  // namespace tristate::test
