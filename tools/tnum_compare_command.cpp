// `tristate tnum compare OP --width N [--truncate] [--jobs J] [--json]`: the precision of every
// variant of a tnum operator over every pair of N-bit tnums, against each other and against the
// optimal result (analyzer/tnum_precision.hpp). Exit status 1 if a variant is unsound on some pair.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "analyzer/tnum_precision.hpp"
#include "tools/commands.hpp"

namespace tristate::cli {

namespace {

struct CompareArgs {
  std::string op;
  unsigned width = 8;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  bool truncate = false;
};

std::string percent(uint64_t part, uint64_t whole) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << (whole ? 100.0 * double(part) / double(whole) : 0.0) << "%";
  return out.str();
}

std::string cell(const TnumPairCounts& c, uint64_t pairs) {
  return percent(c.more, pairs) + " / " + percent(c.equal, pairs) + " / " + percent(c.less, pairs) + " / " +
         percent(c.incomparable, pairs);
}

void print_table(const TnumPrecisionReport& r, unsigned jobs, double seconds) {
  std::size_t name_width = 8;
  for (const auto& v : r.variants) name_width = std::max(name_width, v.size());
  std::cout << "tnum " << tnum_op_name(r.op) << ", width " << r.width << ": " << r.pairs << " pairs of " << r.width
            << "-bit tnums, results compared " << (r.truncate ? "in their low " + std::to_string(r.width) + " bits" : "in all 64 bits")
            << ", " << std::fixed << std::setprecision(seconds < 10 ? 2 : 1) << seconds << " s with " << jobs
            << (jobs == 1 ? " thread" : " threads") << "\n\n";
  std::cout << std::left << std::setw(int(name_width) + 2) << "variant" << "optimal\n";
  for (std::size_t i = 0; i < r.variants.size(); ++i)
    std::cout << std::setw(int(name_width) + 2) << r.variants[i] << percent(r.optimal[i], r.pairs) << " ("
              << r.optimal[i] << ")\n";
  if (r.variants.size() < 2) return;
  std::cout << "\nrow against column, % of pairs: more precise / equal / less precise / incomparable\n";
  std::size_t cell_width = 0;
  for (std::size_t i = 0; i < r.variants.size(); ++i)
    for (std::size_t j = 0; j < r.variants.size(); ++j)
      if (i != j) cell_width = std::max(cell_width, cell(r.against(i, j), r.pairs).size());
  cell_width = std::max(cell_width, name_width) + 3;
  const auto row = [&](const std::string& head, const std::vector<std::string>& cells) {
    std::string line = head;
    line.resize(name_width + 2, ' ');
    for (std::size_t j = 0; j < cells.size(); ++j) {
      line += cells[j];
      if (j + 1 < cells.size()) line.resize(name_width + 2 + (j + 1) * cell_width, ' ');
    }
    std::cout << line << "\n";
  };
  row("", r.variants);
  for (std::size_t i = 0; i < r.variants.size(); ++i) {
    std::vector<std::string> cells;
    for (std::size_t j = 0; j < r.variants.size(); ++j)
      cells.push_back(i == j ? std::string("-") : cell(r.against(i, j), r.pairs));
    row(r.variants[i], cells);
  }
  std::cout << std::right;
}

nlohmann::json to_json(const TnumPrecisionReport& r, unsigned jobs, double seconds) {
  nlohmann::json variants = nlohmann::json::array();
  for (std::size_t i = 0; i < r.variants.size(); ++i) {
    nlohmann::json versus = nlohmann::json::object();
    for (std::size_t j = 0; j < r.variants.size(); ++j) {
      if (i == j) continue;
      const TnumPairCounts& c = r.against(i, j);
      versus[r.variants[j]] = {
          {"more", c.more}, {"equal", c.equal}, {"less", c.less}, {"incomparable", c.incomparable}};
    }
    variants.push_back({{"name", r.variants[i]}, {"optimal", r.optimal[i]}, {"versus", versus}});
  }
  nlohmann::json unsound = nlohmann::json::array();
  for (const auto& u : r.unsound)
    unsound.push_back({{"variant", r.variants[u.variant]},
                       {"a", tnum_sbin(u.a, r.width)},
                       {"b", tnum_sbin(u.b, r.width)},
                       {"result", tnum_sbin(u.result, r.width)},
                       {"optimal", tnum_sbin(u.optimal, r.width)}});
  return {{"op", tnum_op_name(r.op)}, {"width", r.width}, {"results", r.truncate ? "low N bits" : "64 bits"}, {"pairs", r.pairs},
          {"jobs", jobs},             {"seconds", seconds},        {"variants", variants},
          {"unsound_count", r.unsound_count}, {"unsound", unsound}};
}

// A one-line progress report on stderr, rewritten in place; only on a terminal.
class Progress {
 public:
  Progress() : enabled_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

  void update(uint64_t done, uint64_t total) {
    if (!enabled_ || total == 0) return;
    const double elapsed = seconds_since(start_);
    const double fraction = double(done) / double(total);
    std::fprintf(stderr, "\r%5.1f%% of %llu pairs, %.0f s", 100.0 * fraction, static_cast<unsigned long long>(total),
                 elapsed);
    if (fraction > 0.01) std::fprintf(stderr, ", about %.0f s left", elapsed * (1 - fraction) / fraction);
    std::fprintf(stderr, "   ");
    shown_ = true;
  }

  void clear() {
    if (shown_) std::fprintf(stderr, "\r%*s\r", 60, "");
  }

  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

void add_tnum_compare_command(CLI::App& tnum, Run& run) {
  auto* cmd = tnum.add_subcommand(
      "compare",
      "Enumerate every pair of N-bit tnums and compare the precision of an operator's variants with each "
      "other and with the optimal result");
  auto args = std::make_shared<CompareArgs>();
  auto out = std::make_shared<OutputOptions>();
  cmd->add_option("OP", args->op, "operator: add, sub, and, or, xor, mul")
      ->required()
      ->check(CLI::IsMember({"add", "sub", "and", "or", "xor", "mul"}));
  cmd->add_option("--width", args->width, "tnum width in bits (3^(2N) pairs)")
      ->check(CLI::Range(1u, kTnumPrecisionMaxWidth))
      ->capture_default_str();
  cmd->add_option("--jobs,-j", args->jobs, "worker threads")->check(CLI::Range(1u, 1024u))->capture_default_str();
  cmd->add_flag("--truncate", args->truncate,
                "compare the results' low N bits only (the N-bit operator) rather than all 64");
  cmd->add_flag("--json", out->json, "print JSON");
  cmd->callback([&run, args, out] {
    run = [args, out] {
      const TnumOp op = *parse_tnum_op(args->op);
      Progress progress;
      TnumPrecisionOptions options;
      options.width = args->width;
      options.jobs = args->jobs;
      options.truncate = args->truncate;
      options.progress = [&progress](uint64_t done, uint64_t total) { progress.update(done, total); };
      const auto start = std::chrono::steady_clock::now();
      const TnumPrecisionReport report = compare_tnum_precision(op, tnum_variants(op), options);
      const double seconds = Progress::seconds_since(start);
      progress.clear();
      if (out->json)
        std::cout << to_json(report, args->jobs, seconds).dump(2) << "\n";
      else
        print_table(report, args->jobs, seconds);
      for (const auto& u : report.unsound)
        std::cerr << "tristate: error: " << report.variants[u.variant] << " is unsound: a = " << tnum_sbin(u.a, report.width)
                  << ", b = " << tnum_sbin(u.b, report.width) << " gives " << tnum_sbin(u.result, report.width)
                  << ", which misses concrete results (smallest sound result " << tnum_sbin(u.optimal, report.width)
                  << ")\n";
      if (report.unsound_count)
        std::cerr << "tristate: error: " << report.unsound_count << " unsound results in all\n";
      return report.unsound_count ? 1 : 0;
    };
  });
}

}  // namespace tristate::cli
