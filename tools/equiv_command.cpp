// `tristate equiv`: prove two programs (or two versions of a window) equivalent with Z3.
//
//   tristate equiv A B [--prog NAME] [--window START:END] [--timeout MS] [--unroll N] [--json]
//   tristate equiv PAIR.srctgt
//   tristate equiv A --safety
//
// A and B are ELF objects, C sources, raw bytecode (with --prog-type) or assembly text (.s/.asm).
// Prints `equivalent (N ms)`, or the counterexample: the input (packet, context, maps, helper
// results) and both programs' outputs side by side, as the interpreter replays them.
// Exit status: 0 equivalent, 1 not equivalent, 3 unknown (timeout, loop bound, unsupported),
// 2 bad input.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "compiler/asm_module.hpp"
#include "compiler/error.hpp"
#include "tools/commands.hpp"
#include "tools/hex.hpp"
#include "tools/input_options.hpp"
#include "verifier/equiv.hpp"

namespace tristate::cli {

namespace {

struct EquivArgs {
  InputArgs a;
  std::string b;
  std::string prog;
  std::string window;
  unsigned timeout_ms = CheckOptions{}.timeout_ms;
  unsigned unroll = CheckOptions{}.unroll;
  bool json = false;
  bool safety = false;
};

std::optional<Window> parse_window(const std::string& text) {
  if (text.empty()) return std::nullopt;
  unsigned long start = 0, end = 0;
  char extra;
  if (std::sscanf(text.c_str(), "%lu:%lu%c", &start, &end, &extra) != 2 || start >= end)
    throw InputError("--window must be START:END with START < END (instruction slots), not '" + text + "'");
  return Window{start, end};
}

nlohmann::json input_json(const CheckInput& in, const Module& module) {
  nlohmann::json j{{"packet", to_hex(in.packet)}};
  if (!in.ctx.empty()) j["ctx"] = to_hex(in.ctx);
  j["maps"] = to_json(in.maps, module.maps);
  if (!in.env.ktime_values.empty()) j["ktime_get_ns"] = in.env.ktime_values;
  if (!in.env.prandom_values.empty()) j["get_prandom_u32"] = in.env.prandom_values;
  j["ifindex"] = in.env.ifindex;
  return j;
}

nlohmann::json run_json(const ReplayedRun& r, const Module& module) {
  nlohmann::json j;
  if (r.result.fault)
    j["fault"] = {{"insn", r.result.fault->insn}, {"reason", r.result.fault->reason}};
  else
    j["r0"] = r.result.r0;
  j["packet"] = to_hex(r.result.packet);
  j["maps"] = to_json(r.maps, module.maps);
  if (!r.result.trace.empty()) j["trace"] = r.result.trace;
  return j;
}

std::string outcome_text(const ReplayedRun& r) {
  if (r.result.fault) return "fault at insn " + std::to_string(r.result.fault->insn) + ": " + r.result.fault->reason;
  return std::to_string(r.result.r0);
}

void print_counterexample(const Counterexample& cex, const Module& module) {
  std::cout << "input:\n";
  std::cout << "  packet (" << cex.input.packet.size() << " bytes): " << to_hex(cex.input.packet) << "\n";
  if (!cex.input.ctx.empty()) std::cout << "  ctx: " << to_hex(cex.input.ctx) << "\n";
  for (const MapContents& m : cex.input.maps)
    for (const MapEntry& e : m.entries) std::cout << "  map " << m.name << ": " << to_hex(e.key) << " -> " << to_hex(e.values[0]) << "\n";
  for (std::size_t i = 0; i < cex.input.env.ktime_values.size(); ++i)
    std::cout << "  bpf_ktime_get_ns #" << i + 1 << ": " << cex.input.env.ktime_values[i] << "\n";
  for (std::size_t i = 0; i < cex.input.env.prandom_values.size(); ++i)
    std::cout << "  bpf_get_prandom_u32 #" << i + 1 << ": " << cex.input.env.prandom_values[i] << "\n";
  if (!cex.src || !cex.tgt) return;
  const auto row = [](const std::string& what, const std::string& a, const std::string& b) {
    std::printf("  %-8s %-34s %s\n", what.c_str(), a.c_str(), b.c_str());
  };
  std::cout << "outputs:\n";
  row("", "source", "target");
  row("r0", outcome_text(*cex.src), outcome_text(*cex.tgt));
  const std::string pa = to_hex(cex.src->result.packet), pb = to_hex(cex.tgt->result.packet);
  if (pa == pb)
    row("packet", "(same, " + std::to_string(cex.src->result.packet.size()) + " bytes)", "");
  else
    std::cout << "  packet   source " << pa << "\n           target " << pb << "\n";
  for (std::size_t m = 0; m < cex.src->maps.size(); ++m)
    if (!(cex.src->maps[m] == cex.tgt->maps[m]))
      std::cout << "  map " << module.maps[m].name << " differs after the run:\n    source "
                << to_json({cex.src->maps[m]}, {module.maps[m]}).dump() << "\n    target "
                << to_json({cex.tgt->maps[m]}, {module.maps[m]}).dump() << "\n";
}

// --safety: every access of one program in bounds and every read initialised, or where not.
int run_safety(const EquivArgs& args) {
  const Module m = load(args.a);
  const std::vector<const Program*> programs = select_programs(m, args.prog);
  CheckOptions options;
  options.timeout_ms = args.timeout_ms;
  options.unroll = args.unroll;
  EquivalenceChecker checker(options);
  int status = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const Program* p : programs) {
    const SafetyVerdict v = checker.safety(m, *p);
    const int one = v.kind == VerdictKind::Equivalent ? 0 : v.kind == VerdictKind::NotEquivalent ? 1 : 3;
    status = std::max(status, one);
    const char* word = one == 0 ? "safe" : one == 1 ? "unsafe" : "unknown";
    if (args.json) {
      nlohmann::json j{{"program", p->name()}, {"verdict", word}, {"ms", v.ms}};
      if (!v.reason.empty()) j["reason"] = v.reason;
      if (v.input) j["input"] = input_json(*v.input, m);
      all.push_back(j);
      continue;
    }
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.1f ms", v.ms);
    std::cout << p->name() << ": " << word << " (" << ms << ")" << (v.reason.empty() ? "" : ": " + v.reason) << "\n";
    if (v.input) std::cout << "  input packet (" << v.input->packet.size() << " bytes): " << to_hex(v.input->packet) << "\n";
  }
  if (args.json) std::cout << all.dump(2) << "\n";
  return status;
}

int run_equiv(const EquivArgs& args) {
  if (args.safety) {
    if (!args.b.empty()) throw InputError("--safety checks one program: give only FILE");
    return run_safety(args);
  }
  Module a, b;
  std::optional<Window> window = parse_window(args.window);
  if (args.b.empty()) {
    if (!args.a.path.ends_with(".srctgt"))
      throw InputError(Location{args.a.path, {}, {}}, "give two programs to compare, or one .srctgt file");
    SrcTgt pair = read_srctgt(args.a.path);
    a = std::move(pair.src);
    b = std::move(pair.tgt);
    if (pair.window && !window) window = parse_window(*pair.window);
  } else {
    a = load(args.a);
    InputArgs bargs = args.a;
    bargs.path = args.b;
    b = load(bargs);
  }
  const std::vector<const Program*> pa = select_programs(a, args.prog), pb = select_programs(b, args.prog);
  if (pa.size() != 1 || pb.size() != 1)
    throw InputError(Location{args.a.path, {}, {}}, "the files hold several programs: choose one with --prog NAME");
  CheckOptions options;
  options.timeout_ms = args.timeout_ms;
  options.unroll = args.unroll;
  EquivalenceChecker checker(options);
  Verdict v;
  if (window) {
    const std::size_t na = pa[0]->image.size(), nb = pb[0]->image.size();
    if (window->end > na) throw InputError(Location{a.path, pa[0]->name(), window->end}, "the window ends past the program");
    const int64_t tgt_end = int64_t(window->end) + int64_t(nb) - int64_t(na);
    if (tgt_end <= int64_t(window->start))
      throw InputError(Location{b.path, pb[0]->name(), {}}, "the target's window would be empty");
    v = checker.windows(a, *pa[0], *window, b, *pb[0], Window{window->start, std::size_t(tgt_end)});
  } else {
    v = checker.programs(a, *pa[0], b, *pb[0]);
  }
  const int status = v.kind == VerdictKind::Equivalent ? 0 : v.kind == VerdictKind::NotEquivalent ? 1 : 3;
  if (args.json) {
    nlohmann::json j{{"verdict", verdict_name(v.kind)}, {"ms", v.ms}, {"solver_ms", v.solver_ms}};
    if (!v.reason.empty()) j["reason"] = v.reason;
    if (v.counterexample) {
      const Counterexample& c = *v.counterexample;
      nlohmann::json cj{{"difference", c.difference}, {"replayed", c.replayed}};
      if (!window) cj["input"] = input_json(c.input, a);
      if (c.src) cj["source"] = run_json(*c.src, a);
      if (c.tgt) cj["target"] = run_json(*c.tgt, b);
      j["counterexample"] = cj;
    }
    std::cout << j.dump(2) << "\n";
    return status;
  }
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.1f ms", v.ms);
  switch (v.kind) {
    case VerdictKind::Equivalent: std::cout << "equivalent (" << ms << ")\n"; break;
    case VerdictKind::Unknown: std::cout << "unknown (" << ms << "): " << v.reason << "\n"; break;
    case VerdictKind::NotEquivalent:
      std::cout << "not equivalent (" << ms << "): " << v.counterexample->difference << "\n";
      if (!window) print_counterexample(*v.counterexample, a);
      else std::cout << "(a window's counterexample is an abstract entry state, not a program input)\n";
      break;
  }
  return status;
}

}  // namespace

void add_equiv_command(CLI::App& app, Run& run) {
  auto args = std::make_shared<EquivArgs>();
  CLI::App* cmd = app.add_subcommand("equiv", "Prove two programs, or two versions of a window, equivalent with Z3");
  cmd->footer(
      "Equivalent means: for every packet, context, initial map contents and helper result the source runs safely on,\n"
      "the target also runs safely and leaves the same r0, packet, context, maps and sequence of side-effecting\n"
      "helper calls. Counterexamples are replayed on the interpreter. Exit status: 0 equivalent, 1 not equivalent,\n"
      "3 unknown (timeout, loop bound, construct not modelled), 2 bad input.");
  add_input_options(*cmd, args->a);
  cmd->add_option("B", args->b, "The target program (omit when FILE is a .srctgt pair)");
  cmd->add_option("--prog", args->prog, "The program to compare (by name) when the files hold several");
  cmd->add_option("--window", args->window,
                  "Compare only instruction slots [START, END) of A with the same start in B, ending END + (|B| - |A|)");
  cmd->add_option("--timeout", args->timeout_ms, "Solver timeout per query, in milliseconds")->capture_default_str();
  cmd->add_option("--unroll", args->unroll, "Back edges a path may take before the check gives up")->capture_default_str();
  cmd->add_flag("--safety", args->safety,
                "Check FILE alone: every memory access in bounds and every read initialised on every path "
                "(exit 0 safe, 1 unsafe with the instruction and an input that reaches it, 3 unknown)");
  cmd->add_flag("--json", args->json, "Print the verdict as JSON");
  cmd->callback([&run, args] { run = [args] { return run_equiv(*args); }; });
}

}  // namespace tristate::cli
