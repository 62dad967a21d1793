// Native code for XDP programs, from LLVM 19's ORC JIT.
//
// The program is translated to LLVM IR one instruction at a time, the ALU, byte-swap and jump
// instructions through the shared semantics (compiler/semantics.hpp, instantiated here with a
// domain whose values are IR values), then optimised at -O2 and compiled for this CPU. Memory
// accesses are plain loads and stores with no checks: the analyzer has accepted the program (a
// PacketProgram refuses it otherwise), which is what the kernel's JIT relies on as well. The
// context (`struct xdp_md`) is the JitFrame below: the program's 32-bit reads of data, data_end
// and data_meta become 64-bit reads of real addresses into the buffer, as the kernel rewrites
// them, so the program reads and writes the packet in place.
//
// Helpers: map lookup/update/delete, ringbuf output, ktime (from the Environment, as the
// interpreter does), smp_processor_id, redirect, redirect_map, xdp_adjust_head/tail/meta.
// Other helpers, tail calls, callbacks, may_goto, arena and kfunc calls are refused at compile time
// with an InputError naming the instruction: run such programs with the interpreter.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "compiler/interpreter.hpp"
#include "compiler/maps.hpp"
#include "compiler/program.hpp"

namespace tristate::datapath {

// What a JIT-compiled program receives as r1 and leaves its results in.
struct JitFrame {
  // In: addresses in the buffer (data_meta = data when there is no metadata), the frame's
  // bounds for adjust_head/tail, and xdp_md's other fields.
  uint64_t data = 0, data_end = 0, data_meta = 0;
  uint64_t frame_start = 0, frame_end = 0;
  uint32_t ingress_ifindex = 1, rx_queue_index = 0, egress_ifindex = 0, reserved = 0;
  // Out: bpf_redirect / bpf_redirect_map's target, when `redirected`. Written by the helpers
  // and read back field by field, with the same widths (set_redirect, redirect_of): a wide load
  // spanning several narrow stores made just before would stall (no store-to-load forwarding).
  Redirect redirect;
  bool redirected = false;
  // Run state and the world the helpers see.
  uint64_t ktime_calls = 0;
  const Environment* env = nullptr;
  MapSet* maps = nullptr;
};

inline void set_redirect(JitFrame& f, const Redirect& r) {
  volatile Redirect& out = f.redirect;
  out.ifindex = r.ifindex;
  out.map = r.map;
  out.key = r.key;
  out.flags = r.flags;
  f.redirected = true;
}
inline std::optional<Redirect> redirect_of(const JitFrame& f) {
  if (!f.redirected) return std::nullopt;
  const volatile Redirect& in = f.redirect;
  return Redirect{in.ifindex, in.map, in.key, in.flags};
}

class JitProgram {
 public:
  // Compiles program `program` of `module` (an XDP program the analyzer accepts) on `maps`
  // (made from module.maps; it must outlive this), running as CPU `cpu` (which per-CPU array
  // copies inlined lookups address; the helpers read Environment::cpu, which must agree).
  // InputError naming the file, program and instruction for what the JIT does not support; the
  // analyzer's refusal as well.
  JitProgram(const Module& module, const Program& program, MapSet& maps, unsigned cpu = 0);
  ~JitProgram();
  JitProgram(const JitProgram&) = delete;

  // Runs on the frame (set up by the caller; redirect cleared, ktime_calls reset): r0.
  uint64_t run(JitFrame& frame) const { return entry_(reinterpret_cast<uint64_t>(&frame), 0, 0, 0, 0, &frame); }

 private:
  using Entry = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, JitFrame*);
  struct Engine;
  std::unique_ptr<Engine> engine_;
  Entry entry_ = nullptr;
};

}  // namespace tristate::datapath
