// The assembler: the syntax that format_insn (compiler/disasm.hpp) prints, read back.
//
// Accepted beyond the printed form:
// - decimal numbers (`r1 += 7`, `*(u32 *)(r10 - 4) = r1`), any spacing (`(r10 -8)`, `(r1+0)`),
//   `goto +N` / `goto -N` / `goto N`, and a missing offset in a memory operand (`(r1)`);
// - what llvm-objdump-19 prints where LLVM has two spellings: `r1 = *(u8 *)(...)` and
//   `w1 = *(u8 *)(...)`, `*(u16 *)(...) = r2` and `= w2`, `r` or `w` registers in 32-bit atomics
//   (`lock *(u32 *)(r1 + 0x0) += r2`), `r` or `w` for narrow load-acquire and store-release;
// - 32-bit immediates written unsigned where only the low 32 bits matter (`w1 = 0xffffffff`,
//   `if w1 == 0xffffffff goto ...`, `*(u32 *)(r1 + 0) = 0xffffffff`).
//
// Refused on purpose (llvm-mc-19 accepts them): an immediate outside [-0x80000000, 0x7fffffff]
// where the CPU sign-extends it to 64 bits (`r1 = 0xffffffff` is r1 = -1; write `r1 = 0xffffffff ll`
// for the constant). Every instruction is also checked the way the kernel checks fields (see
// decode() in isa.hpp): `r1 /= 0`, `r1 <<= 64`, `r10 = 1` are errors with the kernel's reason.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/isa.hpp"

namespace tristate {

// One instruction. Errors are InputError with reasons such as
// "line 1: invalid register 'r11' (registers are r0..r10, w0..w10) in `r11 = 1`".
// Labels are not known here: a jump must give a number offset.
Decoded parse_insn(std::string_view text);

// A program text: one instruction per line. Also allowed:
// - comments from `;`, `#` or `//` to the end of the line, blank lines;
// - labels `name:` on their own line or before an instruction, used as jump and call targets:
//   `goto name`, `gotol name`, `may_goto name`, `if r1 > r2 goto name`, and `call name` for a
//   bpf-to-bpf call (src_reg 1, imm = target - (pc + 1));
// - lines of a listing: a leading slot number `12:` and the raw bytes that format_listing or
//   llvm-objdump print before the text are skipped, and so is a trailing ` <sym+0x10>`
//   annotation; the bytes are not checked against the text.
// Errors are InputError naming the line: "line 7: unknown label 'out'".
std::vector<Insn> assemble(std::string_view text);

// What assemble() knows besides the instructions: where each came from and where the labels are,
// for callers that report errors by line or name functions after their labels.
struct AsmLabel {
  std::string name;
  std::size_t pc = 0;  // the slot the label stands before
};
struct Assembly {
  std::vector<Insn> insns;
  std::vector<std::size_t> lines;  // per slot, the 1-based line of its instruction
  std::vector<AsmLabel> labels;    // in the order they are defined
};
Assembly assemble_listing(std::string_view text);

}  // namespace tristate
