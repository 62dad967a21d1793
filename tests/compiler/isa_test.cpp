#include "compiler/isa.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <set>

#include "compiler/error.hpp"

using namespace tristate;

namespace {

DecodeResult decode_one(Insn insn) {
  Insn pair[2] = {insn, Insn{}};
  return decode(std::span<const Insn>(pair, 2), 0);
}

std::string reason_of(Insn insn) {
  auto r = decode_one(insn);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

}  // namespace

TEST_CASE("Insn has the layout of struct bpf_insn") {
  Insn i = make_insn(0xbf, 1, 6, -2, 0x11223344);
  unsigned char bytes[8];
  std::memcpy(bytes, &i, 8);
  CHECK(bytes[0] == 0xbf);
  CHECK(bytes[1] == 0x61);  // dst in the low nibble, src in the high nibble
  CHECK(bytes[2] == 0xfe);
  CHECK(bytes[3] == 0xff);
  CHECK(bytes[4] == 0x44);
  CHECK(bytes[7] == 0x11);
}

// Sweep every opcode byte with a spread of register, offset and immediate values: whatever
// decodes must encode back to exactly the same bytes, and every opcode that Linux 6.18 knows
// must decode for some field values.
TEST_CASE("every decodable instruction encodes back to its bytes") {
  const int16_t offs[] = {0, 1, 8, 16, 32, -1, 7, 0x7fff};
  const int32_t imms[] = {0, 1, 16, 31, 32, 63, 64, -1, 0x100, 0x110, 0x10000, 1 << 16 | 0,
                          bpf::ADD | bpf::FETCH, bpf::OR, bpf::AND | bpf::FETCH, bpf::XOR,
                          bpf::XCHG, bpf::CMPXCHG, 0x7fffffff};
  std::set<int> decodable;
  std::size_t checked = 0;
  for (int opcode = 0; opcode < 256; ++opcode) {
    for (uint8_t dst = 0; dst < 16; dst += 3) {
      for (uint8_t src = 0; src < 16; src += 1) {
        for (int16_t off : offs) {
          for (int32_t imm : imms) {
            Insn insn = make_insn(uint8_t(opcode), dst, src, off, imm);
            Insn pair[2] = {insn, make_insn(0, 0, 0, 0, 0x55)};
            auto r = decode(std::span<const Insn>(pair, 2), 0);
            if (!r.ok()) continue;
            decodable.insert(opcode);
            Encoded e = encode(r.decoded());
            REQUIRE(e.count == slots(r.decoded()));
            INFO("opcode " << opcode << " dst " << int(dst) << " src " << int(src) << " off "
                           << off << " imm " << imm);
            REQUIRE(e.insn[0] == insn);
            if (e.count == 2) REQUIRE(e.insn[1] == pair[1]);
            ++checked;
          }
        }
      }
    }
  }
  CHECK(checked > 10000);
  // The opcodes of the Linux 6.18 instruction table (RFC 9669 plus load-acquire/store-release,
  // may_goto and addr_space_cast).
  std::set<int> expected;
  for (int cls : {bpf::ALU, bpf::ALU64}) {
    for (int op : {bpf::ADD, bpf::SUB, bpf::MUL, bpf::DIV, bpf::OR, bpf::AND, bpf::LSH, bpf::RSH,
                   bpf::MOD, bpf::XOR, bpf::MOV, bpf::ARSH}) {
      expected.insert(cls | op | bpf::K);
      expected.insert(cls | op | bpf::X);
    }
    expected.insert(cls | bpf::NEG);
  }
  expected.insert(bpf::ALU | bpf::END | bpf::TO_LE);
  expected.insert(bpf::ALU | bpf::END | bpf::TO_BE);
  expected.insert(bpf::ALU64 | bpf::END | bpf::TO_LE);
  for (int cls : {bpf::JMP, bpf::JMP32}) {
    for (int op : {bpf::JEQ, bpf::JGT, bpf::JGE, bpf::JSET, bpf::JNE, bpf::JSGT, bpf::JSGE,
                   bpf::JLT, bpf::JLE, bpf::JSLT, bpf::JSLE}) {
      expected.insert(cls | op | bpf::K);
      expected.insert(cls | op | bpf::X);
    }
    expected.insert(cls | bpf::JA);
  }
  expected.insert(bpf::JMP | bpf::CALL);
  expected.insert(bpf::JMP | bpf::EXIT);
  expected.insert(bpf::JMP | bpf::JCOND);
  expected.insert(bpf::LD | bpf::IMM | bpf::DW);
  for (int sz : {bpf::W, bpf::H, bpf::B}) {
    expected.insert(bpf::LD | bpf::ABS | sz);
    expected.insert(bpf::LD | bpf::IND | sz);
    expected.insert(bpf::LDX | bpf::MEMSX | sz);
  }
  for (int sz : {bpf::W, bpf::H, bpf::B, bpf::DW}) {
    expected.insert(bpf::LDX | bpf::MEM | sz);
    expected.insert(bpf::ST | bpf::MEM | sz);
    expected.insert(bpf::STX | bpf::MEM | sz);
    expected.insert(bpf::STX | bpf::ATOMIC | sz);
  }
  CHECK(decodable == expected);
}

TEST_CASE("decoded views name what the instruction does") {
  auto alu = decode_one(make_insn(0x3f, 1, 2, 1, 0));  // r1 s/= r2
  REQUIRE(alu.ok());
  CHECK(std::get<Alu>(alu.decoded()) == Alu{true, AluOp::SDiv, 1, Operand::r(2)});

  auto movsx = decode_one(make_insn(0xbc, 3, 4, 16, 0));  // w3 = (s16)w4
  REQUIRE(movsx.ok());
  CHECK(std::get<Alu>(movsx.decoded()) == Alu{false, AluOp::MovSx16, 3, Operand::r(4)});

  auto bswap = decode_one(make_insn(0xd7, 1, 0, 0, 32));
  REQUIRE(bswap.ok());
  CHECK(std::get<Endian>(bswap.decoded()) == Endian{ByteOrder::Swap, 1, 32});

  auto be = decode_one(make_insn(0xdc, 2, 0, 0, 16));
  REQUIRE(be.ok());
  CHECK(std::get<Endian>(be.decoded()) == Endian{ByteOrder::ToBe, 2, 16});

  auto gotol = decode_one(make_insn(0x06, 0, 0, 0, -70000));
  REQUIRE(gotol.ok());
  CHECK(std::get<Ja>(gotol.decoded()) == Ja{-70000, true});

  auto ldsx = decode_one(make_insn(0x91, 7, 7, 3, 0));  // r7 = *(s8 *)(r7 + 3)
  REQUIRE(ldsx.ok());
  CHECK(std::get<Load>(ldsx.decoded()) == Load{Width::B, true, false, 7, 7, 3});

  auto acq = decode_one(make_insn(0xd3, 0, 1, 0, bpf::LOAD_ACQ));
  REQUIRE(acq.ok());
  CHECK(std::get<Load>(acq.decoded()) == Load{Width::B, false, true, 0, 1, 0});

  auto rel = decode_one(make_insn(0xcb, 1, 2, -4, bpf::STORE_REL));
  REQUIRE(rel.ok());
  CHECK(std::get<Store>(rel.decoded()) == Store{Width::H, true, 1, -4, Operand::r(2)});

  auto cmpxchg = decode_one(make_insn(0xdb, 10, 3, -8, bpf::CMPXCHG));
  REQUIRE(cmpxchg.ok());
  CHECK(std::get<Atomic>(cmpxchg.decoded()) == Atomic{Width::DW, AtomicOp::CmpXchg, true, 10, 3, -8});

  auto kfunc = decode_one(make_insn(0x85, 0, 2, 1, 12345));
  REQUIRE(kfunc.ok());
  CHECK(std::get<Call>(kfunc.decoded()) == Call{CallKind::Kfunc, 12345, 1});

  auto cast = decode_one(make_insn(0xbf, 1, 2, 1, 1));
  REQUIRE(cast.ok());
  CHECK(std::get<AddrSpaceCast>(cast.decoded()) == AddrSpaceCast{1, 2, 0, 1});

  Insn ld[2] = {make_insn(0x18, 1, bpf::PSEUDO_MAP_VALUE, 0, 3), make_insn(0, 0, 0, 0, 16)};
  auto ldimm = decode(std::span<const Insn>(ld, 2), 0);
  REQUIRE(ldimm.ok());
  CHECK(std::get<LdImm64>(ldimm.decoded()) == LdImm64{1, bpf::PSEUDO_MAP_VALUE, 3, 16});
  CHECK(std::get<LdImm64>(ldimm.decoded()).value() == ((uint64_t(16) << 32) | 3));
}

TEST_CASE("decoding refuses what the kernel refuses, with the kernel's reason") {
  CHECK(reason_of(make_insn(0x8c, 1, 0, 0, 0)) == "unknown opcode 8c");  // NEG with X source
  CHECK(reason_of(make_insn(0xdf, 1, 0, 0, 16)) == "unknown opcode df");  // ALU64 END TO_BE
  CHECK(reason_of(make_insn(0x8d, 0, 1, 0, 0)) == "unknown opcode 8d");  // callx
  CHECK(reason_of(make_insn(0x96, 0, 0, 0, 0)) == "unknown opcode 96");  // JMP32 EXIT
  CHECK(reason_of(make_insn(0x00, 0, 0, 0, 0)) == "unknown opcode 00");  // lone LD_IMM64 second half
  CHECK(reason_of(make_insn(0x38, 0, 0, 0, 0)) == "unknown opcode 38");  // LD_ABS DW
  CHECK(reason_of(make_insn(0x99, 1, 2, 0, 0)) == "unknown opcode 99");  // LDX MEMSX DW

  CHECK(reason_of(make_insn(0x07, 1, 2, 0, 5)) == "BPF_ALU uses reserved fields");  // src set on K
  CHECK(reason_of(make_insn(0x0f, 1, 2, 0, 5)) == "BPF_ALU uses reserved fields");  // imm set on X
  CHECK(reason_of(make_insn(0x0f, 1, 2, 1, 0)) == "BPF_ALU uses reserved fields");  // off=1 on add
  CHECK(reason_of(make_insn(0x3f, 1, 2, 2, 0)) == "BPF_ALU uses reserved fields");  // off=2 on div
  CHECK(reason_of(make_insn(0x87, 1, 0, 0, 1)) == "BPF_NEG uses reserved fields");
  CHECK(reason_of(make_insn(0xd4, 1, 0, 0, 8)) == "BPF_END uses reserved fields");
  CHECK(reason_of(make_insn(0xbc, 1, 2, 32, 0)) == "BPF_MOV uses reserved fields");  // movsx32 on ALU32
  CHECK(reason_of(make_insn(0xb7, 1, 0, 8, 0)) == "BPF_MOV uses reserved fields");
  CHECK(reason_of(make_insn(0x05, 0, 0, 1, 1)) == "BPF_JA uses reserved fields");
  CHECK(reason_of(make_insn(0x06, 0, 0, 1, 1)) == "BPF_JA uses reserved fields");
  CHECK(reason_of(make_insn(0x85, 1, 0, 0, 1)) == "BPF_CALL uses reserved fields");
  CHECK(reason_of(make_insn(0x85, 0, 3, 0, 1)) == "BPF_CALL uses reserved fields");
  CHECK(reason_of(make_insn(0x85, 0, 0, 1, 1)) == "BPF_CALL uses reserved fields");
  CHECK(reason_of(make_insn(0x95, 0, 0, 0, 1)) == "BPF_EXIT uses reserved fields");
  CHECK(reason_of(make_insn(0x15, 1, 2, 0, 0)) == "BPF_JMP/JMP32 uses reserved fields");
  CHECK(reason_of(make_insn(0x1d, 1, 2, 0, 7)) == "BPF_JMP/JMP32 uses reserved fields");
  CHECK(reason_of(make_insn(0x61, 1, 2, 0, 7)) == "BPF_LDX uses reserved fields");
  CHECK(reason_of(make_insn(0x62, 1, 2, 0, 7)) == "BPF_ST uses reserved fields");
  CHECK(reason_of(make_insn(0x63, 1, 2, 0, 7)) == "BPF_STX uses reserved fields");
  CHECK(reason_of(make_insn(0x20, 1, 0, 0, 0)) == "BPF_LD_[ABS|IND] uses reserved fields");
  CHECK(reason_of(make_insn(0xdb, 1, 2, 0, 0x02)) == "BPF_ATOMIC uses invalid atomic opcode 02");
  CHECK(reason_of(make_insn(0xd3, 1, 2, 0, bpf::ADD)) == "invalid atomic operand size");
  CHECK(reason_of(make_insn(0xe5, 0, 0, 1, 3)) == "invalid may_goto imm 3");

  CHECK(reason_of(make_insn(0xb7, 11, 0, 0, 0)) == "R11 is invalid");
  CHECK(reason_of(make_insn(0xbf, 1, 12, 0, 0)) == "R12 is invalid");
  CHECK(reason_of(make_insn(0xb7, 10, 0, 0, 0)) == "frame pointer is read only");
  CHECK(reason_of(make_insn(0x79, 10, 1, 0, 0)) == "frame pointer is read only");
  CHECK(reason_of(make_insn(0xdb, 1, 10, 0, bpf::ADD | bpf::FETCH)) == "frame pointer is read only");
  CHECK(reason_of(make_insn(0x37, 1, 0, 0, 0)) == "div by zero");
  CHECK(reason_of(make_insn(0x97, 1, 0, 1, 0)) == "div by zero");  // smod by zero constant
  CHECK(reason_of(make_insn(0x67, 1, 0, 0, 64)) == "invalid shift 64");
  CHECK(reason_of(make_insn(0x64, 1, 0, 0, 32)) == "invalid shift 32");
  CHECK(reason_of(make_insn(0xc7, 1, 0, 0, -1)) == "invalid shift -1");

  Insn tail[1] = {make_insn(0x18, 1, 0, 0, 1)};
  auto lone = decode(std::span<const Insn>(tail, 1), 0);
  REQUIRE_FALSE(lone.ok());
  CHECK(lone.error() == "invalid bpf_ld_imm64 insn: second half missing");
  Insn bad_second[2] = {make_insn(0x18, 1, 0, 0, 1), make_insn(0x18, 0, 0, 0, 0)};
  CHECK_FALSE(decode(std::span<const Insn>(bad_second, 2), 0).ok());
  Insn bad_pseudo[2] = {make_insn(0x18, 1, 7, 0, 1), make_insn(0, 0, 0, 0, 0)};
  CHECK(decode(std::span<const Insn>(bad_pseudo, 2), 0).error() == "unrecognized bpf_ld_imm64 insn");
  Insn map_fd_hi[2] = {make_insn(0x18, 1, bpf::PSEUDO_MAP_FD, 0, 1), make_insn(0, 0, 0, 0, 4)};
  CHECK(decode(std::span<const Insn>(map_fd_hi, 2), 0).error() == "unrecognized bpf_ld_imm64 insn");
}

TEST_CASE("decode_program checks jump targets and names the instruction") {
  auto error_of = [](std::vector<Insn> prog) {
    try {
      decode_program(prog);
    } catch (const InputError& e) {
      REQUIRE(e.where().insn.has_value());
      return std::to_string(*e.where().insn) + ": " + e.reason();
    }
    FAIL("no error");
    return std::string();
  };
  const Insn exit = make_insn(0x95, 0, 0, 0, 0);
  const Insn mov0 = make_insn(0xb7, 0, 0, 0, 0);
  CHECK(error_of({mov0, make_insn(0x05, 0, 0, 5, 0), exit}) == "1: jump out of range from insn 1 to 7");
  CHECK(error_of({mov0, make_insn(0x15, 1, 0, -3, 0), exit}) == "1: jump out of range from insn 1 to -1");
  CHECK(error_of({mov0, make_insn(0x06, 0, 0, 0, 9), exit}) == "1: jump out of range from insn 1 to 11");
  CHECK(error_of({make_insn(0x85, 0, 1, 0, 4), exit}) == "0: call out of range from insn 0 to 5");
  // A jump into the second slot of LD_IMM64.
  CHECK(error_of({make_insn(0x05, 0, 0, 1, 0), make_insn(0x18, 1, 0, 0, 1), make_insn(0, 0, 0, 0, 0), exit}) ==
        "0: jump into the middle of ldimm64 insn 1");
  // A lone second half in the middle of a program.
  CHECK(error_of({mov0, make_insn(0, 0, 0, 0, 7), exit}) == "1: unknown opcode 00");
  // A reserved field set, deep in a program.
  CHECK(error_of({mov0, mov0, mov0, make_insn(0x95, 1, 0, 0, 0)}) == "3: BPF_EXIT uses reserved fields");

  auto ok = decode_program(std::vector<Insn>{make_insn(0x18, 1, 0, 0, 1), make_insn(0, 0, 0, 0, 2),
                                             make_insn(0x05, 0, 0, -3, 0), exit});
  REQUIRE(ok.size() == 3);
  CHECK(ok[1].pc == 2);
  CHECK(ok[2].pc == 3);
}

TEST_CASE("decoding random bytes never crashes and round-trips when it succeeds") {
  std::mt19937_64 rng(20261123);
  std::size_t decoded = 0;
  for (int n = 0; n < 200000; ++n) {
    Insn pair[2];
    uint64_t a = rng(), b = rng();
    std::memcpy(&pair[0], &a, 8);
    std::memcpy(&pair[1], &b, 8);
    if (n % 4 == 0) pair[1] = make_insn(0, 0, 0, 0, int32_t(b));
    auto r = decode(std::span<const Insn>(pair, 2), 0);
    if (!r.ok()) continue;
    ++decoded;
    Encoded e = encode(r.decoded());
    REQUIRE(e.insn[0] == pair[0]);
    if (e.count == 2) REQUIRE(e.insn[1] == pair[1]);
  }
  CHECK(decoded > 500);  // random bytes rarely leave every reserved field clear
}

TEST_CASE("encode refuses a short goto whose offset needs gotol") {
  CHECK_THROWS_AS(encode(Ja{70000, false}), InternalError);
  CHECK(encode(Ja{70000, true}).insn[0].imm == 70000);
}
