#include "compiler/bytecode.hpp"
#include "compiler/interpreter.hpp"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"
#include "tests/support/process.hpp"
#include "compiler/isa.hpp"

using namespace tristate;
namespace fs = std::filesystem;

namespace {

const Insn kMovR0 = make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 0, 0, 0, 0);
const Insn kExit = make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0);

std::vector<uint8_t> bytes_of(const std::vector<Insn>& insns) {
  std::vector<uint8_t> b(insns.size() * sizeof(Insn));
  std::memcpy(b.data(), insns.data(), b.size());
  return b;
}

// A scratch directory for the test's files, removed afterwards.
using Scratch = tristate::test::TempDir;

// The InputError for `insns` read as program "prog.bin" of type xdp.
InputError error_of(const std::vector<Insn>& insns) {
  try {
    read_bytecode_memory(bytes_of(insns), "dir/prog.bin", "xdp");
  } catch (const InputError& e) {
    return e;
  }
  FAIL("no InputError");
  throw;
}

}  // namespace

TEST_CASE("prog_type_names lists libbpf's program types") {
  const auto names = prog_type_names();
  for (const char* n : {"socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp", "cgroup_skb",
                        "perf_event", "lwt_in", "sk_skb", "flow_dissector", "tracing", "lsm", "syscall"})
    CHECK(std::find(names.begin(), names.end(), n) != names.end());
  CHECK(std::find(names.begin(), names.end(), "unspec") == names.end());
  CHECK(names.front() == "socket_filter");  // enum order: BPF_PROG_TYPE_SOCKET_FILTER = 1
  // Every listed name is accepted and comes back as the program's type name.
  for (std::size_t i = 0; i < names.size(); ++i) {
    Module m = read_bytecode_memory(bytes_of({kMovR0, kExit}), "p.bin", names[i]);
    CHECK(m.programs[0].prog_type_name == names[i]);
    CHECK(m.programs[0].prog_type == i + 1);
  }
}

TEST_CASE("section-style names are accepted as program types") {
  CHECK(read_bytecode_memory(bytes_of({kMovR0, kExit}), "p.bin", "tc").programs[0].prog_type_name == "sched_cls");
  CHECK(read_bytecode_memory(bytes_of({kMovR0, kExit}), "p.bin", "socket").programs[0].prog_type_name == "socket_filter");
  CHECK(read_bytecode_memory(bytes_of({kMovR0, kExit}), "p.bin", "kprobe/do_sys_open").programs[0].prog_type_name == "kprobe");
}

TEST_CASE("an unknown or missing program type lists the accepted ones") {
  try {
    read_bytecode_memory(bytes_of({kMovR0, kExit}), "p.bin", "nonsense");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.where().file == "p.bin");
    CHECK_THAT(e.what(), Catch::Contains("'nonsense'") && Catch::Contains("xdp") && Catch::Contains("sched_cls") &&
                             Catch::Contains("socket_filter"));
  }
  try {
    read_bytecode_memory(bytes_of({kMovR0, kExit}), "p.bin", "");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("p.bin: ") && Catch::Contains("xdp"));
  }
}

TEST_CASE("bytecode round trip through a file") {
  // A real program's linked image, written as raw bytecode and read back.
  const char* dir = std::getenv("TRISTATE_TEST_DATA_DIR");
  REQUIRE(dir);
  Module elf = read_elf(std::string(dir) + "/calls.o");
  const Program* xdp = elf.find_program("xdp_calls");
  REQUIRE(xdp);
  Scratch s;
  const std::string path = s.write("xdp_calls.bin", bytes_of(xdp->image));
  Module m = read_bytecode(path, "xdp");
  CHECK(m.path == path);
  REQUIRE(m.programs.size() == 1);
  const Program& p = m.programs[0];
  CHECK(p.name() == "xdp_calls");
  CHECK(p.section().empty());
  CHECK(p.prog_type == 6);
  CHECK(p.prog_type_name == "xdp");
  CHECK(p.image == xdp->image);
  // The entry holds its own range, each other range is a subprogram (as .text functions are).
  CHECK(p.entry.insns == std::vector<Insn>(xdp->image.begin(), xdp->image.begin() + std::ptrdiff_t(xdp->functions[0].size)));
  // Without symbols, the functions are recovered from call and function-pointer targets: the
  // same boundaries the ELF reader linked.
  REQUIRE(xdp->functions.size() > 1);
  REQUIRE(p.functions.size() == xdp->functions.size());
  CHECK(p.functions[0].name == "xdp_calls");
  for (std::size_t i = 0; i < p.functions.size(); ++i) {
    CHECK(p.functions[i].start == xdp->functions[i].start);
    CHECK(p.functions[i].size == xdp->functions[i].size);
  }
  CHECK(p.functions[1].name == "xdp_calls+" + std::to_string(xdp->functions[1].start));
  CHECK(p.entry.relocs.empty());
  CHECK(m.maps.empty());
  REQUIRE(m.subprograms.size() == p.functions.size() - 1);
  for (std::size_t i = 1; i < p.functions.size(); ++i) {
    CHECK(m.subprograms[i - 1].name == p.functions[i].name);
    CHECK(m.subprograms[i - 1].insns.size() == p.functions[i].size);
  }
  CHECK_FALSE(m.has_btf);
  // The interpreter takes it: every function of the image is one the module has (this was an
  // internal error). The run stops at the bpf_loop callback's address, which it does not model.
  MapSet maps;
  std::optional<Interpreter> interp;
  REQUIRE_NOTHROW(interp.emplace(m, maps));
  const std::vector<uint8_t> packet(64, 0);
  const PacketResult r = interp->run(0, RunInput{packet, {}});
  REQUIRE(r.fault);
  CHECK(r.fault->reason.find("does not relocate") != std::string::npos);
  // Bytes in equal bytes out.
  std::vector<uint8_t> back(p.image.size() * 8);
  std::memcpy(back.data(), p.image.data(), back.size());
  CHECK(back == bytes_of(xdp->image));
}

TEST_CASE("sizes that are not a positive multiple of 8") {
  Scratch s;
  for (std::size_t size : {0, 1, 7, 9, 15, 17}) {
    const std::string path = s.write("odd.bin", std::vector<uint8_t>(size, 0));
    try {
      read_bytecode(path, "xdp");
      FAIL("no error for " << size << " bytes");
    } catch (const InputError& e) {
      CHECK(e.where().file == path);
      CHECK_THAT(e.what(), Catch::Contains("size " + std::to_string(size) + " bytes") &&
                               Catch::Contains("multiple of 8"));
    }
  }
  try {
    read_bytecode(s.file("missing.bin"), "xdp");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("missing.bin") && Catch::Contains("cannot open"));
  }
}

TEST_CASE("each reserved field set is an error at its instruction") {
  struct Case {
    const char* what;
    Insn insn;
  };
  const Case cases[] = {
      {"exit with dst", make_insn(bpf::JMP | bpf::EXIT, 1, 0, 0, 0)},
      {"exit with src", make_insn(bpf::JMP | bpf::EXIT, 0, 1, 0, 0)},
      {"exit with off", make_insn(bpf::JMP | bpf::EXIT, 0, 0, 1, 0)},
      {"exit with imm", make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 1)},
      {"alu K with src", make_insn(bpf::ALU64 | bpf::ADD | bpf::K, 1, 2, 0, 1)},
      {"alu K with off", make_insn(bpf::ALU64 | bpf::ADD | bpf::K, 1, 0, 3, 1)},
      {"alu X with imm", make_insn(bpf::ALU64 | bpf::ADD | bpf::X, 1, 2, 0, 5)},
      {"ldx with imm", make_insn(bpf::LDX | bpf::MEM | bpf::W, 1, 10, -4, 9)},
      {"stx with imm", make_insn(bpf::STX | bpf::MEM | bpf::W, 10, 1, -4, 9)},
      {"st with src", make_insn(bpf::ST | bpf::MEM | bpf::W, 10, 1, -4, 9)},
      {"ja with dst", make_insn(bpf::JMP | bpf::JA, 1, 0, 0, 0)},
      {"helper call with dst", make_insn(bpf::JMP | bpf::CALL, 1, 0, 0, 1)},
      {"neg with src", make_insn(bpf::ALU64 | bpf::NEG, 1, 2, 0, 0)},
      {"bad register", make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 11, 0, 0, 0)},
      {"write to r10", make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 10, 0, 0, 0)},
      {"unknown opcode", make_insn(0xff, 0, 0, 0, 0)},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const InputError e = error_of({kMovR0, c.insn, kExit});
    CHECK(e.where().file == "dir/prog.bin");
    CHECK(e.where().prog == "prog");
    CHECK(e.where().insn == std::optional<std::size_t>(1));
    CHECK_THAT(e.what(), Catch::StartsWith("dir/prog.bin: prog: insn 1: "));
  }
}

TEST_CASE("a lone LD_IMM64 half and out-of-range jumps") {
  const Insn ld = make_insn(bpf::LD | bpf::IMM | bpf::DW, 1, 0, 0, 42);
  // The first half with nothing after it.
  InputError e = error_of({kMovR0, kExit, ld});
  CHECK(e.where().insn == std::optional<std::size_t>(2));
  CHECK(e.where().prog == "prog");
  // The first half followed by something that is not a second half.
  e = error_of({ld, kExit});
  CHECK(e.where().insn == std::optional<std::size_t>(0));
  // Jumps past either end.
  e = error_of({make_insn(bpf::JMP | bpf::JA, 0, 0, 5, 0), kExit});
  CHECK(e.where().insn == std::optional<std::size_t>(0));
  CHECK_THAT(e.what(), Catch::Contains("out of range"));
  e = error_of({kMovR0, make_insn(bpf::JMP | bpf::JEQ | bpf::K, 0, 0, -3, 0), kExit});
  CHECK(e.where().insn == std::optional<std::size_t>(1));
  // A jump into the middle of an LD_IMM64.
  e = error_of({make_insn(bpf::JMP | bpf::JA, 0, 0, 1, 0), ld, make_insn(0, 0, 0, 0, 0), kExit});
  CHECK(e.where().insn == std::optional<std::size_t>(0));
  CHECK_THAT(e.what(), Catch::Contains("middle of ldimm64"));
  // A bpf-to-bpf call out of range.
  e = error_of({make_insn(bpf::JMP | bpf::CALL, 0, bpf::PSEUDO_CALL, 0, 10), kExit});
  CHECK(e.where().insn == std::optional<std::size_t>(0));
  // And a valid local call is accepted.
  Module m = read_bytecode_memory(bytes_of({make_insn(bpf::JMP | bpf::CALL, 0, bpf::PSEUDO_CALL, 0, 1), kExit, kMovR0, kExit}),
                                  "calls.bin", "xdp");
  CHECK(m.programs[0].image.size() == 4);
}
