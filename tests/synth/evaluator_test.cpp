// The search's cost function sees what a candidate does to the maps and the stack read later:
// a candidate that drops a map store has an error; one that drops a store nothing reads has none.
#include "synth/evaluator.hpp"

#include <catch2/catch.hpp>

#include "analyzer/facts.hpp"
#include "compiler/asm_module.hpp"

using namespace tristate;

namespace {

// Slots in the comments.
constexpr const char* kProgram = R"(; type: xdp
; map counts array key=4 value=8 entries=4
    *(u32 *)(r10 - 4) = 1       ; 0
    ld_pseudo r1, 0x1, 0        ; 1-2
    r2 = r10                    ; 3
    r2 += -4                    ; 4
    call 1                      ; 5
    if r0 == 0 goto out         ; 6
    r1 = 5                      ; 7
    *(u64 *)(r0 + 0) = r1       ; 8: the map store
    *(u64 *)(r10 - 16) = r1     ; 9: a store nothing reads
out:
    r0 = 2                      ; 10
    exit                        ; 11
)";

Insn nop() { return assemble_module("; type: xdp\ngoto +0\nexit\n", "nop.s").programs[0].image[0]; }

}  // namespace

TEST_CASE("the evaluator's error counts map stores and only the stack read later", "[search][evaluator]") {
  const Module m = assemble_module(kProgram, "eval.s");
  TestSuite suite;
  suite.cases.push_back(TestCase{std::vector<uint8_t>(64, 0), {}, -1, std::nullopt});
  const ProgramFacts facts = program_facts(m, m.programs[0]);
  REQUIRE(facts.analyzed);

  SECTION("dropping the map store") {
    Evaluator ev(m, 0, suite);
    ev.set_window(7, 10, 0, facts.live_stack[10]);
    REQUIRE(ev.reaching_cases() == 1);
    CHECK(ev.error(1000) == 0);
    REQUIRE_FALSE(ev.write(8, nop()));
    CHECK(ev.error(1000) > 0);
  }
  SECTION("dropping a dead stack store") {
    Evaluator ev(m, 0, suite);
    ev.set_window(7, 10, 0, facts.live_stack[10]);
    REQUIRE_FALSE(ev.write(9, nop()));
    CHECK(ev.error(1000) == 0);
  }
  SECTION("comparing the whole stack, it counts") {
    Evaluator ev(m, 0, suite);
    ev.set_window(7, 10, 0);
    REQUIRE_FALSE(ev.write(9, nop()));
    CHECK(ev.error(1000) > 0);
  }
}
