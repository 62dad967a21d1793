// `tristate opt` end to end on corpus objects: a shorter object that passes every gate and the
// program's functional tests in the kernel, the same bytes for the same seed (in separate
// processes), and bad input refused with exit status 2 without writing anything.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/kernel.hpp"
#include "tests/support/process.hpp"
#include "verifier/kernel_oracle.hpp"

using namespace tristate::test;
using nlohmann::json;

namespace {

ProcessResult tristate_cli(std::vector<std::string> args) {
  const std::string bin = env("TRISTATE_BIN");
  REQUIRE_FALSE(bin.empty());
  args.insert(args.begin(), bin);
  return run_process(args);
}

std::string corpus(const std::string& name) { return env("TRISTATE_PROGS_DIR") + "/" + name; }

}  // namespace

TEST_CASE("opt: a shorter xdp_drop_proto that passes the gates and its functional tests", "[opt][cli]") {
  TempDir dir;
  const std::string out = dir.file("xdp_drop_proto.opt.o");  // NAME.* finds xdp_drop_proto.tests.json
  const auto r = tristate_cli({"opt", corpus("xdp_drop_proto.v3.o"), "-o", out, "--budget", "20", "--seed", "1", "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  REQUIRE(j["programs"].size() == 1);
  const json& p = j["programs"][0];
  INFO(p.dump(2));
  CHECK(p["optimized"] == true);
  CHECK(p["insns_after"].get<int>() < p["insns_before"].get<int>());
  CHECK(p["gates"]["z3"].get<std::string>().rfind("passed", 0) == 0);
  CHECK(p["gates"]["analyzer"] == "passed");
  for (const char* key : {"time_to_best_s", "total_s", "z3_queries", "cache_hits"}) CHECK(p.contains(key));
  CHECK(j["tests"].get<std::string>().find("xdp_drop_proto.tests.json") != std::string::npos);

  std::string why;
  if (!kernel_test_may_run(tristate::kernel_bpf_available(&why), why, "opt's kernel gate and the kernel functional tests"))
    return;
  CHECK(p["gates"]["kernel"] == "passed");
  CHECK(p["kernel_packets"].get<int>() == 1000);
  const auto t = tristate_cli({"test", out, "--kernel"});
  INFO(t.out << t.err);
  CHECK(t.status == 0);
  CHECK(t.out.find("kernel: ") != std::string::npos);
}

TEST_CASE("opt: repeated tails merged in xdp_firewall (map loads dropped with them), every gate passed", "[opt][cli]") {
  TempDir dir;
  const std::string out = dir.file("xdp_firewall.opt.o");
  const auto r = tristate_cli({"opt", corpus("xdp_firewall.v3.o"), "-o", out, "--budget", "2", "--seed", "1", "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  const json& p = j["programs"][0];
  INFO(p.dump(2));
  CHECK(p["optimized"] == true);
  CHECK(p["tail_merges"].get<int>() >= 3);
  // Each tail it merges is at least 7 slots long.
  CHECK(p["insns_after"].get<int>() <= p["insns_before"].get<int>() - 3 * 6);
  CHECK(p["gates"]["z3"].get<std::string>().find("tail merges proved by simulation") != std::string::npos);
  CHECK(p["gates"]["analyzer"] == "passed");

  std::string why;
  if (!kernel_test_may_run(tristate::kernel_bpf_available(&why), why, "opt's kernel gate and the kernel functional tests"))
    return;
  CHECK(p["gates"]["kernel"] == "passed");
  const auto t = tristate_cli({"test", out, "--kernel"});
  INFO(t.out << t.err);
  CHECK(t.status == 0);
  CHECK(t.out.find("kernel: ") != std::string::npos);
}

TEST_CASE("opt: the same seed gives the same object", "[opt][cli]") {
  TempDir dir;
  const std::string a = dir.file("a.o"), b = dir.file("b.o");
  for (const std::string& out : {a, b}) {
    const auto r = tristate_cli({"opt", corpus("xdp_icmp_echo.v3.o"), "-o", out, "--budget", "10", "--seed", "7", "--json"});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(json::parse(r.out)["programs"][0]["budget_exhausted"] == false);  // otherwise timing decides
  }
  CHECK(read_file(a) == read_file(b));
}

TEST_CASE("opt: bad input is refused with exit status 2 and nothing is written", "[opt][cli]") {
  TempDir dir;
  const std::string whole = read_file(corpus("xdp_drop_proto.v3.o"));
  const std::string truncated = dir.write("truncated.o", whole.substr(0, whole.size() / 3));
  const std::string out = dir.file("out.o");

  const auto t = tristate_cli({"opt", truncated, "-o", out});
  CHECK(t.status == 2);
  CHECK(t.err.find("truncated.o") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));

  const std::string input = dir.write("in.o", whole);
  const auto same = tristate_cli({"opt", input, "-o", input});
  CHECK(same.status == 2);
  CHECK(same.err.find("overwrite the input") != std::string::npos);
  CHECK(read_file(input) == whole);

  const auto prog = tristate_cli({"opt", input, "-o", out, "--prog", "no_such_program"});
  CHECK(prog.status == 2);
  CHECK_FALSE(std::filesystem::exists(out));

  const std::string source = dir.write("x.c", std::string("int x;\n"));
  const auto c = tristate_cli({"opt", source, "-o", out});
  CHECK(c.status == 2);
  CHECK(c.err.find("ELF object") != std::string::npos);
}

TEST_CASE("compile -O compiles, then optimizes the object", "[opt][cli]") {
  TempDir dir;
  const std::string out = dir.file("xdp_drop_proto.o");
  const auto r = tristate_cli({"compile", env("TRISTATE_SOURCE_DIR") + "/benchmarks/progs/xdp_drop_proto.c", "-o", out,
                               "--cpu", "v3", "-O", "--budget", "10", "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  CHECK(j["programs"][0]["insns_after"].get<int>() <= j["programs"][0]["insns_before"].get<int>());
  CHECK(std::filesystem::exists(out));
  const auto help = tristate_cli({"--help"});
  CHECK(help.out.find("  opt ") != std::string::npos);
}
