// The disassembler: decoded instructions printed in the LLVM 19 / kernel syntax.
//
// format_insn prints exactly what `llvm-objdump-19 -d` prints for the same bytes (without the
// ` <sym+0x..>` annotation of jump targets): hex immediates and offsets, `ll` after a 64-bit
// constant, `r` registers except in 32-bit ALU, JMP32 and 32-bit atomic instructions.
// tests/compiler/objdump_golden_test.cpp checks this against llvm-objdump-19 for every
// instruction of tests/data/all_insns.s and of the benchmark corpus.
//
// Where LLVM 19 prints nothing, or prints a text that loses part of the instruction, this
// printer uses a form of its own so that parse_insn (compiler/asm.hpp) gets the exact bytes
// back. These are the only deliberate differences from llvm-objdump-19 -d:
//
//   instruction                      llvm-objdump-19 -d          here
//   bpf-to-bpf call (src_reg 1)      call 0x3                    call pc+0x3       (bpftool's "pc+")
//   kfunc call (src_reg 2)           call 0x3039                 call kfunc 0x3039 [, OFF] (OFF =
//                                                                  module BTF fd index, if not 0)
//   LD_IMM64 pseudo, hi imm != 0     ld_pseudo r1, 0x2, 0x3      ld_pseudo r1, 0x2, 0x3, 0x10
//     (hi = map value offset, module BTF fd; LLVM drops it. With hi == 0 both print the same:
//      `ld_pseudo<TAB>rD, PSEUDO, IMM` with IMM as an unsigned 32-bit hex number.)
//   LD_IND with imm != 0             r0 = *(u32 *)skb[r1]        r0 = *(u32 *)skb[r1 + 0x3]
//   32-bit atomics (opcode 0xc3)     <unknown> or the lock form  the `--mcpu=v4` form: `lock *(u32
//                                                                  *)(r1 + 0x0) += w2`,
//                                                                  `w2 = atomic_fetch_or(...)`,
//                                                                  `w2 = xchg32_32(r1 + 0x0, w2)`,
//                                                                  `w0 = cmpxchg32_32(r1 + 0x0, w0, w2)`
//     (plain -d decodes 0xc3 fetch-add as the non-fetch `lock ... += r1` and the others as
//      <unknown>; -d --mcpu=v4 prints them correctly, and that form is used here.)
//   load-acquire (LLVM 21 syntax)    <unknown>, and for u32/u64  w0 = load_acquire((u8 *)(r1 + 0x0))
//                                    the atomic add it misreads  (`r0 = ...` for u64)
//                                    (LLVM 19 ignores imm bits 8-31 of an atomic)
//   store-release (LLVM 21 syntax)   <unknown>                   store_release((u8 *)(r1 + 0x0), w2)
//                                                                  (`r2` for u64)
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "compiler/isa.hpp"

namespace tristate {

// One instruction, e.g. `w1 *= 0x3`, `r0 = *(u32 *)(r2 + 0x0)`, `if r2 > r1 goto +0x11`,
// `r1 = 0x0 ll`, `lock *(u64 *)(r0 + 0x0) += r1`, `exit`.
std::string format_insn(const Decoded& d);

struct ListingOptions {
  bool raw_bytes = false;  // print the 8 (16 for LD_IMM64) bytes like objdump does
};

// One line per instruction: "%8zu:\t[bytes\t]text\n", the number being the slot index (so an
// LD_IMM64 advances it by 2). A slot that does not decode prints as `<invalid: REASON>` and the
// listing continues with the next slot; this never throws.
std::string format_listing(std::span<const Insn> insns, const ListingOptions& opts = {});

// The spellings of operators, shared with the parser so that the two cannot drift apart.
// alu_op_spelling gives the compound assignment (`+=`, `s>>=`, `=` for Mov) and "" for Neg and
// MovSx*, which are printed as `r1 = -r1` and `r1 = (s8)r2`.
std::string_view alu_op_spelling(AluOp op);
std::string_view cond_spelling(Cond c);  // `==`, `s>`, `&`, ...

}  // namespace tristate
