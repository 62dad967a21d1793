#include "compiler/asm.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <random>

#include "compiler/disasm.hpp"
#include "compiler/error.hpp"

using namespace tristate;

namespace {

// The message of the InputError that assembling `text` throws.
std::string error_of(std::string_view text) {
  try {
    assemble(text);
  } catch (const InputError& e) {
    return e.what();
  }
  FAIL("no error for: " << text);
  return {};
}

std::string parse_error_of(std::string_view text) {
  try {
    parse_insn(text);
  } catch (const InputError& e) {
    return e.what();
  }
  FAIL("no error for: " << text);
  return {};
}

}  // namespace

TEST_CASE("parse_insn accepts decimal numbers, spacing variants and both register spellings") {
  CHECK(parse_insn("r1 += 7") == Decoded{Alu{true, AluOp::Add, 1, Operand::k(7)}});
  CHECK(parse_insn("  w1  *=  0x3  ") == Decoded{Alu{false, AluOp::Mul, 1, Operand::k(3)}});
  CHECK(parse_insn("w7 s>>= 3") == Decoded{Alu{false, AluOp::Arsh, 7, Operand::k(3)}});
  CHECK(parse_insn("r1 s/= r2") == Decoded{Alu{true, AluOp::SDiv, 1, Operand::r(2)}});
  CHECK(parse_insn("w1 = 0xffffffff") == Decoded{Alu{false, AluOp::Mov, 1, Operand::k(-1)}});
  CHECK(parse_insn("r1 = -2147483648") == Decoded{Alu{true, AluOp::Mov, 1, Operand::k(INT32_MIN)}});
  CHECK(parse_insn("r1 = 0xffffffff ll") == Decoded{LdImm64{1, 0, -1, 0}});
  CHECK(parse_insn("r1 = -1 ll") == Decoded{LdImm64{1, 0, -1, -1}});
  CHECK(parse_insn("r1 = 18446744073709551615 ll") == Decoded{LdImm64{1, 0, -1, -1}});
  CHECK(parse_insn("r0 = *(u32 *)(r10 -8)") == Decoded{Load{Width::W, false, false, 0, 10, -8}});
  CHECK(parse_insn("w0 = *(u32 *)(r10-8)") == Decoded{Load{Width::W, false, false, 0, 10, -8}});
  CHECK(parse_insn("r0 = *(u8 *)(r1)") == Decoded{Load{Width::B, false, false, 0, 1, 0}});
  CHECK(parse_insn("*(u32 *)(r10 - 4) = w1") == Decoded{Store{Width::W, false, 10, -4, Operand::r(1)}});
  CHECK(parse_insn("*(u32 *)(r10 - 4) = 0xffffffff") ==
        Decoded{Store{Width::W, false, 10, -4, Operand::k(-1)}});
  CHECK(parse_insn("goto +5") == Decoded{Ja{5, false}});
  CHECK(parse_insn("goto -5") == Decoded{Ja{-5, false}});
  CHECK(parse_insn("goto 5") == Decoded{Ja{5, false}});
  CHECK(parse_insn("if w1 == 0xffffffff goto +1") == Decoded{Jmp{false, Cond::Eq, 1, Operand::k(-1), 1}});
  CHECK(parse_insn("if r1 s<= r2 goto -1") == Decoded{Jmp{true, Cond::Sle, 1, Operand::r(2), -1}});
  CHECK(parse_insn("lock *(u32 *)(r1 + 0) += r2") ==
        Decoded{Atomic{Width::W, AtomicOp::Add, false, 1, 2, 0}});
  CHECK(parse_insn("r2 = atomic_fetch_and((u32 *)(r1 + 0), r2)") ==
        Decoded{Atomic{Width::W, AtomicOp::And, true, 1, 2, 0}});
  CHECK(parse_insn("r0 = load_acquire((u8 *)(r1 + 0))") == Decoded{Load{Width::B, false, true, 0, 1, 0}});
  CHECK(parse_insn("store_release((u64 *)(r1 + 8), r2)") ==
        Decoded{Store{Width::DW, true, 1, 8, Operand::r(2)}});
  CHECK(parse_insn("call 1") == Decoded{Call{CallKind::Helper, 1, 0}});
  CHECK(parse_insn("call pc-1") == Decoded{Call{CallKind::Local, -1, 0}});
  CHECK(parse_insn("call kfunc 12345, 2") == Decoded{Call{CallKind::Kfunc, 12345, 2}});
  CHECK(parse_insn("ld_pseudo r1, 2, 3, 16") == Decoded{LdImm64{1, bpf::PSEUDO_MAP_VALUE, 3, 16}});
  CHECK(parse_insn("r0 = *(u32 *)skb[r1 + 3]") == Decoded{PacketLoad{true, Width::W, 1, 3}});
  CHECK(parse_insn("r0 = *(u16 *)skb[12]") == Decoded{PacketLoad{false, Width::H, 0, 12}});
  CHECK(parse_insn("r1 = addr_space_cast(r2, 1, 0)") == Decoded{AddrSpaceCast{1, 2, 1, 0}});
  // An objdump line, annotation and all.
  CHECK(parse_insn("      21:\t2d 12 11 00 00 00 00 00\tif r2 > r1 goto +0x11 <.text+0x138>") ==
        Decoded{Jmp{true, Cond::Gt, 2, Operand::r(1), 17}});
}

TEST_CASE("assemble resolves labels for jumps and bpf-to-bpf calls") {
  const char* text = R"(
    ; a function that calls another
    entry:
      r1 = 5            # decimal immediates are fine
      call helper_fn    // a bpf-to-bpf call
      if r0 > r1 goto out
    loop: r1 += -1
      may_goto out
      r2 = 0x1122334455667788 ll
      if w1 != 0 goto loop
      gotol entry
    out:
      exit
    helper_fn:
      r0 = r1
      exit
  )";
  // Slots: 0 r1 = 5, 1 call, 2 if, 3 loop, 4 may_goto, 5-6 LD_IMM64, 7 if w1, 8 gotol,
  // 9 out: exit, 10 helper_fn: r0 = r1, 11 exit. Offsets count from the next slot.
  const std::vector<Insn> program = assemble(text);
  REQUIRE(program.size() == 12);
  CHECK(program[0] == make_insn(0xb7, 1, 0, 0, 5));
  CHECK(program[1] == make_insn(0x85, 0, 1, 0, 10 - 2));
  CHECK(program[2] == make_insn(0x2d, 0, 1, 9 - 3, 0));
  CHECK(program[3] == make_insn(0x07, 1, 0, 0, -1));
  CHECK(program[4] == make_insn(0xe5, 0, 0, 9 - 5, 0));
  CHECK(program[5] == make_insn(0x18, 2, 0, 0, 0x55667788));
  CHECK(program[6] == make_insn(0, 0, 0, 0, 0x11223344));
  CHECK(program[7] == make_insn(0x56, 1, 0, 3 - 8, 0));
  CHECK(program[8] == make_insn(0x06, 0, 0, 0, 0 - 9));
  CHECK(program[9] == make_insn(0x95, 0, 0, 0, 0));
  CHECK(program[10] == make_insn(0xbf, 0, 1, 0, 0));
  CHECK(program[11] == make_insn(0x95, 0, 0, 0, 0));
  // The program is well formed as a whole.
  CHECK(decode_program(program).size() == 11);
  // Its listing (offsets instead of labels) assembles back to the same bytes.
  CHECK(assemble(format_listing(program)) == program);
  CHECK(assemble(format_listing(program, ListingOptions{true})) == program);
}

TEST_CASE("assemble reads back format_listing output") {
  std::mt19937_64 rng(424242);
  // Random programs of valid instructions (from random bytes that decode), with and without
  // raw bytes in the listing.
  for (int round = 0; round < 200; ++round) {
    std::vector<Insn> program;
    while (program.size() < 40) {
      Insn pair[2];
      const uint64_t a = rng(), b = rng();
      std::memcpy(&pair[0], &a, 8);
      pair[0].imm &= (round % 2) ? 0x1ff : -1;
      pair[1] = make_insn(0, 0, 0, 0, int32_t(b));
      auto r = decode(std::span<const Insn>(pair, 2), 0);
      if (!r.ok()) continue;
      const Encoded e = encode(r.decoded());
      program.insert(program.end(), e.insn.begin(), e.insn.begin() + e.count);
    }
    const ListingOptions opts{round % 3 == 0};
    const std::string listing = format_listing(program, opts);
    INFO(listing);
    REQUIRE(assemble(listing) == program);
  }
}

TEST_CASE("assemble reports errors with the line number and the reason") {
  CHECK(error_of("r1 = 1\nfoo r1, r2\n") == "line 2: unknown mnemonic 'foo' in `foo r1, r2`");
  CHECK(error_of("exit\n\nr11 = 1") ==
        "line 3: invalid register 'r11' (registers are r0..r10, w0..w10) in `r11 = 1`");
  CHECK(error_of("r1 += r12") ==
        "line 1: invalid register 'r12' (registers are r0..r10, w0..w10) in `r1 += r12`");
  CHECK(error_of("w1 = 0x100000000") ==
        "line 1: immediate 0x100000000 is out of range [-0x80000000, 0xffffffff] in `w1 = 0x100000000`");
  CHECK(error_of("r0 = 0\nr1 = 0xffffffff") ==
        "line 2: immediate 0xffffffff is out of range [-0x80000000, 0x7fffffff] (it is sign-extended to "
        "64 bits; use `ll` for a 64-bit constant) in `r1 = 0xffffffff`");
  CHECK(error_of("r0 = *(u64 *)(r1 + 32768)") ==
        "line 1: offset 32768 is out of range [-0x8000, 0x7fff] in `r0 = *(u64 *)(r1 + 32768)`");
  CHECK(error_of("r0 = 0\n  goto nowhere  # comment\nexit") ==
        "line 2: unknown label 'nowhere' in `goto nowhere  # comment`");
  CHECK(error_of("a:\nr0 = 0\na:\nexit") == "line 3: duplicate label 'a' (first defined on line 1) in `a:`");
  CHECK(error_of("w1 += r2") == "line 1: expected w2 instead of r2 in `w1 += r2`");
  CHECK(error_of("r1 /= 0") == "line 1: div by zero in `r1 /= 0`");
  CHECK(error_of("r1 <<= 64") == "line 1: invalid shift 64 in `r1 <<= 64`");
  CHECK(error_of("r10 = 1") == "line 1: frame pointer is read only in `r10 = 1`");
  CHECK(error_of("r1 = *(u64 *)(r2 + 0") ==
        "line 1: expected ')' but the line ends in `r1 = *(u64 *)(r2 + 0`");
  CHECK(error_of("r1 = 1 2") == "line 1: unexpected '2' after the instruction in `r1 = 1 2`");
  CHECK(error_of("r1 @= 1") == "line 1: unexpected character '@' in `r1 @= 1`");
  // A label too far for a 16-bit jump offset.
  std::string far = "goto end\n";
  for (int i = 0; i < 40000; ++i) far += "r0 = 0\n";
  far += "end: exit\n";
  CHECK(error_of(far) ==
        "line 1: label 'end' is 40000 instructions away, out of range for goto (gotol reaches further) in "
        "`goto end`");
  CHECK(assemble("gotol end\n" + far.substr(far.find('\n') + 1)).front() == make_insn(0x06, 0, 0, 0, 40000));
}

TEST_CASE("parse_insn reports errors as line 1 and refuses labels") {
  CHECK(parse_error_of("goto out") ==
        "line 1: label 'out' needs assemble(); a single instruction takes an offset such as +0x3 in `goto "
        "out`");
  CHECK(parse_error_of("") == "line 1: empty instruction");
  CHECK(parse_error_of("r0 = *(u8 *)skb[r1 + 0x100000000]")
            .starts_with("line 1: immediate 0x100000000 is out of range"));
  CHECK(parse_error_of("r1 = *(u8 *)skb[0]") ==
        "line 1: a packet load always writes r0, not r1 in `r1 = *(u8 *)skb[0]`");
  CHECK(parse_error_of("<invalid: unknown opcode 8d>").starts_with("line 1: not an instruction"));
}
