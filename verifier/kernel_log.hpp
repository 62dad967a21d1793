// The kernel verifier's log_level=2 logs (Linux 6.18 format), parsed into the register and stack
// states the kernel printed, so the analyzer's states can be compared with the kernel's (issue 6).
//
// The lines that carry states:
//   `N: (op) insn      ; R1=ctx() R2=pkt(r=0) fp-8=mmmm????`  the registers and stack slots
//       instruction N touched, as they are AFTER it ran (on the path being verified);
//   `N: R1=ctx() R10=fp0`  the state BEFORE instruction N: all of it at the start of the program,
//       after a `from A to B:` line and at the entry of a subprogram (`callee:`); otherwise only
//       the registers the previous instruction touched, printed on a line of their own because
//       another message (mark_precise: ...) came between that instruction and its state;
//   `from A to B: R1=...`  the whole state before B on a path the verifier resumes
//       (`from A to B (speculative execution): ...` on speculative paths, `from A to B: safe`
//       when it is pruned: no state).
// States of a subprogram's frame start with `frameN:`. Everything else is skipped: `; source @
// file:line`, `mark_precise:`, `Live regs before insn:` and its listing, `func#0 @0`,
// `caller:`/`callee:`/`returning from callee:`/`to caller at N:` blocks (their states are
// repeated by the `N:` and `from` lines that follow), stack liveness lines `(0) frame 0 insn 89
// +live -8`, `frame 1: propagating r1`, `N: safe`, statistics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analyzer/scalar.hpp"

namespace tristate {

struct LoggedState {
  std::size_t insn = 0;
  // true: the state before `insn` (an `N: R...` or `from A to B:` line); false: the registers and
  // slots `insn` touched, after it ran (the part after ';' of an instruction line).
  bool before = false;
  // For `before` states: every register and slot of the frame is listed (unlisted registers are
  // not initialised). Partial `before` lines list the previous instruction's touched registers.
  bool full = false;
  bool speculative = false;  // on a path of speculative execution
  int frame = 0;             // the call frame the registers belong to (`frame1:`)
  std::vector<std::pair<int, std::string>> regs;   // register number, text after '=' ("pkt(off=14,r=14)", "129", "fp-4")
  std::vector<std::pair<int, std::string>> stack;  // stack offset (-8, -16, ...), text after '=' ("mmmm????", "0000scalar(...)")
};

// Every state of the log, in log order. Liveness marks (`R1_w=`, `fp-8_rw=`, older kernels) are
// dropped from the names.
std::vector<LoggedState> parse_verifier_log(std::string_view log);

// A register as the kernel prints it (print_reg_state), parsed.
struct LoggedReg {
  // The word before '(' as printed: "scalar", "ctx", "pkt", "pkt_end", "pkt_meta", "fp",
  // "map_ptr", "map_value", "map_value_or_null", "mem", "mem_or_null", "ptr_task_struct", ...
  // Constants ("129", "-1", "0xffffffff") are "scalar", stack pointers ("fp-4") "fp".
  std::string type;
  bool precise = false;  // the 'P' prefix of precise scalars
  // Every key=value in the parentheses except the eight bound keys and var_off: id, off, r, map,
  // ks, vs, imm, sz, ref_obj_id, ... (a key without '=' such as non_own_ref maps to ""). For a
  // stack pointer into another frame (`fp[1]-8`) also frame=1. An id of a scalar that was
  // copied and then added to (BPF_ADD_CONST) is printed "id=3+4" and kept as such.
  std::map<std::string, std::string> fields;
  // For scalars the value itself; for pointers their variable offset part. Bounds the text does
  // not list have the kernel's default (see kernel_log.cpp); without var_off the tnum is unknown.
  // Pointers printed without bounds or var_off have a constant variable part: imm=, or 0.
  Scalar value;
  // The pointer's fixed offset (off=, or the number of fp-4); for a scalar "id=3+4" the 4.
  int64_t off = 0;
};

// nullopt for text that is not a register as the kernel prints it.
std::optional<LoggedReg> parse_logged_reg(std::string_view text);

// A scalar exactly as the kernel prints it: a constant as a number ("129", "-1", "0xffffffff"),
// otherwise "scalar(...)" with the bounds grouped and the defaults left out ("scalar(smin=smin32=0,
// smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))"). Without id and precision mark.
std::string print_logged_scalar(const Scalar& s);

}  // namespace tristate
