#include "compiler/interpreter.hpp"

#include <catch2/catch.hpp>

#include "compiler/asm.hpp"

using namespace tristate;

namespace {

RunResult run_text(const char* text, const RunLimits& limits = {}) {
  return Interpreter(assemble(text)).run(0, limits);
}

}  // namespace

TEST_CASE("a loop computes 10! and counts the instructions it ran", "[interpreter]") {
  auto r = run_text(R"(
    r0 = 1
    r1 = 10
  loop:
    r0 *= r1
    r1 -= 1
    if r1 != 0 goto loop
    exit
  )");
  REQUIRE_FALSE(r.fault);
  CHECK(r.r0 == 3628800);
  CHECK(r.executed == 2 + 10 * 3 + 1);
}

TEST_CASE("stack stores, loads, sign-extending loads, spills and atomics", "[interpreter]") {
  auto r = run_text(R"(
    r1 = 0x80
    *(u8 *)(r10 - 1) = r1
    r2 = *(s8 *)(r10 - 1)
    *(u64 *)(r10 - 16) = 5
    r3 = 7
    lock *(u64 *)(r10 - 16) += r3
    r4 = *(u64 *)(r10 - 16)
    r5 = r10
    *(u64 *)(r10 - 24) = r5
    r6 = *(u64 *)(r10 - 24)
    r7 = *(u32 *)(r6 - 16)
    r0 = r2
    r0 += r4
    r0 += r7
    exit
  )");
  INFO((r.fault ? r.fault->reason : ""));
  REQUIRE_FALSE(r.fault);
  CHECK(r.r0 == uint64_t(-128) + 12 + 12);
}

TEST_CASE("cmpxchg and fetch forms return the old value", "[interpreter]") {
  auto r = run_text(R"(
    *(u64 *)(r10 - 8) = 3
    r0 = 3
    r1 = 9
    r0 = cmpxchg_64(r10 - 0x8, r0, r1)
    r2 = 1
    r2 = atomic_fetch_add((u64 *)(r10 - 0x8), r2)
    r3 = *(u64 *)(r10 - 8)
    r0 <<= 16
    r0 |= r2
    r0 <<= 16
    r0 |= r3
    exit
  )");
  INFO((r.fault ? r.fault->reason : ""));
  REQUIRE_FALSE(r.fault);
  CHECK(r.r0 == ((3ull << 32) | (9ull << 16) | 10));
}

TEST_CASE("faults name the instruction and the reason", "[interpreter]") {
  auto uninit = run_text("r0 = r2\nexit\n");
  REQUIRE(uninit.fault);
  CHECK(uninit.fault->insn == 0);
  CHECK(uninit.fault->reason == "R2 !read_ok");

  auto no_r0 = run_text("r1 = 1\nexit\n");
  REQUIRE(no_r0.fault);
  CHECK(no_r0.fault->insn == 1);
  CHECK(no_r0.fault->reason == "R0 !read_ok");

  auto oob = run_text("r0 = 0\n*(u64 *)(r10 - 520) = r0\nexit\n");
  REQUIRE(oob.fault);
  CHECK(oob.fault->insn == 1);
  CHECK(oob.fault->reason == "invalid stack access off=-520 size=8");

  auto above = run_text("r0 = 0\nr0 = *(u8 *)(r10 + 0)\nexit\n");
  REQUIRE(above.fault);
  CHECK(above.fault->reason == "invalid stack access off=0 size=1");

  auto unwritten = run_text("r0 = *(u32 *)(r10 - 8)\nexit\n");
  REQUIRE(unwritten.fault);
  CHECK(unwritten.fault->reason == "invalid read from stack off=-8 size=4");

  auto scalar_deref = run_text("r1 = 4096\nr0 = *(u64 *)(r1 + 0)\nexit\n");
  REQUIRE(scalar_deref.fault);
  CHECK(scalar_deref.fault->reason == "R1 invalid mem access 'scalar'");

  auto ptr_mul = run_text("r1 = r10\nr1 *= 2\nr0 = 0\nexit\n");
  REQUIRE(ptr_mul.fault);
  CHECK(ptr_mul.fault->insn == 1);

  auto forever = run_text("r0 = 0\nloop:\ngoto loop\nexit\n", RunLimits{1000});
  REQUIRE(forever.fault);
  CHECK(forever.fault->reason == "instruction limit of 1000 reached");
  CHECK(forever.executed == 1000);
}

TEST_CASE("32-bit ALU results are zero-extended in registers", "[interpreter]") {
  auto r = run_text(R"(
    r0 = -1
    w0 += 1
    r1 = 0x100000000 ll
    r0 |= r1
    w2 = -1
    r0 += r2
    exit
  )");
  REQUIRE_FALSE(r.fault);
  CHECK(r.r0 == 0x100000000ull + 0xffffffffull);
}

TEST_CASE("a memory block behind r1: read and written in place, bounds checked", "[interpreter]") {
  std::vector<uint8_t> mem = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  Interpreter swap_halves(assemble(R"(
    r3 = *(u32 *)(r1 + 0)
    r4 = *(u32 *)(r1 + 4)
    *(u32 *)(r1 + 0) = r4
    *(u32 *)(r1 + 4) = r3
    r0 = *(u64 *)(r1 + 0)
    r0 += r2
    exit
  )"));
  auto r = swap_halves.run(std::span<uint8_t>(mem));
  INFO((r.fault ? r.fault->reason : ""));
  REQUIRE_FALSE(r.fault);
  CHECK(r.r0 == 0x4433221188776655ull + 8);  // r2 holds the block's size
  CHECK(mem == std::vector<uint8_t>{0x55, 0x66, 0x77, 0x88, 0x11, 0x22, 0x33, 0x44});

  auto past_end = Interpreter(assemble("r0 = *(u32 *)(r1 + 6)\nexit\n")).run(std::span<uint8_t>(mem));
  REQUIRE(past_end.fault);
  CHECK(past_end.fault->reason == "invalid access to memory, off=6 size=4 (the block has 8 bytes)");

  auto moved = Interpreter(assemble("r1 += 4\nr0 = *(u32 *)(r1 - 4)\nexit\n")).run(std::span<uint8_t>(mem));
  REQUIRE_FALSE(moved.fault);
  CHECK(moved.r0 == 0x88776655);

  auto leak = Interpreter(assemble("r2 = r10\n*(u64 *)(r1 + 0) = r2\nr0 = 0\nexit\n")).run(std::span<uint8_t>(mem));
  REQUIRE(leak.fault);
  CHECK(leak.fault->insn == 1);
  CHECK(leak.fault->reason == "R2 leaks addr into mem");
}
