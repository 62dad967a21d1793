// Test support: generated programs for a verdict differential against the kernel verifier. Each
// family builds a program the verifier should accept ("<family>/ok" and other safe variants) or
// one mutation of it that breaks one rule ("packet/missing_check", "map/no_null_check", ...).
// The label says what the generator meant; the kernel decides the truth, and
// tests/verifier/verifier_programs_test.cpp measures how often the two agree per label.
//
// The intentions are those of the privileged verifier (root, as the project's machines load
// programs): reading uninitialised stack (also as a helper's key), pointer - pointer, and leaking
// pointers into maps, packets and return values are allowed there, so the variants that do so
// are labelled safe. Facts of Linux 6.18 the families rely on, each checked against the kernel:
//   - packet checks are exact: `data + N <= data_end` proves N bytes, `data + N < data_end` N + 1;
//     only 64-bit compares of packet pointers give a range;
//   - an array lookup with a constant key below max_entries, spilled into a whole 8-byte stack
//     slot, cannot fail: r0 is a map value without NULL (so NULL mutations use hash maps);
//   - any subtraction from a stack pointer is refused, even of a constant (only += is used);
//   - stack accesses must be aligned, also at variable offsets (indices are multiples of the
//     width);
//   - a loop whose state repeats is refused at once ("infinite loop detected"), one that only
//     runs long costs the kernel about a second to reach its 1M-instruction limit (rare here).
//
// Families (label prefixes): packet, packet_var, skb (LD_ABS/LD_IND and __sk_buff fields),
// map, stack, scalar (bounded offsets), ptr (pointer arithmetic), uninit, loop, call
// (bpf-to-bpf), helper, div. About half of the programs are meant safe.
//
// Map loads are LD_IMM64 with src_reg BPF_PSEUDO_MAP_FD and imm 0; `map_refs` names the map of
// each, and the loader creates the maps and writes their fds into imm.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "compiler/error.hpp"
#include "compiler/isa.hpp"
#include "compiler/program.hpp"

namespace tristate::test {

struct GeneratedProgram {
  std::string label;          // "family/variant": "packet/ok", "map/no_null_check", ...
  bool intended_safe = true;  // what the generator meant (the kernel decides the truth)
  uint32_t prog_type = 0;     // enum bpf_prog_type
  std::vector<Insn> insns;
  std::vector<MapDef> maps;      // the maps the program uses
  std::vector<MapRef> map_refs;  // one per slot of insns; a map's LD_IMM64 slot is {index, -1}
};

namespace vpgen {

// enum bpf_prog_type, enum bpf_map_type and helper ids (UAPI values).
inline constexpr uint32_t kSocketFilter = 1, kSchedCls = 3, kXdp = 6;
inline constexpr uint32_t kMapHash = 1, kMapArray = 2;
inline constexpr int32_t kMapLookup = 1, kMapUpdate = 2, kMapDelete = 3, kKtimeGetNs = 5, kPrandom = 7,
                         kXdpAdjustHead = 44;
// struct xdp_md and struct __sk_buff offsets.
inline constexpr int16_t kXdpData = 0, kXdpDataEnd = 4;
inline constexpr int16_t kSkbLen = 0, kSkbMark = 8, kSkbCb0 = 48, kSkbData = 76, kSkbDataEnd = 80;

inline Decoded mov(Reg d, int32_t imm, bool is64 = true) { return Alu{is64, AluOp::Mov, d, Operand::k(imm)}; }
inline Decoded movr(Reg d, Reg s, bool is64 = true) { return Alu{is64, AluOp::Mov, d, Operand::r(s)}; }
inline Decoded alu(AluOp op, Reg d, Operand s, bool is64 = true) { return Alu{is64, op, d, s}; }
inline Decoded ldx(Width w, Reg d, Reg base, int off, bool sx = false) {
  return Load{w, sx && w != Width::DW, false, d, base, int16_t(off)};
}
inline Decoded st(Width w, Reg base, int off, int32_t imm) { return Store{w, false, base, int16_t(off), Operand::k(imm)}; }
inline Decoded stx(Width w, Reg base, int off, Reg s) { return Store{w, false, base, int16_t(off), Operand::r(s)}; }
inline Decoded helper(int32_t id) { return Call{CallKind::Helper, id, 0}; }

// The condition that holds exactly when `c` does not (compiler/isa.hpp); JSET has none.
inline Cond negate(Cond c) {
  if (c == Cond::Set) throw InternalError("vpgen::negate: no negation of JSET");
  return tristate::negate(c);
}

// `a c b` is `b swap(c) a`.
inline Cond swap_operands(Cond c) {
  switch (c) {
    case Cond::Gt: return Cond::Lt;
    case Cond::Lt: return Cond::Gt;
    case Cond::Ge: return Cond::Le;
    case Cond::Le: return Cond::Ge;
    case Cond::Sgt: return Cond::Slt;
    case Cond::Slt: return Cond::Sgt;
    case Cond::Sge: return Cond::Sle;
    case Cond::Sle: return Cond::Sge;
    default: return c;
  }
}

// An assembler with labels: jumps and bpf-to-bpf calls name a label, resolved to slot offsets
// (LD_IMM64 takes two slots) when the program is finished.
class Asm {
 public:
  using Label = int;

  Label label() {
    labels_.push_back(-1);
    return Label(labels_.size() - 1);
  }
  void bind(Label l) { labels_[std::size_t(l)] = int(items_.size()); }

  Asm& operator<<(Decoded d) {
    items_.push_back({std::move(d), -1, -1});
    return *this;
  }
  void jmp(Cond c, Reg dst, Operand src, Label l, bool is64 = true) { items_.push_back({Jmp{is64, c, dst, src, 0}, l, -1}); }
  void ja(Label l) { items_.push_back({Ja{0, false}, l, -1}); }
  void call_local(Label l) { items_.push_back({Call{CallKind::Local, 0, 0}, l, -1}); }
  void ld_map(Reg dst, int map) { items_.push_back({LdImm64{dst, bpf::PSEUDO_MAP_FD, 0, 0}, -1, map}); }
  std::size_t size() const { return items_.size(); }
  // Whether a jump or call names `l` (code only reachable through it is otherwise unreachable,
  // which the kernel refuses whatever else the program does).
  bool used(Label l) const {
    return std::any_of(items_.begin(), items_.end(), [l](const Item& i) { return i.target == l; });
  }

  void finish(GeneratedProgram& p) const {
    std::vector<int> slot(items_.size() + 1, 0);
    for (std::size_t i = 0; i < items_.size(); ++i) slot[i + 1] = slot[i] + int(slots(items_[i].d));
    p.insns.clear();
    p.map_refs.clear();
    for (std::size_t i = 0; i < items_.size(); ++i) {
      Decoded d = items_[i].d;
      if (items_[i].target >= 0) {
        const int at = labels_[std::size_t(items_[i].target)];
        if (at < 0 || at >= int(items_.size())) throw InternalError("vpgen::Asm: label not bound to an instruction");
        const int off = slot[std::size_t(at)] - slot[i] - 1;
        if (auto* j = std::get_if<Jmp>(&d)) j->off = int16_t(off);
        else if (auto* a = std::get_if<Ja>(&d)) a->off = off;
        else if (auto* c = std::get_if<Call>(&d)) c->imm = off;
      }
      const Encoded e = encode(d);
      for (std::size_t k = 0; k < e.count; ++k) {
        p.insns.push_back(e.insn[k]);
        p.map_refs.push_back(k == 0 && items_[i].map >= 0 ? MapRef{items_[i].map, -1} : MapRef{});
      }
    }
  }

 private:
  struct Item {
    Decoded d;
    int target;  // label of a jump or local call, else -1
    int map;     // map index of an LD_IMM64, else -1
  };
  std::vector<Item> items_;
  std::vector<int> labels_;  // item index each label is bound to
};

}  // namespace vpgen

class VerifierProgramGenerator {
 public:
  explicit VerifierProgramGenerator(uint64_t seed) : rng_(seed) {}

  GeneratedProgram next() {
    using Family = GeneratedProgram (VerifierProgramGenerator::*)();
    static constexpr std::pair<Family, int> kFamilies[] = {
        {&VerifierProgramGenerator::packet, 12},     {&VerifierProgramGenerator::packet_var, 7},
        {&VerifierProgramGenerator::skb_load, 5},    {&VerifierProgramGenerator::map, 12},
        {&VerifierProgramGenerator::stack, 10},      {&VerifierProgramGenerator::scalar, 10},
        {&VerifierProgramGenerator::pointer, 10},    {&VerifierProgramGenerator::uninit, 6},
        {&VerifierProgramGenerator::loop, 7},        {&VerifierProgramGenerator::call, 7},
        {&VerifierProgramGenerator::helpers, 8},     {&VerifierProgramGenerator::division, 6},
    };
    int total = 0;
    for (const auto& f : kFamilies) total += f.second;
    int pick = uniform(0, total - 1);
    for (const auto& f : kFamilies) {
      if (pick < f.second) return (this->*f.first)();
      pick -= f.second;
    }
    throw InternalError("VerifierProgramGenerator: no family picked");
  }

 private:
  using Asm = vpgen::Asm;
  using Label = Asm::Label;

  // ---- randomness ----
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool coin(int one_in = 2) { return uniform(0, one_in - 1) == 0; }
  template <class T>
  T pick(std::initializer_list<T> xs) {
    return *(xs.begin() + uniform(0, int(xs.size()) - 1));
  }
  // `n` distinct registers from `pool`, in random order.
  std::vector<Reg> regs(std::vector<Reg> pool, std::size_t n) {
    std::shuffle(pool.begin(), pool.end(), rng_);
    pool.resize(n);
    return pool;
  }
  Width width_upto(int max_bytes) {
    std::vector<Width> ws;
    for (Width w : {Width::B, Width::H, Width::W, Width::DW})
      if (bytes(w) <= max_bytes) ws.push_back(w);
    return ws[std::size_t(uniform(0, int(ws.size()) - 1))];
  }
  uint32_t any_prog_type() { return pick({vpgen::kXdp, vpgen::kSchedCls, vpgen::kSocketFilter}); }

  // Half the programs are the safe shape; otherwise one of `mutations` (index 1..n-1 of 0..n-1).
  int variant(int n) { return coin() ? 0 : uniform(1, n - 1); }

  // r0 = a value the program type returns; exit.
  void ret(Asm& a, uint32_t prog_type) {
    int32_t v = 0;
    if (prog_type == vpgen::kXdp) v = uniform(0, 3);              // XDP_ABORTED .. XDP_TX
    else if (prog_type == vpgen::kSchedCls) v = uniform(-1, 2);   // TC_ACT_UNSPEC .. TC_ACT_SHOT
    else v = pick({0, 0xffff, uniform(1, 1500)});                 // bytes of the packet to keep
    a << vpgen::mov(0, v) << Exit{};
  }

  GeneratedProgram done(const Asm& a, std::string label, bool safe, uint32_t prog_type, std::vector<MapDef> maps = {}) {
    GeneratedProgram p;
    p.label = std::move(label);
    p.intended_safe = safe;
    p.prog_type = prog_type;
    p.maps = std::move(maps);
    a.finish(p);
    return p;
  }

  MapDef make_map(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries) {
    MapDef m;
    m.name = type == vpgen::kMapArray ? "gen_array" : "gen_hash";
    m.type = type;
    m.type_name = type == vpgen::kMapArray ? "array" : "hash";
    m.key_size = key_size;
    m.value_size = value_size;
    m.max_entries = max_entries;
    return m;
  }
  MapDef random_map(bool hash) {
    const uint32_t value = uint32_t(pick({8, 16, 24, 32, 48, 64}));
    if (hash) return make_map(vpgen::kMapHash, coin() ? 4 : 8, value, uint32_t(uniform(8, 64)));
    return make_map(vpgen::kMapArray, 4, value, uint32_t(uniform(1, 16)));
  }

  // Writes a key of `m.key_size` bytes at fp + `off` (returned) and points r2 at it. A constant
  // key below max_entries for arrays.
  int store_key(Asm& a, const MapDef& m) {
    using namespace vpgen;
    const int ks = int(m.key_size);
    const int off = -ks * uniform(1, 8);
    const int32_t key = m.type == kMapArray ? uniform(0, int(m.max_entries) - 1) : uniform(0, 1000);
    const Width w = ks == 4 ? Width::W : Width::DW;
    if (coin()) {
      a << st(w, kFramePointer, off, key);
    } else {
      const Reg t = pick<Reg>({2, 3, 5});  // not r4: update_flags_unset needs it unwritten
      a << mov(t, key) << stx(w, kFramePointer, off, t);
    }
    return off;
  }

  void point_r2(Asm& a, int off) {
    using namespace vpgen;
    a << movr(2, kFramePointer) << alu(AluOp::Add, 2, Operand::k(off));
  }

  // bpf_map_lookup_elem on map 0 with a key on the stack; r0 = value or NULL.
  void lookup(Asm& a, const MapDef& m) {
    using namespace vpgen;
    const int off = store_key(a, m);
    if (coin()) {
      point_r2(a, off);
      a.ld_map(1, 0);
    } else {
      a.ld_map(1, 0);
      point_r2(a, off);
    }
    a << helper(kMapLookup);
  }

  // if (r0 == NULL) goto `null_path`, in one of two branch shapes; falls through (or continues
  // after a jump) with r0 != NULL.
  void null_check(Asm& a, Label null_path) {
    if (coin()) {
      a.jmp(Cond::Eq, 0, Operand::k(0), null_path);
    } else {
      Label nonnull = a.label();
      a.jmp(Cond::Ne, 0, Operand::k(0), nonnull);
      a.ja(null_path);
      a.bind(nonnull);
    }
  }

  // One access of `w` at base + off: a load (sometimes sign-extending), a store of an immediate
  // or of a register set just before. `scratch` may be clobbered.
  void access(Asm& a, Reg base, int off, Width w, Reg scratch, bool allow_store = true) {
    using namespace vpgen;
    const int kind = allow_store ? uniform(0, 3) : 0;
    if (kind <= 1) a << ldx(w, scratch, base, off, coin(4));
    else if (kind == 2) a << st(w, base, off, uniform(-200, 200));
    else a << mov(scratch, uniform(-1000, 1000)) << stx(w, base, off, scratch);
  }

  // Which registers a family can use as scratch, avoiding `used`.
  std::vector<Reg> free_regs(std::initializer_list<Reg> used, bool with_r0 = true) {
    std::vector<Reg> out;
    for (Reg r = with_r0 ? 0 : 1; r <= 9; ++r)
      if (std::find(used.begin(), used.end(), r) == used.end()) out.push_back(r);
    return out;
  }
  Reg one_of(const std::vector<Reg>& rs) { return rs[std::size_t(uniform(0, int(rs.size()) - 1))]; }

  // ---- packet bounds checks ----
  // The eight shapes of "P = data + N; compare P with data_end". `goto_ok` forms jump to the
  // accesses, the others jump away from them. The kernel is exact: P <= data_end proves N bytes,
  // the strict P < data_end proves N + 1.
  struct PktCheck {
    bool p_first;  // `if P ? E` rather than `if E ? P`
    Cond cond;
    bool goto_ok;  // jump taken when the access is safe
    bool strict;
  };
  PktCheck pkt_check() {
    static constexpr PktCheck kForms[] = {
        {true, Cond::Gt, false, false}, {false, Cond::Lt, false, false}, {true, Cond::Ge, false, true},
        {false, Cond::Le, false, true}, {true, Cond::Le, true, false},   {false, Cond::Ge, true, false},
        {true, Cond::Lt, true, true},   {false, Cond::Gt, true, true},
    };
    return kForms[uniform(0, 7)];
  }

  // Emits the check of `p` against `e` in shape `f`, with `safe()` emitting the code where the
  // range holds and `unsafe()` the other branch (each must end its path). `mutate`: 0 none,
  // 1 inverted condition, 2 JMP32 (no range: the kernel matches packet pointers only in 64-bit
  // compares), 3 compare with `wrong` instead of `e`, 4 no check at all.
  template <class Safe, class Unsafe>
  void emit_pkt_check(Asm& a, Reg p, Reg e, PktCheck f, int mutate, Reg wrong, Safe safe, Unsafe unsafe) {
    if (mutate == 4) {
      safe();
      return;
    }
    Cond c = mutate == 1 ? vpgen::negate(f.cond) : f.cond;
    const Reg other = mutate == 3 ? wrong : e;
    const Reg dst = f.p_first ? p : other;
    const Reg src = f.p_first ? other : p;
    const bool is64 = mutate != 2;
    Label target = a.label();
    a.jmp(c, dst, Operand::r(src), target, is64);
    if (f.goto_ok) {
      unsafe();
      a.bind(target);
      safe();
    } else {
      safe();
      a.bind(target);
      unsafe();
    }
  }

  // ---- families ----

  // Direct packet access in XDP and tc: a bounds check, then loads and stores at constant
  // offsets from data or from the checked pointer.
  GeneratedProgram packet() {
    using namespace vpgen;
    enum { Ok, Missing, OffByOne, Beyond, BeforeCheck, WrongDirection, Jmp32Check, CompareWithData, NegativeOffset, N };
    static const char* kNames[] = {"ok", "missing_check", "off_by_one", "beyond_range", "access_before_check",
                                   "wrong_direction", "jmp32_check", "compare_with_data", "negative_offset"};
    const int m = variant(N);
    const uint32_t pt = coin() ? kXdp : kSchedCls;
    const int16_t data_off = pt == kXdp ? kXdpData : kSkbData, end_off = pt == kXdp ? kXdpDataEnd : kSkbDataEnd;
    Asm a;
    Reg ctx = 1;
    if (coin(4)) {
      ctx = pick<Reg>({6, 7, 8, 9});
      a << movr(ctx, 1);
    }
    const auto r = regs(free_regs({ctx}, false), 3);
    const Reg d = r[0], e = r[1], p = r[2];
    const Reg scratch = one_of(free_regs({ctx, d, e, p}));
    if (coin()) a << ldx(Width::W, d, ctx, data_off) << ldx(Width::W, e, ctx, end_off);
    else a << ldx(Width::W, e, ctx, end_off) << ldx(Width::W, d, ctx, data_off);

    const PktCheck f = pkt_check();
    const int n = uniform(1, 64);
    const int range = f.strict ? n + 1 : n;
    a << movr(p, d);
    if (coin(3) && n > 1) {
      const int part = uniform(1, n - 1);
      a << alu(AluOp::Add, p, Operand::k(part)) << alu(AluOp::Add, p, Operand::k(n - part));
    } else {
      a << alu(AluOp::Add, p, Operand::k(n));
    }

    // Accesses as (base, offset from data, width); the mutated one is first.
    struct Acc { int off; Width w; };
    std::vector<Acc> accs;
    const int count = uniform(1, 4);
    for (int i = 0; i < count; ++i) {
      const Width w = width_upto(range);
      accs.push_back({uniform(0, range - bytes(w)), w});
    }
    if (m == OffByOne) accs[0].off = range - bytes(accs[0].w) + 1;
    if (m == Beyond) accs[0].off = range - bytes(accs[0].w) + uniform(2, 32);
    if (m == NegativeOffset) accs[0].off = -uniform(1, 16);
    auto emit_access = [&](const Acc& acc) {
      const bool via_p = coin();  // the checked pointer shares the range, at offset n
      access(a, via_p ? p : d, via_p ? acc.off - n : acc.off, acc.w, scratch);
    };
    std::size_t first = 0;
    if (m == BeforeCheck) {
      emit_access(accs[0]);
      first = 1;
    }
    const int mutate = m == WrongDirection ? 1 : m == Jmp32Check ? 2 : m == CompareWithData ? 3 : m == Missing ? 4 : 0;
    emit_pkt_check(
        a, p, e, f, mutate, d,
        [&] {
          for (std::size_t i = first; i < accs.size(); ++i) emit_access(accs[i]);
          ret(a, pt);
        },
        [&] { ret(a, pt); });
    return done(a, std::string("packet/") + kNames[m], m == Ok, pt);
  }

  // Packet access at a variable offset: a byte or word read from the packet, bounded, added to
  // data, and the sum checked against data_end again.
  GeneratedProgram packet_var() {
    using namespace vpgen;
    enum { Ok, NoRecheck, Unbounded, RecheckOld, Beyond, N };
    static const char* kNames[] = {"ok", "no_recheck", "unbounded_offset", "recheck_old_pointer", "beyond_range"};
    const int m = variant(N);
    const uint32_t pt = coin() ? kXdp : kSchedCls;
    const int16_t data_off = pt == kXdp ? kXdpData : kSkbData, end_off = pt == kXdp ? kXdpDataEnd : kSkbDataEnd;
    Asm a;
    const auto r = regs({2, 3, 4, 5, 6, 7, 8, 9}, 5);
    const Reg d = r[0], e = r[1], p = r[2], v = r[3], q = r[4];
    a << ldx(Width::W, d, 1, data_off) << ldx(Width::W, e, 1, end_off);
    const PktCheck f1 = pkt_check();
    const int n1 = uniform(8, 32);
    const int range1 = f1.strict ? n1 + 1 : n1;
    a << movr(p, d) << alu(AluOp::Add, p, Operand::k(n1));
    Label out = a.label();

    emit_pkt_check(
        a, p, e, f1, 0, d,
        [&] {
          // The offset: a load from the packet, then a bound.
          Width vw = m == Unbounded ? pick({Width::W, Width::DW}) : pick({Width::B, Width::H, Width::W});
          a << ldx(vw, v, d, uniform(0, range1 - bytes(vw)));
          if (m != Unbounded) {
            const int bits = uniform(2, 8);
            switch (uniform(0, 3)) {
              case 0: a << alu(AluOp::And, v, Operand::k((1 << bits) - 1), coin()); break;
              case 1:
                if (vw == Width::B) a << alu(AluOp::And, v, Operand::k(0x7f));
                else a << alu(AluOp::Rsh, v, Operand::k((vw == Width::H ? 16 : 32) - bits));
                break;
              case 2: a.jmp(coin() ? Cond::Gt : Cond::Ge, v, Operand::k(uniform(1, 255)), out, coin()); break;
              default: {
                // `if C < v goto out` with the constant in a register
                a << mov(0, uniform(1, 255));
                a.jmp(Cond::Lt, 0, Operand::r(v), out);
              }
            }
          }
          a << movr(q, d) << alu(AluOp::Add, q, Operand::r(v));
          const PktCheck f2 = pkt_check();
          const int n2 = uniform(1, 32);
          const int range2 = f2.strict ? n2 + 1 : n2;
          a << movr(p, m == RecheckOld ? d : q) << alu(AluOp::Add, p, Operand::k(n2));
          auto body = [&] {
            const int count = uniform(1, 3);
            for (int i = 0; i < count; ++i) {
              const Width w = width_upto(range2);
              int off = uniform(0, range2 - bytes(w));
              if (i == 0 && m == Beyond) off = range2 - bytes(w) + uniform(1, 8);
              access(a, q, off, w, 0);
            }
            ret(a, pt);
          };
          emit_pkt_check(a, p, e, f2, m == NoRecheck ? 4 : 0, d, body, [&] { ret(a, pt); });
        },
        [&] { a.ja(out); });
    a.bind(out);
    ret(a, pt);
    return done(a, std::string("packet_var/") + kNames[m], m == Ok, pt);
  }

  // The legacy socket-buffer loads (LD_ABS, LD_IND) and __sk_buff fields of socket filters.
  GeneratedProgram skb_load() {
    using namespace vpgen;
    enum { Ok, R6NotCtx, ClobberedArg, DirectData, CtxWriteReadOnly, N };
    static const char* kNames[] = {"ok", "r6_not_ctx", "arg_reg_after_ld_abs", "direct_data_in_socket_filter",
                                   "ctx_write_read_only"};
    const int m = variant(N);
    const uint32_t pt = (m == DirectData || m == CtxWriteReadOnly || coin()) ? kSocketFilter : kSchedCls;
    Asm a;
    const auto r = regs({7, 8, 9}, 2);
    const Reg acc = r[0], idx = r[1];
    if (m == DirectData) a << ldx(Width::W, 2, 1, coin() ? kSkbData : kSkbDataEnd);
    if (coin()) a << ldx(Width::W, acc, 1, kSkbLen);
    else a << mov(acc, 0);
    if (pt == kSocketFilter && coin()) {
      // cb[] is the one part of __sk_buff a socket filter may write
      const int slot = uniform(0, 4);
      a << st(Width::W, 1, kSkbCb0 + 4 * slot, uniform(0, 100)) << ldx(Width::W, 3, 1, kSkbCb0 + 4 * slot)
        << alu(AluOp::Add, acc, Operand::r(3));
    }
    if (m == CtxWriteReadOnly) a << st(Width::W, 1, pick({kSkbLen, kSkbMark, int16_t(4)}), uniform(0, 100));
    if (m == R6NotCtx) {
      if (coin()) a << mov(6, uniform(0, 64));
      else a << movr(6, kFramePointer);
    } else {
      a << movr(6, 1);
    }
    const Reg arg = pick<Reg>({2, 3, 4, 5});  // written before the loads, read after them
    if (m == ClobberedArg) a << mov(arg, 1);
    const int count = uniform(1, 4);
    for (int i = 0; i < count; ++i) {
      const Width w = pick({Width::B, Width::H, Width::W});
      if (coin(3)) {
        a << mov(idx, uniform(0, 40));
        a << PacketLoad{true, w, idx, uniform(0, 40)};
      } else {
        a << PacketLoad{false, w, 0, uniform(0, 100)};
      }
      a << alu(pick({AluOp::Add, AluOp::Xor, AluOp::Or}), acc, Operand::r(0));
    }
    if (m == ClobberedArg) a << alu(AluOp::Add, acc, Operand::r(arg));
    a << movr(0, acc) << alu(AluOp::And, 0, Operand::k(0xffff)) << Exit{};
    return done(a, std::string("skb/") + kNames[m], m == Ok, pt);
  }

  // bpf_map_lookup_elem, a NULL check, accesses inside the value.
  GeneratedProgram map() {
    using namespace vpgen;
    enum { Ok, ArrayConstKey, NoNullCheck, PastValue, NegativeOffset, KeyUninit, KeyScalar, WrongMapArg, KeyTooSmall,
           NullCheckJmp32, UseOnNullPath, N };
    static const char* kNames[] = {"ok", "array_const_key_no_null_check", "no_null_check", "past_value_size",
                                   "negative_offset", "key_uninit_stack", "key_scalar", "wrong_map_arg",
                                   "key_too_small", "null_check_jmp32", "access_on_null_path"};
    const int m = variant(N);
    const bool safe = m == Ok || m == ArrayConstKey || m == KeyUninit;
    const uint32_t pt = any_prog_type();
    // An array lookup with a constant key below max_entries cannot fail: the kernel (6.14+) gives
    // r0 as a map value without NULL. The NULL mutations therefore use hash maps.
    const bool hash = m == NoNullCheck || m == KeyTooSmall || m == NullCheckJmp32 || m == UseOnNullPath;
    MapDef md = random_map(hash ? true : m == ArrayConstKey ? false : coin());
    if (m == KeyTooSmall) md.key_size = 8;
    Asm a;
    // the key
    const int ks = int(md.key_size);
    int koff = -ks * uniform(1, 8);
    if (m == KeyTooSmall) koff = -4;
    // the kernel knows the key only from a spill into a whole 8-byte slot (or zeroed bytes)
    if (m == ArrayConstKey) koff = -8 * uniform(1, 4);
    if (m == KeyScalar) {
      a << mov(2, uniform(0, 1000));
    } else {
      if (m != KeyUninit) {
        const int32_t key = md.type == kMapArray ? uniform(0, int(md.max_entries) - 1) : uniform(0, 1000);
        const Width w = (ks == 4 || m == KeyTooSmall) ? Width::W : Width::DW;
        if (coin()) a << st(w, kFramePointer, koff, key);
        else a << mov(3, key) << stx(w, kFramePointer, koff, 3);
      }
      point_r2(a, koff);
    }
    if (m == WrongMapArg) {
      switch (uniform(0, 2)) {
        case 0: a << movr(1, kFramePointer); break;
        case 1: a << mov(1, uniform(0, 10)); break;
        default: break;  // r1 is still the context
      }
    } else {
      a.ld_map(1, 0);
    }
    a << helper(kMapLookup);
    const Reg v = coin() ? Reg(0) : pick<Reg>({6, 7, 8, 9});
    Label null_path = a.label();
    if (m == ArrayConstKey || m == NoNullCheck) {
      // no check
    } else if (m == NullCheckJmp32) {
      a.jmp(Cond::Eq, 0, Operand::k(0), null_path, false);
    } else if (m == UseOnNullPath) {
      a.jmp(Cond::Ne, 0, Operand::k(0), null_path);
    } else {
      null_check(a, null_path);
    }
    if (v != 0) a << movr(v, 0);
    const int vs = int(md.value_size);
    const int count = uniform(1, 4);
    const Reg scratch = one_of(free_regs({v}, true));
    for (int i = 0; i < count; ++i) {
      const Width w = width_upto(vs);
      int off = uniform(0, vs - bytes(w));
      if (i == 0 && m == PastValue) off = vs - bytes(w) + uniform(1, 8);
      if (i == 0 && m == NegativeOffset) off = -bytes(w) * uniform(1, 4);
      if (coin(5) && (w == Width::W || w == Width::DW) && m != PastValue && m != NegativeOffset) {
        off -= off % bytes(w);  // atomics need alignment
        a << mov(scratch, uniform(1, 9)) << Atomic{w, pick({AtomicOp::Add, AtomicOp::Or, AtomicOp::Xor}), coin(), v, scratch, int16_t(off)};
      } else {
        access(a, v, off, w, scratch);
      }
    }
    ret(a, pt);
    if (a.used(null_path)) {
      a.bind(null_path);
      ret(a, pt);
    }
    return done(a, std::string("map/") + kNames[m], safe, pt, {md});
  }

  // Stack stores and loads, spills and fills of pointers and scalars.
  GeneratedProgram stack() {
    using namespace vpgen;
    enum { Ok, UninitRead, Below512, NonNegative, Misaligned, MisalignedSpill, PartialOverwrite, PartialFill, FillScalarDeref, N };
    static const char* kNames[] = {"ok", "uninit_read", "below_512", "offset_not_negative", "misaligned",
                                   "misaligned_spill", "partial_overwrite_spill", "partial_fill_deref",
                                   "fill_scalar_deref"};
    const int m = variant(N);
    const bool safe = m == Ok || m == UninitRead;
    const uint32_t pt = any_prog_type();
    Asm a;
    struct W8 { int off; Width w; };
    std::vector<W8> writes;
    // 8-byte slots, each used for one thing, so that loads find what they expect.
    std::vector<int> slots;
    for (int s = 1; s <= 64; ++s) slots.push_back(-8 * s);
    std::shuffle(slots.begin(), slots.end(), rng_);
    std::size_t next_slot = 0;
    const Reg ctx_spill = one_of({6, 7, 8, 9});
    const int nw = uniform(1, 5);
    for (int i = 0; i < nw; ++i) {
      const int slot = slots[next_slot++];
      const Width w = width_upto(8);
      const int off = slot + bytes(w) * uniform(0, 8 / bytes(w) - 1);
      if (coin()) {
        a << st(w, kFramePointer, off, uniform(-100000, 100000));
      } else {
        const Reg t = one_of({0, 2, 3, 4, 5});
        a << mov(t, uniform(-100000, 100000)) << stx(w, kFramePointer, off, t);
      }
      writes.push_back({off, w});
    }
    // loads inside what was written
    const int nr = uniform(1, 3);
    for (int i = 0; i < nr; ++i) {
      const W8 wr = writes[std::size_t(uniform(0, int(writes.size()) - 1))];
      const Width w = width_upto(bytes(wr.w));
      const int off = wr.off + bytes(w) * uniform(0, bytes(wr.w) / bytes(w) - 1);
      a << ldx(w, one_of({0, 2, 3, 4, 5}), kFramePointer, off, coin(4));
    }
    if (m == UninitRead) {
      const Width w = width_upto(8);
      a << ldx(w, 2, kFramePointer, slots[next_slot++] + bytes(w) * uniform(0, 8 / bytes(w) - 1));
    }
    if (m == Below512 || m == NonNegative || m == Misaligned) {
      const Width w = m == Misaligned ? pick({Width::H, Width::W, Width::DW}) : width_upto(8);
      int off = 0;
      if (m == Below512) off = -512 - bytes(w) * uniform(1, 8);
      else if (m == NonNegative) off = bytes(w) * uniform(0, 4);
      else off = slots[next_slot++] + uniform(1, bytes(w) - 1);
      if (coin()) a << st(w, kFramePointer, off, 1);
      else a << ldx(w, 2, kFramePointer, off);
    }
    if (pt != kSocketFilter && coin()) {
      // a checked packet pointer survives a spill and fill with its range
      const int16_t data_off = pt == kXdp ? kXdpData : kSkbData, end_off = pt == kXdp ? kXdpDataEnd : kSkbDataEnd;
      const int n = uniform(1, 32);
      const int pslot = slots[next_slot++];
      Label skip = a.label();
      a << ldx(Width::W, 2, 1, data_off) << ldx(Width::W, 3, 1, end_off) << movr(4, 2) << alu(AluOp::Add, 4, Operand::k(n));
      a.jmp(Cond::Gt, 4, Operand::r(3), skip);
      a << stx(Width::DW, kFramePointer, pslot, 2) << mov(2, 0) << ldx(Width::DW, 5, kFramePointer, pslot);
      const Width w = width_upto(std::min(n, 8));
      access(a, 5, uniform(0, n - bytes(w)), w, 0);
      a.bind(skip);
    }
    // spill the context pointer, clobber r1, fill it into another register and use it
    int spill = slots[next_slot++];
    if (m == MisalignedSpill) spill += pick({1, 2, 4});
    a << stx(Width::DW, kFramePointer, spill, 1);
    a << mov(1, 0);
    if (m == PartialOverwrite) {
      const Width w = pick({Width::B, Width::H, Width::W});
      a << st(w, kFramePointer, spill + bytes(w) * uniform(0, 8 / bytes(w) - 1), 0);
    }
    if (m == PartialFill) {
      a << ldx(Width::W, ctx_spill, kFramePointer, spill + 4 * uniform(0, 1));
    } else if (m == FillScalarDeref) {
      const W8 wr = writes[0];
      a << ldx(Width::DW, ctx_spill, kFramePointer, wr.off - (wr.off % 8 + 8) % 8);
    } else {
      a << ldx(Width::DW, ctx_spill, kFramePointer, spill);
    }
    a << ldx(Width::W, 3, ctx_spill, pt == kXdp ? kXdpData : kSkbLen);
    // a scalar spilled and filled keeps its value: return it
    const int sslot = slots[next_slot++];
    const int32_t rv = pt == kXdp ? uniform(0, 3) : uniform(0, 2);
    a << mov(4, rv) << stx(Width::DW, kFramePointer, sslot, 4) << ldx(Width::DW, 0, kFramePointer, sslot) << Exit{};
    return done(a, std::string("stack/") + kNames[m], safe, pt);
  }

  // A value of unknown contents bounded by masks, shifts, multiplications or comparisons, then
  // used as an offset into a map value or into the stack.
  GeneratedProgram scalar() {
    using namespace vpgen;
    enum { Ok, ViaCopy, NoBound, WrongMask, OffByOne, SignedOnly, Jmp32NoZext, N };
    static const char* kNames[] = {"ok", "bound_via_copy", "no_bound", "wrong_mask", "bound_off_by_one",
                                   "signed_bound_only", "jmp32_bound_on_64bit"};
    const int m = variant(N);
    const bool safe = m == Ok || m == ViaCopy;
    const uint32_t pt = any_prog_type();
    const bool into_stack = coin(3);
    MapDef md = make_map(coin() ? kMapArray : kMapHash, 4, uint32_t(pick({32, 64, 128})), 4);
    const int vs = int(md.value_size);
    Asm a;
    Label out = a.label();
    const auto r = regs({6, 7, 8, 9}, 3);
    const Reg vp = r[0], s = r[1], t = r[2];
    // the unknown value: prandom (unknown 64-bit) or a load from the map value (zero-extended)
    const bool from_prandom = coin();
    if (from_prandom) a << helper(kPrandom) << movr(s, 0);
    lookup(a, md);
    null_check(a, out);
    a << movr(vp, 0);
    Width sw = Width::DW;
    if (!from_prandom) {
      // the broken bounds need a value that may be negative / have an unknown upper half
      sw = m == SignedOnly || m == Jmp32NoZext ? Width::DW : pick({Width::B, Width::H, Width::W, Width::DW});
      a << ldx(sw, s, vp, 8 * uniform(0, vs / 8 - 1));
    }
    // the area indexed, and the largest index + width it holds
    const Width w = pick({Width::B, Width::H, Width::W, Width::DW});
    const int area = into_stack ? pick({16, 32, 64}) : vs;
    const int limit = area - bytes(w);  // largest offset allowed
    // stack accesses must be aligned, also at variable offsets: indices are multiples of w
    const int align = into_stack ? bytes(w) : 1;
    // the widest mask 2^bits - 1 (aligned) that keeps the index within the limit
    int bits = 0;
    while ((((2 << bits) - 1) & ~(align - 1)) <= limit) ++bits;
    const int mask = ((1 << bits) - 1) & ~(align - 1);
    const int bound = limit - limit % align;
    switch (m == NoBound ? -1 : m == WrongMask ? 0 : m == OffByOne || m == SignedOnly || m == ViaCopy ? 2 : m == Jmp32NoZext ? 3 : uniform(0, 5)) {
      case -1: break;
      case 0: {
        const int bad = m == WrongMask ? ((2 << bits) - 1) & ~(align - 1) : mask;
        a << alu(AluOp::And, s, Operand::k(bad), coin() || m == WrongMask ? true : sw != Width::DW);
        break;
      }
      case 1:  // shift down to `bits` bits, then align
        a << alu(AluOp::Rsh, s, Operand::k(64 - bits));
        if (align > 1) a << alu(AluOp::And, s, Operand::k(mask));
        break;
      case 2: {
        // if s > bound goto out, in both operand orders and with >= forms
        int b = bound;
        if (m == OffByOne) b = bound + align;
        Reg checked = s;
        if (m == ViaCopy) {
          a << movr(t, s);
          checked = t;
        }
        if (m == SignedOnly) {
          a.jmp(Cond::Sgt, checked, Operand::k(b), out);
        } else {
          switch (uniform(0, 3)) {
            case 0: a.jmp(Cond::Gt, checked, Operand::k(b), out); break;
            case 1: a.jmp(Cond::Ge, checked, Operand::k(b + 1), out); break;
            case 2: a << mov(0, b); a.jmp(Cond::Lt, 0, Operand::r(checked), out); break;
            default: a << mov(0, b + 1); a.jmp(Cond::Le, 0, Operand::r(checked), out); break;
          }
        }
        if (align > 1) a << alu(AluOp::And, s, Operand::k(~(align - 1)));
        break;
      }
      case 3: {
        // JMP32 bound: sound on 64 bits only once the upper half is known zero
        if (m != Jmp32NoZext) a << movr(s, s, false);
        a.jmp(pick({Cond::Gt, Cond::Sgt}), s, Operand::k(bound), out, false);
        if (m != Jmp32NoZext) a.jmp(Cond::Slt, s, Operand::k(0), out, false);
        if (align > 1) a << alu(AluOp::And, s, Operand::k(~(align - 1)));
        break;
      }
      case 4: {  // s = (s & m) + c
        const int c = align * uniform(0, bound / align / 2);
        int b = 0;
        while ((((2 << b) - 1) & ~(align - 1)) <= bound - c) ++b;
        a << alu(AluOp::And, s, Operand::k(((1 << b) - 1) & ~(align - 1))) << alu(AluOp::Add, s, Operand::k(c), coin());
        break;
      }
      default: {  // s = (s & small) * step
        int step = align, cnt = bound / align;
        int cbits = 0;
        while ((2 << cbits) - 1 <= cnt) ++cbits;
        a << alu(AluOp::And, s, Operand::k((1 << cbits) - 1)) << alu(AluOp::Mul, s, Operand::k(step));
        break;
      }
    }
    if (into_stack) {
      // initialise the area at the top of the frame (so that past it is past the frame), then
      // index it from its start
      for (int o = -area; o < 0; o += 8) a << st(Width::DW, kFramePointer, o, uniform(0, 9));
      a << movr(t, kFramePointer) << alu(AluOp::Add, t, Operand::k(-area)) << alu(AluOp::Add, t, Operand::r(s));
      access(a, t, 0, w, 2);
    } else {
      a << alu(AluOp::Add, vp, Operand::r(s));
      access(a, vp, 0, w, 2);
    }
    a.bind(out);
    ret(a, pt);
    return done(a, std::string("scalar/") + kNames[m], safe, pt, {md});
  }

  // Pointer arithmetic on stack, map value, packet and context pointers.
  GeneratedProgram pointer() {
    using namespace vpgen;
    enum { Ok, PtrSub, ReturnPtr, StorePtrToMap, StorePtrToPacket, Mul, Alu32, PtrPlusPtr, Bitwise, OrNullArith, CtxModified, ScalarMinusPtr, Neg,
           SubFromStack, N };
    static const char* kNames[] = {"ok", "ptr_minus_ptr", "return_pointer", "store_pointer_to_map",
                                   "store_pointer_to_packet", "multiply",
                                   "alu32_on_pointer", "pointer_plus_pointer", "bitwise_on_pointer",
                                   "arith_on_map_value_or_null", "modified_ctx_deref", "scalar_minus_pointer",
                                   "neg_pointer", "sub_from_stack_pointer"};
    const int m = variant(N);
    const bool safe = m == Ok || m == PtrSub || m == ReturnPtr || m == StorePtrToMap || m == StorePtrToPacket;
    const uint32_t pt = m == StorePtrToPacket ? pick({kXdp, kSchedCls}) : any_prog_type();
    Asm a;
    Label out = a.label();
    std::vector<MapDef> maps;
    const auto r = regs({6, 7, 8, 9}, 3);
    const Reg p = r[0], q = r[1], c = r[2];
    a << movr(c, 1);  // the context, kept across calls

    // The pointer kinds this program has: the stack always, a map value when asked.
    const bool use_map = m == StorePtrToMap || m == OrNullArith || coin();
    if (use_map) {
      maps.push_back(random_map(m == OrNullArith || coin()));  // hash: the lookup may fail
      lookup(a, maps[0]);
      if (m == OrNullArith) a << alu(AluOp::Add, 0, Operand::k(8));
      null_check(a, out);
    }
    // A walk of constant steps that stays inside the area, then accesses.
    const bool on_map = use_map && coin() && m != SubFromStack;
    const int area = on_map ? int(maps[0].value_size) : 64;
    const int base_off = on_map ? 0 : -8 * uniform(8, 32);  // start of the area from the base
    if (on_map) a << movr(p, 0);
    else a << movr(p, kFramePointer);
    int pos = base_off;  // p - base
    a << alu(AluOp::Add, p, Operand::k(base_off));
    pos = 0;             // offset of p within the area
    const int steps = uniform(1, 3);
    for (int i = 0; i < steps; ++i) {
      const int to = on_map ? uniform(0, area) : 8 * uniform(0, area / 8);
      // the kernel refuses any subtraction from a stack pointer, even of a constant
      if (to >= pos || (!on_map && m != SubFromStack) || coin()) a << alu(AluOp::Add, p, Operand::k(to - pos));
      else a << alu(AluOp::Sub, p, Operand::k(pos - to));
      pos = to;
    }
    switch (m) {
      case SubFromStack: a << alu(AluOp::Sub, p, Operand::k(-8 * uniform(0, 2))); break;
      case Mul: a << alu(pick({AluOp::Mul, AluOp::Div, AluOp::Lsh}), p, Operand::k(pick({1, 2, 8}))); break;
      case Alu32: a << alu(pick({AluOp::Add, AluOp::Mov}), p, coin() ? Operand::k(8) : Operand::r(p), false); break;
      case PtrPlusPtr: a << alu(AluOp::Add, p, Operand::r(pick<Reg>({kFramePointer, c}))); break;
      case Bitwise: a << alu(pick({AluOp::And, AluOp::Or, AluOp::Xor}), p, Operand::k(pick({-8, 0, 7}))); break;
      case Neg: a << alu(AluOp::Neg, p, Operand::k(0)); break;
      default: break;
    }
    // accesses (aligned for the stack) relative to p
    const int count = uniform(1, 3);
    for (int i = 0; i < count; ++i) {
      const Width w = width_upto(8);
      const int at = on_map ? uniform(0, area - bytes(w)) : bytes(w) * uniform(0, area / bytes(w) - 1);
      if (on_map) {
        access(a, p, at - pos, w, 2);
      } else {
        // stores first so that the stack is initialised where loads read
        a << st(w, p, at - pos, uniform(0, 50)) << ldx(w, 2, p, at - pos);
      }
    }
    if (m == StorePtrToMap) a << stx(Width::DW, 0, 0, pick<Reg>({kFramePointer, c}));
    if (m == StorePtrToPacket) {
      const int16_t data_off = pt == kXdp ? kXdpData : kSkbData, end_off = pt == kXdp ? kXdpDataEnd : kSkbDataEnd;
      a << ldx(Width::W, 2, c, data_off) << ldx(Width::W, 3, c, end_off) << movr(4, 2) << alu(AluOp::Add, 4, Operand::k(8));
      a.jmp(Cond::Gt, 4, Operand::r(3), out);
      a << stx(Width::DW, 2, 0, pick<Reg>({kFramePointer, c, p}));
    }
    if (m == CtxModified) {
      a << movr(q, c) << alu(AluOp::Add, q, Operand::k(4)) << ldx(Width::W, 3, q, 0);
    }
    if (m == ScalarMinusPtr) a << mov(q, 100) << alu(AluOp::Sub, q, Operand::r(p));
    if (m == PtrSub) {
      // pointer - pointer into the same area is a scalar (privileged)
      a << movr(q, kFramePointer) << alu(AluOp::Sub, q, Operand::r(on_map ? c : p));
      a << alu(AluOp::And, q, Operand::k(3)) << movr(0, q) << Exit{};
    } else if (m == ReturnPtr) {
      a << movr(0, pick<Reg>({p, c, kFramePointer})) << Exit{};
    } else {
      ret(a, pt);
    }
    if (a.used(out)) {
      a.bind(out);
      ret(a, pt);
    }
    return done(a, std::string("ptr/") + kNames[m], safe, pt, maps);
  }

  // Registers read before they are written.
  GeneratedProgram uninit() {
    using namespace vpgen;
    enum { Ok, NeverWritten, AfterCall, R0Unset, OnePath, N };
    static const char* kNames[] = {"ok", "never_written", "arg_reg_after_call", "r0_unset", "written_on_one_path"};
    const int m = variant(N);
    const uint32_t pt = any_prog_type();
    Asm a;
    const auto pool = regs({2, 3, 4, 5, 6, 7, 8, 9}, 8);
    const int nw = uniform(1, 4);
    std::vector<Reg> written(pool.begin(), pool.begin() + nw);
    const Reg unwritten = pool[std::size_t(nw)];
    for (Reg r : written) a << mov(r, uniform(-50, 50));
    // a call clobbers r1-r5 (and sets r0, so none with r0 left unset)
    const bool with_call = m == AfterCall || m == OnePath || (m != R0Unset && coin(3));
    if (with_call) {
      // the argument register read after the call was written before it
      const Reg arg = pick<Reg>({1, 2, 3, 4, 5});
      if (m == AfterCall) a << mov(arg, uniform(0, 9));
      a << helper(pick({kKtimeGetNs, kPrandom}));
      written.erase(std::remove_if(written.begin(), written.end(), [](Reg x) { return x <= 5; }), written.end());
      if (m == AfterCall) a << alu(AluOp::Add, 0, Operand::r(arg));
    }
    // the accumulator, written on every path
    std::vector<Reg> acc_pool;
    for (Reg r = 6; r <= 9; ++r)
      if (r != unwritten) acc_pool.push_back(r);
    const Reg acc = one_of(acc_pool);
    a << mov(acc, uniform(0, 7));
    if (m == OnePath) {
      // y is written only when the random value in r0 passes the test
      std::vector<Reg> ys;
      for (Reg r = 2; r <= 9; ++r)
        if (r != acc && std::find(written.begin(), written.end(), r) == written.end()) ys.push_back(r);
      const Reg y = one_of(ys);
      Label skip = a.label();
      a.jmp(pick({Cond::Gt, Cond::Lt, Cond::Set}), 0, Operand::k(uniform(1, 1000)), skip, coin());
      a << mov(y, 3);
      a.bind(skip);
      a << alu(AluOp::Add, acc, Operand::r(y));
    }
    for (Reg w : written)
      if (w != acc) a << alu(pick({AluOp::Add, AluOp::Xor, AluOp::Sub}), acc, Operand::r(w));
    if (m == NeverWritten) a << alu(pick({AluOp::Add, AluOp::Mov, AluOp::Or}), acc, Operand::r(unwritten), coin());
    if (m != R0Unset) a << movr(0, acc) << alu(AluOp::And, 0, Operand::k(pt == kXdp ? 3 : 1));
    a << Exit{};
    return done(a, std::string("uninit/") + kNames[m], m == Ok, pt);
  }

  // Bounded loops: constant counters up and down, loops on a bounded unknown value.
  GeneratedProgram loop() {
    using namespace vpgen;
    enum { Ok, CounterNotUpdated, SelfLoop, TooLong, UnboundedCounter, N };
    static const char* kNames[] = {"ok", "counter_not_updated", "self_loop", "too_long", "unbounded_counter"};
    // a 1M-instruction refusal costs the kernel about a second: rarer
    int m = variant(N);
    if (m == TooLong && !coin(4)) m = CounterNotUpdated;
    const uint32_t pt = any_prog_type();
    Asm a;
    const auto r = regs({6, 7, 8, 9}, 3);
    const Reg c = r[0], acc = r[1], lim = r[2];
    a << mov(acc, uniform(0, 10));
    Label head = a.label();
    const int shape = m == UnboundedCounter ? 2 : m == TooLong || m == CounterNotUpdated ? 0 : uniform(0, 2);
    if (m == UnboundedCounter) {
      // for (c = unknown; c != k; c += step) acc ^= c: nothing bounds c, and the state at the
      // loop head repeats (acc and c unknown), which the kernel reports at once
      // (an ordered test would narrow c's range at every turn, and the kernel would walk on to
      // its 1M-instruction limit instead: also refused, but a second of kernel time each)
      a << helper(kPrandom) << movr(c, 0);
      a.bind(head);
      a << alu(pick({AluOp::Xor, AluOp::Add}), acc, Operand::r(c));
      a << alu(AluOp::Add, c, Operand::k(pick({1, 2, -1})));
      a.jmp(Cond::Ne, c, Operand::k(uniform(0, 300)), head, coin());
    } else if (m == SelfLoop) {
      // a conditional jump to itself that is always taken: same state at every visit
      a << mov(c, 0);
      Label self = a.label();
      a.bind(self);
      a.jmp(Cond::Eq, c, Operand::k(0), self);
    } else if (shape == 0) {
      // c = 0; do { acc op= c; c += step; } while (c < n)
      const int step = uniform(1, 4);
      const int n = step * (m == TooLong ? (1 << 20) : uniform(1, 300 / step));
      a << mov(c, 0);
      a.bind(head);
      if (m == CounterNotUpdated) {
        a << movr(acc, c) << alu(AluOp::Add, acc, Operand::k(1));
      } else {
        a << alu(pick({AluOp::Add, AluOp::Xor, AluOp::Sub}), acc, Operand::r(c));
        a << alu(AluOp::Add, c, Operand::k(step));
      }
      const bool is64 = m == TooLong || coin();
      switch (uniform(0, 3)) {
        case 0: a.jmp(Cond::Lt, c, Operand::k(n), head, is64); break;
        case 1: a << mov(lim, n); a.jmp(Cond::Gt, lim, Operand::r(c), head, is64); break;
        case 2: a.jmp(m == TooLong ? Cond::Lt : Cond::Ne, c, Operand::k(n), head, is64); break;
        default: a.jmp(Cond::Le, c, Operand::k(n - 1), head, is64); break;
      }
    } else if (shape == 1) {
      // c = n; do { ...; c -= 1; } while (c != 0 / c s> 0 / c > 0)
      const int n = uniform(1, 300);
      a << mov(c, n);
      a.bind(head);
      a << alu(AluOp::Add, acc, Operand::k(uniform(1, 5)));
      a << alu(AluOp::Sub, c, Operand::k(1));
      switch (uniform(0, 2)) {
        case 0: a.jmp(Cond::Ne, c, Operand::k(0), head, coin()); break;
        case 1: a.jmp(Cond::Sgt, c, Operand::k(0), head, coin()); break;
        default: a << mov(lim, 0); a.jmp(Cond::Lt, lim, Operand::r(c), head); break;
      }
    } else {
      // c = prandom & mask; while (c != 0) c >>= 1 (or c -= 1 with a signed test)
      a << helper(kPrandom) << movr(c, 0);
      a << alu(AluOp::And, c, Operand::k(pick({0xf, 0x3f, 0xff})));
      const bool shift = coin();
      Label end = a.label();
      a.bind(head);
      a.jmp(shift ? Cond::Eq : Cond::Sle, c, Operand::k(0), end);
      a << alu(AluOp::Add, acc, Operand::k(1));
      if (shift) a << alu(AluOp::Rsh, c, Operand::k(1));
      else a << alu(AluOp::Sub, c, Operand::k(1));
      a.ja(head);
      a.bind(end);
    }
    a << movr(0, acc) << alu(AluOp::And, 0, Operand::k(pt == kXdp ? 3 : 0xff)) << Exit{};
    return done(a, std::string("loop/") + kNames[m], m == Ok, pt);
  }

  // bpf-to-bpf calls: a callee after the entry's exit, given a scalar or a stack pointer.
  GeneratedProgram call() {
    using namespace vpgen;
    enum { Ok, CalleeReadsR6, CalleeNoR0, CallerArgAfterCall, CalleeUnsetArg, ReturnStackPtr, CalleeWritesBeyond, N };
    static const char* kNames[] = {"ok", "callee_reads_r6", "callee_no_r0", "caller_arg_reg_after_call",
                                   "callee_reads_unset_arg", "return_stack_pointer", "callee_writes_beyond_frame"};
    const int m = variant(N);
    const uint32_t pt = any_prog_type();
    Asm a;
    Label callee = a.label();
    const bool by_pointer = m == CalleeWritesBeyond || coin();
    const int slot = -8 * uniform(1, 8);
    const Reg keep = pick<Reg>({6, 7, 8, 9});
    a << mov(keep, uniform(0, 3));  // callee-saved: survives the call
    if (by_pointer) {
      a << st(Width::DW, kFramePointer, slot, uniform(0, 100));
      a << movr(1, kFramePointer) << alu(AluOp::Add, 1, Operand::k(slot));
    } else {
      a << mov(1, uniform(-100, 100));
    }
    if (m != CalleeUnsetArg) a << mov(2, uniform(0, 9));
    a.call_local(callee);
    if (m == CallerArgAfterCall) a << alu(AluOp::Add, 0, Operand::r(pick<Reg>({1, 2, 3, 4, 5})));
    if (m == ReturnStackPtr) {
      a << ldx(Width::DW, 3, 0, 0);  // use it
    } else if (by_pointer && coin()) {
      a << ldx(Width::DW, 3, kFramePointer, slot) << alu(AluOp::Add, 0, Operand::r(3));
    }
    if (m == CalleeNoR0 || coin()) a << alu(AluOp::And, 0, Operand::k(pt == kXdp ? 3 : 0xff));
    a << alu(AluOp::Xor, 0, Operand::r(keep)) << alu(AluOp::And, 0, Operand::k(pt == kXdp ? 3 : 0xff)) << Exit{};

    a.bind(callee);
    // the callee's own frame
    const int own = -8 * uniform(1, 4);
    a << stx(Width::DW, kFramePointer, own, 2) << ldx(Width::DW, 4, kFramePointer, own);
    if (by_pointer) {
      if (coin()) a << st(Width::DW, 1, m == CalleeWritesBeyond ? -slot : 0, uniform(0, 9));
      if (m == CalleeWritesBeyond) a << st(Width::DW, 1, -slot + 8 * uniform(0, 2), 7);
      if (m != CalleeNoR0) a << ldx(Width::DW, 0, 1, 0);
    } else if (m != CalleeNoR0) {
      a << movr(0, 1) << alu(AluOp::Mul, 0, Operand::k(uniform(1, 5)));
    }
    if (m != CalleeNoR0) a << alu(AluOp::Add, 0, Operand::r(4));
    else a << alu(AluOp::Add, 4, Operand::k(1));
    if (m == CalleeReadsR6) a << alu(AluOp::Add, 4, Operand::r(pick<Reg>({6, 7, 8, 9})));
    if (m == ReturnStackPtr) a << movr(0, kFramePointer) << alu(AluOp::Add, 0, Operand::k(own));
    a << Exit{};
    return done(a, std::string("call/") + kNames[m], m == Ok, pt);
  }

  // Helpers other than lookup: map update and delete, time, random numbers, xdp_adjust_head.
  GeneratedProgram helpers() {
    using namespace vpgen;
    enum { Ok, UpdateValueShort, UpdateFlagsUnset, UpdateValueScalar, StalePacket, AdjustHeadInTc, AdjustHeadNotCtx, N };
    static const char* kNames[] = {"ok", "update_value_beyond_stack", "update_flags_unset", "update_value_scalar",
                                   "packet_pointer_after_adjust_head", "adjust_head_in_tc", "adjust_head_r1_not_ctx"};
    const int m = variant(N);
    int kind = uniform(0, 3);  // 0 update, 1 delete, 2 time/random, 3 adjust_head
    if (m >= UpdateValueShort && m <= UpdateValueScalar) kind = 0;
    if (m >= StalePacket) kind = 3;
    const uint32_t pt = kind == 3 ? (m == AdjustHeadInTc ? kSchedCls : kXdp) : any_prog_type();
    Asm a;
    std::vector<MapDef> maps;
    Label out = a.label();
    if (kind == 0 || kind == 1) {
      MapDef md = random_map(kind == 1 || coin());
      md.value_size = uint32_t(8 * uniform(1, 4));
      maps.push_back(md);
      const int koff = store_key(a, md);
      const int vs = int(md.value_size);
      int voff = -16 - 8 * uniform(1, 8) - vs;  // below the key
      if (kind == 0) {
        for (int o = 0; o < vs; o += 8) a << st(Width::DW, kFramePointer, voff + o, uniform(0, 1000));
        if (m == UpdateValueShort) voff = -(vs - 8 * uniform(0, vs / 8 - 1)) + 8;
      }
      a.ld_map(1, 0);
      point_r2(a, koff);
      if (kind == 0) {
        if (m == UpdateValueScalar) a << mov(3, 0);
        else a << movr(3, kFramePointer) << alu(AluOp::Add, 3, Operand::k(voff));
        if (m != UpdateFlagsUnset) a << mov(4, uniform(0, 2));  // BPF_ANY, BPF_NOEXIST, BPF_EXIST
        a << helper(kMapUpdate);
      } else {
        a << helper(kMapDelete);
      }
      a << movr(6, 0);
      a.jmp(pick({Cond::Slt, Cond::Ne}), 6, Operand::k(0), out);
    } else if (kind == 2) {
      a << helper(pick({kKtimeGetNs, kPrandom})) << movr(6, 0) << helper(pick({kKtimeGetNs, kPrandom}));
      a << alu(AluOp::Xor, 0, Operand::r(6)) << alu(AluOp::And, 0, Operand::k(pt == kXdp ? 3 : 0xff)) << Exit{};
    } else {
      // adjust the head, then reload data and data_end: the old packet pointers are gone
      const int16_t data_off = pt == kXdp ? kXdpData : kSkbData, end_off = pt == kXdp ? kXdpDataEnd : kSkbDataEnd;
      a << movr(6, 1) << ldx(Width::W, 7, 1, data_off) << ldx(Width::W, 8, 1, end_off);
      a << movr(9, 7) << alu(AluOp::Add, 9, Operand::k(16));
      a.jmp(Cond::Gt, 9, Operand::r(8), out);
      if (m == AdjustHeadNotCtx) a << mov(1, 0);
      a << mov(2, pick({-16, -8, -4, 4, 8, 14}));
      a << helper(kXdpAdjustHead);
      a.jmp(Cond::Ne, 0, Operand::k(0), out);
      if (m != StalePacket) a << ldx(Width::W, 7, 6, data_off) << ldx(Width::W, 8, 6, end_off);
      const int n = uniform(1, 32);
      a << movr(9, 7) << alu(AluOp::Add, 9, Operand::k(n));
      Label ok = a.label();
      a.jmp(Cond::Le, 9, Operand::r(8), ok);
      ret(a, pt);
      a.bind(ok);
      const Width w = width_upto(std::min(n, 8));
      access(a, 7, uniform(0, n - bytes(w)), w, 2);
    }
    if (kind != 2) ret(a, pt);
    if (kind != 2) {
      a.bind(out);
      ret(a, pt);
    }
    return done(a, std::string("helper/") + kNames[m], m == Ok, pt, maps);
  }

  // Division and modulo by registers that may be zero (defined at run time), 64 and 32 bits,
  // signed and unsigned.
  GeneratedProgram division() {
    using namespace vpgen;
    enum { Ok, DivPointer, DivisorUninit, QuotientAsOffset, N };
    static const char* kNames[] = {"ok", "divide_pointer", "divisor_uninit", "quotient_as_unbounded_offset"};
    const int m = variant(N);
    const uint32_t pt = any_prog_type();
    Asm a;
    std::vector<MapDef> maps;
    const auto r = regs({6, 7, 8, 9}, 3);
    const Reg x = r[0], y = r[1], vp = r[2];
    a << helper(kPrandom) << movr(x, 0);
    if (m != DivisorUninit) {
      a << helper(kPrandom) << movr(y, 0);
      a << alu(AluOp::And, y, Operand::k(pick({1, 3, 0xf, 0xff})));  // zero some of the time
    }
    const int ops = uniform(1, 3);
    for (int i = 0; i < ops; ++i) {
      const AluOp op = pick({AluOp::Div, AluOp::Mod, AluOp::SDiv, AluOp::SMod});
      const bool is64 = coin();
      // the mutations need the register divisor (a constant modulus would bound the offset)
      if (coin(4) && !(m == DivisorUninit && i == 0) && m != QuotientAsOffset) a << alu(op, x, Operand::k(pick({-7, -1, 1, 3, 10, 1000})), is64);
      else a << alu(op, x, Operand::r(y), is64);
    }
    if (m == DivPointer) a << movr(3, kFramePointer) << alu(pick({AluOp::Div, AluOp::Mod}), 3, Operand::r(coin() ? y : x));
    if (m == QuotientAsOffset) {
      maps.push_back(random_map(false));
      Label out = a.label();
      lookup(a, maps[0]);
      a.jmp(Cond::Eq, 0, Operand::k(0), out);
      a << movr(vp, 0) << alu(AluOp::Add, vp, Operand::r(x)) << ldx(Width::B, 2, vp, 0);
      a.bind(out);
    }
    a << movr(0, x) << alu(AluOp::And, 0, Operand::k(pt == kXdp ? 3 : 0xffff)) << Exit{};
    return done(a, std::string("div/") + kNames[m], m == Ok, pt, maps);
  }

  std::mt19937_64 rng_;
};

}  // namespace tristate::test
