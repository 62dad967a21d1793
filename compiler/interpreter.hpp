// The concrete interpreter: runs programs on the shared semantics (compiler/semantics.hpp)
// instantiated with 64-bit integers, with the memory, context, maps and helpers the Linux 6.18
// kernel gives them.
//
// Registers hold either a scalar or a typed pointer (stack of a frame, context, packet, packet
// meta, packet end, map value, map, memory block), so that every access is checked against the
// region it points into: an access the kernel's verifier would have refused, or one that would be
// out of bounds at run time, stops the run with a Fault naming the instruction. The interpreter
// never has undefined behaviour of its own, whatever the program does.
//
// Packet programs (XDP, tc, socket filters) run on a packet laid out as BPF_PROG_TEST_RUN lays
// it out (Linux 6.18): XDP data 256 bytes into a 4096-byte frame whose last 320 bytes are
// reserved, data_meta = data; tc sees the whole frame at skb->data; socket filters see it past
// the 14-byte Ethernet header (and get those bytes back zeroed, as the kernel returns them).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "compiler/context.hpp"
#include "compiler/isa.hpp"
#include "compiler/maps.hpp"
#include "compiler/program.hpp"

namespace tristate {

// Why a run stopped early, at which instruction (slot index in the program's image).
struct Fault {
  std::size_t insn = 0;
  std::string reason;
};

struct RunResult {
  uint64_t r0 = 0;
  uint64_t executed = 0;  // instructions executed, exit included (a helper call counts as one)
  std::optional<Fault> fault;
};

// What a register holds, as an observer of a run sees it.
enum class ValueKind : uint8_t { Uninit, Scalar, Stack, Ctx, Packet, PacketMeta, PacketEnd, Mem, MapValue, MapPtr };

// A register as an observer sees it. Scalars: the value. Packet and packet-meta pointers: the
// offset from data (from data_meta for meta); stack pointers: the offset from their frame's r10
// (negative), in `region` the frame (0 = the program's own); map values and memory: the offset
// into the value; the context: the offset into it.
struct ObservedReg {
  ValueKind kind = ValueKind::Uninit;
  uint16_t region = 0;
  int64_t value = 0;
};

// Called before every instruction with its slot, the call depth (0: the entry function) and r0..r10.
using InsnObserver = std::function<void(std::size_t pc, std::size_t depth, const ObservedReg (&regs)[11])>;

// Called with the observed frame's stack (kStackSize bytes; index 0 is r10 - 512) and one bit
// per byte saying whether it has been written, where the InsnObserver is called.
using StackObserver = std::function<void(std::span<const uint8_t> stack, std::span<const uint64_t> written)>;

// What a run did to its maps, for comparing two runs cheaply (the synthesizer's error): the
// map-changing helper calls in order (helper id, map, key, value or record), then the final bytes of
// every map value the program wrote through a pointer (by the order it first looked them up).
struct MapEffects {
  std::vector<uint8_t> bytes;
};

struct RunLimits {
  uint64_t max_insns = 1'000'000;  // the kernel's complexity limit, as a bound on concrete steps
  const InsnObserver* observer = nullptr;  // runs slower with one (every instruction takes the slow path)
  // With an observer: only the slots flagged here are observed (all when null), which keeps runs
  // that watch one place nearly as fast as unobserved ones.
  const std::vector<bool>* observe_at = nullptr;
  const StackObserver* stack_observer = nullptr;  // with an observer: the stack too
  MapEffects* map_effects = nullptr;  // filled (after clearing) when set
};

// A route of the table bpf_fib_lookup consults (IPv4 only; longest prefix wins).
struct FibRoute {
  uint32_t prefix = 0;     // network byte order, as in the packet
  uint8_t prefix_len = 0;
  uint32_t ifindex = 0;    // output device
  uint32_t gateway = 0;    // next hop (network byte order); 0: directly connected
  std::array<uint8_t, 6> smac{}, dmac{};  // the output device's address and the neighbour's
  uint16_t mtu = 1500;
};

// The world outside the program, as helpers and context fields see it. Changes results.
struct Environment {
  unsigned cpu = 0;                  // bpf_get_smp_processor_id, and which per-CPU copy maps use
  uint64_t ktime_ns = 1'000'000'000; // what the first bpf_ktime_get_ns returns
  uint64_t ktime_step_ns = 0;        // added for each later call
  uint64_t prandom_seed = 1;         // bpf_get_prandom_u32 draws from a generator seeded with this
  // Results of the first calls, in call order, before the formulas above take over (the
  // equivalence checker replays its counterexamples with the values its model chose).
  std::vector<uint64_t> ktime_values;
  std::vector<uint32_t> prandom_values;
  uint64_t pid_tgid = 0;             // bpf_get_current_pid_tgid
  std::string comm = "tristate";     // bpf_get_current_comm
  uint32_t ifindex = 1;              // the device a packet arrives on (the loopback, as in test runs)
  std::vector<FibRoute> fib;         // bpf_fib_lookup's table
};

// What a packet program leaves behind besides r0.
struct Redirect {
  uint32_t ifindex = 0;   // bpf_redirect's target (0 for redirect_map)
  int map = -1;           // bpf_redirect_map's map (index into the MapSet), or -1
  uint64_t key = 0;
  uint64_t flags = 0;
};

struct PacketResult : RunResult {
  std::vector<uint8_t> packet;  // the packet after the run (XDP: from data_meta to data_end)
  std::vector<uint8_t> ctx;     // the context after the run (layout of ctx_model)
  std::vector<std::string> trace;  // bpf_trace_printk output, one line per call
  std::optional<Redirect> redirect;
  uint32_t tail_calls = 0;
};

// The input of one run: the packet (packet programs) and the context bytes. For __sk_buff and
// xdp_md, `ctx` is what BPF_PROG_TEST_RUN's ctx_in takes (empty: all zero), and only the fields
// marked user_settable in compiler/context.hpp may be non-zero; the rest is derived from the
// packet as the kernel derives it. Tracing programs read `ctx` as their whole context.
struct RunInput {
  std::span<const uint8_t> packet;
  std::span<const uint8_t> ctx;
};

class Interpreter {
 public:
  static constexpr std::size_t kStackSize = 512;
  static constexpr std::size_t kMaxFrames = 8;
  static constexpr uint32_t kMaxTailCalls = 33;
  static constexpr std::size_t kXdpHeadroom = 256, kXdpFrameSize = 4096, kXdpTailroom = 320;

  // A bare program with no context type, maps or other programs (raw bytecode). Decodes and
  // checks the image once (InputError if the kernel would refuse its encoding).
  explicit Interpreter(std::span<const Insn> image) : Interpreter(image, 0) {}
  // A bare program of type `prog_type` (an enum bpf_prog_type value; 0: no context type).
  Interpreter(std::span<const Insn> image, uint32_t prog_type);
  // Every program of `module`, with its maps in `maps` (made from module.maps: the caller keeps
  // it, seeds it and reads it; it must outlive the interpreter). Tail calls reach the module's
  // programs by their index in module.programs.
  Interpreter(const Module& module, MapSet& maps);

  std::size_t program_count() const { return programs_.size(); }
  CtxModel ctx_model(std::size_t program) const { return programs_[program].model; }

  // Runs program 0 with r1 = `r1`, an opaque number, and r10 at the top of a fresh stack.
  RunResult run(uint64_t r1 = 0, const RunLimits& limits = {}) const;

  // Runs program 0 with r1 pointing to `memory` (read and written in place) and r2 holding its
  // size: the convention of BPF ISA conformance suites, for programs without a context type.
  RunResult run(std::span<uint8_t> memory, const RunLimits& limits = {}) const;

  // Runs `program` on `input` as BPF_PROG_TEST_RUN would. InputError when the input is one the
  // kernel refuses before running (a packet shorter than the 14-byte Ethernet header or too big
  // for the frame, context bytes it does not take, a context type the interpreter lacks).
  PacketResult run(std::size_t program, const RunInput& input, const Environment& env = {},
                   const RunLimits& limits = {}) const;
  // The same, into `out`, whose buffers are reused: the form for loops over many inputs.
  void run(std::size_t program, const RunInput& input, const Environment& env, const RunLimits& limits,
           PacketResult& out) const;

  // Replaces the one-slot instruction at `slot` of `program` (the search's edits, applied in
  // place). Returns the kernel's reason when it refuses the instruction's encoding, and then
  // changes nothing. Jump targets are not checked: callers replace straight-line code only.
  std::optional<std::string> replace(std::size_t program, std::size_t slot, const Insn& insn);

 private:
  // The hot path's view of an ALU instruction: one code for (operation, width, operand kind),
  // so that one switch dispatches it (0: not an ALU instruction).
  struct FastAlu {
    uint8_t code = 0;
    Reg dst = 0;
    Reg src = 0;
    int32_t imm = 0;
  };
  struct Prog {
    std::vector<Decoded> by_slot;  // indexed by slot; the second slot of LD_IMM64 is never reached
    std::vector<FastAlu> fast;     // indexed like by_slot
    // For LD_IMM64 slots of maps and global data: which map, and the offset into its value
    // (-1: the map itself). Indexed like by_slot; map -1 elsewhere.
    std::vector<MapRef> map_refs;
    CtxModel model = CtxModel::None;
    std::string name;
  };
  static FastAlu fast_of(const Decoded& d);
  static std::vector<FastAlu> fast_view(const std::vector<Decoded>& by_slot);

  std::vector<Prog> programs_;
  MapSet* maps_ = nullptr;

  friend struct Executor;
};

}  // namespace tristate
