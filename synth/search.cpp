#include "synth/search.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "analyzer/analyzer.hpp"
#include "analyzer/facts.hpp"
#include "compiler/disasm.hpp"
#include "compiler/rewrite.hpp"
#include "synth/evaluator.hpp"
#include "synth/windows.hpp"

namespace tristate {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Cost units per instruction of performance against one bit of error on the tests.
constexpr double kPerfWeight = 4.0;

struct ChainResult {
  std::vector<Insn> best;
  double best_perf = 0;
  double found_at = -1;  // seconds after the program's search started; -1: no improvement
  std::array<MoveCounts, kMoveKinds> moves{};
  uint64_t proposals = 0, z3_queries = 0, cache_hits = 0, analyzer_rejects = 0, counterexamples = 0, proof_errors = 0;
  uint64_t proofs_tried = 0, analyzer_work = 0, effort = 0;
  std::size_t cases = 0;  // test cases reaching the window
};

// What one analyzer run counts for, per instruction it processed (about the time the
// interpreter takes for 60 instructions), and at least per instruction of the program.
constexpr uint64_t kAnalyzerEffortPerProcessed = 60;
constexpr uint64_t kAnalyzerEffortPerInsn = 1000;

uint64_t analyzer_effort(uint64_t processed, std::size_t insns) {
  return std::max<uint64_t>(processed * kAnalyzerEffortPerProcessed, insns * kAnalyzerEffortPerInsn);
}

// What one proof attempt counts for against the effort budget, in Evaluator::work units.
constexpr uint64_t kProofEffort = 2'000'000;

// A proof's verdict, or Unknown when the checker stops on an error of its own: a counterexample
// its replay does not confirm (the encoding stricter than the interpreter), an input the
// interpreter refuses. Neither may let a candidate through, and neither may stop the search.
template <class Check>
Verdict guarded(Check check, ChainResult& res) {
  try {
    return check();
  } catch (const std::exception& e) {
    ++res.proof_errors;
    Verdict v;
    v.reason = std::string("checker error: ") + e.what();
    return v;
  }
}

std::string show(const Insn& insn) {
  const DecodeResult d = decode(std::span<const Insn>(&insn, 1), 0);
  return d.ok() ? format_insn(d.decoded()) : "?";
}

double window_cost(const std::vector<Insn>& w, CostModel model) {
  double c = 0;
  for (const Insn& i : w) c += insn_cost(i, model);
  return c;
}

struct WindowJob {
  const Module& current;
  std::size_t program;
  const SearchWindow& window;
  const TestSuite& tests;
  EquivalenceChecker& checker;
  const SearchOptions& options;
  const std::vector<int32_t>& constants;
  Clock::time_point started, deadline;
  std::atomic<int>& proofs_left;
  EquivalenceChecker* context_checker;  // null: no proofs in context
  std::atomic<int>& context_left;
  uint64_t effort;  // this chain's share: it stops when its work passes this
  const WindowContext& context;  // the analyzer's facts at the window's entry, the stack read after it
};

ChainResult run_chain(const WindowJob& job, uint64_t seed) {
  const SearchWindow& w = job.window;
  const SearchOptions& o = job.options;
  Evaluator ev(job.current, job.program, job.tests);
  ev.set_window(w.start, w.end, w.live_out, job.context.live_stack_after.value_or(StackBytes{}.set()));
  const std::vector<Insn>& image = job.current.programs[job.program].image;
  std::vector<Insn> cur(image.begin() + std::ptrdiff_t(w.start), image.begin() + std::ptrdiff_t(w.end));
  Proposer proposer(cur, w.live_in, w.live_out, job.constants, o.cpu);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  ChainResult res;
  res.best = cur;
  res.best_perf = window_cost(cur, o.cost);
  double cur_cost = kPerfWeight * res.best_perf;
  const auto effort = [&] { return ev.work() + res.proofs_tried * kProofEffort + res.analyzer_work; };
  for (uint64_t it = 0; it < o.proposals && effort() < job.effort; ++it) {
    if (it % 128 == 0 && Clock::now() > job.deadline) break;
    ++res.proposals;
    const MoveInfo move = it == 0 ? proposer.apply_rules(cur) : proposer.propose(cur, rng);
    if (move.changed.empty()) continue;
    bool valid = true;
    for (std::size_t i : move.changed)
      if (ev.write(w.start + i, cur[i])) valid = false;
    const auto put_back = [&] {
      Proposer::undo(cur, move);
      for (std::size_t i : move.changed) ev.write(w.start + i, cur[i]);
    };
    if (!valid) {
      put_back();
      continue;
    }
    ++proposer.counts[std::size_t(move.kind)].valid;
    const double perf = window_cost(cur, o.cost);
    // Metropolis: accept when the new cost is below cur_cost + ln(1/u) / beta; the error may
    // use what is left of that threshold after performance.
    const double threshold = cur_cost - std::log(1.0 - unit(rng)) / o.beta;
    const double room = threshold - kPerfWeight * perf;
    if (room < 0) {
      put_back();
      continue;
    }
    const uint64_t err = ev.error(uint64_t(room));
    if (double(err) > room) {
      put_back();
      continue;
    }
    ++proposer.counts[std::size_t(move.kind)].accepted;
    cur_cost = double(err) + kPerfWeight * perf;
    if (err != 0 || perf >= res.best_perf) continue;
    if (job.proofs_left.fetch_sub(1) <= 0) continue;
    ++res.proofs_tried;
    // A candidate that passes every test and beats the best: the analyzer, then Z3.
    Module cand = job.current;
    cand.programs[job.program].image = ev.image();
    const AnalysisResult verdict = analyze(cand, cand.programs[job.program]);
    // The analysis is deterministic, and so is its count of processed instructions.
    res.analyzer_work += analyzer_effort(verdict.processed, cand.programs[job.program].image.size());
    if (!verdict.accepted) {
      ++res.analyzer_rejects;
      continue;
    }
    const Program& src = job.current.programs[job.program];
    const Verdict v = guarded([&] {
      return job.checker.windows(job.current, src, Window{w.start, w.end}, cand, cand.programs[job.program], Window{w.start, w.end},
                                 job.context);
    }, res);
    if (v.cached) ++res.cache_hits;
    else ++res.z3_queries;
    if (std::getenv("TRISTATE_DEBUG_SEARCH"))
    {
      std::fprintf(stderr, "window [%zu,%zu) window proof: %s %s (%.0f ms)\n", w.start, w.end, verdict_name(v.kind), v.reason.c_str(), v.ms);
      if (v.counterexample) std::fprintf(stderr, "  difference: %s\n", v.counterexample->difference.c_str());
      for (std::size_t i = 0; i < cur.size(); ++i)
        std::fprintf(stderr, "    %-40s | %s\n", show(image[w.start + i]).c_str(), show(cur[i]).c_str());
    }
    Verdict in_context;
    if (v.kind != VerdictKind::Equivalent && job.context_checker && job.context_left.fetch_sub(1) > 0 &&
        Clock::now() < job.deadline) {
      // The window alone is not equivalent from every entry state; in its program it may be
      // (facts the code before establishes, registers and stack bytes nothing reads later).
      in_context = guarded([&] { return job.context_checker->programs(job.current, src, cand, cand.programs[job.program]); }, res);
      if (std::getenv("TRISTATE_DEBUG_SEARCH"))
        std::fprintf(stderr, "  in context: %s %s (%.0f ms)\n", verdict_name(in_context.kind), in_context.reason.c_str(), in_context.ms);
      if (in_context.cached) ++res.cache_hits;
      else ++res.z3_queries;
      if (in_context.kind == VerdictKind::NotEquivalent && in_context.counterexample && in_context.counterexample->replayed) {
        // The counterexample becomes a test case of this chain.
        const CheckInput input = in_context.counterexample->input;
        TestCase t{input.packet, input.ctx, -1, input.env};
        ev.add_case(std::move(t), [input](MapSet& maps) {
          for (std::size_t m = 0; m < input.maps.size() && m < maps.size(); ++m)
            if (!input.maps[m].entries.empty()) maps[m].seed(input.maps[m]);
        });
        ++res.counterexamples;
      }
    }
    if (v.kind == VerdictKind::Equivalent || in_context.kind == VerdictKind::Equivalent) {
      res.best = cur;
      res.best_perf = perf;
      res.found_at = seconds_since(job.started);
    } else if (v.kind == VerdictKind::NotEquivalent && in_context.kind == VerdictKind::Unknown) {
      ++res.counterexamples;
    }
  }
  res.moves = proposer.counts;
  res.effort = effort();
  res.cases = ev.reaching_cases();
  return res;
}

}  // namespace

unsigned insn_cost(const Insn& insn, CostModel model) {
  if (insn == kNop) return 0;
  if (model == CostModel::Insns) return 1;
  const uint8_t cls = bpf::class_of(insn.opcode), op = bpf::op_of(insn.opcode);
  switch (cls) {
    case bpf::ALU:
    case bpf::ALU64:
      if (op == bpf::MUL) return 3;
      if (op == bpf::DIV || op == bpf::MOD) return 20;
      return 1;
    case bpf::LDX: return 2;
    case bpf::JMP:
    case bpf::JMP32: return op == bpf::CALL ? 10 : 1;
    default: return 1;
  }
}

double image_cost(const std::vector<Insn>& image, CostModel model) {
  double c = 0;
  for (std::size_t i = 0; i < image.size(); ++i) {
    c += insn_cost(image[i], model);
    if (image[i].opcode == (bpf::LD | bpf::IMM | bpf::DW)) ++i;
  }
  return c;
}

unsigned image_cpu_version(const std::vector<Insn>& image) {
  unsigned v = 1;
  for (const DecodedInsn& d : decode_program(image)) v = std::max(v, min_cpu_version(d.insn));
  return v;
}

ProgramSearch search_program(const Module& module, std::size_t program, const TestSuite& tests, EquivalenceChecker& checker,
                             const SearchOptions& options, const std::set<std::size_t>& pinned,
                             const std::function<void(const SearchProgress&)>& progress) {
  const Clock::time_point started = Clock::now();
  // The wall clock is only a safety net (a machine far slower than the effort model assumes).
  const auto deadline =
      started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.budget_s * options.wall_clock_factor));
  const Program& input = module.programs.at(program);
  ProgramSearch out;
  out.program = input.name();
  out.image = input.image;
  out.removed.assign(input.image.size(), false);
  out.cost_before = out.cost_after = image_cost(input.image, options.cost);
  const AnalysisResult accepted = analyze(module, input);
  if (!accepted.accepted) {
    out.skipped = "the analyzer does not accept the input (insn " + std::to_string(accepted.insn) + ": " + accepted.reason + ")";
    return out;
  }
  // A program the equivalence checker cannot encode (a helper it does not model, say) can never
  // have a rewrite proved: say so instead of searching.
  if (const auto obstacle = encoding_obstacle(module, input)) {
    out.skipped = "the equivalence checker cannot prove anything about it: " + *obstacle;
    out.total_s = seconds_since(started);
    return out;
  }
  const std::vector<SearchWindow> first_windows = choose_windows(input, options.max_window, pinned);
  out.windows = first_windows.size();
  std::vector<int32_t> constants;
  for (const Insn& i : input.image) constants.push_back(i.imm);
  std::sort(constants.begin(), constants.end());
  constants.erase(std::unique(constants.begin(), constants.end()), constants.end());

  // How much each window gets, fixed in advance from the budget (not from measured time, so the
  // same seed gives the same search on any machine): the budget's share of proposals at an
  // assumed rate, and one proof in context per context_seconds of budget.
  // The budget as work (Evaluator::work units plus kProofEffort per proof): the same seed then
  // stops at the same place on any machine. Each window gets at most a quarter pass's share, so
  // every window is searched before any is searched twice; passes go on until the work is spent.
  const uint64_t effort_budget = uint64_t(options.budget_s * double(options.effort_per_second));
  const uint64_t window_share = std::max<uint64_t>(
      1, effort_budget / (std::max<std::size_t>(1, first_windows.size()) * std::max(1u, options.passes)));
  uint64_t effort_spent = 0;
  uint64_t context_budget = uint64_t(options.budget_s / options.context_seconds);
  Module current = module;
  uint64_t proofs = 0;
  EquivalenceChecker context_checker(CheckOptions{options.context_timeout_ms, 64, true, false, options.context_rlimit});
  // The analyzer's facts about the program as it stands: again whenever a window changes it.
  ProgramFacts facts = program_facts(current, current.programs[program]);
  effort_spent += analyzer_effort(facts.processed, input.image.size());
  for (unsigned pass = 0; pass < options.max_passes && !out.budget_exhausted && effort_spent < effort_budget; ++pass) {
  // Later passes start again from the program as it stands, with other seeds, and every other
  // one with windows shifted by half a window, so code cut at a window's edge is searched whole.
  const std::vector<SearchWindow> windows =
      pass == 0 ? first_windows
                : choose_windows(Program{input.entry, input.prog_type, input.prog_type_name, current.programs[program].image,
                                         input.functions},
                                 options.max_window, pinned, pass % 2 ? options.max_window / 2 : 0);
  for (std::size_t wi = 0; wi < windows.size(); ++wi) {
    const SearchWindow& w = windows[wi];
    if (Clock::now() > deadline) {
      out.budget_exhausted = true;
      break;
    }
    if (progress) {
      const double elapsed = seconds_since(started);
      progress({out.program, wi, windows.size(), out.cost_after, elapsed > 0 ? double(out.proposals) / elapsed : 0, proofs,
                std::max(0.0, options.budget_s - elapsed)});
    }
    std::atomic<int> proofs_left{int(options.proofs_per_window)};
    std::atomic<int> context_left{int(std::min<uint64_t>(options.context_proofs_per_window, context_budget))};
    if (effort_spent >= effort_budget) break;
    const uint64_t chain_effort = std::min(window_share, effort_budget - effort_spent) / std::max(1u, options.jobs);
    WindowContext context;
    if (facts.analyzed && options.use_facts) {
      context.entry = facts.entry.at(w.start);
      context.live_stack_after = facts.live_stack.at(w.end);
    }
    const WindowJob job{current,    program,   w,       tests,    checker,
                        options,    constants, started, deadline, proofs_left,
                        options.context_proofs_per_window ? &context_checker : nullptr, context_left, chain_effort, context};
    const unsigned jobs = std::max(1u, options.jobs);
    std::vector<ChainResult> chains(jobs);
    const auto seed_of = [&](unsigned c) { return options.seed * 1000003 + pass * 104729 + wi * 7919 + c; };
    if (jobs == 1) {
      chains[0] = run_chain(job, seed_of(0));
    } else {
      std::vector<std::thread> threads;
      std::mutex error_mutex;
      std::exception_ptr error;
      for (unsigned c = 0; c < jobs; ++c)
        threads.emplace_back([&, c] {
          try {
            chains[c] = run_chain(job, seed_of(c));
          } catch (...) {
            std::lock_guard lock(error_mutex);
            error = std::current_exception();
          }
        });
      for (auto& t : threads) t.join();
      if (error) std::rethrow_exception(error);
    }
    ++out.windows_searched;
    if (std::getenv("TRISTATE_DEBUG_SEARCH"))
      std::fprintf(stderr, "pass %u window [%zu,%zu): proposals %llu effort %llu share %llu cases %zu\n", pass, w.start, w.end,
                   (unsigned long long)chains[0].proposals, (unsigned long long)chains[0].effort,
                   (unsigned long long)chain_effort, chains[0].cases);
    const ChainResult* best = nullptr;
    for (const ChainResult& c : chains) {
      out.proposals += c.proposals;
      out.z3_queries += c.z3_queries;
      out.cache_hits += c.cache_hits;
      out.analyzer_rejects += c.analyzer_rejects;
      out.counterexamples += c.counterexamples;
      out.proof_errors += c.proof_errors;
      effort_spent += c.effort;
      for (std::size_t k = 0; k < kMoveKinds; ++k) {
        out.moves[k].proposed += c.moves[k].proposed;
        out.moves[k].valid += c.moves[k].valid;
        out.moves[k].accepted += c.moves[k].accepted;
      }
      if (c.found_at >= 0 && (!best || c.best_perf < best->best_perf)) best = &c;
    }
    proofs = out.z3_queries;
    const int used = int(std::min<uint64_t>(options.context_proofs_per_window, context_budget)) - std::max(0, context_left.load());
    context_budget -= std::min<uint64_t>(context_budget, uint64_t(std::max(0, used)));
    if (!best) continue;
    ++out.windows_improved;
    out.time_to_best_s = best->found_at;
    std::vector<Insn>& image = current.programs[program].image;
    out.rewrites.push_back({w.start, std::vector<Insn>(image.begin() + std::ptrdiff_t(w.start), image.begin() + std::ptrdiff_t(w.end)),
                            best->best});
    for (std::size_t i = 0; i < w.size(); ++i) {
      image[w.start + i] = best->best[i];
      out.removed[w.start + i] = best->best[i] == kNop;
    }
    out.image = image;
    out.cost_after = image_cost(image, options.cost);
    facts = program_facts(current, current.programs[program]);
    effort_spent += analyzer_effort(facts.processed, image.size());
  }
  }
  out.effort = effort_spent;
  out.total_s = seconds_since(started);
  return out;
}

}  // namespace tristate
