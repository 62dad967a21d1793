// Control-flow graphs of a linked program image, one per function, with the structural checks the
// kernel makes before it looks at types (check_subprogs and check_cfg in kernel/bpf/verifier.c).
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "compiler/isa.hpp"
#include "compiler/program.hpp"

namespace tristate {

// A maximal run of instructions that is entered only at its first and left only after its last.
// A block ends at a jump, may_goto or exit, and before every jump target; a call does not end it
// (control comes back to the next instruction).
struct BasicBlock {
  std::size_t first = 0;       // slot of the first instruction in the image
  std::size_t last = 0;        // slot where the last instruction starts (inclusive)
  std::size_t first_insn = 0;  // [first_insn, end_insn): indices into Cfg::insns
  std::size_t end_insn = 0;
  // Block ids within the same function. For a conditional jump or may_goto the fall-through comes
  // first, then the target; a jump to the next instruction gives one successor, not two.
  std::vector<std::size_t> succs;
  std::vector<std::size_t> preds;  // ascending

  std::size_t insn_count() const { return end_insn - first_insn; }
};

struct FunctionCfg {
  std::string name;
  std::size_t start = 0;           // first slot in the image
  std::size_t size = 0;            // number of slots
  std::vector<BasicBlock> blocks;  // in address order; blocks[0] is the entry
  // Reverse post-order of the blocks reachable from the entry (all of them, once build_cfg has
  // returned). The depth-first search takes jump targets before fall-throughs, so structured code
  // comes out in layout order: a diamond is entry, then-arm, else-arm, join.
  std::vector<std::size_t> rpo;
  // Edges (from, to) that go to a block still on the depth-first stack: every loop has at least
  // one, and a loop-free function has none. `to` never comes after `from` in `rpo`.
  std::vector<std::pair<std::size_t, std::size_t>> back_edges;
  std::vector<std::size_t> callees;    // functions called (bpf-to-bpf), in order of first call
  std::vector<std::size_t> func_refs;  // functions whose address is loaded (LD_IMM64 PSEUDO_FUNC):
                                       // callbacks that helpers such as bpf_loop call
};

struct BlockRef {
  std::size_t function = 0;
  std::size_t block = 0;
  friend bool operator==(const BlockRef&, const BlockRef&) = default;
};

struct Cfg {
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

  std::vector<DecodedInsn> insns;      // the decoded image, one entry per instruction start
  std::vector<FunctionCfg> functions;  // in the order of the FunctionRange list; [0] is the entry

  // Number of slots in the image.
  std::size_t image_size() const { return insn_of_slot_.size(); }
  // The index into `insns` of the instruction starting at `pc`, or npos for the second slot of an
  // LD_IMM64. Throws InternalError when pc is outside the image.
  std::size_t insn_index(std::size_t pc) const;
  // The block holding slot `pc` (the second slot of an LD_IMM64 belongs to its instruction's
  // block).
  BlockRef block_of(std::size_t pc) const;
  std::size_t function_of(std::size_t pc) const { return block_of(pc).function; }
  const BasicBlock& block(BlockRef ref) const {
    return functions.at(ref.function).blocks.at(ref.block);
  }
  std::span<const DecodedInsn> insns_of(const BasicBlock& b) const {
    return std::span<const DecodedInsn>(insns).subspan(b.first_insn, b.insn_count());
  }

 private:
  friend Cfg build_cfg(std::span<const Insn>, const std::vector<FunctionRange>&);
  std::vector<std::size_t> insn_of_slot_;
  std::vector<BlockRef> block_of_slot_;
};

// Builds the per-function CFGs of a linked image whose functions tile it in order (functions[0]
// starts at slot 0 and is the entry). Throws InputError naming the instruction for what the kernel
// refuses structurally: anything decode_program refuses; a jump leaving its function ("jump out of
// range from insn A to B"); a function whose last instruction is not an exit or unconditional jump
// ("last insn is not an exit or jmp", which also rules out falling off the end); a bpf-to-bpf call
// or function pointer to a slot that is not a function start; recursion through bpf-to-bpf calls;
// and instructions that no path from the entry reaches ("unreachable insn N", the lowest such,
// counting a function as reached only through calls and function pointers in reached code).
// Throws InternalError when the ranges do not tile the image (the frontend made them).
Cfg build_cfg(std::span<const Insn> image, const std::vector<FunctionRange>& functions);
Cfg build_cfg(const Program& p);

}  // namespace tristate
