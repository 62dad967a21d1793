// Exhaustive precision comparison of tnum operators at a small width (see the header).
//
// The optimal results of all 3^2N pairs come from a recurrence rather than from the 4^N concrete
// products of each pair (4.3e9 at N = 8): a tnum with an unknown bit is the union of the two tnums
// with that bit fixed to 0 and to 1, so the AND and the OR of the concrete results over (P, Q) are
// those over (P0, Q) and (P1, Q) combined. Tnums are indexed in base 3 with digit 2 for an unknown
// bit, so both halves have smaller indices; for a fixed Q one pass over P in index order costs one
// combine per pair, after 2^N * |Q| concrete operations for the constant P. In all: 8^N + 9^N.
#include "analyzer/tnum_precision.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "compiler/error.hpp"

namespace tristate {

std::string_view tnum_op_name(TnumOp op) {
  switch (op) {
    case TnumOp::Add: return "add";
    case TnumOp::Sub: return "sub";
    case TnumOp::And: return "and";
    case TnumOp::Or: return "or";
    case TnumOp::Xor: return "xor";
    case TnumOp::Mul: return "mul";
  }
  return "mul";
}

std::optional<TnumOp> parse_tnum_op(std::string_view name) {
  for (TnumOp op : {TnumOp::Add, TnumOp::Sub, TnumOp::And, TnumOp::Or, TnumOp::Xor, TnumOp::Mul})
    if (tnum_op_name(op) == name) return op;
  return std::nullopt;
}

uint64_t tnum_op_concrete(TnumOp op, uint64_t x, uint64_t y) {
  switch (op) {
    case TnumOp::Add: return x + y;
    case TnumOp::Sub: return x - y;
    case TnumOp::And: return x & y;
    case TnumOp::Or: return x | y;
    case TnumOp::Xor: return x ^ y;
    case TnumOp::Mul: return x * y;
  }
  return x * y;
}

namespace {

template <TnumMul V>
Tnum mul_variant(const Tnum& a, const Tnum& b) {
  return tnum_mul_variant(V, a, b);
}

}  // namespace

std::vector<TnumVariant> tnum_variants(TnumOp op) {
  switch (op) {
    case TnumOp::Add: return {{"kernel", [](const Tnum& a, const Tnum& b) { return tnum_add(a, b); }}};
    case TnumOp::Sub: return {{"kernel", [](const Tnum& a, const Tnum& b) { return tnum_sub(a, b); }}};
    case TnumOp::And: return {{"kernel", [](const Tnum& a, const Tnum& b) { return tnum_and(a, b); }}};
    case TnumOp::Or: return {{"kernel", [](const Tnum& a, const Tnum& b) { return tnum_or(a, b); }}};
    case TnumOp::Xor: return {{"kernel", [](const Tnum& a, const Tnum& b) { return tnum_xor(a, b); }}};
    case TnumOp::Mul: break;
  }
  return {{std::string(tnum_mul_name(TnumMul::KernelPre2021)), &mul_variant<TnumMul::KernelPre2021>},
          {std::string(tnum_mul_name(TnumMul::Our)), &mul_variant<TnumMul::Our>},
          {std::string(tnum_mul_name(TnumMul::Kernel618)), &mul_variant<TnumMul::Kernel618>},
          {std::string(tnum_mul_name(TnumMul::Tristate)), &mul_variant<TnumMul::Tristate>}};
}

std::vector<Tnum> all_tnums(unsigned width) {
  std::size_t count = 1;
  for (unsigned i = 0; i < width; ++i) count *= 3;
  std::vector<Tnum> out(count);
  for (std::size_t index = 0; index < count; ++index) {
    std::size_t rest = index;
    for (unsigned bit = 0; bit < width; ++bit, rest /= 3) {
      const uint64_t m = uint64_t(1) << bit;
      if (rest % 3 == 1) out[index].value |= m;
      if (rest % 3 == 2) out[index].mask |= m;
    }
  }
  return out;
}

namespace {

// The AND and the OR of a set of N-bit results; the optimal tnum is (all; all ^ any).
struct Bounds {
  uint64_t all = ~0ull;
  uint64_t any = 0;
};

// What the recurrence needs about each tnum, shared read-only by the workers.
struct Universe {
  unsigned width;
  uint64_t low;                        // the low `width` bits
  uint64_t kept;                       // the result bits compared: `low`, or all 64
  std::vector<Tnum> tnums;             // by index
  std::vector<uint32_t> lowest_unknown;  // 3^i for the lowest unknown bit i, 0 for a constant
  std::vector<uint32_t> member_start;  // members of tnum t: members[member_start[t] .. [t + 1])
  std::vector<uint16_t> members;

  Universe(unsigned w, bool truncate)
      : width(w), low((uint64_t(1) << w) - 1), kept(truncate ? low : ~0ull), tnums(all_tnums(w)) {
    lowest_unknown.resize(tnums.size());
    member_start.reserve(tnums.size() + 1);
    for (std::size_t t = 0; t < tnums.size(); ++t) {
      uint32_t power = 1;
      std::size_t rest = t;
      while (rest && rest % 3 != 2) rest /= 3, power *= 3;
      lowest_unknown[t] = rest ? power : 0;
      member_start.push_back(uint32_t(members.size()));
      const Tnum& q = tnums[t];
      for (uint64_t s = q.mask;; s = (s - 1) & q.mask) {
        members.push_back(uint16_t(q.value | s));
        if (s == 0) break;
      }
    }
    member_start.push_back(uint32_t(members.size()));
  }
};

struct Tally {
  std::vector<uint64_t> optimal;
  std::vector<TnumPairCounts> versus;
  uint64_t unsound_count = 0;
  std::vector<TnumUnsoundPair> unsound;

  explicit Tally(std::size_t variants) : optimal(variants), versus(variants * variants) {}

  void merge(const Tally& other) {
    for (std::size_t i = 0; i < optimal.size(); ++i) optimal[i] += other.optimal[i];
    for (std::size_t i = 0; i < versus.size(); ++i) {
      versus[i].more += other.versus[i].more;
      versus[i].equal += other.versus[i].equal;
      versus[i].less += other.versus[i].less;
      versus[i].incomparable += other.versus[i].incomparable;
    }
    unsound_count += other.unsound_count;
    for (const auto& u : other.unsound)
      if (unsound.size() < kKeptUnsound) unsound.push_back(u);
  }

  static constexpr std::size_t kKeptUnsound = 16;
};

// Every pair (P, Q) for one Q.
void compare_column(TnumOp op, const std::vector<TnumVariant>& variants, const Universe& u, std::size_t q_index,
                    std::vector<Bounds>& constant_p, std::vector<Bounds>& per_p, std::vector<Tnum>& results,
                    Tally& tally) {
  const Tnum& q = u.tnums[q_index];
  for (uint64_t x = 0; x <= u.low; ++x) {
    Bounds b;
    for (uint32_t m = u.member_start[q_index]; m < u.member_start[q_index + 1]; ++m) {
      const uint64_t r = tnum_op_concrete(op, x, u.members[m]) & u.kept;
      b.all &= r;
      b.any |= r;
    }
    constant_p[x] = b;
  }
  const std::size_t n = variants.size();
  for (std::size_t p_index = 0; p_index < u.tnums.size(); ++p_index) {
    const Tnum& p = u.tnums[p_index];
    Bounds& b = per_p[p_index];
    if (const uint32_t power = u.lowest_unknown[p_index]) {
      const Bounds& zero = per_p[p_index - 2 * power];
      const Bounds& one = per_p[p_index - power];
      b = {zero.all & one.all, zero.any | one.any};
    } else {
      b = constant_p[p.value];
    }
    const Tnum optimal{b.all, b.all ^ b.any};
    for (std::size_t i = 0; i < n; ++i) {
      const Tnum r = variants[i].apply(p, q);
      results[i] = {r.value & u.kept, r.mask & u.kept};
      if (results[i] == optimal) {
        ++tally.optimal[i];
      } else if (!tnum_in(results[i], optimal)) {
        ++tally.unsound_count;
        if (tally.unsound.size() < Tally::kKeptUnsound) tally.unsound.push_back({i, p, q, results[i], optimal});
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = i + 1; j < n; ++j) {
        TnumPairCounts& ij = tally.versus[i * n + j];
        TnumPairCounts& ji = tally.versus[j * n + i];
        if (results[i] == results[j]) {
          ++ij.equal, ++ji.equal;
        } else if (tnum_in(results[j], results[i])) {
          ++ij.more, ++ji.less;
        } else if (tnum_in(results[i], results[j])) {
          ++ij.less, ++ji.more;
        } else {
          ++ij.incomparable, ++ji.incomparable;
        }
      }
    }
  }
}

}  // namespace

TnumPrecisionReport compare_tnum_precision(TnumOp op, const std::vector<TnumVariant>& variants,
                                           const TnumPrecisionOptions& options) {
  if (options.width < 1 || options.width > kTnumPrecisionMaxWidth)
    throw InputError("tnum width " + std::to_string(options.width) + " is outside 1.." +
                     std::to_string(kTnumPrecisionMaxWidth));
  const Universe u(options.width, options.truncate);
  const std::size_t count = u.tnums.size();
  const std::size_t n = variants.size();
  const unsigned jobs = std::clamp<unsigned>(options.jobs, 1, unsigned(count));

  std::atomic<std::size_t> next_q{0};
  std::atomic<uint64_t> done{0};
  std::mutex mutex;
  std::condition_variable finished_cv;
  unsigned finished = 0;
  Tally total(n);

  const auto worker = [&] {
    std::vector<Bounds> constant_p(std::size_t(u.low) + 1);
    std::vector<Bounds> per_p(count);
    std::vector<Tnum> results(n);
    Tally tally(n);
    for (std::size_t q; (q = next_q.fetch_add(1, std::memory_order_relaxed)) < count;) {
      compare_column(op, variants, u, q, constant_p, per_p, results, tally);
      done.fetch_add(count, std::memory_order_relaxed);
    }
    const std::lock_guard lock(mutex);
    total.merge(tally);
    ++finished;
    finished_cv.notify_all();
  };
  std::vector<std::jthread> threads;
  for (unsigned j = 0; j < jobs; ++j) threads.emplace_back(worker);
  {
    std::unique_lock lock(mutex);
    const uint64_t pairs = uint64_t(count) * count;
    while (!finished_cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return finished == jobs; }))
      if (options.progress) {
        lock.unlock();
        options.progress(done.load(std::memory_order_relaxed), pairs);
        lock.lock();
      }
  }
  threads.clear();

  TnumPrecisionReport report;
  report.op = op;
  report.width = options.width;
  report.truncate = options.truncate;
  report.pairs = uint64_t(count) * count;
  for (const auto& v : variants) report.variants.push_back(v.name);
  report.optimal = std::move(total.optimal);
  report.versus = std::move(total.versus);
  report.unsound_count = total.unsound_count;
  report.unsound = std::move(total.unsound);
  return report;
}

}  // namespace tristate
