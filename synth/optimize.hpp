// The optimizer end to end, for one ELF object: every program's repeated tails merged
// (synth/tails.hpp, each merge proved and accepted by the analyzer), its entry function searched
// (synth/search.hpp) on test cases from its functional tests (NAME.tests.json, when there is one)
// and generated inputs, the deleted instructions removed for real and the object written back
// (compiler/elf_writer.hpp), then every changed program checked again before it is kept:
//   1. Z3: the whole output program equivalent to the input program (verifier/equiv.hpp);
//   2. the analyzer accepts it (analyzer/analyzer.hpp);
//   3. when bpf() is available: the kernel loads the output object, and every test-runnable
//      program gives the same return value and output packet as the input's on the same random
//      packets in BPF_PROG_TEST_RUN.
// A program that fails a gate, or that the writer cannot rewrite, is written unchanged, with the
// reason in its report.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "synth/search.hpp"

namespace tristate {

struct OptimizeOptions {
  SearchOptions search;                // budget_s here is for the whole object
  std::optional<unsigned> mcpu;        // highest instruction set version of the output (default: the input's)
  std::string tests_path;              // functional tests to draw cases from ("" : look for NAME.tests.json)
  std::vector<std::string> tests_dirs; // where else to look for NAME.tests.json
  std::string program;                 // only this program ("" : all)
  std::size_t kernel_packets = 1000;   // random packets of the kernel gate
  uint64_t window_rlimit = 4'000'000;  // each window proof of the search (Z3 resource units)
  unsigned window_timeout_ms = 10000;  // its safety net
  unsigned proof_timeout_ms = 20000;   // the whole-program Z3 check
  // With several window rewrites in a program: one whole-program check per rewrite, each against
  // the program as the rewrites before it left it (equivalence is transitive), each bounded by
  // Z3's resource limit; a rewrite not proved so is dropped. Then one check that removing the
  // no-ops changes nothing.
  uint64_t step_rlimit = 10'000'000;
  double steps_timeout_s = 60;         // all of one program's step checks, as a safety net
  // Repeated tails merged before the search (synth/tails.hpp): at most this many tried per
  // program, each proved by simulation (verifier/shared_code.hpp).
  unsigned tail_merges = 64;
};

struct GateResult {
  std::string z3, analyzer, kernel;  // "passed", "failed: ...", "unavailable: ...", "skipped: ..."
};

struct ProgramReport {
  std::size_t tail_merges = 0;       // repeated tails merged before the search, each proved
  ProgramSearch search;
  std::size_t insns_before = 0, insns_after = 0;  // slots, as the kernel counts them
  bool kept = false;                 // the output carries the optimized program
  std::string reason;                // why not, when not
  GateResult gates;
  std::size_t kernel_packets = 0;    // packets compared in the kernel gate
};

struct OptimizeResult {
  std::vector<uint8_t> bytes;          // the output object
  std::vector<ProgramReport> programs; // in the object's order
  std::string tests;                   // the functional tests used ("" : none)
  unsigned cpu = 0;                    // the instruction set version candidates were drawn from
  double total_s = 0;
  bool kernel_available = false;
  std::string kernel_why;              // when unavailable
};

// InputError naming the file for input that is not a BPF ELF object the frontend reads.
OptimizeResult optimize_object(const std::string& path, const OptimizeOptions& options,
                               const std::function<void(const SearchProgress&)>& progress = {});

}  // namespace tristate
