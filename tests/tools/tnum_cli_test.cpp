// `tristate tnum prove` and `tnum optimal` end to end: a proof that holds exits 0 and says "sound"
// ("optimal"), the test-only broken add (lossy and) exits 1 with its counterexample, bad input
// exits 2.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace tristate::test;

namespace {

ProcessResult run_tnum(std::vector<std::string> args) {
  const std::string bin = env("TRISTATE_BIN");
  REQUIRE_FALSE(bin.empty());
  args.insert(args.begin(), {bin, "tnum"});
  return run_process(args);
}

}  // namespace

TEST_CASE("tnum prove add is sound", "[tnum][z3][cli]") {
  const auto r = run_tnum({"prove", "add"});
  CHECK(r.status == 0);
  CHECK(r.out.find("add at 64 bits: sound") != std::string::npos);
  const auto j = run_tnum({"prove", "xor", "--width", "16", "--json"});
  CHECK(j.status == 0);
  const auto parsed = nlohmann::json::parse(j.out);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["verdict"] == "sound");
  CHECK(parsed[0]["width"] == 16);
}

TEST_CASE("tnum prove mul at 64 bits goes by lemmas, and refuses it for a variant without them", "[tnum][z3][cli]") {
  const auto r = run_tnum({"prove", "mul", "--mul", "kernel618", "--json"});
  CHECK(r.status == 0);
  const auto parsed = nlohmann::json::parse(r.out);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["method"] == "lemmas");
  CHECK(parsed[0]["verdict"] == "sound");
  CHECK(parsed[0]["mul"] == "kernel618");
  REQUIRE(parsed[0]["lemmas"].size() == 1);
  CHECK(parsed[0]["lemmas"][0]["verdict"] == "proved");
  const auto text = run_tnum({"prove", "mul", "--mul", "tristate", "--width", "4"});
  CHECK(text.status == 0);
  CHECK(text.out.find("mul (tristate) at 4 bits by unrolled parts: sound") != std::string::npos);
  CHECK(text.out.find("known-first product") != std::string::npos);
}

TEST_CASE("tnum prove finds the broken add's counterexample", "[tnum][z3][cli]") {
  const auto r = run_tnum({"prove", "broken-add"});
  CHECK(r.status == 1);
  CHECK(r.out.find("counterexample") != std::string::npos);
  CHECK(r.out.find("P = (0x") != std::string::npos);
}

TEST_CASE("tnum prove rejects bad input with exit status 2", "[tnum][z3][cli]") {
  const auto op = run_tnum({"prove", "div"});
  CHECK(op.status == 2);
  CHECK(op.err.find("unknown tnum operator 'div'") != std::string::npos);
  const auto variant = run_tnum({"prove", "mul", "--mul", "bogus"});
  CHECK(variant.status == 2);
  CHECK(variant.err.find("bogus") != std::string::npos);
  const auto width = run_tnum({"prove", "bswap64", "--width", "32"});
  CHECK(width.status == 2);
}

TEST_CASE("tnum optimal proves and optimal and refutes the lossy and", "[tnum][z3][cli]") {
  const auto r = run_tnum({"optimal", "and"});
  CHECK(r.status == 0);
  CHECK(r.out.find("and at 64 bits: optimal (") != std::string::npos);
  const auto lossy = run_tnum({"optimal", "lossy-and", "--width", "16", "--json"});
  CHECK(lossy.status == 1);
  const auto parsed = nlohmann::json::parse(lossy.out);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["verdict"] == "counterexample");
  CHECK(parsed[0]["counterexample"]["bit"] == 0);
  const auto bad = run_tnum({"optimal", "mul"});
  CHECK(bad.status == 2);
  CHECK(bad.err.find("unknown tnum operator 'mul'") != std::string::npos);
}
