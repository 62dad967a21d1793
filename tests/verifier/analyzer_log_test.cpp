// The analyzer's register states against the kernel's: every corpus program is verified by the
// running kernel at log_level=2, and every register the kernel printed after an instruction
// (tnum, eight bounds, type, offsets, packet range, map) is looked for among the analyzer's
// states after the same instruction at the same call depth. Ids and precision marks are left
// out of the comparison (they are numbering and bookkeeping, not values). The test reports the
// percentage of compared registers that agree; issue 6 asks for at least 95%.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "analyzer/analyzer.hpp"
#include "compiler/elf_reader.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/corpus.hpp"
#include "tests/support/process.hpp"
#include "verifier/kernel_log.hpp"
#include "verifier/kernel_oracle.hpp"
#include "verifier/kernel_verdict.hpp"

namespace fs = std::filesystem;
using namespace tristate;

namespace {

// A register's text without ids ("id=3," "id=3+4") and without the precision mark.
std::string normalize(std::string t) {
  if (t.size() > 1 && t[0] == 'P' && (std::isalpha(static_cast<unsigned char>(t[1])) || std::isdigit(static_cast<unsigned char>(t[1])) || t[1] == '-'))
    t.erase(0, 1);
  for (std::size_t p; (p = t.find("id=")) != std::string::npos;) {
    if (p > 0 && t[p - 1] != '(' && t[p - 1] != ',') break;  // ref_obj_id and the like stay
    std::size_t e = t.find_first_of(",)", p);
    if (e == std::string::npos) break;
    if (t[e] == ',') ++e;
    t.erase(p, e - p);
  }
  if (t.size() > 2 && t.ends_with(",)")) t.erase(t.size() - 2, 1);
  return t;
}

}  // namespace

TEST_CASE("analyzer register states agree with the kernel's log_level=2 states on the corpus", "[analyzer][kernel][log]") {
  std::string why;
  if (!test::kernel_test_may_run(kernel_bpf_available(&why), why, "the analyzer log comparison")) return;
  const std::vector<fs::path> objects = test::corpus_objects();
  REQUIRE(objects.size() >= 28);

  uint64_t compared = 0, agreed = 0, programs = 0;
  std::map<std::string, uint64_t> misses;  // "kernel text | ours" -> count, for the report
  std::ofstream report("analyzer_log_disagreements.txt");
  for (const fs::path& path : objects) {
    const Module module = read_elf(path.string());
    for (const Program& prog : module.programs) {
      const std::string label = path.filename().string() + ":" + prog.name();
      // Our states after each instruction: [pc][depth * 11 + reg] -> normalised texts.
      std::vector<std::map<std::size_t, std::set<std::string>>> ours(prog.image.size());
      AnalyzeOptions opts;
      opts.after_insn = [&](std::size_t pc, const VerifierState& st) {
        const std::size_t depth = st.frames.size() - 1;
        for (std::size_t i = 0; i < 11; ++i)
          if (st.cur().regs[i].type != RegType::NotInit)
            ours[pc][depth * 11 + i].insert(normalize(format_reg(st.cur().regs[i], module.maps)));
      };
      const AnalysisResult verdict = analyze(module, prog, opts);
      INFO(label << ": " << verdict.reason);
      REQUIRE(verdict.accepted);
      const KernelVerdict kernel = kernel_verify_object(path.string(), prog.name(), kLogLevel2);
      REQUIRE(kernel.accepted);
      ++programs;
      uint64_t here = 0, here_ok = 0;
      for (const LoggedState& s : parse_verifier_log(kernel.log)) {
        if (s.before || s.speculative || s.insn >= ours.size()) continue;
        for (const auto& [reg, text] : s.regs) {
          ++here;
          const std::string k = normalize(text);
          const auto it = ours[s.insn].find(std::size_t(s.frame) * 11 + std::size_t(reg));
          const bool ok = it != ours[s.insn].end() && it->second.count(k);
          if (ok) {
            ++here_ok;
            continue;
          }
          // The analyzer's nearest text: the longest common prefix.
          std::string mine = "(none)";
          if (it != ours[s.insn].end()) {
            std::size_t best = 0;
            for (const std::string& o : it->second) {
              std::size_t n = 0;
              while (n < o.size() && n < k.size() && o[n] == k[n]) ++n;
              if (n >= best) best = n, mine = o;
            }
          }
          if (misses.size() < 100000) ++misses[label + " insn " + std::to_string(s.insn) + " R" + std::to_string(reg) + ": kernel " + k + " | analyzer " + mine];
        }
      }
      compared += here;
      agreed += here_ok;
      report << label << ": " << here_ok << "/" << here << " registers agree\n";
    }
  }
  for (const auto& [m, n] : misses) report << n << "x " << m << "\n";
  const double pct = compared ? 100.0 * double(agreed) / double(compared) : 0;
  std::cout << "analyzer log: compared " << compared << " registers the kernel printed after instructions of " << programs
            << " corpus programs: " << agreed << " agree (" << pct << "%); disagreements in analyzer_log_disagreements.txt\n";
  CHECK(programs >= 28);
  CHECK(pct >= 95.0);
}
