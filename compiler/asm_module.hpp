// Programs written by hand: assembly-text modules (`.s`, `.asm`) and `.srctgt` pairs, in the
// assembler's syntax (compiler/asm.hpp) with the program type and maps given in comment lines.
//
// An assembly module is one program. Before its first instruction, `;` comment lines may give
//
//   ; type: xdp                                         the program type, by libbpf's name or a
//                                                       section name (xdp, sched_cls or tc,
//                                                       socket_filter or socket, ...); default xdp
//   ; map NAME TYPE key=K value=V entries=N [flags=F]   a map; TYPE by libbpf's name (array, hash,
//                                                       percpu_array, percpu_hash, lru_hash,
//                                                       lpm_trie, devmap, prog_array, ringbuf, ...)
//
// Maps are numbered from 0 in the order they are declared, and the code names them by number:
//
//   ld_pseudo r1, 0x1, I          BPF_PSEUDO_MAP_FD: map I itself, for helpers such as
//                                 bpf_map_lookup_elem
//   ld_pseudo r1, 0x2, I, OFF     BPF_PSEUDO_MAP_VALUE: the address of byte OFF of map I's value;
//                                 as in the kernel, only for an array with entries=1 and
//                                 OFF < value; such a map is global data (MapDef::internal, zeros
//                                 at the start, section ".data.NAME")
//
// (0x5 and 0x6, the kernel's fd_array forms, are read the same way.) Each becomes a relocation
// against the map, as the ELF reader gives for clang's objects; the instruction stays as written.
// `call NAME` to a label is a bpf-to-bpf call: every call target starts a subprogram, named after
// its label ("sub_<slot>" for `call pc+N`), which runs to the next one. The program is checked as
// the kernel checks structure before types (build_cfg): a jump out of its function, unreachable
// instructions, a function whose last instruction is not exit or goto. Every error is an
// InputError naming the file, the program and the line (and the instruction, when there is one).
//
// A .srctgt file is two programs, src and tgt, and the verdict expected from comparing them:
//
//   ; one-line description of what the pair tests       the first `;` line, always
//   ; type: xdp                                         header directives, shared by both
//   ; map counts array key=4 value=8 entries=4
//   ; expect: equivalent                                required: equivalent, not-equivalent
//                                                       or unknown
//   ; witness: packet=HEX                               optional: an input (packet bytes) on
//                                                       which the programs differ
//   ; window: TEXT                                      optional, kept as written
//   --- src
//       r0 = 2
//       exit
//   --- tgt
//       r0 = 1
//       r0 += 1
//       exit
//
// The header holds only comments and directives; each half is assembled as a module of its own
// with the header's type and maps (programs "src" and "tgt"), and line numbers in errors are the
// file's. A map that either half reads by direct value address is global data in both, so the two
// modules have identical maps. Directives inside a half are refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/program.hpp"

namespace tristate {

struct AsmModuleOptions {
  std::string prog_name;                   // empty: the file's stem
  std::string default_prog_type = "xdp";   // when the text has no `; type:` line
};

// The module of one program written in `text`; `path` is what Module::path and errors name.
Module assemble_module(std::string_view text, const std::string& path, const AsmModuleOptions& opts = {});

struct SrcTgtWitness {
  std::vector<uint8_t> packet;
};

struct SrcTgt {
  std::string path;
  std::string description;
  Module src, tgt;
  std::string expect;  // "equivalent", "not-equivalent" or "unknown"
  std::optional<std::string> window;
  std::optional<SrcTgtWitness> witness;
};

SrcTgt parse_srctgt(std::string_view text, const std::string& path);
SrcTgt read_srctgt(const std::string& path);

}  // namespace tristate
