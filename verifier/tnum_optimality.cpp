#include "verifier/tnum_optimality.hpp"

#include <array>
#include <bit>
#include <chrono>

#include "analyzer/tnum_precision.hpp"
#include "compiler/error.hpp"
#include "verifier/z3_bv.hpp"

namespace tristate {

namespace {

enum class Op { Add, Sub, And, Or, Xor, LossyAnd, BrokenAdd };

struct NamedOp {
  std::string_view name;
  Op op;
};

constexpr std::array<NamedOp, 7> kOperators{{{"add", Op::Add},
                                             {"sub", Op::Sub},
                                             {"and", Op::And},
                                             {"or", Op::Or},
                                             {"xor", Op::Xor},
                                             {"lossy-and", Op::LossyAnd},
                                             {"broken-add", Op::BrokenAdd}}};

// The concrete operation and the abstract operator, on Z3 bit-vectors for the queries and on
// uint64_t for shrinking and enumeration. All of them have the low-bits property (bits below N of
// a result depend only on bits below N of the operands), so on uint64_t the N-bit operator is the
// 64-bit one truncated to N bits.
template <BitVector V>
V concrete(Op op, const V& x, const V& y) {
  switch (op) {
    case Op::Add:
    case Op::BrokenAdd: return x + y;
    case Op::Sub: return x - y;
    case Op::And:
    case Op::LossyAnd: return x & y;
    case Op::Or: return x | y;
    case Op::Xor: return x ^ y;
  }
  throw InternalError("tnum optimality: unhandled operator");
}

template <BitVector V>
BasicTnum<V> abstract(Op op, const BasicTnum<V>& p, const BasicTnum<V>& q) {
  switch (op) {
    case Op::Add: return tnum_add(p, q);
    case Op::Sub: return tnum_sub(p, q);
    case Op::And: return tnum_and(p, q);
    case Op::Or: return tnum_or(p, q);
    case Op::Xor: return tnum_xor(p, q);
    case Op::LossyAnd: return tnum_and_lossy(p, q);
    case Op::BrokenAdd: return tnum_add_without_carries(p, q);
  }
  throw InternalError("tnum optimality: unhandled operator");
}

uint64_t low_bits(unsigned width) { return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1; }

Tnum abstract_at(Op op, const Tnum& p, const Tnum& q, unsigned width) {
  const Tnum r = abstract(op, p, q);
  return {r.value & low_bits(width), r.mask & low_bits(width)};
}

Op find_operator(std::string_view name) {
  for (const auto& [n, op] : kOperators)
    if (n == name) return op;
  std::string known;
  for (const auto& n : tnum_optimality_operators()) known += (known.empty() ? "" : ", ") + n;
  throw InputError("unknown tnum operator '" + std::string(name) + "' for optimality (known: " + known + ")");
}

z3::solver make_solver(z3::context& ctx, unsigned timeout_ms) {
  z3::solver solver(ctx, "QF_BV");
  if (timeout_ms > 0) {
    z3::params params(ctx);
    params.set("timeout", timeout_ms);
    solver.set(params);
  }
  return solver;
}

uint64_t value_of(const z3::model& model, const z3::expr& e) { return model.eval(e, true).get_numeral_uint64(); }

Tnum tnum_of(const z3::model& model, const Z3Tnum& t) { return {value_of(model, t.value.e), value_of(model, t.mask.e)}; }

Z3Tnum z3_const(z3::context& ctx, const Tnum& t, unsigned width) {
  return {Z3Bv{ctx.bv_val(t.value, width)}, Z3Bv{ctx.bv_val(t.mask, width)}};
}

// What every member pair of (p, q) gives at `bit`: true or false, or nullopt when both values
// occur. TnumUnknown when a query is unknown.
using Agreement = std::variant<std::optional<bool>, TnumUnknown>;

Agreement agreement(Op op, const Tnum& p, const Tnum& q, unsigned bit, unsigned width, unsigned timeout_ms) {
  z3::context ctx;
  const Z3Tnum zp = z3_const(ctx, p, width);
  const Z3Tnum zq = z3_const(ctx, q, width);
  const Z3Bv x{ctx.bv_const("x", width)};
  const Z3Bv y{ctx.bv_const("y", width)};
  const z3::expr at_bit = (concrete(op, x, y).e & ctx.bv_val(uint64_t{1} << bit, width)) != 0;
  z3::solver solver = make_solver(ctx, timeout_ms);
  solver.add(tnum_contains(zp, x) && tnum_contains(zq, y));
  std::array<bool, 2> occurs{};
  for (bool value : {false, true}) {
    z3::expr_vector assumption(ctx);
    assumption.push_back(value ? at_bit : !at_bit);
    switch (solver.check(assumption)) {
      case z3::sat: occurs[value] = true; break;
      case z3::unsat: break;
      case z3::unknown: return TnumUnknown{solver.reason_unknown()};
    }
  }
  if (occurs[0] && occurs[1]) return std::optional<bool>{};
  if (!occurs[0] && !occurs[1]) throw InternalError("tnum optimality: a well-formed tnum pair without members");
  return std::optional<bool>{occurs[1]};
}

// What every member pair of (p, q) gives at `bit`, by enumeration (on uint64_t, truncated to
// `width` bits), or nullopt when both values occur.
std::optional<bool> enumerated_agreement(Op op, const Tnum& p, const Tnum& q, unsigned bit, unsigned width) {
  const uint64_t b = uint64_t{1} << bit;
  bool zero = false, one = false;
  for (uint64_t sx = p.mask;; sx = (sx - 1) & p.mask) {
    for (uint64_t sy = q.mask;; sy = (sy - 1) & q.mask) {
      ((concrete(op, p.value | sx, q.value | sy) & low_bits(width) & b) ? one : zero) = true;
      if (zero && one) return std::nullopt;
      if (sy == 0) break;
    }
    if (sx == 0) break;
  }
  return one;
}

// Makes a counterexample small enough to read and to enumerate. First fixes unknown operand bits
// one at a time (to 0, else to 1) while the result still leaves the bit unknown: the members of
// the smaller operands are members of the old ones, so they still agree there. Then, once few
// member pairs are left, clears known 1s in the operands where the result still leaves the bit
// unknown and the enumerated member pairs still agree.
void shrink(Op op, TnumOptimalityCounterexample& c) {
  const uint64_t b = uint64_t{1} << c.bit;
  auto still_unknown = [&] { return (abstract_at(op, c.p, c.q, c.width).mask & b) != 0; };
  for (Tnum* side : {&c.p, &c.q}) {
    for (uint64_t rest = side->mask; rest != 0; rest &= rest - 1) {
      const uint64_t j = rest & (~rest + 1);
      for (uint64_t fixed : {uint64_t{0}, j}) {
        const Tnum before = *side;
        *side = {before.value | fixed, before.mask & ~j};
        if (still_unknown()) break;
        *side = before;
      }
    }
  }
  if (std::popcount(c.p.mask) + std::popcount(c.q.mask) <= 12) {
    for (Tnum* side : {&c.p, &c.q}) {
      for (uint64_t rest = side->value; rest != 0; rest &= rest - 1) {
        const Tnum before = *side;
        side->value &= ~(rest & (~rest + 1));
        const auto value = still_unknown() ? enumerated_agreement(op, c.p, c.q, c.bit, c.width) : std::nullopt;
        if (value)
          c.value = *value;
        else
          *side = before;
      }
    }
  }
  c.abstract = abstract_at(op, c.p, c.q, c.width);
}

// Every pair of `width`-bit tnums: the join of the member results (known where they all agree)
// against the operator's result, both in the low `width` bits.
std::optional<TnumOptimalityCounterexample> search_at(Op op, unsigned width) {
  const uint64_t low = low_bits(width);
  const std::vector<Tnum> tnums = all_tnums(width);
  for (const Tnum& p : tnums) {
    for (const Tnum& q : tnums) {
      const Tnum r = abstract_at(op, p, q, width);
      uint64_t ones = 0, zeros = 0;  // bits some member result has 1 (0) in
      for (uint64_t sx = p.mask;; sx = (sx - 1) & p.mask) {
        for (uint64_t sy = q.mask;; sy = (sy - 1) & q.mask) {
          const uint64_t z = concrete(op, p.value | sx, q.value | sy) & low;
          ones |= z;
          zeros |= ~z & low;
          if (sy == 0) break;
        }
        if ((ones & zeros & r.mask) == r.mask || sx == 0) break;
      }
      if (const uint64_t missed = r.mask & ~(ones & zeros)) {
        const auto bit = static_cast<unsigned>(std::countr_zero(missed));
        return TnumOptimalityCounterexample{p, q, width, bit, ((ones >> bit) & 1) != 0, r};
      }
    }
  }
  return std::nullopt;
}

std::optional<TnumOptimalityCounterexample> search(Op op, unsigned max_width) {
  for (unsigned w = 1; w <= max_width; ++w)
    if (auto found = search_at(op, w)) return found;
  return std::nullopt;
}

// The named witnesses, per operand: its smallest member v, its largest v + m, and v + bit, its
// smallest member with the bit set (a member only where the bit is unknown). Written with + rather
// than |, equal for well-formed tnums, so that Z3's sums of them match the operators' own sums;
// with | (and membership asserted in the query) the sub query took 3 s instead of 0.1 s.
enum Pick { Min, Max, Flip };

// Which pairs may witness a bit the operator leaves unknown:
//   add: where min + min and max + max differ a carry decides the bit; elsewhere an operand's bit
//        is unknown, and setting it in min + min flips the bit (adding 2^i always flips bit i);
//   sub: likewise with min - max and max - min, and subtracting 2^i;
//   and: max & max gives 1; an unknown operand bit is 0 in that operand's min;
//   or:  min | min gives 0, max | max gives 1;
//   xor: min ^ min, and either operand's bit flipped.
std::vector<std::pair<Pick, Pick>> witness_pairs(Op op) {
  switch (op) {
    case Op::Add:
    case Op::BrokenAdd: return {{Min, Min}, {Max, Max}, {Flip, Min}, {Min, Flip}};
    case Op::Sub: return {{Min, Min}, {Max, Min}, {Min, Max}, {Flip, Min}, {Min, Flip}};
    case Op::And:
    case Op::LossyAnd: return {{Max, Max}, {Min, Max}, {Max, Min}};
    case Op::Or: return {{Min, Min}, {Max, Max}};
    case Op::Xor: return {{Min, Min}, {Flip, Min}, {Min, Flip}};
  }
  throw InternalError("tnum optimality: unhandled operator");
}

// The checks run in this order; each unknown names its query.
TnumOptimalityVerdict prove(Op op, const TnumOptimalityOptions& options) {
  const unsigned w = options.width;
  z3::context ctx;
  auto var = [&](const char* n) { return Z3Bv{ctx.bv_const(n, w)}; };
  auto well_formed = [](const Z3Tnum& t) { return (t.value & t.mask).e == 0; };
  const Z3Bv bit = var("bit");
  const Z3Bv zero = BvTraits<Z3Bv>::constant(bit, 0);
  const z3::expr one_hot = bit.e != 0 && (bit & (bit - BvTraits<Z3Bv>::constant(bit, 1))).e == 0;
  auto has = [&](const Z3Bv& a, const Z3Bv& b) { return (a & b).e != zero.e; };
  auto pick = [&](const Z3Tnum& t, Pick which) {
    return which == Min ? t.value : which == Max ? t.value + t.mask : t.value + bit;
  };

  // Members: the witness terms are members of a well-formed tnum (v + bit where the bit is in m),
  // so the witness query need not say so.
  {
    const Z3Tnum t{var("v"), var("m")};
    z3::solver solver = make_solver(ctx, options.timeout_ms);
    solver.add(well_formed(t) && one_hot);
    solver.add(!(tnum_contains(t, pick(t, Min)) && tnum_contains(t, pick(t, Max)) &&
                 z3::implies(has(t.mask, bit), tnum_contains(t, pick(t, Flip)))));
    switch (solver.check()) {
      case z3::unsat: break;
      case z3::unknown: return TnumUnknown{"witness membership: " + solver.reason_unknown()};
      case z3::sat: throw InternalError("tnum optimality: a witness term is not a member of its tnum");
    }
  }

  const Z3Tnum p{var("v1"), var("m1")};
  const Z3Tnum q{var("v2"), var("m2")};
  const z3::expr inputs = well_formed(p) && well_formed(q);
  const Z3Tnum r = abstract(op, p, q);

  // Soundness: the known bits of R are right (as verifier/tnum_proof.cpp asks it).
  {
    const Z3Bv x = var("x");
    const Z3Bv y = var("y");
    const Z3Bv z = concrete(op, x, y);
    z3::solver solver = make_solver(ctx, options.timeout_ms);
    solver.add(inputs && tnum_contains(p, x) && tnum_contains(q, y) && !tnum_contains(r, z));
    switch (solver.check()) {
      case z3::unsat: break;
      case z3::unknown: return TnumUnknown{"soundness: " + solver.reason_unknown()};
      case z3::sat: {
        const z3::model m = solver.get_model();
        return TnumCounterexample{tnum_of(m, p),      tnum_of(m, q),      value_of(m, x.e), value_of(m, y.e),
                                  value_of(m, z.e), tnum_of(m, r), std::nullopt};
      }
    }
  }

  // Witnesses: an unknown bit of R that no named pair gives 0 in, or none gives 1.
  z3::expr_vector gives_zero(ctx), gives_one(ctx);
  for (const auto& [a, b] : witness_pairs(op)) {
    z3::expr valid = ctx.bool_val(true);
    if (a == Flip) valid = valid && has(p.mask, bit);
    if (b == Flip) valid = valid && has(q.mask, bit);
    const z3::expr set = has(concrete(op, pick(p, a), pick(q, b)), bit);
    gives_zero.push_back(valid && !set);
    gives_one.push_back(valid && set);
  }
  z3::solver solver = make_solver(ctx, options.timeout_ms);
  solver.add(inputs && one_hot && has(r.mask, bit));
  solver.add(!(z3::mk_or(gives_zero) && z3::mk_or(gives_one)));
  switch (solver.check()) {
    case z3::unsat: return TnumOptimal{};
    case z3::unknown: return TnumUnknown{"witnesses: " + solver.reason_unknown()};
    case z3::sat: break;
  }

  // The named witnesses miss this case: a counterexample if every member pair agrees there.
  const z3::model m = solver.get_model();
  TnumOptimalityCounterexample c{tnum_of(m, p), tnum_of(m, q), w,
                                 static_cast<unsigned>(std::countr_zero(value_of(m, bit.e))), false, tnum_of(m, r)};
  const Agreement agreed = agreement(op, c.p, c.q, c.bit, w, options.timeout_ms);
  if (const auto* u = std::get_if<TnumUnknown>(&agreed)) return TnumUnknown{"checking a case: " + u->reason};
  if (const auto value = std::get<std::optional<bool>>(agreed)) {
    c.value = *value;
    shrink(op, c);
    return c;
  }
  const unsigned search_width = std::min(options.search_width, w);
  if (auto found = search(op, search_width)) return *found;
  return TnumUnknown{"the witness terms miss P = " + tnum_strn(c.p) + ", Q = " + tnum_strn(c.q) + ", bit " +
                     std::to_string(c.bit) + ", where member pairs give both values; no counterexample among " +
                     "tnums of up to " + std::to_string(search_width) + " bits"};
}

}  // namespace

const std::vector<std::string>& tnum_optimality_operators() {
  static const std::vector<std::string> names{"add", "sub", "and", "or", "xor"};
  return names;
}

TnumOptimalityResult prove_tnum_optimality(std::string_view name, const TnumOptimalityOptions& options) {
  const Op op = find_operator(name);
  if (options.width < 1 || options.width > 64)
    throw InputError("width " + std::to_string(options.width) + " is not between 1 and 64");
  if (options.search_width > 8)
    throw InputError("search width " + std::to_string(options.search_width) + " is above 8 (16^N member pairs)");
  const auto start = std::chrono::steady_clock::now();
  TnumOptimalityResult result{std::string(name), options.width, prove(op, options), 0};
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::optional<TnumOptimalityCounterexample> search_tnum_optimality_counterexample(std::string_view name,
                                                                                   unsigned max_width) {
  const Op op = find_operator(name);
  if (max_width > 8) throw InputError("search width " + std::to_string(max_width) + " is above 8 (16^N member pairs)");
  return search(op, max_width);
}

}  // namespace tristate
