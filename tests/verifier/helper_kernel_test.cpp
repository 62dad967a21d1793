// Context fields and helpers, interpreter against the running kernel: small programs that read
// one context field or call one helper with arguments taken from the packet run in both on many
// packets, and r0 and the packet after the run must agree. This pins down the context model
// (what the kernel's test run puts in each __sk_buff and xdp_md field) and the helpers' exact
// results (checksum arithmetic, error codes, packet growth and shrinking).
#include <catch2/catch.hpp>
#include <iostream>
#include <linux/bpf.h>
#include <random>

#include "compiler/asm.hpp"
#include "compiler/context.hpp"
#include "compiler/interpreter.hpp"
#include "tests/support/kernel.hpp"
#include "compiler/packet_gen.hpp"
#include "verifier/kernel_oracle.hpp"

using namespace tristate;

namespace {

constexpr uint32_t kSocketFilter = 1, kSchedCls = 3, kXdp = 6;

bool may_run(const char* what) {
  std::string why;
  const bool available = kernel_bpf_available(&why);
  return test::kernel_test_may_run(available, why, what);
}

std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) s += {d[c >> 4], d[c & 15]};
  return s;
}

// Packets for probing: the generator's set plus frames whose Ethernet header exercises the
// packet type and protocol rules (broadcast, multicast, our own zero address, 802.3 lengths).
std::vector<std::vector<uint8_t>> probe_packets(uint64_t seed) {
  auto packets = generate_packets(60, seed);
  std::mt19937_64 rng(seed);
  const auto frame = [&](std::initializer_list<uint8_t> head, std::size_t len) {
    std::vector<uint8_t> p(len);
    for (auto& b : p) b = uint8_t(rng());
    std::copy(head.begin(), head.end(), p.begin());
    return p;
  };
  packets.push_back(frame({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 0x08, 0x06}, 60));
  packets.push_back(frame({0x01, 0x00, 0x5e, 0, 0, 1, 1, 2, 3, 4, 5, 6, 0x08, 0x00}, 64));
  packets.push_back(frame({0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0x86, 0xdd}, 80));
  packets.push_back(frame({2, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 0x00, 0x40, 0xff, 0xff}, 64));
  packets.push_back(frame({2, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 0x00, 0x40, 0xaa, 0xaa}, 64));
  packets.push_back(frame({2, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 0x81, 0x00}, 14));
  return packets;
}

struct Counts {
  std::size_t programs = 0, runs = 0;
};

// Runs `text` in the kernel and the interpreter on every packet and checks they agree on whether
// the run happens at all, on r0 (32 bits, as the kernel reports it) and on the packet after it.
void compare(const std::string& label, const std::string& text, uint32_t prog_type,
             const std::vector<std::vector<uint8_t>>& packets, Counts& counts) {
  INFO(label << "\n" << text);
  const std::vector<Insn> insns = assemble(text);
  KernelProgram kernel = KernelProgram::load(insns, prog_type, "probe");
  const Interpreter interp(insns, prog_type);
  ++counts.programs;
  for (const auto& packet : packets) {
    INFO("packet " << describe(packet) << ": " << hex(packet));
    std::optional<KernelRun> kr;
    std::string kernel_error, interp_error;
    try {
      kr = kernel.run(packet);
    } catch (const InputError& e) {
      kernel_error = e.what();
    }
    std::optional<PacketResult> ir;
    try {
      ir = interp.run(0, RunInput{packet, {}});
    } catch (const InputError& e) {
      interp_error = e.what();
    }
    INFO("kernel: " << (kr ? "ran" : kernel_error) << "; interpreter: " << (ir ? "ran" : interp_error));
    REQUIRE(kr.has_value() == ir.has_value());
    if (!kr) continue;
    INFO("interpreter fault: " << (ir->fault ? ir->fault->reason : "none"));
    REQUIRE(!ir->fault);
    INFO("kernel packet      " << hex(kr->packet_out) << "\ninterpreter packet " << hex(ir->packet));
    CHECK(kr->retval == uint32_t(ir->r0));
    CHECK(kr->packet_out == ir->packet);
    ++counts.runs;
  }
}

// `r0 = *(uN *)(r1 + off)`, or its high half for 8-byte fields.
std::string field_probe(const CtxField& f, bool high) {
  const std::string width = "u" + std::to_string(f.size * 8);
  std::string s = "r0 = *(" + width + " *)(r1 + " + std::to_string(f.offset) + ")\n";
  if (high) s += "r0 >>= 32\n";
  return s + "exit\n";
}

}  // namespace

TEST_CASE("context fields read the same in the interpreter and the kernel", "[kernel][differential][context]") {
  if (!may_run("the context-field differential test")) return;
  const auto packets = probe_packets(7);
  Counts counts;
  for (const auto& [model, type] : {std::pair{CtxModel::Xdp, kXdp}, std::pair{CtxModel::Tc, kSchedCls},
                                   std::pair{CtxModel::SocketFilter, kSocketFilter}}) {
    for (const CtxField& f : ctx_fields(model)) {
      if (f.value != CtxValue::Scalar) continue;
      compare(std::string(ctx_model_name(model)) + " " + f.name, field_probe(f, false), type, packets, counts);
      if (f.size == 8) compare(std::string(ctx_model_name(model)) + " " + f.name + " (high)", field_probe(f, true), type, packets, counts);
    }
  }
  std::cout << "context differential: compared " << counts.runs << " runs of " << counts.programs << " field probes\n";
}

namespace {

// XDP: bounds-check 64 bytes of packet, then BODY (r6 = data, r7 = data_end, r1 = ctx saved in r9).
std::string xdp_with_64_bytes(const std::string& body) {
  return "r9 = r1\nr6 = *(u32 *)(r1 + 0)\nr7 = *(u32 *)(r1 + 4)\nr8 = r6\nr8 += 64\nr0 = 0\nif r8 > r7 goto +1\n"
         "goto +1\nexit\n" + body;
}

// tc: the same with __sk_buff's data and data_end.
std::string tc_with_64_bytes(const std::string& body) {
  return "r9 = r1\nr6 = *(u32 *)(r1 + 76)\nr7 = *(u32 *)(r1 + 80)\nr8 = r6\nr8 += 64\nr0 = 0\nif r8 > r7 goto +1\n"
         "goto +1\nexit\n" + body;
}

std::vector<std::vector<uint8_t>> long_packets(uint64_t seed) {
  std::vector<std::vector<uint8_t>> out;
  for (auto& p : generate_packets(60, seed))
    if (p.size() >= 64) out.push_back(p);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20; ++i) {  // random bytes, so sums and flags cover odd cases
    std::vector<uint8_t> p(64 + rng() % 64);
    for (auto& b : p) b = uint8_t(rng());
    out.push_back(p);
  }
  return out;
}

}  // namespace

TEST_CASE("checksum helpers agree with the kernel", "[kernel][differential][helpers]") {
  if (!may_run("the checksum helper differential test")) return;
  const auto packets = long_packets(11);
  Counts counts;
  for (int from : {0, 4, 8, 20})
    for (int to : {0, 4, 12, 24}) {
      const std::string body = "r1 = r6\nr2 = " + std::to_string(from) + "\nr3 = r6\nr3 += " + std::to_string(from) +
                               "\nr4 = " + std::to_string(to) + "\nr5 = *(u32 *)(r6 + 60)\ncall 28\nexit\n";
      compare("csum_diff from " + std::to_string(from) + " to " + std::to_string(to), xdp_with_64_bytes(body), kXdp,
              packets, counts);
    }
  compare("csum_diff with a size not a multiple of 4", xdp_with_64_bytes("r1 = r6\nr2 = 6\nr3 = r6\nr4 = 4\nr5 = 0\ncall 28\nexit\n"),
          kXdp, packets, counts);
  for (int helper : {10, 11})
    for (uint32_t flags : {0u, 2u, 4u, 0x12u, 0x14u, 0x24u, 0x64u, 8u, 0x100u})
      for (int offset : {24, 50, 51}) {
        const std::string from = (flags & 0xf) == 0 ? "r3 = 0\n" : "r3 = *(u32 *)(r6 + 40)\n";
        const std::string body = "r1 = r9\nr2 = " + std::to_string(offset) + "\n" + from +
                                 "r4 = *(u32 *)(r6 + 44)\nr5 = " + std::to_string(flags) + "\ncall " +
                                 std::to_string(helper) + "\nexit\n";
        if (helper == 10 && (flags & ~0xfu)) continue;
        compare((helper == 10 ? "l3" : "l4") + std::string("_csum_replace flags ") + std::to_string(flags) + " offset " +
                    std::to_string(offset),
                tc_with_64_bytes(body), kSchedCls, packets, counts);
      }
  std::cout << "helper differential (checksums): compared " << counts.runs << " runs of " << counts.programs << " programs\n";
}

TEST_CASE("packet helpers agree with the kernel", "[kernel][differential][helpers]") {
  if (!may_run("the packet helper differential test")) return;
  auto packets = generate_packets(80, 23);
  Counts counts;
  for (uint32_t type : {kSchedCls, kSocketFilter})
    for (int offset : {0, 10, 14, 40, 60, 200})
      for (int len : {4, 8}) {
        const std::string load = "r1 = r9\nr2 = " + std::to_string(offset) + "\nr3 = r10\nr3 += -8\nr4 = " +
                                 std::to_string(len) + "\ncall 26\nif r0 != 0 goto +1\nr0 = *(u32 *)(r10 - 8)\nexit\n";
        compare("skb_load_bytes offset " + std::to_string(offset) + " len " + std::to_string(len),
                "r9 = r1\n" + load, type, packets, counts);
        if (type != kSchedCls) continue;
        for (int flags : {0, 1, 2, 4}) {
          const std::string store = "r9 = r1\nr1 = 0x11223344 ll\n*(u64 *)(r10 - 8) = r1\nr1 = r9\nr2 = " + std::to_string(offset) +
                                    "\nr3 = r10\nr3 += -8\nr4 = " + std::to_string(len) + "\nr5 = " + std::to_string(flags) +
                                    "\ncall 9\nexit\n";
          compare("skb_store_bytes offset " + std::to_string(offset) + " len " + std::to_string(len) + " flags " +
                      std::to_string(flags),
                  store, type, packets, counts);
        }
      }
  for (int delta : {-300, -256, -216, -215, -40, -8, -2, 0, 6, 14, 40, 2000}) {
    const std::string d = std::to_string(delta);
    compare("xdp_adjust_head " + d, "r2 = " + d + "\ncall 44\nexit\n", kXdp, packets, counts);
    compare("xdp_adjust_tail " + d, "r2 = " + d + "\ncall 65\nexit\n", kXdp, packets, counts);
    compare("xdp_adjust_meta " + d, "r2 = " + d + "\ncall 54\nexit\n", kXdp, packets, counts);
  }
  compare("xdp_adjust_tail 4000", "r2 = 4000\ncall 65\nexit\n", kXdp, packets, counts);
  for (const char* width : {"u8", "u16", "u32"})
    for (int k : {0, 2, 12, 13, 20, 46, 60, 1500, -0x100000, -0x200000, -0x200000 + 12})
      for (uint32_t type : {kSchedCls, kSocketFilter}) {
        const std::string abs = "r6 = r1\nr0 = *(" + std::string(width) + " *)skb[" + std::to_string(k) + "]\nexit\n";
        compare(std::string("ld_abs ") + width + " " + std::to_string(k), abs, type, packets, counts);
      }
  compare("xdp_adjust_meta then head", "r6 = r1\nr2 = -8\ncall 54\nr1 = r6\nr2 = -4\ncall 44\nexit\n", kXdp, packets, counts);
  compare("redirect", "r1 = 1\nr2 = 0\ncall 23\nexit\n", kXdp, packets, counts);
  compare("redirect with flags", "r1 = 1\nr2 = 1\ncall 23\nexit\n", kXdp, packets, counts);
  compare("tc redirect", "r1 = 1\nr2 = 0\ncall 23\nexit\n", kSchedCls, packets, counts);
  compare("tc redirect with bad flags", "r1 = 1\nr2 = 2\ncall 23\nexit\n", kSchedCls, packets, counts);
  std::cout << "helper differential (packets): compared " << counts.runs << " runs of " << counts.programs << " programs\n";
}

TEST_CASE("context access rules: every offset and size is accepted or refused as the kernel does",
          "[kernel][differential][context]") {
  if (!may_run("the context access-rule differential test")) return;
  const auto packets = probe_packets(3);
  const std::vector<std::vector<uint8_t>> some(packets.end() - 4, packets.end());
  std::size_t loads = 0, stores = 0, accepted = 0;
  for (const auto& [model, type] : {std::pair{CtxModel::Xdp, kXdp}, std::pair{CtxModel::Tc, kSchedCls},
                                   std::pair{CtxModel::SocketFilter, kSocketFilter}}) {
    for (int size : {1, 2, 4, 8})
      for (std::size_t off = 0; off < ctx_size(model); off += std::size_t(size))
        for (bool write : {false, true}) {
          // __sk_buff's sk and flow_keys are not modelled (see compiler/context.hpp).
          if (model != CtxModel::Xdp && ((off >= offsetof(__sk_buff, sk) && off < offsetof(__sk_buff, sk) + 8) ||
                                         (off >= offsetof(__sk_buff, flow_keys) && off < offsetof(__sk_buff, flow_keys) + 8)))
            continue;
          const std::string width = "u" + std::to_string(size * 8);
          const std::string access = "*(" + width + " *)(r1 + " + std::to_string(off) + ")";
          const std::string text = write ? "r2 = 7\n" + access + " = r2\nr0 = 0\nexit\n" : "r0 = " + access + "\nexit\n";
          INFO(ctx_model_name(model) << ": " << text);
          const std::vector<Insn> insns = assemble(text);
          std::optional<KernelProgram> kernel;
          try {
            kernel.emplace(KernelProgram::load(insns, type, "probe"));
          } catch (const InputError&) {
          }
          ++(write ? stores : loads);
          const Interpreter interp(insns, type);
          for (const auto& packet : some) {
            std::optional<PacketResult> ir;
            try {
              ir = interp.run(0, RunInput{packet, {}});
            } catch (const InputError&) {
              continue;  // the packet itself is refused (checked by the other tests)
            }
            INFO("interpreter: " << (ir->fault ? ir->fault->reason : "ran"));
            CHECK(kernel.has_value() == !ir->fault.has_value());
            if (kernel.has_value() != !ir->fault.has_value()) continue;
            // A loaded pointer returned is an address: the kernel's and the interpreter's differ.
            const CtxField* f = ctx_field_at(model, int64_t(off), size);
            if (kernel && (write || (f && f->value == CtxValue::Scalar))) CHECK(kernel->run(packet).retval == uint32_t(ir->r0));
          }
          accepted += kernel.has_value();
        }
  }
  std::cout << "context access rules: compared " << loads + stores << " probes (" << loads << " loads, " << stores
            << " stores) with the kernel, " << accepted << " accepted by it, the interpreter agreeing on every one\n";
}
