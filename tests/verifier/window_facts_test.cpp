// Window checks in their program: the analyzer's facts at a window's entry and the stack bytes
// read after it (analyzer/facts.hpp) let the checker prove rewrites that hold in the program but
// not from every entry state; and a failed map lookup is the number 0 on its NULL branch.
#include <catch2/catch.hpp>

#include "analyzer/facts.hpp"
#include "compiler/asm_module.hpp"
#include "verifier/equiv.hpp"

using namespace tristate;

namespace {

// Slot numbers in the comments: the windows below name them.
constexpr const char* kProgram = R"(; type: xdp
    r6 = 0                      ; 0
    r1 = 7                      ; 1
    *(u64 *)(r10 - 8) = r1      ; 2: dead, 3 overwrites it
    *(u64 *)(r10 - 8) = r6      ; 3
    *(u32 *)(r10 - 16) = r1     ; 4: never read
    r0 = *(u64 *)(r10 - 8)      ; 5
    exit
)";

Module with_slot(const Module& m, std::size_t slot, const std::string& insn_text) {
  const Module one = assemble_module("; type: xdp\n" + insn_text + "\nexit\n", "one.s");
  Module out = m;
  out.programs[0].image[slot] = one.programs[0].image[0];
  return out;
}

bool live(const StackBytes& b, int off) { return b.test(std::size_t(off + kMaxStack)); }

}  // namespace

TEST_CASE("program facts: joined entry facts and the stack read later", "[equiv][facts]") {
  const Module m = assemble_module(kProgram, "facts.s");
  const ProgramFacts f = program_facts(m, m.programs[0]);
  REQUIRE(f.analyzed);
  REQUIRE(f.entry[3]);
  REQUIRE(f.entry[3]->regs[6]);
  CHECK(f.entry[3]->regs[6]->var.is_const());
  CHECK(f.entry[3]->regs[6]->var.var.value == 0);
  CHECK(f.entry[3]->regs[1]->var.var.value == 7);
  // Before 3 the bytes at -8 are about to be overwritten: not live; before 5 they are read.
  for (int off = -8; off < 0; ++off) {
    CHECK_FALSE(live(f.live_stack[3], off));
    CHECK(live(f.live_stack[5], off));
    CHECK_FALSE(live(f.live_stack[7], off));  // past the exit
  }
  for (int off = -16; off < -12; ++off) CHECK_FALSE(live(f.live_stack[4], off));
  // After 3 the slot holds r6, spilled whole: the constant 0.
  REQUIRE(f.entry[5]);
  REQUIRE(f.entry[5]->spilled.count(-8));
  CHECK(f.entry[5]->spilled.at(-8).is_const());
  CHECK(f.entry[5]->spilled.at(-8).var.value == 0);
}

TEST_CASE("window checks: dead stores and facts from the code before", "[equiv][facts][z3]") {
  const Module m = assemble_module(kProgram, "facts.s");
  const ProgramFacts f = program_facts(m, m.programs[0]);
  EquivalenceChecker checker;
  const auto check = [&](const Module& tgt, std::size_t start, bool with_context) {
    WindowContext c;
    if (with_context) {
      c.entry = f.entry[start];
      c.live_stack_after = f.live_stack[start + 1];
    }
    return checker.windows(m, m.programs[0], Window{start, start + 1}, tgt, tgt.programs[0], Window{start, start + 1}, c).kind;
  };

  SECTION("a store that a later one overwrites may go") {
    const Module tgt = with_slot(m, 2, "goto +0");
    CHECK(check(tgt, 2, false) == VerdictKind::NotEquivalent);
    CHECK(check(tgt, 2, true) == VerdictKind::Equivalent);
  }
  SECTION("so may one nothing reads") {
    const Module tgt = with_slot(m, 4, "goto +0");
    CHECK(check(tgt, 4, false) == VerdictKind::NotEquivalent);
    CHECK(check(tgt, 4, true) == VerdictKind::Equivalent);
  }
  SECTION("a register the code before set to zero") {
    const Module tgt = with_slot(m, 3, "*(u64 *)(r10 - 8) = 0");
    CHECK(check(tgt, 3, false) == VerdictKind::NotEquivalent);
    CHECK(check(tgt, 3, true) == VerdictKind::Equivalent);
  }
  SECTION("a live store stays, facts or not") {
    const Module tgt = with_slot(m, 3, "goto +0");
    CHECK(check(tgt, 3, true) == VerdictKind::NotEquivalent);
    const Module wrong = with_slot(m, 3, "*(u64 *)(r10 - 8) = 1");
    CHECK(check(wrong, 3, true) == VerdictKind::NotEquivalent);
  }
}

TEST_CASE("on the NULL branch of a map lookup the pointer is the number 0", "[equiv][z3]") {
  // Storing the NULL pointer's two low bytes is storing zero: the interpreter and the kernel
  // treat the failed lookup's r0 as the scalar 0 there.
  const std::string head = R"(; type: xdp
; map counts hash key=4 value=8 entries=16
    *(u32 *)(r10 - 4) = 1
    ld_pseudo r1, 0x1, 0
    r2 = r10
    r2 += -4
    call 1
    if r0 != 0 goto found
)";
  const std::string tail = R"(
    r0 = *(u16 *)(r10 - 4)
    exit
found:
    r0 = 2
    exit
)";
  const Module src = assemble_module(head + "    *(u16 *)(r10 - 4) = 0" + tail, "src.s");
  const Module tgt = assemble_module(head + "    *(u16 *)(r10 - 4) = r0" + tail, "tgt.s");
  EquivalenceChecker checker;
  CHECK(checker.programs(src, src.programs[0], tgt, tgt.programs[0]).kind == VerdictKind::Equivalent);
  const Module wrong = assemble_module(head + "    *(u16 *)(r10 - 4) = r2" + tail, "wrong.s");
  CHECK(checker.programs(src, src.programs[0], wrong, wrong.programs[0]).kind == VerdictKind::NotEquivalent);
}
