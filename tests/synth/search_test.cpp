// The search on real programs: what it finds is shorter and proved equivalent by an independent
// whole-program check, the same seed gives the same program, and without any test case the proof
// alone still keeps every wrong candidate out.
#include "synth/search.hpp"

#include <catch2/catch.hpp>

#include "compiler/elf_reader.hpp"
#include "compiler/rewrite.hpp"
#include "synth/windows.hpp"
#include "tests/support/process.hpp"
#include "tests/support/slots.hpp"

using namespace tristate;
using tristate::test::env;

namespace {

Module corpus(const std::string& name) { return read_elf(env("TRISTATE_PROGS_DIR") + "/" + name); }

// The program with the search's deleted slots removed for real.
Program without_removed(const Program& p, const ProgramSearch& s) { return tristate::test::without_slots(p, s.image, s.removed); }

SearchOptions options(uint64_t seed) {
  SearchOptions o;
  o.budget_s = 120;  // not binding: the proposal count ends the search
  o.seed = seed;
  o.proposals = 3000;
  return o;
}

}  // namespace

TEST_CASE("windows are straight-line code of the entry function, with liveness", "[search]") {
  const Module m = corpus("xdp_drop_proto.v3.o");
  const Program& p = m.programs.at(0);
  const auto windows = choose_windows(p, 4);
  REQUIRE(!windows.empty());
  const std::vector<DecodedInsn> code = decode_program(p.image);
  for (const SearchWindow& w : windows) {
    CHECK(w.size() >= 1);
    CHECK(w.size() <= 4);
    for (const DecodedInsn& d : code)
      if (d.pc >= w.start && d.pc < w.end) CHECK(rewritable(d.insn));
  }
}

TEST_CASE("the search finds a shorter xdp_drop_proto, proved equivalent as a whole", "[search]") {
  const Module m = corpus("xdp_drop_proto.v3.o");
  const TestSuite tests = make_test_suite(m, 0, "xdp_drop_proto.v3.o", nullptr, TestSuiteOptions{});
  REQUIRE(tests.cases.size() > 20);
  EquivalenceChecker checker;
  const ProgramSearch s = search_program(m, 0, tests, checker, options(1), {});
  INFO(s.skipped);
  REQUIRE(s.skipped.empty());
  CHECK(s.windows_improved >= 1);
  CHECK(s.cost_after < s.cost_before);
  CHECK(s.z3_queries >= 1);
  Module after = m;
  after.programs[0] = without_removed(m.programs[0], s);
  CHECK(after.programs[0].image.size() < m.programs[0].image.size());
  EquivalenceChecker independent;
  const Verdict v = independent.programs(m, m.programs[0], after, after.programs[0]);
  INFO(v.reason);
  CHECK(v.kind == VerdictKind::Equivalent);

  // The same seed with one chain: the same program.
  EquivalenceChecker again;
  const ProgramSearch s2 = search_program(m, 0, tests, again, options(1), {});
  CHECK(s2.image == s.image);
  CHECK(s2.removed == s.removed);
}

TEST_CASE("without test cases every candidate meets the proof, and only proved ones are kept", "[search]") {
  const Module m = corpus("xdp_icmp_echo.v3.o");
  const TestSuite none;  // no case reaches any window: the tests let everything through
  EquivalenceChecker checker;
  SearchOptions o = options(3);
  o.proposals = 400;
  o.proofs_per_window = 3;
  o.context_proofs_per_window = 0;
  const ProgramSearch s = search_program(m, 0, none, checker, o, {});
  REQUIRE(s.skipped.empty());
  CHECK(s.counterexamples + s.analyzer_rejects > 0);  // wrong candidates did reach the gates
  Module after = m;
  after.programs[0] = without_removed(m.programs[0], s);
  EquivalenceChecker independent;
  const Verdict v = independent.programs(m, m.programs[0], after, after.programs[0]);
  INFO(v.reason);
  CHECK(v.kind == VerdictKind::Equivalent);
}

TEST_CASE("a program the equivalence checker cannot model is not searched, with the reason", "[search]") {
  const Module m = corpus("xdp_lb.v3.o");
  EquivalenceChecker checker;
  const ProgramSearch s = search_program(m, 0, TestSuite{}, checker, options(1), {});
  CHECK(s.skipped.find("cannot prove") != std::string::npos);
  CHECK(s.image == m.programs[0].image);
}
