#include "compiler/cfg.hpp"

#include <algorithm>

#include "compiler/error.hpp"

namespace tristate {

namespace {

InputError error_at(std::size_t pc, std::string reason) {
  return InputError(Location{{}, {}, pc}, std::move(reason));
}

bool is_jump(const Decoded& d) {
  return std::holds_alternative<Jmp>(d) || std::holds_alternative<Ja>(d) ||
         std::holds_alternative<MayGoto>(d);
}

// Instructions after which control never reaches the next one.
bool ends_flow(const Decoded& d) {
  return std::holds_alternative<Ja>(d) || std::holds_alternative<Exit>(d);
}

template <class T>
void push_unique(std::vector<T>& v, const T& x) {
  if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
}

// Depth-first search from block 0: post-order gives the RPO, edges to blocks still on the stack
// are the back edges. Iterative, since a function may have thousands of blocks.
void order_blocks(FunctionCfg& f, std::vector<bool>& reached) {
  const std::size_t n = f.blocks.size();
  enum : uint8_t { kNew, kOnStack, kDone };
  std::vector<uint8_t> state(n, kNew);
  std::vector<std::size_t> post;
  struct Frame {
    std::size_t block;
    std::size_t next;  // how many successors have been looked at
  };
  std::vector<Frame> stack{{0, 0}};
  state[0] = kOnStack;
  while (!stack.empty()) {
    Frame& top = stack.back();
    const auto& succs = f.blocks[top.block].succs;
    if (top.next == succs.size()) {
      state[top.block] = kDone;
      post.push_back(top.block);
      stack.pop_back();
      continue;
    }
    // Last successor first (the jump target before the fall-through): see FunctionCfg::rpo.
    const std::size_t s = succs[succs.size() - 1 - top.next];
    const std::size_t from = top.block;
    ++top.next;
    if (state[s] == kNew) {
      state[s] = kOnStack;
      stack.push_back({s, 0});
    } else if (state[s] == kOnStack) {
      f.back_edges.emplace_back(from, s);
    }
  }
  f.rpo.assign(post.rbegin(), post.rend());
  reached.assign(n, false);
  for (std::size_t b : f.rpo) reached[b] = true;
}

// BPF has no recursion (stack depth is checked statically): a cycle of bpf-to-bpf calls is
// refused, naming a call that closes it. Callbacks reached through function pointers are left to
// the verifier proper, which knows which helpers call them.
void check_no_recursion(const Cfg& cfg) {
  enum : uint8_t { kNew, kOnStack, kDone };
  std::vector<uint8_t> state(cfg.functions.size(), kNew);
  struct Frame {
    std::size_t function;
    std::size_t next;  // how many callees have been looked at
  };
  std::vector<Frame> stack{{0, 0}};
  state[0] = kOnStack;
  while (!stack.empty()) {
    Frame& top = stack.back();
    const FunctionCfg& caller = cfg.functions[top.function];
    if (top.next == caller.callees.size()) {
      state[top.function] = kDone;
      stack.pop_back();
      continue;
    }
    const std::size_t callee = caller.callees[top.next++];
    if (state[callee] == kNew) {
      state[callee] = kOnStack;
      stack.push_back({callee, 0});
    } else if (state[callee] == kOnStack) {
      const std::size_t first = cfg.insn_index(caller.start);
      for (std::size_t i = first;
           i < cfg.insns.size() && cfg.insns[i].pc < caller.start + caller.size; ++i) {
        const auto& [pc, d] = cfg.insns[i];
        if (std::holds_alternative<Call>(d) &&
            branch_target(d, pc) == std::int64_t(cfg.functions[callee].start))
          throw error_at(pc, "recursive call from insn " + std::to_string(pc) + " to function '" +
                                 cfg.functions[callee].name + "'");
      }
      throw InternalError("check_no_recursion: no call closes the cycle");
    }
  }
}

}  // namespace

std::size_t Cfg::insn_index(std::size_t pc) const {
  if (pc >= insn_of_slot_.size())
    throw InternalError("Cfg::insn_index: slot " + std::to_string(pc) + " is outside the image");
  return insn_of_slot_[pc];
}

BlockRef Cfg::block_of(std::size_t pc) const {
  if (pc >= block_of_slot_.size())
    throw InternalError("Cfg::block_of: slot " + std::to_string(pc) + " is outside the image");
  return block_of_slot_[pc];
}

Cfg build_cfg(std::span<const Insn> image, const std::vector<FunctionRange>& ranges) {
  if (image.empty()) throw InputError("the program has no instructions");
  Cfg cfg;
  cfg.insns = decode_program(image);
  const std::size_t n_slots = image.size();

  cfg.insn_of_slot_.assign(n_slots, Cfg::npos);
  for (std::size_t i = 0; i < cfg.insns.size(); ++i) cfg.insn_of_slot_[cfg.insns[i].pc] = i;

  // The ranges come from our own frontend, which lays functions out back to back.
  if (ranges.empty()) throw InternalError("build_cfg: no function ranges");
  std::vector<std::size_t> func_of_slot(n_slots);
  std::vector<std::size_t> func_at_start(n_slots, Cfg::npos);
  std::size_t expect = 0;
  for (std::size_t f = 0; f < ranges.size(); ++f) {
    const FunctionRange& r = ranges[f];
    if (r.start != expect || r.size == 0 || r.start + r.size > n_slots)
      throw InternalError("build_cfg: function ranges do not tile the image at function '" +
                          r.name + "'");
    if (cfg.insn_of_slot_[r.start] == Cfg::npos)
      throw error_at(r.start, "function '" + r.name + "' starts in the middle of ldimm64 insn " +
                                  std::to_string(r.start - 1));
    std::fill(func_of_slot.begin() + std::ptrdiff_t(r.start),
              func_of_slot.begin() + std::ptrdiff_t(r.start + r.size), f);
    func_at_start[r.start] = f;
    expect = r.start + r.size;
  }
  if (expect != n_slots) throw InternalError("build_cfg: function ranges do not cover the image");

  // Structural checks, in address order so that the first offending instruction is reported, as
  // the kernel's check_subprogs does. Block leaders are collected on the way.
  std::vector<bool> leader(n_slots, false);
  for (const auto& r : ranges) leader[r.start] = true;
  for (std::size_t i = 0; i < cfg.insns.size(); ++i) {
    const auto& [pc, d] = cfg.insns[i];
    const FunctionRange& r = ranges[func_of_slot[pc]];
    const std::size_t end = r.start + r.size;
    const std::size_t next = pc + slots(d);
    if (is_jump(d)) {
      const std::int64_t target = *branch_target(d, pc);
      if (target < std::int64_t(r.start) || target >= std::int64_t(end))
        throw error_at(pc, "jump out of range from insn " + std::to_string(pc) + " to " +
                               std::to_string(target));
      leader[std::size_t(target)] = true;
    } else if (auto target = branch_target(d, pc)) {
      // A bpf-to-bpf call or a function pointer: decode_program has checked the range.
      if (func_at_start[std::size_t(*target)] == Cfg::npos) {
        const char* what = std::holds_alternative<Call>(d) ? "call" : "function pointer";
        throw error_at(pc, std::string(what) + " to insn " + std::to_string(*target) +
                               ", which is not the start of a function");
      }
    }
    if (is_jump(d) || std::holds_alternative<Exit>(d)) {
      if (next < end) leader[next] = true;
    }
    if (next >= end) {
      // Anything else would let control run into the next function or off the end of the image.
      if (!ends_flow(d)) throw error_at(pc, "last insn is not an exit or jmp");
    }
  }

  // Blocks, in address order within each function.
  cfg.block_of_slot_.assign(n_slots, BlockRef{});
  cfg.functions.resize(ranges.size());
  for (std::size_t f = 0; f < ranges.size(); ++f) {
    FunctionCfg& fc = cfg.functions[f];
    fc.name = ranges[f].name;
    fc.start = ranges[f].start;
    fc.size = ranges[f].size;
    const std::size_t first_insn = cfg.insn_of_slot_[fc.start];
    const std::size_t end = fc.start + fc.size;
    for (std::size_t i = first_insn; i < cfg.insns.size() && cfg.insns[i].pc < end; ++i) {
      const std::size_t pc = cfg.insns[i].pc;
      if (leader[pc]) {
        fc.blocks.push_back(BasicBlock{pc, pc, i, i + 1, {}, {}});
      }
      BasicBlock& b = fc.blocks.back();
      b.last = pc;
      b.end_insn = i + 1;
      const BlockRef ref{f, fc.blocks.size() - 1};
      for (std::size_t s = pc; s < pc + slots(cfg.insns[i].insn); ++s) cfg.block_of_slot_[s] = ref;
    }
  }

  // Edges. Targets and fall-throughs stay inside the function (checked above).
  for (std::size_t f = 0; f < cfg.functions.size(); ++f) {
    FunctionCfg& fc = cfg.functions[f];
    for (std::size_t b = 0; b < fc.blocks.size(); ++b) {
      const DecodedInsn& last = cfg.insns[fc.blocks[b].end_insn - 1];
      const std::size_t next = last.pc + slots(last.insn);
      auto& succs = fc.blocks[b].succs;
      if (!ends_flow(last.insn)) succs.push_back(cfg.block_of_slot_[next].block);
      if (is_jump(last.insn))
        push_unique(succs,
                    cfg.block_of_slot_[std::size_t(*branch_target(last.insn, last.pc))].block);
    }
    for (std::size_t b = 0; b < fc.blocks.size(); ++b)
      for (std::size_t s : fc.blocks[b].succs) fc.blocks[s].preds.push_back(b);
  }

  // Reachability: within a function from its entry block; across functions through calls and
  // function pointers in reached blocks only, as the kernel's depth-first walk does.
  std::vector<std::vector<bool>> block_reached(cfg.functions.size());
  for (std::size_t f = 0; f < cfg.functions.size(); ++f)
    order_blocks(cfg.functions[f], block_reached[f]);
  for (std::size_t f = 0; f < cfg.functions.size(); ++f) {
    FunctionCfg& fc = cfg.functions[f];
    for (std::size_t b = 0; b < fc.blocks.size(); ++b) {
      if (!block_reached[f][b]) continue;
      for (const DecodedInsn& di : cfg.insns_of(fc.blocks[b])) {
        auto target = branch_target(di.insn, di.pc);
        if (!target || is_jump(di.insn)) continue;
        const std::size_t callee = func_at_start[std::size_t(*target)];
        push_unique(std::holds_alternative<Call>(di.insn) ? fc.callees : fc.func_refs, callee);
      }
    }
  }
  std::vector<bool> func_reached(cfg.functions.size(), false);
  std::vector<std::size_t> work{0};
  func_reached[0] = true;
  while (!work.empty()) {
    const FunctionCfg& fc = cfg.functions[work.back()];
    work.pop_back();
    for (const auto* list : {&fc.callees, &fc.func_refs})
      for (std::size_t g : *list)
        if (!func_reached[g]) {
          func_reached[g] = true;
          work.push_back(g);
        }
  }
  for (std::size_t f = 0; f < cfg.functions.size(); ++f) {
    for (std::size_t b = 0; b < cfg.functions[f].blocks.size(); ++b) {
      if (!func_reached[f] || !block_reached[f][b])
        throw error_at(cfg.functions[f].blocks[b].first,
                       "unreachable insn " + std::to_string(cfg.functions[f].blocks[b].first));
    }
  }

  check_no_recursion(cfg);
  return cfg;
}

Cfg build_cfg(const Program& p) {
  try {
    if (p.functions.empty())
      return build_cfg(p.image, {FunctionRange{p.name(), 0, p.image.size()}});
    return build_cfg(p.image, p.functions);
  } catch (const InputError& e) {
    throw e.within(Location{{}, p.name(), {}});
  }
}

}  // namespace tristate
