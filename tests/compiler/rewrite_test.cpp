// remove_slots: removed instructions really leave the array, and every jump (and, in a linked
// image, every call) still reaches the instruction it reached before.
#include "compiler/rewrite.hpp"

#include <catch2/catch.hpp>
#include <random>

#include "compiler/asm.hpp"
#include "compiler/error.hpp"
#include "compiler/interpreter.hpp"

using namespace tristate;

namespace {

std::vector<bool> flags(std::size_t n, std::initializer_list<std::size_t> removed) {
  std::vector<bool> f(n, false);
  for (std::size_t i : removed) f[i] = true;
  return f;
}

}  // namespace

TEST_CASE("remove_slots re-aims jumps forward and backward across removed slots", "[rewrite]") {
  const std::vector<Insn> code = assemble(
      "r0 = 0\n"             // 0
      "goto +0\n"            // 1 removed
      "if r1 > 5 goto +2\n"  // 2 -> 5
      "goto +0\n"            // 3 removed
      "r0 += 1\n"            // 4
      "r0 += 2\n"            // 5
      "if r0 < 100 goto -5\n"// 6 -> 2
      "exit\n");             // 7
  const SlotRemoval r = remove_slots(code, flags(code.size(), {1, 3}), false);
  REQUIRE(r.insns.size() == 6);
  CHECK(r.old_to_new == std::vector<std::ptrdiff_t>{0, -1, 1, -1, 2, 3, 4, 5});
  CHECK(r.insns[1].off == 1);   // slot 2 -> 5 became 1 -> 3
  CHECK(r.insns[4].off == -4);  // slot 6 -> 2 became 4 -> 1
}

TEST_CASE("remove_slots sends a jump to a removed slot to the next kept one", "[rewrite]") {
  const std::vector<Insn> code = assemble("if r1 == 0 goto +1\nr0 = 1\nr0 = 2\nexit\n");
  const SlotRemoval r = remove_slots(code, flags(code.size(), {2}), false);
  REQUIRE(r.insns.size() == 3);
  CHECK(r.insns[0].off == 1);  // to `exit`
}

TEST_CASE("remove_slots re-aims calls only in image form", "[rewrite]") {
  const std::vector<Insn> code = assemble(
      "r1 = 1\n"     // 0
      "r0 = r0\n"    // 1 removed
      "call 1\n"     // 2: pc-relative bpf-to-bpf call to slot 4 (written as an image-relative offset)
      "exit\n"       // 3
      "r0 = 7\n"     // 4
      "exit\n");
  std::vector<Insn> image = code;
  image[2] = make_insn(bpf::JMP | bpf::CALL, 0, bpf::PSEUDO_CALL, 0, 1);
  const SlotRemoval in_image = remove_slots(image, flags(image.size(), {1}), true);
  CHECK(in_image.insns[1].imm == 1);  // the callee moved down with the caller: same offset
  std::vector<Insn> later = image;
  later[2].imm = 1;
  const SlotRemoval callee_side = remove_slots(later, flags(later.size(), {3}), true);
  CHECK(callee_side.insns[2].imm == 0);  // an instruction between caller and callee went away
  const SlotRemoval file_form = remove_slots(later, flags(later.size(), {3}), false);
  CHECK(file_form.insns[2].imm == 1);  // untouched: the ELF writer owns calls in file form
}

TEST_CASE("remove_slots refuses half an LD_IMM64 and offsets that no longer fit", "[rewrite]") {
  const std::vector<Insn> code = assemble("r1 = 0x100000000 ll\nr0 = 0\nexit\n");
  CHECK_THROWS_AS(remove_slots(code, flags(code.size(), {1}), false), InputError);
  CHECK(remove_slots(code, flags(code.size(), {0, 1}), false).insns.size() == 2);
}

TEST_CASE("removing inserted no-ops leaves a program that computes the same", "[rewrite]") {
  // A loop with branches, with `goto +0` sprinkled in at random places; removing them must give
  // back exactly the original instructions.
  const std::vector<Insn> base = assemble(
      "r0 = 0\nr2 = 0\n"
      "r0 += r2\nr2 += 3\nif r2 & 1 goto +1\nr0 ^= 0x55\nif r2 < 200 goto -5\n"
      "if r0 s> 1000 goto +2\nr0 *= 3\nexit\nr0 >>= 1\nexit\n");
  std::mt19937_64 rng(7);
  const uint64_t expected = Interpreter(base).run().r0;
  for (int round = 0; round < 50; ++round) {
    // Insert no-ops before random instructions, re-aiming the original jumps by hand.
    std::vector<std::size_t> before(base.size() + 1, 0);  // no-ops inserted before slot i
    for (std::size_t i = 0; i < base.size(); ++i) before[i] = rng() % 3;  // none after the last exit
    std::vector<std::size_t> pos(base.size() + 1);
    std::size_t p = 0;
    for (std::size_t i = 0; i <= base.size(); ++i) {
      p += before[i];
      pos[i] = p;
      ++p;
    }
    std::vector<Insn> padded(p - 1, kNop);
    std::vector<bool> removed(padded.size(), true);
    for (std::size_t i = 0; i < base.size(); ++i) {
      Insn insn = base[i];
      const uint8_t cls = bpf::class_of(insn.opcode);
      if ((cls == bpf::JMP || cls == bpf::JMP32) && bpf::op_of(insn.opcode) != bpf::EXIT)
        insn.off = int16_t(int64_t(pos[std::size_t(int64_t(i) + 1 + insn.off)]) - int64_t(pos[i]) - 1);
      padded[pos[i]] = insn;
      removed[pos[i]] = false;
    }
    CHECK(Interpreter(padded).run().r0 == expected);
    const SlotRemoval r = remove_slots(padded, removed, false);
    CHECK(r.insns == base);
  }
}
