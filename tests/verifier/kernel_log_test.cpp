// The verifier log parser (verifier/kernel_log.hpp) on excerpts of real Linux 6.18 logs, and the
// verdict oracle (verifier/kernel_verdict.hpp) against the running kernel: small programs, a map
// through map_refs, the printer against the kernel's own printing, and every corpus program's
// level-2 log parsed completely.
#include "verifier/kernel_log.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "compiler/clang.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/process.hpp"
#include "verifier/kernel_oracle.hpp"
#include "verifier/kernel_verdict.hpp"

using namespace tristate;

namespace {

#define REQUIRE_BPF()                                                                                 \
  do {                                                                                                \
    std::string why;                                                                                  \
    if (!test::kernel_test_may_run(kernel_bpf_available(&why), why, "the kernel log test")) return; \
  } while (0)

LoggedReg reg(std::string_view text) {
  const auto r = parse_logged_reg(text);
  INFO(text);
  REQUIRE(r);
  return *r;
}

Scalar bounds(int64_t smin, int64_t smax, uint64_t umin, uint64_t umax, int32_t s32_min, int32_t s32_max,
              uint32_t u32_min, uint32_t u32_max, Tnum var) {
  Scalar s;
  s.smin = smin, s.smax = smax, s.umin = umin, s.umax = umax;
  s.s32_min = s32_min, s.s32_max = s32_max, s.u32_min = u32_min, s.u32_max = u32_max;
  s.var = var;
  return s;
}

// The scalar texts below, each with the eight bounds and the tnum the kernel held.
struct ScalarCase {
  const char* text;
  Scalar value;
};

const std::vector<ScalarCase>& scalar_cases() {
  static const std::vector<ScalarCase> cases = {
      {"scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))",
       bounds(0, 255, 0, 255, 0, 255, 0, 255, {0, 0xff})},
      // Zero-extended 32-bit unknown: every 32-bit bound and umin at their defaults.
      {"scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))",
       bounds(0, 0xffffffff, 0, 0xffffffff, INT32_MIN, INT32_MAX, 0, UINT32_MAX, {0, 0xffffffff})},
      {"scalar(smin=umin=smin32=umin32=20,smax=umax=smax32=umax32=60,var_off=(0x0; 0x3c))",
       bounds(20, 60, 20, 60, 20, 60, 20, 60, {0, 0x3c})},
      {"scalar(smin=0,smax=umax=0xffffffff,smax32=16,var_off=(0x0; 0xffffffff))",
       bounds(0, 0xffffffff, 0, 0xffffffff, INT32_MIN, 16, 0, UINT32_MAX, {0, 0xffffffff})},
      // A hex smax32 is the u32 of a positive value; umax32 groups with the 64-bit maxima.
      {"scalar(smin=0,smax=umax=umax32=0xffffc000,smax32=0x7fffc000,var_off=(0x0; 0xffffc000))",
       bounds(0, 0xffffc000, 0, 0xffffc000, INT32_MIN, 0x7fffc000, 0, 0xffffc000, {0, 0xffffc000})},
      // smin32 (hex, the u32 of a negative s32) groups with smin and umin; smax32=-1 stands alone.
      {"scalar(smin=umin=smin32=umin32=0xfffe0000,smax=umax=0xffffffff,smax32=-1,var_off=(0xfffe0000; 0x1ffff))",
       bounds(0xfffe0000, 0xffffffff, 0xfffe0000, 0xffffffff, int32_t(0xfffe0000), -1, 0xfffe0000, 0xffffffff,
              {0xfffe0000, 0x1ffff})},
      // Negative 64-bit maximum, umin as 64-bit hex.
      {"scalar(smax=-1,umin=0x8000000000000000,var_off=(0x8000000000000000; 0x7fffffffffffffff))",
       bounds(INT64_MIN, -1, 0x8000000000000000, UINT64_MAX, INT32_MIN, INT32_MAX, 0, UINT32_MAX,
              {0x8000000000000000, 0x7fffffffffffffff})},
      {"scalar(smin=smin32=0,smax=umax=smax32=umax32=16383,var_off=(0x0; 0x3fff))",
       bounds(0, 16383, 0, 16383, 0, 16383, 0, 16383, {0, 0x3fff})},
      {"scalar()", Scalar::unknown()},
      {"scalar(umin=1)", bounds(INT64_MIN, INT64_MAX, 1, UINT64_MAX, INT32_MIN, INT32_MAX, 0, UINT32_MAX,
                                {0, UINT64_MAX})},
      // Constants: decimal within [S16_MIN, S16_MAX], the 64 bits in hex outside it.
      {"129", Scalar::constant(129)},
      {"0", Scalar::constant(0)},
      {"-1", Scalar::constant(UINT64_MAX)},
      {"-32768", Scalar::constant(uint64_t(-32768))},
      {"0xffffffff", Scalar::constant(0xffffffff)},
      {"0xffffffffffff7fff", Scalar::constant(uint64_t(-32769))},
  };
  return cases;
}

TEST_CASE("kernel_log: scalars parse to the bounds the kernel held, and print back", "[kernel_log]") {
  for (const ScalarCase& c : scalar_cases()) {
    INFO(c.text);
    const LoggedReg r = reg(c.text);
    CHECK(r.type == "scalar");
    CHECK_FALSE(r.precise);
    CHECK(r.fields.empty());
    CHECK(r.value == c.value);
    CHECK(print_logged_scalar(c.value) == c.text);
  }
}

TEST_CASE("kernel_log: precise scalars, ids, add-const ids", "[kernel_log]") {
  const LoggedReg p = reg("Pscalar(smin=smin32=0,smax=umax=smax32=umax32=60,var_off=(0x0; 0x3c))");
  CHECK(p.precise);
  CHECK(p.type == "scalar");
  CHECK(p.value == bounds(0, 60, 0, 60, 0, 60, 0, 60, {0, 0x3c}));

  const LoggedReg p1 = reg("P1");
  CHECK(p1.precise);
  CHECK(p1.value == Scalar::constant(1));
  CHECK(reg("P-1").value == Scalar::constant(UINT64_MAX));

  const LoggedReg id = reg("scalar(id=12,umin=1)");
  CHECK(id.fields == std::map<std::string, std::string>{{"id", "12"}});
  CHECK(id.value.umin == 1);
  CHECK(id.value.var == Tnum{0, UINT64_MAX});

  const LoggedReg plus = reg("scalar(id=9996+1,smin=umin=smin32=umin32=20,smax=umax=smax32=umax32=40,var_off=(0x0; 0x3f))");
  CHECK(plus.fields.at("id") == "9996+1");
  CHECK(plus.off == 1);
  CHECK(plus.value == bounds(20, 40, 20, 40, 20, 40, 20, 40, {0, 0x3f}));
  const LoggedReg minus = reg("scalar(id=2-1,smin=umin=umin32=0xfffe,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))");
  CHECK(minus.fields.at("id") == "2-1");
  CHECK(minus.off == -1);
  CHECK(minus.value.umin == 0xfffe);
  CHECK(minus.value.smin == 0xfffe);
  CHECK(minus.value.u32_min == 0xfffe);
  CHECK(minus.value.s32_min == INT32_MIN);
}

TEST_CASE("kernel_log: pointers", "[kernel_log]") {
  const LoggedReg ctx = reg("ctx()");
  CHECK(ctx.type == "ctx");
  CHECK(ctx.fields.empty());
  CHECK(ctx.value == Scalar::constant(0));
  CHECK(reg("pkt_end()").type == "pkt_end");

  const LoggedReg pkt = reg("pkt(off=14,r=14)");
  CHECK(pkt.type == "pkt");
  CHECK(pkt.off == 14);
  CHECK(pkt.fields == std::map<std::string, std::string>{{"off", "14"}, {"r", "14"}});
  CHECK(pkt.value == Scalar::constant(0));

  // A packet pointer with a variable part (and the range BEYOND_PKT_END printed as u64).
  const LoggedReg var = reg(
      "pkt(id=8,off=22,r=0xfffffffffffffffe,smin=umin=smin32=umin32=40,smax=umax=smax32=umax32=120,var_off=(0x0; 0x7c))");
  CHECK(var.type == "pkt");
  CHECK(var.off == 22);
  CHECK(var.fields == std::map<std::string, std::string>{{"id", "8"}, {"off", "22"}, {"r", "0xfffffffffffffffe"}});
  CHECK(var.value == bounds(40, 120, 40, 120, 40, 120, 40, 120, {0, 0x7c}));

  const LoggedReg map = reg("map_value_or_null(id=1,map=proto_stats,ks=4,vs=16)");
  CHECK(map.type == "map_value_or_null");
  CHECK(map.fields == std::map<std::string, std::string>{{"id", "1"}, {"map", "proto_stats"}, {"ks", "4"}, {"vs", "16"}});
  CHECK(reg("map_ptr(map=proto_stats,ks=4,vs=16)").type == "map_ptr");

  const LoggedReg imm = reg("map_value(map=xdp_glob.rodata,ks=4,vs=24,off=8,imm=4)");
  CHECK(imm.off == 8);
  CHECK(imm.value == Scalar::constant(4));

  const LoggedReg fp = reg("fp-4");
  CHECK(fp.type == "fp");
  CHECK(fp.off == -4);
  CHECK(fp.value == Scalar::constant(0));
  CHECK(reg("fp0").off == 0);
  const LoggedReg other = reg("fp[0]-2");
  CHECK(other.type == "fp");
  CHECK(other.off == -2);
  CHECK(other.fields.at("frame") == "0");

  for (const char* bad : {"", "scalar(", "scalar(smin=x)", "scalar(umin=-1)", "scalar(umax32=0x100000000)",
                          "scalar(var_off=(0x1; 0x1))", "R1=ctx()", "--1", "0x", "fpx"}) {
    INFO(bad);
    CHECK_FALSE(parse_logged_reg(bad));
  }
}

// Excerpts of Linux 6.18 level-2 logs (xdp_parse.v3.o, xdp_bpf2bpf.v3.o of the corpus).
constexpr std::string_view kLog = R"(func#0 @0
Live regs before insn:
      0: .1........ (61) r2 = *(u32 *)(r1 +0)
      1: .12....... (61) r7 = *(u32 *)(r1 +4)
0: R1=ctx() R10=fp0
; void *data = (void *)(long)ctx->data; @ xdp_parse.c:48
0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2=pkt(r=0)
29: (b4) w1 = 1                       ; R1=1
30: (63) *(u32 *)(r10 -4) = r1        ; R1=1 R10=fp0 fp-8=mmmm????
42: (05) goto pc+10
63: (0f) r9 += r1
mark_precise: frame0: last_idx 63 first_idx 61 subseq_idx -1 
mark_precise: frame0: parent state regs=r1 stack=:  R0=map_value(map=proto_stats,ks=4,vs=16) R1=Pscalar(smin=smin32=0,smax=umax=smax32=umax32=60,var_off=(0x0; 0x3c)) R10=fp0
64: R1=scalar(smin=umin=smin32=umin32=20,smax=umax=smax32=umax32=60,var_off=(0x0; 0x3c)) R9=pkt(id=3,off=22,r=0)
64: (2d) if r9 > r7 goto pc+74        ; R7=pkt_end() R9=pkt(id=3,off=22,r=22)
(0) frame 0 insn 89 +live -8 
(0) live stack update done in 2 iterations

from 90 to 222: R0=0 R6=scalar(id=2) R10=fp0 fp-8=mmmmmmmm
222: R0=0 R6=scalar(id=2) R10=fp0 fp-8=mmmmmmmm
222: (b4) w0 = 2                      ; R0=2
223: (95) exit
from 128 to 222: safe
219: safe
28: (85) call pc+16
caller:
 R6=pkt_end() R10=fp0
callee:
 frame1: R1=pkt(r=0) R2=pkt_end() R4=fp[0]-2 R10=fp0
45: frame1: R1=pkt(r=0) R2=pkt_end() R4=fp[0]-2 R10=fp0
46: (56) if w3 != 0x6 goto pc+15      ; frame1: R3=6
returning from callee:
 frame1: R0=0 R10=fp0
to caller at 29:
 R0=0 R6=pkt_end() R10=fp0 fp-8=mmmm????

from 66 to 29: R0=0 R6=pkt_end() R10=fp0 fp-8=mmmm????
processed 182 insns (limit 1000000) max_states_per_insn 1 total_states 16 peak_states 16 mark_read 0
)";

TEST_CASE("kernel_log: the states of a level-2 log", "[kernel_log]") {
  const std::vector<LoggedState> s = parse_verifier_log(kLog);
  using Regs = std::vector<std::pair<int, std::string>>;
  using Stack = std::vector<std::pair<int, std::string>>;
  REQUIRE(s.size() == 12);
  auto check = [&](std::size_t i, std::size_t insn, bool before, bool full, int frame, const Regs& regs,
                   const Stack& stack) {
    INFO("state " << i);
    CHECK(s[i].insn == insn);
    CHECK(s[i].before == before);
    CHECK(s[i].full == full);
    CHECK(s[i].frame == frame);
    CHECK_FALSE(s[i].speculative);
    CHECK(s[i].regs == regs);
    CHECK(s[i].stack == stack);
  };
  check(0, 0, true, true, 0, {{1, "ctx()"}, {10, "fp0"}}, {});
  check(1, 0, false, false, 0, {{1, "ctx()"}, {2, "pkt(r=0)"}}, {});
  check(2, 29, false, false, 0, {{1, "1"}}, {});
  check(3, 30, false, false, 0, {{1, "1"}, {10, "fp0"}}, {{-8, "mmmm????"}});
  // Insn 63's touched registers, printed before insn 64 because mark_precise came between.
  check(4, 64, true, false, 0,
        {{1, "scalar(smin=umin=smin32=umin32=20,smax=umax=smax32=umax32=60,var_off=(0x0; 0x3c))"},
         {9, "pkt(id=3,off=22,r=0)"}},
        {});
  check(5, 64, false, false, 0, {{7, "pkt_end()"}, {9, "pkt(id=3,off=22,r=22)"}}, {});
  check(6, 222, true, true, 0, {{0, "0"}, {6, "scalar(id=2)"}, {10, "fp0"}}, {{-8, "mmmmmmmm"}});
  check(7, 222, true, true, 0, {{0, "0"}, {6, "scalar(id=2)"}, {10, "fp0"}}, {{-8, "mmmmmmmm"}});
  check(8, 222, false, false, 0, {{0, "2"}}, {});
  check(9, 45, true, true, 1, {{1, "pkt(r=0)"}, {2, "pkt_end()"}, {4, "fp[0]-2"}, {10, "fp0"}}, {});
  check(10, 46, false, false, 1, {{3, "6"}}, {});
  check(11, 29, true, true, 0, {{0, "0"}, {6, "pkt_end()"}, {10, "fp0"}}, {{-8, "mmmm????"}});
}

TEST_CASE("kernel_log: liveness marks and speculative paths", "[kernel_log]") {
  const auto s = parse_verifier_log(
      "from 3 to 5 (speculative execution): R1_w=ctx() R2_rw=P0 fp-8_w=mmmmmmmm\n"
      "5: (b7) r0 = 0                        ; R0_w=0\n");
  REQUIRE(s.size() == 2);
  CHECK(s[0].insn == 5);
  CHECK(s[0].speculative);
  CHECK(s[0].regs == std::vector<std::pair<int, std::string>>{{1, "ctx()"}, {2, "P0"}});
  CHECK(s[0].stack == std::vector<std::pair<int, std::string>>{{-8, "mmmmmmmm"}});
  CHECK(s[1].speculative);
  CHECK(s[1].regs == std::vector<std::pair<int, std::string>>{{0, "0"}});
}

// --- Against the running kernel ---

Insn alu64_k(uint8_t op, uint8_t dst, int32_t imm) { return make_insn(bpf::ALU64 | op | bpf::K, dst, 0, 0, imm); }
Insn exit_insn() { return make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0); }
Insn ldx(uint8_t size, uint8_t dst, uint8_t src, int16_t off) { return make_insn(bpf::LDX | bpf::MEM | size, dst, src, off, 0); }

// The register `r`'s text in the last state of `insn` (after it ran).
std::optional<std::string> touched(const std::vector<LoggedState>& states, std::size_t insn, int r) {
  std::optional<std::string> out;
  for (const LoggedState& s : states)
    if (s.insn == insn && !s.before)
      for (const auto& [n, text] : s.regs)
        if (n == r) out = text;
  return out;
}

TEST_CASE("kernel_log: verdicts and logs of small programs", "[kernel_log]") {
  REQUIRE_BPF();
  {
    const Insn prog[] = {alu64_k(bpf::MOV, 0, XDP_PASS), exit_insn()};
    const KernelVerdict v = kernel_verify(prog, BPF_PROG_TYPE_XDP, {}, {}, kLogLevel2);
    INFO(v.log);
    CHECK(v.accepted);
    CHECK(v.error == 0);
    CHECK(v.processed == 2);
    CHECK(touched(parse_verifier_log(v.log), 0, 0) == "2");
  }
  {
    // r0 = r2 with r2 never written.
    const Insn prog[] = {make_insn(bpf::ALU64 | bpf::MOV | bpf::X, 0, 2, 0, 0), exit_insn()};
    const KernelVerdict v = kernel_verify(prog, BPF_PROG_TYPE_XDP, {}, {}, kLogLevel2);
    INFO(v.log);
    CHECK_FALSE(v.accepted);
    CHECK(v.error == EACCES);
    CHECK(v.log.find("R2 !read_ok") != std::string::npos);
    const KernelVerdict v1 = kernel_verify(prog, BPF_PROG_TYPE_XDP, {}, {}, kLogLevel1 | kLogStats);
    CHECK(v1.error == EACCES);
    CHECK(v1.log.find("R2 !read_ok") != std::string::npos);
  }
}

TEST_CASE("kernel_log: maps and global data through map_refs", "[kernel_log]") {
  REQUIRE_BPF();
  MapDef array;
  array.name = "counts";
  array.type = BPF_MAP_TYPE_ARRAY;
  array.type_name = "array";
  array.key_size = 4;
  array.value_size = 8;
  array.max_entries = 4;
  MapDef rodata;
  rodata.name = "tst.rodata";
  rodata.type = BPF_MAP_TYPE_ARRAY;
  rodata.type_name = "array";
  rodata.key_size = 4;
  rodata.value_size = 8;
  rodata.max_entries = 1;
  rodata.flags = BPF_F_RDONLY_PROG;
  rodata.internal = true;
  rodata.section = ".rodata";
  rodata.initial_value = {0, 0, 0, 0, 42, 0, 0, 0};

  const Insn ld_imm64 = make_insn(bpf::LD | bpf::IMM | bpf::DW, 1, 0, 0, 0);
  const std::vector<Insn> prog = {
      make_insn(bpf::ST | bpf::MEM | bpf::W, 10, 0, -4, 0),  // 0: *(u32 *)(r10 - 4) = 0
      make_insn(bpf::ALU64 | bpf::MOV | bpf::X, 2, 10, 0, 0), // 1: r2 = r10
      alu64_k(bpf::ADD, 2, -4),                               // 2: r2 += -4
      ld_imm64, Insn{},                                       // 3: r1 = map[counts]
      make_insn(bpf::JMP | bpf::CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),  // 5
      ld_imm64, Insn{},                                       // 6: r1 = &rodata[4]
      ldx(bpf::W, 1, 1, 0),                                   // 8: r1 = *(u32 *)(r1 + 0): 42, frozen
      alu64_k(bpf::MOV, 0, XDP_PASS),                         // 9
      exit_insn(),                                            // 10
  };
  std::vector<MapRef> refs(prog.size());
  refs[3] = {0, -1};
  refs[6] = {1, 4};
  const KernelVerdict v = kernel_verify(prog, BPF_PROG_TYPE_XDP, {array, rodata}, refs, kLogLevel2);
  INFO(v.log);
  REQUIRE(v.accepted);
  const auto states = parse_verifier_log(v.log);
  const auto map = touched(states, 3, 1);
  REQUIRE(map);
  const LoggedReg m = reg(*map);
  CHECK(m.type == "map_ptr");
  CHECK(m.fields.at("map") == "counts");
  CHECK(m.fields.at("vs") == "8");
  // A constant key within an array's bounds: the lookup cannot fail (not map_value_or_null).
  CHECK(touched(states, 5, 0) == std::optional<std::string>("map_value(map=counts,ks=4,vs=8)"));
  const auto value = touched(states, 6, 1);
  REQUIRE(value);
  CHECK(reg(*value).type == "map_value");
  CHECK(reg(*value).off == 4);
  // The frozen read-only value is known to the verifier: its initial value was written.
  CHECK(touched(states, 8, 1) == "42");

  std::vector<MapRef> bad(prog.size());
  bad[3] = {2, -1};
  CHECK_THROWS_AS(kernel_verify(prog, BPF_PROG_TYPE_XDP, {array, rodata}, bad, kLogLevel2), InputError);
  MapDef refused = array;
  refused.key_size = 8;  // arrays take 4-byte keys only
  CHECK_THROWS_WITH(kernel_verify(prog, BPF_PROG_TYPE_XDP, {refused, rodata}, refs, kLogLevel2),
                    Catch::Contains("counts") && Catch::Contains("EINVAL"));
}

TEST_CASE("kernel_log: print_logged_scalar prints constants and ranges as the kernel does", "[kernel_log]") {
  REQUIRE_BPF();
  // Constants around the decimal/hex limits of signed printing.
  for (const int32_t k : {0, 1, -1, 512, 32767, 32768, -32768, -32769, 65535, 65536, INT32_MIN, INT32_MAX}) {
    const Insn prog[] = {alu64_k(bpf::MOV, 1, k), alu64_k(bpf::MOV, 0, XDP_PASS), exit_insn()};
    const KernelVerdict v = kernel_verify(prog, BPF_PROG_TYPE_XDP, {}, {}, kLogLevel2);
    INFO(v.log);
    REQUIRE(v.accepted);
    CHECK(touched(parse_verifier_log(v.log), 0, 1) == print_logged_scalar(Scalar::constant(uint64_t(int64_t(k)))));
  }
  // Ranges led by an unsigned bound (umin alone: the signed ones are unknown), around the
  // unsigned printing limit, and by a signed one (smin alone after a signed compare).
  for (const int32_t k : {40000, 65535, 65536, 70000}) {
    for (const bool is_signed : {false, true}) {
      const Insn prog[] = {
          ldx(bpf::W, 2, 1, 0),                                  // r2 = ctx->data
          ldx(bpf::W, 3, 1, 4),                                  // r3 = ctx->data_end
          make_insn(bpf::ALU64 | bpf::MOV | bpf::X, 4, 2, 0, 0), // r4 = r2
          alu64_k(bpf::ADD, 4, 8),                               // r4 += 8
          make_insn(bpf::JMP | bpf::JGT | bpf::X, 4, 3, 3, 0),   // if r4 > r3 goto exit
          ldx(bpf::DW, 5, 2, 0),                                 // r5 = *(u64 *)(r2 + 0)
          make_insn(bpf::JMP | (is_signed ? bpf::JSLT : bpf::JLT) | bpf::K, 5, 0, 1, k),  // 6
          alu64_k(bpf::MOV, 0, 0),
          alu64_k(bpf::MOV, 0, XDP_PASS),
          exit_insn(),
      };
      const KernelVerdict v = kernel_verify(prog, BPF_PROG_TYPE_XDP, {}, {}, kLogLevel2);
      INFO(v.log);
      REQUIRE(v.accepted);
      Scalar expected;
      expected.umin = uint64_t(k);
      if (is_signed) {  // [k, S64_MAX]: the unsigned range and the tnum follow
        expected.smin = k;
        expected.umax = uint64_t(INT64_MAX);
        expected.var = Tnum{0, uint64_t(INT64_MAX)};
      }
      CHECK(touched(parse_verifier_log(v.log), 6, 5) == print_logged_scalar(expected));
    }
  }
}

TEST_CASE("kernel_log: one program of an object, accepted or refused", "[kernel_log]") {
  REQUIRE_BPF();
  test::TempDir dir;
  CompileOptions o;
  o.source = dir.write("refused.c", R"(
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_fine(struct xdp_md *ctx) { return XDP_PASS; }
SEC("xdp") int xdp_unchecked(struct xdp_md *ctx) {
  unsigned char *data = (unsigned char *)(long)ctx->data;
  return data[20];  /* no bounds check against data_end */
}
char LICENSE[] SEC("license") = "GPL";
)");
  o.output = dir.file("refused.o");
  REQUIRE(compile_c(o).exit_code == 0);

  // Only the named program is loaded: the refused one next to it does not matter.
  const KernelVerdict fine = kernel_verify_object(o.output, "xdp_fine", kLogLevel2);
  INFO(fine.log);
  CHECK(fine.accepted);
  CHECK(fine.processed == 2);
  CHECK(fine.log.starts_with("func#0 @0"));

  const KernelVerdict bad = kernel_verify_object(o.output, "xdp_unchecked", kLogLevel1);
  INFO(bad.log);
  CHECK_FALSE(bad.accepted);
  CHECK(bad.error == EACCES);
  CHECK(bad.log.find("invalid access to packet") != std::string::npos);

  CHECK_THROWS_WITH(kernel_verify_object(o.output, "nope"), Catch::Contains("xdp_fine, xdp_unchecked"));
  CHECK_THROWS_AS(kernel_verify_object(dir.file("missing.o"), "xdp_fine"), InputError);
}

std::vector<std::filesystem::path> corpus_objects() {
  const std::string dir = test::env("TRISTATE_PROGS_DIR");
  if (dir.empty()) FAIL("TRISTATE_PROGS_DIR is not set (the test main sets it; it is <build>/benchmarks/progs)");
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".o") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("kernel_log: every corpus program's level-2 log parses", "[kernel_log]") {
  REQUIRE_BPF();
  const auto objects = corpus_objects();
  REQUIRE_FALSE(objects.empty());
  std::size_t programs = 0, states = 0, registers = 0, slots = 0, round_trips = 0, largest_log = 0;
  std::vector<std::string> unparsed, mismatched;
  for (const auto& path : objects) {
    const Module module = read_elf(path.string());
    for (const Program& p : module.programs) {
      INFO(path.filename().string() << ": " << p.name());
      const KernelVerdict v = kernel_verify_object(path.string(), p.name(), kLogLevel2);
      CHECK(v.accepted);
      CHECK(v.processed > 0);
      CHECK(v.log.starts_with("func#0 @0"));  // complete: a log that overflowed would have lost its start
      largest_log = std::max(largest_log, v.log.size());
      ++programs;
      const std::vector<LoggedState> parsed = parse_verifier_log(v.log);
      CHECK_FALSE(parsed.empty());
      states += parsed.size();
      for (const LoggedState& s : parsed) {
        slots += s.stack.size();
        for (const auto& [r, text] : s.regs) {
          ++registers;
          const auto lr = parse_logged_reg(text);
          if (!lr) {
            if (unparsed.size() < 20) unparsed.push_back(text);
            continue;
          }
          if (lr->type == "scalar" && !lr->precise && lr->fields.empty()) {
            ++round_trips;
            if (print_logged_scalar(lr->value) != text && mismatched.size() < 20)
              mismatched.push_back(text + " printed back as " + print_logged_scalar(lr->value));
          }
        }
      }
    }
  }
  for (const std::string& t : unparsed) FAIL_CHECK("register text not parsed: " << t);
  for (const std::string& t : mismatched) FAIL_CHECK("scalar round trip: " << t);
  CHECK(round_trips > 0);
  std::cout << "kernel_log: parsed " << states << " states, " << registers << " registers (" << slots
            << " stack slots) from " << programs << " programs; " << round_trips << " scalar texts printed back; largest log "
            << largest_log / 1000000 << " MB\n";
}

}  // namespace
