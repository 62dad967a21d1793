// The Z3 equivalence checker on the .srctgt pairs of tests/data/equiv: every pair's verdict is
// the one the file expects, every program is equivalent to itself, and every counterexample is
// replayed on the interpreter (decide() throws InternalError when the replay shows no
// difference, so a wrong encoding fails here). A file may name a known limitation with
// `; known: REASON`: the checker may then answer unknown for the pair, but never a wrong verdict.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "compiler/asm_module.hpp"
#include "compiler/error.hpp"
#include "verifier/equiv.hpp"

namespace fs = std::filesystem;
using namespace tristate;

namespace {

std::vector<fs::path> pair_files() {
  const char* src = std::getenv("TRISTATE_SOURCE_DIR");
  REQUIRE(src);
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(src) / "tests/data/equiv"))
    if (e.path().extension() == ".srctgt") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string text_of(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> known_limitation(const std::string& text) {
  const auto at = text.find("; known:");
  if (at == std::string::npos) return std::nullopt;
  return text.substr(at + 8, text.find('\n', at) - at - 8);
}

Verdict check(EquivalenceChecker& checker, const SrcTgt& pair, const Module& a, const Module& b) {
  if (pair.window) {
    std::size_t start = 0, end = 0;
    REQUIRE(std::sscanf(pair.window->c_str(), "%zu:%zu", &start, &end) == 2);
    const std::size_t tgt_end = end + b.programs[0].image.size() - a.programs[0].image.size();
    return checker.windows(a, a.programs[0], Window{start, end}, b, b.programs[0], Window{start, tgt_end});
  }
  return checker.programs(a, a.programs[0], b, b.programs[0]);
}

}  // namespace

TEST_CASE("equiv: every .srctgt pair gets its expected verdict, and each side is equivalent to itself", "[equiv][z3]") {
  CheckOptions options;
  options.timeout_ms = 10000;
  options.skip_identical = false;  // the self-checks go through the solver
  EquivalenceChecker checker(options);
  std::map<std::string, int> verdicts;
  int pairs = 0, replayed = 0, limitations = 0;
  for (const fs::path& file : pair_files()) {
    INFO(file.filename().string());
    const std::string text = text_of(file);
    const SrcTgt pair = parse_srctgt(text, file.string());
    const Verdict v = check(checker, pair, pair.src, pair.tgt);
    INFO("verdict " << verdict_name(v.kind) << " " << v.reason
                    << (v.counterexample ? " (" + v.counterexample->difference + ")" : std::string()));
    ++pairs;
    ++verdicts[verdict_name(v.kind)];
    const auto known = known_limitation(text);
    if (known && v.kind == VerdictKind::Unknown) {
      ++limitations;
      std::cout << "equiv: " << file.filename().string() << ": unknown (" << v.reason << "), expected " << pair.expect
                << ", a known limitation:" << *known << "\n";
    } else {
      CHECK(verdict_name(v.kind) == pair.expect);
    }
    if (v.counterexample) {
      // Whole programs of packet types are always replayed (windows start from abstract states).
      if (!pair.window) CHECK(v.counterexample->replayed);
      replayed += v.counterexample->replayed;
    }
    for (const Module* side : {&pair.src, &pair.tgt}) {
      const Verdict self = check(checker, pair, *side, *side);
      INFO("self-check: " << verdict_name(self.kind) << " " << self.reason);
      if (pair.expect == "unknown" || known)
        CHECK(self.kind != VerdictKind::NotEquivalent);
      else
        CHECK(self.kind == VerdictKind::Equivalent);
    }
  }
  CHECK(pairs >= 150);
  std::cout << "equiv: compared " << pairs << " .srctgt pairs (and each side with itself): "
            << verdicts["equivalent"] << " equivalent, " << verdicts["not-equivalent"] << " not equivalent ("
            << replayed << " counterexamples replayed on the interpreter), " << verdicts["unknown"] << " unknown ("
            << limitations << " known limitations)\n";
}

TEST_CASE("equiv: the cache answers a repeated query without the solver", "[equiv][z3]") {
  const SrcTgt pair = parse_srctgt(
      "; r0 = 2 two ways\n; expect: equivalent\n--- src\n r0 = 2\n exit\n--- tgt\n r0 = 1\n r0 += 1\n exit\n", "cache.srctgt");
  EquivalenceChecker checker;
  const Verdict first = checker.programs(pair.src, pair.src.programs[0], pair.tgt, pair.tgt.programs[0]);
  const Verdict second = checker.programs(pair.src, pair.src.programs[0], pair.tgt, pair.tgt.programs[0]);
  CHECK(first.kind == VerdictKind::Equivalent);
  CHECK_FALSE(first.cached);
  CHECK(second.kind == VerdictKind::Equivalent);
  CHECK(second.cached);
  CHECK(checker.cache_hits() == 1);
  CHECK(checker.cache_size() == 1);
}

TEST_CASE("equiv: identical programs need no query, even ones the encoder cannot model", "[equiv][z3]") {
  // bpf_xdp_adjust_head (44) is not modelled: the solver cannot say anything about this program.
  const Module m = assemble_module(
      "; type: xdp\n; map g array key=4 value=8 entries=1\n r6 = r1\n r2 = -14\n call 44\n"
      " ld_pseudo r1, 0x2, 0, 0\n r0 = *(u64 *)(r1 + 0)\n exit\n",
      "same.s");
  EquivalenceChecker checker;
  const Verdict same = checker.programs(m, m.programs[0], m, m.programs[0]);
  CHECK(same.kind == VerdictKind::Equivalent);
  CHECK(same.reason == "identical programs");
  CheckOptions solve;
  solve.skip_identical = false;
  const Verdict solved = EquivalenceChecker(solve).programs(m, m.programs[0], m, m.programs[0]);
  CHECK(solved.kind == VerdictKind::Unknown);
  CHECK(solved.reason.find("unsupported") != std::string::npos);
  // Other global data: no longer identical, so the solver is asked (and cannot model it).
  Module other = m;
  other.maps[0].initial_value.assign(8, 0);
  other.maps[0].initial_value[0] = 1;
  const Verdict differ = checker.programs(m, m.programs[0], other, other.programs[0]);
  CHECK(differ.kind == VerdictKind::Unknown);
  CHECK(differ.reason != "identical programs");
}

TEST_CASE("equiv: a wrong encoding is caught by the replay as an internal error", "[equiv][z3]") {
  // With add encoded as sub, `r0 += 1` and `r0 -= -1` look different to Z3, but the interpreter
  // runs both the same: the checker must refuse its own counterexample.
  const SrcTgt pair = parse_srctgt(
      "; add two ways\n; expect: equivalent\n--- src\n r2 = *(u32 *)(r1 + 16)\n r0 = r2\n r0 += 1\n exit\n"
      "--- tgt\n r2 = *(u32 *)(r1 + 16)\n r0 = r2\n r0 -= -1\n exit\n",
      "broken.srctgt");
  CheckOptions honest;
  CHECK(EquivalenceChecker(honest).programs(pair.src, pair.src.programs[0], pair.tgt, pair.tgt.programs[0]).kind ==
        VerdictKind::Equivalent);
  CheckOptions broken;
  broken.break_add = true;
  EquivalenceChecker checker(broken);
  CHECK_THROWS_AS(checker.programs(pair.src, pair.src.programs[0], pair.tgt, pair.tgt.programs[0]), InternalError);
}

TEST_CASE("equiv: safety finds the unchecked packet read and proves the checked one", "[equiv][z3]") {
  const SrcTgt pair = parse_srctgt(
      "; bounds\n; expect: not-equivalent\n--- src\n r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 4)\n r4 = r2\n r4 += 20\n"
      " if r4 > r3 goto out\n r0 = *(u32 *)(r2 + 16)\n exit\nout:\n r0 = 1\n exit\n"
      "--- tgt\n r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 4)\n r4 = r2\n r4 += 20\n"
      " if r4 > r3 goto out\n r0 = *(u32 *)(r2 + 20)\n exit\nout:\n r0 = 1\n exit\n",
      "bounds.srctgt");
  EquivalenceChecker checker;
  CHECK(checker.safety(pair.src, pair.src.programs[0]).kind == VerdictKind::Equivalent);
  const SafetyVerdict bad = checker.safety(pair.tgt, pair.tgt.programs[0]);
  REQUIRE(bad.kind == VerdictKind::NotEquivalent);
  INFO(bad.reason);
  CHECK(bad.reason.find("insn 5: packet access out of bounds") != std::string::npos);
  REQUIRE(bad.input);
  CHECK(bad.input->packet.size() >= 20);
  CHECK(bad.input->packet.size() < 24);  // long enough for the check, too short for the read
}
