// `tristate tnum prove OP|all [--width N] [--mul VARIANT] [--timeout SECONDS] [--json]`: proves
// tnum operators sound with Z3 (verifier/tnum_proof.hpp) and prints each verdict and its time.
// Exit status: 0 when every requested proof holds, 1 when a counterexample is found, 3 when none
// is found but some proof is unknown (a timeout), 2 for bad input.
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compiler/error.hpp"
#include "tools/commands.hpp"
#include "verifier/tnum_mul_proof.hpp"
#include "verifier/tnum_proof.hpp"

namespace tristate::cli {

namespace {

struct ProveArgs {
  std::string op;
  unsigned width = 64;
  std::string mul = std::string(tnum_mul_name(TnumMul::Tristate));
  double timeout_seconds = 60;
};

std::string hex(uint64_t v) {
  std::ostringstream out;
  out << "0x" << std::hex << v;
  return out.str();
}

std::string label(const TnumProofResult& r, const TnumProofOptions& options) {
  return r.op == "mul" ? "mul (" + std::string(tnum_mul_name(options.mul)) + ")" : r.op;
}

void print_human(const TnumProofResult& r, const TnumProofOptions& options) {
  std::ostringstream seconds;
  seconds << std::fixed << std::setprecision(3) << r.seconds << " s";
  std::cout << label(r, options) << " at " << r.width << " bits: ";
  if (std::holds_alternative<TnumProved>(r.verdict)) {
    std::cout << "sound (" << seconds.str() << ")\n";
  } else if (const auto* u = std::get_if<TnumUnknown>(&r.verdict)) {
    std::cout << "unknown: " << u->reason << " (" << seconds.str() << ")\n";
  } else {
    const auto& c = std::get<TnumCounterexample>(r.verdict);
    std::cout << "counterexample (" << seconds.str() << ")\n";
    if (c.parameter) std::cout << "  " << tnum_proof_parameter_name(r.op) << " " << *c.parameter << "\n";
    std::cout << "  P = " << tnum_strn(c.p) << "  x = " << hex(c.x) << "\n"
              << "  Q = " << tnum_strn(c.q) << "  y = " << hex(c.y) << "\n"
              << "  concrete result " << hex(c.concrete) << " is not in the abstract result "
              << tnum_strn(c.abstract) << "\n";
  }
}

nlohmann::json to_json(const TnumProofResult& r, const TnumProofOptions& options) {
  nlohmann::json j{{"op", r.op}, {"width", r.width}, {"seconds", r.seconds}};
  if (r.op == "mul") j["mul"] = tnum_mul_name(options.mul);
  if (std::holds_alternative<TnumProved>(r.verdict)) {
    j["verdict"] = "sound";
  } else if (const auto* u = std::get_if<TnumUnknown>(&r.verdict)) {
    j["verdict"] = "unknown";
    j["reason"] = u->reason;
  } else {
    const auto& c = std::get<TnumCounterexample>(r.verdict);
    j["verdict"] = "counterexample";
    j["counterexample"] = {{"P", tnum_strn(c.p)},      {"Q", tnum_strn(c.q)},
                           {"x", hex(c.x)},            {"y", hex(c.y)},
                           {"concrete", hex(c.concrete)}, {"abstract", tnum_strn(c.abstract)}};
    if (c.parameter) j["counterexample"][std::string(tnum_proof_parameter_name(r.op))] = *c.parameter;
  }
  return j;
}

std::string_view lemma_verdict_name(TnumLemmaVerdict v) {
  switch (v) {
    case TnumLemmaVerdict::Proved: return "proved";
    case TnumLemmaVerdict::Refuted: return "refuted";
    case TnumLemmaVerdict::Unknown: return "unknown";
  }
  return "unknown";
}

std::string_view mul_proof_verdict(const TnumMulProof& p) {
  return p.proved() ? "sound" : p.refuted() ? "a lemma is refuted" : "unknown";
}

std::string method_of(const TnumMulProof& p) { return p.width == 64 ? "lemmas" : "unrolled parts"; }

void print_human(const TnumMulProof& p) {
  std::cout << std::fixed << std::setprecision(3) << "mul (" << tnum_mul_name(p.variant) << ") at " << p.width
            << " bits by " << method_of(p) << ": " << mul_proof_verdict(p) << " (" << p.seconds << " s)\n";
  for (const auto& l : p.lemmas) {
    std::cout << "  " << l.name << " [" << l.logic << "]: " << lemma_verdict_name(l.verdict) << " (" << l.seconds
              << " s)\n    " << l.statement << "\n";
    if (!l.detail.empty()) std::cout << "    " << l.detail << "\n";
  }
  std::cout.unsetf(std::ios::floatfield);
}

nlohmann::json to_json(const TnumMulProof& p) {
  nlohmann::json lemmas = nlohmann::json::array();
  for (const auto& l : p.lemmas)
    lemmas.push_back({{"name", l.name},
                      {"statement", l.statement},
                      {"logic", l.logic},
                      {"verdict", lemma_verdict_name(l.verdict)},
                      {"detail", l.detail},
                      {"seconds", l.seconds}});
  return {{"op", "mul"},          {"mul", tnum_mul_name(p.variant)}, {"width", p.width},
          {"method", method_of(p)}, {"verdict", mul_proof_verdict(p)}, {"seconds", p.seconds},
          {"lemmas", lemmas}};
}

// Multiplication at 64 bits by lemmas where there is such a proof, and Tristate's unrolled one
// part per query; every other operator (and the other variants) in one unrolled query.
bool proved_in_parts(const std::string& op, const TnumProofOptions& options) {
  if (op != "mul") return false;
  return options.width == 64 ? tnum_mul_has_inductive_proof(options.mul) : options.mul == TnumMul::Tristate;
}

}  // namespace

void add_tnum_prove_command(CLI::App& tnum, Run& run) {
  std::string ops;
  for (const auto& n : tnum_proof_operators()) ops += (ops.empty() ? "" : ", ") + n;
  auto* cmd = tnum.add_subcommand(
      "prove",
      "Prove tnum operators sound with Z3 (for every x in P and y in Q, op(x, y) is in op#(P, Q)), or print a "
      "counterexample. Multiplication at 64 bits (kernel618, tristate) is proved by lemmas about one step of its "
      "loop and its other parts, each proved at 64 bits (docs/tnum.md has the induction that joins them); at a "
      "narrower --width it is unrolled");
  auto args = std::make_shared<ProveArgs>();
  auto out = std::make_shared<OutputOptions>();
  cmd->add_option("OP", args->op, "operator, or 'all': " + ops)->required();
  cmd->add_option("--width", args->width,
                  "bit-vector width (default 64); only width-independent operators (add, sub, neg, and, or, xor, "
                  "mul, shifts, union, intersect, range) accept another");
  cmd->add_option("--mul", args->mul, "multiplication variant for 'mul': kernel-pre2021, our, kernel618, tristate (default, the analyzer's)");
  cmd->add_option("--timeout", args->timeout_seconds, "seconds per proof, 0 for none (default 60)");
  cmd->add_flag("--json", out->json, "print JSON");
  cmd->callback([&run, args, out] {
    run = [args, out] {
      TnumProofOptions options;
      options.width = args->width;
      const auto mul = parse_tnum_mul(args->mul);
      if (!mul) throw InputError("unknown multiplication variant '" + args->mul + "' (known: kernel-pre2021, our, kernel618, tristate)");
      options.mul = *mul;
      if (args->timeout_seconds < 0) throw InputError("--timeout must not be negative");
      options.timeout_ms = static_cast<unsigned>(args->timeout_seconds * 1000);

      // `all` at a width other than 64 proves the width-independent operators only.
      std::vector<std::string> requested;
      if (args->op == "all") {
        for (const auto& n : tnum_proof_operators())
          if (options.width == 64 || tnum_proof_width_generic(n)) requested.push_back(n);
      } else {
        requested.push_back(args->op);
      }

      int status = 0;
      nlohmann::json results = nlohmann::json::array();
      for (const auto& op : requested) {
        if (proved_in_parts(op, options)) {
          const TnumMulProof p = options.width == 64
                                     ? prove_tnum_mul_inductive(options.mul, options.timeout_ms)
                                     : prove_tnum_mul_tristate_unrolled(options.width, options.timeout_ms);
          if (p.refuted()) status = 1;
          if (!p.proved() && status == 0) status = 3;
          if (out->json)
            results.push_back(to_json(p));
          else
            print_human(p);
          continue;
        }
        const TnumProofResult r = prove_tnum_operator(op, options);
        if (std::holds_alternative<TnumCounterexample>(r.verdict)) status = 1;
        if (std::holds_alternative<TnumUnknown>(r.verdict) && status == 0) status = 3;
        if (out->json)
          results.push_back(to_json(r, options));
        else
          print_human(r, options);
      }
      if (out->json) std::cout << results.dump(2) << "\n";
      return status;
    };
  });
}

}  // namespace tristate::cli
