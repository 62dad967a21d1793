#include "compiler/liveness.hpp"
#include "tests/support/code.hpp"

#include <catch2/catch.hpp>
#include <initializer_list>

using namespace tristate;

namespace {

using tristate::test::Code;

RegSet regs(std::initializer_list<int> rs) {
  RegSet s = 0;
  for (int r : rs) s |= reg_bit(Reg(r));
  return s;
}

Decoded mov(Reg dst, int32_t imm) { return Alu{true, AluOp::Mov, dst, Operand::k(imm)}; }
Decoded movr(Reg dst, Reg src) { return Alu{true, AluOp::Mov, dst, Operand::r(src)}; }
Decoded addr(Reg dst, Reg src) { return Alu{true, AluOp::Add, dst, Operand::r(src)}; }

Liveness live_of(const Code& c) {
  return compute_liveness(build_cfg(c.insns, {FunctionRange{"f", 0, c.insns.size()}}));
}

}  // namespace

TEST_CASE("liveness: register effects of each kind of instruction", "[liveness]") {
  struct Case {
    Decoded insn;
    RegSet uses, defs;
  };
  const RegSet r0_5 = regs({0, 1, 2, 3, 4, 5});
  const RegSet r1_5 = regs({1, 2, 3, 4, 5});
  const Case cases[] = {
      {Alu{false, AluOp::Mov, 1, Operand::r(2)}, regs({2}), regs({1})},  // w1 = w2 does not read r1
      {Alu{true, AluOp::MovSx8, 1, Operand::r(2)}, regs({2}), regs({1})},
      {Alu{true, AluOp::Mov, 1, Operand::k(7)}, 0, regs({1})},
      {Alu{true, AluOp::Add, 1, Operand::r(2)}, regs({1, 2}), regs({1})},
      {Alu{false, AluOp::Xor, 3, Operand::k(1)}, regs({3}), regs({3})},
      {Alu{true, AluOp::Neg, 4, Operand::k(0)}, regs({4}), regs({4})},
      {Alu{true, AluOp::Add, 1, Operand::r(10)}, regs({1, 10}), regs({1})},
      {Endian{ByteOrder::ToBe, 5, 16}, regs({5}), regs({5})},
      {AddrSpaceCast{1, 2, 1, 0}, regs({2}), regs({1})},
      {Jmp{true, Cond::Gt, 1, Operand::r(2), 3}, regs({1, 2}), 0},
      {Jmp{false, Cond::Eq, 1, Operand::k(0), 3}, regs({1}), 0},
      {Ja{4, false}, 0, 0},
      {MayGoto{4}, 0, 0},
      {Load{Width::DW, false, false, 1, 10, -8}, regs({10}), regs({1})},
      {Load{Width::W, false, true, 1, 2, 0}, regs({2}), regs({1})},  // load-acquire
      {Store{Width::DW, false, 10, -8, Operand::r(1)}, regs({1, 10}), 0},
      {Store{Width::W, false, 10, -4, Operand::k(7)}, regs({10}), 0},
      {Store{Width::DW, true, 2, 0, Operand::r(3)}, regs({2, 3}), 0},  // store-release
      {Atomic{Width::DW, AtomicOp::Add, false, 2, 3, 0}, regs({2, 3}), 0},
      {Atomic{Width::DW, AtomicOp::Add, true, 2, 3, 0}, regs({2, 3}), regs({3})},
      {Atomic{Width::W, AtomicOp::Xchg, true, 2, 3, 0}, regs({2, 3}), regs({3})},
      {Atomic{Width::DW, AtomicOp::CmpXchg, true, 2, 3, 0}, regs({0, 2, 3}), regs({0})},
      {Call{CallKind::Helper, 1, 0}, r1_5, r0_5},
      {Call{CallKind::Kfunc, 1234, 0}, r1_5, r0_5},
      {Call{CallKind::Local, 7, 0}, r1_5, r0_5},
      {Exit{}, regs({0}), 0},
      {LdImm64{4, 0, 1, 2}, 0, regs({4})},
      {LdImm64{4, bpf::PSEUDO_MAP_FD, 3, 0}, 0, regs({4})},
      {PacketLoad{false, Width::B, 0, 14}, regs({6}), r0_5},
      {PacketLoad{true, Width::H, 3, 0}, regs({3, 6}), r0_5},
  };
  CHECK(kArgRegs == r1_5);
  CHECK(kCallerSaved == r0_5);
  for (const Case& c : cases) {
    INFO("instruction kind " << c.insn.index());
    const RegEffects e = reg_effects(c.insn);
    CHECK(e.uses == c.uses);
    CHECK(e.defs == c.defs);
  }
}

TEST_CASE("liveness: a register read in one arm is live into the branch", "[liveness]") {
  Code c;
  c << mov(0, 0)                                 // 0
    << Jmp{true, Cond::Eq, 1, Operand::k(0), 2}  // 1: -> 4
    << movr(0, 2)                                // 2: reads r2
    << Ja{1, false}                              // 3: -> 5
    << mov(0, 7)                                 // 4
    << Exit{};                                   // 5
  const Liveness l = live_of(c);
  CHECK(l.live_in[5] == regs({0}));  // the return value
  CHECK(l.live_out[5] == 0);
  CHECK(l.live_in[4] == 0);
  CHECK(l.live_in[2] == regs({2}));
  CHECK(l.live_out[1] == regs({2}));  // union of both arms
  CHECK(l.live_in[1] == regs({1, 2}));
  CHECK(l.live_out[0] == regs({1, 2}));  // r0 = 0 is dead: both arms overwrite it
  CHECK(l.live_in[0] == regs({1, 2}));
  REQUIRE(l.block_in.size() == 1);
  REQUIRE(l.block_in[0].size() == 4);
  CHECK(l.block_in[0][0] == regs({1, 2}));
  CHECK(l.block_in[0][2] == 0);  // the else arm
  CHECK(l.block_out[0][1] == regs({0}));
  CHECK(l.block_in[0][3] == regs({0}));
}

TEST_CASE("liveness: a call reads r1..r5 and writes r0..r5", "[liveness]") {
  Code c;
  c << movr(6, 1)                    // 0
    << mov(0, 1)                     // 1: dead, the call sets r0
    << mov(1, 5)                     // 2
    << Call{CallKind::Helper, 7, 0}  // 3
    << addr(0, 6)                    // 4
    << Exit{};                       // 5
  const Liveness l = live_of(c);
  CHECK(l.live_out[3] == regs({0, 6}));  // r1..r5 are dead after the call; r6 survives it
  CHECK(l.live_in[3] == regs({1, 2, 3, 4, 5, 6}));
  CHECK(l.live_out[1] == regs({2, 3, 4, 5, 6}));  // r1 is redefined at 2, r0 by the call
  CHECK(l.live_in[0] == regs({1, 2, 3, 4, 5}));
}

TEST_CASE("liveness: LD_ABS reads r6 and scratches r1..r5", "[liveness]") {
  Code c;
  c << movr(6, 1)                          // 0
    << mov(2, 1)                           // 1: dead, LD_ABS scratches r2
    << mov(3, 4)                           // 2: read by LD_IND
    << PacketLoad{false, Width::B, 0, 14}  // 3
    << PacketLoad{true, Width::H, 3, 0}    // 4 (r3 is scratched by 3, read anyway)
    << Exit{};                             // 5
  const Liveness l = live_of(c);
  CHECK(l.live_in[4] == regs({3, 6}));
  CHECK(l.live_in[3] == regs({6}));
  CHECK(l.live_out[1] == regs({6}));
  CHECK(l.live_out[2] == regs({6}));
  CHECK(l.live_in[0] == regs({1}));
}

TEST_CASE("liveness: a register read at a loop head is live around the back edge", "[liveness]") {
  Code c;
  c << mov(0, 0)                                  // 0
    << mov(1, 10)                                 // 1
    << addr(0, 3)                                 // 2: loop head reads r3
    << Alu{true, AluOp::Sub, 1, Operand::k(1)}    // 3
    << Jmp{true, Cond::Ne, 1, Operand::k(0), -3}  // 4: -> 2
    << Exit{};                                    // 5
  const Liveness l = live_of(c);
  CHECK(l.live_out[4] == regs({0, 1, 3}));
  CHECK(l.live_in[4] == regs({0, 1, 3}));
  CHECK(l.live_in[2] == regs({0, 1, 3}));
  CHECK(l.live_out[1] == regs({0, 1, 3}));
  CHECK(l.live_in[0] == regs({3}));
  CHECK(l.block_out[0][1] == regs({0, 1, 3}));
}

TEST_CASE("liveness: nested loop carries a register defined before both loops", "[liveness]") {
  Code c;
  c << mov(7, 9)                                  // 0: read only in the inner loop
    << mov(0, 0)                                  // 1
    << mov(1, 3)                                  // 2
    << mov(2, 4)                                  // 3: outer head
    << addr(0, 7)                                 // 4: inner head
    << Alu{true, AluOp::Sub, 2, Operand::k(1)}    // 5
    << Jmp{true, Cond::Ne, 2, Operand::k(0), -3}  // 6: -> 4
    << Alu{true, AluOp::Sub, 1, Operand::k(1)}    // 7
    << Jmp{true, Cond::Ne, 1, Operand::k(0), -6}  // 8: -> 3
    << Exit{};                                    // 9
  const Liveness l = live_of(c);
  CHECK(l.live_out[8] == regs({0, 1, 7}));  // r2 is reset at the outer head
  CHECK(l.live_out[6] == regs({0, 1, 2, 7}));
  CHECK(l.live_in[0] == 0);
  CHECK(l.live_out[0] == regs({7}));
}

TEST_CASE("liveness: LD_IMM64 defines its register and its second slot is empty", "[liveness]") {
  Code c;
  c << movr(2, 1)           // 0: dead, overwritten below
    << LdImm64{2, 0, 0, 1}  // 1-2: r2 = 0x100000000 ll
    << movr(0, 2)           // 3
    << Exit{};              // 4
  const Liveness l = live_of(c);
  CHECK(l.live_out[0] == 0);
  CHECK(l.live_in[1] == 0);
  CHECK(l.live_out[1] == regs({2}));
  CHECK(l.live_in[2] == 0);
  CHECK(l.live_out[2] == 0);
  CHECK(l.live_in[3] == regs({2}));
}

TEST_CASE("liveness: every function's exit reads r0, calls are summarised", "[liveness]") {
  Code c;
  c << mov(6, 3)                    // 0: main
    << mov(1, 2)                    // 1
    << Call{CallKind::Local, 2, 0}  // 2: -> 5
    << addr(0, 6)                   // 3
    << Exit{}                       // 4
    << movr(0, 1)                   // 5: sub reads r1
    << Exit{};                      // 6
  const Liveness l = compute_liveness(build_cfg(c.insns, {{"main", 0, 5}, {"sub", 5, 2}}));
  REQUIRE(l.block_in.size() == 2);
  CHECK(l.live_in[5] == regs({1}));
  CHECK(l.live_in[6] == regs({0}));
  CHECK(l.live_out[2] == regs({0, 6}));
  CHECK(l.live_in[0] == regs({2, 3, 4, 5}));  // r1 is set at 1; r2..r5 are conservatively read
  CHECK(l.block_in[1][0] == regs({1}));
}
