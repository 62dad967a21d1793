// `tristate check` end to end: accepted (0), refused with the kernel's words naming file, program
// and instruction (2), an unsupported construct (3), --json and --log.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace tristate::test;

namespace {

ProcessResult run_check(std::vector<std::string> args) {
  const std::string bin = env("TRISTATE_BIN");
  REQUIRE_FALSE(bin.empty());
  args.insert(args.begin(), {bin, "check"});
  return run_process(args);
}

// An XDP program reading the first byte after a bounds check of `checked` bytes.
std::string packet_program(int checked, int read_at) {
  return "; type: xdp\n r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 4)\n r4 = r2\n r4 += " + std::to_string(checked) +
         "\n if r4 > r3 goto out\n r0 = *(u8 *)(r2 + " + std::to_string(read_at) + ")\n exit\nout:\n r0 = 0\n exit\n";
}

}  // namespace

TEST_CASE("check: accepted, refused in the kernel's words, unsupported", "[check][cli]") {
  TempDir dir;
  const std::string good = dir.file("good.s"), bad = dir.file("bad.s"), uninit = dir.file("uninit.s"), kfunc = dir.file("k.s");
  write_file(good, packet_program(14, 13));
  write_file(bad, packet_program(14, 14));
  write_file(uninit, "; type: xdp\n r0 = r2\n exit\n");
  write_file(kfunc, "; type: xdp\n call kfunc 0x3039\n r0 = 0\n exit\n");

  const auto ok = run_check({good});
  CHECK(ok.status == 0);
  CHECK(ok.out.find("good: accepted") != std::string::npos);

  const auto refused = run_check({bad});
  CHECK(refused.status == 2);
  CHECK(refused.err.find("bad.s: bad: insn 5: invalid access to packet, off=14 size=1") != std::string::npos);

  const auto r2 = run_check({uninit});
  CHECK(r2.status == 2);
  CHECK(r2.err.find("insn 0: R2 !read_ok") != std::string::npos);

  const auto k = run_check({kfunc});
  CHECK(k.status == 3);
  CHECK(k.err.find("unsupported: kfunc") != std::string::npos);

  const auto j = run_check({bad, "--json"});
  CHECK(j.status == 2);
  const auto parsed = nlohmann::json::parse(j.out);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["accepted"] == false);
  CHECK(parsed[0]["insn"] == 5);

  const auto log = run_check({good, "--log"});
  CHECK(log.status == 0);
  CHECK(log.out.find("0: R1=ctx() R10=fp0") != std::string::npos);
  CHECK(log.out.find("R4=pkt(off=14,r=14)") != std::string::npos);

  CHECK(run_check({dir.file("missing.o")}).status == 2);
}
