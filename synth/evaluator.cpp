#include "synth/evaluator.hpp"

#include <bit>

#include "compiler/error.hpp"

namespace tristate {

Evaluator::Evaluator(const Module& module, std::size_t program, const TestSuite& suite)
    : module_(module), program_(program), suite_(suite), image_(module.programs.at(program).image), maps_(module.maps, 1) {
  interp_.emplace(module_, maps_);
}

void Evaluator::reset_group(int group) {
  for (std::size_t m = 0; m < maps_.size(); ++m) maps_[m].clear();
  work_ += kRunCost;
  if (group >= 0) suite_.seeders.at(std::size_t(group))(maps_);
}

Evaluator::Observed Evaluator::run_one(std::size_t case_index) {
  const TestCase& c = suite_.cases[case_index];
  Observed o;
  o.regs.assign(live_.size() * kVisits, ObservedReg{});
  const InsnObserver observer = [&](std::size_t pc, std::size_t depth, const ObservedReg (&regs)[11]) {
    if (pc != end_ || depth != 0) return;
    if (o.visits < kVisits)
      for (std::size_t i = 0; i < live_.size(); ++i) o.regs[o.visits * live_.size() + i] = regs[live_[i]];
    ++o.visits;
  };
  const StackObserver stack = [&](std::span<const uint8_t> bytes, std::span<const uint64_t> written) {
    if (o.visits != 1) return;  // the observer has just counted this visit
    std::copy(bytes.begin(), bytes.end(), o.stack.begin());
    std::copy(written.begin(), written.end(), o.written.begin());
  };
  RunLimits limits;
  limits.observer = &observer;
  limits.observe_at = &watch_end_;
  limits.stack_observer = &stack;
  limits.map_effects = &o.maps;
  ++runs_;
  try {
    interp_->run(program_, RunInput{c.packet, c.ctx}, c.env ? *c.env : env_, limits, scratch_);
  } catch (const InputError&) {
    o.fault = true;  // an input the interpreter refuses: the same for every candidate
    return o;
  }
  work_ += kRunCost + scratch_.executed;
  o.fault = scratch_.fault.has_value();
  o.r0 = scratch_.r0;
  o.packet = scratch_.packet;
  o.ctx = scratch_.ctx;
  o.redirect = scratch_.redirect;
  o.trace = scratch_.trace;
  return o;
}

void Evaluator::set_window(std::size_t start, std::size_t end, RegSet live_out, const StackBytes& live_stack) {
  static_assert(Interpreter::kStackSize == kMaxStack);
  start_ = start;
  end_ = end;
  live_stack_.fill(0);
  for (std::size_t i = 0; i < live_stack.size(); ++i)
    if (live_stack[i]) live_stack_[i / 64] |= uint64_t(1) << (i % 64);
  live_.clear();
  for (Reg r = 0; r <= kMaxReg; ++r)
    if (live_out & reg_bit(r)) live_.push_back(r);
  watch_end_.assign(image_.size(), false);
  if (end < image_.size()) watch_end_[end] = true;
  std::vector<bool> watch_start(image_.size(), false);
  watch_start[start] = true;
  // Which cases reach the window: one pass over all of them, watching for its first slot.
  reaching_.clear();
  int group = -2;
  for (std::size_t i = 0; i < suite_.cases.size(); ++i) {
    if (suite_.cases[i].group != group) reset_group(group = suite_.cases[i].group);
    bool reached = false;
    const InsnObserver watch = [&](std::size_t pc, std::size_t depth, const ObservedReg (&)[11]) {
      if (pc == start && depth == 0) reached = true;
    };
    RunLimits limits;
    limits.observer = &watch;
    limits.observe_at = &watch_start;
    try {
      const TestCase& c = suite_.cases[i];
      interp_->run(program_, RunInput{c.packet, c.ctx}, c.env ? *c.env : env_, limits, scratch_);
    } catch (const InputError&) {
    }
    work_ += kRunCost + scratch_.executed;
    if (reached) reaching_.push_back(i);
  }
  window_at_set_.assign(image_.begin() + std::ptrdiff_t(start), image_.begin() + std::ptrdiff_t(end));
  reference_.clear();
  group = -2;
  for (std::size_t i : reaching_) {
    if (suite_.cases[i].group != group) reset_group(group = suite_.cases[i].group);
    reference_.push_back(run_one(i));
  }
}

void Evaluator::add_case(TestCase c, std::function<void(MapSet&)> seeder) {
  c.group = int(suite_.seeders.size());
  suite_.seeders.push_back(std::move(seeder));
  suite_.cases.push_back(std::move(c));
  const std::size_t index = suite_.cases.size() - 1;
  // The reference: the window as set_window found it, then the candidate back in place.
  const std::vector<Insn> now(image_.begin() + std::ptrdiff_t(start_), image_.begin() + std::ptrdiff_t(end_));
  for (std::size_t i = 0; i < now.size(); ++i) write(start_ + i, window_at_set_[i]);
  reset_group(suite_.cases[index].group);
  reference_.push_back(run_one(index));
  for (std::size_t i = 0; i < now.size(); ++i) write(start_ + i, now[i]);
  reaching_.push_back(index);
  ++added_;
}

std::optional<std::string> Evaluator::write(std::size_t slot, const Insn& insn) {
  if (auto why = interp_->replace(program_, slot, insn)) return why;
  image_.at(slot) = insn;
  return std::nullopt;
}

namespace {

// Bits that differ between two byte strings, counting 8 for each byte one has past the other.
uint64_t byte_distance(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  const std::size_t n = std::min(a.size(), b.size());
  uint64_t d = 8 * uint64_t(std::max(a.size(), b.size()) - n);
  for (std::size_t i = 0; i < n; ++i) d += uint64_t(std::popcount(unsigned(a[i] ^ b[i])));
  return d;
}

}  // namespace

uint64_t Evaluator::error(uint64_t bound) {
  uint64_t err = 0;
  int group = -2;
  for (std::size_t k = 0; k < reaching_.size() && err <= bound; ++k) {
    const std::size_t i = reaching_[k];
    if (suite_.cases[i].group != group) reset_group(group = suite_.cases[i].group);
    const Observed o = run_one(i);
    const Observed& ref = reference_[k];
    if (o.fault != ref.fault) {
      err += kFaultError;
      continue;
    }
    if (o.fault) continue;
    err += uint64_t(std::popcount(o.r0 ^ ref.r0));
    err += byte_distance(o.packet, ref.packet) + byte_distance(o.ctx, ref.ctx) + byte_distance(o.maps.bytes, ref.maps.bytes);
    if (o.redirect.has_value() != ref.redirect.has_value()) {
      err += 64;
    } else if (o.redirect) {
      err += uint64_t(std::popcount(o.redirect->ifindex ^ ref.redirect->ifindex) + std::popcount(o.redirect->key ^ ref.redirect->key) +
                      std::popcount(o.redirect->flags ^ ref.redirect->flags)) +
             (o.redirect->map != ref.redirect->map ? 64 : 0);
    }
    if (o.trace != ref.trace) err += 64;
    if (std::min(o.visits, kVisits) != std::min(ref.visits, kVisits)) err += 64;
    for (std::size_t w = 0; w < o.written.size(); ++w) {
      // Bytes the reference wrote: 8 bits when the candidate left one unwritten, else the bits
      // that differ. Bytes only the candidate wrote are left to the proof (nothing may read them).
      const uint64_t want = ref.written[w] & live_stack_[w];
      const uint64_t both = o.written[w] & want;
      err += 8 * uint64_t(std::popcount(want & ~o.written[w]));
      for (uint64_t bits = both; bits; bits &= bits - 1) {
        const std::size_t at = w * 64 + std::size_t(std::countr_zero(bits));
        err += uint64_t(std::popcount(unsigned(o.stack[at] ^ ref.stack[at])));
      }
    }
    for (std::size_t r = 0; r < o.regs.size(); ++r) {
      const ObservedReg &x = o.regs[r], &y = ref.regs[r];
      if (x.kind != y.kind || x.region != y.region) err += 64;
      else err += uint64_t(std::popcount(uint64_t(x.value ^ y.value)));
    }
  }
  return err;
}

}  // namespace tristate
