// Scalars as the Linux 6.18 verifier tracks them (issue 6, first part): a tnum together with the
// eight bounds (unsigned and signed, 64 and 32 bits), the deductions the kernel makes between
// them after every operation (reg_bounds_sync), and the ALU transfer functions
// (adjust_scalar_min_max_vals and its scalar_min_max_* / scalar32_min_max_* helpers). Facts from
// kernel/bpf/verifier.c of Linux 6.18, written here from their description; the exact precision
// is to be checked against the kernel's log_level=2 states (issue 6), soundness is tested here
// against the concrete semantics (tests/analyzer/scalar_test.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "analyzer/tnum.hpp"
#include "compiler/isa.hpp"

namespace tristate {

struct Scalar {
  Tnum var{0, ~uint64_t(0)};
  uint64_t umin = 0, umax = ~uint64_t(0);
  int64_t smin = INT64_MIN, smax = INT64_MAX;
  uint32_t u32_min = 0, u32_max = ~uint32_t(0);
  int32_t s32_min = INT32_MIN, s32_max = INT32_MAX;

  static Scalar unknown() { return {}; }
  static Scalar constant(uint64_t v);
  // The 32-bit constant `v`, zero-extended (what a 32-bit ALU result holds).
  static Scalar constant32(uint32_t v) { return constant(v); }

  bool is_const() const { return var.mask == 0; }
  // Whether the concrete value `v` is one this state allows.
  bool contains(uint64_t v) const;
  friend bool operator==(const Scalar&, const Scalar&) = default;
  // As the kernel's log prints a scalar: "scalar(smin=...,umax=...,var_off=(0x0; 0xff))".
  std::string to_string() const;
};

// The kernel's reg_bounds_sync: bounds from the tnum, the bounds' deductions among themselves,
// the tnum from the bounds, and the bounds from the tnum again.
void sync_bounds(Scalar& s);

// dst = dst OP src on scalars, 64-bit or 32-bit (then zero-extended), as the verifier computes it.
// Division and modulo (the verifier knows nothing of their results but that they are scalars),
// byte swaps and sign-extending moves give what the kernel gives them.
Scalar scalar_alu(AluOp op, bool is64, const Scalar& dst, const Scalar& src);

// What a conditional jump `if dst COND src` decides about two scalars, on 64 bits or on their low
// 32 bits (JMP32): true or false when every pair of values agrees (the kernel's
// is_scalar_branch_taken, from the bounds and the tnums), nothing otherwise.
std::optional<bool> branch_decided(Cond cond, bool is64, const Scalar& dst, const Scalar& src);

// Narrows both scalars to the pairs for which `dst COND src` is `taken` (the kernel's
// regs_refine_cond_op followed by reg_bounds_sync). Returns false when no pair can take that
// direction (the branch is dead), leaving the scalars unspecified.
bool refine_branch(Cond cond, bool is64, bool taken, Scalar& dst, Scalar& src);

}  // namespace tristate
