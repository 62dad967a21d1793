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

namespace {

constexpr uint32_t kSocketFilter = 1, kSchedCls = 3, kKprobe = 2, kXdp = 6;

PacketResult run_packet(const char* text, uint32_t prog_type, std::vector<uint8_t> packet,
                        std::vector<uint8_t> ctx = {}, const Environment& env = {}) {
  return Interpreter(assemble(text), prog_type).run(0, RunInput{packet, ctx}, env);
}

std::vector<uint8_t> frame(std::size_t len, uint16_t ethertype = 0x0800) {
  std::vector<uint8_t> p(len);
  for (std::size_t i = 0; i < len; ++i) p[i] = uint8_t(i);
  p[12] = uint8_t(ethertype >> 8);
  p[13] = uint8_t(ethertype);
  return p;
}

}  // namespace

TEST_CASE("XDP: data and data_end bound the packet, writes land in it", "[interpreter][context]") {
  // if data + 16 <= data_end: packet[15] = 0xee, r0 = packet[14]; else r0 = 99
  const char* prog =
      "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 16\nr0 = 99\nif r4 > r3 goto +3\n"
      "r0 = 0xee\n*(u8 *)(r2 + 15) = r0\nr0 = *(u8 *)(r2 + 14)\nexit\n";
  auto r = run_packet(prog, kXdp, frame(60));
  REQUIRE(!r.fault);
  CHECK(r.r0 == 14);
  CHECK(r.packet.size() == 60);
  CHECK(r.packet[15] == 0xee);
  CHECK(r.packet[16] == 16);

  // Without the bounds check, reading past data_end faults at the load.
  auto oob = run_packet("r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 60)\nexit\n", kXdp, frame(60));
  REQUIRE(oob.fault);
  CHECK(oob.fault->insn == 1);
  CHECK(oob.fault->reason == "invalid access to packet, off=60 size=1, the packet has 60 bytes");

  // data_end is not memory; ctx fields are read whole or not at all.
  auto end_deref = run_packet("r2 = *(u32 *)(r1 + 4)\nr0 = *(u8 *)(r2 + 0)\nexit\n", kXdp, frame(60));
  REQUIRE(end_deref.fault);
  CHECK(end_deref.fault->reason == "R2 invalid mem access 'pkt_end'");
  auto half = run_packet("r0 = *(u16 *)(r1 + 76)\nexit\n", kSchedCls, frame(60));
  REQUIRE(half.fault);
  CHECK(half.fault->reason == "invalid bpf_context access: data must be read whole");
  auto write = run_packet("r0 = 0\n*(u32 *)(r1 + 12) = r0\nexit\n", kXdp, frame(60));
  REQUIRE(write.fault);
  CHECK(write.fault->reason == "invalid bpf_context access: ingress_ifindex is read-only");
  auto misaligned = run_packet("r0 = *(u16 *)(r1 + 13)\nexit\n", kXdp, frame(60));
  REQUIRE(misaligned.fault);
  CHECK(misaligned.fault->reason == "invalid bpf_context access off=13 size=2: misaligned");
  CHECK(run_packet("r0 = *(u16 *)(r1 + 12)\nexit\n", kXdp, frame(60)).fault->reason ==
        "invalid bpf_context access off=12 size=2: xdp_md is accessed 4 bytes at a time");
  CHECK(run_packet("r0 = *(u16 *)(r1 + 8)\nexit\n", kSchedCls, frame(60)).r0 == 0);  // __sk_buff: narrow is fine
  auto past = run_packet("r0 = *(u32 *)(r1 + 24)\nexit\n", kXdp, frame(60));
  REQUIRE(past.fault);
  CHECK(past.fault->reason == "invalid bpf_context access off=24 size=4 (xdp_md)");

  // The kernel refuses frames shorter than an Ethernet header before running anything.
  CHECK_THROWS_WITH(run_packet("r0 = 0\nexit\n", kXdp, frame(13)),
                    Catch::Contains("shorter than the 14-byte Ethernet header"));
}

TEST_CASE("XDP: ingress_ifindex comes from the test-run context", "[interpreter][context]") {
  auto r = run_packet("r0 = *(u32 *)(r1 + 12)\nexit\n", kXdp, frame(60));
  REQUIRE(!r.fault);
  CHECK(r.r0 == 1);  // the loopback device, as BPF_PROG_TEST_RUN uses by default
  std::vector<uint8_t> ctx(24, 0);
  ctx[12] = 7;
  CHECK(run_packet("r0 = *(u32 *)(r1 + 12)\nexit\n", kXdp, frame(60), ctx).r0 == 7);
  ctx[0] = 1;  // data may not be given
  CHECK_THROWS_WITH(run_packet("r0 = 0\nexit\n", kXdp, frame(60), ctx), Catch::Contains("may not set data"));
}

TEST_CASE("XDP: adjust_head, adjust_tail and adjust_meta move the packet's edges", "[interpreter][helpers]") {
  // Grow the head by 4 bytes, write there, return the new length.
  const char* head =
      "r6 = r1\nr2 = -4\ncall 44\nif r0 != 0 goto +7\nr2 = *(u32 *)(r6 + 0)\nr3 = *(u32 *)(r6 + 4)\n"
      "r4 = r2\nr4 += 4\nif r4 > r3 goto +2\n*(u32 *)(r2 + 0) = r0\nr3 -= r2\nr0 = r3\nexit\n";
  auto r = run_packet(head, kXdp, frame(60));
  REQUIRE(!r.fault);
  CHECK(r.r0 == 64);
  REQUIRE(r.packet.size() == 64);
  CHECK(r.packet[0] == 0);
  CHECK(r.packet[4] == 0);  // the old first byte
  CHECK(r.packet[5] == 1);

  auto tail = run_packet("r2 = -20\ncall 65\nexit\n", kXdp, frame(60));
  CHECK(tail.r0 == 0);
  CHECK(tail.packet.size() == 40);
  auto too_short = run_packet("r2 = -50\ncall 65\nexit\n", kXdp, frame(60));
  CHECK(int64_t(too_short.r0) == -22);  // -EINVAL: fewer than 14 bytes would remain
  CHECK(too_short.packet.size() == 60);
  auto grow = run_packet("r2 = 100\ncall 65\nexit\n", kXdp, frame(60));
  CHECK(grow.r0 == 0);
  REQUIRE(grow.packet.size() == 160);
  CHECK(grow.packet[159] == 0);

  auto meta = run_packet("r2 = -8\ncall 54\nexit\n", kXdp, frame(60));
  CHECK(meta.r0 == 0);
  CHECK(meta.packet.size() == 68);  // the output starts at data_meta, as the kernel's does
  auto odd_meta = run_packet("r2 = -6\ncall 54\nexit\n", kXdp, frame(60));
  CHECK(int64_t(odd_meta.r0) == -13);  // -EACCES: metadata comes in 4-byte units
}

TEST_CASE("tc and socket filters: __sk_buff fields, LD_ABS and skb helpers", "[interpreter][context]") {
  const auto p = frame(60, 0x86dd);
  // len, protocol (a __be16 in a u32), pkt_type
  CHECK(run_packet("r0 = *(u32 *)(r1 + 0)\nexit\n", kSchedCls, p).r0 == 60);
  CHECK(run_packet("r0 = *(u32 *)(r1 + 0)\nexit\n", kSocketFilter, p).r0 == 46);  // past the Ethernet header
  CHECK(run_packet("r0 = *(u32 *)(r1 + 16)\nexit\n", kSchedCls, p).r0 == 0xdd86);
  CHECK(run_packet("r0 = *(u32 *)(r1 + 4)\nexit\n", kSchedCls, p).r0 == 3);  // PACKET_OTHERHOST

  // tc may write mark; socket filters may not.
  auto mark = run_packet("r0 = 5\n*(u32 *)(r1 + 8) = r0\nexit\n", kSchedCls, p);
  REQUIRE(!mark.fault);
  CHECK(mark.ctx[8] == 5);
  auto sf_mark = run_packet("r0 = 5\n*(u32 *)(r1 + 8) = r0\nexit\n", kSocketFilter, p);
  REQUIRE(sf_mark.fault);
  CHECK(sf_mark.fault->reason == "invalid bpf_context access: mark is read-only");

  // LD_ABS reads big-endian from skb->data: the Ethernet header for tc, the network header for
  // socket filters; past the end the program returns 0.
  CHECK(run_packet("r6 = r1\nr0 = *(u16 *)skb[12]\nexit\n", kSchedCls, p).r0 == 0x86dd);
  CHECK(run_packet("r6 = r1\nr0 = *(u16 *)skb[0]\nexit\n", kSocketFilter, p).r0 == 0x0e0f);
  CHECK(run_packet("r6 = r1\nr0 = 7\nr0 = *(u32 *)skb[58]\nexit\n", kSchedCls, p).r0 == 0);

  // skb_load_bytes: offset 0, 4 bytes to the stack; past the end -EFAULT.
  const char* load = "r2 = 20\nr3 = r10\nr3 += -8\nr4 = 4\ncall 26\nif r0 != 0 goto +1\nr0 = *(u32 *)(r10 - 8)\nexit\n";
  CHECK(run_packet(load, kSchedCls, p).r0 == 0x17161514);
  CHECK(int64_t(run_packet("r2 = 58\nr3 = r10\nr3 += -8\nr4 = 4\ncall 26\nexit\n", kSchedCls, p).r0) == -14);

  // The socket filter's output packet has its Ethernet header zeroed, as the kernel returns it.
  auto sf = run_packet("r0 = 0\nexit\n", kSocketFilter, p);
  REQUIRE(sf.packet.size() == 60);
  CHECK(sf.packet[0] == 0);
  CHECK(sf.packet[13] == 0);
  CHECK(sf.packet[14] == 14);
}

TEST_CASE("checksum helpers: l3_csum_replace keeps an IPv4 header checksum valid", "[interpreter][helpers]") {
  // An IPv4 header at 14 with a correct checksum; replace the TTL/protocol word and check that the
  // header still sums to 0xffff.
  std::vector<uint8_t> p(60, 0);
  p[12] = 0x08;
  const uint8_t ip[20] = {0x45, 0, 0, 46, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  std::copy(std::begin(ip), std::end(ip), p.begin() + 14);
  const auto sum = [&](const std::vector<uint8_t>& b) {
    uint32_t s = 0;
    for (int i = 14; i < 34; i += 2) s += uint32_t(b[i] << 8 | b[i + 1]);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return s;
  };
  const uint32_t c = ~sum(p) & 0xffff;
  p[24] = uint8_t(c >> 8);
  p[25] = uint8_t(c);
  REQUIRE(sum(p) == 0xffff);
  // from = old TTL/proto word, to = new one (TTL 63), both as they sit in memory; size 2.
  const char* prog =
      "r6 = r1\nr7 = *(u32 *)(r1 + 76)\nr8 = *(u32 *)(r1 + 80)\nr9 = r7\nr9 += 34\nr0 = 1\nif r9 > r8 goto +8\n"
      "r3 = *(u16 *)(r7 + 22)\nr4 = r3\nr4 += -1\n*(u8 *)(r7 + 22) = r4\nr1 = r6\nr2 = 24\nr5 = 2\ncall 10\nexit\n";
  auto r = run_packet(prog, kSchedCls, p);
  REQUIRE(!r.fault);
  CHECK(r.r0 == 0);
  CHECK(r.packet[22] == 63);
  CHECK(sum(r.packet) == 0xffff);
}

TEST_CASE("bpf-to-bpf calls get their own stack frame and keep r6-r9", "[interpreter][calls]") {
  // main: r6 = 5; *(fp-8) = 1; call f; r0 += r6 + *(fp-8). f: r1 = 40 (caller's r1 clobbered),
  // writes its own fp-8, returns 100.
  const char* prog =
      "r6 = 5\nr1 = 1\n*(u64 *)(r10 - 8) = r1\ncall pc+5\nr0 += r6\nr1 = *(u64 *)(r10 - 8)\nr0 += r1\nexit\nexit\n"
      "r6 = 40\nr2 = 77\n*(u64 *)(r10 - 8) = r2\nr0 = 100\nexit\n";
  auto r = Interpreter(assemble(prog)).run();
  REQUIRE(!r.fault);
  CHECK(r.r0 == 106);

  // Arguments in r1-r5 are clobbered for the caller after the call.
  auto clobbered = Interpreter(assemble("r1 = 1\ncall pc+2\nr0 = r1\nexit\nr0 = 0\nexit\n")).run();
  REQUIRE(clobbered.fault);
  CHECK(clobbered.fault->reason == "R1 !read_ok");

  // The callee cannot read the caller's r6-r9: its frame starts with them uninitialised.
  auto callee_saved = Interpreter(assemble("r6 = 42\ncall pc+2\nr0 = r6\nexit\nr0 = r6\nexit\n")).run();
  REQUIRE(callee_saved.fault);
  CHECK(callee_saved.fault->insn == 4);
  CHECK(callee_saved.fault->reason == "R6 !read_ok");

  // The kernel allows 8 frames.
  auto deep = Interpreter(assemble("r0 = 0\ncall pc-1\nexit\n")).run();
  REQUIRE(deep.fault);
  CHECK(deep.fault->reason == "the call stack of 8 frames is too deep");
}

TEST_CASE("helpers: unmodelled ones are named; tracing contexts are read-only blocks", "[interpreter][helpers]") {
  auto r = run_packet("call 67\nexit\n", kXdp, frame(60));
  REQUIRE(r.fault);
  CHECK(r.fault->reason == "the interpreter does not model bpf_get_stack (helper 67)");

  std::vector<uint8_t> ctx = {1, 2, 3, 4, 5, 6, 7, 8};
  auto t = run_packet("r0 = *(u32 *)(r1 + 4)\nexit\n", kKprobe, {}, ctx);
  REQUIRE(!t.fault);
  CHECK(t.r0 == 0x08070605);
  auto w = run_packet("r0 = 0\n*(u32 *)(r1 + 4) = r0\nexit\n", kKprobe, {}, ctx);
  REQUIRE(w.fault);
  CHECK(w.fault->reason == "invalid bpf_context access: the tracing context is read-only");

  Environment env;
  env.cpu = 1;
  env.ktime_ns = 1000;
  env.ktime_step_ns = 10;
  CHECK(run_packet("call 8\nexit\n", kKprobe, {}, ctx, env).r0 == 1);
  CHECK(run_packet("call 5\ncall 5\nexit\n", kKprobe, {}, ctx, env).r0 == 1010);
  const auto a = run_packet("call 7\nexit\n", kKprobe, {}, ctx, env).r0;
  CHECK(a == run_packet("call 7\nexit\n", kKprobe, {}, ctx, env).r0);  // seeded: repeatable
  CHECK(a <= 0xffffffffu);
}

TEST_CASE("fib_lookup consults the environment's table; longest prefix wins", "[interpreter][helpers]") {
  // struct bpf_fib_lookup at fp-64: family = AF_INET, ipv4_dst = DST; r0 = result * 1000 + ifindex.
  const auto prog = [](const char* dst) {
    std::string s = "r6 = r1\nr1 = 0\n";
    for (int off = 64; off > 0; off -= 8) s += "*(u64 *)(r10 - " + std::to_string(off) + ") = r1\n";
    s += "r1 = 2\n*(u8 *)(r10 - 64) = r1\nr1 = " + std::string(dst) +
         "\n*(u32 *)(r10 - 32) = r1\nr1 = r6\nr2 = r10\nr2 += -64\nr3 = 64\nr4 = 0\ncall 69\n"
         "r1 = *(u32 *)(r10 - 56)\nr0 *= 1000\nr0 += r1\nr1 = *(u32 *)(r10 - 32)\n*(u32 *)(r10 - 4) = r1\nexit\n";
    return s;
  };
  Environment env;
  FibRoute lan;
  lan.prefix = 0x0000000a;  // 10.0.0.0 as it sits in memory
  lan.prefix_len = 24;
  lan.ifindex = 5;
  FibRoute def;
  def.ifindex = 2;
  def.gateway = 0x0101a8c0;  // 192.168.1.1
  env.fib = {def, lan};
  CHECK(run_packet(prog("0x0200000a").c_str(), kXdp, frame(60), {}, env).r0 == 5);    // 10.0.0.2: the /24
  CHECK(run_packet(prog("0x08080808").c_str(), kXdp, frame(60), {}, env).r0 == 2);    // 8.8.8.8: the default
  env.fib = {lan};
  CHECK(run_packet(prog("0x08080808").c_str(), kXdp, frame(60), {}, env).r0 == 4000);  // BPF_FIB_LKUP_RET_NOT_FWDED
}

TEST_CASE("trace_printk formats its arguments into the run's trace", "[interpreter][helpers]") {
  // "n=%d x=%x" written byte by byte at fp-16, then bpf_trace_printk(fmt, 10, -5, 255).
  std::string s;
  const std::string fmt = "n=%d x=%x";
  for (std::size_t i = 0; i < fmt.size() + 1; ++i) {
    const int c = i < fmt.size() ? fmt[i] : 0;
    s += "r1 = " + std::to_string(c) + "\n*(u8 *)(r10 - " + std::to_string(16 - int(i)) + ") = r1\n";
  }
  s += "r1 = r10\nr1 += -16\nr2 = " + std::to_string(fmt.size() + 1) + "\nr3 = -5\nr4 = 255\ncall 6\nexit\n";
  auto r = run_packet(s.c_str(), kXdp, frame(60));
  REQUIRE(!r.fault);
  REQUIRE(r.trace.size() == 1);
  CHECK(r.trace[0] == "n=-5 x=ff");
  CHECK(r.r0 == r.trace[0].size());
}

TEST_CASE("sizes and offsets that do not fit in 64 bits fault instead of wrapping (found by fuzzing)",
          "[interpreter]") {
  // bpf_probe_read_kernel(fp-8, -1): a size of 2^64 - 1 once passed the stack bounds check.
  auto size = run_text("r1 = r10\nr1 += -8\nr2 = -1\ncall 113\nexit\n");
  REQUIRE(size.fault);
  CHECK(size.fault->insn == 3);
  CHECK(size.fault->reason == "bpf_probe_read_kernel: invalid stack access off=-8 size=18446744073709551615");
  // A pointer moved to offset INT64_MAX, then read at +1: the sum once overflowed.
  auto stack = run_text("r1 = r10\nr2 = 0x7fffffffffffffff ll\nr1 += r2\nr0 = *(u8 *)(r1 + 1)\nexit\n");
  REQUIRE(stack.fault);
  CHECK(stack.fault->insn == 4);
  CHECK(stack.fault->reason.starts_with("invalid stack access off="));
  const char* ctx = "r2 = 0x7fffffffffffffff ll\nr1 += r2\nr0 = *(u32 *)(r1 + 1)\nexit\n";
  auto xdp = run_packet(ctx, kXdp, frame(60));
  REQUIRE(xdp.fault);
  CHECK(xdp.fault->reason.starts_with("invalid bpf_context access off="));
  auto tracing = run_packet(ctx, kKprobe, {}, std::vector<uint8_t>(16));
  REQUIRE(tracing.fault);
  CHECK(tracing.fault->reason.starts_with("invalid bpf_context access off="));
}
