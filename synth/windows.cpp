#include "synth/windows.hpp"

namespace tristate {

bool rewritable(const Decoded& d) {
  if (const auto* l = std::get_if<Load>(&d)) return !l->acquire;
  if (const auto* s = std::get_if<Store>(&d)) return !s->release;
  return std::holds_alternative<Alu>(d) || std::holds_alternative<Endian>(d);
}

std::vector<SearchWindow> choose_windows(const Program& program, std::size_t max_size, const std::set<std::size_t>& pinned,
                                         std::size_t shift) {
  const Cfg cfg = build_cfg(program.image, program.functions);
  const Liveness live = compute_liveness(cfg);
  std::vector<SearchWindow> out;
  const auto emit = [&](std::size_t start, std::size_t end) {
    for (std::size_t s = start; s < end;) {
      const std::size_t e = std::min(end, s + (s == start && shift ? shift : max_size));
      out.push_back({s, e, live.live_in[s], live.live_out[e - 1]});
      s = e;
    }
  };
  for (const BasicBlock& b : cfg.functions.at(0).blocks) {
    std::size_t run = SIZE_MAX;
    for (const DecodedInsn& di : cfg.insns_of(b)) {
      const bool ok = rewritable(di.insn) && !pinned.count(di.pc);
      if (ok && run == SIZE_MAX) run = di.pc;
      if (!ok && run != SIZE_MAX) {
        emit(run, di.pc);
        run = SIZE_MAX;
      }
    }
    if (run != SIZE_MAX) emit(run, b.last + 1);
  }
  return out;
}

}  // namespace tristate
