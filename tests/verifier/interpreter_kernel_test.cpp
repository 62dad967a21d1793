// The interpreter against the running kernel (BPF_PROG_TEST_RUN) on generated programs over every
// ALU, byte-swap, jump, stack and atomic opcode. Each program runs twice in the kernel: as is, and
// with `r0 >>= 32` before its exit, because test runs report only the low 32 bits of r0.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>

#include "compiler/disasm.hpp"
#include "compiler/interpreter.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/process.hpp"
#include "tests/support/random_program.hpp"
#include "verifier/kernel_oracle.hpp"

using namespace tristate;

namespace {

constexpr uint32_t kSocketFilter = 1;  // BPF_PROG_TYPE_SOCKET_FILTER

bool require_bpf() {
  std::string why;
  const bool available = kernel_bpf_available(&why);
  return test::kernel_test_may_run(available, why, "the interpreter/kernel differential test");
}

}  // namespace

TEST_CASE("the interpreter agrees with the kernel on generated programs", "[kernel][differential]") {
  if (!require_bpf()) return;
  const std::string count_env = test::env("TRISTATE_DIFF_PROGRAMS");
  const int programs = count_env.empty() ? 5000 : std::atoi(count_env.c_str());
  const uint64_t seed = 20261123;
  test::RandomProgramGenerator gen(seed);
  const std::vector<uint8_t> packet(64, 0);  // socket filters need at least an Ethernet header

  int compared = 0, mismatches = 0;
  for (int i = 0; i < programs; ++i) {
    const std::vector<Insn> lo = gen.next();
    // The same program with the high half of r0 moved down, inserted at the exit so that jumps
    // to the exit now land on the shift.
    std::vector<Insn> hi = lo;
    hi.insert(hi.end() - 1, encode(Alu{true, AluOp::Rsh, 0, Operand::k(32)}).insn[0]);

    const RunResult r = Interpreter(lo).run();
    INFO("seed " << seed << ", program " << i << ":\n" << format_listing(lo));
    REQUIRE_FALSE(r.fault.has_value());
    const uint32_t kernel_lo = KernelProgram::load(lo, kSocketFilter).run(packet).retval;
    const uint32_t kernel_hi = KernelProgram::load(hi, kSocketFilter).run(packet).retval;
    const bool same = kernel_lo == uint32_t(r.r0) && kernel_hi == uint32_t(r.r0 >> 32);
    INFO("interpreter r0 = 0x" << std::hex << r.r0 << ", kernel r0 = 0x" << kernel_hi << ":" << kernel_lo);
    CHECK(same);
    if (!same) ++mismatches;
    ++compared;
  }
  std::cout << "differential: compared " << compared << " generated programs (" << 2 * compared
            << " kernel runs) with the interpreter, " << mismatches << " mismatches\n";
  CHECK(mismatches == 0);
}
