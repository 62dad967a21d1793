#include "synth/optimize.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "analyzer/analyzer.hpp"
#include "compiler/elf.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/elf_writer.hpp"
#include "compiler/error.hpp"
#include "compiler/frontend.hpp"
#include "compiler/packet_gen.hpp"
#include "compiler/rewrite.hpp"
#include "synth/tails.hpp"
#include "verifier/kernel_object.hpp"
#include "verifier/shared_code.hpp"
#include "verifier/kernel_oracle.hpp"

namespace tristate {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A directory of our own under the system's temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "tristate-opt-XXXXXX").string();
    if (!mkdtemp(templ.data())) throw InternalError("cannot create a temporary directory");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_bytes(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!out) throw InternalError("cannot write " + p.string());
}

// The edit that makes the program's entry function `image` (its image form, with kNop in the
// slots to remove; `removed` flags them) out of `program`'s.
FunctionEdit entry_edit(const Program& program, const std::vector<Insn>& image, const std::vector<bool>& removed) {
  const Function& f = program.entry;
  std::vector<Insn> file = f.insns;
  for (std::size_t i = 0; i < file.size(); ++i)
    if (!(image[i] == program.image[i])) file[i] = image[i];
  SlotRemoval r = remove_slots(file, std::vector<bool>(removed.begin(), removed.begin() + std::ptrdiff_t(file.size())), false);
  return FunctionEdit{f.section, f.section_offset, f.insns.size(), std::move(r.insns), std::move(r.old_to_new)};
}

FunctionEdit entry_edit(const Program& program, const ProgramSearch& s) { return entry_edit(program, s.image, s.removed); }

// `second` applied after `first` (both edits of the same function, `second` of what `first` made).
FunctionEdit compose(const FunctionEdit& first, const FunctionEdit& second) {
  FunctionEdit out = second;
  out.old_size = first.old_size;
  out.old_to_new.assign(first.old_size, -1);
  for (std::size_t i = 0; i < first.old_size; ++i)
    if (first.old_to_new[i] >= 0) out.old_to_new[i] = second.old_to_new[std::size_t(first.old_to_new[i])];
  return out;
}

// One program after its repeated tails are merged: the object with only this edit, and the edit.
struct Merged {
  std::vector<uint8_t> bytes;
  Module module;
  std::optional<FunctionEdit> edit;  // of the input's entry function; nothing when no merge held
  std::size_t merges = 0;
};

// Merges the repeated tails of program `index` of `module` (read from `input`), best first. Each
// merge is kept only when it is proved and the analyzer accepts the result: the program with the
// copy's slots in place (no-ops and a jump) is checked against the program before it by
// simulation (verifier/shared_code.hpp); the writer then drops the copy, which nothing reaches
// any more. Equivalence is transitive, so the last is equivalent to the input.
Merged merge_tails(const std::vector<uint8_t>& input, const std::string& path, const Module& module, std::size_t index,
                   const OptimizeOptions& options) {
  Merged out{input, module, std::nullopt, 0};
  std::set<std::pair<std::size_t, std::size_t>> refused;  // (kept, copy), in the current program's slots
  const bool debug = std::getenv("TRISTATE_DEBUG_SEARCH") != nullptr;
  for (unsigned tries = 0; tries < options.tail_merges; ++tries) {
    const Program& p = out.module.programs[index];
    const std::optional<TailMerge> m = best_tail_merge(p, p.image, refused);
    if (!m) break;
    refused.insert({m->kept, m->copy});
    const std::optional<std::vector<Insn>> image = apply_tail_merge(p, p.image, *m);
    if (!image) continue;
    Module padded = out.module;
    padded.programs[index].image = *image;
    std::string verdict;
    try {
      if (const auto why = check_shared_code(p, padded.programs[index], SharedCode{m->kept, m->copy, m->length})) {
        verdict = "not a simulation: " + *why;
      } else {
        std::vector<bool> removed(image->size());
        for (std::size_t s = 0; s < image->size(); ++s) removed[s] = (*image)[s] == kNop;
        const FunctionEdit step = entry_edit(p, *image, removed);
        std::vector<uint8_t> bytes = rewrite_elf(out.bytes, path, {step});
        Module next = read_elf_memory(bytes, path);
        const Program& q = next.programs.at(index);
        const AnalysisResult ar = analyze(next, q);
        verdict = ar.accepted ? "proved" : "analyzer refuses: " + ar.reason;
        if (ar.accepted) {
          // The edit of the input's function: the earlier merges' and this one's, composed.
          out.edit = out.edit ? compose(*out.edit, step) : step;
          out.bytes = std::move(bytes);
          out.module = std::move(next);
          ++out.merges;
          refused.clear();  // slots moved
        }
      }
    } catch (const std::exception& e) {
      verdict = std::string("error: ") + e.what();
    }
    if (debug)
      std::fprintf(stderr, "tail merge of [%zu,%zu) into %zu (%zu slots saved): %s\n", m->copy, m->copy + m->length, m->kept,
                   m->saved(), verdict.c_str());
  }
  return out;
}

const Program* program_named(const Module& m, const std::string& name) {
  for (const Program& p : m.programs)
    if (p.name() == name) return &p;
  return nullptr;
}

// Whether the program calls a helper whose result changes from run to run (the clocks, the
// random generator): then two objects' map contents may differ by when and not by what they ran.
bool nondeterministic(const Program& p) {
  static constexpr int32_t kHelpers[] = {5 /* ktime_get_ns */, 7 /* get_prandom_u32 */, 118 /* jiffies64 */,
                                         125 /* ktime_get_boot_ns */, 160 /* ktime_get_coarse_ns */,
                                         208 /* ktime_get_tai_ns */};
  for (const DecodedInsn& d : decode_program(p.image))
    if (const auto* c = std::get_if<Call>(&d.insn); c && c->kind == CallKind::Helper)
      for (int32_t h : kHelpers)
        if (c->imm == h) return true;
  return false;
}

// The kernel gate for one program: the output object loads, and the program gives the same
// results as the input's on `packets`, run alternately on both objects from reset maps. A packet
// the kernel refuses for the input (EINVAL for a frame the test run does not take) must be
// refused for the output too.
std::string kernel_gate(KernelObject& original, const fs::path& candidate_path, const Program& program,
                        const std::vector<std::vector<uint8_t>>& packets, std::size_t& compared) {
  KernelObject candidate = [&] {
    try {
      return KernelObject::load(candidate_path.string());
    } catch (const InputError& e) {
      throw std::runtime_error(std::string("the kernel refuses the output: ") + e.what());
    }
  }();
  const std::string& name = program.name();
  if (!candidate.can_test_run(name)) return "passed (loaded; this program type has no test run)";
  original.reset();
  candidate.reset();
  compared = 0;
  std::size_t refused = 0;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    std::optional<KernelRun> a, b;
    std::string why_a, why_b;
    try {
      a = original.run(name, packets[i]);
    } catch (const InputError& e) {
      why_a = e.reason();
    }
    try {
      b = candidate.run(name, packets[i]);
    } catch (const InputError& e) {
      why_b = e.reason();
    }
    const std::string at = "packet " + std::to_string(i + 1) + ": ";
    if (a.has_value() != b.has_value())
      return "failed: " + at + "the kernel ran only " + (a ? "the input" : "the output") + " (" + why_a + why_b + ")";
    if (!a) {
      ++refused;
      continue;
    }
    ++compared;
    if (a->retval != b->retval)
      return "failed: " + at + "return value " + std::to_string(a->retval) + " vs " + std::to_string(b->retval);
    if (a->packet_out != b->packet_out) return "failed: " + at + "output packets differ";
  }
  std::string note = refused ? " (" + std::to_string(refused) + " packets the kernel refuses for both)" : "";
  if (nondeterministic(program)) return "passed" + note + "; maps not compared: the program reads the clock or random numbers";
  if (original.dump() != candidate.dump()) return "failed: map contents differ after the packets";
  return "passed" + note;
}

// A whole-program check; a checker error never lets a program through.
Verdict prove(EquivalenceChecker& checker, const Module& a, const Program& pa, const Module& b, const Program& pb) {
  try {
    return checker.programs(a, pa, b, pb);
  } catch (const std::exception& e) {
    Verdict v;
    v.reason = std::string("checker error: ") + e.what();
    return v;
  }
}

struct StepProof {
  Program program;        // the input with the proved rewrites written in (no-ops still in place)
  std::size_t kept = 0;   // rewrites proved
  uint64_t queries = 0;
};

// The search's rewrites one at a time: each proved equivalent, as a whole program, to the
// program before it (so the last is equivalent to the input); a rewrite that is not is left out,
// and the ones after it are checked against the program without it.
StepProof prove_steps(const Module& module, std::size_t program, const ProgramSearch& search, const OptimizeOptions& options) {
  const auto started = Clock::now();
  EquivalenceChecker step(CheckOptions{options.proof_timeout_ms, 64, true, false, options.step_rlimit});
  StepProof out{module.programs[program], 0, 0};
  Module before = module;
  for (const WindowRewrite& r : search.rewrites) {
    if (std::chrono::duration<double>(Clock::now() - started).count() > options.steps_timeout_s) break;
    Module after = before;
    std::vector<Insn>& image = after.programs[program].image;
    // A later pass may rewrite a window an earlier one changed; it applies only to what it saw.
    if (!std::equal(r.before.begin(), r.before.end(), image.begin() + std::ptrdiff_t(r.start))) continue;
    std::copy(r.after.begin(), r.after.end(), image.begin() + std::ptrdiff_t(r.start));
    const Verdict v = prove(step, before, before.programs[program], after, after.programs[program]);
    ++out.queries;
    if (std::getenv("TRISTATE_DEBUG_SEARCH"))
      std::fprintf(stderr, "step proof of the rewrite at %zu: %s %s (%.0f ms)\n", r.start, verdict_name(v.kind), v.reason.c_str(), v.ms);
    if (v.kind != VerdictKind::Equivalent) continue;
    before = std::move(after);
    ++out.kept;
  }
  out.program = before.programs[program];
  return out;
}

}  // namespace

OptimizeResult optimize_object(const std::string& path, const OptimizeOptions& options,
                               const std::function<void(const SearchProgress&)>& progress) {
  const auto started = Clock::now();
  if (!is_elf_file(path))
    throw InputError(Location{path, {}, {}}, "`tristate opt` takes an ELF object (compile C with `tristate compile FILE.c -O`)");
  const std::vector<uint8_t> input = read_file_bytes(path);
  const Module module = read_elf_memory(input, path);
  OptimizeResult out;
  out.bytes = input;

  std::optional<FunctionalSuite> suite;
  std::string tests = options.tests_path;
  if (tests.empty()) tests = find_functional_tests(path, options.tests_dirs).value_or("");
  if (!tests.empty()) {
    suite = load_functional_suite(tests);
    out.tests = tests;
  }

  unsigned cpu = 1;
  for (const Program& p : module.programs) cpu = std::max(cpu, image_cpu_version(p.image));
  out.cpu = options.mcpu.value_or(cpu);

  std::vector<std::size_t> chosen;
  std::size_t total_slots = 0;
  for (std::size_t i = 0; i < module.programs.size(); ++i)
    if (options.program.empty() || module.programs[i].name() == options.program) {
      chosen.push_back(i);
      total_slots += module.programs[i].image.size();
    }
  if (chosen.empty()) throw InputError(Location{path, options.program, {}}, "no such program in the object");

  EquivalenceChecker checker(CheckOptions{options.window_timeout_ms, 64, true, false, options.window_rlimit});
  std::vector<Merged> merged;  // per chosen program: what the search starts from
  for (std::size_t i : chosen) {
    const Program& input_program = module.programs[i];
    SearchOptions so = options.search;
    so.cpu = out.cpu;
    so.budget_s = options.search.budget_s * double(input_program.image.size()) / double(std::max<std::size_t>(1, total_slots));
    ProgramReport rep;
    rep.insns_before = rep.insns_after = input_program.image.size();
    // Merging needs a program the analyzer accepts (the search says why not when it does not);
    // its proof needs no solver, so programs the checker cannot model are merged too.
    const bool mergeable = options.tail_merges > 0 && analyze(module, input_program).accepted;
    const auto merge_started = Clock::now();
    merged.push_back(mergeable ? merge_tails(input, path, module, i, options) : Merged{input, module, std::nullopt, 0});
    const double merge_s = std::chrono::duration<double>(Clock::now() - merge_started).count();
    const Module& base = merged.back().module;
    rep.tail_merges = merged.back().merges;
    const TestSuite ts = make_test_suite(base, i, path, suite ? &*suite : nullptr, TestSuiteOptions{48, 16, so.seed});
    rep.search = search_program(base, i, ts, checker, so, {}, progress);
    rep.search.cost_before = image_cost(input_program.image, options.search.cost);
    // The clock of the whole program: its merges, then its search.
    if (rep.tail_merges) rep.search.time_to_best_s += merge_s;
    rep.search.total_s += merge_s;
    if (!rep.search.skipped.empty() && rep.tail_merges == 0) rep.reason = rep.search.skipped;
    else if (rep.search.windows_improved == 0 && rep.tail_merges == 0) rep.reason = "no shorter program found";
    out.programs.push_back(std::move(rep));
  }

  // Gates, program by program, on the object as it would be written.
  out.kernel_available = kernel_bpf_available(&out.kernel_why);
  std::vector<FunctionEdit> kept;
  std::optional<TempDir> tmp;
  std::optional<KernelObject> original;
  std::vector<std::vector<uint8_t>> packets;
  EquivalenceChecker whole(CheckOptions{options.proof_timeout_ms, 64, true, false});
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    ProgramReport& rep = out.programs[k];
    // The search's program: the input with its tails merged (proved), or the input itself.
    const Merged& base = merged[k];
    const Program& p = base.module.programs[chosen[k]];
    if (!rep.reason.empty()) continue;
    std::vector<FunctionEdit> edits;
    std::vector<uint8_t> bytes;
    const Program* q = nullptr;
    Module written;
    // The object with this program as the search left it (no-ops removed); false when the
    // writer cannot make it.
    const auto write = [&] {
      edits = kept;
      try {
        const FunctionEdit search_edit = entry_edit(p, rep.search);
        edits.push_back(base.edit ? compose(*base.edit, search_edit) : search_edit);
        bytes = rewrite_elf(input, path, edits);
        written = read_elf_memory(bytes, path);
        q = program_named(written, p.name());
        if (!q) throw InputError(Location{path, p.name(), {}}, "the program is missing from the written object");
      } catch (const InputError& e) {
        rep.reason = std::string("the writer cannot rewrite it: ") + e.what();
        return false;
      }
      return true;
    };
    if (!write()) continue;
    Verdict v;
    std::string how = "passed";
    if (rep.search.rewrites.size() <= 1 && rep.tail_merges == 0) {
      v = prove(whole, base.module, p, written, *q);
      rep.search.z3_queries += v.cached ? 0 : 1;
    } else {
      // All rewrites at once are often too much for the solver where each alone is quick: each on
      // its own, in order, then the removal of the no-ops they leave.
      const StepProof steps = prove_steps(base.module, chosen[k], rep.search, options);
      rep.search.z3_queries += steps.queries;
      // With tail merges, the merged program stands even when no window rewrite is proved.
      if (steps.kept > 0 || rep.tail_merges > 0) {
        rep.search.image = steps.program.image;
        for (std::size_t i = 0; i < rep.search.image.size(); ++i) rep.search.removed[i] = rep.search.image[i] == kNop;
        rep.search.cost_after = image_cost(rep.search.image, options.search.cost);
        if (!write()) continue;
        Module padded = base.module;
        padded.programs[chosen[k]] = steps.program;
        v = prove(whole, padded, steps.program, written, *q);
        ++rep.search.z3_queries;
        if (!rep.search.rewrites.empty())
          how = "passed (" + std::to_string(steps.kept) + " of " + std::to_string(rep.search.rewrites.size()) +
                " window rewrites proved one by one; " + std::to_string(rep.search.rewrites.size() - steps.kept) + " dropped)";
        else
          how = "passed (no window rewrite: the output is the merged program)";
      }
    }
    if (v.kind != VerdictKind::Equivalent) {
      rep.gates.z3 = std::string("failed: ") + verdict_name(v.kind) + (v.reason.empty() ? "" : " (" + v.reason + ")");
      rep.reason = "whole-program equivalence not proved: " + rep.gates.z3;
      continue;
    }
    if (rep.tail_merges)
      how += " after " + std::to_string(rep.tail_merges) + " tail merge" + (rep.tail_merges == 1 ? "" : "s") +
             " proved by simulation";
    rep.gates.z3 = how;
    const AnalysisResult ar = analyze(written, *q);
    if (!ar.accepted) {
      rep.gates.analyzer = "failed: insn " + std::to_string(ar.insn) + ": " + ar.reason;
      rep.reason = "the analyzer refuses the output: " + rep.gates.analyzer;
      continue;
    }
    rep.gates.analyzer = "passed";
    if (out.kernel_available) {
      try {
        if (!tmp) {
          tmp.emplace();
          original.emplace(KernelObject::load(path));
          for (auto& pk : generate_packets(options.kernel_packets + 64, options.search.seed))
            if (pk.size() >= 14 && packets.size() < options.kernel_packets) packets.push_back(std::move(pk));
        }
        const fs::path cand = tmp->path() / fs::path(path).filename();
        write_bytes(cand, bytes);
        rep.gates.kernel = kernel_gate(*original, cand, p, packets, rep.kernel_packets);
      } catch (const std::exception& e) {
        rep.gates.kernel = std::string("failed: ") + e.what();
      }
      if (rep.gates.kernel.rfind("passed", 0) != 0) {
        rep.reason = "kernel gate: " + rep.gates.kernel;
        continue;
      }
    } else {
      rep.gates.kernel = "unavailable: " + out.kernel_why;
    }
    kept.push_back(edits.back());
    rep.kept = true;
    rep.insns_after = q->image.size();
  }
  if (!kept.empty()) out.bytes = rewrite_elf(input, path, kept);
  out.total_s = std::chrono::duration<double>(Clock::now() - started).count();
  return out;
}

}  // namespace tristate
