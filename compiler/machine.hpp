// The interpreter's machine state and the operations helpers need (memory arguments, registers),
// shared by compiler/interpreter.cpp and compiler/helpers.cpp. Internal to compiler/.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "compiler/helper_names.hpp"
#include "compiler/interpreter.hpp"

namespace tristate {

// What a register (or a spilled stack slot) holds. Pointers keep the offset into their region in
// `value`; `region` says which frame (Stack), which map value region (MapValue) or which map
// (MapPtr).
using Kind = ValueKind;

struct RegState {
  Kind kind;
  uint16_t region;
  uint64_t value;
};

inline bool is_pointer(Kind k) { return k != Kind::Uninit && k != Kind::Scalar; }
const char* kind_name(Kind k);

// Why a run stops early (caught at the instruction that threw it).
struct Stop {
  std::string reason;
};

// A program exits from inside an instruction (LD_ABS out of bounds returns 0, the kernel's
// rewrite of it exits; a successful tail call replaces the program).
struct ExitNow {
  uint64_t r0;
};

struct Frame {
  uint8_t stack[Interpreter::kStackSize];
  uint64_t written[Interpreter::kStackSize / 64];  // one bit per byte
  uint64_t spilled;                                 // one bit per 8-byte slot holding a pointer
  RegState spill[Interpreter::kStackSize / 8];      // meaningful where `spilled` says so
  std::size_t return_pc;
  RegState saved[4];  // the caller's r6-r9

  void reset() {
    std::memset(written, 0, sizeof written);
    spilled = 0;
  }
  bool is_written(std::size_t at) const { return (written[at / 64] >> (at % 64)) & 1; }
  void mark_written(std::size_t at, std::size_t n) {
    for (std::size_t i = at; i < at + n; ++i) written[i / 64] |= uint64_t(1) << (i % 64);
  }
};

// A map value (or other helper-given memory) a register may point into.
struct Region {
  uint8_t* base;
  uint32_t size;
  bool writable;
  bool written = false;  // the program stored into it (for MapEffects)
};

struct Executor {
  const Interpreter& interp;
  const Environment& env;
  PacketResult& out;

  std::size_t prog = 0;  // index into interp.programs_
  CtxModel model = CtxModel::None;
  RegState r[11];
  Frame frames[Interpreter::kMaxFrames];
  std::size_t depth = 0;  // frames in use - 1

  // Packet programs: the buffer and where data_meta, data and data_end are in it.
  std::vector<uint8_t>* packet = nullptr;
  uint32_t meta = 0, data = 0, data_end = 0, frame_end = 0;
  uint32_t eth_start = 0;  // where the Ethernet header begins (socket filters: before data)
  std::vector<uint8_t>* ctx = nullptr;
  std::span<uint8_t> memory;  // the block of run(memory)
  std::vector<Region>& regions;  // a per-thread scratch list, emptied for each run
  uint64_t ktime_calls = 0;
  uint64_t prandom_state = 0;
  uint64_t prandom_calls = 0;
  MapEffects* map_effects = nullptr;  // RunLimits::map_effects

  Executor(const Interpreter& i, const Environment& e, PacketResult& o) : interp(i), env(e), out(o), regions(scratch_regions()) {
    regions.clear();
  }
  static std::vector<Region>& scratch_regions() {
    thread_local std::vector<Region> scratch;
    return scratch;
  }

  MapSet& maps() const;
  // Runs from slot 0 of program `prog` until exit or a fault.
  void execute(const RunLimits& limits);
  void observe(const InsnObserver& observer, const StackObserver* stack_observer, std::size_t pc) const;

  // Helper support: the memory `n` bytes at the pointer in `reg` cover, checked as the verifier
  // checks helper memory arguments (reads need initialised stack; `write` marks it initialised).
  std::span<uint8_t> mem_arg(int reg, std::size_t n, bool write, const char* what);
  uint64_t scalar_arg(int reg) const;
  const RegState& arg(int reg) const { return r[reg]; }
  // The map passed in `reg` (a map pointer from LD_IMM64).
  MapInstance& map_arg(int reg, int* index = nullptr);
  // A region for `n` bytes at `base` (deduplicated), for returning map value pointers.
  uint16_t region_for(uint8_t* base, uint32_t n, bool writable);
  // Records a map-changing helper call in map_effects (when it is kept): the helper, the map and
  // the bytes it was given.
  void note_map_call(int32_t helper, int map, std::span<const uint8_t> a, std::span<const uint8_t> b = {});
  // The skb's linear data as helpers see it (from skb->data to the end).
  std::span<uint8_t> skb_data();
  // bpf_tail_call: true when it replaced the program (which then starts at slot 0).
  bool tail_call();
  void enter_program(std::size_t index);
};

// Calls helper `id` with the arguments in r1-r5 and leaves the result in r0 (helpers.cpp).
// Throws Stop naming the helper when it is not modelled or its arguments are wrong.
void call_helper(Executor& x, int32_t id);

}  // namespace tristate
