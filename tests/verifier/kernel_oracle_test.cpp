// The real-kernel oracle against the running kernel. On the project's machines (root, Linux 6.18)
// bpf() must work, so an unavailable bpf() fails every test unless TRISTATE_ALLOW_NO_BPF=1.
#include "verifier/kernel_oracle.hpp"

#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "compiler/error.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/process.hpp"

using namespace tristate;

namespace {

bool bpf_or_skip() {
  std::string why;
  const bool available = kernel_bpf_available(&why);
  return test::kernel_test_may_run(available, why, "the kernel oracle test");
}

#define REQUIRE_BPF()            \
  do {                           \
    if (!bpf_or_skip()) return;  \
  } while (0)

// Instructions spelled out with make_insn, so these tests depend on nothing but the raw layout.
constexpr Insn mov64_k(uint8_t dst, int32_t imm) { return make_insn(bpf::ALU64 | bpf::MOV | bpf::K, dst, 0, 0, imm); }
constexpr Insn mov64_x(uint8_t dst, uint8_t src) { return make_insn(bpf::ALU64 | bpf::MOV | bpf::X, dst, src, 0, 0); }
constexpr Insn add64_k(uint8_t dst, int32_t imm) { return make_insn(bpf::ALU64 | bpf::ADD | bpf::K, dst, 0, 0, imm); }
constexpr Insn exit_insn() { return make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0); }

const std::vector<Insn> kReturn42 = {mov64_k(0, 42), exit_insn()};

std::vector<uint8_t> pattern_packet(std::size_t size) {
  std::vector<uint8_t> p(size);
  std::iota(p.begin(), p.end(), uint8_t(0x10));
  return p;
}

// What /proc says file descriptor `fd` of this process is, or nothing when it is closed.
std::optional<std::string> fd_target(int fd) {
  char buf[256];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, std::size_t(n));
}

// The message of the InputError that loading `insns` throws.
std::string refusal(const std::vector<Insn>& insns, uint32_t prog_type, const std::string& name = "refused") {
  try {
    KernelProgram::load(insns, prog_type, name);
  } catch (const InputError& e) {
    CHECK(e.where().prog == name);
    return e.what();
  }
  FAIL("the kernel accepted a program it should refuse");
  return {};
}

}  // namespace

TEST_CASE("the probe finds bpf() usable and clears the reason", "[kernel_oracle]") {
  REQUIRE_BPF();
  std::string why = "stale";
  CHECK(kernel_bpf_available(&why));
  CHECK(why.empty());
  CHECK(kernel_bpf_available());  // the cached answer
}

TEST_CASE("r0 = 42; exit returns 42 as a socket filter and as XDP", "[kernel_oracle]") {
  REQUIRE_BPF();
  const std::vector<uint8_t> packet = pattern_packet(64);
  SECTION("XDP") {
    const KernelProgram prog = KernelProgram::load(kReturn42, BPF_PROG_TYPE_XDP, "ret42");
    CHECK(prog.fd() >= 0);
    const KernelRun run = prog.run(packet);
    CHECK(run.retval == 42);
    CHECK(run.packet_out == packet);  // untouched, and at its own length
  }
  SECTION("socket filter") {
    const KernelProgram prog = KernelProgram::load(kReturn42, BPF_PROG_TYPE_SOCKET_FILTER, "ret42");
    CHECK(prog.fd() >= 0);
    const KernelRun run = prog.run(packet);
    CHECK(run.retval == 42);
    // Socket filters are not L2 programs: the kernel hands back the Ethernet header zeroed.
    std::vector<uint8_t> expected = packet;
    std::fill(expected.begin(), expected.begin() + 14, uint8_t(0));
    CHECK(run.packet_out == expected);
  }
}

TEST_CASE("a socket filter's packet starts after the Ethernet header", "[kernel_oracle]") {
  REQUIRE_BPF();
  // r6 = r1; r0 = *(u8 *)skb[0]; exit. LD_ABS offsets count from skb->data, which the kernel has
  // moved past the 14-byte Ethernet header (eth_type_trans) before the program runs.
  const std::vector<Insn> insns = {
      mov64_x(6, 1),
      make_insn(bpf::LD | bpf::ABS | bpf::B, 0, 0, 0, 0),
      exit_insn(),
  };
  const KernelProgram prog = KernelProgram::load(insns, BPF_PROG_TYPE_SOCKET_FILTER, "ld_abs");
  const std::vector<uint8_t> packet = pattern_packet(64);
  CHECK(prog.run(packet).retval == packet[14]);
}

TEST_CASE("a 64-bit computation comes back truncated to 32 bits", "[kernel_oracle]") {
  REQUIRE_BPF();
  // r0 = 0x1234567800000000 ll; r0 >>= 16; exit: the shift moves high bits into the low half,
  // which is all BPF_PROG_TEST_RUN reports (0x0000123456780000 -> 0x56780000).
  const std::vector<Insn> insns = {
      make_insn(bpf::LD | bpf::IMM | bpf::DW, 0, 0, 0, 0),
      make_insn(0, 0, 0, 0, 0x12345678),
      make_insn(bpf::ALU64 | bpf::RSH | bpf::K, 0, 0, 0, 16),
      exit_insn(),
  };
  const KernelProgram prog = KernelProgram::load(insns, BPF_PROG_TYPE_SOCKET_FILTER, "trunc");
  CHECK(prog.run(pattern_packet(32)).retval == 0x56780000u);
}

TEST_CASE("an XDP program that writes a packet byte shows it in packet_out", "[kernel_oracle]") {
  REQUIRE_BPF();
  const std::vector<Insn> insns = {
      make_insn(bpf::LDX | bpf::MEM | bpf::W, 2, 1, offsetof(xdp_md, data), 0),      // r2 = data
      make_insn(bpf::LDX | bpf::MEM | bpf::W, 3, 1, offsetof(xdp_md, data_end), 0),  // r3 = data_end
      mov64_x(4, 2),                                                                 // r4 = r2
      add64_k(4, 21),                                                                // r4 += 21
      mov64_k(0, XDP_DROP),                                                          // when too short
      make_insn(bpf::JMP | bpf::JGT | bpf::X, 4, 3, 2, 0),                           // if r4 > r3 goto +2
      make_insn(bpf::ST | bpf::MEM | bpf::B, 2, 0, 20, 0xab),                        // *(u8 *)(r2 + 20) = 0xab
      mov64_k(0, XDP_PASS),
      exit_insn(),
  };
  const KernelProgram prog = KernelProgram::load(insns, BPF_PROG_TYPE_XDP, "write_byte");

  const std::vector<uint8_t> packet = pattern_packet(64);
  std::vector<uint8_t> expected = packet;
  expected[20] = 0xab;
  const KernelRun run = prog.run(packet);
  CHECK(run.retval == XDP_PASS);
  CHECK(run.packet_out == expected);

  // Too short for byte 20: the bounds check sends it to XDP_DROP, unchanged.
  const std::vector<uint8_t> short_packet = pattern_packet(20);
  const KernelRun short_run = prog.run(short_packet);
  CHECK(short_run.retval == XDP_DROP);
  CHECK(short_run.packet_out == short_packet);
}

TEST_CASE("an XDP program that grows the packet past the slack gets all of it back", "[kernel_oracle]") {
  REQUIRE_BPF();
  // bpf_xdp_adjust_tail(ctx, 1000) needs more data_out than the first attempt gives.
  const std::vector<Insn> insns = {
      make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 2, 0, 0, 1000),
      make_insn(bpf::JMP | bpf::CALL, 0, 0, 0, BPF_FUNC_xdp_adjust_tail),
      mov64_k(0, XDP_PASS),
      exit_insn(),
  };
  const KernelProgram prog = KernelProgram::load(insns, BPF_PROG_TYPE_XDP, "grow");
  const std::vector<uint8_t> packet = pattern_packet(64);
  const KernelRun run = prog.run(packet);
  CHECK(run.retval == XDP_PASS);
  REQUIRE(run.packet_out.size() == packet.size() + 1000);
  CHECK(std::equal(packet.begin(), packet.end(), run.packet_out.begin()));
}

TEST_CASE("programs the verifier refuses throw InputError with the kernel's words", "[kernel_oracle]") {
  REQUIRE_BPF();
  SECTION("read of an uninitialised register") {
    const std::string msg = refusal({mov64_x(0, 2), exit_insn()}, BPF_PROG_TYPE_SOCKET_FILTER);
    CHECK_THAT(msg, Catch::Contains("R2 !read_ok"));
    CHECK_THAT(msg, Catch::Contains("EACCES"));
  }
  SECTION("an infinite loop") {
    // No exit after the jump, or the kernel refuses it earlier as "unreachable insn 2".
    const std::vector<Insn> loop = {mov64_k(0, 0), make_insn(bpf::JMP | bpf::JA, 0, 0, -1, 0)};
    CHECK_THAT(refusal(loop, BPF_PROG_TYPE_XDP), Catch::Contains("infinite loop detected"));
  }
  SECTION("a program type the kernel does not know") {
    const std::string msg = refusal(kReturn42, 9999);
    CHECK_THAT(msg, Catch::Contains("EINVAL"));
    CHECK_THAT(msg, Catch::Contains("log is empty"));
  }
}

TEST_CASE("bad arguments are InputErrors before the kernel sees them", "[kernel_oracle]") {
  REQUIRE_BPF();
  CHECK_THROWS_AS(KernelProgram::load({}, BPF_PROG_TYPE_XDP), InputError);
  CHECK_THROWS_WITH(KernelProgram::load(kReturn42, BPF_PROG_TYPE_XDP, "bad-name"),
                    Catch::Contains("only letters, digits"));
}

TEST_CASE("run errors name the errno", "[kernel_oracle]") {
  REQUIRE_BPF();
  SECTION("an XDP packet shorter than ETH_HLEN") {
    const KernelProgram prog = KernelProgram::load(kReturn42, BPF_PROG_TYPE_XDP);
    CHECK_THROWS_WITH(prog.run(pattern_packet(5)),
                      Catch::Contains("EINVAL") && Catch::Contains("at least 14 bytes"));
  }
  SECTION("a program type without test runs") {
    const KernelProgram prog = KernelProgram::load(kReturn42, BPF_PROG_TYPE_KPROBE);
    CHECK_THROWS_WITH(prog.run(pattern_packet(64)), Catch::Contains("ENOTSUPP"));
  }
}

TEST_CASE("the program's fd is closed on destruction and moves with the program", "[kernel_oracle]") {
  REQUIRE_BPF();
  int fd = -1;
  {
    KernelProgram prog = KernelProgram::load(kReturn42, BPF_PROG_TYPE_XDP);
    fd = prog.fd();
    REQUIRE(fd >= 0);
    CHECK(fd_target(fd) == std::optional<std::string>("anon_inode:bpf-prog"));

    KernelProgram moved = std::move(prog);
    CHECK(prog.fd() == -1);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    CHECK(moved.fd() == fd);
    CHECK(fd_target(fd).has_value());  // the moved-from program's destructor must not close it
    CHECK(moved.run(pattern_packet(14)).retval == 42);

    // Move assignment closes the program it replaces.
    KernelProgram other = KernelProgram::load(kReturn42, BPF_PROG_TYPE_XDP);
    const int other_fd = other.fd();
    other = std::move(moved);
    CHECK(other.fd() == fd);
    CHECK_FALSE(fd_target(other_fd).has_value());
  }
  CHECK_FALSE(fd_target(fd).has_value());
}

TEST_CASE("repeat runs the program that many times on the same packet", "[kernel_oracle]") {
  REQUIRE_BPF();
  // Increments packet byte 0. The kernel keeps the packet between repetitions, so the byte counts
  // the runs.
  const std::vector<Insn> insns = {
      make_insn(bpf::LDX | bpf::MEM | bpf::W, 2, 1, offsetof(xdp_md, data), 0),      // r2 = data
      make_insn(bpf::LDX | bpf::MEM | bpf::W, 3, 1, offsetof(xdp_md, data_end), 0),  // r3 = data_end
      mov64_x(4, 2),
      add64_k(4, 1),
      mov64_k(0, XDP_PASS),
      make_insn(bpf::JMP | bpf::JGT | bpf::X, 4, 3, 3, 0),    // if r4 > r3 goto +3
      make_insn(bpf::LDX | bpf::MEM | bpf::B, 5, 2, 0, 0),    // r5 = *(u8 *)(r2 + 0)
      add64_k(5, 1),                                          // r5 += 1
      make_insn(bpf::STX | bpf::MEM | bpf::B, 2, 5, 0, 0),    // *(u8 *)(r2 + 0) = r5
      exit_insn(),
  };
  const KernelProgram prog = KernelProgram::load(insns, BPF_PROG_TYPE_XDP, "count");
  std::vector<uint8_t> packet = pattern_packet(32);
  packet[0] = 0;

  const KernelRun once = prog.run(packet);
  CHECK(once.retval == XDP_PASS);
  CHECK(once.packet_out[0] == 1);

  const KernelRun many = prog.run(packet, 100);
  CHECK(many.retval == XDP_PASS);
  REQUIRE(many.packet_out.size() == packet.size());
  CHECK(many.packet_out[0] == 100);
  CHECK(std::equal(packet.begin() + 1, packet.end(), many.packet_out.begin() + 1));
}
