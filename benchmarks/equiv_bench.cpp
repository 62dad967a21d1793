// Query times of the Z3 equivalence checker (issue 5) on the corpus (benchmarks/progs):
//
// - whole programs: each program built for -mcpu=v3 against the same source built for v4 (two
//   different instruction sequences with one meaning), and each v3 program against itself;
// - windows: straight-line windows of 2, 4 and 8 instructions inside the basic blocks of every
//   v3 program, each checked against an equivalent rewrite of one instruction (`r += K` as
//   `r -= -K`, a multiplication by 2^k as a shift, ...) and against a mutant (one immediate's low
//   bit flipped), each query on a fresh checker (no cache), then once more from the cache.
//
//   build/benchmarks/equiv_bench [--max-windows N] [--timeout MS] [--verbose]
//
// Prints one line per whole-program check and, for windows, the median, 90th percentile and
// maximum per kind of query. Run by hand; timings are never test assertions.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "compiler/cfg.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"
#include "compiler/isa.hpp"
#include "verifier/equiv.hpp"

namespace fs = std::filesystem;
using namespace tristate;

namespace {

struct Options {
  std::size_t max_windows = 30;  // per program and window length
  unsigned timeout_ms = 10000;
  bool verbose = false;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, std::size_t(p * double(v.size() - 1) + 0.5))];
}

// An equivalent form of one instruction, if it has one this harness knows.
std::optional<Decoded> rewrite(const Decoded& d) {
  const auto* a = std::get_if<Alu>(&d);
  if (!a || a->src.is_reg) return std::nullopt;
  Alu r = *a;
  const int32_t k = a->src.imm;
  if ((a->op == AluOp::Add || a->op == AluOp::Sub) && k != INT32_MIN) {
    r.op = a->op == AluOp::Add ? AluOp::Sub : AluOp::Add;
    r.src.imm = -k;
    return r;
  }
  if (a->op == AluOp::Mul && k > 0 && (k & (k - 1)) == 0) {
    r.op = AluOp::Lsh;
    r.src.imm = __builtin_ctz(unsigned(k));
    return r;
  }
  if (a->op == AluOp::And && k == -1) {
    r.op = AluOp::Or;
    r.src.imm = 0;
    return a->is64 ? std::optional<Decoded>(r) : std::nullopt;
  }
  if ((a->op == AluOp::Lsh || a->op == AluOp::Rsh || a->op == AluOp::Arsh) && k == 0) {
    r.op = AluOp::Add;
    return r;
  }
  return std::nullopt;
}

// The same instruction with one immediate's (or offset's) low bit flipped.
std::optional<Decoded> mutate(const Decoded& d) {
  if (const auto* a = std::get_if<Alu>(&d); a && !a->src.is_reg && a->op != AluOp::Neg) {
    Alu m = *a;
    m.src.imm ^= 1;
    if ((m.op == AluOp::Div || m.op == AluOp::Mod || m.op == AluOp::SDiv || m.op == AluOp::SMod) && m.src.imm == 0) return std::nullopt;
    if ((m.op == AluOp::Lsh || m.op == AluOp::Rsh || m.op == AluOp::Arsh) && uint32_t(m.src.imm) >= (m.is64 ? 64u : 32u)) return std::nullopt;
    return m;
  }
  if (const auto* s = std::get_if<Store>(&d); s && !s->src.is_reg) {
    Store m = *s;
    m.src.imm ^= 1;
    return m;
  }
  return std::nullopt;
}

Module with_insn(const Module& module, std::size_t prog, std::size_t pc, const Decoded& d) {
  Module m = module;
  const Encoded e = encode(d);
  m.programs[prog].image[pc] = e.insn[0];
  return m;
}

struct Sample {
  std::string kind;
  double ms;
  VerdictKind verdict;
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--max-windows") && i + 1 < argc) opt.max_windows = std::stoul(argv[++i]);
    else if (!std::strcmp(argv[i], "--timeout") && i + 1 < argc) opt.timeout_ms = unsigned(std::stoul(argv[++i]));
    else if (!std::strcmp(argv[i], "--verbose")) opt.verbose = true;
    else {
      std::fprintf(stderr, "usage: equiv_bench [--max-windows N] [--timeout MS] [--verbose]\n");
      return 2;
    }
  }
  CheckOptions check;
  check.timeout_ms = opt.timeout_ms;
  const fs::path dir = TRISTATE_PROGS_DIR;
  std::vector<fs::path> objects;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().string().ends_with(".v3.o")) objects.push_back(e.path());
  std::sort(objects.begin(), objects.end());

  std::printf("== whole programs (v3 object against v4 object, and v3 against itself)\n");
  std::vector<double> whole_ms;
  for (const fs::path& v3 : objects) {
    const fs::path v4 = fs::path(v3.string().substr(0, v3.string().size() - 5) + ".v4.o");
    const Module a = read_elf(v3.string()), b = read_elf(v4.string());
    for (const Program& p : a.programs) {
      const Program* q = b.find_program(p.name());
      if (!q) continue;
      for (const bool self : {false, true}) {
        EquivalenceChecker checker(check);
        const Verdict v = self ? checker.programs(a, p, a, p) : checker.programs(a, p, b, *q);
        std::printf("  %-34s %-10s %-15s %9.1f ms  %s\n", (v3.stem().stem().string() + "/" + p.name()).c_str(),
                    self ? "v3 vs v3" : "v3 vs v4", verdict_name(v.kind), v.ms, v.reason.c_str());
        if (v.kind != VerdictKind::Unknown) whole_ms.push_back(v.ms);
      }
    }
  }
  std::printf("  decided checks: %zu, median %.1f ms, max %.1f ms\n", whole_ms.size(), percentile(whole_ms, 0.5),
              whole_ms.empty() ? 0.0 : *std::max_element(whole_ms.begin(), whole_ms.end()));

  std::printf("== windows (straight-line, inside basic blocks of the v3 programs)\n");
  std::vector<Sample> samples;
  std::size_t unknown = 0;
  for (const fs::path& v3 : objects) {
    const Module a = read_elf(v3.string());
    for (std::size_t pi = 0; pi < a.programs.size(); ++pi) {
      const Program& p = a.programs[pi];
      const Cfg cfg = build_cfg(p);
      for (const std::size_t len : {2u, 4u, 8u}) {
        // Candidate windows: `len` instructions of one block, none a jump, exit or call.
        std::vector<std::pair<std::size_t, std::size_t>> windows;  // (first insn index, end slot)
        for (const FunctionCfg& f : cfg.functions)
          for (const BasicBlock& b : f.blocks)
            for (std::size_t i = b.first_insn; i + len <= b.end_insn; ++i) {
              bool ok = true;
              for (std::size_t k = i; k < i + len && ok; ++k) {
                const Decoded& d = cfg.insns[k].insn;
                ok = !std::holds_alternative<Jmp>(d) && !std::holds_alternative<Ja>(d) && !std::holds_alternative<Exit>(d) &&
                     !std::holds_alternative<MayGoto>(d) && !std::holds_alternative<Call>(d) &&
                     !std::holds_alternative<PacketLoad>(d);
              }
              if (ok && i + len < cfg.insns.size()) windows.push_back({i, cfg.insns[i + len].pc});
            }
        const std::size_t step = std::max<std::size_t>(1, windows.size() / opt.max_windows);
        for (std::size_t w = 0; w < windows.size(); w += step) {
          const auto [first, end] = windows[w];
          const Window win{cfg.insns[first].pc, end};
          for (const char* kind : {"rewrite", "mutant"}) {
            std::optional<Module> b;
            for (std::size_t k = first; k < first + len && !b; ++k) {
              const auto changed = std::strcmp(kind, "rewrite") == 0 ? rewrite(cfg.insns[k].insn) : mutate(cfg.insns[k].insn);
              if (changed) b = with_insn(a, pi, cfg.insns[k].pc, *changed);
            }
            if (!b) continue;
            EquivalenceChecker checker(check);
            const Verdict v = checker.windows(a, p, win, *b, b->programs[pi], win);
            const Verdict again = checker.windows(a, p, win, *b, b->programs[pi], win);
            if (opt.verbose)
              std::printf("  %s/%s [%zu,%zu) %s: %s %.2f ms (solver %.2f ms, cached %.3f ms) %s\n", v3.stem().stem().c_str(),
                          p.name().c_str(), win.start, win.end, kind, verdict_name(v.kind), v.ms, v.solver_ms, again.ms,
                          v.reason.c_str());
            if (v.kind == VerdictKind::Unknown) ++unknown;
            samples.push_back({std::string(kind) + "/" + std::to_string(len), v.ms, v.kind});
            samples.push_back({"cache hit", again.ms, again.kind});
          }
        }
      }
    }
  }
  std::map<std::string, std::vector<double>> by_kind;
  std::vector<double> all;
  std::map<std::string, std::map<VerdictKind, int>> verdicts;
  for (const Sample& s : samples) {
    by_kind[s.kind].push_back(s.ms);
    verdicts[s.kind][s.verdict]++;
    if (s.kind != "cache hit") all.push_back(s.ms);
  }
  std::printf("  %-12s %7s %10s %10s %10s   verdicts (equivalent / not / unknown)\n", "query", "count", "median", "p90", "max");
  for (const auto& [kind, v] : by_kind)
    std::printf("  %-12s %7zu %8.2f ms %7.2f ms %7.2f ms   %d / %d / %d\n", kind.c_str(), v.size(), percentile(v, 0.5),
                percentile(v, 0.9), *std::max_element(v.begin(), v.end()), verdicts[kind][VerdictKind::Equivalent],
                verdicts[kind][VerdictKind::NotEquivalent], verdicts[kind][VerdictKind::Unknown]);
  std::printf("  all window queries (no cache): %zu, median %.2f ms, p90 %.2f ms, unknown %zu\n", all.size(),
              percentile(all, 0.5), percentile(all, 0.9), unknown);
  return 0;
}
