#include "compiler/cfg.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

#include "compiler/error.hpp"
#include "compiler/liveness.hpp"
#include "tests/support/code.hpp"

using namespace tristate;

namespace {

using tristate::test::Code;

Decoded mov(Reg dst, int32_t imm) { return Alu{true, AluOp::Mov, dst, Operand::k(imm)}; }
Decoded movr(Reg dst, Reg src) { return Alu{true, AluOp::Mov, dst, Operand::r(src)}; }
Decoded add(Reg dst, int32_t imm) { return Alu{true, AluOp::Add, dst, Operand::k(imm)}; }
Decoded addr(Reg dst, Reg src) { return Alu{true, AluOp::Add, dst, Operand::r(src)}; }
Decoded jeq(Reg dst, int32_t imm, int16_t off) {
  return Jmp{true, Cond::Eq, dst, Operand::k(imm), off};
}
Decoded jne(Reg dst, int32_t imm, int16_t off) {
  return Jmp{true, Cond::Ne, dst, Operand::k(imm), off};
}
Decoded ja(int32_t off) { return Ja{off, false}; }
Decoded call_local(int32_t imm) { return Call{CallKind::Local, imm, 0}; }
Decoded exit_insn() { return Exit{}; }

Cfg one_function(const Code& c) {
  return build_cfg(c.insns, {FunctionRange{"f", 0, c.insns.size()}});
}

// The InputError that building the CFG raises, checked for its instruction index and message.
void require_refused(const std::vector<Insn>& image, const std::vector<FunctionRange>& funcs,
                     std::size_t insn, const std::string& reason) {
  try {
    build_cfg(image, funcs);
    FAIL("build_cfg accepted the program");
  } catch (const InputError& e) {
    REQUIRE(e.where().insn.has_value());
    CHECK(*e.where().insn == insn);
    CHECK(e.reason() == reason);
  }
}

using Edge = std::pair<std::size_t, std::size_t>;
std::set<Edge> edge_set(const std::vector<Edge>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST_CASE("cfg: straight-line code is one block", "[cfg]") {
  Code c;
  c << mov(0, 0) << add(0, 1) << Call{CallKind::Helper, 5, 0} << add(0, 2) << exit_insn();
  Cfg cfg = one_function(c);
  REQUIRE(cfg.functions.size() == 1);
  const FunctionCfg& f = cfg.functions[0];
  CHECK(f.name == "f");
  REQUIRE(f.blocks.size() == 1);  // the call does not end the block
  CHECK(f.blocks[0].first == 0);
  CHECK(f.blocks[0].last == 4);
  CHECK(f.blocks[0].insn_count() == 5);
  CHECK(f.blocks[0].succs.empty());
  CHECK(f.blocks[0].preds.empty());
  CHECK(f.rpo == std::vector<std::size_t>{0});
  CHECK(f.back_edges.empty());
  CHECK(f.callees.empty());
  CHECK(cfg.block_of(3) == BlockRef{0, 0});
  CHECK(std::holds_alternative<Exit>(cfg.insns_of(f.blocks[0]).back().insn));
}

TEST_CASE("cfg: if/else diamond", "[cfg]") {
  Code c;
  c << mov(0, 0)     // 0
    << jeq(1, 0, 2)  // 1: -> 4
    << mov(0, 1)     // 2
    << ja(1)         // 3: -> 5
    << mov(0, 2)     // 4
    << exit_insn();  // 5
  Cfg cfg = one_function(c);
  const FunctionCfg& f = cfg.functions[0];
  REQUIRE(f.blocks.size() == 4);
  CHECK(f.blocks[0].first == 0);
  CHECK(f.blocks[0].last == 1);
  CHECK(f.blocks[1].first == 2);
  CHECK(f.blocks[1].last == 3);
  CHECK(f.blocks[2].first == 4);
  CHECK(f.blocks[2].last == 4);
  CHECK(f.blocks[3].first == 5);
  // Fall-through first, then the target.
  CHECK(f.blocks[0].succs == std::vector<std::size_t>{1, 2});
  CHECK(f.blocks[1].succs == std::vector<std::size_t>{3});
  CHECK(f.blocks[2].succs == std::vector<std::size_t>{3});
  CHECK(f.blocks[3].succs.empty());
  CHECK(f.blocks[0].preds.empty());
  CHECK(f.blocks[1].preds == std::vector<std::size_t>{0});
  CHECK(f.blocks[2].preds == std::vector<std::size_t>{0});
  CHECK(f.blocks[3].preds == std::vector<std::size_t>{1, 2});
  CHECK(f.rpo == std::vector<std::size_t>{0, 1, 2, 3});
  CHECK(f.back_edges.empty());
  CHECK(cfg.block_of(3) == BlockRef{0, 1});
  CHECK(cfg.block_of(4) == BlockRef{0, 2});
}

TEST_CASE("cfg: a conditional jump to the next instruction has one successor", "[cfg]") {
  Code c;
  c << jeq(1, 0, 0) << mov(0, 0) << exit_insn();
  Cfg cfg = one_function(c);
  const FunctionCfg& f = cfg.functions[0];
  REQUIRE(f.blocks.size() == 2);
  CHECK(f.blocks[0].succs == std::vector<std::size_t>{1});
  CHECK(f.blocks[1].preds == std::vector<std::size_t>{0});
}

TEST_CASE("cfg: bounded loop has a back edge", "[cfg]") {
  Code c;
  c << mov(0, 0)                                // 0
    << mov(1, 10)                               // 1
    << addr(0, 1)                               // 2: loop head
    << Alu{true, AluOp::Sub, 1, Operand::k(1)}  // 3
    << jne(1, 0, -3)                            // 4: -> 2
    << exit_insn();                             // 5
  Cfg cfg = one_function(c);
  const FunctionCfg& f = cfg.functions[0];
  REQUIRE(f.blocks.size() == 3);
  CHECK(f.blocks[1].first == 2);
  CHECK(f.blocks[1].last == 4);
  CHECK(f.blocks[1].succs == std::vector<std::size_t>{2, 1});
  CHECK(f.blocks[1].preds == std::vector<std::size_t>{0, 1});
  CHECK(f.back_edges == std::vector<Edge>{{1, 1}});
  CHECK(f.rpo == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("cfg: nested loops have one back edge each", "[cfg]") {
  Code c;
  c << mov(0, 0)                                // 0
    << mov(1, 3)                                // 1
    << mov(2, 4)                                // 2: outer head
    << add(0, 1)                                // 3: inner head
    << Alu{true, AluOp::Sub, 2, Operand::k(1)}  // 4
    << jne(2, 0, -3)                            // 5: -> 3
    << Alu{true, AluOp::Sub, 1, Operand::k(1)}  // 6
    << jne(1, 0, -6)                            // 7: -> 2
    << exit_insn();                             // 8
  Cfg cfg = one_function(c);
  const FunctionCfg& f = cfg.functions[0];
  REQUIRE(f.blocks.size() == 5);
  CHECK(f.blocks[1].first == 2);
  CHECK(f.blocks[1].last == 2);  // ends because 3 is a jump target
  CHECK(f.blocks[1].succs == std::vector<std::size_t>{2});
  CHECK(f.blocks[2].first == 3);
  CHECK(f.blocks[3].first == 6);
  CHECK(edge_set(f.back_edges) == std::set<Edge>{{2, 2}, {3, 1}});
  CHECK(f.rpo == std::vector<std::size_t>{0, 1, 2, 3, 4});
  CHECK(f.blocks[1].preds == std::vector<std::size_t>{0, 3});
}

TEST_CASE("cfg: may_goto loop", "[cfg]") {
  Code c;
  c << mov(0, 0)     // 0
    << MayGoto{2}    // 1: -> 4
    << add(0, 1)     // 2
    << ja(-3)        // 3: -> 1
    << exit_insn();  // 4
  Cfg cfg = one_function(c);
  const FunctionCfg& f = cfg.functions[0];
  REQUIRE(f.blocks.size() == 4);
  CHECK(f.blocks[0].last == 0);  // 1 is a jump target
  CHECK(f.blocks[1].first == 1);
  CHECK(f.blocks[1].last == 1);  // may_goto ends its block
  CHECK(f.blocks[1].succs == std::vector<std::size_t>{2, 3});
  CHECK(f.blocks[2].succs == std::vector<std::size_t>{1});
  CHECK(f.back_edges == std::vector<Edge>{{2, 1}});
  CHECK(f.rpo == std::vector<std::size_t>{0, 1, 2, 3});
}

TEST_CASE("cfg: bpf-to-bpf call between two functions", "[cfg]") {
  Code c;
  c << mov(1, 1)      // 0: main
    << call_local(3)  // 1: -> 5
    << call_local(2)  // 2: -> 5 again
    << add(0, 1)      // 3
    << exit_insn()    // 4
    << movr(0, 1)     // 5: sub
    << exit_insn();   // 6
  Program p;
  p.entry.name = "main";
  p.image = c.insns;
  p.functions = {{"main", 0, 5}, {"sub", 5, 2}};
  Cfg cfg = build_cfg(p);
  REQUIRE(cfg.functions.size() == 2);
  CHECK(cfg.functions[0].name == "main");
  CHECK(cfg.functions[0].blocks.size() == 1);
  CHECK(cfg.functions[0].callees == std::vector<std::size_t>{1});
  CHECK(cfg.functions[1].name == "sub");
  CHECK(cfg.functions[1].start == 5);
  CHECK(cfg.functions[1].size == 2);
  CHECK(cfg.functions[1].callees.empty());
  CHECK(cfg.functions[1].blocks[0].first == 5);
  CHECK(cfg.block_of(5) == BlockRef{1, 0});
  CHECK(cfg.function_of(4) == 0);
  CHECK(cfg.function_of(6) == 1);
}

TEST_CASE("cfg: a function pointer makes its function reachable", "[cfg]") {
  Code c;
  c << LdImm64{2, bpf::PSEUDO_FUNC, 4, 0}  // 0-1: r2 = &cb (insn 5)
    << mov(0, 0)                           // 2
    << Call{CallKind::Helper, 181, 0}      // 3: bpf_loop
    << exit_insn()                         // 4
    << mov(0, 0)                           // 5: cb
    << exit_insn();                        // 6
  Cfg cfg = build_cfg(c.insns, {{"main", 0, 5}, {"cb", 5, 2}});
  CHECK(cfg.functions[0].func_refs == std::vector<std::size_t>{1});
  CHECK(cfg.functions[0].callees.empty());
  CHECK(cfg.functions[1].blocks.size() == 1);
  // A function pointer must point at a function.
  Code bad = c;
  bad.insns[0].imm = 1;  // insn 2
  require_refused(bad.insns, {{"main", 0, 5}, {"cb", 5, 2}}, 0,
                  "function pointer to insn 2, which is not the start of a function");
  // Without the reference, the callback is dead code.
  Code plain = c;
  plain.insns[0].src = 0;
  require_refused(plain.insns, {{"main", 0, 5}, {"cb", 5, 2}}, 5, "unreachable insn 5");
}

TEST_CASE("cfg: LD_IMM64 takes two slots and is never split", "[cfg]") {
  Code c;
  c << LdImm64{1, 0, 0, 1}  // 0-1
    << jeq(1, 0, 1)         // 2: -> 4
    << mov(1, 0)            // 3
    << movr(0, 1)           // 4
    << exit_insn();         // 5
  Cfg cfg = one_function(c);
  const FunctionCfg& f = cfg.functions[0];
  REQUIRE(f.blocks.size() == 3);
  CHECK(f.blocks[0].first == 0);
  CHECK(f.blocks[0].last == 2);
  CHECK(f.blocks[0].insn_count() == 2);
  CHECK(cfg.insn_index(1) == Cfg::npos);
  CHECK(cfg.insn_index(2) == 1);
  CHECK(cfg.block_of(1) == BlockRef{0, 0});
  CHECK(cfg.insns.size() == 5);
  // A function may not start in the second slot.
  require_refused(c.insns, {{"f", 0, 1}, {"g", 1, 5}}, 1,
                  "function 'g' starts in the middle of ldimm64 insn 0");
}

TEST_CASE("cfg: a jump out of its function is refused", "[cfg]") {
  Code c;
  c << jeq(1, 0, 2)  // 0: -> 3, in g
    << mov(0, 0)     // 1
    << exit_insn()   // 2
    << mov(0, 0)     // 3: g
    << exit_insn();  // 4
  require_refused(c.insns, {{"f", 0, 3}, {"g", 3, 2}}, 0, "jump out of range from insn 0 to 3");
  // Backwards into the previous function, with an unconditional jump.
  Code d;
  d << mov(1, 0) << call_local(1) << exit_insn() << ja(-3) << exit_insn();
  require_refused(d.insns, {{"f", 0, 3}, {"g", 3, 2}}, 3, "jump out of range from insn 3 to 1");
  // Out of the image altogether (decode_program's check).
  Code e;
  e << jeq(1, 0, 5) << mov(0, 0) << exit_insn();
  require_refused(e.insns, {{"f", 0, 3}}, 0, "jump out of range from insn 0 to 6");
}

TEST_CASE("cfg: the last instruction must be an exit or a jump", "[cfg]") {
  Code c;
  c << mov(0, 0) << add(0, 1);
  require_refused(c.insns, {{"f", 0, 2}}, 1, "last insn is not an exit or jmp");
  // A conditional jump at the end could fall off it.
  Code d;
  d << mov(0, 0) << exit_insn() << jeq(0, 0, -2);
  require_refused(d.insns, {{"f", 0, 3}}, 2, "last insn is not an exit or jmp");
  // Falling from one function into the next.
  Code e;
  e << call_local(1) << mov(0, 0) << mov(0, 1) << exit_insn();
  require_refused(e.insns, {{"f", 0, 2}, {"g", 2, 2}}, 1, "last insn is not an exit or jmp");
  // A trailing LD_IMM64 is reported at its first slot.
  Code g;
  g << mov(0, 0) << LdImm64{1, 0, 5, 0};
  require_refused(g.insns, {{"f", 0, 3}}, 1, "last insn is not an exit or jmp");
  // An unconditional jump at the end is fine (a loop back).
  Code ok;
  ok << mov(0, 0)     // 0
     << jne(0, 0, 1)  // 1: -> 3
     << exit_insn()   // 2
     << add(0, 1)     // 3
     << ja(-5);       // 4: -> 0
  Cfg cfg = one_function(ok);
  const FunctionCfg& f = cfg.functions[0];
  REQUIRE(f.blocks.size() == 3);
  CHECK(f.blocks[2].succs == std::vector<std::size_t>{0});
  CHECK(f.blocks[0].preds == std::vector<std::size_t>{2});
  CHECK(f.back_edges == std::vector<Edge>{{2, 0}});
  CHECK(f.rpo == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("cfg: unreachable instructions are refused", "[cfg]") {
  Code c;
  c << mov(0, 0) << exit_insn() << mov(0, 1) << exit_insn();
  require_refused(c.insns, {{"f", 0, 4}}, 2, "unreachable insn 2");
  // Jumped over.
  Code d;
  d << ja(1) << mov(0, 1) << mov(0, 0) << exit_insn();
  require_refused(d.insns, {{"f", 0, 4}}, 1, "unreachable insn 1");
  // A function nobody calls.
  Code e;
  e << mov(0, 0) << exit_insn() << mov(0, 1) << exit_insn();
  require_refused(e.insns, {{"f", 0, 2}, {"g", 2, 2}}, 2, "unreachable insn 2");
  // A function called only from dead code is dead too, and comes first here.
  Code g;
  g << call_local(4) << mov(0, 0) << exit_insn()      // 0-2: main, calls h (5)
    << mov(0, 1) << exit_insn()                       // 3-4: g
    << exit_insn() << call_local(-4) << exit_insn();  // 5-7: h; 6 is dead and calls g (3)
  require_refused(g.insns, {{"main", 0, 3}, {"g", 3, 2}, {"h", 5, 3}}, 3, "unreachable insn 3");
}

TEST_CASE("cfg: calls must go to a function start and may not recurse", "[cfg]") {
  Code c;
  c << call_local(4) << exit_insn()                           // 0-1: main, call -> 5
    << mov(0, 0) << add(0, 1) << exit_insn() << exit_insn();  // 2-5: g
  require_refused(c.insns, {{"main", 0, 2}, {"g", 2, 4}}, 0,
                  "call to insn 5, which is not the start of a function");
  Code d;
  d << call_local(1) << exit_insn()    // 0-1: main -> g
    << call_local(-1) << exit_insn();  // 2-3: g -> g
  require_refused(d.insns, {{"main", 0, 2}, {"g", 2, 2}}, 2,
                  "recursive call from insn 2 to function 'g'");
  Code e;
  e << call_local(1) << exit_insn()    // 0-1: main -> g
    << call_local(1) << exit_insn()    // 2-3: g -> h
    << call_local(-3) << exit_insn();  // 4-5: h -> g
  require_refused(e.insns, {{"main", 0, 2}, {"g", 2, 2}, {"h", 4, 2}}, 4,
                  "recursive call from insn 4 to function 'g'");
}

TEST_CASE("cfg: errors from a Program name the program", "[cfg]") {
  Code c;
  c << mov(0, 0);
  Program p;
  p.entry.name = "prog";
  p.image = c.insns;
  p.functions = {{"prog", 0, 1}};
  try {
    build_cfg(p);
    FAIL("accepted");
  } catch (const InputError& e) {
    CHECK(e.where().prog == "prog");
    CHECK(e.where().insn == std::optional<std::size_t>(0));
  }
  CHECK_THROWS_AS(build_cfg(std::vector<Insn>{}, {}), InputError);
  CHECK_THROWS_AS(build_cfg(c.insns, {{"f", 0, 2}}), InternalError);
}

// ---------------------------------------------------------------------------------------------
// Property test: random programs against a slot-level model written independently here.

namespace {

struct GenInsn {
  Decoded insn;
  int target = -1;  // jumps: instruction index in the function; local calls: function index
};

struct Generated {
  std::vector<Insn> image;
  std::vector<FunctionRange> functions;
};

Generated generate(std::mt19937& rng, bool backward) {
  auto pick = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const int nfuncs = pick(1, 3);
  std::vector<std::vector<GenInsn>> bodies(static_cast<std::size_t>(nfuncs));
  for (int f = 0; f < nfuncs; ++f) {
    auto& body = bodies[std::size_t(f)];
    const int n = pick(2, 24);  // the last one is exit
    for (int i = 0; i + 1 < n; ++i) {
      const int kind = pick(0, 99);
      const Reg dst = Reg(pick(0, 9));
      const Reg src = Reg(pick(0, 10));
      const int fwd = pick(i + 1, n - 1);
      const int any = pick(0, n - 1);
      const int target = backward && pick(0, 3) == 0 ? any : fwd;
      if (kind < 40) {
        const AluOp ops[] = {AluOp::Add, AluOp::Sub, AluOp::Mov, AluOp::Xor, AluOp::Or, AluOp::Neg};
        const AluOp op = ops[pick(0, 5)];
        const Operand o = op == AluOp::Neg ? Operand::k(0)
                          : pick(0, 1)     ? Operand::r(src)
                                           : Operand::k(pick(-5, 5));
        body.push_back({Alu{bool(pick(0, 1)), op, dst, o}});
      } else if (kind < 48) {
        body.push_back({LdImm64{dst, 0, pick(-100, 100), pick(0, 3)}});
      } else if (kind < 53) {
        body.push_back({Load{Width::DW, false, false, dst, 10, -8}});
      } else if (kind < 58) {
        body.push_back({Store{Width::DW, false, 10, -8, Operand::r(src)}});
      } else if (kind < 78) {
        body.push_back({Jmp{bool(pick(0, 1)), Cond(pick(0, 10)), dst,
                            pick(0, 1) ? Operand::r(src) : Operand::k(3), 0},
                        target});
      } else if (kind < 83) {
        body.push_back({Ja{}, target});
      } else if (kind < 86) {
        body.push_back({MayGoto{}, target});
      } else if (kind < 92) {
        body.push_back({Call{CallKind::Helper, pick(1, 200), 0}});
      } else if (kind < 95) {
        const bool ind = pick(0, 1);
        body.push_back({PacketLoad{ind, Width::H, ind ? src : Reg(0), pick(0, 40)}});
      } else if (f + 1 < nfuncs) {
        // Calls only go to later functions, so there is no recursion.
        body.push_back({Call{CallKind::Local, 0, 0}, pick(f + 1, nfuncs - 1)});
      } else {
        body.push_back({Exit{}});
      }
    }
    body.push_back({Exit{}});
  }
  // Lay out: slot of every instruction, then encode with the offsets resolved.
  Generated g;
  std::vector<std::vector<std::size_t>> slot(bodies.size());
  std::size_t pc = 0;
  for (std::size_t f = 0; f < bodies.size(); ++f) {
    const std::size_t start = pc;
    for (const auto& gi : bodies[f]) {
      slot[f].push_back(pc);
      pc += slots(gi.insn);
    }
    g.functions.push_back({"f" + std::to_string(f), start, pc - start});
  }
  for (std::size_t f = 0; f < bodies.size(); ++f) {
    for (std::size_t i = 0; i < bodies[f].size(); ++i) {
      Decoded d = bodies[f][i].insn;
      const int t = bodies[f][i].target;
      const auto rel = [&](std::size_t to) {
        return int32_t(int64_t(to) - int64_t(slot[f][i]) - 1);
      };
      if (auto* j = std::get_if<Jmp>(&d)) j->off = int16_t(rel(slot[f][std::size_t(t)]));
      if (auto* j = std::get_if<Ja>(&d)) j->off = rel(slot[f][std::size_t(t)]);
      if (auto* m = std::get_if<MayGoto>(&d)) m->off = int16_t(rel(slot[f][std::size_t(t)]));
      if (auto* c = std::get_if<Call>(&d); c && c->kind == CallKind::Local)
        c->imm = rel(g.functions[std::size_t(t)].start);
      auto e = encode(d);
      g.image.insert(g.image.end(), e.span().begin(), e.span().end());
    }
  }
  return g;
}

// Successor slots of the instruction at pc, within its function (calls return to the next one).
std::vector<std::size_t> model_succs(const Decoded& d, std::size_t pc) {
  const std::size_t next = pc + slots(d);
  if (std::holds_alternative<Exit>(d)) return {};
  if (std::holds_alternative<Ja>(d)) return {std::size_t(*branch_target(d, pc))};
  if (std::holds_alternative<Jmp>(d) || std::holds_alternative<MayGoto>(d))
    return {next, std::size_t(*branch_target(d, pc))};
  return {next};
}

}  // namespace

TEST_CASE("cfg: random programs satisfy the CFG and liveness invariants", "[cfg][liveness]") {
  std::mt19937 rng(20240611);
  int accepted = 0, refused = 0, with_loops = 0;
  for (int round = 0; round < 600; ++round) {
    const Generated g = generate(rng, round % 2 == 1);
    INFO("round " << round);
    const auto decoded = decode_program(g.image);

    // Reachability over slots, following calls into callees: the first unreachable instruction
    // start is what build_cfg must name.
    std::vector<bool> seen(g.image.size(), false);
    std::map<std::size_t, const Decoded*> at;
    for (const auto& di : decoded) at[di.pc] = &di.insn;
    std::vector<std::size_t> work{0};
    seen[0] = true;
    while (!work.empty()) {
      const std::size_t pc = work.back();
      work.pop_back();
      auto next = model_succs(*at[pc], pc);
      if (auto* c = std::get_if<Call>(at[pc]); c && c->kind == CallKind::Local)
        next.push_back(std::size_t(*branch_target(*at[pc], pc)));
      for (std::size_t s : next) {
        REQUIRE(s < g.image.size());
        if (!seen[s]) {
          seen[s] = true;
          work.push_back(s);
        }
      }
    }
    std::optional<std::size_t> first_dead;
    for (const auto& di : decoded)
      if (!seen[di.pc] && !first_dead) first_dead = di.pc;

    if (first_dead) {
      require_refused(g.image, g.functions, *first_dead,
                      "unreachable insn " + std::to_string(*first_dead));
      ++refused;
      continue;
    }
    const Cfg cfg = build_cfg(g.image, g.functions);
    ++accepted;
    REQUIRE(cfg.insns.size() == decoded.size());

    // Every instruction start is in exactly one block, and blocks tile their function in order.
    std::vector<int> covered(decoded.size(), 0);
    for (std::size_t f = 0; f < cfg.functions.size(); ++f) {
      const FunctionCfg& fc = cfg.functions[f];
      REQUIRE(!fc.blocks.empty());
      CHECK(fc.blocks.front().first == fc.start);
      for (std::size_t b = 0; b < fc.blocks.size(); ++b) {
        const BasicBlock& bb = fc.blocks[b];
        REQUIRE(bb.first_insn < bb.end_insn);
        CHECK(cfg.insns[bb.first_insn].pc == bb.first);
        CHECK(cfg.insns[bb.end_insn - 1].pc == bb.last);
        if (b + 1 < fc.blocks.size()) CHECK(fc.blocks[b + 1].first_insn == bb.end_insn);
        for (std::size_t i = bb.first_insn; i < bb.end_insn; ++i) {
          ++covered[i];
          CHECK(cfg.block_of(cfg.insns[i].pc) == BlockRef{f, b});
          // Only the last instruction of a block may transfer control.
          const Decoded& d = cfg.insns[i].insn;
          const bool transfers = std::holds_alternative<Jmp>(d) || std::holds_alternative<Ja>(d) ||
                                 std::holds_alternative<MayGoto>(d) ||
                                 std::holds_alternative<Exit>(d);
          if (i + 1 < bb.end_insn) CHECK_FALSE(transfers);
        }
        // Successors are exactly the blocks of the model's successor slots.
        std::set<std::size_t> expect;
        for (std::size_t s : model_succs(cfg.insns[bb.end_insn - 1].insn, bb.last)) {
          CHECK(cfg.block_of(s).function == f);
          CHECK(cfg.block(cfg.block_of(s)).first == s);  // every target starts a block
          expect.insert(cfg.block_of(s).block);
        }
        CHECK(std::set<std::size_t>(bb.succs.begin(), bb.succs.end()) == expect);
        CHECK(bb.succs.size() == expect.size());
        // succs and preds mirror each other.
        for (std::size_t s : bb.succs)
          CHECK(std::count(fc.blocks[s].preds.begin(), fc.blocks[s].preds.end(), b) == 1);
        for (std::size_t p : bb.preds)
          CHECK(std::count(fc.blocks[p].succs.begin(), fc.blocks[p].succs.end(), b) == 1);
      }
      // RPO starts at the entry and lists every block once; edges go forward in it except the
      // back edges, which go backward (or to themselves).
      REQUIRE(fc.rpo.size() == fc.blocks.size());
      CHECK(fc.rpo.front() == 0);
      std::vector<std::size_t> pos(fc.blocks.size(), fc.blocks.size());
      for (std::size_t k = 0; k < fc.rpo.size(); ++k) {
        REQUIRE(fc.rpo[k] < fc.blocks.size());
        CHECK(pos[fc.rpo[k]] == fc.blocks.size());
        pos[fc.rpo[k]] = k;
      }
      const std::set<Edge> back = edge_set(fc.back_edges);
      CHECK(back.size() == fc.back_edges.size());
      for (std::size_t b = 0; b < fc.blocks.size(); ++b)
        for (std::size_t s : fc.blocks[b].succs) {
          if (back.count({b, s}))
            CHECK(pos[s] <= pos[b]);
          else
            CHECK(pos[b] < pos[s]);
        }
      if (round % 2 == 0) CHECK(fc.back_edges.empty());
      if (!fc.back_edges.empty()) ++with_loops;
      // Callees: the functions the local calls in this function go to.
      std::set<std::size_t> calls;
      for (const auto& di : cfg.insns)
        if (auto* c = std::get_if<Call>(&di.insn);
            c && c->kind == CallKind::Local && cfg.function_of(di.pc) == f)
          calls.insert(cfg.function_of(std::size_t(*branch_target(di.insn, di.pc))));
      CHECK(std::set<std::size_t>(fc.callees.begin(), fc.callees.end()) == calls);
      CHECK(fc.callees.size() == calls.size());
    }
    for (int n : covered) CHECK(n == 1);

    // Liveness: the dataflow equations hold at every instruction, and the result equals the
    // least fixpoint computed naively over instructions.
    const Liveness live = compute_liveness(cfg);
    REQUIRE(live.live_in.size() == g.image.size());
    std::vector<RegSet> in(g.image.size(), 0), out(g.image.size(), 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (std::size_t k = decoded.size(); k-- > 0;) {
        const auto& [pc, d] = decoded[k];
        RegSet o = 0;
        for (std::size_t s : model_succs(d, pc)) o |= in[s];
        const RegEffects e = reg_effects(d);
        const RegSet i = RegSet(e.uses | (o & ~e.defs));
        if (i != in[pc] || o != out[pc]) changed = true;
        in[pc] = i;
        out[pc] = o;
      }
    }
    for (const auto& [pc, d] : decoded) {
      const RegEffects e = reg_effects(d);
      CHECK(live.live_in[pc] == RegSet(e.uses | (live.live_out[pc] & ~e.defs)));
      RegSet o = 0;
      for (std::size_t s : model_succs(d, pc)) o |= live.live_in[s];
      CHECK(live.live_out[pc] == o);
      CHECK(live.live_in[pc] == in[pc]);
      CHECK(live.live_out[pc] == out[pc]);
    }
    for (std::size_t f = 0; f < cfg.functions.size(); ++f)
      for (std::size_t b = 0; b < cfg.functions[f].blocks.size(); ++b) {
        CHECK(live.block_in[f][b] == live.live_in[cfg.functions[f].blocks[b].first]);
        CHECK(live.block_out[f][b] == live.live_out[cfg.functions[f].blocks[b].last]);
      }
  }
  // The generator must exercise both outcomes and real loops, or the checks above prove little.
  CHECK(accepted > 100);
  CHECK(refused > 20);
  CHECK(with_loops > 20);
}
