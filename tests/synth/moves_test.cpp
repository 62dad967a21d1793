// The search's moves: every move undoes exactly, and candidates stay within the cpu version.
#include "synth/moves.hpp"

#include <catch2/catch.hpp>

#include "compiler/asm.hpp"
#include "compiler/rewrite.hpp"

using namespace tristate;

TEST_CASE("every move undoes exactly, and every kind is drawn", "[moves]") {
  const std::vector<Insn> window = assemble(
      "r2 = 0\n*(u64 *)(r10 - 8) = r2\n*(u8 *)(r10 - 2) = r3\nw1 = w4\nr1 <<= 32\nr1 >>= 32\nr3 = be16 r3\n");
  const std::vector<int32_t> constants = {0, 6, 17, 0x800};
  Proposer proposer(window, reg_bit(3) | reg_bit(4) | reg_bit(10), reg_bit(1) | reg_bit(3), constants, 3);
  std::mt19937_64 rng(42);
  std::vector<Insn> w = window;
  std::size_t changed = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::vector<Insn> before = w;
    const MoveInfo m = proposer.propose(w, rng);
    changed += !m.changed.empty();
    for (std::size_t k = 0; k < w.size(); ++k)
      if (!(w[k] == before[k])) REQUIRE(std::find(m.changed.begin(), m.changed.end(), k) != m.changed.end());
    if (i % 3 == 0) {
      Proposer::undo(w, m);
      REQUIRE(w == before);
    }
  }
  CHECK(changed > 10000);
  for (std::size_t k = 0; k < kMoveKinds; ++k) {
    INFO("move " << move_name(MoveKind(k)));
    CHECK(proposer.counts[k].proposed > 500);
  }
}

TEST_CASE("random instructions use only the window's registers and the allowed cpu version", "[moves]") {
  const std::vector<Insn> window = assemble("r2 = r1\nr2 += 14\n");
  std::mt19937_64 rng(1);
  for (unsigned cpu : {1u, 3u, 4u}) {
    Proposer proposer(window, reg_bit(1), reg_bit(2), {}, cpu);
    bool saw_v4 = false;
    for (int i = 0; i < 5000; ++i) {
      const Insn insn = proposer.random_insn(rng);
      CHECK(!(insn == kNop));
      const DecodeResult d = decode(std::span<const Insn>(&insn, 1), 0);
      if (!d.ok()) continue;  // an encoding the kernel refuses: the search counts it invalid
      const unsigned v = min_cpu_version(d.decoded());
      CHECK(v <= cpu);
      saw_v4 |= v == 4;
      for (Reg r : {insn.dst, insn.src}) CHECK((r == 0 || r == 1 || r == 2 || r == 10));
    }
    if (cpu == 4) CHECK(saw_v4);
  }
}

TEST_CASE("memory offsets come from the window's accesses and their neighbours", "[moves]") {
  // Many accesses, so that building the pool of neighbours grows it well past its first capacity.
  const std::vector<Insn> window = assemble(
      "*(u64 *)(r10 - 8) = r1\n*(u32 *)(r10 - 16) = r1\n*(u16 *)(r10 - 24) = r1\n*(u8 *)(r10 - 32) = r1\n"
      "r2 = *(u64 *)(r10 - 40)\nr2 = *(u32 *)(r10 - 48)\nr2 = *(u16 *)(r10 - 56)\nr2 = *(u8 *)(r10 - 64)\n");
  Proposer proposer(window, reg_bit(1) | reg_bit(10), reg_bit(2), {}, 3);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; ++i) {
    const Insn insn = proposer.random_insn(rng);
    const uint8_t cls = bpf::class_of(insn.opcode);
    if (cls != bpf::LDX && cls != bpf::ST && cls != bpf::STX) continue;
    bool near = insn.off == 0;
    for (const Insn& w : window) near |= insn.off >= w.off - 8 && insn.off <= w.off + 8;
    INFO("offset " << insn.off);
    REQUIRE(near);
  }
}

TEST_CASE("the widen move joins two narrow loads, their shift and their or into one load", "[moves]") {
  SECTION("two bytes into a u16, in clang's order") {
    std::vector<Insn> w = assemble("r4 = *(u8 *)(r1 + 12)\nr5 = *(u8 *)(r1 + 13)\nw5 <<= 8\nw5 |= w4\nr0 = 1\n");
    REQUIRE(Proposer::widen(w, 3));
    const std::vector<Insn> want = {kNop, kNop, kNop, assemble("r5 = *(u16 *)(r1 + 12)\n")[0], assemble("r0 = 1\n")[0]};
    CHECK(w == want);
  }
  SECTION("keeping the low byte's load, for code that reads it afterwards") {
    std::vector<Insn> w = assemble("r4 = *(u8 *)(r1 + 12)\nr5 = *(u8 *)(r1 + 13)\nw5 <<= 8\nw5 |= w4\n");
    REQUIRE(Proposer::widen(w, 0, true));
    const std::vector<Insn> want = {assemble("r4 = *(u8 *)(r1 + 12)\n")[0], kNop, kNop, assemble("r5 = *(u16 *)(r1 + 12)\n")[0]};
    CHECK(w == want);
  }
  SECTION("interleaved, the shift before the low byte's load") {
    std::vector<Insn> w = assemble("r2 = *(u8 *)(r1 + 11)\nw2 <<= 8\nr3 = *(u8 *)(r1 + 10)\nw2 |= w3\n");
    REQUIRE(Proposer::widen(w, 0));
    const std::vector<Insn> want = {kNop, kNop, kNop, assemble("r2 = *(u16 *)(r1 + 10)\n")[0]};
    CHECK(w == want);
  }
  SECTION("two halves into a u32") {
    std::vector<Insn> w = assemble("r4 = *(u16 *)(r6 + 4)\nr5 = *(u16 *)(r6 + 6)\nr5 <<= 16\nr5 |= r4\n");
    REQUIRE(Proposer::widen(w, 0));
    const std::vector<Insn> want = {kNop, kNop, kNop, assemble("r5 = *(u32 *)(r6 + 4)\n")[0]};
    CHECK(w == want);
  }
  SECTION("no pattern: bytes not adjacent, or the wrong shift") {
    for (const char* text : {"r4 = *(u8 *)(r1 + 12)\nr5 = *(u8 *)(r1 + 14)\nw5 <<= 8\nw5 |= w4\n",
                             "r4 = *(u8 *)(r1 + 12)\nr5 = *(u8 *)(r1 + 13)\nw5 <<= 16\nw5 |= w4\n",
                             "r4 = *(u8 *)(r1 + 12)\nr5 = *(u8 *)(r2 + 13)\nw5 <<= 8\nw5 |= w4\n"}) {
      std::vector<Insn> w = assemble(text);
      const std::vector<Insn> before = w;
      CHECK_FALSE(Proposer::widen(w, 0));
      CHECK(w == before);
    }
  }
}

TEST_CASE("the copy move joins two narrow copies between neighbouring bytes into one", "[moves]") {
  SECTION("a 4-byte copy, byte by byte and downwards as clang writes it, becomes a u32 copy") {
    std::vector<Insn> w = assemble(
        "r1 = *(u8 *)(r7 + 5)\n*(u8 *)(r7 + 11) = r1\nr1 = *(u8 *)(r7 + 4)\n*(u8 *)(r7 + 10) = r1\n"
        "r1 = *(u8 *)(r7 + 3)\n*(u8 *)(r7 + 9) = r1\nr1 = *(u8 *)(r7 + 2)\n*(u8 *)(r7 + 8) = r1\n");
    REQUIRE(Proposer::join_copies(w, 0));
    REQUIRE(Proposer::join_copies(w, 4));
    CHECK(w[0] == assemble("r1 = *(u16 *)(r7 + 4)\n")[0]);
    CHECK(w[1] == assemble("*(u16 *)(r7 + 10) = r1\n")[0]);
    CHECK(w[4] == assemble("r1 = *(u16 *)(r7 + 2)\n")[0]);
    REQUIRE(Proposer::join_copies(w, 0));
    const std::vector<Insn> want = {assemble("r1 = *(u32 *)(r7 + 2)\n")[0], assemble("*(u32 *)(r7 + 8) = r1\n")[0],
                                    kNop, kNop, kNop, kNop, kNop, kNop};
    CHECK(w == want);
    CHECK_FALSE(Proposer::join_copies(w, 0));
  }
  SECTION("between two regions, upwards") {
    std::vector<Insn> w = assemble("r1 = *(u8 *)(r0 + 0)\n*(u8 *)(r7 + 0) = r1\nr2 = *(u8 *)(r0 + 1)\n*(u8 *)(r7 + 1) = r2\n");
    REQUIRE(Proposer::join_copies(w, 2));
    const std::vector<Insn> want = {assemble("r1 = *(u16 *)(r0 + 0)\n")[0], assemble("*(u16 *)(r7 + 0) = r1\n")[0], kNop, kNop};
    CHECK(w == want);
  }
  SECTION("no pattern: the bytes not neighbours, other bases, or the offsets moving apart") {
    for (const char* text : {"r1 = *(u8 *)(r0 + 0)\n*(u8 *)(r7 + 0) = r1\nr1 = *(u8 *)(r0 + 2)\n*(u8 *)(r7 + 2) = r1\n",
                             "r1 = *(u8 *)(r0 + 0)\n*(u8 *)(r7 + 0) = r1\nr1 = *(u8 *)(r6 + 1)\n*(u8 *)(r7 + 1) = r1\n",
                             "r1 = *(u8 *)(r0 + 0)\n*(u8 *)(r7 + 1) = r1\nr1 = *(u8 *)(r0 + 1)\n*(u8 *)(r7 + 0) = r1\n"}) {
      std::vector<Insn> w = assemble(text);
      const std::vector<Insn> before = w;
      CHECK_FALSE(Proposer::join_copies(w, 0));
      CHECK(w == before);
    }
  }
}
