#include "analyzer/facts.hpp"

#include <algorithm>

#include "analyzer/analyzer.hpp"
#include "compiler/cfg.hpp"

namespace tristate {

Scalar join(const Scalar& a, const Scalar& b) {
  Scalar s;
  s.var = tnum_union(a.var, b.var);
  s.umin = std::min(a.umin, b.umin);
  s.umax = std::max(a.umax, b.umax);
  s.smin = std::min(a.smin, b.smin);
  s.smax = std::max(a.smax, b.smax);
  s.u32_min = std::min(a.u32_min, b.u32_min);
  s.u32_max = std::max(a.u32_max, b.u32_max);
  s.s32_min = std::min(a.s32_min, b.s32_min);
  s.s32_max = std::max(a.s32_max, b.s32_max);
  return s;
}

std::string EntryFacts::text() const {
  std::string out;
  for (std::size_t i = 0; i < regs.size(); ++i) {
    if (!regs[i]) continue;
    out += "r" + std::to_string(i) + " " + reg_type_name(regs[i]->type) + "+" + std::to_string(regs[i]->off) + " " +
           regs[i]->var.to_string() + "\n";
  }
  for (std::size_t i = 0; i < zero.size(); ++i)
    if (zero[i]) out += "fp" + std::to_string(int(i) - kMaxStack) + " zero\n";
  for (const auto& [off, s] : spilled) out += "fp" + std::to_string(off) + " spilled " + s.to_string() + "\n";
  return out;
}

namespace {

// Bytes [from, to) of the entry frame, as r10 offsets (negative), clipped to the stack.
StackBytes bytes_between(int64_t from, int64_t to) {
  StackBytes b;
  for (int64_t off = std::max<int64_t>(from, -kMaxStack); off < std::min<int64_t>(to, 0); ++off) b.set(std::size_t(off + kMaxStack));
  return b;
}

// The r10 offset a stack pointer holds, when it is one number.
std::optional<int64_t> stack_offset(const RegState& r) {
  if (r.type != RegType::Stack || r.frame != 0 || !r.var.is_const()) return std::nullopt;
  return int64_t(r.off) + int64_t(r.var.var.value);
}

// What one visit of an instruction in the entry frame reads from and surely writes to its stack.
struct StackUse {
  StackBytes reads, writes;
};

StackUse stack_use(const Decoded& d, const FrameState& f) {
  StackUse u;
  StackBytes all;
  all.set();
  const auto range = [&](Reg base, int64_t off, std::size_t n) -> std::optional<StackBytes> {
    const RegState& r = f.regs[base];
    if (r.type != RegType::Stack) return StackBytes{};
    const auto at = stack_offset(r);
    if (!at) return std::nullopt;  // somewhere in the stack
    return bytes_between(*at + off, *at + off + int64_t(n));
  };
  if (const auto* l = std::get_if<Load>(&d)) {
    u.reads = range(l->base, l->off, std::size_t(bytes(l->width))).value_or(all);
  } else if (const auto* s = std::get_if<Store>(&d)) {
    u.writes = range(s->base, s->off, std::size_t(bytes(s->width))).value_or(StackBytes{});
  } else if (const auto* a = std::get_if<Atomic>(&d)) {
    u.reads = range(a->base, a->off, std::size_t(bytes(a->width))).value_or(all);
  } else if (const auto* c = std::get_if<Call>(&d)) {
    // A helper reads at most from its stack argument to the top of the frame; a bpf-to-bpf
    // callee given a pointer into this frame may reach all of it.
    for (Reg r = 1; r <= 5; ++r) {
      if (f.regs[r].type != RegType::Stack || f.regs[r].frame != 0) continue;
      const auto at = stack_offset(f.regs[r]);
      u.reads |= c->kind == CallKind::Helper && at ? bytes_between(*at, 0) : all;
    }
  }
  return u;
}

EntryFacts::Reg reg_fact(const RegState& r) { return {r.type, r.type == RegType::Scalar ? 0 : r.off, r.var}; }

bool has_fact(const RegState& r) { return r.type == RegType::Scalar || r.type == RegType::Packet; }

EntryFacts facts_of(const FrameState& f) {
  EntryFacts e;
  for (std::size_t i = 0; i < 11; ++i)
    if (has_fact(f.regs[i])) e.regs[i] = reg_fact(f.regs[i]);
  for (std::size_t slot = 0; slot < f.stack.size(); ++slot) {
    const StackSlot& s = f.stack[slot];
    const int top = -8 * int(slot);  // one past the slot's highest byte
    for (int b = 0; b < 8; ++b)
      if (s.type[std::size_t(b)] == SlotType::Zero) e.zero.set(std::size_t(top - 1 - b + kMaxStack));
    bool whole = true;
    for (SlotType t : s.type) whole = whole && t == SlotType::Spill;
    if (whole && s.spilled.type == RegType::Scalar) e.spilled.emplace(top - 8, s.spilled.var);
  }
  return e;
}

void join_into(EntryFacts& acc, const EntryFacts& more) {
  for (std::size_t i = 0; i < 11; ++i) {
    auto& a = acc.regs[i];
    const auto& b = more.regs[i];
    if (!a) continue;
    if (!b || a->type != b->type || a->off != b->off) a.reset();
    else a->var = join(a->var, b->var);
  }
  acc.zero &= more.zero;
  for (auto it = acc.spilled.begin(); it != acc.spilled.end();) {
    const auto other = more.spilled.find(it->first);
    if (other == more.spilled.end()) {
      it = acc.spilled.erase(it);
    } else {
      it->second = join(it->second, other->second);
      ++it;
    }
  }
}

}  // namespace

ProgramFacts program_facts(const Module& module, const Program& program) {
  ProgramFacts out;
  const Cfg cfg = build_cfg(program);
  const std::size_t n = program.image.size();
  out.entry.assign(n, std::nullopt);
  std::vector<StackBytes> gen(n), kill(n);
  std::vector<bool> visited(n, false);
  AnalyzeOptions options;
  options.on_state = [&](std::size_t pc, const VerifierState& st) {
    if (st.frames.size() != 1 || pc >= n) return;
    const std::size_t index = cfg.insn_index(pc);
    if (index == Cfg::npos) return;
    const FrameState& f = st.cur();
    const StackUse use = stack_use(cfg.insns[index].insn, f);
    gen[pc] |= use.reads;
    kill[pc] = visited[pc] ? (kill[pc] & use.writes) : use.writes;
    const EntryFacts facts = facts_of(f);
    if (!visited[pc]) out.entry[pc] = facts;
    else join_into(*out.entry[pc], facts);
    visited[pc] = true;
  };
  const AnalysisResult result = analyze(module, program, options);
  out.processed = result.processed;
  if (!result.accepted) {
    out.entry.assign(n, std::nullopt);
    out.live_stack.assign(n + 1, StackBytes{}.set());
    return out;
  }
  out.analyzed = true;

  // Backward over the entry function's blocks until nothing changes; nothing is live at an exit.
  out.live_stack.assign(n + 1, StackBytes{});
  const FunctionCfg& fn = cfg.functions.at(0);
  std::vector<StackBytes> block_in(fn.blocks.size());
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t bi = fn.blocks.size(); bi-- > 0;) {
      const BasicBlock& b = fn.blocks[bi];
      StackBytes live;
      for (std::size_t s : b.succs) live |= block_in[s];
      const auto insns = cfg.insns_of(b);
      for (std::size_t k = insns.size(); k-- > 0;) {
        const std::size_t pc = insns[k].pc;
        live = (live & ~kill[pc]) | gen[pc];
        out.live_stack[pc] = live;
      }
      if (live != block_in[bi]) {
        block_in[bi] = live;
        changed = true;
      }
    }
  }
  return out;
}

}  // namespace tristate
