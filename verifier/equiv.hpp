// Equivalence and safety of BPF programs, proved by Z3 on the shared semantics
// (verifier/symbolic.hpp). What the synthesizer calls before it applies any rewrite.
//
// Two programs are equivalent when, for every input the source can see and runs safely on (every
// packet and length, context field, initial map contents and helper result), the target also
// runs safely and leaves the same return value, packet bytes, context, map contents, redirect
// target, and the same sequence of bpf_trace_printk and bpf_ringbuf_output calls with the same
// arguments (map updates and deletes count by the contents they leave). A window check compares two versions of a piece of one
// program from the same abstract entry state (every live-in value arbitrary, or within the facts
// the analyzer found there), on the registers live after it, the stack (or the bytes of it read
// later), the packet, the context, the maps and the effects.
//
// Only Verdict::Equivalent lets a rewrite through. Every counterexample is replayed on the
// interpreter; when the interpreter does not show the difference the encoding is wrong, and
// the checker throws InternalError.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/facts.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/maps.hpp"
#include "compiler/program.hpp"

namespace tristate {

struct CheckOptions {
  unsigned timeout_ms = 10000;  // per solver query
  unsigned unroll = 64;         // back edges a path may take before the check gives up
  bool replay = true;           // replay counterexamples on the interpreter
  bool break_add = false;       // tests only: a deliberate encoding bug the replay must catch
  // Z3's resource limit per query (0: none). Unlike the timeout it does not depend on the machine
  // or its load, so a search that bounds its proofs this way is deterministic.
  uint64_t rlimit = 0;
  // Whole programs with the same instructions, map references, global data and relocations are
  // equivalent without a query (reason "identical programs"), even where the encoder cannot
  // model them. Off: the solver sees them like any pair (tests of the encoding).
  bool skip_identical = true;
};

// A concrete input, as the interpreter takes it.
struct CheckInput {
  std::vector<uint8_t> packet;
  std::vector<uint8_t> ctx;
  std::vector<MapContents> maps;  // initial contents, by module map order
  Environment env;
};

// What one program did on a counterexample's input (from the interpreter's replay).
struct ReplayedRun {
  PacketResult result;
  std::vector<MapContents> maps;  // after the run
};

struct Counterexample {
  CheckInput input;
  std::string difference;  // what differs, in words ("r0: 2 vs 1", "target unsafe at insn 4: ...")
  bool replayed = false;   // false: the input needs a context field a test run cannot set
  std::optional<ReplayedRun> src, tgt;
};

enum class VerdictKind { Equivalent, NotEquivalent, Unknown };
const char* verdict_name(VerdictKind k);  // "equivalent", "not-equivalent", "unknown"

struct Verdict {
  VerdictKind kind = VerdictKind::Unknown;
  std::string reason;  // Unknown: "timeout", "unsupported: ...", "loop bound: ..."
  std::optional<Counterexample> counterexample;
  double ms = 0;       // time spent (the lookup's for a cache hit)
  double solver_ms = 0;  // of which in Z3's check() (the rest: encoding, model, replay)
  bool cached = false;
};

// A window [start, end) in slot indices of a program's image.
struct Window {
  std::size_t start = 0;
  std::size_t end = 0;
};

// What the code around a window guarantees (from analyzer/facts.hpp): the facts that hold when it
// is entered, and the entry frame's stack bytes that may be read after it. Without them a window
// is checked from every entry state and on the whole stack.
struct WindowContext {
  std::optional<EntryFacts> entry;
  std::optional<StackBytes> live_stack_after;
};

// Safety of one program: every memory access in bounds and every read initialised on every path.
struct SafetyVerdict {
  VerdictKind kind = VerdictKind::Unknown;  // Equivalent here means "safe"; NotEquivalent "unsafe"
  std::string reason;                       // unsafe: the instruction and what fails there
  std::optional<CheckInput> input;          // unsafe: an input that reaches the failure
  double ms = 0;
};

// A checker with a cache in front of the solver. Each check owns its Z3 context, so one checker
// per thread, or one shared: the cache is locked.
class EquivalenceChecker {
 public:
  explicit EquivalenceChecker(CheckOptions options = {}) : options_(options) {}

  // Whole programs. The modules must declare the same maps (by position, type and sizes) and the
  // programs the same type; InputError otherwise.
  Verdict programs(const Module& src_module, const Program& src, const Module& tgt_module, const Program& tgt);
  // The window `sw` of `src` against the window `tw` of `tgt`: the code before and after is the
  // same program's, and the windows start from the same (abstract) entry state.
  Verdict windows(const Module& src_module, const Program& src, Window sw, const Module& tgt_module, const Program& tgt,
                  Window tw, const WindowContext& context = {});
  SafetyVerdict safety(const Module& module, const Program& program);

  std::size_t cache_hits() const { return hits_; }
  std::size_t cache_size() const;

 private:
  // The cached verdict for `key` (marked cached), counting the hit; and storing one.
  std::optional<Verdict> cached(const std::string& key);
  void remember(const std::string& key, const Verdict& v);

  CheckOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, Verdict> cache_;
  std::size_t hits_ = 0;
};

// What keeps the checker from encoding `program` at all (a helper it does not model, say), as
// "unsupported: ..." or "loop bound: ...", or nothing when it can encode it. Encodes only: no
// solver runs. A program with a reason can have nothing proved about it.
std::optional<std::string> encoding_obstacle(const Module& module, const Program& program, const CheckOptions& options = {});

// The canonical text of a program (or a window of it) for cache keys: its instructions as the
// disassembler prints them, its map references, type and maps.
std::string canonical_text(const Module& module, const Program& program, std::optional<Window> window = {});

// Runs both programs on `input` with the interpreter, each with maps seeded from the input.
ReplayedRun replay(const Module& module, const Program& program, const CheckInput& input);
// What differs between two replayed runs, or "" when nothing does.
std::string run_difference(const ReplayedRun& a, const ReplayedRun& b);

}  // namespace tristate
