#include "verifier/shared_code.hpp"

#include <map>

namespace tristate {
namespace {

// The fields that say what an instruction does, apart from where a branch goes.
bool same_effect(const Insn& a, const Insn& b) {
  if (a.opcode != b.opcode || a.dst != b.dst || a.src != b.src) return false;
  if (has_branch_offset(a)) return is_gotol(a) || a.imm == b.imm;  // the offset is checked as a target
  if (is_call_insn(a) && a.src == bpf::PSEUDO_CALL) return true;  // the target is checked as a branch's
  return a == b;
}

bool same_reloc(const Relocation* a, const Relocation* b) { return a && b ? same_target(*a, *b) : a == b; }

}  // namespace

std::optional<std::string> check_shared_code(const Program& before, const Program& after, const SharedCode& claim) {
  const std::vector<Insn>&b = before.image, &a = after.image;
  const std::size_t n = before.functions.empty() ? b.size() : before.functions[0].size;
  const auto at = [](std::size_t s) { return "slot " + std::to_string(s) + ": "; };
  if (a.size() != b.size() || after.functions.size() != before.functions.size() ||
      (!after.functions.empty() && after.functions[0].size != n))
    return "the programs are laid out differently";
  if (!(claim.kept < claim.copy && claim.kept + claim.length <= claim.copy && claim.copy + claim.length <= n &&
        claim.length > 0))
    return "the shared ranges overlap or leave the entry function";
  for (std::size_t s = n; s < b.size(); ++s)
    if (!(a[s] == b[s])) return at(s) + "a subprogram differs";
  std::map<std::size_t, const Relocation*> rb, ra;
  for (const Relocation& r : before.entry.relocs) rb[r.insn] = &r;
  for (const Relocation& r : after.entry.relocs) ra[r.insn] = &r;
  const auto reloc = [](const std::map<std::size_t, const Relocation*>& m, std::size_t s) -> const Relocation* {
    const auto it = m.find(s);
    return it == m.end() ? nullptr : it->second;
  };
  const auto f = [&](std::size_t s) { return s >= claim.copy && s < claim.copy + claim.length ? claim.kept + (s - claim.copy) : s; };

  for (std::size_t s = 0; s < n; ++s) {
    const Insn& x = b[s];
    const std::size_t t = f(s);
    const Insn& y = a[t];
    const std::size_t width = is_ld_imm64(x) ? 2 : 1;
    if (!same_effect(x, y)) return at(s) + "the instruction at " + std::to_string(t) + " differs";
    if (!same_reloc(reloc(rb, s), reloc(ra, t))) return at(s) + "the relocation at " + std::to_string(t) + " differs";
    if (is_ld_imm64(x)) {
      if (x.src == bpf::PSEUDO_FUNC) return at(s) + "a function address (position-relative)";
      if (s + 1 >= n || t + 1 >= n || !(b[s + 1] == a[t + 1])) return at(s) + "the LD_IMM64's second half differs";
    }
    if (is_call_insn(x) && x.src == bpf::PSEUDO_CALL) {
      const int64_t to = int64_t(s) + 1 + x.imm;
      if (to < int64_t(n) || int64_t(t) + 1 + y.imm != to) return at(s) + "the call goes elsewhere";
    }
    if (has_branch_offset(x)) {
      const int64_t to_b = int64_t(s) + 1 + branch_offset_of(x), to_a = int64_t(t) + 1 + branch_offset_of(y);
      if (to_b < 0 || to_b >= int64_t(n) || to_a != int64_t(f(std::size_t(to_b))))
        return at(s) + "the branch at " + std::to_string(t) + " goes elsewhere";
    }
    const bool falls = !is_exit_insn(x) && !is_goto(x);
    if (falls) {
      const std::size_t next_b = s + width, next_a = t + width;
      if (next_b >= n) return at(s) + "falls off the function";
      if (next_a != f(next_b)) {
        // Into the copy from before it: the after program's next instruction must jump to the kept code.
        const Insn& j = a[next_a];
        const bool bridged = next_b == claim.copy && next_a == claim.copy && is_goto(j) &&
                             int64_t(next_a) + 1 + branch_offset_of(j) == int64_t(claim.kept);
        if (!bridged) return at(s) + "falls through to " + std::to_string(next_a) + ", not to " + std::to_string(f(next_b));
      }
    }
    s += width - 1;
  }
  return std::nullopt;
}

}  // namespace tristate
