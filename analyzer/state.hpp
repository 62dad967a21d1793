// The verifier state the analyzer tracks, as the Linux 6.18 verifier tracks it (struct
// bpf_reg_state, bpf_stack_state, bpf_func_state, bpf_verifier_state): typed registers with fixed
// and variable offsets, ids and packet ranges; stack slots byte by byte (invalid, misc, zero,
// spilled register); one frame per active bpf-to-bpf call. Printed in the kernel's log style, and
// compared for state pruning (the kernel's states_equal with RANGE_WITHIN).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/scalar.hpp"
#include "compiler/program.hpp"

namespace tristate {

enum class RegType : uint8_t {
  NotInit,
  Scalar,
  Ctx,             // PTR_TO_CTX
  Stack,           // PTR_TO_STACK (frame in RegState::frame)
  Packet,          // PTR_TO_PACKET
  PacketMeta,      // PTR_TO_PACKET_META
  PacketEnd,       // PTR_TO_PACKET_END
  MapPtr,          // CONST_PTR_TO_MAP
  MapValue,        // PTR_TO_MAP_VALUE
  MapValueOrNull,  // PTR_TO_MAP_VALUE | PTR_MAYBE_NULL
  Mem,             // PTR_TO_MEM (helper-given memory of mem_size bytes)
  MemOrNull,
  Func,            // PTR_TO_FUNC (LD_IMM64 of a callback)
};

// The kernel's name for a type in logs and messages ("scalar", "map_value_or_null", "fp").
const char* reg_type_name(RegType t);
inline bool is_pointer(RegType t) { return t != RegType::NotInit && t != RegType::Scalar; }
inline bool may_be_null(RegType t) { return t == RegType::MapValueOrNull || t == RegType::MemOrNull; }
inline bool is_packet(RegType t) { return t == RegType::Packet || t == RegType::PacketMeta; }

struct RegState {
  RegType type = RegType::NotInit;
  // Scalars: the value. Pointers: the variable part of the offset (constant 0 when there is none).
  Scalar var = Scalar::constant(0);
  int32_t off = 0;     // pointers: the fixed offset; linked scalars (add_const): the delta
  uint32_t id = 0;     // scalars: copies share an id; packet pointers: range id; or-null: null-check id
  bool add_const = false;  // scalar linked to `id` plus `off` (the kernel's BPF_ADD_CONST)
  int32_t range = 0;   // packet pointers: bytes from the packet start known to be in the packet
  int32_t map = -1;    // MapPtr, MapValue(OrNull): index into the program's maps
  uint32_t mem_size = 0;  // Mem(OrNull): bytes; Func: the function's first slot
  uint8_t frame = 0;   // Stack: the frame it points into

  static RegState scalar(const Scalar& s) { RegState r; r.type = RegType::Scalar; r.var = s; return r; }
  static RegState unknown() { return scalar(Scalar::unknown()); }
  static RegState constant(uint64_t v) { return scalar(Scalar::constant(v)); }
  static RegState pointer(RegType t, int32_t off = 0) { RegState r; r.type = t; r.off = off; return r; }
  bool is_const() const { return type == RegType::Scalar && var.is_const(); }
  bool is_null() const { return is_const() && var.var.value == 0; }
  friend bool operator==(const RegState&, const RegState&) = default;
};

enum class SlotType : uint8_t { Invalid, Spill, Misc, Zero };

// One 8-byte stack slot. type[i] describes the byte at (slot top - 1 - i): type[0] is the highest
// address, as the kernel orders slot_type; a spill of n bytes marks type[8-n..7].
struct StackSlot {
  std::array<SlotType, 8> type{};
  RegState spilled;
  bool is_spill() const { return type[7] == SlotType::Spill; }
  friend bool operator==(const StackSlot&, const StackSlot&) = default;
};

inline constexpr int kMaxStack = 512;
inline constexpr int kMaxFrames = 8;

struct FrameState {
  std::array<RegState, 11> regs;
  std::vector<StackSlot> stack;  // stack[i] covers fp-8(i+1) .. fp-8i-1; grows as used
  std::size_t callsite = 0;      // slot of the call that made the frame (entry: 0)
  std::size_t function = 0;      // index into the program's functions
  int depth_used = 0;            // bytes of stack this frame has touched
  friend bool operator==(const FrameState&, const FrameState&) = default;
};

struct VerifierState {
  std::vector<FrameState> frames;
  FrameState& cur() { return frames.back(); }
  const FrameState& cur() const { return frames.back(); }
  friend bool operator==(const VerifierState&, const VerifierState&) = default;
};

// What the log prints for a register: "scalar(smin=...)", "42", "pkt(off=14,r=14)", "fp-8".
// `maps` names maps by index.
std::string format_reg(const RegState& r, const std::vector<MapDef>& maps);
// The kernel's print of a scalar: a constant as a number, else "scalar(...)" with its bounds.
std::string format_scalar(const Scalar& s, uint32_t id = 0);
// A whole frame's registers and initialised stack slots ("R1=ctx() R10=fp0 fp-8=mmmm????").
std::string format_frame(const FrameState& f, const std::vector<MapDef>& maps);

}  // namespace tristate
