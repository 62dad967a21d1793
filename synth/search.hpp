// The search driver: for each window of a program (synth/windows.hpp), Markov chain Monte Carlo
// over candidate windows (synth/moves.hpp) with cost = error on the test cases
// (synth/evaluator.hpp) + performance, several chains in parallel threads. A candidate that
// passes every test case and costs less than the best proved one goes to the analyzer (the whole
// program with the candidate in place must be accepted) and then to the cached Z3 window check
// (verifier/equiv.hpp), and when that fails, within a budget, to a proof in the whole program
// whose counterexamples become test cases; only an Equivalent verdict makes it the window's new
// best. A window's best is written into the program before the next window is searched, so every
// later proof starts from the program as it now stands. Passes over all windows go on until the
// budget, counted as work (SearchOptions::effort_per_second), is spent.
//
// Deleted instructions stay in the image as kNop (compiler/rewrite.hpp) with their slot marked in
// ProgramSearch::removed; remove_slots takes them out for real.
#pragma once

#include <cstddef>
#include <cstdint>
#include <array>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "compiler/program.hpp"
#include "synth/moves.hpp"
#include "synth/testcases.hpp"
#include "verifier/equiv.hpp"

namespace tristate {

enum class CostModel { Insns, Latency };

// The estimated cost of one instruction: 1 per instruction for Insns; for Latency, an estimate
// in units of a simple ALU operation on x86-64 after the JIT (multiply 3, divide and modulo 20,
// loads 2, byte swaps 1, calls 10). kNop costs nothing.
unsigned insn_cost(const Insn& insn, CostModel model);
// Over a whole image (kNop slots excluded; LD_IMM64 counts once).
double image_cost(const std::vector<Insn>& image, CostModel model);

struct SearchOptions {
  double budget_s = 30;            // for this program; windows not reached by then are left as they are
  unsigned jobs = 1;               // chains per window, one thread each
  uint64_t seed = 1;
  CostModel cost = CostModel::Insns;
  unsigned cpu = 3;                // highest instruction set version a candidate may use
  std::size_t max_window = 8;
  // The budget is spent as work, not time: effort_per_second units (instructions the test cases
  // execute, plus a fixed cost per run and per proof) for each second, so that the same seed
  // gives the same search on any machine. budget_s * wall_clock_factor is a hard stop behind it.
  uint64_t effort_per_second = 80'000'000;
  double wall_clock_factor = 2.0;
  unsigned passes = 4;             // a window's share of effort per pass: budget / (windows * passes)
  unsigned max_passes = 32;        // over all windows, each from the program as the last left it
  uint64_t proposals = 20000;      // per chain, window and pass, at most
  unsigned proofs_per_window = 8;  // Z3 window checks per window (beyond them, candidates wait)
  double beta = 1.0;               // inverse temperature of the chains
  // Check windows from the analyzer's facts at their entry and on the stack bytes read after
  // them (analyzer/facts.hpp); false: from every entry state, on the whole stack.
  bool use_facts = true;
  // When the window check fails, prove the candidate in its program (whole-program equivalence):
  // slower, but it sees what the window alone cannot (facts established before the window,
  // registers and stack bytes nothing reads after it); its counterexamples become test cases.
  unsigned context_proofs_per_window = 2;
  double context_seconds = 10;     // one proof in context per this much budget, over the program
  // Proofs are bounded by Z3's resource limit, which keeps a seeded search deterministic, with a
  // timeout behind it only as a safety net (window proofs: the checker the caller passes).
  uint64_t context_rlimit = 2'000'000;
  unsigned context_timeout_ms = 10000;
};

struct SearchProgress {
  std::string program;
  std::size_t window = 0, windows = 0;
  double best_cost = 0;      // of the whole program so far
  double rate = 0;           // proposals per second (all chains)
  uint64_t proofs = 0;       // Z3 queries so far
  double time_left_s = 0;
};

// One improvement the search made: the window at `start`, as it was and as it became.
struct WindowRewrite {
  std::size_t start = 0;
  std::vector<Insn> before, after;
};

struct ProgramSearch {
  std::string program;
  std::vector<WindowRewrite> rewrites;  // in the order they were made; together they give `image`
  std::vector<Insn> image;     // the best program: the input with proved windows written in
  std::vector<bool> removed;   // per slot: deleted (kNop in `image`)
  double cost_before = 0, cost_after = 0;
  double time_to_best_s = 0, total_s = 0;
  uint64_t proposals = 0, z3_queries = 0, cache_hits = 0, analyzer_rejects = 0, counterexamples = 0, proof_errors = 0;
  std::size_t windows = 0, windows_searched = 0, windows_improved = 0;
  bool budget_exhausted = false;   // the wall clock stopped the search (else the effort did)
  uint64_t effort = 0;             // work done, in effort units
  std::array<MoveCounts, kMoveKinds> moves{};
  std::string skipped;         // why the program was not searched, if it was not
};

// Searches program `program` of `module`. `pinned` are slots no window may touch.
ProgramSearch search_program(const Module& module, std::size_t program, const TestSuite& tests, EquivalenceChecker& checker,
                             const SearchOptions& options, const std::set<std::size_t>& pinned,
                             const std::function<void(const SearchProgress&)>& progress = {});

// The highest instruction set version `image` uses (at least 1).
unsigned image_cpu_version(const std::vector<Insn>& image);

}  // namespace tristate
