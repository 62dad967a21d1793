#include "compiler/asm_module.hpp"

#include <linux/bpf.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "compiler/error.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/maps.hpp"
#include "tests/support/process.hpp"

using namespace tristate;

namespace {

std::string module_error(std::string_view text) {
  try {
    assemble_module(text, "t.s");
  } catch (const InputError& e) {
    CHECK(e.where().file == "t.s");
    return e.what();
  }
  FAIL("no InputError for:\n" << text);
  return {};
}

std::string srctgt_error(std::string_view text) {
  try {
    parse_srctgt(text, "p.srctgt");
  } catch (const InputError& e) {
    CHECK(e.where().file == "p.srctgt");
    return e.what();
  }
  FAIL("no InputError for:\n" << text);
  return {};
}

Bytes u32(uint32_t v) {
  Bytes b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}
Bytes u64(uint64_t v) {
  Bytes b(8);
  std::memcpy(b.data(), &v, 8);
  return b;
}

const std::vector<uint8_t> kPacket(64, 0xab);

// Looks up key 2 of map 0 (an array of u64) and returns the value, or 99 when absent.
constexpr const char* kLookup = R"(; type: xdp
; map counts array key=4 value=8 entries=4
; map other hash key=8 value=16 entries=10 flags=1
    *(u32 *)(r10 - 4) = 2
    r2 = r10
    r2 += -4
    ld_pseudo r1, 0x1, 0
    call 1
    if r0 == 0 goto missing
    r0 = *(u64 *)(r0 + 0)
    exit
missing:
    r0 = 99
    exit
)";

}  // namespace

TEST_CASE("assembly modules: the type and the maps come from directive comments") {
  const Module m = assemble_module(kLookup, "dir/lookup.s");
  CHECK(m.path == "dir/lookup.s");
  REQUIRE(m.programs.size() == 1);
  const Program& p = m.programs[0];
  CHECK(p.name() == "lookup");
  CHECK(p.prog_type == BPF_PROG_TYPE_XDP);
  CHECK(p.prog_type_name == "xdp");
  CHECK(p.image.size() == 11);
  REQUIRE(p.functions.size() == 1);
  CHECK(p.functions[0].size == 11);
  CHECK(m.license == "GPL");
  REQUIRE(m.maps.size() == 2);
  CHECK(m.maps[0].name == "counts");
  CHECK(m.maps[0].type == BPF_MAP_TYPE_ARRAY);
  CHECK(m.maps[0].type_name == "array");
  CHECK(m.maps[0].key_size == 4);
  CHECK(m.maps[0].value_size == 8);
  CHECK(m.maps[0].max_entries == 4);
  CHECK(m.maps[0].flags == 0);
  CHECK_FALSE(m.maps[0].internal);
  CHECK(m.maps[1].name == "other");
  CHECK(m.maps[1].type == BPF_MAP_TYPE_HASH);
  CHECK(m.maps[1].key_size == 8);
  CHECK(m.maps[1].value_size == 16);
  CHECK(m.maps[1].max_entries == 10);
  CHECK(m.maps[1].flags == 1);

  // The map load is relocated against its map, at its slot in the function.
  REQUIRE(p.entry.relocs.size() == 1);
  const Relocation& rel = p.entry.relocs[0];
  CHECK(rel.insn == 3);
  CHECK(rel.kind == RelocKind::Map);
  CHECK(rel.target == "counts");
  CHECK(rel.symbol == "counts");
  CHECK(rel.section == ".maps");

  // Section names and libbpf names both give a type; the default is xdp.
  CHECK(assemble_module("; type: tc\n r0 = 0\n exit\n", "a.s").programs[0].prog_type == BPF_PROG_TYPE_SCHED_CLS);
  CHECK(assemble_module("; type: sched_cls\n r0 = 0\n exit\n", "a.s").programs[0].prog_type ==
        BPF_PROG_TYPE_SCHED_CLS);
  CHECK(assemble_module("; type: socket\n r0 = 0\n exit\n", "a.s").programs[0].prog_type ==
        BPF_PROG_TYPE_SOCKET_FILTER);
  CHECK(assemble_module(" r0 = 0\n exit\n", "a.s").programs[0].prog_type == BPF_PROG_TYPE_XDP);
  CHECK(assemble_module(" r0 = 0\n exit\n", "a.s", {"", "socket_filter"}).programs[0].prog_type ==
        BPF_PROG_TYPE_SOCKET_FILTER);
  // Directive-like comments after the first instruction are only comments.
  CHECK(assemble_module(" r0 = 0\n; map lookups come next\n exit\n", "a.s").maps.empty());
}

TEST_CASE("assembly modules: the interpreter resolves their map relocations") {
  const Module m = assemble_module(kLookup, "lookup.s");
  MapSet maps(m.maps, 1);
  const Interpreter interp(m, maps);
  CHECK(interp.run(0, RunInput{kPacket, {}}).r0 == 0);  // arrays start zeroed
  maps[0].seed({"counts", {{u32(2), {u64(0x1122334455667788)}}}, {}});
  const PacketResult r = interp.run(0, RunInput{kPacket, {}});
  CHECK_FALSE(r.fault);
  CHECK(r.r0 == 0x1122334455667788);

  // A hash map: absent, then present.
  const Module h = assemble_module(R"(; map h hash key=4 value=4 entries=8
    *(u32 *)(r10 - 4) = 7
    r2 = r10
    r2 += -4
    ld_pseudo r1, 1, 0
    call 1
    r1 = r0
    r0 = 99
    if r1 == 0 goto +1
    r0 = *(u32 *)(r1 + 0)
    exit
)",
                                   "h.s");
  MapSet hmaps(h.maps, 1);
  const Interpreter hi(h, hmaps);
  CHECK(hi.run(0, RunInput{kPacket, {}}).r0 == 99);
  hmaps[0].seed({"h", {{u32(7), {u32(41)}}}, {}});
  CHECK(hi.run(0, RunInput{kPacket, {}}).r0 == 41);
}

TEST_CASE("assembly modules: a direct value address makes the map global data") {
  const Module m = assemble_module(R"(; map g array key=4 value=16 entries=1
    ld_pseudo r1, 0x2, 0, 8
    r2 = *(u64 *)(r1 + 0)
    r2 += 5
    *(u64 *)(r1 + 0) = r2
    r0 = r2
    exit
)",
                                   "g.s");
  REQUIRE(m.maps.size() == 1);
  CHECK(m.maps[0].internal);
  CHECK(m.maps[0].section == ".data.g");
  CHECK(m.maps[0].initial_value == Bytes(16, 0));
  REQUIRE(m.programs[0].entry.relocs.size() == 1);
  const Relocation& rel = m.programs[0].entry.relocs[0];
  CHECK(rel.kind == RelocKind::GlobalData);
  CHECK(rel.section == ".data.g");
  CHECK(rel.offset == 8);
  CHECK(rel.insn == 0);

  MapSet maps(m.maps, 1);
  const Interpreter interp(m, maps);
  CHECK(interp.run(0, RunInput{kPacket, {}}).r0 == 5);
  CHECK(interp.run(0, RunInput{kPacket, {}}).r0 == 10);  // the value persists, at offset 8
  const MapContents dump = maps[0].dump();
  REQUIRE(dump.entries.size() == 1);
  Bytes expected(16, 0);
  expected[8] = 10;
  CHECK(dump.entries[0].values[0] == expected);

  CHECK_THAT(module_error("; map g array key=4 value=8 entries=2\n ld_pseudo r1, 2, 0, 0\n r0 = 0\n exit\n"),
             Catch::Contains("line 2: the address of a value needs an array map with entries=1") &&
                 Catch::Contains("map 'g' is array with entries=2"));
  CHECK_THAT(module_error("; map g hash key=4 value=8 entries=1\n ld_pseudo r1, 2, 0, 0\n r0 = 0\n exit\n"),
             Catch::Contains("map 'g' is hash"));
  CHECK_THAT(module_error("; map g array key=4 value=8 entries=1\n r0 = 0\n ld_pseudo r1, 2, 0, 8\n exit\n"),
             Catch::EndsWith("t: insn 1: line 3: offset 8 is past the 8-byte value of map 'g'"));
}

TEST_CASE("assembly modules: bpf-to-bpf calls split the image into functions named by their labels") {
  const Module m = assemble_module(R"(; map m array key=4 value=8 entries=1
    r1 = 5
    call twice
    r1 = r0
    call pc+4
    exit
twice:
    r0 = r1
    r0 += r1
    exit
    ld_pseudo r2, 1, 0
    r0 = r1
    r0 += 1
    exit
)",
                                   "calls.s");
  const Program& p = m.programs[0];
  REQUIRE(p.functions.size() == 3);
  CHECK(p.functions[0].name == "calls");
  CHECK(p.functions[0].start == 0);
  CHECK(p.functions[0].size == 5);
  CHECK(p.functions[1].name == "twice");
  CHECK(p.functions[1].start == 5);
  CHECK(p.functions[1].size == 3);
  CHECK(p.functions[2].name == "sub_8");  // no label: named after its slot
  CHECK(p.functions[2].start == 8);
  CHECK(p.functions[2].size == 5);
  CHECK(p.entry.insns.size() == 5);
  REQUIRE(m.subprograms.size() == 2);
  CHECK(m.subprograms[0].name == "twice");
  CHECK(m.subprograms[0].insns.size() == 3);
  CHECK(m.subprograms[1].name == "sub_8");
  // A relocation counts slots from the start of its own function.
  CHECK(p.entry.relocs.empty());
  REQUIRE(m.subprograms[1].relocs.size() == 1);
  CHECK(m.subprograms[1].relocs[0].insn == 0);
  CHECK(m.subprograms[1].relocs[0].target == "m");

  MapSet maps(m.maps, 1);
  const PacketResult r = Interpreter(m, maps).run(0, RunInput{kPacket, {}});
  CHECK_FALSE(r.fault);
  CHECK(r.r0 == 11);  // twice(5) + 1
}

TEST_CASE("assembly modules: errors name the file, the program, the line and the instruction") {
  CHECK(module_error(" ld_pseudo r1, 0x1, 2\n r0 = 0\n exit\n") == "t.s: t: insn 0: line 1: map index 2, but no map is declared");
  CHECK_THAT(module_error("; map a array key=4 value=4 entries=1\n r0 = 0\n ld_pseudo r1, 0x1, 1\n exit\n"),
             Catch::EndsWith("insn 1: line 3: map index 1, but 1 maps are declared (`; map` lines, numbered from 0)"));
  CHECK_THAT(module_error("; map a arrray key=4 value=4 entries=1\n r0 = 0\n exit\n"),
             Catch::StartsWith("t.s: t: line 1: unknown map type 'arrray' (one of: hash, array,"));
  CHECK_THAT(module_error("; map a array key=8 value=4 entries=1\n r0 = 0\n exit\n"),
             Catch::Contains("line 1: map 'a' (array): an array needs a 4-byte key and a value"));
  CHECK_THAT(module_error("; map a array key=4 value=4\n r0 = 0\n exit\n"),
             Catch::Contains("line 1: map 'a' lacks entries=; expected `; map NAME TYPE key=K value=V entries=N [flags=F]`"));
  CHECK_THAT(module_error("; map a array key=4 value=4 entries=1 colour=red\n r0 = 0\n exit\n"),
             Catch::Contains("line 1: unexpected 'colour=red' in a map directive"));
  CHECK_THAT(module_error("; map a array key=4 value=x entries=1\n r0 = 0\n exit\n"),
             Catch::Contains("line 1: map 'a': value=x is not a number from 0 to 0xffffffff"));
  CHECK_THAT(module_error("; map a array key=4 value=4 entries=1\n; map a hash key=4 value=4 entries=1\n r0 = 0\n exit\n"),
             Catch::Contains("line 2: a second map named 'a' (the first is on line 1)"));
  CHECK_THAT(module_error("; type: xdpp\n r0 = 0\n exit\n"), Catch::Contains("line 1: unknown program type 'xdpp'"));
  CHECK_THAT(module_error("; type: xdp\n; type: tc\n r0 = 0\n exit\n"),
             Catch::Contains("line 2: a second type directive (the first is on line 1)"));
  // Assembler errors keep the assembler's line and text.
  CHECK(module_error("\n r0 = 1\n r11 = 2\n exit\n") ==
        "t.s: t: line 3: invalid register 'r11' (registers are r0..r10, w0..w10) in `r11 = 2`");
  // The kernel's structural checks, at the instruction and its line.
  CHECK(module_error("; dead code\n r0 = 1\n exit\n r0 = 2\n exit\n") == "t.s: t: insn 2: line 4: unreachable insn 2");
  CHECK(module_error("l: r0 = 1\n if r0 > 2 goto l\n") == "t.s: t: insn 1: line 2: last insn is not an exit or jmp");
  CHECK_THAT(module_error(" r1 = 1\n call f\n goto f\n exit\nf:\n r0 = 1\n exit\n"),
             Catch::StartsWith("t.s: t: insn 2: line 3: jump out of range from insn 2 to 4"));
  CHECK(module_error("; nothing\n") == "t.s: t: the program has no instructions");
  CHECK_THAT(module_error(" ld_pseudo r1, 0x3, 0\n r0 = 0\n exit\n"),
             Catch::Contains("insn 0: line 1: ld_pseudo kind 3 is not supported here"));
}

namespace {

constexpr const char* kPair = R"(; a constant folded into two adds
; type: xdp
; map counts array key=4 value=8 entries=4
; expect: equivalent
; window: 0-2
--- src
    r0 = 2
    exit
--- tgt
    r0 = 1
    r0 += 1
    exit
)";

}  // namespace

TEST_CASE(".srctgt: the header is shared, each half is a module of its own") {
  const SrcTgt st = parse_srctgt(kPair, "dir/fold.srctgt");
  CHECK(st.path == "dir/fold.srctgt");
  CHECK(st.description == "a constant folded into two adds");
  CHECK(st.expect == "equivalent");
  CHECK(st.window == std::optional<std::string>("0-2"));
  CHECK_FALSE(st.witness);
  REQUIRE(st.src.programs.size() == 1);
  REQUIRE(st.tgt.programs.size() == 1);
  CHECK(st.src.programs[0].name() == "src");
  CHECK(st.tgt.programs[0].name() == "tgt");
  CHECK(st.src.programs[0].image.size() == 2);
  CHECK(st.tgt.programs[0].image.size() == 3);
  CHECK(st.src.path == "dir/fold.srctgt");
  REQUIRE(st.src.maps.size() == 1);
  REQUIRE(st.tgt.maps.size() == 1);
  CHECK(st.tgt.maps[0].name == "counts");

  // Socket filters, a witness, and a description that reads like a directive.
  const SrcTgt w = parse_srctgt(R"(; map lookups are not in this one
; type: socket
; expect: not-equivalent
; witness: packet=00112233445566778899aabb0800 ff
--- src
    r0 = 0
    exit
--- tgt
    r0 = 1
    exit
)",
                                "w.srctgt");
  CHECK(w.description == "map lookups are not in this one");
  CHECK(w.src.maps.empty());
  CHECK(w.expect == "not-equivalent");
  CHECK(w.src.programs[0].prog_type == BPF_PROG_TYPE_SOCKET_FILTER);
  CHECK(w.tgt.programs[0].prog_type == BPF_PROG_TYPE_SOCKET_FILTER);
  REQUIRE(w.witness);
  CHECK(w.witness->packet.size() == 15);
  CHECK(w.witness->packet[14] == 0xff);

  // A direct value address in one half makes the map global data in both.
  const SrcTgt g = parse_srctgt(R"(; direct value address against a lookup
; map g array key=4 value=8 entries=1
; expect: equivalent
--- src
    ld_pseudo r1, 0x2, 0, 0
    r0 = *(u64 *)(r1 + 0)
    exit
--- tgt
    *(u32 *)(r10 - 4) = 0
    r2 = r10
    r2 += -4
    ld_pseudo r1, 0x1, 0
    call 1
    if r0 == 0 goto +1
    r0 = *(u64 *)(r0 + 0)
    exit
)",
                                "g.srctgt");
  CHECK(g.src.maps[0].internal);
  CHECK(g.tgt.maps[0].internal);
  CHECK(g.tgt.maps[0].section == ".data.g");
  for (const Module* m : {&g.src, &g.tgt}) {
    MapSet maps(m->maps, 1);
    maps[0].seed({"g", {{u32(0), {u64(77)}}}, {}});
    CHECK(Interpreter(*m, maps).run(0, RunInput{kPacket, {}}).r0 == 77);
  }
}

TEST_CASE(".srctgt: errors name the file and the line") {
  CHECK(srctgt_error("; no verdict\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n") ==
        "p.srctgt: no `; expect:` line in the header (equivalent, not-equivalent or unknown)");
  CHECK(srctgt_error("; d\n; expect: equivalent\n--- src\n r0 = 0\n exit\n") ==
        "p.srctgt: no `--- tgt` line after `--- src` (line 3)");
  CHECK_THAT(srctgt_error("; d\n; expect: equivalent\n r0 = 0\n exit\n"), Catch::StartsWith("p.srctgt: no `--- src` line"));
  CHECK(srctgt_error("; d\n; expect: same\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n") ==
        "p.srctgt: line 2: expect: 'same' is not one of equivalent, not-equivalent, unknown");
  CHECK(srctgt_error("; d\n; expect: equivalent\n--- tgt\n r0 = 0\n exit\n--- src\n r0 = 0\n exit\n") ==
        "p.srctgt: line 3: `--- tgt` before `--- src`");
  CHECK(srctgt_error("; d\n; expect: equivalent\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n--- src\n") ==
        "p.srctgt: line 9: a second `--- src` (the first is on line 3)");
  CHECK(srctgt_error("; d\n; expect: equivalent\n--- source\n") ==
        "p.srctgt: line 3: unknown section line `--- source` (expected `--- src` or `--- tgt`)");
  CHECK(srctgt_error("; d\n r0 = 1\n; expect: equivalent\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n") ==
        "p.srctgt: line 2: the header holds only comments and directives; instructions go after `--- src`");
  CHECK(srctgt_error("; d\n; expect: equivalent\n--- src\n; type: tc\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n") ==
        "p.srctgt: line 4: directives belong in the header, before `--- src`");
  CHECK_THAT(srctgt_error("; expect: equivalent\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n"),
             Catch::StartsWith("p.srctgt: line 1: the first `;` line describes the pair, and this one is a expect directive"));
  CHECK(srctgt_error("; d\n; expect: equivalent\n; witness: pkt=00\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n") ==
        "p.srctgt: line 3: witness: expected packet=HEX, not 'pkt=00'");
  CHECK(srctgt_error("; d\n; expect: equivalent\n; witness: packet=0g\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n") ==
        "p.srctgt: line 3: witness: the packet is not hex bytes");
  // Errors inside a half carry the file's line numbers and the half's program name.
  CHECK(srctgt_error("; d\n; expect: equivalent\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n r0 = 1\n exit\n") ==
        "p.srctgt: tgt: insn 2: line 9: unreachable insn 2");
  CHECK(srctgt_error("; d\n; map m array key=4 value=4 entries=1\n; expect: equivalent\n--- src\n ld_pseudo r1, 1, 1\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n") ==
        "p.srctgt: src: insn 0: line 5: map index 1, but 1 maps are declared (`; map` lines, numbered from 0)");
  CHECK(srctgt_error("; d\n; map m arry key=4 value=4 entries=1\n; expect: equivalent\n--- src\n r0 = 0\n exit\n--- tgt\n r0 = 0\n exit\n")
            .starts_with("p.srctgt: src: line 2: unknown map type 'arry'"));
}

TEST_CASE(".srctgt: read_srctgt reads a file, and names it when it cannot") {
  tristate::test::TempDir dir;
  const std::string path = dir.write("fold.srctgt", std::string(kPair));
  CHECK(read_srctgt(path).expect == "equivalent");
  try {
    read_srctgt(dir.file("missing.srctgt"));
    FAIL("no error for a missing file");
  } catch (const InputError& e) {
    CHECK(e.where().file == dir.file("missing.srctgt"));
  }
}
