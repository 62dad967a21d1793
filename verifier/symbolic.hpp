// The Z3 encoding of BPF programs: the shared instruction semantics (compiler/semantics.hpp)
// instantiated on Z3 bit-vectors, driven by a path-merging symbolic executor.
//
// One SymbolicWorld holds the inputs every program of a check sees (the packet, the context
// fields, the maps' initial contents, helper results in call order); it owns nothing global, so
// checks run in parallel threads with one world and one z3::context each.
//
// The executor walks a program's CFG in a topological order of its unrolled, inlined form: each
// program point (pc, call stack, back edges taken so far) collects the states that reach it, states
// of the same shape (register kinds, stack pointer offsets, effects count) are merged with `ite`
// on their path conditions, and the point runs once. Bounded loops are unrolled up to
// EncodeOptions::unroll back edges per path; paths beyond are collected in Encoding::exceeded.
//
// Memory is kept per region, as K2 found fastest: stack bytes by concrete offset per frame (with
// an initialised flag per byte), the packet as an array from frame offset to byte with a symbolic
// length, context fields by offset, and per map an array from (key, value offset) to byte plus an
// array from key to presence. Pointers carry their region statically; only their offsets are
// symbolic (stack offsets are concrete).
#pragma once

#include <z3++.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/context.hpp"
#include "compiler/program.hpp"
#include "compiler/semantics.hpp"

namespace tristate {

// The semantics' value domain on Z3: 64-bit bit-vectors and Z3 Booleans. Operations on two
// constants are folded through ConcreteDomain (the same meaning, computed here), so that loop
// counters and other concrete values stay constants and decide their branches while encoding.
struct Z3Domain {
  z3::context& c;
  using Value = z3::expr;
  using Bool = z3::expr;
  using C = ConcreteDomain;

  static bool known(const Value& a, uint64_t& v) { return a.is_numeral_u64(v); }
  static Value num(const Value& like, uint64_t v) { return like.ctx().bv_val(v, 64); }
  template <class Op, class Build>
  static Value fold(const Value& a, const Value& b, Op op, Build build) {
    uint64_t x = 0, y = 0;
    if (known(a, x) && known(b, y)) return num(a, op(x, y));
    return build();
  }
  template <class Op, class Build>
  static Bool test(const Value& a, const Value& b, Op op, Build build) {
    uint64_t x = 0, y = 0;
    if (known(a, x) && known(b, y)) return a.ctx().bool_val(op(x, y));
    return build();
  }

  Value constant(uint64_t v) const { return c.bv_val(v, 64); }
  static Value add(const Value& a, const Value& b) { return fold(a, b, C::add, [&] { return a + b; }); }
  static Value sub(const Value& a, const Value& b) { return fold(a, b, C::sub, [&] { return a - b; }); }
  static Value mul(const Value& a, const Value& b) { return fold(a, b, C::mul, [&] { return a * b; }); }
  // Division and remainder keep SMT-LIB's meaning, but are built narrow where that is exact: by
  // the constants 1 and -1 and by powers of two, and on 32 bits when both operands are
  // zero-extended 32-bit values (BPF's 32-bit division). A 64-bit divider is what makes Z3 slow.
  static Value udiv(const Value& a, const Value& b) {
    return fold(a, b, C::udiv, [&] {
      uint64_t k = 0;
      if (b.is_numeral_u64(k) && k != 0 && (k & (k - 1)) == 0) return z3::lshr(a, num(a, __builtin_ctzll(k)));
      if (auto n = narrow32(a, b)) return z3::zext(z3::udiv(n->first, n->second), 32);
      return z3::udiv(a, b);
    });
  }
  static Value urem(const Value& a, const Value& b) {
    return fold(a, b, C::urem, [&] {
      uint64_t k = 0;
      if (b.is_numeral_u64(k) && k != 0 && (k & (k - 1)) == 0) return a & num(a, k - 1);
      if (auto n = narrow32(a, b)) return z3::zext(z3::urem(n->first, n->second), 32);
      return z3::urem(a, b);
    });
  }
  static Value sdiv(const Value& a, const Value& b) {  // bvsdiv
    return fold(a, b, C::sdiv, [&] {
      uint64_t k = 0;
      if (b.is_numeral_u64(k) && k == 1) return a;
      if (b.is_numeral_u64(k) && k == ~uint64_t(0)) return -a;
      return a / b;
    });
  }
  static Value srem(const Value& a, const Value& b) {
    return fold(a, b, C::srem, [&] {
      uint64_t k = 0;
      if (b.is_numeral_u64(k) && (k == 1 || k == ~uint64_t(0))) return num(a, 0);
      return z3::srem(a, b);
    });
  }
  // (x, y) when a and b are 64-bit zero extensions of 32-bit x and y (or constants below 2^32).
  static std::optional<std::pair<z3::expr, z3::expr>> narrow32(const Value& a, const Value& b) {
    const auto low = [](const z3::expr& e) -> std::optional<z3::expr> {
      uint64_t k = 0;
      if (e.is_numeral_u64(k)) {
        if (k >> 32) return std::nullopt;
        return e.ctx().bv_val(k, 32);
      }
      if (e.is_app() && e.decl().decl_kind() == Z3_OP_ZERO_EXT && e.arg(0).get_sort().bv_size() == 32) return e.arg(0);
      return std::nullopt;
    };
    auto x = low(a), y = low(b);
    if (!x || !y) return std::nullopt;
    return std::make_pair(*x, *y);
  }
  static Value band(const Value& a, const Value& b) { return fold(a, b, C::band, [&] { return a & b; }); }
  static Value bor(const Value& a, const Value& b) { return fold(a, b, C::bor, [&] { return a | b; }); }
  static Value bxor(const Value& a, const Value& b) { return fold(a, b, C::bxor, [&] { return a ^ b; }); }
  static Value shl(const Value& a, const Value& n) { return fold(a, n, C::shl, [&] { return z3::shl(a, n); }); }
  static Value lshr(const Value& a, const Value& n) { return fold(a, n, C::lshr, [&] { return z3::lshr(a, n); }); }
  static Value ashr(const Value& a, const Value& n) { return fold(a, n, C::ashr, [&] { return z3::ashr(a, n); }); }
  static Value neg(const Value& a) {
    uint64_t x = 0;
    return known(a, x) ? num(a, C::neg(x)) : -a;
  }
  static Value zext(const Value& a, unsigned bits) {
    uint64_t x = 0;
    if (known(a, x)) return num(a, C::zext(x, bits));
    return bits >= 64 ? a : z3::zext(a.extract(bits - 1, 0), 64 - bits);
  }
  static Value sext(const Value& a, unsigned bits) {
    uint64_t x = 0;
    if (known(a, x)) return num(a, C::sext(x, bits));
    return bits >= 64 ? a : z3::sext(a.extract(bits - 1, 0), 64 - bits);
  }
  static Value bswap(const Value& a, unsigned bits) {
    uint64_t x = 0;
    if (known(a, x)) return num(a, C::bswap(x, bits));
    z3::expr r = a.extract(7, 0);
    for (unsigned i = 1; i < bits / 8; ++i) r = z3::concat(r, a.extract(8 * i + 7, 8 * i));
    return bits >= 64 ? r : z3::zext(r, 64 - bits);
  }
  static Value ite(const Bool& c, const Value& a, const Value& b) {
    if (c.is_true() || z3::eq(a, b)) return a;
    if (c.is_false()) return b;
    return z3::ite(c, a, b);
  }
  static Bool eq(const Value& a, const Value& b) {
    if (z3::eq(a, b)) return a.ctx().bool_val(true);
    return test(a, b, C::eq, [&] { return a == b; });
  }
  static Bool ult(const Value& a, const Value& b) { return test(a, b, C::ult, [&] { return z3::ult(a, b); }); }
  static Bool ule(const Value& a, const Value& b) { return test(a, b, C::ule, [&] { return z3::ule(a, b); }); }
  static Bool slt(const Value& a, const Value& b) { return test(a, b, C::slt, [&] { return a < b; }); }
  static Bool sle(const Value& a, const Value& b) { return test(a, b, C::sle, [&] { return a <= b; }); }
  static Bool lnot(const Bool& a) {
    if (a.is_true()) return a.ctx().bool_val(false);
    if (a.is_false()) return a.ctx().bool_val(true);
    return !a;
  }
};

// The inputs of one check, shared by the programs it compares.
class SymbolicWorld {
 public:
  // Packet programs: XDP packets of 14..3520 bytes, skb packets of 14..3712 (the test-run
  // frames the interpreter models, compiler/interpreter.hpp).
  SymbolicWorld(z3::context& c, CtxModel model, std::vector<MapDef> maps);

  z3::context& ctx() const { return c_; }
  CtxModel model() const { return model_; }
  const std::vector<MapDef>& maps() const { return maps_; }

  z3::expr packet() const { return packet_; }      // Array(BV64 -> BV8): the frame's bytes
  z3::expr length() const { return length_; }      // BV64: the frame's length
  uint64_t data_start() const { return model_ == CtxModel::SocketFilter ? 14 : 0;  }
  // Facts every input satisfies (the packet length's range, the CPU number's).
  z3::expr assumptions() const { return assumptions_; }
  // Further facts that make an input one the interpreter can replay: context fields a test run
  // cannot set are zero there.
  z3::expr replayable() const { return replayable_; }

  // The value of context field `f` before the program runs, f.size bytes wide (zero-extended
  // from the kernel's real field, f.target bytes).
  z3::expr field(const CtxField& f);
  // Tracing programs: their read-only context, Array(BV64 -> BV8).
  z3::expr tracing_ctx() const { return tracing_ctx_; }

  // Map `m`'s contents before the run: value bytes by (key ++ 32-bit offset), and presence by
  // key (arrays: every index below max_entries is present).
  z3::expr map_memory(std::size_t m) const { return memory_[m]; }
  z3::expr map_present(std::size_t m) const { return present_[m]; }
  z3::sort map_index_sort(std::size_t m) const;  // BV(8 key_size + 32)
  // Hash maps (not LRU): how many entries map `m` holds before the run (BV32, at most
  // max_entries), so that a new key can find it full (-E2BIG).
  z3::expr map_count(std::size_t m) const { return count_[m]; }
  static bool counts_entries(uint32_t map_type);
  static bool is_array_like(uint32_t map_type);
  static bool is_hash_like(uint32_t map_type);

  // The i-th result of bpf_get_prandom_u32 (BV64, upper half zero) and of bpf_ktime_get_ns.
  z3::expr prandom(unsigned i);
  z3::expr ktime(unsigned i);
  z3::expr cpu() const { return cpu_; }
  // bpf_get_current_comm's task name: 15 bytes (the 16th is its NUL).
  z3::expr comm_byte(unsigned i) const { return comm_[i]; }
  // The i-th bpf_probe_read*: what it returns and the bytes it gives (replayable: the
  // interpreter has no memory to read, so -EFAULT and zeros).
  z3::expr probe_result(unsigned i);
  z3::expr probe_byte(unsigned i, unsigned byte);
  // Where a region starts, for pointers used as numbers (privileged programs may): a symbol,
  // which the interpreter's replays fix to its pretend address when `pretend` is given.
  z3::expr region_base(const std::string& name, std::optional<uint64_t> pretend);
  // Narrows replayable() by a fact (the interpreter's world is one of the possible ones).
  void replayable_when(const z3::expr& fact) { replayable_ = replayable_ && fact; }
  z3::expr pid_tgid() const { return pid_tgid_; }
  unsigned prandom_count() const { return unsigned(prandom_.size()); }
  unsigned ktime_count() const { return unsigned(ktime_.size()); }

  // Fresh constants (never shared): arbitrary values and skolem witnesses.
  z3::expr fresh(const std::string& name, unsigned bits);

 private:
  z3::context& c_;
  CtxModel model_;
  std::vector<MapDef> maps_;
  z3::expr packet_, length_, assumptions_, replayable_, tracing_ctx_, cpu_, pid_tgid_;
  std::vector<z3::expr> memory_, present_, count_, prandom_, ktime_, comm_;
  std::map<std::pair<unsigned, unsigned>, z3::expr> probes_;
  std::map<std::string, z3::expr> bases_;
  std::map<uint32_t, z3::expr> fields_;
  unsigned fresh_count_ = 0;
};

enum class SymKind : uint8_t { Uninit, Scalar, Stack, Ctx, Packet, PacketEnd, PacketMeta, MapValue, MapPtr };
const char* sym_kind_name(SymKind k);

// A register or a spilled pointer. Scalars keep their value in `v`; packet pointers and map value
// pointers their offset (frame offset; offset into the value); stack and context pointers a
// concrete offset in `off`. `id` is the frame (Stack), the lookup (MapValue) or the map (MapPtr).
struct SymReg {
  SymKind kind = SymKind::Uninit;
  uint32_t id = 0;
  int64_t off = 0;
  std::optional<z3::expr> v;

  bool same_shape(const SymReg& o) const {
    return kind == o.kind && id == o.id && ((kind != SymKind::Stack && kind != SymKind::Ctx) || off == o.off);
  }
};

// One byte of memory kept by offset: byte `index` of the little-endian value `whole` (which is
// `size` bytes wide), and whether it has been written.
struct SymByte {
  z3::expr whole;
  uint8_t index = 0;
  uint8_t size = 1;
  z3::expr init;
  z3::expr value() const { return size == 1 ? whole : whole.extract(8 * index + 7, 8 * index); }
};

struct SymFrame {
  std::map<int64_t, SymByte> bytes;  // by offset from the frame's top (-512..-1)
  std::map<int64_t, SymReg> spills;  // pointers spilled to 8-byte aligned slots
  std::size_t return_pc = 0;
  SymReg saved[4];                   // the caller's r6-r9
};

// A side-effecting helper call whose order matters (bpf_trace_printk, bpf_ringbuf_output): its
// id and the arguments that matter to the world.
struct SymEffect {
  int32_t helper = 0;
  std::vector<z3::expr> args;
};

// A map value a lookup returned (or global data): which map, under which key, and when it is
// not NULL.
struct SymLookup {
  std::size_t map = 0;
  z3::expr key;
  z3::expr nonnull;
};

struct SymState {
  z3::expr guard;  // the path condition
  std::size_t pc = 0;
  SymReg r[11];
  std::vector<SymFrame> frames;
  z3::expr packet;
  std::vector<z3::expr> memory, present, count;  // per map
  std::map<int64_t, SymByte> ctx;         // context bytes written
  std::vector<SymEffect> effects;
  // Where the packet goes after the run, as the last successful bpf_redirect or
  // bpf_redirect_map set it: set (1 bit) ++ ifindex (32) ++ map + 1 (32) ++ key (64) ++ flags (64).
  z3::expr redirect;
  unsigned prandom = 0, ktime = 0, probes = 0, back_edges = 0;
};

// A safety condition at one instruction: `holds` must be true on every input.
struct Obligation {
  z3::expr holds;
  std::size_t pc = 0;
  std::string what;
};

struct EncodeOptions {
  unsigned unroll = 64;         // back edges a path may take
  std::size_t max_steps = 200000;  // point visits before giving up ("too many paths")
  bool break_add = false;          // tests only: encode ALU add as sub, a known encoding bug
};

struct Encoding {
  std::vector<SymState> outcomes;  // the states at exit (or at the window's end)
  std::vector<Obligation> obligations;
  z3::expr exceeded;               // some path takes more back edges than the bound
  std::optional<std::string> unsupported;  // the first construct not modelled, with its pc
  std::vector<SymLookup> lookups;  // every map value pointer made, in creation order
  std::vector<std::pair<std::size_t, z3::expr>> keys;  // (map, key) of every map helper call
  z3::expr safe() const;           // every obligation
};

// Where an encoding starts and stops: a whole program (entry at 0, stop at exit), or a window
// [start, end) started from `entry` states.
struct EncodeRegion {
  std::size_t start = 0;
  std::optional<std::size_t> end;  // stop when control reaches this pc (a window's end)
};

// Encodes `program` of `module` in `world`. Never throws for programs it cannot model: it
// reports them in Encoding::unsupported. InputError only for an image the CFG builder refuses.
Encoding encode_program(SymbolicWorld& world, const Module& module, const Program& program,
                        const EncodeOptions& options = {});

// Encodes the window [start, end) of `program` from the given entry state (whose registers and
// stack hold the live-in values; its map value pointers index `lookups`). Control leaving the
// window other than at `end` (an exit, a jump past it) is unsupported.
Encoding encode_window(SymbolicWorld& world, const Module& module, const Program& program, std::size_t start,
                       std::size_t end, const SymState& entry, std::vector<SymLookup> lookups = {},
                       const EncodeOptions& options = {});

// The states in which `program` first reaches `end` (paths that exit before are dropped): the
// shapes a window starting there is entered with.
Encoding encode_prefix(SymbolicWorld& world, const Module& module, const Program& program, std::size_t end,
                       const EncodeOptions& options = {});

// Byte `at` of the context in state `s` (written, or as the world gave it).
z3::expr context_byte(SymbolicWorld& world, const SymState& s, int64_t at);

// Folds `from` into `into`, whose paths are disjoint: every value becomes ite(into.guard, into's,
// from's) and the guard their disjunction. With `whole`, registers, frames and stack too (the
// states must then have the same shape); without, only what a run leaves behind: r0, packet,
// maps, context, redirect and effects (which must have the same helpers and widths).
void merge_state(SymbolicWorld& world, SymState& into, const SymState& from, bool whole);

// The initial state of a program in `world` (r1 the context, r10 the frame pointer).
SymState initial_state(SymbolicWorld& world);

}  // namespace tristate
