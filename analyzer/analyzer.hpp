// The analyzer: an abstract interpreter that mirrors the Linux 6.18 verifier's judgement of a
// program loaded by root (CAP_BPF + CAP_PERFMON: pointer leaks, uninitialised stack reads and
// bounded loops allowed). Like the kernel it walks every path depth first with typed register and
// stack states (analyzer/state.hpp), refines them at conditional jumps, prunes a path when its
// state lies within one already explored at the same instruction, detects infinite loops by
// exact state repetition, and gives up at the kernel's complexity limit. A refusal carries the
// instruction and the kernel's words where the kernel has them.
//
// What it does not mirror (it refuses, with a reason starting "unsupported:", so it never accepts
// what the kernel might refuse): kfunc calls, may_goto, arena casts, BTF ids, callbacks (bpf_loop),
// reference-tracked helpers (ringbuf reserve, socket lookups), spin locks, helpers not in its
// table (analyzer/helper_protos.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "analyzer/state.hpp"
#include "compiler/program.hpp"

namespace tristate {

// Everything the analyzer needs to know about one program.
struct AnalysisInput {
  std::span<const Insn> image;            // the linked image (Program::image)
  std::vector<FunctionRange> functions;   // empty: one function covering the image
  uint32_t prog_type = 0;                 // enum bpf_prog_type
  std::vector<MapDef> maps;
  std::vector<MapRef> map_refs;           // one per slot (map -1 elsewhere); may be empty
};

struct AnalyzeOptions {
  uint64_t max_insns = 1'000'000;  // the kernel's BPF_COMPLEXITY_LIMIT_INSNS
  bool log = false;                // keep a log of every instruction's state (the kernel's log_level=2)
  // Called with the state before each instruction the analysis reaches (every visit).
  std::function<void(std::size_t pc, const VerifierState&)> on_state;
  // Called with the state after each instruction that falls through or jumps (every visit).
  std::function<void(std::size_t pc, const VerifierState&)> after_insn;
};

struct AnalysisResult {
  bool accepted = false;
  std::size_t insn = 0;      // refusals: the instruction (slot) refused
  std::string reason;        // refusals: why, in the kernel's words where it has them
  uint64_t processed = 0;    // instructions processed (the kernel's "processed N insns")
  uint64_t states = 0;       // states stored for pruning
  uint64_t pruned = 0;       // paths cut by pruning
  std::string log;           // with AnalyzeOptions::log
};

AnalysisResult analyze(const AnalysisInput& input, const AnalyzeOptions& options = {});
// Program `program` of `module`, with the module's maps.
AnalysisResult analyze(const Module& module, const Program& program, const AnalyzeOptions& options = {});

}  // namespace tristate
