#include "verifier/tnum_proof.hpp"

#include <algorithm>
#include <chrono>
#include <functional>

#include "compiler/error.hpp"
#include "verifier/z3_bv.hpp"

namespace tristate {

namespace {

// The symbolic inputs of one query.
struct Inputs {
  z3::context& ctx;
  unsigned width;
  TnumMul mul;
  Z3Tnum p;
  Z3Tnum q;
  Z3Bv x;
  Z3Bv y;
};

// One case of an operator (one parameter value): what it assumes besides well-formedness (and,
// unless the operator says otherwise, x in P and y in Q), the concrete result computed with Z3's
// own operations, and the operator's abstract result from analyzer/tnum.hpp.
struct Case {
  z3::expr assumption;
  z3::expr concrete;
  Z3Tnum abstract;
};

struct Operator {
  std::string name;
  bool width_generic = true;
  std::string_view parameter;  // what the parameter is; empty when there is none
  std::function<std::vector<unsigned>(unsigned width)> parameters;
  bool members = true;  // assume x in P and y in Q
  std::function<Case(const Inputs&, unsigned parameter)> build;
};

std::vector<unsigned> no_parameter(unsigned) { return {0}; }

std::vector<unsigned> every_amount(unsigned width) {
  std::vector<unsigned> out(width);
  for (unsigned i = 0; i < width; ++i) out[i] = i;
  return out;
}

z3::expr yes(const Inputs& in) { return in.ctx.bool_val(true); }

// The low `bits` bits of e, zero-extended to 64.
z3::expr zext_low(const z3::expr& e, unsigned bits) { return z3::zext(e.extract(bits - 1, 0), 64 - bits); }

// The bytes of the low `bytes` bytes of e in reverse order, zero-extended to 64.
z3::expr byte_swap(const z3::expr& e, unsigned bytes) {
  z3::expr out = e.extract(7, 0);
  for (unsigned i = 1; i < bytes; ++i) out = z3::concat(out, e.extract(8 * i + 7, 8 * i));
  return bytes == 8 ? out : z3::zext(out, 64 - 8 * bytes);
}

Case binary(const Inputs& in, z3::expr concrete, Z3Tnum abstract) {
  return {yes(in), std::move(concrete), std::move(abstract)};
}

const std::vector<Operator>& operator_table() {
  static const std::vector<Operator> table = [] {
    std::vector<Operator> t;
    auto simple = [&t](std::string name, bool generic, std::function<Case(const Inputs&, unsigned)> build) {
      t.push_back({std::move(name), generic, {}, no_parameter, true, std::move(build)});
    };
    simple("add", true, [](const Inputs& in, unsigned) { return binary(in, in.x.e + in.y.e, tnum_add(in.p, in.q)); });
    simple("sub", true, [](const Inputs& in, unsigned) { return binary(in, in.x.e - in.y.e, tnum_sub(in.p, in.q)); });
    simple("neg", true, [](const Inputs& in, unsigned) { return binary(in, -in.x.e, tnum_neg(in.p)); });
    simple("and", true, [](const Inputs& in, unsigned) { return binary(in, in.x.e & in.y.e, tnum_and(in.p, in.q)); });
    simple("or", true, [](const Inputs& in, unsigned) { return binary(in, in.x.e | in.y.e, tnum_or(in.p, in.q)); });
    simple("xor", true, [](const Inputs& in, unsigned) { return binary(in, in.x.e ^ in.y.e, tnum_xor(in.p, in.q)); });
    simple("mul", true, [](const Inputs& in, unsigned) {
      return binary(in, in.x.e * in.y.e, tnum_mul_variant(in.mul, in.p, in.q));
    });
    t.push_back({"lshift", true, "shift amount", every_amount, true, [](const Inputs& in, unsigned n) {
                   return binary(in, z3::shl(in.x.e, static_cast<int>(n)), tnum_lshift(in.p, n));
                 }});
    t.push_back({"rshift", true, "shift amount", every_amount, true, [](const Inputs& in, unsigned n) {
                   return binary(in, z3::lshr(in.x.e, static_cast<int>(n)), tnum_rshift(in.p, n));
                 }});
    t.push_back({"arshift", true, "shift amount", every_amount, true, [](const Inputs& in, unsigned n) {
                   return binary(in, z3::ashr(in.x.e, static_cast<int>(n)), tnum_arshift(in.p, n, 64));
                 }});
    // The 32-bit form: the low half shifted arithmetically, zero-extended.
    t.push_back({"arshift32", false, "shift amount", [](unsigned) { return every_amount(32); }, true,
                 [](const Inputs& in, unsigned n) {
                   const z3::expr low = in.x.e.extract(31, 0);
                   return binary(in, z3::zext(z3::ashr(low, static_cast<int>(n)), 32), tnum_arshift(in.p, n, 32));
                 }});
    // Either side's member is in the union: the parameter says which.
    t.push_back({"union", true, "side", [](unsigned) { return std::vector<unsigned>{0, 1}; }, true,
                 [](const Inputs& in, unsigned side) {
                   return binary(in, side == 0 ? in.x.e : in.y.e, tnum_union(in.p, in.q));
                 }});
    simple("intersect", true, [](const Inputs& in, unsigned) {
      return Case{tnum_contains(in.q, in.x), in.x.e, tnum_intersect(in.p, in.q)};
    });
    // tnum_range(min, max) holds every x with min <= x <= max; min and max are P's and Q's values.
    t.push_back({"range", true, {}, no_parameter, false, [](const Inputs& in, unsigned) {
                   const z3::expr assumption = z3::ule(in.p.value.e, in.x.e) && z3::ule(in.x.e, in.q.value.e) &&
                                               in.p.mask.e == 0 && in.q.mask.e == 0;
                   return Case{assumption, in.x.e, tnum_range(in.p.value, in.q.value)};
                 }});
    t.push_back({"cast", false, "size", [](unsigned) { return std::vector<unsigned>{1, 2, 4, 8}; }, true,
                 [](const Inputs& in, unsigned size) {
                   return binary(in, size == 8 ? in.x.e : zext_low(in.x.e, 8 * size), tnum_cast(in.p, size));
                 }});
    simple("subreg", false, [](const Inputs& in, unsigned) { return binary(in, zext_low(in.x.e, 32), tnum_subreg(in.p)); });
    simple("clear_subreg", false, [](const Inputs& in, unsigned) {
      return binary(in, z3::concat(in.x.e.extract(63, 32), in.ctx.bv_val(0, 32)), tnum_clear_subreg(in.p));
    });
    simple("with_subreg", false, [](const Inputs& in, unsigned) {
      return binary(in, z3::concat(in.x.e.extract(63, 32), in.y.e.extract(31, 0)), tnum_with_subreg(in.p, in.q));
    });
    // The constant is y (any value).
    simple("const_subreg", false, [](const Inputs& in, unsigned) {
      return binary(in, z3::concat(in.x.e.extract(63, 32), in.y.e.extract(31, 0)), tnum_const_subreg(in.p, in.y));
    });
    simple("bswap16", false, [](const Inputs& in, unsigned) { return binary(in, byte_swap(in.x.e, 2), tnum_bswap16(in.p)); });
    simple("bswap32", false, [](const Inputs& in, unsigned) { return binary(in, byte_swap(in.x.e, 4), tnum_bswap32(in.p)); });
    simple("bswap64", false, [](const Inputs& in, unsigned) { return binary(in, byte_swap(in.x.e, 8), tnum_bswap64(in.p)); });
    simple("broken-add", true, [](const Inputs& in, unsigned) {
      return binary(in, in.x.e + in.y.e, tnum_add_without_carries(in.p, in.q));
    });
    return t;
  }();
  return table;
}

const Operator* find_operator(std::string_view name) {
  for (const auto& op : operator_table())
    if (op.name == name) return &op;
  return nullptr;
}

uint64_t value_of(const z3::model& model, const z3::expr& e) { return model.eval(e, true).get_numeral_uint64(); }

Tnum tnum_of(const z3::model& model, const Z3Tnum& t) { return {value_of(model, t.value.e), value_of(model, t.mask.e)}; }

}  // namespace

const std::vector<std::string>& tnum_proof_operators() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& op : operator_table())
      if (op.name != "broken-add") out.push_back(op.name);
    return out;
  }();
  return names;
}

std::string_view tnum_proof_parameter_name(std::string_view op) {
  const Operator* found = find_operator(op);
  return found ? found->parameter : std::string_view{};
}

bool tnum_proof_width_generic(std::string_view op) {
  const Operator* found = find_operator(op);
  return found && found->width_generic;
}

std::optional<TnumMul> parse_tnum_mul(std::string_view name) {
  for (TnumMul v : {TnumMul::KernelPre2021, TnumMul::Our, TnumMul::Kernel618, TnumMul::Tristate})
    if (tnum_mul_name(v) == name) return v;
  return std::nullopt;
}

TnumProofResult prove_tnum_operator(std::string_view name, const TnumProofOptions& options) {
  const Operator* op = find_operator(name);
  if (!op) {
    std::string known;
    for (const auto& n : tnum_proof_operators()) known += (known.empty() ? "" : ", ") + n;
    throw InputError("unknown tnum operator '" + std::string(name) + "' (known: " + known + ")");
  }
  if (options.width < 1 || options.width > 64)
    throw InputError("width " + std::to_string(options.width) + " is not between 1 and 64");
  if (!op->width_generic && options.width != 64)
    throw InputError("tnum operator '" + op->name + "' assumes 64-bit operands; it is proved at width 64 only");

  const auto start = std::chrono::steady_clock::now();
  z3::context ctx;
  const unsigned w = options.width;
  auto var = [&](const char* n) { return Z3Bv{ctx.bv_const(n, w)}; };
  const Z3Tnum p{var("v1"), var("m1")};
  const Z3Tnum q{var("v2"), var("m2")};
  const Inputs in{ctx, w, options.mul, p, q, var("x"), var("y")};
  const z3::expr parameter = ctx.int_const("parameter");

  z3::solver solver(ctx, "QF_BV");
  if (options.timeout_ms > 0) {
    z3::params params(ctx);
    params.set("timeout", options.timeout_ms);
    solver.set(params);
  }
  solver.add((p.value & p.mask).e == 0 && (q.value & q.mask).e == 0);
  if (op->members) solver.add(tnum_contains(p, in.x) && tnum_contains(q, in.y));

  // Every parameter value in one query: the model's `parameter` names the failing case.
  const std::vector<unsigned> values = op->parameters(w);
  std::vector<Case> cases;
  z3::expr_vector violations(ctx);
  for (unsigned v : values) {
    cases.push_back(op->build(in, v));
    const Case& c = cases.back();
    z3::expr violation = c.assumption && !tnum_contains(c.abstract, Z3Bv{c.concrete});
    if (values.size() > 1) violation = parameter == ctx.int_val(v) && violation;
    violations.push_back(violation);
  }
  solver.add(z3::mk_or(violations));

  TnumProofResult result{op->name, w, TnumProved{}, 0};
  switch (solver.check()) {
    case z3::unsat: break;
    case z3::sat: {
      const z3::model model = solver.get_model();
      std::size_t index = 0;
      if (values.size() > 1) {
        const auto chosen = static_cast<unsigned>(model.eval(parameter, true).get_numeral_int());
        index = static_cast<std::size_t>(std::find(values.begin(), values.end(), chosen) - values.begin());
        if (index >= values.size()) throw InternalError("tnum proof: the model's parameter is not a case");
      }
      TnumCounterexample cex{tnum_of(model, p), tnum_of(model, q), value_of(model, in.x.e), value_of(model, in.y.e),
                             value_of(model, cases[index].concrete), tnum_of(model, cases[index].abstract),
                             std::nullopt};
      if (values.size() > 1) cex.parameter = values[index];
      result.verdict = cex;
      break;
    }
    case z3::unknown: result.verdict = TnumUnknown{solver.reason_unknown()}; break;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace tristate
