#include "verifier/equiv.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

#include "compiler/disasm.hpp"
#include "compiler/error.hpp"
#include "compiler/hex.hpp"
#include "compiler/liveness.hpp"
#include "verifier/symbolic.hpp"

namespace tristate {

const char* verdict_name(VerdictKind k) {
  switch (k) {
    case VerdictKind::Equivalent: return "equivalent";
    case VerdictKind::NotEquivalent: return "not-equivalent";
    case VerdictKind::Unknown: return "unknown";
  }
  return "?";
}

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::size_t program_index(const Module& module, const Program& program) {
  for (std::size_t i = 0; i < module.programs.size(); ++i)
    if (&module.programs[i] == &program) return i;
  throw InternalError("program " + program.name() + " is not one of its module's");
}

void check_compatible(const Module& a, const Program& pa, const Module& b, const Program& pb) {
  const Location where{b.path, pb.name(), {}};
  if (ctx_model_for(pa.prog_type) != ctx_model_for(pb.prog_type))
    throw InputError(where, "the programs have different types (" + pa.prog_type_name + " and " + pb.prog_type_name + ")");
  if (a.maps.size() != b.maps.size())
    throw InputError(where, "the programs' objects declare " + std::to_string(a.maps.size()) + " and " +
                                std::to_string(b.maps.size()) + " maps; equivalence compares map by map");
  for (std::size_t i = 0; i < a.maps.size(); ++i) {
    const MapDef &x = a.maps[i], &y = b.maps[i];
    if (x.type != y.type || x.key_size != y.key_size || x.value_size != y.value_size || x.max_entries != y.max_entries ||
        x.flags != y.flags)
      throw InputError(where, "map " + std::to_string(i) + " differs: " + x.name + " (" + x.type_name + ") and " + y.name +
                                  " (" + y.type_name + ")");
  }
}

uint64_t eval_u64(z3::model& m, const z3::expr& e) {
  const z3::expr v = m.eval(e, true);
  uint64_t out = 0;
  if (!v.is_numeral_u64(out)) throw InternalError("the model gives no number for " + e.to_string());
  return out;
}

std::vector<uint8_t> le_bytes(uint64_t v, std::size_t n) {
  std::vector<uint8_t> out(n);
  for (std::size_t i = 0; i < n && i < 8; ++i) out[i] = uint8_t(v >> (8 * i));
  return out;
}

// A key of any width, evaluated byte by byte.
std::vector<uint8_t> eval_bytes(z3::model& m, const z3::expr& e) {
  const unsigned bits = e.get_sort().bv_size();
  std::vector<uint8_t> out;
  for (unsigned i = 0; i < bits / 8; ++i) out.push_back(uint8_t(eval_u64(m, e.extract(8 * i + 7, 8 * i))));
  return out;
}

// The concrete input a model describes, for the interpreter.
CheckInput input_from_model(SymbolicWorld& w, z3::model& m, const Module& module, const std::vector<const Encoding*>& encs) {
  z3::context& c = w.ctx();
  CheckInput in;
  const CtxModel model = w.model();
  if (takes_packet(model)) {
    const uint64_t len = eval_u64(m, w.length());
    for (uint64_t i = 0; i < len; ++i) in.packet.push_back(uint8_t(eval_u64(m, z3::select(w.packet(), c.bv_val(i, 64)))));
    in.ctx.assign(ctx_size(model), 0);
    for (const CtxField& f : ctx_fields(model)) {
      const bool ifindex = (model == CtxModel::Xdp && std::string(f.name) == "ingress_ifindex") ||
                           (model != CtxModel::Xdp && std::string(f.name) == "ifindex");
      if (!f.user_settable && !ifindex) continue;
      const uint64_t v = eval_u64(m, w.field(f));
      const auto bytes = le_bytes(v, f.size);
      std::copy(bytes.begin(), bytes.end(), in.ctx.begin() + f.offset);
      if (ifindex) in.env.ifindex = uint32_t(v);
    }
  } else if (model == CtxModel::Tracing) {
    for (uint64_t i = 0; i < 512; ++i) in.ctx.push_back(uint8_t(eval_u64(m, z3::select(w.tracing_ctx(), c.bv_val(i, 64)))));
  }
  for (unsigned i = 0; i < w.ktime_count(); ++i) in.env.ktime_values.push_back(eval_u64(m, w.ktime(i)));
  for (unsigned i = 0; i < w.prandom_count(); ++i) in.env.prandom_values.push_back(uint32_t(eval_u64(m, w.prandom(i))));
  in.env.pid_tgid = eval_u64(m, w.pid_tgid());
  in.env.comm.clear();
  for (unsigned i = 0; i < 15; ++i) in.env.comm.push_back(char(eval_u64(m, w.comm_byte(i))));
  in.env.cpu = 0;

  // The maps: every key a program looked up, updated or deleted, with the model's first contents.
  std::vector<std::set<std::vector<uint8_t>>> keys(module.maps.size());
  for (const Encoding* e : encs)
    for (const auto& [map, key] : e->keys) keys[map].insert(eval_bytes(m, key));
  for (std::size_t i = 0; i < module.maps.size(); ++i) {
    const MapDef& def = module.maps[i];
    MapContents contents{def.name, {}, {}};
    for (const std::vector<uint8_t>& key : keys[i]) {
      if (key.size() != def.key_size) continue;
      uint64_t k = 0;
      std::memcpy(&k, key.data(), std::min<std::size_t>(8, key.size()));
      z3::expr kx = c.bv_val(key[0], 8);
      for (std::size_t b = 1; b < key.size(); ++b) kx = z3::concat(c.bv_val(key[b], 8), kx);
      bool present = false;
      if (SymbolicWorld::is_array_like(def.type) || def.internal)
        present = k < def.max_entries;
      else
        present = m.eval(z3::select(w.map_present(i), kx), true).is_true() &&
                  ((def.type != BPF_MAP_TYPE_DEVMAP && def.type != BPF_MAP_TYPE_CPUMAP && def.type != BPF_MAP_TYPE_XSKMAP) ||
                   k < def.max_entries);
      if (!present) continue;
      std::vector<uint8_t> value;
      for (uint32_t o = 0; o < def.value_size; ++o)
        value.push_back(uint8_t(eval_u64(m, z3::select(w.map_memory(i), z3::concat(kx, c.bv_val(o, 32))))));
      contents.entries.push_back({key, {value}});
    }
    // Hash maps hold as many entries as the model says: fill up with keys no program used.
    if (SymbolicWorld::counts_entries(def.type)) {
      const uint64_t count = eval_u64(m, w.map_count(i));
      for (uint64_t filler = 0; contents.entries.size() < count && filler < (uint64_t(1) << 32); ++filler) {
        std::vector<uint8_t> key = le_bytes(~filler, def.key_size);
        if (keys[i].count(key)) continue;
        contents.entries.push_back({key, {std::vector<uint8_t>(def.value_size, 0)}});
      }
    }
    in.maps.push_back(std::move(contents));
  }
  return in;
}

// Whether two states leave the same world behind: packet, maps, context and effects.
struct Comparison {
  RegSet registers = 1;  // r0 for whole programs
  bool stack = false;    // windows: the stack too
  const StackBytes* live_stack = nullptr;  // windows: only these bytes of the entry frame (null: all)
};

// x == y, or true when they are the same term (then the solver never sees it).
z3::expr equal(const z3::expr& x, const z3::expr& y) { return z3::eq(x, y) ? x.ctx().bool_val(true) : x == y; }

z3::expr same_reg(const SymReg& a, const SymReg& b, z3::context& c) {
  if (!a.same_shape(b)) return c.bool_val(false);
  if (a.v && b.v) return equal(*a.v, *b.v);
  return c.bool_val(true);
}

z3::expr same_world(SymbolicWorld& w, const SymState& a, const SymState& b, const Comparison& cmp,
                    const std::vector<z3::expr>& key_witness, const std::vector<z3::expr>& offset_witness) {
  z3::context& c = w.ctx();
  z3::expr_vector all(c);
  for (Reg r = 0; r < 11; ++r)
    if (cmp.registers & reg_bit(r)) all.push_back(same_reg(a.r[r], b.r[r], c));
  if (!z3::eq(a.packet, b.packet)) all.push_back(a.packet == b.packet);
  if (!z3::eq(a.redirect, b.redirect)) all.push_back(a.redirect == b.redirect);
  for (std::size_t m = 0; m < w.maps().size(); ++m) {
    const MapDef& def = w.maps()[m];
    const z3::expr& k = key_witness[m];
    const z3::expr& o = offset_witness[m];
    const z3::expr at = z3::concat(k, o);
    const z3::expr mem_equal = z3::select(a.memory[m], at) == z3::select(b.memory[m], at);
    const z3::expr in_value = z3::ult(o, c.bv_val(def.value_size, 32));
    if (SymbolicWorld::is_hash_like(def.type)) {
      const z3::expr pa = z3::select(a.present[m], k), pb = z3::select(b.present[m], k);
      if (!z3::eq(a.present[m], b.present[m])) all.push_back(pa == pb);
      if (!z3::eq(a.memory[m], b.memory[m])) all.push_back(z3::implies(pa && in_value, mem_equal));
    } else if (!z3::eq(a.memory[m], b.memory[m])) {
      all.push_back(z3::implies(in_value, mem_equal));
    }
  }
  std::set<int64_t> ctx_bytes;
  for (const auto& [off, byte] : a.ctx) ctx_bytes.insert(off);
  for (const auto& [off, byte] : b.ctx) ctx_bytes.insert(off);
  for (int64_t off : ctx_bytes) all.push_back(equal(context_byte(w, a, off), context_byte(w, b, off)));
  if (a.effects.size() != b.effects.size()) return c.bool_val(false);
  for (std::size_t e = 0; e < a.effects.size(); ++e) {
    const SymEffect &x = a.effects[e], &y = b.effects[e];
    if (x.helper != y.helper || x.args.size() != y.args.size()) return c.bool_val(false);
    for (std::size_t i = 0; i < x.args.size(); ++i) {
      if (x.args[i].get_sort().bv_size() != y.args[i].get_sort().bv_size()) return c.bool_val(false);
      all.push_back(equal(x.args[i], y.args[i]));
    }
  }
  if (cmp.stack) {
    if (a.frames.size() != b.frames.size()) return c.bool_val(false);
    for (std::size_t f = 0; f < a.frames.size(); ++f) {
      const SymFrame &x = a.frames[f], &y = b.frames[f];
      // Bytes nothing reads later need not agree (the entry frame's, when the caller knows).
      const auto live = [&](int64_t off) {
        return f != 0 || !cmp.live_stack || off < -kMaxStack || off >= 0 || cmp.live_stack->test(std::size_t(off + kMaxStack));
      };
      const auto live_slot = [&](int64_t off) {
        for (int64_t i = 0; i < 8; ++i)
          if (live(off + i)) return true;
        return false;
      };
      for (const auto* spills : {&x.spills, &y.spills})
        for (const auto& [off, reg] : *spills) {
          if (!live_slot(off)) continue;
          auto ix = x.spills.find(off), iy = y.spills.find(off);
          if (ix == x.spills.end() || iy == y.spills.end()) return c.bool_val(false);
          all.push_back(same_reg(ix->second, iy->second, c));
        }
      std::set<int64_t> offs;
      for (const auto& [off, byte] : x.bytes) offs.insert(off);
      for (const auto& [off, byte] : y.bytes) offs.insert(off);
      for (int64_t off : offs) {
        if (!live(off)) continue;
        auto ix = x.bytes.find(off), iy = y.bytes.find(off);
        const z3::expr ia = ix == x.bytes.end() ? c.bool_val(false) : ix->second.init;
        const z3::expr ib = iy == y.bytes.end() ? c.bool_val(false) : iy->second.init;
        all.push_back(equal(ia, ib));
        if (ix != x.bytes.end() && iy != y.bytes.end() && !z3::eq(ix->second.value(), iy->second.value()))
          all.push_back(z3::implies(ia, ix->second.value() == iy->second.value()));
      }
    }
  }
  z3::expr_vector needed(c);
  for (const z3::expr& e : all)
    if (!e.is_true()) needed.push_back(e);
  return needed.empty() ? c.bool_val(true) : z3::mk_and(needed);
}

// What real maps satisfy for the keys the programs use: a hash map holds at least the distinct
// present keys (count >= their number); a device map entry names a device (ifindex != 0).
z3::expr map_facts(SymbolicWorld& w, const std::vector<const Encoding*>& encs) {
  z3::context& c = w.ctx();
  z3::expr_vector facts(c);
  for (std::size_t m = 0; m < w.maps().size(); ++m) {
    std::vector<z3::expr> keys;
    for (const Encoding* e : encs)
      for (const auto& [map, key] : e->keys)
        if (map == m) keys.push_back(key);
    if (keys.empty()) continue;
    const uint32_t type = w.maps()[m].type;
    if (type == BPF_MAP_TYPE_DEVMAP || type == BPF_MAP_TYPE_DEVMAP_HASH)
      for (const z3::expr& k : keys) {
        z3::expr ifindex = z3::select(w.map_memory(m), z3::concat(k, c.bv_val(0, 32)));
        for (unsigned i = 1; i < 4; ++i) ifindex = z3::concat(z3::select(w.map_memory(m), z3::concat(k, c.bv_val(i, 32))), ifindex);
        facts.push_back(z3::implies(z3::select(w.map_present(m), k), ifindex != c.bv_val(0, 32)));
      }
    if (!SymbolicWorld::counts_entries(type)) continue;
    z3::expr sum = c.bv_val(0, 32);
    for (std::size_t j = 0; j < keys.size(); ++j) {
      z3::expr fresh = z3::select(w.map_present(m), keys[j]);
      for (std::size_t i = 0; i < j; ++i) fresh = fresh && keys[i] != keys[j];
      sum = sum + z3::ite(fresh, c.bv_val(1, 32), c.bv_val(0, 32));
    }
    facts.push_back(z3::uge(w.map_count(m), sum));
  }
  return z3::mk_and(facts);
}

// The first obligation of `e` the model breaks.
std::optional<std::string> broken_obligation(z3::model& m, const Encoding& e) {
  for (const Obligation& o : e.obligations)
    if (m.eval(o.holds, true).is_false()) return "insn " + std::to_string(o.pc) + ": " + o.what;
  return std::nullopt;
}

// Whole programs: the outcomes with the same effects (helper ids and argument widths) folded
// into one state by their (disjoint) path conditions, so that the query compares a handful of
// states instead of every pair of paths.
std::vector<SymState> fold_outcomes(SymbolicWorld& w, const std::vector<SymState>& outcomes) {
  const auto signature = [](const SymState& s) {
    std::vector<std::pair<int32_t, unsigned>> sig;
    for (const SymEffect& e : s.effects)
      for (const z3::expr& a : e.args) sig.push_back({e.helper, a.get_sort().bv_size()});
    sig.push_back({-1, unsigned(s.effects.size())});
    return sig;
  };
  std::vector<std::pair<std::vector<std::pair<int32_t, unsigned>>, SymState>> groups;
  for (const SymState& s : outcomes) {
    const auto sig = signature(s);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == sig; });
    if (it == groups.end()) {
      groups.push_back({sig, s});
      continue;
    }
    merge_state(w, it->second, s, false);
  }
  std::vector<SymState> out;
  for (auto& [sig, state] : groups) out.push_back(std::move(state));
  return out;
}

z3::params timeout_params(z3::context& c, unsigned ms, uint64_t rlimit) {
  z3::params params(c);
  params.set("timeout", ms);
  if (rlimit) params.set("rlimit", unsigned(std::min<uint64_t>(rlimit, UINT32_MAX)));
  return params;
}

// The solver every query uses: Z3's for arrays, functions and bit-vectors, with a timeout.
z3::solver new_solver(z3::context& c, const CheckOptions& options) {
  z3::solver solver(c, "QF_AUFBV");
  solver.set(timeout_params(c, options.timeout_ms, options.rlimit));
  return solver;
}

struct Problem {
  SymbolicWorld& world;
  const Encoding& src;
  const Encoding& tgt;
  Comparison cmp;
  z3::expr entry_facts;
};

// The core query: is there an input the source handles safely, within the unrolling bound, on
// which the target is unsafe, goes past the bound, or leaves a different world?
Verdict decide(const Problem& p, const CheckOptions& options, const Module& src_module, const Program& src,
               const Module& tgt_module, const Program& tgt, bool concrete_inputs) {
  z3::context& c = p.world.ctx();
  Verdict v;
  if (p.src.unsupported) {
    v.reason = "unsupported: source: " + *p.src.unsupported;
    return v;
  }
  if (p.tgt.unsupported) {
    v.reason = "unsupported: target: " + *p.tgt.unsupported;
    return v;
  }
  z3::solver solver = new_solver(c, options);
  const auto check = [&] {
    const auto t = Clock::now();
    const z3::check_result r = solver.check();
    v.solver_ms += ms_since(t);
    return r;
  };
  const z3::expr pre = p.world.assumptions() && map_facts(p.world, {&p.src, &p.tgt}) && p.entry_facts && p.src.safe();

  // Paths the bound cuts off in the source: nothing can be said about their inputs.
  if (!p.src.exceeded.simplify().is_false()) {
    solver.push();
    solver.add(pre && p.src.exceeded);
    const z3::check_result r = check();
    solver.pop();
    if (r != z3::unsat) {
      v.reason = r == z3::sat ? "loop bound: the source takes more than " + std::to_string(options.unroll) + " back edges"
                              : "timeout";
      return v;
    }
  }

  std::vector<z3::expr> keys, offsets;
  for (std::size_t m = 0; m < p.world.maps().size(); ++m) {
    keys.push_back(p.world.fresh("witness_key", std::max(1u, p.world.maps()[m].key_size) * 8));
    offsets.push_back(p.world.fresh("witness_offset", 32));
  }
  z3::expr_vector differs(c);
  differs.push_back(p.tgt.exceeded);
  // The target is unsafe where one of its obligations fails; those the source has too (the
  // same term) hold already, by the premise.
  std::set<unsigned> src_obligations;
  for (const Obligation& o : p.src.obligations) src_obligations.insert(o.holds.id());
  for (const Obligation& o : p.tgt.obligations)
    if (!src_obligations.count(o.holds.id())) differs.push_back(!o.holds);
  // Outcomes pair up by path condition; the source's are disjoint, so a target outcome whose
  // condition is (structurally) a source outcome's needs comparing with that one only.
  const std::vector<SymState> src_outcomes = p.cmp.stack ? p.src.outcomes : fold_outcomes(p.world, p.src.outcomes);
  const std::vector<SymState> tgt_outcomes = p.cmp.stack ? p.tgt.outcomes : fold_outcomes(p.world, p.tgt.outcomes);
  for (const SymState& b : tgt_outcomes) {
    const auto twin = std::find_if(src_outcomes.begin(), src_outcomes.end(),
                                   [&](const SymState& a) { return z3::eq(a.guard, b.guard); });
    for (const SymState& a : src_outcomes) {
      if (twin != src_outcomes.end() && &a != &*twin) continue;
      const z3::expr same = same_world(p.world, a, b, p.cmp, keys, offsets);
      if (same.is_true()) continue;
      differs.push_back(a.guard && b.guard && !same);
    }
  }
  solver.add(pre && !p.src.exceeded && z3::mk_or(differs));
  z3::check_result r = check();
  if (r == z3::unknown) {
    v.reason = "timeout";
    return v;
  }
  if (r == z3::unsat) {
    v.kind = VerdictKind::Equivalent;
    return v;
  }
  z3::model model = solver.get_model();
  if (model.eval(p.tgt.exceeded, true).is_true()) {
    v.reason = "loop bound: the target takes more than " + std::to_string(options.unroll) + " back edges";
    return v;
  }
  v.kind = VerdictKind::NotEquivalent;
  Counterexample cex;
  if (!concrete_inputs) {
    // A window's counterexample is an abstract entry state: say what breaks, nothing more.
    const auto broken = broken_obligation(model, p.tgt);
    cex.difference = broken ? "the target is unsafe at " + *broken : "the windows leave different states";
    v.counterexample = std::move(cex);
    return v;
  }
  // Prefer an input the interpreter can replay (context fields a test run cannot set are zero),
  // and then a short packet, for a readable counterexample.
  bool replayable = true;
  const auto prefer = [&](const z3::expr& fact, unsigned timeout_ms) {
    solver.push();
    solver.add(fact);
    const unsigned ms = std::min(timeout_ms, options.timeout_ms);
    solver.set(timeout_params(c, ms, options.rlimit * ms / std::max(1u, options.timeout_ms)));
    const bool ok = check() == z3::sat;
    solver.set(timeout_params(c, options.timeout_ms, options.rlimit));
    if (ok) model = solver.get_model();
    solver.pop();
    if (ok) solver.add(fact);
    return ok;
  };
  // Programs without a context type run only on a memory block, which the model does not give.
  replayable = p.world.model() != CtxModel::None && prefer(p.world.replayable(), options.timeout_ms);
  // A short packet only makes the counterexample easier to read: not worth a long wait.
  if (takes_packet(p.world.model())) prefer(z3::ule(p.world.length(), c.bv_val(64, 64)), 1000);
  cex.input = input_from_model(p.world, model, src_module, {&p.src, &p.tgt});
  if (auto broken = broken_obligation(model, p.tgt))
    cex.difference = "the target is unsafe at " + *broken;
  if (replayable && options.replay) {
    cex.src = replay(src_module, src, cex.input);
    cex.tgt = replay(tgt_module, tgt, cex.input);
    cex.replayed = true;
    const std::string seen = run_difference(*cex.src, *cex.tgt);
    if (seen.empty()) {
      std::string maps;
      for (const MapContents& mc : cex.input.maps)
        for (const MapEntry& e : mc.entries) maps += " " + mc.name + "[" + to_hex(e.key) + "]=" + to_hex(e.values[0]);
      throw InternalError("the equivalence checker's counterexample for " + src.name() + " shows no difference on the "
                          "interpreter: the encoding is wrong" + (cex.difference.empty() ? "" : " (" + cex.difference + ")") +
                          "; input: packet " + to_hex(cex.input.packet) + (maps.empty() ? "" : ", maps" + maps));
    }
    if (cex.difference.empty()) cex.difference = seen;
  } else if (cex.difference.empty()) {
    cex.difference = p.world.model() == CtxModel::None
                         ? "the programs' results differ on this input (not replayed: the program has no context type)"
                         : "the programs' results differ on this input (not replayed: it needs context fields a test run cannot set)";
  }
  v.counterexample = std::move(cex);
  return v;
}

// The abstract entry state of a window: the shape of `s` with every value a fresh symbol.
SymState abstract_state(SymbolicWorld& w, const SymState& s, const std::vector<SymLookup>& lookups,
                        std::vector<SymLookup>& fresh_lookups) {
  z3::context& c = w.ctx();
  SymState out = initial_state(w);
  out.frames.clear();
  std::map<uint32_t, uint32_t> lookup_ids;
  const auto reg = [&](const SymReg& r, const std::string& name) {
    SymReg x = r;
    switch (r.kind) {
      case SymKind::Scalar: x.v = w.fresh(name, 64); break;
      case SymKind::Packet:
      case SymKind::PacketMeta: x.v = w.fresh(name + ".off", 64); break;
      case SymKind::PacketEnd: x.v = w.length(); break;
      case SymKind::MapValue: {
        auto it = lookup_ids.find(r.id);
        if (it == lookup_ids.end()) {
          const SymLookup& l = lookups[r.id];
          const unsigned bits = l.key.get_sort().bv_size();
          fresh_lookups.push_back({l.map, w.fresh(name + ".key", bits), c.bool_const((name + ".nonnull").c_str())});
          it = lookup_ids.emplace(r.id, uint32_t(fresh_lookups.size() - 1)).first;
        }
        x.id = it->second;
        x.v = w.fresh(name + ".off", 64);
        break;
      }
      default: break;
    }
    return x;
  };
  for (Reg i = 0; i < 11; ++i) out.r[i] = reg(s.r[i], "in.r" + std::to_string(i));
  for (std::size_t f = 0; f < s.frames.size(); ++f) {
    SymFrame frame;
    frame.return_pc = s.frames[f].return_pc;
    for (int i = 0; i < 4; ++i) frame.saved[i] = reg(s.frames[f].saved[i], "in.saved" + std::to_string(6 + i));
    for (const auto& [off, r] : s.frames[f].spills) frame.spills.emplace(off, reg(r, "in.spill" + std::to_string(off)));
    for (const auto& [off, byte] : s.frames[f].bytes) {
      const std::string name = "in.stack" + std::to_string(f) + "[" + std::to_string(off) + "]";
      const z3::expr init = byte.init.is_true() ? c.bool_val(true) : c.bool_const((name + ".init").c_str());
      frame.bytes.emplace(off, SymByte{w.fresh(name, 8), 0, 1, init});
    }
    out.frames.push_back(std::move(frame));
  }
  for (const auto& [off, byte] : s.ctx) out.ctx.emplace(off, SymByte{w.fresh("in.ctx" + std::to_string(off), 8), 0, 1, c.bool_val(true)});
  out.prandom = s.prandom;
  out.ktime = s.ktime;
  return out;
}

EncodeOptions encode_options(const CheckOptions& o) {
  EncodeOptions eo;
  eo.unroll = o.unroll;
  eo.break_add = o.break_add;
  return eo;
}

std::string options_text(const CheckOptions& o) {
  return "unroll=" + std::to_string(o.unroll) + " timeout=" + std::to_string(o.timeout_ms) + " rlimit=" + std::to_string(o.rlimit);
}

}  // namespace

std::string canonical_text(const Module& module, const Program& program, std::optional<Window> window) {
  std::string out = "type " + std::to_string(program.prog_type) + "\n";
  for (const MapDef& m : module.maps)
    out += "map " + std::to_string(m.type) + " " + std::to_string(m.key_size) + " " + std::to_string(m.value_size) + " " +
           std::to_string(m.max_entries) + " " + std::to_string(m.flags) + "\n";
  const std::vector<MapRef> refs = resolve_map_refs(module, program);
  for (const DecodedInsn& d : decode_program(program.image)) {
    if (window && (d.pc < window->start || d.pc >= window->end)) continue;
    out += std::to_string(window ? d.pc - window->start : d.pc) + " " + format_insn(d.insn);
    if (refs[d.pc].map >= 0) out += " ; map " + std::to_string(refs[d.pc].map) + "+" + std::to_string(refs[d.pc].offset);
    out += "\n";
  }
  return out;
}

ReplayedRun replay(const Module& module, const Program& program, const CheckInput& input) {
  MapSet maps(module.maps, 1);
  for (std::size_t i = 0; i < input.maps.size() && i < maps.size(); ++i)
    if (!input.maps[i].entries.empty()) maps[i].seed(input.maps[i]);
  Interpreter interp(module, maps);
  ReplayedRun out;
  out.result = interp.run(program_index(module, program), RunInput{input.packet, input.ctx}, input.env);
  out.maps = maps.dump();
  return out;
}

std::string run_difference(const ReplayedRun& a, const ReplayedRun& b) {
  const PacketResult &x = a.result, &y = b.result;
  if (x.fault.has_value() != y.fault.has_value()) {
    const PacketResult& bad = x.fault ? x : y;
    return std::string(x.fault ? "the source" : "the target") + " faults at insn " + std::to_string(bad.fault->insn) + ": " +
           bad.fault->reason;
  }
  if (x.fault) return "";
  if (x.r0 != y.r0) return "r0: " + std::to_string(x.r0) + " vs " + std::to_string(y.r0);
  if (x.packet != y.packet) {
    if (x.packet.size() != y.packet.size())
      return "packet length: " + std::to_string(x.packet.size()) + " vs " + std::to_string(y.packet.size());
    for (std::size_t i = 0; i < x.packet.size(); ++i)
      if (x.packet[i] != y.packet[i])
        return "packet byte " + std::to_string(i) + ": " + std::to_string(x.packet[i]) + " vs " + std::to_string(y.packet[i]);
  }
  if (x.ctx != y.ctx) return "the context after the run";
  for (std::size_t m = 0; m < a.maps.size() && m < b.maps.size(); ++m)
    if (!(a.maps[m] == b.maps[m])) return "map " + a.maps[m].name + " after the run";
  if (x.trace != y.trace) return "bpf_trace_printk output";
  if (x.redirect.has_value() != y.redirect.has_value() ||
      (x.redirect && (x.redirect->ifindex != y.redirect->ifindex || x.redirect->map != y.redirect->map ||
                      x.redirect->key != y.redirect->key || x.redirect->flags != y.redirect->flags)))
    return "the redirect target";
  return "";
}

std::optional<Verdict> EquivalenceChecker::cached(const std::string& key) {
  std::lock_guard lock(mutex_);
  const auto it = cache_.find(key);
  if (it == cache_.end()) return std::nullopt;
  ++hits_;
  Verdict v = it->second;
  v.cached = true;
  return v;
}

void EquivalenceChecker::remember(const std::string& key, const Verdict& v) {
  std::lock_guard lock(mutex_);
  cache_.emplace(key, v);
}

std::size_t EquivalenceChecker::cache_size() const {
  std::lock_guard lock(mutex_);
  return cache_.size();
}

Verdict EquivalenceChecker::programs(const Module& src_module, const Program& src, const Module& tgt_module,
                                     const Program& tgt) {
  const auto start = Clock::now();
  check_compatible(src_module, src, tgt_module, tgt);
  const std::string key = "programs " + options_text(options_) + "\n" + canonical_text(src_module, src) + "--\n" +
                          canonical_text(tgt_module, tgt);
  if (std::optional<Verdict> hit = cached(key)) {
    hit->ms = ms_since(start);
    return *hit;
  }
  // The same instructions, map references, type and maps (what the canonical text says) run the
  // same way on every input: no solver needed, whatever loops the program has.
  // With the same global data and the same relocations (externs, calls) too: even what the
  // checker cannot model (an unmodelled helper, a kfunc) then does the same in both.
  const auto context = [](const Module& m, const Program& p) {
    std::string out;
    for (const MapDef& d : m.maps) out += d.name + " " + to_hex(d.initial_value) + "\n";
    const auto relocs = [&](const Function& f) {
      out += f.name + ":";
      for (const Relocation& r : f.relocs)
        out += " " + std::to_string(r.insn) + "/" + std::to_string(int(r.kind)) + "/" + r.symbol + "/" + r.section + "/" +
               std::to_string(r.offset) + "/" + r.target;
      out += "\n";
    };
    relocs(p.entry);
    for (const Function& f : m.subprograms) relocs(f);
    return out;
  };
  if (options_.skip_identical && canonical_text(src_module, src) == canonical_text(tgt_module, tgt) &&
      context(src_module, src) == context(tgt_module, tgt)) {
    Verdict v;
    v.kind = VerdictKind::Equivalent;
    v.reason = "identical programs";
    v.ms = ms_since(start);
    return v;
  }
  z3::context c;
  SymbolicWorld world(c, ctx_model_for(src.prog_type), src_module.maps);
  const EncodeOptions eo = encode_options(options_);
  const Encoding a = encode_program(world, src_module, src, eo);
  const Encoding b = encode_program(world, tgt_module, tgt, eo);
  Verdict v = decide({world, a, b, Comparison{}, c.bool_val(true)}, options_, src_module, src, tgt_module, tgt, true);
  v.ms = ms_since(start);
  remember(key, v);
  return v;
}

namespace {

// v within the scalar facts s (tnum and the 64- and 32-bit bounds).
z3::expr within(const z3::expr& v, const Scalar& s) {
  z3::context& c = v.ctx();
  const z3::expr lo = v.extract(31, 0);
  const auto u64 = [&](uint64_t x) { return c.bv_val(x, 64); };
  const auto u32 = [&](uint32_t x) { return c.bv_val(x, 32); };
  return (v & u64(~s.var.mask)) == u64(s.var.value & ~s.var.mask) && z3::uge(v, u64(s.umin)) && z3::ule(v, u64(s.umax)) &&
         v >= u64(uint64_t(s.smin)) && v <= u64(uint64_t(s.smax)) && z3::uge(lo, u32(s.u32_min)) && z3::ule(lo, u32(s.u32_max)) &&
         lo >= u32(uint32_t(s.s32_min)) && lo <= u32(uint32_t(s.s32_max));
}

// What the facts say of a window's abstract entry state (live-in registers only: the analysis
// compares only those when it prunes a path).
z3::expr entry_constraint(const SymState& entry, const EntryFacts& facts, RegSet live_in) {
  z3::context& c = entry.guard.ctx();
  z3::expr_vector all(c);
  for (Reg i = 0; i < 11; ++i) {
    const auto& f = facts.regs[i];
    const SymReg& r = entry.r[i];
    if (!f || !(live_in & reg_bit(i)) || !r.v) continue;
    if (f->type == RegType::Scalar && r.kind == SymKind::Scalar) all.push_back(within(*r.v, f->var));
    if (f->type == RegType::Packet && r.kind == SymKind::Packet) all.push_back(within(*r.v - c.bv_val(int64_t(f->off), 64), f->var));
  }
  if (!entry.frames.empty()) {
    const SymFrame& frame = entry.frames[0];
    for (const auto& [off, byte] : frame.bytes) {
      if (off < -kMaxStack || off >= 0 || !facts.zero.test(std::size_t(off + kMaxStack))) continue;
      all.push_back(byte.init && byte.value() == c.bv_val(0, 8));
    }
    for (const auto& [off, s] : facts.spilled) {
      std::optional<z3::expr> whole;
      for (int64_t i = 0; i < 8; ++i) {
        auto it = frame.bytes.find(off + i);
        if (it == frame.bytes.end()) {
          whole.reset();
          break;
        }
        all.push_back(it->second.init);
        whole = whole ? z3::concat(it->second.value(), *whole) : it->second.value();  // little-endian
      }
      if (whole) all.push_back(within(*whole, s));
    }
  }
  return all.empty() ? c.bool_val(true) : z3::mk_and(all);
}

std::string stack_text(const StackBytes& b) {
  std::string out;
  for (std::size_t i = 0; i < b.size(); ++i)
    if (b[i]) out += std::to_string(int(i) - kMaxStack) + " ";
  return out;
}

}  // namespace

Verdict EquivalenceChecker::windows(const Module& src_module, const Program& src, Window sw, const Module& tgt_module,
                                    const Program& tgt, Window tw, const WindowContext& context) {
  const auto start = Clock::now();
  check_compatible(src_module, src, tgt_module, tgt);
  const auto bad = [](const Program& p, Window w) {
    return w.start >= w.end || w.end > p.image.size();
  };
  if (bad(src, sw) || bad(tgt, tw))
    throw InputError(Location{src_module.path, src.name(), sw.start}, "the window is empty or leaves the program");
  const Cfg cfg = build_cfg(src);
  const Liveness live = compute_liveness(cfg);
  const RegSet live_out = sw.end < live.live_in.size() ? live.live_in[sw.end] : RegSet(1);
  const std::string key = "windows " + options_text(options_) + " live_out " + std::to_string(live_out) + "\n" +
                          canonical_text(src_module, src, sw) + "--\n" + canonical_text(tgt_module, tgt, tw) +
                          "--entry\n" + canonical_text(src_module, src, Window{0, sw.start}) +
                          "--facts\n" + (context.entry ? context.entry->text() : "none\n") + "--live stack\n" +
                          (context.live_stack_after ? stack_text(*context.live_stack_after) : "all");
  if (std::optional<Verdict> hit = cached(key)) {
    hit->ms = ms_since(start);
    return *hit;
  }
  z3::context c;
  SymbolicWorld world(c, ctx_model_for(src.prog_type), src_module.maps);
  const EncodeOptions eo = encode_options(options_);
  // The shapes the window is entered with (register kinds, stack layout), from the source program.
  const Encoding prefix = encode_prefix(world, src_module, src, sw.start, eo);
  Verdict v;
  if (prefix.unsupported) {
    v.reason = "unsupported: before the window: " + *prefix.unsupported;
  } else if (prefix.outcomes.empty()) {
    v.reason = "unsupported: no path reaches the window";
  } else {
    v.kind = VerdictKind::Equivalent;
    for (const SymState& shape : prefix.outcomes) {
      std::vector<SymLookup> lookups;
      const SymState entry = abstract_state(world, shape, prefix.lookups, lookups);
      const Encoding a = encode_window(world, src_module, src, sw.start, sw.end, entry, lookups, eo);
      const Encoding b = encode_window(world, tgt_module, tgt, tw.start, tw.end, entry, lookups, eo);
      // Window counterexamples are abstract entry states: not replayable as whole-program inputs.
      CheckOptions o = options_;
      o.replay = false;
      const z3::expr facts =
          context.entry ? entry_constraint(entry, *context.entry, live.live_in[sw.start]) : c.bool_val(true);
      const Comparison cmp{live_out, true, context.live_stack_after ? &*context.live_stack_after : nullptr};
      Verdict one = decide({world, a, b, cmp, facts}, o, src_module, src, tgt_module, tgt, false);
      v.solver_ms += one.solver_ms;
      if (one.kind != VerdictKind::Equivalent) {
        one.solver_ms = v.solver_ms;
        v = std::move(one);
        break;
      }
    }
  }
  v.ms = ms_since(start);
  remember(key, v);
  return v;
}

std::optional<std::string> encoding_obstacle(const Module& module, const Program& program, const CheckOptions& options) {
  z3::context c;
  SymbolicWorld world(c, ctx_model_for(program.prog_type), module.maps);
  const Encoding e = encode_program(world, module, program, encode_options(options));
  if (e.unsupported) return "unsupported: " + *e.unsupported;
  return std::nullopt;
}

SafetyVerdict EquivalenceChecker::safety(const Module& module, const Program& program) {
  const auto start = Clock::now();
  z3::context c;
  SymbolicWorld world(c, ctx_model_for(program.prog_type), module.maps);
  const EncodeOptions eo = encode_options(options_);
  const Encoding e = encode_program(world, module, program, eo);
  SafetyVerdict v;
  if (e.unsupported) {
    v.reason = "unsupported: " + *e.unsupported;
  } else {
    z3::solver solver = new_solver(c, options_);
    solver.add(world.assumptions() && map_facts(world, {&e}) && (!e.safe() || e.exceeded));
    const z3::check_result r = solver.check();
    if (r == z3::unsat) {
      v.kind = VerdictKind::Equivalent;
    } else if (r == z3::unknown) {
      v.reason = "timeout";
    } else {
      z3::model m = solver.get_model();
      if (m.eval(e.exceeded, true).is_true()) {
        v.reason = "loop bound: more than " + std::to_string(options_.unroll) + " back edges";
      } else {
        v.kind = VerdictKind::NotEquivalent;
        v.reason = broken_obligation(m, e).value_or("an obligation fails");
        v.input = input_from_model(world, m, module, {&e});
      }
    }
  }
  v.ms = ms_since(start);
  return v;
}

}  // namespace tristate
