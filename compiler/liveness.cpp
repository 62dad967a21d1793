#include "compiler/liveness.hpp"

namespace tristate {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

RegSet operand_bits(const Operand& o) { return o.is_reg ? reg_bit(o.reg) : RegSet(0); }

bool is_move(AluOp op) {
  return op == AluOp::Mov || op == AluOp::MovSx8 || op == AluOp::MovSx16 || op == AluOp::MovSx32;
}

RegSet transfer(RegEffects e, RegSet out) { return RegSet(e.uses | (out & ~e.defs)); }

}  // namespace

RegEffects reg_effects(const Decoded& d) {
  return std::visit(
      Overloaded{
          [](const Alu& a) {
            const RegSet dst = reg_bit(a.dst);
            return RegEffects{RegSet((is_move(a.op) ? 0 : dst) | operand_bits(a.src)), dst};
          },
          [](const Endian& e) {
            return RegEffects{reg_bit(e.dst), reg_bit(e.dst)};
          },
          [](const AddrSpaceCast& c) {
            return RegEffects{reg_bit(c.src), reg_bit(c.dst)};
          },
          [](const Jmp& j) {
            return RegEffects{RegSet(reg_bit(j.dst) | operand_bits(j.src)), 0};
          },
          [](const Ja&) { return RegEffects{}; },
          [](const MayGoto&) { return RegEffects{}; },
          [](const Load& l) {
            return RegEffects{reg_bit(l.base), reg_bit(l.dst)};
          },
          [](const Store& s) {
            return RegEffects{RegSet(reg_bit(s.base) | operand_bits(s.src)), 0};
          },
          [](const Atomic& a) {
            RegSet uses = RegSet(reg_bit(a.base) | reg_bit(a.src));
            RegSet defs = 0;
            if (a.op == AtomicOp::CmpXchg) {
              uses |= reg_bit(0);
              defs = reg_bit(0);
            } else if (a.fetch) {
              defs = reg_bit(a.src);
            }
            return RegEffects{uses, defs};
          },
          [](const Call&) {
            return RegEffects{kArgRegs, kCallerSaved};
          },
          [](const Exit&) {
            return RegEffects{reg_bit(0), 0};
          },
          [](const LdImm64& l) {
            return RegEffects{0, reg_bit(l.dst)};
          },
          [](const PacketLoad& p) {
            return RegEffects{RegSet(reg_bit(6) | (p.indirect ? reg_bit(p.src) : 0)), kCallerSaved};
          },
      },
      d);
}

Liveness compute_liveness(const Cfg& cfg) {
  Liveness live;
  live.live_in.assign(cfg.image_size(), 0);
  live.live_out.assign(cfg.image_size(), 0);
  std::vector<RegEffects> effects(cfg.insns.size());
  for (std::size_t i = 0; i < cfg.insns.size(); ++i) effects[i] = reg_effects(cfg.insns[i].insn);

  for (const FunctionCfg& f : cfg.functions) {
    const std::size_t n = f.blocks.size();
    // A block's transfer function has the same shape as an instruction's: in = uses ∪ (out − defs),
    // with uses = what is read before being written and defs = everything written.
    std::vector<RegEffects> block_effects(n);
    for (std::size_t b = 0; b < n; ++b) {
      RegEffects be;
      for (std::size_t i = f.blocks[b].end_insn; i-- > f.blocks[b].first_insn;) {
        be.uses = transfer(effects[i], be.uses);
        be.defs |= effects[i].defs;
      }
      block_effects[b] = be;
    }
    std::vector<RegSet> in(n, 0), out(n, 0);
    // Post-order visits a block after its successors (except across back edges), so a loop-free
    // function settles in one pass and each loop adds a pass per nesting level.
    for (bool changed = true; changed;) {
      changed = false;
      for (std::size_t k = f.rpo.size(); k-- > 0;) {
        const std::size_t b = f.rpo[k];
        RegSet o = 0;
        for (std::size_t s : f.blocks[b].succs) o |= in[s];
        const RegSet i = transfer(block_effects[b], o);
        if (o != out[b] || i != in[b]) {
          out[b] = o;
          in[b] = i;
          changed = true;
        }
      }
    }
    for (std::size_t b = 0; b < n; ++b) {
      RegSet cur = out[b];
      for (std::size_t i = f.blocks[b].end_insn; i-- > f.blocks[b].first_insn;) {
        const std::size_t pc = cfg.insns[i].pc;
        live.live_out[pc] = cur;
        cur = transfer(effects[i], cur);
        live.live_in[pc] = cur;
      }
    }
    live.block_in.push_back(std::move(in));
    live.block_out.push_back(std::move(out));
  }
  return live;
}

}  // namespace tristate
