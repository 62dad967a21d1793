// Test support: random BPF programs the kernel verifier accepts, over every ALU, byte-swap and
// conditional-jump opcode (64 and 32 bit, K and X), stack stores, (sign-extending) loads and
// atomics. Shape: a prologue that gives r0..r9 random values (mov or LD_IMM64) and writes the
// stack area the body uses, a body of forward-jumping instructions, and an epilogue.
//
// Why each rule: constant divisors are non-zero and constant shifts below the width (the
// verifier refuses the others); r10 is only used as a memory base (pointer ALU is restricted);
// jumps only go forward and are conditional (no loops, no unreachable code); stack accesses are
// aligned to their width within the initialised area.
#pragma once

#include <random>
#include <vector>

#include "compiler/isa.hpp"

namespace tristate::test {

struct RandomProgramOptions {
  int min_body = 8;
  int max_body = 40;
  int stack_slots = 8;  // 8-byte slots below r10 that the prologue initialises
};

class RandomProgramGenerator {
 public:
  explicit RandomProgramGenerator(uint64_t seed, RandomProgramOptions opts = {}) : rng_(seed), opts_(opts) {}

  // A program ending in `epilogue` (e.g. {Exit{}}, or {r0 >>= 32, Exit{}} to expose the high
  // half of r0 through a 32-bit return value). Jumps may target the epilogue's first instruction.
  std::vector<Insn> next(const std::vector<Decoded>& epilogue = {Exit{}}) {
    std::vector<Decoded> prologue;
    for (Reg r = 0; r < 10; ++r) {
      if (coin(3))
        prologue.push_back(LdImm64{r, 0, int32_t(rng_()), int32_t(rng_())});
      else
        prologue.push_back(Alu{true, AluOp::Mov, r, Operand::k(interesting_imm())});
    }
    for (int s = 1; s <= opts_.stack_slots; ++s)
      prologue.push_back(Store{Width::DW, false, kFramePointer, int16_t(-8 * s), Operand::r(reg())});

    const int n = uniform(opts_.min_body, opts_.max_body);
    std::vector<Decoded> body;
    std::vector<int> jump_target;  // body index a jump goes to (n = the epilogue), -1 otherwise
    for (int i = 0; i < n; ++i) {
      const int kind = uniform(0, 99);
      int target = -1;
      if (kind < 45) {
        body.push_back(alu());
      } else if (kind < 52) {
        static constexpr uint8_t kBits[] = {16, 32, 64};
        const ByteOrder order = ByteOrder(uniform(0, 2));
        body.push_back(Endian{order, reg(), kBits[uniform(0, 2)]});
      } else if (kind < 72) {
        target = uniform(i + 1, n);
        body.push_back(Jmp{coin(2), Cond(uniform(0, 10)), reg(), operand(), 0});
      } else if (kind < 82) {
        body.push_back(load());
      } else if (kind < 92) {
        body.push_back(store());
      } else {
        body.push_back(atomic());
      }
      jump_target.push_back(target);
    }

    // Every instruction here is one slot except the prologue's LD_IMM64s, so body index i sits
    // at slot base + i.
    std::vector<Insn> out;
    auto append = [&out](const Decoded& d) {
      const Encoded e = encode(d);
      out.insert(out.end(), e.span().begin(), e.span().end());
    };
    for (const auto& d : prologue) append(d);
    for (int i = 0; i < n; ++i) {
      if (jump_target[std::size_t(i)] >= 0) std::get<Jmp>(body[std::size_t(i)]).off = int16_t(jump_target[std::size_t(i)] - i - 1);
      append(body[std::size_t(i)]);
    }
    for (const auto& d : epilogue) append(d);
    return out;
  }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool coin(int one_in) { return uniform(0, one_in - 1) == 0; }
  Reg reg() { return Reg(uniform(0, 9)); }

  // Immediates near the edges are where bugs live.
  int32_t interesting_imm() {
    static constexpr int32_t kEdges[] = {0, 1, -1, 2, 7, 8, 16, 31, 32, 63, 64, 0x7f, 0x80, 0xff, 0x7fff,
                                         0x8000, 0xffff, 0x7fffffff, INT32_MIN, -2, -128};
    if (coin(2)) return kEdges[uniform(0, int(std::size(kEdges)) - 1)];
    return int32_t(rng_());
  }

  Operand operand() { return coin(2) ? Operand::r(reg()) : Operand::k(interesting_imm()); }

  Decoded alu() {
    static constexpr AluOp kOps[] = {AluOp::Add, AluOp::Sub, AluOp::Mul, AluOp::Div, AluOp::SDiv, AluOp::Or,
                                     AluOp::And, AluOp::Lsh, AluOp::Rsh, AluOp::Neg, AluOp::Mod, AluOp::SMod,
                                     AluOp::Xor, AluOp::Mov, AluOp::MovSx8, AluOp::MovSx16, AluOp::MovSx32,
                                     AluOp::Arsh};
    const bool is64 = coin(2);
    AluOp op = kOps[uniform(0, int(std::size(kOps)) - 1)];
    if (op == AluOp::MovSx32 && !is64) op = AluOp::MovSx16;  // ALU32 has no 32-bit movsx
    const Reg dst = reg();
    if (op == AluOp::Neg) return Alu{is64, op, dst, Operand::k(0)};
    if (op == AluOp::MovSx8 || op == AluOp::MovSx16 || op == AluOp::MovSx32) return Alu{is64, op, dst, Operand::r(reg())};
    Operand src = operand();
    if (!src.is_reg) {
      const bool div = op == AluOp::Div || op == AluOp::SDiv || op == AluOp::Mod || op == AluOp::SMod;
      const bool shift = op == AluOp::Lsh || op == AluOp::Rsh || op == AluOp::Arsh;
      if (div && src.imm == 0) src.imm = coin(2) ? -1 : 3;
      if (shift) src.imm = uniform(0, is64 ? 63 : 31);
    }
    return Alu{is64, op, dst, src};
  }

  // An aligned access of `width` inside the initialised slots.
  int16_t stack_off(Width width) {
    const int w = bytes(width);
    const int count = opts_.stack_slots * 8 / w;
    return int16_t(-w * uniform(1, count));
  }

  Width width() { return Width(1 << uniform(0, 3)); }

  Decoded load() {
    Width w = width();
    const bool sx = w != Width::DW && coin(3);
    return Load{w, sx, false, reg(), kFramePointer, stack_off(w)};
  }

  Decoded store() {
    const Width w = width();
    return Store{w, false, kFramePointer, stack_off(w), operand()};
  }

  Decoded atomic() {
    const Width w = coin(2) ? Width::DW : Width::W;
    const AtomicOp op = AtomicOp(uniform(0, 5));
    const bool fetch = op == AtomicOp::Xchg || op == AtomicOp::CmpXchg || coin(2);
    return Atomic{w, op, fetch, kFramePointer, reg(), stack_off(w)};
  }

  std::mt19937_64 rng_;
  RandomProgramOptions opts_;
};

}  // namespace tristate::test
