#include "verifier/symbolic.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <variant>

#include "compiler/cfg.hpp"
#include "compiler/error.hpp"
#include "compiler/isa.hpp"

namespace tristate {

// --- the world ----------------------------------------------------------------------------------

namespace {

// The largest frames of the interpreter's test runs (compiler/interpreter.hpp): XDP 4096 - 256
// headroom - 320 tailroom; skb 4096 - 64 headroom - 320 tailroom.
constexpr uint64_t kXdpMaxLen = 3520, kSkbMaxLen = 3712, kEthHeader = 14;

z3::sort bv(z3::context& c, unsigned bits) { return c.bv_sort(bits); }

}  // namespace

bool SymbolicWorld::is_array_like(uint32_t t) {
  return t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY;
}
bool SymbolicWorld::counts_entries(uint32_t t) { return t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_PERCPU_HASH; }

bool SymbolicWorld::is_hash_like(uint32_t t) {
  return t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_HASH ||
         t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

SymbolicWorld::SymbolicWorld(z3::context& c, CtxModel model, std::vector<MapDef> maps)
    : c_(c),
      model_(model),
      maps_(std::move(maps)),
      packet_(c.constant("packet", c.array_sort(bv(c, 64), bv(c, 8)))),
      length_(c.bv_const("length", 64)),
      assumptions_(c.bool_val(true)),
      replayable_(c.bool_val(true)),
      tracing_ctx_(c.constant("tracing_ctx", c.array_sort(bv(c, 64), bv(c, 8)))),
      cpu_(c.bv_const("cpu", 64)),
      pid_tgid_(c.bv_const("pid_tgid", 64)) {
  if (takes_packet(model)) {
    const uint64_t max = model == CtxModel::Xdp ? kXdpMaxLen : kSkbMaxLen;
    assumptions_ = z3::uge(length_, c.bv_val(kEthHeader, 64)) && z3::ule(length_, c.bv_val(max, 64));
  } else {
    assumptions_ = length_ == c.bv_val(0, 64);
  }
  for (unsigned i = 0; i < 15; ++i) comm_.push_back(c.bv_const(("comm" + std::to_string(i)).c_str(), 8));
  // One CPU in the interpreter's replays: per-CPU maps then hold one copy, as modelled here.
  assumptions_ = assumptions_ && cpu_ == c.bv_val(0, 64);
  for (std::size_t m = 0; m < maps_.size(); ++m) {
    const std::string name = "map" + std::to_string(m) + "." + maps_[m].name;
    memory_.push_back(c.constant((name + ".memory").c_str(), c.array_sort(map_index_sort(m), bv(c, 8))));
    present_.push_back(c.constant((name + ".present").c_str(), c.array_sort(bv(c, std::max(1u, maps_[m].key_size) * 8), c.bool_sort())));
    count_.push_back(c.bv_const((name + ".count").c_str(), 32));
    if (counts_entries(maps_[m].type)) assumptions_ = assumptions_ && z3::ule(count_.back(), c.bv_val(maps_[m].max_entries, 32));
  }
}

z3::sort SymbolicWorld::map_index_sort(std::size_t m) const {
  return c_.bv_sort(std::max(1u, maps_[m].key_size) * 8 + 32);
}

z3::expr SymbolicWorld::fresh(const std::string& name, unsigned bits) {
  return c_.bv_const((name + "!" + std::to_string(fresh_count_++)).c_str(), bits);
}

z3::expr SymbolicWorld::prandom(unsigned i) {
  while (prandom_.size() <= i)
    prandom_.push_back(z3::zext(c_.bv_const(("prandom" + std::to_string(prandom_.size())).c_str(), 32), 32));
  return prandom_[i];
}

z3::expr SymbolicWorld::probe_result(unsigned i) {
  const auto key = std::make_pair(i, ~0u);
  if (auto it = probes_.find(key); it != probes_.end()) return it->second;
  const z3::expr v = c_.bv_const(("probe_read" + std::to_string(i) + ".result").c_str(), 64);
  replayable_ = replayable_ && v == c_.bv_val(uint64_t(-int64_t(EFAULT)), 64);
  return probes_.emplace(key, v).first->second;
}

z3::expr SymbolicWorld::probe_byte(unsigned i, unsigned byte) {
  const auto key = std::make_pair(i, byte);
  if (auto it = probes_.find(key); it != probes_.end()) return it->second;
  const z3::expr v = c_.bv_const(("probe_read" + std::to_string(i) + "[" + std::to_string(byte) + "]").c_str(), 8);
  replayable_ = replayable_ && v == c_.bv_val(0, 8);
  return probes_.emplace(key, v).first->second;
}

z3::expr SymbolicWorld::region_base(const std::string& name, std::optional<uint64_t> pretend) {
  if (auto it = bases_.find(name); it != bases_.end()) return it->second;
  const z3::expr v = c_.bv_const(("base." + name).c_str(), 64);
  if (pretend) replayable_ = replayable_ && v == c_.bv_val(*pretend, 64);
  return bases_.emplace(name, v).first->second;
}

z3::expr SymbolicWorld::ktime(unsigned i) {
  while (ktime_.size() <= i) ktime_.push_back(c_.bv_const(("ktime" + std::to_string(ktime_.size())).c_str(), 64));
  return ktime_[i];
}

z3::expr SymbolicWorld::field(const CtxField& f) {
  if (auto it = fields_.find(f.offset); it != fields_.end()) return it->second;
  const unsigned size = f.size * 8, target = std::min(f.target, f.size) * 8;
  const std::string name = std::string("ctx.") + f.name;
  z3::expr v = c_.bv_val(0, target);
  const std::string n = f.name;
  const auto byte = [&](unsigned i) { return z3::select(packet_, c_.bv_val(i, 64)); };
  if ((model_ == CtxModel::Tc || model_ == CtxModel::SocketFilter) && n == "len") {
    v = (length_ - c_.bv_val(data_start(), 64)).extract(target - 1, 0);
  } else if ((model_ == CtxModel::Tc || model_ == CtxModel::SocketFilter) && n == "pkt_type") {
    // eth_type_trans on the loopback: multicast bit, else host when the address is all zero.
    z3::expr zero = c_.bool_val(true);
    for (unsigned i = 0; i < 6; ++i) zero = zero && byte(i) == c_.bv_val(0, 8);
    v = z3::ite((byte(0) & c_.bv_val(1, 8)) != c_.bv_val(0, 8), c_.bv_val(2, target),
                z3::ite(zero, c_.bv_val(0, target), c_.bv_val(3, target)));
  } else if ((model_ == CtxModel::Tc || model_ == CtxModel::SocketFilter) && n == "protocol") {
    // eth_type_trans's protocol, big-endian in memory: below 0x600 an 802.3 length (then
    // ETH_P_802_3 or, for 0xffff after the header, ETH_P_802_2 raw IPX).
    const z3::expr type = z3::concat(byte(12), byte(13));
    const z3::expr ipx = z3::uge(length_, c_.bv_val(16, 64)) && byte(14) == c_.bv_val(0xff, 8) && byte(15) == c_.bv_val(0xff, 8);
    const z3::expr proto = z3::ite(z3::ult(type, c_.bv_val(0x600, 16)), z3::ite(ipx, c_.bv_val(1, 16), c_.bv_val(4, 16)), type);
    v = z3::concat(proto.extract(7, 0), proto.extract(15, 8));  // __be16 as the u32 holds it
    if (target > 16) v = z3::zext(v, target - 16);
  } else {
    v = c_.bv_const(name.c_str(), target);
    const bool derived_from_env = n == "ingress_ifindex" || n == "ifindex";
    if (!f.user_settable && !derived_from_env) replayable_ = replayable_ && v == c_.bv_val(0, target);
  }
  if (target < size) v = z3::zext(v, size - target);
  fields_.emplace(f.offset, v);
  return v;
}

const char* sym_kind_name(SymKind k) {
  switch (k) {
    case SymKind::Uninit: return "uninitialised";
    case SymKind::Scalar: return "scalar";
    case SymKind::Stack: return "fp";
    case SymKind::Ctx: return "ctx";
    case SymKind::Packet: return "pkt";
    case SymKind::PacketEnd: return "pkt_end";
    case SymKind::PacketMeta: return "pkt_meta";
    case SymKind::MapValue: return "map_value";
    case SymKind::MapPtr: return "map_ptr";
  }
  return "?";
}

z3::expr Encoding::safe() const {
  z3::expr_vector v(exceeded.ctx());
  for (const Obligation& o : obligations) v.push_back(o.holds);
  return z3::mk_and(v);
}

z3::expr context_byte(SymbolicWorld& world, const SymState& s, int64_t at) {
  if (auto it = s.ctx.find(at); it != s.ctx.end()) return it->second.value();
  const CtxField* f = ctx_field_at(world.model(), at, 1);
  if (!f) throw InternalError("context byte outside every field");
  const z3::expr v = world.field(*f);
  const unsigned i = unsigned(at - int64_t(f->offset));
  return v.extract(8 * i + 7, 8 * i);
}

namespace {

z3::expr pick(const z3::expr& g, const z3::expr& a, const z3::expr& b) { return z3::eq(a, b) ? a : z3::ite(g, a, b); }

// Stack bytes: a byte one side never wrote is uninitialised there.
std::map<int64_t, SymByte> merge_stack(const z3::expr& g, const std::map<int64_t, SymByte>& a,
                                       const std::map<int64_t, SymByte>& b) {
  z3::context& c = g.ctx();
  std::map<int64_t, SymByte> out;
  const SymByte none{c.bv_val(0, 8), 0, 1, c.bool_val(false)};
  auto ia = a.begin(), ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    int64_t off;
    const SymByte *x, *y;
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      off = ia->first, x = &ia->second, y = &none, ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      off = ib->first, x = &none, y = &ib->second, ++ib;
    } else {
      off = ia->first, x = &ia->second, y = &ib->second, ++ia, ++ib;
    }
    if (z3::eq(x->whole, y->whole) && x->index == y->index && z3::eq(x->init, y->init))
      out.emplace(off, *x);
    else
      out.emplace(off, SymByte{pick(g, x->value(), y->value()), 0, 1, pick(g, x->init, y->init)});
  }
  return out;
}

}  // namespace

void merge_state(SymbolicWorld& world, SymState& into, const SymState& from, bool whole) {
  // ite(from.guard, from's, into's): the arriving state's guard is usually one path's, smaller
  // than the disjunction `into` has gathered.
  const z3::expr g = from.guard;
  const auto join = [&](z3::expr& mine, const z3::expr& theirs) { mine = pick(g, theirs, mine); };
  const auto join_reg = [&](SymReg& mine, const SymReg& theirs) {
    if (mine.v && theirs.v) join(*mine.v, *theirs.v);
  };
  if (whole) {
    for (int i = 0; i < 11; ++i) join_reg(into.r[i], from.r[i]);
    for (std::size_t f = 0; f < into.frames.size(); ++f) {
      SymFrame& x = into.frames[f];
      const SymFrame& y = from.frames[f];
      x.bytes = merge_stack(g, y.bytes, x.bytes);
      for (auto& [off, reg] : x.spills) join_reg(reg, y.spills.at(off));
      for (int i = 0; i < 4; ++i) join_reg(x.saved[i], y.saved[i]);
    }
  } else {
    join_reg(into.r[0], from.r[0]);
  }
  join(into.packet, from.packet);
  join(into.redirect, from.redirect);
  for (std::size_t m = 0; m < into.memory.size(); ++m) {
    join(into.memory[m], from.memory[m]);
    join(into.present[m], from.present[m]);
    join(into.count[m], from.count[m]);
  }
  // Context bytes: one side's unwritten byte is the field as the run started with it.
  std::map<int64_t, SymByte> ctx;
  for (const std::map<int64_t, SymByte>* side : {&std::as_const(into.ctx), &from.ctx})
    for (const auto& [off, byte] : *side)
      if (!ctx.count(off))
        ctx.emplace(off, SymByte{pick(g, context_byte(world, from, off), context_byte(world, into, off)), 0, 1,
                                 world.ctx().bool_val(true)});
  into.ctx = std::move(ctx);
  for (std::size_t e = 0; e < into.effects.size(); ++e)
    for (std::size_t i = 0; i < into.effects[e].args.size(); ++i) join(into.effects[e].args[i], from.effects[e].args[i]);
  into.guard = into.guard || from.guard;
}

SymState initial_state(SymbolicWorld& world) {
  z3::context& c = world.ctx();
  SymState s{c.bool_val(true), 0, {}, {}, world.packet(), {}, {}, {}, {}, {}, c.bv_val(0, 193), 0, 0, 0, 0};
  for (std::size_t m = 0; m < world.maps().size(); ++m) {
    s.memory.push_back(world.map_memory(m));
    s.present.push_back(world.map_present(m));
    s.count.push_back(world.map_count(m));
  }
  s.frames.resize(1);
  s.r[1] = world.model() == CtxModel::None ? SymReg{SymKind::Scalar, 0, 0, c.bv_const("r1", 64)}
                                           : SymReg{SymKind::Ctx, 0, 0, std::nullopt};
  s.r[kFramePointer] = {SymKind::Stack, 0, 0, std::nullopt};
  return s;
}

// --- the executor ------------------------------------------------------------------------------

namespace {

// Thrown inside an instruction when the construct is not modelled; ends the encoding.
struct Unsupported {
  std::string what;
};

// Thrown when the path is unsafe for certain (a static verifier error on it): the state ends.
struct DeadPath {};

constexpr unsigned kStackSize = 512;

z3::expr little_endian(const std::vector<z3::expr>& bytes) {
  z3::expr r = bytes.back();
  for (std::size_t i = bytes.size() - 1; i-- > 0;) r = z3::concat(r, bytes[i]);
  return r;
}

class Executor {
 public:
  Executor(SymbolicWorld& w, const Module& module, const Program& program, const EncodeOptions& options)
      : w_(w), c_(w.ctx()), d_{w.ctx()}, module_(module), options_(options),
        cfg_(build_cfg(program)), refs_(resolve_map_refs(module, program)),
        enc_{{}, {}, w.ctx().bool_val(false), std::nullopt, {}} {
    // Ranks: a topological order of each function's instructions (reverse post-order of blocks),
    // and which slots start a block entered from more than one place (where states merge).
    rank_.assign(cfg_.image_size(), 0);
    join_.assign(cfg_.image_size(), false);
    for (std::size_t fi = 0; fi < cfg_.functions.size(); ++fi) {
      const FunctionCfg& f = cfg_.functions[fi];
      uint32_t r = 0;
      for (std::size_t b : f.rpo)
        for (std::size_t pc = f.blocks[b].first; pc <= f.blocks[b].last; ++pc) rank_[pc] = r++;
      for (const BasicBlock& b : f.blocks)
        if (b.preds.size() > 1) join_[b.first] = true;
      join_[f.start] = true;
      for (auto [from, to] : f.back_edges) back_.push_back({f.blocks[from].last, f.blocks[to].first});
    }
    for (const DecodedInsn& d : cfg_.insns)
      if (const auto* call = std::get_if<Call>(&d.insn); call && call->kind == CallKind::Local && d.pc + 1 < join_.size())
        join_[d.pc + 1] = true;
  }

  Encoding run(SymState entry, std::optional<std::size_t> stop, std::vector<SymLookup> lookups = {}, bool prefix = false) {
    stop_ = stop;
    prefix_ = prefix;
    start_ = entry.pc;
    enc_.lookups = std::move(lookups);
    try {
      push(std::move(entry));
      std::size_t steps = 0;
      while (!points_.empty()) {
        auto node = points_.extract(points_.begin());
        for (SymState& s : merge(std::move(node.mapped()))) {
          if (++steps > options_.max_steps)
            throw Unsupported{"more than " + std::to_string(options_.max_steps) + " program points to visit"};
          execute_block(std::move(s));
        }
      }
    } catch (const Unsupported& u) {
      enc_.unsupported = u.what;
    }
    return std::move(enc_);
  }

 private:
  using Key = std::vector<uint32_t>;

  SymbolicWorld& w_;
  z3::context& c_;
  Z3Domain d_;
  const Module& module_;
  EncodeOptions options_;
  Cfg cfg_;
  std::vector<MapRef> refs_;
  Encoding enc_;
  std::vector<uint32_t> rank_;
  std::vector<bool> join_;
  std::vector<std::pair<std::size_t, std::size_t>> back_;
  std::optional<std::size_t> stop_;
  std::size_t start_ = 0;
  bool prefix_ = false;  // stop at stop_, dropping paths that exit before it
  std::map<Key, std::vector<SymState>> points_;
  std::optional<std::size_t> global_lookup_[64];

  z3::expr bv(uint64_t v, unsigned bits = 64) const { return c_.bv_val(v, bits); }
  [[noreturn]] void unsupported(std::size_t pc, const std::string& what) const {
    throw Unsupported{"insn " + std::to_string(pc) + ": " + what};
  }
  // A condition every input must meet on this path.
  void require(const SymState& s, const z3::expr& cond, const std::string& what) {
    enc_.obligations.push_back({z3::implies(s.guard, cond), s.pc, what});
  }
  // A static error on this path: the path is unsafe, and ends.
  [[noreturn]] void fail(const SymState& s, const std::string& what) {
    enc_.obligations.push_back({!s.guard, s.pc, what});
    throw DeadPath{};
  }

  Key key_of(const SymState& s) const {
    Key k{s.back_edges};
    for (std::size_t f = 1; f < s.frames.size(); ++f) k.push_back(rank_[s.frames[f].return_pc - 1]);
    k.push_back(rank_[s.pc]);
    return k;
  }
  void push(SymState s) {
    if (s.pc >= cfg_.image_size()) throw InternalError("symbolic state past the image");
    points_[key_of(s)].push_back(std::move(s));
  }

  // --- merging --------------------------------------------------------------------------------

  static bool same_shape(const SymState& a, const SymState& b) {
    if (a.pc != b.pc || a.frames.size() != b.frames.size() || a.effects.size() != b.effects.size() ||
        a.prandom != b.prandom || a.ktime != b.ktime || a.probes != b.probes)
      return false;
    for (int i = 0; i < 11; ++i)
      if (!a.r[i].same_shape(b.r[i])) return false;
    for (std::size_t f = 0; f < a.frames.size(); ++f) {
      const SymFrame &x = a.frames[f], &y = b.frames[f];
      if (x.return_pc != y.return_pc || x.spills.size() != y.spills.size()) return false;
      for (int i = 0; i < 4; ++i)
        if (!x.saved[i].same_shape(y.saved[i])) return false;
      for (const auto& [off, reg] : x.spills) {
        auto it = y.spills.find(off);
        if (it == y.spills.end() || !reg.same_shape(it->second)) return false;
      }
    }
    for (std::size_t e = 0; e < a.effects.size(); ++e)
      if (a.effects[e].helper != b.effects[e].helper || a.effects[e].args.size() != b.effects[e].args.size()) return false;
    return true;
  }

  // Merges states of the same shape (their paths are disjoint, so `ite` on one guard is exact).
  std::vector<SymState> merge(std::vector<SymState> states) {
    std::vector<SymState> out;
    for (SymState& s : states) {
      auto it = std::find_if(out.begin(), out.end(), [&](const SymState& o) { return same_shape(o, s); });
      if (it == out.end())
        out.push_back(std::move(s));
      else
        merge_state(w_, *it, s, true);
    }
    return out;
  }

  // --- control ----------------------------------------------------------------------------------

  // Moves `s` from `from` to `to`, counting back edges.
  void go(SymState s, std::size_t from, std::size_t to) {
    if (std::find(back_.begin(), back_.end(), std::make_pair(from, to)) != back_.end()) {
      if (++s.back_edges > options_.unroll) {
        enc_.exceeded = enc_.exceeded || s.guard;
        return;
      }
    }
    s.pc = to;
    push(std::move(s));
  }

  void execute_block(SymState s) {
    try {
      for (;;) {
        if (stop_ && s.pc == *stop_) {
          enc_.outcomes.push_back(std::move(s));
          return;
        }
        if (stop_ && !prefix_ && (s.pc < start_ || s.pc > *stop_))
          unsupported(s.pc, "control leaves the window [" + std::to_string(start_) + ", " + std::to_string(*stop_) + ")");
        const std::size_t pc = s.pc;
        const std::size_t index = cfg_.insn_index(pc);
        const Decoded& insn = cfg_.insns[index].insn;
        if (!step(s, insn)) return;  // the instruction handed the state on
        const std::size_t next = s.pc;
        if (next != pc + slots(insn) || join_[next] || (stop_ && next == *stop_)) {
          const std::size_t to = next;
          s.pc = pc;
          go(std::move(s), pc, to);
          return;
        }
      }
    } catch (const DeadPath&) {
    }
  }

  // Runs one instruction. Returns false when it handed the state on itself (branches, exits).
  bool step(SymState& s, const Decoded& insn) {
    const std::size_t pc = s.pc;
    if (const auto* a = std::get_if<Alu>(&insn)) {
      alu(s, *a);
    } else if (const auto* j = std::get_if<Jmp>(&insn)) {
      // Constants fold as the domain builds them (a loop counter decides its branch here); the
      // solver sees the rest.
      const z3::expr cond = jump_condition(s, *j);
      const std::size_t target = pc + 1 + std::size_t(int64_t(j->off));
      if (cond.is_true()) {
        s.pc = target;
        go(std::move(s), pc, target);
      } else if (cond.is_false()) {
        go(std::move(s), pc, pc + 1);
      } else {
        SymState taken = s;
        taken.guard = s.guard && cond;
        s.guard = s.guard && !cond;
        if (const auto id = null_check(s, *j)) null_to_scalar(j->cond == Cond::Eq ? taken : s, *id);
        if (!z3::eq(cond, c_.bool_val(false))) go(std::move(taken), pc, target);
        go(std::move(s), pc, pc + 1);
      }
      return false;
    } else if (const auto* ja = std::get_if<Ja>(&insn)) {
      go(std::move(s), pc, std::size_t(int64_t(pc) + 1 + ja->off));
      return false;
    } else if (std::holds_alternative<MayGoto>(insn)) {
      // The budget (8M per call) outlasts any unrolling bound: the fall-through is taken.
      go(std::move(s), pc, pc + 1);
      return false;
    } else if (const auto* l = std::get_if<Load>(&insn)) {
      load(s, *l);
    } else if (const auto* st = std::get_if<Store>(&insn)) {
      store(s, *st);
    } else if (const auto* at = std::get_if<Atomic>(&insn)) {
      atomic(s, *at);
    } else if (const auto* e = std::get_if<Endian>(&insn)) {
      s.r[e->dst] = scalar_reg(endian_result(d_, e->order, e->bits, scalar(s, e->dst)));
    } else if (const auto* li = std::get_if<LdImm64>(&insn)) {
      ld_imm64(s, *li);
      s.pc = pc + 2;
      return true;
    } else if (const auto* call = std::get_if<Call>(&insn)) {
      if (call->kind == CallKind::Local) {
        if (s.frames.size() == 8) fail(s, "the call stack is too deep");
        SymFrame f;
        f.return_pc = pc + 1;
        for (int i = 0; i < 4; ++i) f.saved[i] = s.r[6 + i], s.r[6 + i] = {};
        s.frames.push_back(std::move(f));
        s.r[kFramePointer] = {SymKind::Stack, uint32_t(s.frames.size() - 1), 0, std::nullopt};
        go(std::move(s), pc, pc + 1 + std::size_t(int64_t(call->imm)));
        return false;
      }
      if (call->kind == CallKind::Kfunc) unsupported(pc, "kfunc calls");
      helper(s, call->imm);
    } else if (std::holds_alternative<Exit>(insn)) {
      if (s.r[0].kind == SymKind::Uninit) fail(s, "R0 !read_ok");
      if (s.frames.size() == 1) {
        if (prefix_) return false;
        if (stop_) unsupported(pc, "an exit inside the window");
        if (s.r[0].kind != SymKind::Scalar) unsupported(pc, "returning a pointer");
        enc_.outcomes.push_back(std::move(s));
        return false;
      }
      const SymFrame f = std::move(s.frames.back());
      s.frames.pop_back();
      for (int i = 0; i < 4; ++i) s.r[6 + i] = f.saved[i];
      for (int i = 1; i <= 5; ++i) s.r[i] = {};
      s.r[kFramePointer] = {SymKind::Stack, uint32_t(s.frames.size() - 1), 0, std::nullopt};
      // Leaving the callee: the return is not a back edge, and the key's frame part shrinks.
      s.pc = f.return_pc;
      push(std::move(s));
      return false;
    } else if (const auto* p = std::get_if<PacketLoad>(&insn)) {
      return packet_load(s, *p);
    } else {
      unsupported(pc, "addr_space_cast");
    }
    s.pc = pc + slots(insn);
    return true;
  }

  // --- registers ----------------------------------------------------------------------------------

  SymReg scalar_reg(const z3::expr& v) const { return {SymKind::Scalar, 0, 0, v}; }

  z3::expr scalar(const SymState& s, Reg r) {
    const SymReg& x = s.r[r];
    if (x.kind == SymKind::Scalar) return *x.v;
    if (x.kind == SymKind::Uninit) fail(s, "R" + std::to_string(r) + " !read_ok");
    unsupported(s.pc, "R" + std::to_string(r) + " is a pointer (" + sym_kind_name(x.kind) + ") used as a number");
  }
  z3::expr operand(const SymState& s, const Operand& o) {
    return o.is_reg ? scalar(s, o.reg) : imm_value(d_, o.imm);
  }
  static bool is_pointer(SymKind k) { return k != SymKind::Uninit && k != SymKind::Scalar; }
  static bool is_packet(SymKind k) { return k == SymKind::Packet || k == SymKind::PacketEnd || k == SymKind::PacketMeta; }

  // A pointer's offset as a 64-bit value (packet pointers: from the frame's start).
  z3::expr offset_of(const SymReg& p) const {
    if (p.kind == SymKind::Stack || p.kind == SymKind::Ctx) return bv(uint64_t(p.off));
    return *p.v;
  }

  void alu(SymState& s, const Alu& a) {
    const bool moves = a.op == AluOp::Mov || a.op == AluOp::MovSx8 || a.op == AluOp::MovSx16 || a.op == AluOp::MovSx32;
    const SymReg src = a.src.is_reg ? s.r[a.src.reg] : scalar_reg(imm_value(d_, a.src.imm));
    SymReg& dst = s.r[a.dst];
    if (!is_pointer(src.kind) && (moves || !is_pointer(dst.kind))) {
      const z3::expr x = moves ? bv(0) : scalar(s, a.dst);
      const AluOp op = options_.break_add && a.op == AluOp::Add ? AluOp::Sub : a.op;
      dst = scalar_reg(alu_result(d_, op, a.is64, x, operand(s, a.src)));
      return;
    }
    if (src.kind == SymKind::Uninit) fail(s, "R" + std::to_string(a.src.reg) + " !read_ok");
    if (dst.kind == SymKind::Uninit && !moves) fail(s, "R" + std::to_string(a.dst) + " !read_ok");
    if (a.op == AluOp::Mov && a.is64) {
      dst = src;
      return;
    }
    const bool dp = is_pointer(dst.kind), sp = is_pointer(src.kind);
    if (!a.is64 && (a.op == AluOp::Mov || (a.op == AluOp::Sub && !(dp && sp)))) {
      // A pointer as a 32-bit number: the low half of its address (clang's `w0 = w3; w0 -= w2`
      // for data_end - data). Only meaningful where the region's base cancels.
      const z3::expr x = a.op == AluOp::Mov ? bv(0) : number(s, dst), y = number(s, src);
      dst = scalar_reg(d_.zext(a.op == AluOp::Mov ? y : x - y, 32));
      return;
    }
    if (a.op == AluOp::Sub && dp && sp) {
      const bool same = (is_packet(dst.kind) && is_packet(src.kind)) || (dst.kind == src.kind && dst.id == src.id);
      if (!same) unsupported(s.pc, "subtraction of pointers into different regions");
      const z3::expr diff = offset_of(dst) - offset_of(src);
      dst = scalar_reg(a.is64 ? diff : d_.zext(diff, 32));
      return;
    }
    if (!a.is64) unsupported(s.pc, "32-bit arithmetic on a pointer");
    if (a.op == AluOp::Add && !dp && sp) {  // scalar + pointer
      const z3::expr delta = scalar(s, a.dst);
      dst = src;
      add_offset(s, dst, delta);
      return;
    }
    if ((a.op == AluOp::Add || a.op == AluOp::Sub) && dp && !sp) {
      const z3::expr delta = *src.v;
      add_offset(s, dst, a.op == AluOp::Add ? delta : -delta);
      return;
    }
    fail(s, "R" + std::to_string(a.dst) + " pointer arithmetic with this operation is prohibited");
  }

  // A register as a number: a scalar's value, or a pointer's (pretend) address.
  z3::expr number(const SymState& s, const SymReg& r) {
    // The interpreter's pretend addresses (compiler/interpreter.cpp): packet data at 256 (XDP)
    // or 64 (skb) bytes into its buffer, frames 0x10000 apart and addressed from their top.
    const uint64_t headroom = w_.model() == CtxModel::Xdp ? 256 : 64;
    switch (r.kind) {
      case SymKind::Scalar: return *r.v;
      case SymKind::Packet:
      case SymKind::PacketEnd:
      case SymKind::PacketMeta: return w_.region_base("packet", 0xffff888200000000 + headroom) + *r.v;
      case SymKind::Stack:
        return w_.region_base("stack" + std::to_string(r.id), 0xffffc90000000000 + uint64_t(r.id) * 0x10000 + 512) +
               bv(uint64_t(r.off));
      case SymKind::Ctx: return w_.region_base("ctx", 0xffff888100000000) + bv(uint64_t(r.off));
      case SymKind::MapValue: return w_.region_base("map_value" + std::to_string(r.id), std::nullopt) + *r.v;
      case SymKind::MapPtr: return w_.region_base("map" + std::to_string(r.id), std::nullopt);
      case SymKind::Uninit: break;
    }
    fail(s, "!read_ok");
  }

  void add_offset(const SymState& s, SymReg& p, const z3::expr& delta) {
    if (p.kind == SymKind::PacketEnd || p.kind == SymKind::MapPtr)
      fail(s, std::string("pointer arithmetic on ") + sym_kind_name(p.kind) + " prohibited");
    if (p.kind == SymKind::Stack || p.kind == SymKind::Ctx) {
      const z3::expr d = delta.simplify();
      uint64_t k = 0;
      if (!d.is_numeral_u64(k)) unsupported(s.pc, std::string("a variable offset into the ") + sym_kind_name(p.kind));
      p.off += int64_t(k);
      return;
    }
    p.v = *p.v + delta;
  }

  // The lookup a jump tests for NULL (`if rX == 0` / `!= 0` on a map value pointer), if it is one.
  std::optional<uint32_t> null_check(const SymState& s, const Jmp& j) const {
    if ((j.cond != Cond::Eq && j.cond != Cond::Ne) || !j.is64 || j.src.is_reg || j.src.imm != 0) return std::nullopt;
    const SymReg& r = s.r[j.dst];
    uint64_t off = 1;
    if (r.kind != SymKind::MapValue || !r.v || !r.v->simplify().is_numeral_u64(off) || off != 0) return std::nullopt;
    return r.id;
  }

  // On the branch where lookup `id` failed, its pointers are the number 0, as the interpreter (and
  // the kernel's verifier, marking the registers) has them.
  void null_to_scalar(SymState& s, uint32_t id) {
    const auto fix = [&](SymReg& r) {
      if (r.kind == SymKind::MapValue && r.id == id) r = scalar_reg(bv(0));
    };
    for (SymReg& r : s.r) fix(r);
    for (SymFrame& f : s.frames)
      for (SymReg& r : f.saved) fix(r);
  }

  z3::expr jump_condition(const SymState& s, const Jmp& j) {
    const SymReg lhs = s.r[j.dst];
    const SymReg rhs = j.src.is_reg ? s.r[j.src.reg] : scalar_reg(imm_value(d_, j.src.imm));
    if (lhs.kind == SymKind::Uninit) fail(s, "R" + std::to_string(j.dst) + " !read_ok");
    if (rhs.kind == SymKind::Uninit) fail(s, "R" + std::to_string(j.src.reg) + " !read_ok");
    if (lhs.kind == SymKind::Scalar && rhs.kind == SymKind::Scalar) return condition(d_, j.cond, j.is64, *lhs.v, *rhs.v);
    const bool both = is_pointer(lhs.kind) && is_pointer(rhs.kind);
    if (both) {
      const bool same = (is_packet(lhs.kind) && is_packet(rhs.kind)) || (lhs.kind == rhs.kind && lhs.id == rhs.id);
      if (!same || !j.is64) unsupported(s.pc, "comparison of pointers into different regions");
      return condition(d_, j.cond, true, offset_of(lhs), offset_of(rhs));
    }
    // A pointer against a number: only NULL checks of map values mean anything.
    const SymReg& ptr = is_pointer(lhs.kind) ? lhs : rhs;
    const z3::expr other = *(is_pointer(lhs.kind) ? rhs : lhs).v;
    uint64_t k = 1;
    if ((j.cond != Cond::Eq && j.cond != Cond::Ne) || !other.simplify().is_numeral_u64(k) || k != 0 || !j.is64)
      fail(s, "R" + std::to_string(j.dst) + " pointer comparison prohibited");
    const z3::expr null = ptr.kind == SymKind::MapValue ? !enc_.lookups[ptr.id].nonnull : c_.bool_val(false);
    return j.cond == Cond::Eq ? null : !null;
  }

  void ld_imm64(SymState& s, const LdImm64& l) {
    const MapRef ref = refs_[s.pc];
    if (ref.map < 0) {
      if (l.pseudo != 0) unsupported(s.pc, "an LD_IMM64 of a map, BTF object or function the object does not relocate");
      s.r[l.dst] = scalar_reg(bv(l.value()));
      return;
    }
    if (ref.offset < 0) {
      s.r[l.dst] = {SymKind::MapPtr, uint32_t(ref.map), 0, std::nullopt};
      return;
    }
    // Global data: the value of key 0 of an internal array, always there.
    const std::size_t m = std::size_t(ref.map);
    if (m >= 64) unsupported(s.pc, "more than 64 maps");
    if (!global_lookup_[m]) {
      global_lookup_[m] = enc_.lookups.size();
      enc_.lookups.push_back({m, bv(0, 32), c_.bool_val(true)});
    }
    s.r[l.dst] = {SymKind::MapValue, uint32_t(*global_lookup_[m]), 0, bv(uint64_t(ref.offset))};
  }

  // --- memory -----------------------------------------------------------------------------------

  // Reads `n` bytes at `p` + off (not the context). Adds the access's obligations.
  std::vector<z3::expr> read(SymState& s, const SymReg& p, int64_t off, unsigned n, bool helper_arg = false) {
    std::vector<z3::expr> out;
    switch (p.kind) {
      case SymKind::Stack: {
        SymFrame& f = s.frames[p.id];
        const int64_t at = p.off + off;
        if (at < -int64_t(kStackSize) || at + int64_t(n) > 0)
          fail(s, "invalid stack access off=" + std::to_string(at) + " size=" + std::to_string(n));
        for (unsigned i = 0; i < n; ++i) {
          auto it = f.bytes.find(at + i);
          if (it == f.bytes.end())
            fail(s, std::string(helper_arg ? "invalid indirect read from stack" : "invalid read from stack") +
                        " off=" + std::to_string(at + i));
          if (!it->second.init.is_true()) require(s, it->second.init, "read of uninitialised stack");
          out.push_back(it->second.value());
        }
        return out;
      }
      case SymKind::Packet: {
        const z3::expr o = *p.v + bv(uint64_t(off));
        require(s, packet_in_bounds(o, n), "packet access out of bounds");
        for (unsigned i = 0; i < n; ++i) out.push_back(z3::select(s.packet, o + bv(i)));
        return out;
      }
      case SymKind::MapValue: {
        const SymLookup& h = enc_.lookups[p.id];
        const z3::expr o = *p.v + bv(uint64_t(off));
        require(s, value_in_bounds(h, o, n), "map value access out of bounds (or NULL)");
        for (unsigned i = 0; i < n; ++i) out.push_back(z3::select(s.memory[h.map], value_index(h, o + bv(i))));
        return out;
      }
      case SymKind::PacketMeta: fail(s, "invalid access to packet metadata (there is none)");
      case SymKind::Uninit: fail(s, "!read_ok");
      case SymKind::Scalar: fail(s, "invalid mem access 'scalar'");
      default: fail(s, std::string("invalid mem access '") + sym_kind_name(p.kind) + "'");
    }
  }

  void write(SymState& s, const SymReg& p, int64_t off, unsigned n, const z3::expr& v) {
    switch (p.kind) {
      case SymKind::Stack: {
        SymFrame& f = s.frames[p.id];
        const int64_t at = p.off + off;
        if (at < -int64_t(kStackSize) || at + int64_t(n) > 0)
          fail(s, "invalid stack access off=" + std::to_string(at) + " size=" + std::to_string(n));
        for (unsigned i = 0; i < n; ++i) f.bytes.insert_or_assign(at + i, SymByte{v, uint8_t(i), uint8_t(n), c_.bool_val(true)});
        for (int64_t slot = (at - 7 + 512) / 8 * 8 - 512; slot < at + int64_t(n); slot += 8)
          if (slot + 8 > at) f.spills.erase(slot);
        return;
      }
      case SymKind::Packet: {
        const z3::expr o = *p.v + bv(uint64_t(off));
        require(s, packet_in_bounds(o, n), "packet access out of bounds");
        for (unsigned i = 0; i < n; ++i) s.packet = z3::store(s.packet, o + bv(i), n == 1 ? v : v.extract(8 * i + 7, 8 * i));
        return;
      }
      case SymKind::MapValue: {
        const SymLookup& h = enc_.lookups[p.id];
        if (module_.maps[h.map].flags & BPF_F_RDONLY_PROG) fail(s, "write into map that is read-only to programs");
        const z3::expr o = *p.v + bv(uint64_t(off));
        require(s, value_in_bounds(h, o, n), "map value access out of bounds (or NULL)");
        for (unsigned i = 0; i < n; ++i)
          s.memory[h.map] = z3::store(s.memory[h.map], value_index(h, o + bv(i)), n == 1 ? v : v.extract(8 * i + 7, 8 * i));
        return;
      }
      case SymKind::PacketMeta: fail(s, "invalid access to packet metadata (there is none)");
      case SymKind::Uninit: fail(s, "!read_ok");
      case SymKind::Scalar: fail(s, "invalid mem access 'scalar'");
      default: fail(s, std::string("invalid mem access '") + sym_kind_name(p.kind) + "'");
    }
  }

  z3::expr packet_in_bounds(const z3::expr& o, unsigned n) const {
    return z3::sge(o, bv(w_.data_start())) && z3::sle(o + bv(n), w_.length()) && z3::slt(o, bv(1ull << 32));
  }
  z3::expr value_in_bounds(const SymLookup& h, const z3::expr& o, unsigned n) const {
    const uint32_t size = module_.maps[h.map].value_size;
    return h.nonnull && z3::sge(o, bv(0)) && z3::sle(o + bv(n), bv(size));
  }
  z3::expr value_index(const SymLookup& h, const z3::expr& o) const { return z3::concat(h.key, o.extract(31, 0)); }

  // --- context ----------------------------------------------------------------------------------

  const CtxField& ctx_field(SymState& s, int64_t at, unsigned n, bool store) {
    const CtxModel m = w_.model();
    if (m == CtxModel::None) unsupported(s.pc, "a context access in a program without a context type");
    if (at % int64_t(n) != 0) fail(s, "invalid bpf_context access: misaligned");
    if (m == CtxModel::Xdp && n != 4) fail(s, "invalid bpf_context access: xdp_md is accessed 4 bytes at a time");
    const CtxField* f = ctx_field_at(m, at, int(n));
    if (!f) fail(s, "invalid bpf_context access off=" + std::to_string(at) + " size=" + std::to_string(n));
    if (store && !f->writable) fail(s, std::string("invalid bpf_context access: ") + f->name + " is read-only");
    if (store && !f->block && (n != f->size || at != int64_t(f->offset)))
      fail(s, std::string("invalid bpf_context access: ") + f->name + " must be written whole");
    if (!store && (f->value != CtxValue::Scalar || !f->narrow) && !f->block && (n != f->size || at != int64_t(f->offset)))
      fail(s, std::string("invalid bpf_context access: ") + f->name + " must be read whole");
    return *f;
  }

  z3::expr ctx_byte(SymState& s, int64_t at) { return context_byte(w_, s, at); }

  SymReg ctx_load(SymState& s, const SymReg& p, int64_t off, unsigned n) {
    const int64_t at = p.off + off;
    if (w_.model() == CtxModel::Tracing) {
      if (at < 0) fail(s, "invalid bpf_context access below the context");
      std::vector<z3::expr> bytes;
      for (unsigned i = 0; i < n; ++i) bytes.push_back(z3::select(w_.tracing_ctx(), bv(uint64_t(at + i))));
      return scalar_reg(z3::zext(little_endian(bytes), 64 - 8 * n));
    }
    const CtxField& f = ctx_field(s, at, n, false);
    switch (f.value) {
      case CtxValue::Data: return {SymKind::Packet, 0, 0, bv(w_.data_start())};
      case CtxValue::DataEnd: return {SymKind::PacketEnd, 0, 0, w_.length()};
      case CtxValue::DataMeta: return {SymKind::PacketMeta, 0, 0, bv(w_.data_start())};
      case CtxValue::Scalar: break;
    }
    int64_t from = at;
    unsigned width = n;
    if (!f.block && n >= f.target) from = f.offset, width = std::min(f.target, f.size);
    std::vector<z3::expr> bytes;
    for (unsigned i = 0; i < width; ++i) bytes.push_back(ctx_byte(s, from + i));
    const z3::expr v = little_endian(bytes);
    return scalar_reg(width == 8 ? v : z3::zext(v, 64 - 8 * width));
  }

  void ctx_store(SymState& s, const SymReg& p, int64_t off, unsigned n, const z3::expr& v) {
    const int64_t at = p.off + off;
    if (w_.model() == CtxModel::Tracing) fail(s, "invalid bpf_context access: the tracing context is read-only");
    ctx_field(s, at, n, true);
    for (unsigned i = 0; i < n; ++i) s.ctx.insert_or_assign(at + i, SymByte{v, uint8_t(i), uint8_t(n), c_.bool_val(true)});
  }

  // --- loads, stores, atomics -------------------------------------------------------------------

  void load(SymState& s, const Load& l) {
    const unsigned n = unsigned(bytes(l.width));
    const SymReg p = s.r[l.base];
    if (p.kind == SymKind::Ctx) {
      SymReg v = ctx_load(s, p, l.off, n);
      if (l.sign_extend && v.kind == SymKind::Scalar) v.v = d_.sext(*v.v, 8 * n);
      s.r[l.dst] = v;
      return;
    }
    if (p.kind == SymKind::Stack) {
      const SymFrame& f = s.frames[p.id];
      const int64_t at = p.off + l.off;
      for (const auto& [slot, reg] : f.spills) {
        if (slot + 8 <= at || slot >= at + int64_t(n)) continue;
        if (slot != at || n != 8 || l.sign_extend) fail(s, "partial read of a spilled pointer");
        s.r[l.dst] = reg;
        return;
      }
    }
    const z3::expr v = little_endian(read(s, p, l.off, n));
    s.r[l.dst] = scalar_reg(n == 8 ? v : (l.sign_extend ? z3::sext(v, 64 - 8 * n) : z3::zext(v, 64 - 8 * n)));
  }

  void store(SymState& s, const Store& st) {
    const unsigned n = unsigned(bytes(st.width));
    const SymReg p = s.r[st.base];
    if (st.src.is_reg && is_pointer(s.r[st.src.reg].kind)) {
      if (p.kind != SymKind::Stack) fail(s, "R" + std::to_string(st.src.reg) + " leaks addr into mem");
      const int64_t at = p.off + st.off;
      if (n != 8 || (at % 8) != 0) fail(s, "spill of a pointer must be an aligned 8-byte store");
      // The bytes hold a pretend address: a number only meaningful as this pointer.
      write(s, p, st.off, 8, c_.bv_const(("spilled_address@" + std::to_string(s.pc)).c_str(), 64));
      s.frames[p.id].spills[at] = s.r[st.src.reg];
      return;
    }
    const z3::expr v = operand(s, st.src);
    const z3::expr narrow = n == 8 ? v : v.extract(8 * n - 1, 0);
    if (p.kind == SymKind::Ctx) return ctx_store(s, p, st.off, n, narrow);
    write(s, p, st.off, n, narrow);
  }

  void atomic(SymState& s, const Atomic& at) {
    const unsigned n = unsigned(bytes(at.width));
    const SymReg p = s.r[at.base];
    if (p.kind == SymKind::Ctx) fail(s, "BPF_ATOMIC stores into ctx are not allowed");
    if (p.kind == SymKind::Stack)
      for (const auto& [slot, reg] : s.frames[p.id].spills)
        if (slot < p.off + at.off + int64_t(n) && slot + 8 > p.off + at.off) fail(s, "atomic operation on a spilled pointer");
    const z3::expr old_bytes = little_endian(read(s, p, at.off, n));
    const z3::expr old = n == 8 ? old_bytes : z3::zext(old_bytes, 32);
    const z3::expr src = scalar(s, at.src);
    const bool is64 = at.width == Width::DW;
    const z3::expr r0 = at.op == AtomicOp::CmpXchg ? scalar(s, 0) : old;  // r0 is read only by CmpXchg
    const z3::expr next = atomic_result(d_, at.op, is64, old, src, r0);
    write(s, p, at.off, n, n == 8 ? next : next.extract(8 * n - 1, 0));
    if (at.op == AtomicOp::CmpXchg)
      s.r[0] = scalar_reg(old);
    else if (at.fetch)
      s.r[at.src] = scalar_reg(old);
  }

  // LD_ABS / LD_IND: the big-endian value, or an exit with r0 = 0 when out of the packet.
  bool packet_load(SymState& s, const PacketLoad& l) {
    if (w_.model() != CtxModel::Tc && w_.model() != CtxModel::SocketFilter)
      fail(s, "BPF_LD_[ABS|IND] instructions are only valid for socket filters and tc programs");
    if (s.r[6].kind != SymKind::Ctx) fail(s, "at the time of BPF_LD_ABS|IND R6 != pointer to skb");
    const unsigned n = unsigned(bytes(l.width));
    z3::expr k = bv(uint64_t(int64_t(l.imm)));
    if (l.indirect) k = z3::sext((scalar(s, l.src).extract(31, 0) + bv(uint32_t(l.imm), 32)), 32);
    // Offsets from the data (k >= 0), from the network header (SKF_NET_OFF) or from the link
    // layer (SKF_LL_OFF); frame offsets here.
    const int64_t net = -0x100000, ll = -0x200000;
    const z3::expr from_data = z3::sge(k, bv(0));
    const z3::expr at = z3::ite(from_data, k + bv(w_.data_start()),
                                z3::ite(z3::sge(k, bv(uint64_t(net))), k - bv(uint64_t(net)) + bv(kEthHeader),
                                        z3::ite(z3::sge(k, bv(uint64_t(ll))), k - bv(uint64_t(ll)), bv(uint64_t(-1)))));
    const z3::expr lo = z3::ite(from_data, bv(w_.data_start()), bv(0));
    const z3::expr inside = z3::sge(at, lo) && z3::sle(at + bv(n), w_.length()) && z3::sge(at, bv(0));
    for (int i = 1; i <= 5; ++i) s.r[i] = {};
    SymState out = s;
    out.guard = s.guard && !inside;
    out.r[0] = scalar_reg(bv(0));
    if (out.frames.size() != 1) unsupported(s.pc, "LD_ABS/LD_IND in a subprogram");
    if (stop_ && !prefix_) unsupported(s.pc, "LD_ABS/LD_IND in a window");
    if (!prefix_) enc_.outcomes.push_back(std::move(out));
    s.guard = s.guard && inside;
    std::vector<z3::expr> big;
    for (unsigned i = 0; i < n; ++i) big.push_back(z3::select(s.packet, at + bv(n - 1 - i)));
    const z3::expr v = little_endian(big);
    s.r[0] = scalar_reg(n == 8 ? v : z3::zext(v, 64 - 8 * n));
    s.pc += 1;
    return true;
  }

  // --- helpers ----------------------------------------------------------------------------------

  std::size_t map_arg(SymState& s, Reg r) {
    if (s.r[r].kind != SymKind::MapPtr) fail(s, "R" + std::to_string(r) + " must be a map");
    return s.r[r].id;
  }
  // The bytes at the pointer in `r` (a helper's memory argument).
  z3::expr mem_arg(SymState& s, Reg r, unsigned n) {
    if (n == 0) unsupported(s.pc, "an empty memory argument");
    return little_endian(read(s, s.r[r], 0, n, true));
  }

  void effect(SymState& s, int32_t id, std::vector<z3::expr> args) { s.effects.push_back({id, std::move(args)}); }

  // An LPM trie lookup (trie_lookup_elem, as compiler/maps.cpp models it): NULL when the key's
  // prefixlen exceeds the trie's; else the entry of the longest stored prefix no longer than it
  // whose bits match the data. Entries are kept by their canonical key: (prefixlen, the data's
  // first prefixlen bits, most significant first, the rest zero).
  void lpm_lookup(SymState& s, std::size_t m, const z3::expr& key) {
    const MapDef& def = module_.maps[m];
    const unsigned data_bytes = def.key_size - 4, max = data_bytes * 8;
    const z3::expr limit = key.extract(31, 0);
    const z3::expr data = key.extract(8 * def.key_size - 1, 32);
    const auto canonical = [&](unsigned len) {
      z3::expr mask = bv(0, 8);
      for (unsigned i = 0; i < data_bytes; ++i) {
        const unsigned keep = len > 8 * i ? std::min(8u, len - 8 * i) : 0;
        const z3::expr byte = bv(keep == 0 ? 0 : (0xffu << (8 - keep)) & 0xff, 8);
        mask = i == 0 ? byte : z3::concat(byte, mask);
      }
      return z3::concat(data & mask, bv(len, 32));
    };
    z3::expr nonnull = c_.bool_val(false), entry = canonical(0);
    for (unsigned len = 0; len <= max; ++len) {
      const z3::expr candidate = canonical(len);
      const z3::expr hit = z3::ule(bv(len, 32), limit) && z3::select(s.present[m], candidate);
      nonnull = nonnull || hit;
      entry = z3::ite(hit, candidate, entry);  // longer prefixes come later and win
    }
    nonnull = nonnull && z3::ule(limit, bv(max, 32));
    enc_.lookups.push_back({m, entry, nonnull});
    enc_.keys.push_back({m, entry});
    set_result(s, {SymKind::MapValue, uint32_t(enc_.lookups.size() - 1), 0, bv(0)});
  }

  void skb_arg(const SymState& s, const char* helper) {
    if (w_.model() != CtxModel::Tc && w_.model() != CtxModel::SocketFilter) fail(s, std::string(helper) + " needs an skb");
    if (s.r[1].kind != SymKind::Ctx) fail(s, std::string(helper) + "'s R1 must be the context");
  }

  // bpf_l3_csum_replace / bpf_l4_csum_replace, as compiler/helpers.cpp runs them: the __sum16 at
  // `offset` in the skb data updated for `from` becoming `to` (2 or 4 bytes, or a difference
  // when the size is 0), by the one's-complement formulas of compiler/checksum.hpp (RFC 1624)
  // written on bit-vectors. The L4 form widens 2-byte fields first and knows the "mangled 0" rule.
  z3::expr csum_replace(SymState& s, bool l4) {
    const z3::expr offset = d_.zext(scalar(s, 2), 32), from = scalar(s, 3), to = scalar(s, 4), flags = scalar(s, 5);
    const auto err = [&](int e) { return bv(uint64_t(-int64_t(e))); };
    constexpr uint64_t kIpv6 = 1 << 7;  // BPF_F_IPV6 (newer than this machine's UAPI header)
    const uint64_t allowed =
        l4 ? (BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | kIpv6) : BPF_F_HDR_FIELD_MASK;
    const z3::expr bad_flags = (flags & ~bv(allowed)) != bv(0);
    const z3::expr fault = z3::ugt(offset, bv(0xffff)) || (offset & bv(1)) != bv(0) ||
                           z3::ugt(offset + bv(2), w_.length() - bv(w_.data_start()));
    const z3::expr at = bv(w_.data_start()) + offset;
    const z3::expr check = z3::concat(z3::select(s.packet, at + bv(1)), z3::select(s.packet, at));
    // One's-complement sums with the end-around carry.
    const auto add = [](const z3::expr& a, const z3::expr& b) {
      const z3::expr r = a + b;
      return r + z3::zext(z3::ite(z3::ult(r, b), a.ctx().bv_val(1, 1), a.ctx().bv_val(0, 1)), r.get_sort().bv_size() - 1);
    };
    const auto sub = [&](const z3::expr& a, const z3::expr& b) { return add(a, ~b); };
    const auto fold = [&](const z3::expr& sum) {
      z3::expr x = (sum & c_.bv_val(0xffff, 32)) + z3::lshr(sum, 16);
      x = (x & c_.bv_val(0xffff, 32)) + z3::lshr(x, 16);
      return (~x).extract(15, 0);
    };
    const z3::expr check32 = z3::zext(check, 16);
    const z3::expr size = flags & bv(BPF_F_HDR_FIELD_MASK);
    const z3::expr by_diff = fold(add(to.extract(31, 0), ~check32));
    const z3::expr two = l4 ? fold(add(sub(~check32, z3::zext(from.extract(15, 0), 16)), z3::zext(to.extract(15, 0), 16)))
                            : ~add(sub(~check, from.extract(15, 0)), to.extract(15, 0));
    const z3::expr four = fold(add(sub(~check32, from.extract(31, 0)), to.extract(31, 0)));
    const z3::expr bad_size = !(size == bv(0) || size == bv(2) || size == bv(4)) || (size == bv(0) && from != bv(0));
    z3::expr next = z3::ite(size == bv(0), by_diff, z3::ite(size == bv(2), two, four));
    z3::expr skip = c_.bool_val(false);
    if (l4) {
      const z3::expr mangled0 = (flags & bv(BPF_F_MARK_MANGLED_0)) != bv(0), enforce = (flags & bv(BPF_F_MARK_ENFORCE)) != bv(0);
      skip = mangled0 && !enforce && check == c_.bv_val(0, 16);
      next = z3::ite(mangled0 && next == c_.bv_val(0, 16), c_.bv_val(0xffff, 16), next);
    }
    const z3::expr writes = !bad_flags && !fault && !skip && !bad_size;
    s.packet = z3::ite(writes, z3::store(z3::store(s.packet, at, next.extract(7, 0)), at + bv(1), next.extract(15, 8)), s.packet);
    return z3::ite(bad_flags, err(EINVAL), z3::ite(fault, err(EFAULT), z3::ite(skip, bv(0), z3::ite(bad_size, err(EINVAL), bv(0)))));
  }

  void set_redirect(SymState& s, const z3::expr& taken, const z3::expr& ifindex, const z3::expr& map_plus_one,
                    const z3::expr& key, const z3::expr& flags) {
    const z3::expr target = z3::concat(bv(1, 1), z3::concat(ifindex, z3::concat(map_plus_one, z3::concat(key, flags))));
    s.redirect = z3::ite(taken, target, s.redirect);
  }

  // A helper's size argument, which must be a constant here (1..255 bytes).
  unsigned constant_size(const SymState& s, Reg r, const char* helper) {
    uint64_t size = 0;
    if (!scalar(s, r).simplify().is_numeral_u64(size) || size == 0 || size > 255)
      unsupported(s.pc, std::string(helper) + " with a size that is not a constant of 1 to 255 bytes");
    return unsigned(size);
  }

  // The widths bpf_trace_printk prints its arguments at, from a constant format: %d %i %u %x %X
  // 32 bits, with l or ll 64, %p 64, %c 8 (at most three conversions).
  std::vector<unsigned> printk_widths(const SymState& s, const z3::expr& fmt, unsigned size) {
    std::string text;
    for (unsigned i = 0; i < size; ++i) {
      uint64_t b = 0;
      if (!fmt.extract(8 * i + 7, 8 * i).simplify().is_numeral_u64(b))
        unsupported(s.pc, "bpf_trace_printk with a format that is not constant");
      if (b == 0) break;
      text.push_back(char(b));
    }
    std::vector<unsigned> widths;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '%') continue;
      if (++i < text.size() && text[i] == '%') continue;
      while (i < text.size() && std::string_view("-+ #0123456789.").find(text[i]) != std::string_view::npos) ++i;
      unsigned longs = 0;
      while (i < text.size() && text[i] == 'l') ++longs, ++i;
      if (i >= text.size()) break;
      switch (text[i]) {
        case 'd': case 'i': case 'u': case 'x': case 'X': widths.push_back(longs ? 64 : 32); break;
        case 'p': widths.push_back(64); break;
        case 'c': widths.push_back(8); break;
        default: unsupported(s.pc, std::string("bpf_trace_printk's %") + text[i] + " conversion");
      }
    }
    if (widths.size() > 3) unsupported(s.pc, "bpf_trace_printk with more than three conversions");
    return widths;
  }

  void helper(SymState& s, int32_t id) {
    z3::expr r0 = bv(0);
    const auto errno_ = [&](int e) { return bv(uint64_t(-int64_t(e))); };
    switch (id) {
      case BPF_FUNC_map_lookup_elem: {
        const std::size_t m = map_arg(s, 1);
        const MapDef& def = module_.maps[m];
        const z3::expr key = mem_arg(s, 2, def.key_size);
        z3::expr nonnull = c_.bool_val(true);
        if (SymbolicWorld::is_array_like(def.type))
          nonnull = z3::ult(key, bv(def.max_entries, 32));
        else if (SymbolicWorld::is_hash_like(def.type) || def.type == BPF_MAP_TYPE_DEVMAP_HASH)
          nonnull = z3::select(s.present[m], key);
        else if (def.type == BPF_MAP_TYPE_DEVMAP || def.type == BPF_MAP_TYPE_CPUMAP || def.type == BPF_MAP_TYPE_XSKMAP)
          nonnull = z3::select(s.present[m], key) && z3::ult(key, bv(def.max_entries, 32));
        else if (def.type == BPF_MAP_TYPE_LPM_TRIE && def.key_size > 4)
          return lpm_lookup(s, m, key);
        else
          unsupported(s.pc, "bpf_map_lookup_elem on a map of type " + def.type_name);
        enc_.lookups.push_back({m, key, nonnull});
        enc_.keys.push_back({m, key});
        set_result(s, {SymKind::MapValue, uint32_t(enc_.lookups.size() - 1), 0, bv(0)});
        return;
      }
      case BPF_FUNC_map_update_elem: {
        const std::size_t m = map_arg(s, 1);
        const MapDef& def = module_.maps[m];
        const z3::expr key = mem_arg(s, 2, def.key_size);
        const z3::expr value = mem_arg(s, 3, def.value_size);
        const z3::expr flags = scalar(s, 4);
        enc_.keys.push_back({m, key});
        z3::expr ok = c_.bool_val(false);
        if (SymbolicWorld::is_array_like(def.type)) {
          // array_map_update_elem's order (compiler/maps.cpp): flags, index, NOEXIST, F_LOCK.
          const z3::expr bad = z3::ugt(flags & ~bv(BPF_F_LOCK), bv(BPF_EXIST));
          const z3::expr past = z3::uge(key, bv(def.max_entries, 32));
          const z3::expr noexist = (flags & bv(BPF_NOEXIST)) != bv(0);
          const z3::expr lock = (flags & bv(BPF_F_LOCK)) != bv(0);
          r0 = z3::ite(bad, errno_(EINVAL), z3::ite(past, errno_(E2BIG), z3::ite(noexist, errno_(EEXIST), z3::ite(lock, errno_(EINVAL), bv(0)))));
          ok = !bad && !past && !noexist && !lock;
        } else if (SymbolicWorld::is_hash_like(def.type)) {
          // htab_map_update_elem: flags, NOEXIST/EXIST against presence, then a new key needs
          // room (LRU maps evict instead: assumed to have room, eviction is not modelled).
          const z3::expr bad = z3::ugt(flags, bv(BPF_EXIST));
          const z3::expr present = z3::select(s.present[m], key);
          const z3::expr clash = flags == bv(BPF_NOEXIST) && present;
          const z3::expr missing = flags == bv(BPF_EXIST) && !present;
          const bool counted = SymbolicWorld::counts_entries(def.type);
          const z3::expr full = counted ? !present && z3::uge(s.count[m], bv(def.max_entries, 32)) : c_.bool_val(false);
          r0 = z3::ite(bad, errno_(EINVAL), z3::ite(clash, errno_(EEXIST), z3::ite(missing, errno_(ENOENT), z3::ite(full, errno_(E2BIG), bv(0)))));
          ok = !bad && !clash && !missing && !full;
          if (counted) s.count[m] = z3::ite(ok && !present, s.count[m] + bv(1, 32), s.count[m]);
          s.present[m] = z3::ite(ok, z3::store(s.present[m], key, c_.bool_val(true)), s.present[m]);
        } else {
          unsupported(s.pc, "bpf_map_update_elem on a map of type " + def.type_name);
        }
        z3::expr mem = s.memory[m];
        for (uint32_t i = 0; i < def.value_size; ++i)
          mem = z3::store(mem, z3::concat(key, bv(i, 32)), value.extract(8 * i + 7, 8 * i));
        s.memory[m] = z3::ite(ok, mem, s.memory[m]);
        break;
      }
      case BPF_FUNC_map_delete_elem: {
        const std::size_t m = map_arg(s, 1);
        const MapDef& def = module_.maps[m];
        const z3::expr key = mem_arg(s, 2, def.key_size);
        enc_.keys.push_back({m, key});
        if (SymbolicWorld::is_array_like(def.type)) {
          r0 = errno_(EINVAL);
        } else if (SymbolicWorld::is_hash_like(def.type)) {
          const z3::expr present = z3::select(s.present[m], key);
          r0 = z3::ite(present, bv(0), errno_(ENOENT));
          if (SymbolicWorld::counts_entries(def.type)) s.count[m] = z3::ite(present, s.count[m] - bv(1, 32), s.count[m]);
          s.present[m] = z3::store(s.present[m], key, c_.bool_val(false));
        } else {
          unsupported(s.pc, "bpf_map_delete_elem on a map of type " + def.type_name);
        }
        break;
      }
      case BPF_FUNC_ktime_get_ns:
      case BPF_FUNC_ktime_get_boot_ns:
      case BPF_FUNC_ktime_get_coarse_ns: r0 = w_.ktime(s.ktime++); break;
      case BPF_FUNC_get_prandom_u32: r0 = w_.prandom(s.prandom++); break;
      case BPF_FUNC_get_smp_processor_id: r0 = w_.cpu(); break;
      case BPF_FUNC_get_current_pid_tgid: r0 = w_.pid_tgid(); break;
      case BPF_FUNC_trace_printk: {
        uint64_t size = 0;
        if (!scalar(s, 2).simplify().is_numeral_u64(size) || size == 0 || size > 256)
          unsupported(s.pc, "bpf_trace_printk with a format size that is not a constant");
        const z3::expr fmt = mem_arg(s, 1, unsigned(size));
        // What the line shows: the format, and each argument as wide as its conversion prints it.
        std::vector<z3::expr> args{fmt};
        for (unsigned bits : printk_widths(s, fmt, unsigned(size))) {
          const Reg r = Reg(3 + args.size() - 1);
          args.push_back(scalar(s, r).extract(bits - 1, 0));
        }
        // Its result (the length of the line) as a function of what it prints.
        z3::sort_vector domain(c_);
        z3::expr_vector actual(c_);
        for (const z3::expr& a : args) domain.push_back(a.get_sort()), actual.push_back(a);
        std::string name = "trace_printk_result";
        for (const z3::expr& a : args) name += "_" + std::to_string(a.get_sort().bv_size());
        r0 = z3::function(name.c_str(), domain, c_.bv_sort(64))(actual);
        effect(s, id, std::move(args));
        break;
      }
      case BPF_FUNC_get_current_comm: {
        const unsigned size = constant_size(s, 2, "bpf_get_current_comm");
        std::vector<z3::expr> bytes;
        for (unsigned i = 0; i < size; ++i) bytes.push_back(i < 15 && i + 1 < size ? w_.comm_byte(i) : bv(0, 8));
        write(s, s.r[1], 0, size, little_endian(bytes));
        break;
      }
      case BPF_FUNC_probe_read_user:
      case BPF_FUNC_probe_read_kernel:
      case BPF_FUNC_probe_read_user_str:
      case BPF_FUNC_probe_read_kernel_str: {
        // Any memory, read or not: the result and the bytes are inputs (a string read's bytes
        // and length are not tied together; the interpreter's world is -EFAULT and zeros).
        const unsigned size = constant_size(s, 2, "bpf_probe_read");
        const unsigned call = s.probes++;
        std::vector<z3::expr> bytes;
        for (unsigned i = 0; i < size; ++i) bytes.push_back(w_.probe_byte(call, i));
        write(s, s.r[1], 0, size, little_endian(bytes));
        r0 = w_.probe_result(call);
        break;
      }
      case BPF_FUNC_skb_load_bytes: {
        skb_arg(s, "bpf_skb_load_bytes");
        const unsigned size = constant_size(s, 4, "bpf_skb_load_bytes");
        const z3::expr offset = d_.zext(scalar(s, 2), 32);
        const z3::expr data_len = w_.length() - bv(w_.data_start());
        const z3::expr ok = z3::ule(offset, bv(INT32_MAX)) && z3::ule(offset + bv(size), data_len);
        std::vector<z3::expr> bytes;
        for (unsigned i = 0; i < size; ++i)
          bytes.push_back(z3::ite(ok, z3::select(s.packet, bv(w_.data_start()) + offset + bv(i)), bv(0, 8)));
        write(s, s.r[3], 0, size, little_endian(bytes));
        r0 = z3::ite(ok, bv(0), errno_(EFAULT));
        break;
      }
      case BPF_FUNC_skb_store_bytes: {
        skb_arg(s, "bpf_skb_store_bytes");
        const unsigned size = constant_size(s, 4, "bpf_skb_store_bytes");
        const z3::expr offset = d_.zext(scalar(s, 2), 32), flags = scalar(s, 5);
        const z3::expr from = mem_arg(s, 3, size);
        const z3::expr bad = (flags & ~bv(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) != bv(0);
        const z3::expr fits = z3::ule(offset, bv(INT32_MAX)) && z3::ule(offset + bv(size), w_.length() - bv(w_.data_start()));
        const z3::expr ok = !bad && fits;
        z3::expr packet = s.packet;
        for (unsigned i = 0; i < size; ++i)
          packet = z3::store(packet, bv(w_.data_start()) + offset + bv(i), from.extract(8 * i + 7, 8 * i));
        s.packet = z3::ite(ok, packet, s.packet);
        // BPF_F_INVALIDATE_HASH clears skb->hash.
        const CtxField* hash = ctx_field_named(w_.model(), "hash");
        if (!hash) throw InternalError("__sk_buff has no hash field");
        const z3::expr cleared = ok && (flags & bv(BPF_F_INVALIDATE_HASH)) != bv(0);
        for (unsigned i = 0; i < hash->size; ++i) {
          const int64_t at = int64_t(hash->offset) + i;
          s.ctx.insert_or_assign(at, SymByte{z3::ite(cleared, bv(0, 8), ctx_byte(s, at)), 0, 1, c_.bool_val(true)});
        }
        r0 = z3::ite(bad, errno_(EINVAL), z3::ite(fits, bv(0), errno_(EFAULT)));
        break;
      }
      case BPF_FUNC_l3_csum_replace:
      case BPF_FUNC_l4_csum_replace: {
        skb_arg(s, "bpf_l3/l4_csum_replace");
        r0 = csum_replace(s, id == BPF_FUNC_l4_csum_replace);
        break;
      }
      case BPF_FUNC_redirect_map: {
        const std::size_t m = map_arg(s, 1);
        const MapDef& def = module_.maps[m];
        if (def.type != BPF_MAP_TYPE_DEVMAP && def.type != BPF_MAP_TYPE_DEVMAP_HASH && def.type != BPF_MAP_TYPE_CPUMAP &&
            def.type != BPF_MAP_TYPE_XSKMAP)
          fail(s, "bpf_redirect_map needs a devmap, cpumap or xskmap");
        const z3::expr key = d_.zext(scalar(s, 2), 32), flags = scalar(s, 3);
        const uint64_t actions = XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX;
        const z3::expr bad = (flags & ~bv(actions | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)) != bv(0);
        const z3::expr k32 = key.extract(31, 0);
        z3::expr present = z3::select(s.present[m], k32);
        if (def.type != BPF_MAP_TYPE_DEVMAP_HASH) present = present && z3::ult(k32, bv(def.max_entries, 32));
        enc_.keys.push_back({m, k32});
        const z3::expr fallback = (flags & bv(BPF_F_BROADCAST)) == bv(0) && !present;
        const z3::expr taken = !bad && !fallback;
        r0 = z3::ite(bad, bv(XDP_ABORTED), z3::ite(fallback, flags & bv(actions), bv(XDP_REDIRECT)));
        set_redirect(s, taken, bv(0, 32), bv(m + 1, 32), scalar(s, 2), flags);
        break;
      }
      case BPF_FUNC_ringbuf_output: {
        const std::size_t m = map_arg(s, 1);
        if (module_.maps[m].type != BPF_MAP_TYPE_RINGBUF) fail(s, "bpf_ringbuf_output needs a ringbuf map");
        const unsigned size = constant_size(s, 3, "bpf_ringbuf_output");
        const z3::expr data = mem_arg(s, 2, size), flags = scalar(s, 4);
        const z3::expr bad = (flags & ~bv(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) != bv(0);
        // The ring is assumed to have room (-EAGAIN when full is not modelled).
        r0 = z3::ite(bad, errno_(EINVAL), bv(0));
        effect(s, id, {bv(m), z3::ite(bad, bv(0, 8 * size), data)});
        break;
      }
      case BPF_FUNC_redirect: {
        const z3::expr ifindex = scalar(s, 1), flags = scalar(s, 2);
        z3::expr ok = c_.bool_val(true);
        if (w_.model() == CtxModel::Xdp) {
          ok = flags == bv(0);
          r0 = z3::ite(ok, bv(XDP_REDIRECT), bv(XDP_ABORTED));
        } else if (w_.model() == CtxModel::Tc) {
          ok = (flags & ~bv(BPF_F_INGRESS)) == bv(0);
          r0 = z3::ite(ok, bv(7), bv(2));  // TC_ACT_REDIRECT, TC_ACT_SHOT
        } else {
          fail(s, "bpf_redirect needs an XDP or tc program");
        }
        set_redirect(s, ok, ifindex.extract(31, 0), bv(0, 32), bv(0), flags);
        break;
      }
      default:
        unsupported(s.pc, "helper #" + std::to_string(id) + " is not modelled by the equivalence checker");
    }
    set_result(s, scalar_reg(r0));
  }

  void set_result(SymState& s, const SymReg& r0) {
    for (int i = 1; i <= 5; ++i) s.r[i] = {};
    s.r[0] = r0;
  }
};

}  // namespace

Encoding encode_program(SymbolicWorld& world, const Module& module, const Program& program, const EncodeOptions& options) {
  Executor x(world, module, program, options);
  return x.run(initial_state(world), std::nullopt);
}

Encoding encode_window(SymbolicWorld& world, const Module& module, const Program& program, std::size_t start,
                       std::size_t end, const SymState& entry, std::vector<SymLookup> lookups,
                       const EncodeOptions& options) {
  Executor x(world, module, program, options);
  SymState s = entry;
  s.pc = start;
  return x.run(std::move(s), end, std::move(lookups));
}

Encoding encode_prefix(SymbolicWorld& world, const Module& module, const Program& program, std::size_t end,
                       const EncodeOptions& options) {
  Executor x(world, module, program, options);
  return x.run(initial_state(world), end, {}, true);
}

}  // namespace tristate
