#include "compiler/rewrite.hpp"

#include <limits>
#include <string>

#include "compiler/error.hpp"

namespace tristate {

SlotRemoval remove_slots(std::span<const Insn> insns, const std::vector<bool>& removed, bool retarget_calls) {
  if (removed.size() != insns.size()) throw InternalError("remove_slots: one flag per slot expected");
  const std::size_t n = insns.size();
  SlotRemoval out;
  out.old_to_new.assign(n, -1);
  // next_kept[i]: the new index of the first kept slot at or after i (n: the end).
  std::vector<std::ptrdiff_t> next_kept(n + 1);
  std::ptrdiff_t count = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (!removed[i]) out.old_to_new[i] = count++;
  next_kept[n] = count;
  for (std::size_t i = n; i-- > 0;) next_kept[i] = removed[i] ? next_kept[i + 1] : out.old_to_new[i];

  for (std::size_t pc = 0; pc < n; ++pc) {
    const Insn& in = insns[pc];
    const bool ld64 = is_ld_imm64(in);
    if (ld64 && pc + 1 < n && removed[pc] != removed[pc + 1])
      throw InputError(Location{{}, {}, pc}, "cannot remove half of an LD_IMM64");
    if (removed[pc]) continue;
    Insn insn = in;
    const bool is_call = is_call_insn(in) && in.src == bpf::PSEUDO_CALL;
    const bool is_func = ld64 && in.src == bpf::PSEUDO_FUNC;
    const bool is_branch = has_branch_offset(in);
    const bool long_ja = is_gotol(in);
    const std::ptrdiff_t self = out.old_to_new[pc];
    auto retarget = [&](int64_t off) -> int64_t {
      const int64_t target = int64_t(pc) + 1 + off;
      if (target < 0 || target > int64_t(n)) throw InputError(Location{{}, {}, pc}, "branch target outside the program");
      return next_kept[std::size_t(target)] - self - 1;
    };
    if (is_branch) {
      const int64_t off = retarget(long_ja ? in.imm : in.off);
      if (long_ja) {
        insn.imm = int32_t(off);
      } else {
        if (off < std::numeric_limits<int16_t>::min() || off > std::numeric_limits<int16_t>::max())
          throw InputError(Location{{}, {}, pc}, "jump offset does not fit after removal");
        insn.off = int16_t(off);
      }
    } else if (retarget_calls && (is_call || is_func)) {
      const int64_t target = int64_t(pc) + 1 + in.imm;
      if (target >= 0 && target < int64_t(n) && removed[std::size_t(target)])
        throw InputError(Location{{}, {}, pc}, "the called function's first instruction was removed");
      insn.imm = int32_t(retarget(in.imm));
    }
    out.insns.push_back(insn);
  }
  return out;
}

}  // namespace tristate
