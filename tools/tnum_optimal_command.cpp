// `tristate tnum optimal OP|all [--width N] [--timeout SECONDS] [--json]`: proves tnum operators
// optimal with Z3 (verifier/tnum_optimality.hpp) and prints each verdict and its time.
// Exit status: 0 when every requested operator is optimal, 1 when a counterexample is found (a
// more precise sound result, or an unsound one), 3 when none is found but some proof is unknown,
// 2 for bad input.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compiler/error.hpp"
#include "tools/commands.hpp"
#include "verifier/tnum_optimality.hpp"

namespace tristate::cli {

namespace {

struct OptimalArgs {
  std::string op;
  unsigned width = 64;
  double timeout_seconds = 60;
};

std::string hex(uint64_t v) {
  std::ostringstream out;
  out << "0x" << std::hex << v;
  return out.str();
}

void print_human(const TnumOptimalityResult& r) {
  std::ostringstream seconds;
  seconds << std::fixed << std::setprecision(3) << r.seconds << " s";
  std::cout << r.op << " at " << r.width << " bits: ";
  if (std::holds_alternative<TnumOptimal>(r.verdict)) {
    std::cout << "optimal (" << seconds.str() << ")\n";
  } else if (const auto* u = std::get_if<TnumUnknown>(&r.verdict)) {
    std::cout << "unknown: " << u->reason << " (" << seconds.str() << ")\n";
  } else if (const auto* s = std::get_if<TnumCounterexample>(&r.verdict)) {
    std::cout << "unsound (" << seconds.str() << ")\n"
              << "  P = " << tnum_strn(s->p) << "  x = " << hex(s->x) << "\n"
              << "  Q = " << tnum_strn(s->q) << "  y = " << hex(s->y) << "\n"
              << "  concrete result " << hex(s->concrete) << " is not in the abstract result "
              << tnum_strn(s->abstract) << "\n";
  } else {
    const auto& c = std::get<TnumOptimalityCounterexample>(r.verdict);
    std::cout << "counterexample (" << seconds.str() << ")\n";
    if (c.width != r.width) std::cout << "  found by enumerating " << c.width << "-bit tnums\n";
    std::cout << "  P = " << tnum_strn(c.p) << "  Q = " << tnum_strn(c.q) << "\n"
              << "  " << r.op << "#(P, Q) = " << tnum_strn(c.abstract) << " leaves bit " << c.bit
              << " unknown, but every x in P, y in Q gives " << c.value << " there: " << tnum_strn(c.tighter())
              << " is sound and more precise\n";
  }
}

nlohmann::json to_json(const TnumOptimalityResult& r) {
  nlohmann::json j{{"op", r.op}, {"width", r.width}, {"seconds", r.seconds}};
  if (std::holds_alternative<TnumOptimal>(r.verdict)) {
    j["verdict"] = "optimal";
  } else if (const auto* u = std::get_if<TnumUnknown>(&r.verdict)) {
    j["verdict"] = "unknown";
    j["reason"] = u->reason;
  } else if (const auto* s = std::get_if<TnumCounterexample>(&r.verdict)) {
    j["verdict"] = "unsound";
    j["counterexample"] = {{"P", tnum_strn(s->p)},         {"Q", tnum_strn(s->q)},
                           {"x", hex(s->x)},               {"y", hex(s->y)},
                           {"concrete", hex(s->concrete)}, {"abstract", tnum_strn(s->abstract)}};
  } else {
    const auto& c = std::get<TnumOptimalityCounterexample>(r.verdict);
    j["verdict"] = "counterexample";
    j["counterexample"] = {{"P", tnum_strn(c.p)},     {"Q", tnum_strn(c.q)},
                           {"width", c.width},        {"bit", c.bit},
                           {"value", c.value ? 1 : 0}, {"abstract", tnum_strn(c.abstract)},
                           {"tighter", tnum_strn(c.tighter())}};
  }
  return j;
}

}  // namespace

void add_tnum_optimal_command(CLI::App& tnum, Run& run) {
  std::string ops;
  for (const auto& n : tnum_optimality_operators()) ops += (ops.empty() ? "" : ", ") + n;
  auto* cmd = tnum.add_subcommand(
      "optimal", "Prove tnum operators optimal with Z3 (no sound result is more precise), or print a counterexample");
  cmd->footer(
      "Method: op#(P, Q) is optimal when it is sound and each of its unknown bits has a member pair giving 0\n"
      "there and one giving 1. Z3 proves both at full width, with the witnesses named as terms of P, Q and\n"
      "the bit (smallest and largest members, single-bit flips); a case they miss is checked, and tnums of up\n"
      "to 6 bits are enumerated, for a real counterexample.");
  auto args = std::make_shared<OptimalArgs>();
  auto out = std::make_shared<OutputOptions>();
  cmd->add_option("OP", args->op, "operator, or 'all': " + ops)->required();
  cmd->add_option("--width", args->width, "bit-vector width, 1..64 (default 64)");
  cmd->add_option("--timeout", args->timeout_seconds, "seconds per Z3 query, 0 for none (default 60)");
  cmd->add_flag("--json", out->json, "print JSON");
  cmd->callback([&run, args, out] {
    run = [args, out] {
      TnumOptimalityOptions options;
      options.width = args->width;
      if (args->timeout_seconds < 0) throw InputError("--timeout must not be negative");
      options.timeout_ms = static_cast<unsigned>(args->timeout_seconds * 1000);

      const std::vector<std::string> requested =
          args->op == "all" ? tnum_optimality_operators() : std::vector<std::string>{args->op};
      int status = 0;
      nlohmann::json results = nlohmann::json::array();
      for (const auto& op : requested) {
        const TnumOptimalityResult r = prove_tnum_optimality(op, options);
        if (std::holds_alternative<TnumOptimalityCounterexample>(r.verdict) ||
            std::holds_alternative<TnumCounterexample>(r.verdict))
          status = 1;
        if (std::holds_alternative<TnumUnknown>(r.verdict) && status == 0) status = 3;
        if (out->json)
          results.push_back(to_json(r));
        else
          print_human(r);
      }
      if (out->json) std::cout << results.dump(2) << "\n";
      return status;
    };
  });
}

}  // namespace tristate::cli
