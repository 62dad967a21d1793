// The JIT against the interpreter: every XDP program of the corpus (clang -O1, -O2, -O3, cpu v3
// and v4), its maps seeded as its tests seed them, run on the same 300 generated packets by both
// engines: same verdict, same output packet, same redirect, same maps afterwards. Plus the shared
// semantics' corner cases (division by zero, INT_MIN / -1, shifts, byte swaps) on hand-written
// programs, and what the JIT refuses.
#include "datapath/jit.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <vector>

#include "compiler/asm_module.hpp"
#include "compiler/error.hpp"
#include "compiler/frontend.hpp"
#include "compiler/packet_gen.hpp"
#include "datapath/stage.hpp"
#include "tests/support/corpus.hpp"

using namespace tristate;
using namespace tristate::datapath;
using Bytes = std::vector<uint8_t>;

namespace {

struct Run {
  XdpAction action;
  Bytes output;
  std::optional<Redirect> redirect;
  std::optional<std::string> fault;
};

Run run_on(PacketProgram& p, const Bytes& packet) {
  Bytes frame(4096, 0);
  std::copy(packet.begin(), packet.end(), frame.begin() + 256);
  Buffer b{.region = 1, .length = 4096, .valid_offset = 256, .valid_length = static_cast<uint32_t>(packet.size())};
  PacketProgram::Outcome o = p.run(frame, b);
  Bytes out(frame.begin() + b.valid_offset, frame.begin() + b.valid_offset + b.valid_length);
  return {o.action, o.fault ? Bytes{} : out, o.redirect, o.fault};
}

bool same_redirect(const std::optional<Redirect>& a, const std::optional<Redirect>& b) {
  if (!a || !b) return !a && !b;
  return a->ifindex == b->ifindex && a->map == b->map && a->key == b->key && a->flags == b->flags;
}

std::vector<std::filesystem::path> xdp_objects() {
  std::vector<std::filesystem::path> out;
  const std::filesystem::path dir = test::env("TRISTATE_PROGS_DIR");
  for (const char* sub : {"", "O1", "O3"}) {
    if (!std::filesystem::exists(dir / sub)) continue;
    for (const auto& e : std::filesystem::directory_iterator(dir / sub))
      if (e.path().extension() == ".o" && e.path().filename().string().rfind("xdp_", 0) == 0) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t run_asm(const std::string& body, Engine engine) {
  Module m = assemble_module("; type: xdp\n" + body, "t.s");
  PacketProgram p(m, {}, engine);
  Bytes frame(4096, 0);
  Buffer b{.region = 1, .length = 4096, .valid_offset = 256, .valid_length = 64};
  // These programs return 1 or 2, which the stage reports as the action.
  PacketProgram::Outcome o = p.run(frame, b);
  return static_cast<uint64_t>(o.action);
}

}  // namespace

TEST_CASE("the JIT agrees with the interpreter on every corpus XDP program", "[jit]") {
  const std::vector<Bytes> packets = generate_packets(300, 20261207);
  std::size_t programs = 0, runs = 0;
  for (const auto& object : xdp_objects()) {
    Module m = load_input(object.string(), {});
    for (const Program& prog : m.programs) {
      if (prog.prog_type != 6 /* BPF_PROG_TYPE_XDP */) continue;
      INFO(object.string() << " " << prog.name());
      PacketProgram interp(m, prog.name(), Engine::Interpreter);
      PacketProgram jit(m, prog.name(), Engine::Jit);
      const nlohmann::json seeds = test::corpus_seeds(object);
      std::vector<std::string> names;
      for (const Program& q : m.programs) names.push_back(q.name());
      interp.maps().seed_json(seeds, names, {object.string()});
      jit.maps().seed_json(seeds, names, {object.string()});
      for (std::size_t i = 0; i < packets.size(); ++i) {
        Run a = run_on(interp, packets[i]), b = run_on(jit, packets[i]);
        INFO("packet " << i << ": " << describe(packets[i]) << (a.fault ? " (interpreter: " + *a.fault + ")" : ""));
        REQUIRE(static_cast<int>(a.action) == static_cast<int>(b.action));
        REQUIRE(a.output == b.output);
        REQUIRE(same_redirect(a.redirect, b.redirect));
        REQUIRE(a.fault.has_value() == b.fault.has_value());
        ++runs;
      }
      CHECK(interp.maps().dump() == jit.maps().dump());
      ++programs;
    }
  }
  CHECK(programs >= 40);  // 20-odd XDP programs at three levels and two cpu versions
  WARN("JIT differential: compared " << programs << " XDP programs on " << runs << " packet runs with the interpreter, 0 mismatches");
}

TEST_CASE("the JIT keeps the semantics' corner cases", "[jit]") {
  // Each program returns 2 (pass) when its check holds and 1 (drop) when not.
  auto both = [](const std::string& body) {
    uint64_t i = run_asm(body, Engine::Interpreter), j = run_asm(body, Engine::Jit);
    CHECK(i == j);
    return j;
  };
  // Division by zero gives 0, modulo by zero leaves dst.
  CHECK(both("    r1 = 7\n    r2 = 0\n    r1 /= r2\n    r0 = 1\n    if r1 != 0 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  CHECK(both("    r1 = 7\n    r2 = 0\n    r1 %= r2\n    r0 = 1\n    if r1 != 7 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  // 32-bit division by zero, on a dst with high bits: 0, zero-extended.
  CHECK(both("    r1 = -1\n    w2 = 0\n    w1 /= w2\n    r0 = 1\n    if r1 != 0 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  // Signed division INT64_MIN / -1 wraps to INT64_MIN; by zero gives 0 (cpu v4 sdiv).
  CHECK(both("    r1 = 0x8000000000000000 ll\n    r3 = r1\n    r2 = -1\n    r1 s/= r2\n    r0 = 1\n    if r1 != r3 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  CHECK(both("    r1 = -9\n    r2 = 0\n    r1 s/= r2\n    r0 = 1\n    if r1 != 0 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  CHECK(both("    r1 = -9\n    r2 = -1\n    r1 s%= r2\n    r0 = 1\n    if r1 != 0 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  // Shift amounts are masked to the width: 1 << 65 is 2 on 64 bits, 1 << 33 is 2 on 32.
  CHECK(both("    r1 = 1\n    r2 = 65\n    r1 <<= r2\n    r0 = 1\n    if r1 != 2 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  CHECK(both("    w1 = 1\n    w2 = 33\n    w1 <<= w2\n    r0 = 1\n    if r1 != 2 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  // Byte swaps truncate: be16 of 0x11223344 is 0x4433.
  CHECK(both("    r1 = 0x11223344\n    r1 = be16 r1\n    r0 = 1\n    if r1 != 0x4433 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
  // Arithmetic shift of a 32-bit value sign-extends within 32 bits, then zero-extends.
  CHECK(both("    w1 = -16\n    w1 s>>= 2\n    r0 = 1\n    r2 = r1\n    r2 >>= 32\n    if r2 != 0 goto out\n    if w1 != -4 goto out\n    r0 = 2\nout:\n    exit\n") == 2);
}

TEST_CASE("stack bytes a program never wrote read as zero in the JIT, never as undefined", "[jit]") {
  // The analyzer (as the kernel for root) lets a program read stack it did not write; the JIT
  // zeroes each frame so such a read is a fixed value. 4 bytes written, 8 read back.
  Module m = assemble_module(
      "; type: xdp\n    r1 = 1\n    *(u32 *)(r10 - 8) = r1\n    r2 = *(u64 *)(r10 - 8)\n    r0 = 1\n"
      "    if r2 != 1 goto out\n    r0 = 2\nout:\n    exit\n",
      "pad.s");
  PacketProgram p(m, {}, Engine::Jit);
  Bytes frame(4096, 0);
  Buffer b{.region = 1, .length = 4096, .valid_offset = 256, .valid_length = 64};
  CHECK(p.run(frame, b).action == XdpAction::Pass);
}

TEST_CASE("the JIT refuses what it does not compile, naming the instruction", "[jit]") {
  Module m = assemble_module("; type: xdp\n    r0 = 2\n    call 7\n    r0 = 2\n    exit\n", "prandom.s");  // bpf_get_prandom_u32
  try {
    PacketProgram p(m, {}, Engine::Jit);
    FAIL("compiled a helper it does not support");
  } catch (const InputError& e) {
    CHECK(e.where().insn == 1u);
    CHECK_THAT(e.reason(), Catch::Contains("get_prandom_u32") && Catch::Contains("interpreter"));
  }
  // The interpreter runs it.
  CHECK_NOTHROW(PacketProgram(m, {}, Engine::Interpreter));
}
