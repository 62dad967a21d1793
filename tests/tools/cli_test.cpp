// The `tristate` command line end to end: exit statuses, messages, --json, and the
// corrupted-input set (every case exits 2 with a message naming the file and, where there is
// one, the instruction).
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "compiler/isa.hpp"
#include "tests/support/process.hpp"

using namespace tristate;
using namespace tristate::test;

namespace {

std::string tristate_bin() {
  std::string bin = env("TRISTATE_BIN");
  REQUIRE_FALSE(bin.empty());
  return bin;
}

ProcessResult run_tristate(std::vector<std::string> args) {
  args.insert(args.begin(), tristate_bin());
  return run_process(args);
}

std::string bytes_of(const std::vector<Insn>& insns) {
  return std::string(reinterpret_cast<const char*>(insns.data()), insns.size() * sizeof(Insn));
}

// A corpus object to corrupt; the test data objects are built by the build.
std::string some_object() {
  for (const char* dir : {"TRISTATE_PROGS_DIR", "TRISTATE_TEST_DATA_DIR"}) {
    std::string d = env(dir);
    if (d.empty() || !std::filesystem::exists(d)) continue;
    for (const auto& e : std::filesystem::directory_iterator(d))
      if (e.path().extension() == ".o") return e.path().string();
  }
  FAIL("no BPF object found in TRISTATE_PROGS_DIR or TRISTATE_TEST_DATA_DIR");
  return {};
}

const Insn kExit = make_insn(0x95, 0, 0, 0, 0);
const Insn kMov0 = make_insn(0xb7, 0, 0, 0, 0);

}  // namespace

TEST_CASE("version and help flags", "[cli]") {
  auto v = run_tristate({"--version"});
  CHECK(v.status == 0);
  CHECK(v.out.find("tristate ") != std::string::npos);
  auto h = run_tristate({"--help"});
  CHECK(h.status == 0);
  for (const char* cmd : {"info", "disasm", "compile"}) CHECK(h.out.find(cmd) != std::string::npos);
  auto bad = run_tristate({"info"});  // missing FILE
  CHECK(bad.status == 2);
  CHECK_FALSE(bad.err.empty());
}

TEST_CASE("info and disasm on raw bytecode, human and JSON", "[cli]") {
  TempDir dir;
  const std::string bin = dir.file("prog.bin");
  write_file(bin, bytes_of({make_insn(0xb7, 0, 0, 0, 2), make_insn(0x18, 1, 0, 0, 1), make_insn(0, 0, 0, 0, 2), kExit}));

  auto info = run_tristate({"info", bin, "--prog-type", "xdp", "--json"});
  REQUIRE(info.status == 0);
  auto j = nlohmann::json::parse(info.out);
  REQUIRE(j["programs"].size() == 1);
  CHECK(j["programs"][0]["name"] == "prog");
  CHECK(j["programs"][0]["type"] == "xdp");
  CHECK(j["programs"][0]["insns"] == 4);

  auto dis = run_tristate({"disasm", bin, "--prog-type", "xdp"});
  REQUIRE(dis.status == 0);
  CHECK(dis.out.find("r0 = 0x2") != std::string::npos);
  CHECK(dis.out.find("r1 = 0x200000001 ll") != std::string::npos);
  CHECK(dis.out.find("exit") != std::string::npos);

  auto dj = run_tristate({"disasm", bin, "--prog-type", "xdp", "--json"});
  REQUIRE(dj.status == 0);
  auto d = nlohmann::json::parse(dj.out);
  const auto& insns = d["programs"][0]["functions"][0]["insns"];
  REQUIRE(insns.size() == 3);
  CHECK(insns[1]["pc"] == 1);
  CHECK(insns[1]["bytes"] == "18010000010000000000000002000000");
  CHECK(insns[2]["pc"] == 3);

  auto no_type = run_tristate({"info", bin});
  CHECK(no_type.status == 2);
  CHECK(no_type.err.find(bin) != std::string::npos);
  CHECK(no_type.err.find("prog-type") != std::string::npos);

  auto bad_type = run_tristate({"info", bin, "--prog-type", "nonsense"});
  CHECK(bad_type.status == 2);
  CHECK(bad_type.err.find("nonsense") != std::string::npos);
}

TEST_CASE("disasm --prog names the programs a file has when the name is wrong", "[cli]") {
  const std::string obj = some_object();
  auto r = run_tristate({"disasm", obj, "--prog", "no_such_program"});
  CHECK(r.status == 2);
  CHECK(r.err.find(obj) != std::string::npos);
  CHECK(r.err.find("no such program; the file has:") != std::string::npos);
}

// Bytecode that the kernel refuses: one case per reserved field and per structural error.
TEST_CASE("corrupted bytecode: exit status 2 naming file, program and instruction", "[cli][corrupt]") {
  struct Case {
    const char* name;
    std::vector<Insn> insns;
    const char* reason;
    int insn;
  };
  const std::vector<Case> cases = {
      {"alu_k_src_set", {make_insn(0x07, 1, 3, 0, 1), kExit}, "BPF_ALU uses reserved fields", 0},
      {"alu_x_imm_set", {kMov0, make_insn(0x0f, 1, 2, 0, 9), kExit}, "BPF_ALU uses reserved fields", 1},
      {"alu_off_set", {kMov0, make_insn(0x07, 1, 0, 3, 1), kExit}, "BPF_ALU uses reserved fields", 1},
      {"neg_imm_set", {make_insn(0x87, 0, 0, 0, 1), kExit}, "BPF_NEG uses reserved fields", 0},
      {"end_bad_width", {make_insn(0xdc, 0, 0, 0, 24), kExit}, "BPF_END uses reserved fields", 0},
      {"mov_k_off_set", {make_insn(0xb7, 0, 0, 1, 0), kExit}, "BPF_MOV uses reserved fields", 0},
      {"mov_x_imm_set", {make_insn(0xbf, 0, 1, 0, 1), kExit}, "BPF_MOV uses reserved fields", 0},
      {"ja_imm_set", {make_insn(0x05, 0, 0, 0, 1), kExit}, "BPF_JA uses reserved fields", 0},
      {"ja_dst_set", {make_insn(0x05, 2, 0, 0, 0), kExit}, "BPF_JA uses reserved fields", 0},
      {"jmp_k_src_set", {kMov0, make_insn(0x15, 0, 1, 0, 0), kExit}, "BPF_JMP/JMP32 uses reserved fields", 1},
      {"jmp_x_imm_set", {kMov0, make_insn(0x1d, 0, 1, 0, 4), kExit}, "BPF_JMP/JMP32 uses reserved fields", 1},
      {"call_dst_set", {make_insn(0x85, 1, 0, 0, 5), kExit}, "BPF_CALL uses reserved fields", 0},
      {"call_off_set", {make_insn(0x85, 0, 0, 2, 5), kExit}, "BPF_CALL uses reserved fields", 0},
      {"exit_imm_set", {kMov0, make_insn(0x95, 0, 0, 0, 1)}, "BPF_EXIT uses reserved fields", 1},
      {"exit_off_set", {kMov0, make_insn(0x95, 0, 0, 1, 0)}, "BPF_EXIT uses reserved fields", 1},
      {"ldx_imm_set", {make_insn(0x79, 0, 1, 0, 1), kExit}, "BPF_LDX uses reserved fields", 0},
      {"st_src_set", {make_insn(0x7a, 10, 1, -8, 1), kExit}, "BPF_ST uses reserved fields", 0},
      {"stx_imm_set", {make_insn(0x7b, 10, 1, -8, 1), kExit}, "BPF_STX uses reserved fields", 0},
      {"ld_abs_dst_set", {make_insn(0x20, 1, 0, 0, 0), kExit}, "BPF_LD_[ABS|IND] uses reserved fields", 0},
      {"ld_imm64_off_set", {make_insn(0x18, 0, 0, 1, 0), make_insn(0, 0, 0, 0, 0), kExit}, "BPF_LD_IMM64 uses reserved fields", 0},
      {"ld_imm64_second_half_dirty", {make_insn(0x18, 0, 0, 0, 0), make_insn(0, 1, 0, 0, 0), kExit}, "invalid bpf_ld_imm64 insn", 0},
      {"atomic_bad_op", {make_insn(0xdb, 10, 1, -8, 0x03), kExit}, "BPF_ATOMIC uses invalid atomic opcode 03", 0},
      {"unknown_opcode", {kMov0, make_insn(0xff, 0, 0, 0, 0), kExit}, "unknown opcode ff", 1},
      {"bad_register", {make_insn(0xb7, 12, 0, 0, 0), kExit}, "R12 is invalid", 0},
      {"write_r10", {make_insn(0xb7, 10, 0, 0, 0), kExit}, "frame pointer is read only", 0},
      {"div_by_zero", {make_insn(0x37, 0, 0, 0, 0), kExit}, "div by zero", 0},
      {"jump_out_of_range", {kMov0, make_insn(0x05, 0, 0, 7, 0), kExit}, "jump out of range from insn 1 to 9", 1},
      {"jump_backwards_out", {make_insn(0x05, 0, 0, -2, 0), kExit}, "jump out of range from insn 0 to -1", 0},
      {"jump_into_ld_imm64", {make_insn(0x05, 0, 0, 1, 0), make_insn(0x18, 0, 0, 0, 0), make_insn(0, 0, 0, 0, 0), kExit},
       "jump into the middle of ldimm64 insn 1", 0},
      {"lone_ld_imm64_first_half", {kMov0, kExit, make_insn(0x18, 0, 0, 0, 0)}, "invalid bpf_ld_imm64 insn", 2},
      {"lone_ld_imm64_second_half", {kMov0, make_insn(0, 0, 0, 0, 5), kExit}, "unknown opcode 00", 1},
  };
  TempDir dir;
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      const std::string path = dir.file(std::string(c.name) + ".bin");
      write_file(path, bytes_of(c.insns));
      auto r = run_tristate({"info", path, "--prog-type", "xdp"});
      INFO("stderr: " << r.err);
      CHECK(r.status == 2);
      const std::string expected_prefix =
          "tristate: " + path + ": " + c.name + ": insn " + std::to_string(c.insn) + ": ";
      CHECK(r.err.rfind(expected_prefix, 0) == 0);
      CHECK(r.err.find(c.reason) != std::string::npos);
      CHECK(r.out.empty());
    }
  }
}

TEST_CASE("corrupted files: exit status 2 with a message naming the file", "[cli][corrupt]") {
  const std::string original = read_file(some_object());
  REQUIRE(original.size() > 64);
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> cases;
  // Truncated ELF at many lengths: inside the header, the section table, the sections.
  for (std::size_t len : {std::size_t(4), std::size_t(16), std::size_t(52), std::size_t(63),
                          std::size_t(64), std::size_t(100), original.size() / 3, original.size() / 2,
                          original.size() - 1})
    cases.push_back({"truncated_" + std::to_string(len), original.substr(0, len)});
  {
    // Section header table offset pointing past the end (e_shoff at 0x28).
    std::string bad = original;
    const uint64_t far = 0x7fffffff;
    std::memcpy(bad.data() + 0x28, &far, 8);
    cases.push_back({"bad_shoff", bad});
  }
  {
    // Section header string table index out of range (e_shstrndx at 0x3e).
    std::string bad = original;
    const uint16_t idx = 0x7fff;
    std::memcpy(bad.data() + 0x3e, &idx, 2);
    cases.push_back({"bad_shstrndx", bad});
  }
  {
    // Not a BPF object: e_machine (0x12) set to x86-64.
    std::string bad = original;
    const uint16_t machine = 62;
    std::memcpy(bad.data() + 0x12, &machine, 2);
    cases.push_back({"wrong_machine", bad});
  }
  {
    // Garbage after a valid ELF magic.
    std::string bad = "\x7f" "ELF";
    for (int i = 0; i < 300; ++i) bad += char((i * 37 + 11) & 0xff);
    cases.push_back({"elf_magic_garbage", bad});
  }
  cases.push_back({"empty", ""});
  cases.push_back({"seven_bytes", "garbage"});
  cases.push_back({"text", "this is not a BPF program at all\n"});

  for (const auto& [name, bytes] : cases) {
    DYNAMIC_SECTION(name) {
      const std::string path = dir.file(name + ".o");
      write_file(path, bytes);
      auto r = run_tristate({"info", path, "--prog-type", "xdp"});
      INFO("stderr: " << r.err);
      CHECK(r.status == 2);
      CHECK(r.err.rfind("tristate: " + path + ": ", 0) == 0);
      CHECK(r.err.size() > ("tristate: " + path + ": ").size() + 5);  // a reason follows
      CHECK(read_file(path) == bytes);  // the input is never modified
    }
  }
}

TEST_CASE("a missing file is bad input, not a crash", "[cli][corrupt]") {
  auto r = run_tristate({"info", "/nonexistent/prog.o"});
  CHECK(r.status == 2);
  CHECK(r.err.find("/nonexistent/prog.o") != std::string::npos);
}

TEST_CASE("compile: clang errors pass through, exit 2, existing output untouched", "[cli][compile]") {
  TempDir dir;
  const std::string bad = dir.file("bad.c");
  write_file(bad, "int f(void) { return undeclared_thing; }\n");
  const std::string out = dir.file("bad.o");
  write_file(out, "precious");
  auto r = run_tristate({"compile", bad, "-o", out});
  CHECK(r.status == 2);
  CHECK(r.err.find("undeclared_thing") != std::string::npos);  // clang's own diagnostic
  CHECK(read_file(out) == "precious");

  auto self = run_tristate({"compile", bad, "-o", bad});
  CHECK(self.status == 2);
  CHECK(read_file(bad).find("undeclared_thing") != std::string::npos);

  const std::string good = dir.file("good.c");
  write_file(good,
             "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
             "SEC(\"xdp\") int pass(struct xdp_md *ctx) { return XDP_PASS; }\n"
             "char LICENSE[] SEC(\"license\") = \"GPL\";\n");
  auto ok = run_tristate({"compile", good, "-o", dir.file("good.o"), "--json"});
  INFO(ok.err);
  REQUIRE(ok.status == 0);
  auto j = nlohmann::json::parse(ok.out);
  CHECK(j["programs"] == 1);
  auto info = run_tristate({"info", dir.file("good.o"), "--json"});
  REQUIRE(info.status == 0);
  auto ij = nlohmann::json::parse(info.out);
  CHECK(ij["programs"][0]["name"] == "pass");
  CHECK(ij["programs"][0]["type"] == "xdp");
  CHECK(ij["license"] == "GPL");

  // C sources are accepted directly by the reading commands too.
  auto direct = run_tristate({"disasm", good});
  CHECK(direct.status == 0);
  CHECK(direct.out.find("w0 = 0x2") != std::string::npos);
}

TEST_CASE("run --raw: r1 points to --mem, r0 printed in hex", "[cli][run]") {
  TempDir dir;
  // r0 = *(u64 *)(r1 + 0); r0 += r2; exit
  const std::vector<Insn> prog = {make_insn(0x79, 0, 1, 0, 0), make_insn(0x0f, 0, 2, 0, 0), kExit};
  const std::string bin = dir.file("sum.bin");
  write_file(bin, bytes_of(prog));
  auto r = run_tristate({"run", "--raw", bin, "--mem", "ff00000000000000"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out == "107\n");  // 0xff + 8 bytes

  // The same program as hex text, as conformance harnesses write it.
  const std::string hex = dir.file("sum.hex");
  write_file(hex, "79 10 00 00 00 00 00 00\n0f 20 00 00 00 00 00 00\n95 00 00 00 00 00 00 00\n");
  auto j = run_tristate({"run", "--raw", hex, "--mem", "0100000000000000", "--json"});
  REQUIRE(j.status == 0);
  auto parsed = nlohmann::json::parse(j.out);
  CHECK(parsed["r0"] == 9);
  CHECK(parsed["executed"] == 3);

  auto oob = run_tristate({"run", "--raw", bin, "--mem", "01"});
  CHECK(oob.status == 2);
  CHECK(oob.err == "tristate: " + bin + ": prog: insn 0: invalid access to memory, off=0 size=8 (the block has 1 bytes)\n");

  auto bad_mem = run_tristate({"run", "--raw", bin, "--mem", "abc"});
  CHECK(bad_mem.status == 2);
  CHECK(bad_mem.err.find("--mem") != std::string::npos);

  auto forever = run_tristate({"run", "--raw", hex + ".loop", "--mem", ""});
  CHECK(forever.status == 2);  // missing file
  CHECK(forever.err.find("cannot open") != std::string::npos);
}

namespace {

std::string corpus_object(const std::string& name) {
  return (std::filesystem::path(env("TRISTATE_PROGS_DIR")) / (name + ".v3.o")).string();
}

// Ethernet/IPv4/TCP from 10.0.0.1:12345 to 10.0.0.2:80, 58 bytes.
const std::string kTcpPacket =
    "000000000001000000000002080045000028000100004006f97c0a0000010a000002303900500000000000000000500220000000000000000000";

}  // namespace

TEST_CASE("run FILE --packet: verdict, packet, changed maps and instruction count", "[cli][run]") {
  auto r = run_tristate({"run", corpus_object("xdp_parse"), "--packet", kTcpPacket});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("r0 = 2 (XDP_PASS)\n") == 0);
  CHECK(r.out.find("executed 68 instructions\n") != std::string::npos);
  CHECK(r.out.find("packet unchanged (58 bytes)") != std::string::npos);
  CHECK(r.out.find("proto_stats[02000000]") != std::string::npos);

  // --maps seeds a rule for 10.0.0.1:80/tcp that drops; the rule's hit counter changes.
  TempDir dir;
  const std::string seeds = dir.file("seeds.json");
  write_file(seeds, R"({"fw_rules": {"entries": [{"key": "0a00000100500600", "value": "01000000000000000000000000000000"}]}})");
  auto j = run_tristate({"run", corpus_object("xdp_firewall"), "--packet", kTcpPacket, "--maps", seeds, "--json"});
  INFO(j.err);
  REQUIRE(j.status == 0);
  auto parsed = nlohmann::json::parse(j.out);
  CHECK(parsed["program"] == "xdp_firewall");
  CHECK(parsed["runs"][0]["r0"] == 1);
  CHECK(parsed["runs"][0]["verdict"] == "XDP_DROP");
  CHECK(parsed["changed_maps"]["fw_rules"][0]["after"] == "01000000000000000100000000000000");
  CHECK(parsed["maps"]["fw_rules"]["entries"].size() == 1);
  // Without the rule the default verdict (array fw_default, zero: XDP_ABORTED) applies.
  auto plain = run_tristate({"run", corpus_object("xdp_firewall"), "--packet", kTcpPacket, "--json"});
  REQUIRE(plain.status == 0);
  CHECK(nlohmann::json::parse(plain.out)["runs"][0]["r0"] != 1);

  // tc: --ctx sets mark; the NAT rewrites the destination of a matching packet.
  auto nat = run_tristate({"run", corpus_object("tc_nat"), "--packet", kTcpPacket, "--ctx", R"({"mark": 3})", "--maps",
                           R"({"nat_rules": {"entries": [{"key": "0a00000200500600", "value": "c0a801011f9000000000000000000000"}]}})",
                           "--json"});
  INFO(nat.err);
  REQUIRE(nat.status == 0);
  auto n = nlohmann::json::parse(nat.out);
  CHECK(n["runs"][0]["packet_changed"] == true);
  CHECK(n["runs"][0]["packet"].get<std::string>().substr(60, 8) == "c0a80101");  // daddr now 192.168.1.1
}

TEST_CASE("run FILE --pcap and --repeat: maps carry over between packets", "[cli][run]") {
  TempDir dir;
  std::vector<uint8_t> packet;
  for (std::size_t i = 0; i < kTcpPacket.size(); i += 2) packet.push_back(uint8_t(std::stoi(kTcpPacket.substr(i, 2), nullptr, 16)));
  // A classic pcap: header, then three records of the packet.
  std::string cap;
  const auto put32 = [&cap](uint32_t v) { cap.append(reinterpret_cast<const char*>(&v), 4); };
  const auto put16 = [&cap](uint16_t v) { cap.append(reinterpret_cast<const char*>(&v), 2); };
  put32(0xa1b2c3d4);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(65535);
  put32(1);
  for (int i = 0; i < 3; ++i) {
    put32(0);
    put32(0);
    put32(uint32_t(packet.size()));
    put32(uint32_t(packet.size()));
    cap.append(packet.begin(), packet.end());
  }
  const std::string pcap = dir.file("three.pcap");
  write_file(pcap, cap);
  auto r = run_tristate({"run", corpus_object("xdp_parse"), "--pcap", pcap, "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto parsed = nlohmann::json::parse(r.out);
  CHECK(parsed["runs"].size() == 3);
  // proto_stats[2] counts packets and bytes: 3 packets of 58 bytes.
  CHECK(parsed["changed_maps"]["proto_stats"][0]["after"] == "0300000000000000ae00000000000000");

  auto rep = run_tristate({"run", corpus_object("xdp_parse"), "--packet", kTcpPacket, "--repeat", "4", "--json"});
  REQUIRE(rep.status == 0);
  auto rp = nlohmann::json::parse(rep.out);
  CHECK(rp["runs"][0]["executed"] == 4 * 68);
  CHECK(rp["changed_maps"]["proto_stats"][0]["after"] == "0400000000000000e800000000000000");
}

TEST_CASE("run FILE: bad input exits 2 with a clear message", "[cli][run][corrupt]") {
  const std::string xdp = corpus_object("xdp_parse");
  auto no_packet = run_tristate({"run", xdp});
  CHECK(no_packet.status == 2);
  CHECK(no_packet.err.find("runs on a packet: give --packet HEX or --pcap FILE") != std::string::npos);

  auto short_packet = run_tristate({"run", xdp, "--packet", "0011"});
  CHECK(short_packet.status == 2);
  CHECK(short_packet.err.find("shorter than the 14-byte Ethernet header") != std::string::npos);

  auto bad_hex = run_tristate({"run", xdp, "--packet", "zz"});
  CHECK(bad_hex.status == 2);

  auto bad_maps = run_tristate({"run", xdp, "--packet", kTcpPacket, "--maps", R"({"nope": {"entries": []}})"});
  CHECK(bad_maps.status == 2);
  CHECK(bad_maps.err.find("nope") != std::string::npos);

  auto bad_json = run_tristate({"run", xdp, "--packet", kTcpPacket, "--maps", "{not json"});
  CHECK(bad_json.status == 2);
  CHECK(bad_json.err.find("--maps is not valid JSON") != std::string::npos);

  auto bad_ctx = run_tristate({"run", corpus_object("tc_nat"), "--packet", kTcpPacket, "--ctx", R"({"len": 5})"});
  CHECK(bad_ctx.status == 2);
  CHECK(bad_ctx.err.find("a test run cannot set len") != std::string::npos);

  auto no_prog = run_tristate({"run", xdp, "--prog", "missing", "--packet", kTcpPacket});
  CHECK(no_prog.status == 2);
  CHECK(no_prog.err.find("no such program") != std::string::npos);

  // A fault names the file, the program and the instruction.
  TempDir dir;
  const std::string bin = dir.file("oob.bin");
  // r2 = *(u32 *)(r1 + 0); r0 = *(u8 *)(r2 + 100); exit
  write_file(bin, bytes_of({make_insn(0x61, 2, 1, 0, 0), make_insn(0x71, 0, 2, 100, 0), kExit}));
  auto fault = run_tristate({"run", bin, "--prog-type", "xdp", "--packet", kTcpPacket});
  CHECK(fault.status == 2);
  CHECK(fault.err == "tristate: " + bin + ": oob: insn 1: invalid access to packet, off=100 size=1, the packet has 58 bytes\n");
}

TEST_CASE("run a C source with bpf_fib_lookup against routes from --fib", "[cli][run]") {
  TempDir dir;
  const std::string src = dir.file("fwd.c");
  write_file(src, R"(#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int fwd(struct xdp_md *ctx)
{
  void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
  unsigned char *p = data;
  struct bpf_fib_lookup fib = {};
  if (data + 34 > data_end)
    return XDP_DROP;
  fib.family = 2;
  fib.ifindex = ctx->ingress_ifindex;
  __builtin_memcpy(&fib.ipv4_dst, p + 30, 4);
  if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
    return XDP_PASS;
  __builtin_memcpy(p, fib.dmac, 6);
  __builtin_memcpy(p + 6, fib.smac, 6);
  return bpf_redirect(fib.ifindex, 0);
}
char LICENSE[] SEC("license") = "GPL";
)");
  const std::string routes =
      R"([{"prefix": "10.0.0.0/24", "ifindex": 4, "smac": "020000000004", "dmac": "0200000000aa"},
          {"prefix": "0.0.0.0/0", "ifindex": 9, "gateway": "192.168.1.1"}])";
  auto r = run_tristate({"run", src, "--packet", kTcpPacket, "--fib", routes, "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["runs"][0]["verdict"] == "XDP_REDIRECT");
  CHECK(j["runs"][0]["redirect"]["ifindex"] == 4);
  CHECK(j["runs"][0]["packet"].get<std::string>().substr(0, 24) == "0200000000aa020000000004");

  auto none = run_tristate({"run", src, "--packet", kTcpPacket, "--json"});  // no routes: not forwarded
  REQUIRE(none.status == 0);
  CHECK(nlohmann::json::parse(none.out)["runs"][0]["verdict"] == "XDP_PASS");

  auto bad = run_tristate({"run", src, "--packet", kTcpPacket, "--fib", R"([{"prefix": "10.0.0/8", "ifindex": 1}])"});
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--fib: bad prefix 10.0.0/8") != std::string::npos);
}
