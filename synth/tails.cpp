#include "synth/tails.hpp"

#include <limits>
#include <map>

#include "compiler/rewrite.hpp"

namespace tristate {
namespace {

// Control never goes on to the next instruction: exit, or an unconditional goto somewhere else.
bool ends_flow(const Insn& i) { return is_exit_insn(i) || (is_goto(i) && branch_offset_of(i) != 0); }

class Finder {
 public:
  Finder(const Program& program, const std::vector<Insn>& image) : image_(image) {
    end_ = program.functions.empty() ? image.size() : std::min(image.size(), program.functions[0].size);
    for (const Relocation& r : program.entry.relocs) relocs_[r.insn] = &r;
    start_.assign(end_, true);
    prev_.assign(end_, npos);
    std::size_t last = npos;
    for (std::size_t s = 0; s < end_; ++s) {
      if (!start_[s]) continue;
      prev_[s] = last;
      last = s;
      if (is_ld_imm64(image_[s]) && s + 1 < end_) start_[s + 1] = false;
    }
  }

  std::optional<TailMerge> best(const std::set<std::pair<std::size_t, std::size_t>>& skip) const {
    std::vector<std::size_t> ends;
    for (std::size_t s = 0; s < end_; ++s)
      if (start_[s] && ends_flow(image_[s])) ends.push_back(s);
    std::optional<TailMerge> best;
    for (std::size_t b = 0; b < ends.size(); ++b)
      for (std::size_t a = 0; a < b; ++a) {
        const std::optional<TailMerge> m = match(ends[a], ends[b]);
        if (m && !skip.count({m->kept, m->copy}) && (!best || m->saved() > best->saved())) best = m;
      }
    return best;
  }

 private:
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

  // The longest common tail of the code ending at `ka` (kept) and `ca` (copy), walking back.
  std::optional<TailMerge> match(std::size_t ka, std::size_t ca) const {
    std::size_t i = ka, j = ca, kept = npos, copy = npos;
    while (i != npos && j != npos && j > ka && same(i, j, ka, ca)) {
      kept = i;
      copy = j;
      i = prev_[i];
      j = prev_[j];
    }
    if (copy == npos) return std::nullopt;
    // A helper call the two copies reach with their own map loads must stay two calls: the
    // kernel specialises a call site to its map (a direct lookup instead of the generic helper)
    // only when every path brings the same map there, which two tails with different maps, or
    // with loads outside the merged code, would not. So a merged tail starts after every call
    // that no map load inside it precedes.
    bool loaded = false;
    for (std::size_t i = kept; i <= ka; i += is_ld_imm64(image_[i]) ? 2 : 1) {
      if (is_ld_imm64(image_[i]) && relocs_.count(i) && relocs_.at(i)->kind == RelocKind::Map) loaded = true;
      if (is_call_insn(image_[i]) && !loaded) {
        if (i == ka) return std::nullopt;
        copy += (i + 1) - kept;
        kept = i + 1;
      }
    }
    TailMerge m;
    m.kept = kept;
    m.copy = copy;
    m.length = ca - copy + (is_ld_imm64(image_[ca]) ? 2 : 1);
    m.jump = prev_[copy] != npos && !ends_flow(image_[prev_[copy]]);
    if (m.saved() == 0) return std::nullopt;
    return m;
  }

  // Whether instruction i (in the kept code, which ends at ka) does what instruction j (in the
  // copy, which ends at ca) does.
  bool same(std::size_t i, std::size_t j, std::size_t ka, std::size_t ca) const {
    const Insn &x = image_[i], &y = image_[j];
    if (is_call_insn(x)) return x == y && x.src == 0;  // helpers only
    if (is_ld_imm64(x)) {
      if (!(x == y) || i + 1 >= end_ || j + 1 >= end_ || !(image_[i + 1] == image_[j + 1])) return false;
      if (x.src != 0 && x.src != bpf::PSEUDO_MAP_FD && x.src != bpf::PSEUDO_MAP_VALUE) return false;
      const auto ri = relocs_.find(i), rj = relocs_.find(j);
      if ((ri == relocs_.end()) != (rj == relocs_.end())) return false;
      if (ri == relocs_.end()) return true;
      const Relocation& p = *ri->second;
      return (p.kind == RelocKind::Map || p.kind == RelocKind::GlobalData) && same_target(p, *rj->second);
    }
    if (relocs_.count(i) || relocs_.count(j)) return false;
    if (!has_branch_offset(x)) return x == y;
    if (x.opcode != y.opcode || x.dst != y.dst || x.src != y.src || (!is_gotol(x) && x.imm != y.imm)) return false;
    const int64_t ti = int64_t(i) + 1 + branch_offset_of(x), tj = int64_t(j) + 1 + branch_offset_of(y);
    if (ti == tj) return true;  // to the same place
    // To the same place inside each one's own code.
    return ti - int64_t(i) == tj - int64_t(j) && ti > int64_t(i) && ti <= int64_t(ka) && tj <= int64_t(ca);
  }

  const std::vector<Insn>& image_;
  std::size_t end_ = 0;
  std::map<std::size_t, const Relocation*> relocs_;
  std::vector<bool> start_;        // per slot: an instruction starts here (not an LD_IMM64's second half)
  std::vector<std::size_t> prev_;  // per instruction start: the previous one (npos for the first)
};

}  // namespace

std::optional<TailMerge> best_tail_merge(const Program& program, const std::vector<Insn>& image,
                                         const std::set<std::pair<std::size_t, std::size_t>>& skip) {
  return Finder(program, image).best(skip);
}

std::optional<std::vector<Insn>> apply_tail_merge(const Program& program, const std::vector<Insn>& image,
                                                  const TailMerge& m) {
  const std::size_t end = program.functions.empty() ? image.size() : std::min(image.size(), program.functions[0].size);
  std::vector<Insn> out = image;
  const auto set_target = [&](std::size_t pc, int64_t target) {
    const int64_t off = target - int64_t(pc) - 1;
    if (is_gotol(out[pc])) {
      if (off < std::numeric_limits<int32_t>::min() || off > std::numeric_limits<int32_t>::max()) return false;
      out[pc].imm = int32_t(off);
    } else {
      if (off < std::numeric_limits<int16_t>::min() || off > std::numeric_limits<int16_t>::max()) return false;
      out[pc].off = int16_t(off);
    }
    return true;
  };
  const std::size_t copy_end = m.copy + m.length;
  for (std::size_t pc = 0; pc < end; ++pc) {
    if (pc >= m.copy && pc < copy_end) continue;
    const Insn& in = image[pc];
    if (is_ld_imm64(in)) {
      ++pc;
      continue;
    }
    if (!has_branch_offset(in)) continue;
    const int64_t target = int64_t(pc) + 1 + branch_offset_of(in);
    if (target >= int64_t(m.copy) && target < int64_t(copy_end) &&
        !set_target(pc, int64_t(m.kept) + (target - int64_t(m.copy))))
      return std::nullopt;
  }
  for (std::size_t s = m.copy; s < copy_end; ++s) out[s] = kNop;
  if (m.jump) {
    out[m.copy] = make_insn(bpf::JMP | bpf::JA, 0, 0, 0, 0);
    if (!set_target(m.copy, int64_t(m.kept))) return std::nullopt;
  }
  return out;
}

}  // namespace tristate
