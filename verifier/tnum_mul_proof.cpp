#include "verifier/tnum_mul_proof.hpp"

#include <chrono>
#include <functional>
#include <sstream>

#include "compiler/error.hpp"
#include "verifier/z3_bv.hpp"

namespace tristate {

namespace {

// The symbols of one lemma's query, in a context of its own.
struct Query {
  z3::context ctx;
  unsigned width;
  explicit Query(unsigned w) : width(w) {}

  Z3Bv bv(const std::string& name) { return {ctx.bv_const(name.c_str(), width)}; }
  Z3Tnum tnum(const std::string& name) { return {bv(name + ".value"), bv(name + ".mask")}; }
  static z3::expr well_formed(const Z3Tnum& t) { return (t.value & t.mask).e == 0; }
  static z3::expr in(const Z3Tnum& t, const Z3Bv& x) { return tnum_contains(t, x); }
  Z3Bv constant(uint64_t c) { return {ctx.bv_val(c, width)}; }
};

// A lemma's verdict: `negation` builds the claim's negation (timed with the solving), unsat proves it.
TnumLemmaResult decide(const std::string& name, const std::string& statement, const std::string& logic,
                       unsigned timeout_ms, const std::function<z3::expr()>& negation) {
  const auto start = std::chrono::steady_clock::now();
  TnumLemmaResult r{name, statement, logic, TnumLemmaVerdict::Unknown, "", 0};
  const z3::expr claim_fails = negation();
  z3::context& ctx = claim_fails.ctx();
  z3::solver solver(ctx);
  if (timeout_ms > 0) {
    z3::params params(ctx);
    params.set("timeout", timeout_ms);
    solver.set(params);
  }
  solver.add(claim_fails);
  switch (solver.check()) {
    case z3::unsat: r.verdict = TnumLemmaVerdict::Proved; break;
    case z3::sat: {
      r.verdict = TnumLemmaVerdict::Refuted;
      std::ostringstream model;
      model << solver.get_model();
      r.detail = model.str();
      break;
    }
    case z3::unknown: r.detail = solver.reason_unknown(); break;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::string bits_logic(unsigned width) { return "QF_BV, " + std::to_string(width) + " bits"; }

// ---- The lemmas (64 bits unless said otherwise) --------------------------------------------

// One step of the union-add long multiplication keeps the invariant: if p is in acc, x in the
// multiplier and y in the multiplicand, then p + (bit 0 of x) * y is in the new accumulator, x >> 1
// in the new multiplier and y << 1 in the new multiplicand.
TnumLemmaResult lemma_union_add_step(unsigned timeout_ms) {
  Query q(64);
  return decide("union-add step",
                "p in acc, x in a, y in b => p + (x & 1 ? y : 0) in the next accumulator, x >> 1 in the next "
                "multiplier, y << 1 in the next multiplicand (tnum_detail::long_multiply_step with union_add_step)",
                bits_logic(64), timeout_ms,
                [&q] {
                  const Z3Tnum acc = q.tnum("acc"), a = q.tnum("a"), b = q.tnum("b");
                  const Z3Bv p = q.bv("p"), x = q.bv("x"), y = q.bv("y");
                  const tnum_detail::LongMultiplication<Z3Bv> next =
                      tnum_detail::long_multiply_step(tnum_detail::LongMultiplication<Z3Bv>{acc, a, b},
                                                      tnum_detail::union_add_step<Z3Bv>);
                  const Z3Bv added{z3::ite((x & q.constant(1)).e == 1, (p + y).e, p.e)};
                  return Query::well_formed(acc) && Query::well_formed(a) && Query::well_formed(b) &&
                         Query::in(acc, p) && Query::in(a, x) && Query::in(b, y) &&
                         !(Query::in(next.acc, added) && Query::in(next.multiplier, x >> 1) &&
                           Query::in(next.multiplicand, y << 1));
                });
}

// A member splits into the known value and the unknown part: x = value + (x & mask), and the
// unknown part is a member of (0; mask).
TnumLemmaResult lemma_split(unsigned timeout_ms) {
  Query q(64);
  return decide("split", "x in a => x = a.value + (x & a.mask) and (x & a.mask) in (0; a.mask)", bits_logic(64),
                timeout_ms,
                [&q] {
                  const Z3Tnum a = q.tnum("a");
                  const Z3Bv x = q.bv("x");
                  const Z3Bv unknown = x & a.mask;
                  return Query::well_formed(a) && Query::in(a, x) &&
                         !((x.e == (a.value + unknown).e) && Query::in(Z3Tnum{q.constant(0), a.mask}, unknown));
                });
}

// The product of the split operands regroups into the three parts the known-first product adds:
// (av + xu)(bv + yu) = av*bv + av*yu + xu*(bv + yu). A polynomial identity over the integers, so
// also modulo 2^64.
TnumLemmaResult lemma_regroup(unsigned timeout_ms) {
  z3::context c;
  return decide("regroup", "(av + xu) * (bv + yu) = av * bv + av * yu + xu * (bv + yu) over the integers",
                "integers (nonlinear)", timeout_ms,
                [&c] {
                  const z3::expr av = c.int_const("av"), bv = c.int_const("bv"), xu = c.int_const("xu"),
                                 yu = c.int_const("yu");
                  return (av + xu) * (bv + yu) != av * bv + av * yu + xu * (bv + yu);
                });
}

// The bounds of a member: a.value <= x <= a.value | a.mask (unsigned).
TnumLemmaResult lemma_member_bounds(unsigned timeout_ms) {
  Query q(64);
  return decide("member bounds", "x in a => a.value <= x <= a.value | a.mask (unsigned)", bits_logic(64), timeout_ms,
                [&q] {
                  const Z3Tnum a = q.tnum("a");
                  const Z3Bv x = q.bv("x");
                  return Query::well_formed(a) && Query::in(a, x) &&
                         !(z3::ule(a.value.e, x.e) && z3::ule(x.e, (a.value | a.mask).e));
                });
}

// Multiplication is monotonic on the naturals.
TnumLemmaResult lemma_monotonic(unsigned timeout_ms) {
  z3::context c;
  return decide("monotonic", "0 <= l1 <= x <= h1 and 0 <= l2 <= y <= h2 => l1 * l2 <= x * y <= h1 * h2 over the integers",
                "integers (nonlinear)", timeout_ms,
                [&c] {
                  const z3::expr l1 = c.int_const("l1"), x = c.int_const("x"), h1 = c.int_const("h1"),
                                 l2 = c.int_const("l2"), y = c.int_const("y"), h2 = c.int_const("h2");
                  return 0 <= l1 && l1 <= x && x <= h1 && 0 <= l2 && l2 <= y && y <= h2 &&
                         !(l1 * l2 <= x * y && x * y <= h1 * h2);
                });
}

// The range estimate holds every z between the products of the bounds when the product of the
// upper bounds fits, and everything when it does not.
TnumLemmaResult lemma_range(unsigned timeout_ms) {
  Query q(64);
  return decide("range",
                "z in tnum_detail::mul_range(a, b) when max(a) * max(b) overflows, or when a.value * b.value <= z <= "
                "max(a) * max(b)",
                bits_logic(64), timeout_ms,
                [&q] {
                  const Z3Tnum a = q.tnum("a"), b = q.tnum("b");
                  const Z3Bv z = q.bv("z");
                  const Z3Bv max_a = a.value | a.mask, max_b = b.value | b.mask;
                  const z3::expr fits(q.ctx, Z3_mk_bvmul_no_overflow(q.ctx, max_a.e, max_b.e, false));
                  const z3::expr between = z3::ule((a.value * b.value).e, z.e) && z3::ule(z.e, (max_a * max_b).e);
                  return Query::well_formed(a) && Query::well_formed(b) && (!fits || between) &&
                         !Query::in(tnum_detail::mul_range(a, b), z);
                });
}

// Every member pair is one of the enumerated choices when the enumerated bits are complete, and
// `complete` is all ones or all zeros.
TnumLemmaResult lemma_enumeration_covers(unsigned timeout_ms) {
  Query q(64);
  return decide("enumeration covers",
                "x in a, y in b, the enumerated bits complete => (x, y) is one of the 16 choices of "
                "tnum_detail::join_enumerated; `complete` is 0 or all ones",
                bits_logic(64), timeout_ms,
                [&q] {
                  const Z3Tnum a = q.tnum("a"), b = q.tnum("b");
                  const Z3Bv x = q.bv("x"), y = q.bv("y");
                  const tnum_detail::EnumeratedBits<Z3Bv> bits = tnum_detail::enumerated_bits(a, b);
                  const z3::expr complete = bits.complete.e == q.constant(~uint64_t{0}).e;
                  const z3::expr two_valued = complete || bits.complete.e == 0;
                  // The pairs join_enumerated multiplies, recorded through its `op`; choice c is the
                  // one whose enumerated bits are those x and y have (the witness, which spares Z3
                  // the search among the 16).
                  z3::expr_vector covered(q.ctx);
                  unsigned choice = 0;
                  const auto record = [&](const Z3Bv& u, const Z3Bv& v) {
                    z3::expr chosen = q.ctx.bool_val(true);
                    for (unsigned i = 0; i < tnum_detail::kEnumeratedBits; ++i) {
                      const z3::expr has = ((x & bits.in_a[i]) | (y & bits.in_b[i])).e != 0;
                      chosen = chosen && ((choice >> i) & 1 ? has : !has);
                    }
                    covered.push_back(z3::implies(chosen, u.e == x.e && v.e == y.e));
                    ++choice;
                    return u;
                  };
                  tnum_detail::join_enumerated(a, b, bits, record);
                  return Query::well_formed(a) && Query::well_formed(b) && Query::in(a, x) && Query::in(b, y) &&
                         !(two_valued && (!complete || z3::mk_and(covered)));
                });
}

// The join holds every value it joins: join_enumerated with products replaced by 16 free values
// contains each of them. With the lemma above, f(x, y) is one of the joined values for any f (by
// congruence), so the product is.
TnumLemmaResult lemma_join_contains(unsigned timeout_ms) {
  Query q(64);
  return decide("join contains", "each of the 16 values tnum_detail::join_enumerated joins is in its result",
                bits_logic(64), timeout_ms,
                [&q] {
                  const Z3Tnum a = q.tnum("a"), b = q.tnum("b");
                  std::vector<Z3Bv> values;
                  const auto fresh = [&](const Z3Bv&, const Z3Bv&) {
                    values.push_back(q.bv("v" + std::to_string(values.size())));
                    return values.back();
                  };
                  const Z3Tnum joined = tnum_detail::join_enumerated(a, b, tnum_detail::enumerated_bits(a, b), fresh);
                  z3::expr_vector outside(q.ctx);
                  for (const Z3Bv& v : values) outside.push_back(!Query::in(joined, v));
                  return z3::mk_or(outside);
                });
}

// Selecting whole tnums by an all-ones or all-zeros mask, and intersecting, keep members.
TnumLemmaResult lemma_select_intersect(unsigned timeout_ms) {
  Query q(64);
  return decide("select and intersect",
                "c all ones and z in p, or c zero and z in q => z in select(c, p, q); z in p and z in q => z in "
                "tnum_intersect(p, q)",
                bits_logic(64), timeout_ms,
                [&q] {
                  const Z3Tnum p = q.tnum("p"), r = q.tnum("q");
                  const Z3Bv z = q.bv("z"), c = q.bv("c");
                  const z3::expr ones = c.e == q.constant(~uint64_t{0}).e;
                  const z3::expr chosen = (ones && Query::in(p, z)) || (c.e == 0 && Query::in(r, z));
                  const z3::expr select_fails = chosen && !Query::in(tnum_detail::select(c, p, r), z);
                  const z3::expr intersect_fails = Query::in(p, z) && Query::in(r, z) && !Query::in(tnum_intersect(p, r), z);
                  return Query::well_formed(p) && Query::well_formed(r) && (select_fails || intersect_fails);
                });
}

// ---- Unrolled parts of Tristate's multiplication --------------------------------------------

TnumLemmaResult unrolled_part(const std::string& name, const std::string& statement, unsigned width, unsigned timeout_ms,
                              const std::function<z3::expr(Query&, const Z3Tnum&, const Z3Tnum&, const Z3Bv&)>& claim) {
  Query q(width);
  return decide(name, statement, bits_logic(width) + " unrolled", timeout_ms,
                [&q, &claim] {
                  const Z3Tnum a = q.tnum("a"), b = q.tnum("b");
                  const Z3Bv x = q.bv("x"), y = q.bv("y");
                  return Query::well_formed(a) && Query::well_formed(b) && Query::in(a, x) && Query::in(b, y) &&
                         !claim(q, a, b, x * y);
                });
}

}  // namespace

bool TnumMulProof::proved() const {
  for (const auto& l : lemmas)
    if (l.verdict != TnumLemmaVerdict::Proved) return false;
  return !lemmas.empty();
}

bool TnumMulProof::refuted() const {
  for (const auto& l : lemmas)
    if (l.verdict == TnumLemmaVerdict::Refuted) return true;
  return false;
}

bool tnum_mul_has_inductive_proof(TnumMul variant) {
  return variant == TnumMul::Kernel618 || variant == TnumMul::Tristate;
}

TnumMulProof prove_tnum_mul_inductive(TnumMul variant, unsigned timeout_ms) {
  if (!tnum_mul_has_inductive_proof(variant))
    throw InputError("the " + std::string(tnum_mul_name(variant)) +
                     " multiplication has no 64-bit proof by lemmas (only kernel618 and tristate); prove it unrolled "
                     "with --width");
  const auto start = std::chrono::steady_clock::now();
  TnumMulProof proof{variant, 64, {}, 0};
  proof.lemmas.push_back(lemma_union_add_step(timeout_ms));
  if (variant == TnumMul::Tristate) {
    proof.lemmas.push_back(lemma_split(timeout_ms));
    proof.lemmas.push_back(lemma_regroup(timeout_ms));
    proof.lemmas.push_back(lemma_member_bounds(timeout_ms));
    proof.lemmas.push_back(lemma_monotonic(timeout_ms));
    proof.lemmas.push_back(lemma_range(timeout_ms));
    proof.lemmas.push_back(lemma_enumeration_covers(timeout_ms));
    proof.lemmas.push_back(lemma_join_contains(timeout_ms));
    proof.lemmas.push_back(lemma_select_intersect(timeout_ms));
  }
  proof.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return proof;
}

TnumMulProof prove_tnum_mul_tristate_unrolled(unsigned width, unsigned timeout_ms) {
  if (width < 1 || width > 64) throw InputError("width " + std::to_string(width) + " is not between 1 and 64");
  const auto start = std::chrono::steady_clock::now();
  TnumMulProof proof{TnumMul::Tristate, width, {}, 0};
  proof.lemmas.push_back(unrolled_part(
      "enumerated join", "the enumerated bits complete => x * y in the join of the enumerated products", width,
      timeout_ms, [](Query& q, const Z3Tnum& a, const Z3Tnum& b, const Z3Bv& product) {
        const auto bits = tnum_detail::enumerated_bits(a, b);
        const auto multiply = [](const Z3Bv& u, const Z3Bv& v) { return u * v; };
        return bits.complete.e != q.constant(~uint64_t{0}).e ||
               Query::in(tnum_detail::join_enumerated(a, b, bits, multiply), product);
      }));
  proof.lemmas.push_back(unrolled_part("6.18 product", "x * y in tnum_mul_kernel618(a, b)", width, timeout_ms,
                                       [](Query&, const Z3Tnum& a, const Z3Tnum& b, const Z3Bv& product) {
                                         return Query::in(tnum_mul_kernel618(a, b), product);
                                       }));
  proof.lemmas.push_back(unrolled_part("known-first product", "x * y in tnum_detail::mul_known_first(a, b)", width,
                                       timeout_ms, [](Query&, const Z3Tnum& a, const Z3Tnum& b, const Z3Bv& product) {
                                         return Query::in(tnum_detail::mul_known_first(a, b), product);
                                       }));
  proof.lemmas.push_back(unrolled_part("range", "x * y in tnum_detail::mul_range(a, b)", width, timeout_ms,
                                       [](Query&, const Z3Tnum& a, const Z3Tnum& b, const Z3Bv& product) {
                                         return Query::in(tnum_detail::mul_range(a, b), product);
                                       }));
  proof.lemmas.push_back(lemma_select_intersect(timeout_ms));
  proof.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return proof;
}

}  // namespace tristate
