// `tristate equiv` end to end: exit status 0 equivalent, 1 not equivalent (with the counterexample
// side by side), 3 unknown, 2 bad input; --json, --window and --safety.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace tristate::test;

namespace {

ProcessResult run_equiv(std::vector<std::string> args) {
  const std::string bin = env("TRISTATE_BIN");
  REQUIRE_FALSE(bin.empty());
  args.insert(args.begin(), {bin, "equiv"});
  return run_process(args);
}

// An XDP program returning the first packet byte plus K, computed as `r0 += K`.
std::string add_program(const char* add) {
  return std::string("; type: xdp\n r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 4)\n r4 = r2\n r4 += 1\n"
                     " if r4 > r3 goto out\n r0 = *(u8 *)(r2 + 0)\n") +
         add + "\n exit\nout:\n r0 = 0\n exit\n";
}

}  // namespace

TEST_CASE("equiv: equivalent, not equivalent and bad input exit 0, 1 and 2", "[equiv][z3][cli]") {
  TempDir dir;
  const std::string a = dir.path() + "/a.s", b = dir.path() + "/b.s", c = dir.path() + "/c.s";
  write_file(a, add_program("r0 += 2"));
  write_file(b, add_program("r0 -= -2"));
  write_file(c, add_program("r0 += 3"));

  const auto same = run_equiv({a, b});
  CHECK(same.status == 0);
  CHECK(same.out.rfind("equivalent (", 0) == 0);

  const auto differ = run_equiv({a, c});
  CHECK(differ.status == 1);
  CHECK(differ.out.find("not equivalent") != std::string::npos);
  CHECK(differ.out.find("source") != std::string::npos);  // outputs side by side
  CHECK(differ.out.find("target") != std::string::npos);

  const auto j = run_equiv({a, c, "--json"});
  CHECK(j.status == 1);
  const auto parsed = nlohmann::json::parse(j.out);
  CHECK(parsed["verdict"] == "not-equivalent");
  CHECK(parsed["counterexample"]["replayed"] == true);
  // The replayed runs differ by one in r0, on the packet the model chose.
  const uint64_t r0a = parsed["counterexample"]["source"]["r0"], r0c = parsed["counterexample"]["target"]["r0"];
  CHECK(r0c == r0a + 1);

  const auto missing = run_equiv({a, dir.path() + "/none.s"});
  CHECK(missing.status == 2);
  CHECK(missing.err.find("none.s") != std::string::npos);
}

TEST_CASE("equiv: a window, and a loop past the unrolling bound is unknown (3)", "[equiv][z3][cli]") {
  TempDir dir;
  const std::string a = dir.path() + "/a.s", c = dir.path() + "/c.s";
  write_file(a, add_program("r0 += 2"));
  write_file(c, add_program("r0 += 3"));
  // Slots [0, 4) are the same in both; [6, 7) differs. A window must be left at its end only:
  // [0, 6) holds the bounds check's jump past it.
  CHECK(run_equiv({a, c, "--window", "0:4"}).status == 0);
  const auto leaves = run_equiv({a, c, "--window", "0:6"});
  CHECK(leaves.status == 3);
  CHECK(leaves.out.find("control leaves the window [0, 6)") != std::string::npos);
  CHECK(run_equiv({a, c, "--window", "6:7"}).status == 1);
  CHECK(run_equiv({a, c, "--window", "7:6"}).status == 2);

  // A loop counting down from the packet's length: up to 3520 iterations.
  const std::string loop = dir.path() + "/loop.s";
  write_file(loop,
             "; type: xdp\n r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 4)\n r3 -= r2\n r0 = 0\n"
             "top:\n if r3 == 0 goto done\n r3 -= 1\n r0 += 1\n goto top\ndone:\n exit\n");
  const std::string other = dir.path() + "/other.s";  // the same loop, its add written as a subtract
  write_file(other,
             "; type: xdp\n r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 4)\n r3 -= r2\n r0 = 0\n"
             "top:\n if r3 == 0 goto done\n r3 -= 1\n r0 -= -1\n goto top\ndone:\n exit\n");
  const auto r = run_equiv({loop, other, "--unroll", "8"});
  CHECK(r.status == 3);
  CHECK(r.out.find("loop bound") != std::string::npos);
  // A program is equivalent to itself without a query, loops or not.
  CHECK(run_equiv({loop, loop, "--unroll", "8"}).status == 0);
}

TEST_CASE("equiv --safety: an unchecked packet read is unsafe, the corpus firewall is safe", "[equiv][z3][cli]") {
  TempDir dir;
  const std::string bad = dir.path() + "/bad.s";
  write_file(bad,
             "; type: xdp\n r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 4)\n r4 = r2\n r4 += 20\n"
             " if r4 > r3 goto out\n r0 = *(u32 *)(r2 + 20)\n exit\nout:\n r0 = 1\n exit\n");
  const auto r = run_equiv({bad, "--safety"});
  CHECK(r.status == 1);
  CHECK(r.out.find("unsafe") != std::string::npos);
  CHECK(r.out.find("insn 5: packet access out of bounds") != std::string::npos);

  const std::string progs = env("TRISTATE_PROGS_DIR");
  REQUIRE_FALSE(progs.empty());
  const auto ok = run_equiv({progs + "/xdp_firewall.v3.o", "--safety", "--json"});
  CHECK(ok.status == 0);
  const auto parsed = nlohmann::json::parse(ok.out);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["verdict"] == "safe");
}
