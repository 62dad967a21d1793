// Tail merging (synth/tails.hpp) and its proof by simulation (verifier/shared_code.hpp): the
// finder merges a repeated tail with a map load and an inner branch, the merged program runs as
// the input did and the analyzer accepts it, and the simulation check refuses merges that are
// not one (a changed immediate, a range that includes differing code, a copy left to fall off).
#include "synth/tails.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

#include "analyzer/analyzer.hpp"
#include "compiler/asm_module.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/packet_gen.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/maps.hpp"
#include "compiler/rewrite.hpp"
#include "tests/support/process.hpp"
#include "tests/support/slots.hpp"
#include "verifier/shared_code.hpp"

using namespace tristate;

namespace {

// Two tails that count a reason in map 0 (key 0 or 1) and return XDP_DROP; they differ only in
// their first instruction (the key), so the common tail starts one slot in and the second tail's
// first instruction falls into it.
constexpr const char* kProgram = R"(; type: xdp
; map reasons array key=4 value=8 entries=4
r2 = *(u32 *)(r1 + 0x4)
r3 = *(u32 *)(r1 + 0x0)
r4 = r3
r4 += 0x22
if r4 > r2 goto +0x4
r5 = *(u8 *)(r3 + 0xc)
if w5 != 0x8 goto +0xe
w0 = 0x2
exit
w1 = 0x0
*(u32 *)(r10 - 0x4) = r1
r2 = r10
r2 += -0x4
ld_pseudo r1, 0x1, 0
call 0x1
if r0 == 0x0 goto +0x2
r1 = 0x7
*(u64 *)(r0 + 0x0) = r1
w0 = 0x1
exit
w1 = 0x1
*(u32 *)(r10 - 0x4) = r1
r2 = r10
r2 += -0x4
ld_pseudo r1, 0x1, 0
call 0x1
if r0 == 0x0 goto +0x2
r1 = 0x7
*(u64 *)(r0 + 0x0) = r1
w0 = 0x1
exit
)";

// The program with its kNop slots removed for real, relocations on them dropped.
Program compacted(const Program& p) {
  std::vector<bool> removed(p.image.size());
  for (std::size_t s = 0; s < p.image.size(); ++s) removed[s] = p.image[s] == kNop;
  return tristate::test::without_slots(p, p.image, removed);
}

struct Outcome {
  uint64_t r0;
  std::vector<uint8_t> packet;
  std::vector<MapContents> maps;
};

Outcome run(const Module& m, const std::vector<uint8_t>& packet, std::size_t program = 0) {
  MapSet maps(m.maps, 1);
  Interpreter interp(m, maps);
  const PacketResult r = interp.run(program, RunInput{packet, {}});
  return {r.r0, r.packet, maps.dump()};
}

}  // namespace

TEST_CASE("tail merging: a repeated tail goes, and the program runs as before", "[tails]") {
  const Module before = assemble_module(kProgram, "tails.s");
  const Program& p = before.programs[0];
  const std::optional<TailMerge> m = best_tail_merge(p, p.image);
  REQUIRE(m);
  CHECK(m->kept == 10);
  CHECK(m->copy == 22);
  CHECK(m->length == 11);
  CHECK(m->jump);
  CHECK(m->saved() == 10);

  const std::optional<std::vector<Insn>> image = apply_tail_merge(p, p.image, *m);
  REQUIRE(image);
  CHECK((*image)[22] == make_insn(bpf::JMP | bpf::JA, 0, 0, int16_t(10 - 22 - 1), 0));
  for (std::size_t s = 23; s < 33; ++s) CHECK((*image)[s] == kNop);
  Module padded = before;
  padded.programs[0].image = *image;
  CHECK_FALSE(check_shared_code(p, padded.programs[0], SharedCode{m->kept, m->copy, m->length}));

  Module after = before;
  after.programs[0] = compacted(padded.programs[0]);
  CHECK(after.programs[0].image.size() == p.image.size() - 10);
  const AnalysisResult ar = analyze(after, after.programs[0]);
  INFO(ar.reason);
  CHECK(ar.accepted);
  // Shorter than Ethernet and IPv4 headers (tail 1), not IPv4 (tail 2, which now runs the kept code), IPv4 (neither).
  std::vector<uint8_t> ipv4(60, 0), other(60, 0), runt(20, 0);
  ipv4[12] = 0x08;
  other[12] = 0x86;
  for (const auto* packet : {&ipv4, &other, &runt}) {
    const Outcome a = run(before, *packet), b = run(after, *packet);
    CHECK(a.r0 == b.r0);
    CHECK(a.maps == b.maps);
  }
  CHECK(run(after, other).r0 == 1);
  CHECK(run(after, ipv4).r0 == 2);
  // Nothing repeated is left.
  CHECK_FALSE(best_tail_merge(after.programs[0], after.programs[0].image));
}

TEST_CASE("the simulation check refuses what is not a tail merge", "[tails]") {
  const Module before = assemble_module(kProgram, "tails.s");
  const Program& p = before.programs[0];
  const TailMerge m = *best_tail_merge(p, p.image);
  const std::vector<Insn> image = *apply_tail_merge(p, p.image, m);
  Program after = p;

  SECTION("the kept code does something else") {
    after.image = image;
    after.image[17].imm = 8;  // r1 = 0x8 where the copy stored 7
    const auto why = check_shared_code(p, after, SharedCode{m.kept, m.copy, m.length});
    REQUIRE(why);
    CHECK_THAT(*why, Catch::Contains("slot 17"));
  }
  SECTION("the claimed range takes in code that differs") {
    after.image = image;
    const auto why = check_shared_code(p, after, SharedCode{m.kept - 1, m.copy - 1, m.length + 1});
    REQUIRE(why);
  }
  SECTION("the code before the copy falls into no-ops, not into a jump to the kept code") {
    after.image = image;
    after.image[m.copy] = kNop;
    const auto why = check_shared_code(p, after, SharedCode{m.kept, m.copy, m.length});
    REQUIRE(why);
    CHECK_THAT(*why, Catch::Contains("falls through"));
  }
  SECTION("a jump into the copy left aimed at it") {
    after.image = image;
    after.image[6].off = int16_t(25 - 7);  // into the copy's map load, not the kept one's
    const auto why = check_shared_code(p, after, SharedCode{m.kept, m.copy, m.length});
    REQUIRE(why);
    CHECK_THAT(*why, Catch::Contains("slot 6"));
  }
}

TEST_CASE("tails that look up different maps keep their own calls", "[tails]") {
  std::string text = kProgram;
  // The second tail counts into another map.
  text.insert(text.find("; map reasons"), "; map other array key=4 value=8 entries=4\n");
  const std::size_t second = text.rfind("ld_pseudo r1, 0x1, 0");
  text.replace(second, std::string("ld_pseudo r1, 0x1, 0").size(), "ld_pseudo r1, 0x1, 1");
  // Maps are numbered in declaration order: "other" is 0 now, "reasons" 1; the first tail names 0.
  const Module m = assemble_module(text, "tails.s");
  const std::optional<TailMerge> t = best_tail_merge(m.programs[0], m.programs[0].image);
  // The code from the call on repeats, but one call site with two maps would cost the kernel's
  // per-map specialisation of the lookup: the merge starts after the call.
  REQUIRE(t);
  CHECK(t->kept == 16);
  CHECK(t->copy == 28);
  CHECK(t->length == 5);
  CHECK(t->jump);
}

TEST_CASE("tail merging on every corpus object: each merge proved, the result accepted and running as the input", "[tails]") {
  const std::string dir = tristate::test::env("TRISTATE_PROGS_DIR");
  const std::vector<std::vector<uint8_t>> packets = generate_packets(200, 3);
  std::size_t merged = 0, programs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".o" || entry.path().string().find(".v3.") == std::string::npos) continue;
    const Module input = read_elf(entry.path().string());
    for (std::size_t i = 0; i < input.programs.size(); ++i) {
      INFO(entry.path().filename().string() << " " << input.programs[i].name());
      Module now = input;
      for (int k = 0; k < 64; ++k) {
        Program& p = now.programs[i];
        const std::optional<TailMerge> m = best_tail_merge(p, p.image);
        if (!m) break;
        const std::optional<std::vector<Insn>> image = apply_tail_merge(p, p.image, *m);
        REQUIRE(image);
        Program padded = p;
        padded.image = *image;
        const auto why = check_shared_code(p, padded, SharedCode{m->kept, m->copy, m->length});
        INFO("merge of [" << m->copy << ", " << m->copy + m->length << ") into " << m->kept << ": " << why.value_or("proved"));
        REQUIRE_FALSE(why);
        p = compacted(padded);
        ++merged;
      }
      ++programs;
      if (now.programs[i].image.size() == input.programs[i].image.size()) continue;
      const AnalysisResult ar = analyze(now, now.programs[i]);
      INFO(ar.reason);
      CHECK(ar.accepted);
      if (input.programs[i].prog_type != 6 /* XDP */) continue;
      for (const auto& packet : packets) {
        if (packet.size() < 14) continue;
        const Outcome a = run(input, packet, i), b = run(now, packet, i);
        REQUIRE(a.r0 == b.r0);
        REQUIRE(a.packet == b.packet);
        REQUIRE(a.maps == b.maps);
      }
    }
  }
  CHECK(programs >= 20);
  CHECK(merged >= 40);
}
