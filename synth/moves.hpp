// The search's moves over one window (STOKE's proposal distribution): each move changes the
// window's instructions in place and returns what it changed, so that `undo` puts back exactly
// the instructions it found. Moves are drawn from a weighted pool and counted per kind.
//
// New instructions are drawn from what the window works with: its registers (and those live
// around it), the program's own constants and small values, the offsets its memory accesses use,
// and only instructions of the allowed cpu version.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "compiler/isa.hpp"
#include "compiler/liveness.hpp"

namespace tristate {

// Widen: two adjacent narrow loads joined by a shift and an or (`r4 = *(u8 *)(r1 + 12);
// r5 = *(u8 *)(r1 + 13); w5 <<= 8; w5 |= w4`, clang's form of an unaligned u16 read) become one
// wider load; a rewrite random moves would need four steps in a row to find.
// Copy: two narrow copies through a register between neighbouring bytes (`r1 = *(u8 *)(r7 + 5);
// *(u8 *)(r7 + 11) = r1` and the same one byte down), clang's form of a small unaligned memcpy
// such as a MAC address, become one copy twice as wide; repeated, u8 copies become u16, u32, u64.
enum class MoveKind : uint8_t { Operand, Opcode, Instruction, Pair, Delete, Insert, Swap, Widen, Copy };
inline constexpr std::size_t kMoveKinds = 9;
const char* move_name(MoveKind k);

struct MoveInfo {
  MoveKind kind = MoveKind::Operand;
  std::vector<Insn> before;  // the window as it was
  std::vector<std::size_t> changed;  // window positions the move wrote
};

struct MoveCounts {
  uint64_t proposed = 0, valid = 0, accepted = 0;
};

class Proposer {
 public:
  // `window`: the instructions the search starts from; `constants`: immediates of the whole
  // program; `cpu`: the highest instruction set version candidates may use.
  Proposer(std::span<const Insn> window, RegSet live_in, RegSet live_out, std::span<const int32_t> constants, unsigned cpu);

  MoveInfo propose(std::vector<Insn>& window, std::mt19937_64& rng);
  static void undo(std::vector<Insn>& window, const MoveInfo& info);

  // A random instruction of the pool (one slot, not a jump), as the Instruction move draws it.
  Insn random_insn(std::mt19937_64& rng) const;

  // The Widen rewrite on the first pattern found from window position `start` on (wrapping);
  // false, and the window unchanged, when there is none. `keep_low` keeps the low half's load
  // (for code that reads that register again afterwards).
  static bool widen(std::vector<Insn>& window, std::size_t start, bool keep_low = false);
  // The Copy rewrite on the first two copies found from window position `start` on (wrapping):
  // the earlier copy's load and store become the wide ones, the later copy's are deleted. False,
  // and the window unchanged, when there are none.
  static bool join_copies(std::vector<Insn>& window, std::size_t start);
  // Copy and Widen applied wherever they apply, until neither does: the first proposal of every
  // chain, so that the rewrites these rules find are tried before random moves spend the proofs.
  MoveInfo apply_rules(std::vector<Insn>& window);

  std::array<MoveCounts, kMoveKinds> counts{};

 private:
  Reg any_reg(std::mt19937_64& rng) const;   // any register the window may read (r10 included)
  Reg dst_reg(std::mt19937_64& rng) const;   // a register it may write
  int32_t constant(std::mt19937_64& rng) const;
  int16_t offset(std::mt19937_64& rng) const;
  void mutate_operand(Insn& insn, std::mt19937_64& rng) const;
  void mutate_opcode(Insn& insn, std::mt19937_64& rng) const;

  std::vector<Reg> regs_, dsts_;
  std::vector<int32_t> constants_;
  std::vector<int16_t> offsets_;
  unsigned cpu_ = 3;
};

// Whether `insn` is a deleted slot (kNop, compiler/rewrite.hpp).
bool is_nop(const Insn& insn);

}  // namespace tristate
