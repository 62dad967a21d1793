#include "compiler/isa.hpp"

#include <climits>
#include <cstdio>

#include "compiler/error.hpp"

namespace tristate {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

std::string hex2(uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02x", v);
  return buf;
}

Width width_of(uint8_t opcode) {
  switch (bpf::size_of(opcode)) {
    case bpf::W: return Width::W;
    case bpf::H: return Width::H;
    case bpf::B: return Width::B;
    default: return Width::DW;
  }
}

uint8_t size_bits(Width w) {
  switch (w) {
    case Width::W: return bpf::W;
    case Width::H: return bpf::H;
    case Width::B: return bpf::B;
    case Width::DW: return bpf::DW;
  }
  return bpf::DW;
}

// ALU operation field <-> AluOp, for the operations that are plain (no off variants).
struct AluOpCode {
  uint8_t code;
  AluOp op;
};
constexpr AluOpCode kAluOps[] = {
    {bpf::ADD, AluOp::Add}, {bpf::SUB, AluOp::Sub}, {bpf::MUL, AluOp::Mul}, {bpf::DIV, AluOp::Div},
    {bpf::OR, AluOp::Or},   {bpf::AND, AluOp::And}, {bpf::LSH, AluOp::Lsh}, {bpf::RSH, AluOp::Rsh},
    {bpf::NEG, AluOp::Neg}, {bpf::MOD, AluOp::Mod}, {bpf::XOR, AluOp::Xor}, {bpf::MOV, AluOp::Mov},
    {bpf::ARSH, AluOp::Arsh},
};

struct CondCode {
  uint8_t code;
  Cond cond;
};
constexpr CondCode kConds[] = {
    {bpf::JEQ, Cond::Eq},   {bpf::JGT, Cond::Gt},   {bpf::JGE, Cond::Ge},   {bpf::JSET, Cond::Set},
    {bpf::JNE, Cond::Ne},   {bpf::JSGT, Cond::Sgt}, {bpf::JSGE, Cond::Sge}, {bpf::JLT, Cond::Lt},
    {bpf::JLE, Cond::Le},   {bpf::JSLT, Cond::Slt}, {bpf::JSLE, Cond::Sle},
};

struct AtomicCode {
  int32_t imm;
  AtomicOp op;
  bool fetch;
};
constexpr AtomicCode kAtomics[] = {
    {bpf::ADD, AtomicOp::Add, false},          {bpf::ADD | bpf::FETCH, AtomicOp::Add, true},
    {bpf::OR, AtomicOp::Or, false},            {bpf::OR | bpf::FETCH, AtomicOp::Or, true},
    {bpf::AND, AtomicOp::And, false},          {bpf::AND | bpf::FETCH, AtomicOp::And, true},
    {bpf::XOR, AtomicOp::Xor, false},          {bpf::XOR | bpf::FETCH, AtomicOp::Xor, true},
    {bpf::XCHG, AtomicOp::Xchg, true},         {bpf::CMPXCHG, AtomicOp::CmpXchg, true},
};

// The checks below follow the order and the wording of the Linux 6.18 verifier
// (kernel/bpf/verifier.c: resolve_pseudo_ldimm64, check_alu_op, do_check, check_atomic) so that
// a refusal here reads like the kernel's.
using Result = DecodeResult;
Result fail(std::string why) { return Result{std::move(why)}; }
Result unknown_opcode(const Insn& insn) { return fail("unknown opcode " + hex2(insn.opcode)); }

std::optional<std::string> check_reg(unsigned reg) {
  if (reg > kMaxReg) return "R" + std::to_string(reg) + " is invalid";
  return std::nullopt;
}

// A register the instruction writes: must be valid and must not be the frame pointer.
std::optional<std::string> check_written(unsigned reg) {
  if (auto e = check_reg(reg)) return e;
  if (reg == kFramePointer) return std::string("frame pointer is read only");
  return std::nullopt;
}

Result decode_alu(const Insn& insn) {
  const uint8_t code = bpf::op_of(insn.opcode);
  const bool is64 = bpf::class_of(insn.opcode) == bpf::ALU64;
  const bool by_reg = bpf::src_of(insn.opcode) == bpf::X;

  if (code == bpf::END) {
    // 0xdf (ALU64 | END | TO_BE) does not exist; ALU64 END is the unconditional bswap.
    if (is64 && by_reg) return unknown_opcode(insn);
    if (insn.src != 0 || insn.off != 0 || (insn.imm != 16 && insn.imm != 32 && insn.imm != 64))
      return fail("BPF_END uses reserved fields");
    if (auto e = check_written(insn.dst)) return fail(*e);
    ByteOrder order = is64 ? ByteOrder::Swap : (by_reg ? ByteOrder::ToBe : ByteOrder::ToLe);
    return Result{Endian{order, insn.dst, uint8_t(insn.imm)}};
  }
  if (code == bpf::NEG) {
    if (by_reg) return unknown_opcode(insn);
    if (insn.src != 0 || insn.off != 0 || insn.imm != 0) return fail("BPF_NEG uses reserved fields");
    if (auto e = check_written(insn.dst)) return fail(*e);
    return Result{Alu{is64, AluOp::Neg, insn.dst, Operand::k(0)}};
  }
  if (code == bpf::MOV) {
    AluOp op = AluOp::Mov;
    if (by_reg) {
      if (is64 && insn.off == bpf::ADDR_SPACE_CAST) {
        if (insn.imm != 1 && insn.imm != (1 << 16))
          return fail("addr_space_cast insn can only convert between address space 1 and 0");
        if (auto e = check_reg(insn.src)) return fail(*e);
        if (auto e = check_written(insn.dst)) return fail(*e);
        return Result{AddrSpaceCast{insn.dst, insn.src, uint16_t(uint32_t(insn.imm) >> 16),
                                    uint16_t(insn.imm & 0xffff)}};
      }
      const bool off_ok = insn.off == 0 || insn.off == 8 || insn.off == 16 || (is64 && insn.off == 32);
      if (!off_ok || insn.imm != 0) return fail("BPF_MOV uses reserved fields");
      if (insn.off == 8) op = AluOp::MovSx8;
      if (insn.off == 16) op = AluOp::MovSx16;
      if (insn.off == 32) op = AluOp::MovSx32;
      if (auto e = check_reg(insn.src)) return fail(*e);
    } else if (insn.src != 0 || insn.off != 0) {
      return fail("BPF_MOV uses reserved fields");
    }
    if (auto e = check_written(insn.dst)) return fail(*e);
    return Result{Alu{is64, op, insn.dst, by_reg ? Operand::r(insn.src) : Operand::k(insn.imm)}};
  }

  const AluOpCode* entry = nullptr;
  for (const auto& a : kAluOps)
    if (a.code == code) entry = &a;
  if (!entry) return unknown_opcode(insn);

  const bool is_div = code == bpf::DIV || code == bpf::MOD;
  if ((by_reg ? insn.imm != 0 : insn.src != 0) || (insn.off != 0 && insn.off != 1) ||
      (insn.off == 1 && !is_div))
    return fail("BPF_ALU uses reserved fields");
  if (by_reg) {
    if (auto e = check_reg(insn.src)) return fail(*e);
  }
  if (auto e = check_written(insn.dst)) return fail(*e);
  if (!by_reg && is_div && insn.imm == 0) return fail("div by zero");
  if (!by_reg && (code == bpf::LSH || code == bpf::RSH || code == bpf::ARSH)) {
    const int bits = is64 ? 64 : 32;
    if (insn.imm < 0 || insn.imm >= bits) return fail("invalid shift " + std::to_string(insn.imm));
  }
  AluOp op = entry->op;
  if (insn.off == 1) op = code == bpf::DIV ? AluOp::SDiv : AluOp::SMod;
  return Result{Alu{is64, op, insn.dst, by_reg ? Operand::r(insn.src) : Operand::k(insn.imm)}};
}

Result decode_jmp(const Insn& insn) {
  const uint8_t code = bpf::op_of(insn.opcode);
  const bool is64 = bpf::class_of(insn.opcode) == bpf::JMP;
  const bool by_reg = bpf::src_of(insn.opcode) == bpf::X;

  if (code == bpf::JA) {
    if (by_reg) return unknown_opcode(insn);
    if (insn.src != 0 || insn.dst != 0 || (is64 && insn.imm != 0) || (!is64 && insn.off != 0))
      return fail("BPF_JA uses reserved fields");
    return Result{is64 ? Ja{insn.off, false} : Ja{insn.imm, true}};
  }
  if (code == bpf::CALL) {
    if (!is64 || by_reg) return unknown_opcode(insn);
    if ((insn.src != bpf::PSEUDO_KFUNC_CALL && insn.off != 0) ||
        (insn.src != 0 && insn.src != bpf::PSEUDO_CALL && insn.src != bpf::PSEUDO_KFUNC_CALL) ||
        insn.dst != 0)
      return fail("BPF_CALL uses reserved fields");
    CallKind kind = insn.src == 0 ? CallKind::Helper
                    : insn.src == bpf::PSEUDO_CALL ? CallKind::Local
                                                   : CallKind::Kfunc;
    return Result{Call{kind, insn.imm, insn.off}};
  }
  if (code == bpf::EXIT) {
    if (!is64 || by_reg) return unknown_opcode(insn);
    if (insn.imm != 0 || insn.src != 0 || insn.dst != 0 || insn.off != 0)
      return fail("BPF_EXIT uses reserved fields");
    return Result{Exit{}};
  }
  if (code == bpf::JCOND) {
    // The kernel checks src, dst and imm in one condition and names only imm; so do we.
    if (!is64 || by_reg) return unknown_opcode(insn);
    if (insn.src != bpf::MAY_GOTO || insn.dst != 0 || insn.imm != 0)
      return fail("invalid may_goto imm " + std::to_string(insn.imm));
    return Result{MayGoto{insn.off}};
  }
  const CondCode* entry = nullptr;
  for (const auto& c : kConds)
    if (c.code == code) entry = &c;
  if (!entry) return unknown_opcode(insn);
  if (by_reg ? insn.imm != 0 : insn.src != 0) return fail("BPF_JMP/JMP32 uses reserved fields");
  if (auto e = check_reg(insn.dst)) return fail(*e);
  if (by_reg) {
    if (auto e = check_reg(insn.src)) return fail(*e);
  }
  return Result{Jmp{is64, entry->cond, insn.dst, by_reg ? Operand::r(insn.src) : Operand::k(insn.imm),
                    insn.off}};
}

Result decode_ld(std::span<const Insn> insns, std::size_t index) {
  const Insn& insn = insns[index];
  const uint8_t mode = bpf::mode_of(insn.opcode);
  if (mode == bpf::IMM) {
    if (bpf::size_of(insn.opcode) != bpf::DW) return unknown_opcode(insn);
    if (insn.off != 0) return fail("BPF_LD_IMM64 uses reserved fields");
    if (index + 1 >= insns.size()) return fail("invalid bpf_ld_imm64 insn: second half missing");
    const Insn& next = insns[index + 1];
    if (next.opcode != 0 || next.dst != 0 || next.src != 0 || next.off != 0)
      return fail("invalid bpf_ld_imm64 insn: second half has reserved fields set");
    if (insn.src > bpf::PSEUDO_MAP_IDX_VALUE ||
        ((insn.src == bpf::PSEUDO_MAP_FD || insn.src == bpf::PSEUDO_MAP_IDX) && next.imm != 0))
      return fail("unrecognized bpf_ld_imm64 insn");
    if (insn.src == bpf::PSEUDO_FUNC && next.imm != 0) return fail("unrecognized bpf_ld_imm64 insn");
    if (auto e = check_written(insn.dst)) return fail(*e);
    return Result{LdImm64{insn.dst, insn.src, insn.imm, next.imm}};
  }
  if (mode == bpf::ABS || mode == bpf::IND) {
    if (bpf::size_of(insn.opcode) == bpf::DW) return unknown_opcode(insn);
    if (insn.dst != 0 || insn.off != 0 || (mode == bpf::ABS && insn.src != 0))
      return fail("BPF_LD_[ABS|IND] uses reserved fields");
    if (auto e = check_reg(insn.src)) return fail(*e);
    return Result{PacketLoad{mode == bpf::IND, width_of(insn.opcode), insn.src, insn.imm}};
  }
  return unknown_opcode(insn);
}

Result decode_mem(const Insn& insn) {
  const uint8_t cls = bpf::class_of(insn.opcode);
  const uint8_t mode = bpf::mode_of(insn.opcode);
  const Width width = width_of(insn.opcode);

  if (cls == bpf::LDX) {
    if (mode != bpf::MEM && !(mode == bpf::MEMSX && width != Width::DW)) return unknown_opcode(insn);
    if (insn.imm != 0) return fail("BPF_LDX uses reserved fields");
    if (auto e = check_reg(insn.src)) return fail(*e);
    if (auto e = check_written(insn.dst)) return fail(*e);
    return Result{Load{width, mode == bpf::MEMSX, false, insn.dst, insn.src, insn.off}};
  }
  if (cls == bpf::ST) {
    if (mode != bpf::MEM) return unknown_opcode(insn);
    if (insn.src != 0) return fail("BPF_ST uses reserved fields");
    if (auto e = check_reg(insn.dst)) return fail(*e);
    return Result{Store{width, false, insn.dst, insn.off, Operand::k(insn.imm)}};
  }
  // BPF_STX
  if (mode == bpf::MEM) {
    if (insn.imm != 0) return fail("BPF_STX uses reserved fields");
    if (auto e = check_reg(insn.dst)) return fail(*e);
    if (auto e = check_reg(insn.src)) return fail(*e);
    return Result{Store{width, false, insn.dst, insn.off, Operand::r(insn.src)}};
  }
  if (mode != bpf::ATOMIC) return unknown_opcode(insn);
  if (auto e = check_reg(insn.dst)) return fail(*e);
  if (auto e = check_reg(insn.src)) return fail(*e);
  if (insn.imm == bpf::LOAD_ACQ) {
    // dst = load_acquire((width *)(src + off))
    if (auto e = check_written(insn.dst)) return fail(*e);
    return Result{Load{width, false, true, insn.dst, insn.src, insn.off}};
  }
  if (insn.imm == bpf::STORE_REL) {
    return Result{Store{width, true, insn.dst, insn.off, Operand::r(insn.src)}};
  }
  const AtomicCode* entry = nullptr;
  for (const auto& a : kAtomics)
    if (a.imm == insn.imm) entry = &a;
  if (!entry) return fail("BPF_ATOMIC uses invalid atomic opcode " + hex2(uint8_t(insn.imm)));
  if (width != Width::W && width != Width::DW) return fail("invalid atomic operand size");
  if (entry->fetch && entry->op != AtomicOp::CmpXchg) {
    if (auto e = check_written(insn.src)) return fail(*e);
  }
  return Result{Atomic{width, entry->op, entry->fetch, insn.dst, insn.src, insn.off}};
}

}  // namespace

DecodeResult decode(std::span<const Insn> insns, std::size_t index) {
  if (index >= insns.size()) return fail("instruction index past the end of the program");
  const Insn& insn = insns[index];
  switch (bpf::class_of(insn.opcode)) {
    case bpf::ALU:
    case bpf::ALU64: return decode_alu(insn);
    case bpf::JMP:
    case bpf::JMP32: return decode_jmp(insn);
    case bpf::LD: return decode_ld(insns, index);
    default: return decode_mem(insn);
  }
}

Encoded encode(const Decoded& d) {
  Encoded out;
  Insn& i = out.insn[0];
  auto operand = [&i](const Operand& src) {
    if (src.is_reg) {
      i.opcode |= bpf::X;
      i.src = src.reg;
    } else {
      i.imm = src.imm;
    }
  };
  std::visit(
      Overloaded{
          [&](const Alu& a) {
            i.opcode = a.is64 ? bpf::ALU64 : bpf::ALU;
            i.dst = a.dst;
            uint8_t code = bpf::ADD;
            for (const auto& e : kAluOps)
              if (e.op == a.op) code = e.code;
            switch (a.op) {
              case AluOp::SDiv: code = bpf::DIV; i.off = 1; break;
              case AluOp::SMod: code = bpf::MOD; i.off = 1; break;
              case AluOp::MovSx8: code = bpf::MOV; i.off = 8; break;
              case AluOp::MovSx16: code = bpf::MOV; i.off = 16; break;
              case AluOp::MovSx32: code = bpf::MOV; i.off = 32; break;
              default: break;
            }
            i.opcode |= code;
            if (a.op != AluOp::Neg) operand(a.src);
          },
          [&](const Endian& e) {
            i.opcode = (e.order == ByteOrder::Swap ? bpf::ALU64 : bpf::ALU) | bpf::END |
                       (e.order == ByteOrder::ToBe ? bpf::TO_BE : bpf::TO_LE);
            i.dst = e.dst;
            i.imm = e.bits;
          },
          [&](const AddrSpaceCast& c) {
            i.opcode = bpf::ALU64 | bpf::MOV | bpf::X;
            i.dst = c.dst;
            i.src = c.src;
            i.off = bpf::ADDR_SPACE_CAST;
            i.imm = int32_t((uint32_t(c.dst_as) << 16) | c.src_as);
          },
          [&](const Jmp& j) {
            i.opcode = j.is64 ? bpf::JMP : bpf::JMP32;
            for (const auto& e : kConds)
              if (e.cond == j.cond) i.opcode |= e.code;
            i.dst = j.dst;
            i.off = j.off;
            operand(j.src);
          },
          [&](const Ja& j) {
            if (j.is_long) {
              i.opcode = bpf::JMP32 | bpf::JA;
              i.imm = j.off;
            } else {
              if (j.off < INT16_MIN || j.off > INT16_MAX)
                throw InternalError("encode: goto offset " + std::to_string(j.off) +
                                    " does not fit in 16 bits; use gotol");
              i.opcode = bpf::JMP | bpf::JA;
              i.off = int16_t(j.off);
            }
          },
          [&](const MayGoto& m) {
            i.opcode = bpf::JMP | bpf::JCOND;
            i.src = bpf::MAY_GOTO;
            i.off = m.off;
          },
          [&](const Load& l) {
            i.dst = l.dst;
            i.src = l.base;
            i.off = l.off;
            if (l.acquire) {
              i.opcode = bpf::STX | bpf::ATOMIC | size_bits(l.width);
              i.imm = bpf::LOAD_ACQ;
            } else {
              i.opcode = bpf::LDX | (l.sign_extend ? bpf::MEMSX : bpf::MEM) | size_bits(l.width);
            }
          },
          [&](const Store& s) {
            i.dst = s.base;
            i.off = s.off;
            if (s.release) {
              i.opcode = bpf::STX | bpf::ATOMIC | size_bits(s.width);
              i.src = s.src.reg;
              i.imm = bpf::STORE_REL;
            } else if (s.src.is_reg) {
              i.opcode = bpf::STX | bpf::MEM | size_bits(s.width);
              i.src = s.src.reg;
            } else {
              i.opcode = bpf::ST | bpf::MEM | size_bits(s.width);
              i.imm = s.src.imm;
            }
          },
          [&](const Atomic& a) {
            i.opcode = bpf::STX | bpf::ATOMIC | size_bits(a.width);
            i.dst = a.base;
            i.src = a.src;
            i.off = a.off;
            for (const auto& e : kAtomics)
              if (e.op == a.op && e.fetch == a.fetch) i.imm = e.imm;
          },
          [&](const Call& c) {
            i.opcode = bpf::JMP | bpf::CALL;
            i.src = c.kind == CallKind::Helper  ? 0
                    : c.kind == CallKind::Local ? bpf::PSEUDO_CALL
                                                : bpf::PSEUDO_KFUNC_CALL;
            i.imm = c.imm;
            i.off = c.off;
          },
          [&](const Exit&) { i.opcode = bpf::JMP | bpf::EXIT; },
          [&](const LdImm64& l) {
            i.opcode = bpf::LD | bpf::IMM | bpf::DW;
            i.dst = l.dst;
            i.src = l.pseudo;
            i.imm = l.lo;
            out.insn[1].imm = l.hi;
            out.count = 2;
          },
          [&](const PacketLoad& p) {
            i.opcode = bpf::LD | (p.indirect ? bpf::IND : bpf::ABS) | size_bits(p.width);
            i.src = p.src;
            i.imm = p.imm;
          },
      },
      d);
  return out;
}

unsigned min_cpu_version(const Decoded& d) {
  const auto v2_cond = [](Cond c) { return c == Cond::Lt || c == Cond::Le || c == Cond::Slt || c == Cond::Sle; };
  if (const auto* a = std::get_if<Alu>(&d)) {
    const bool v4 = a->op == AluOp::SDiv || a->op == AluOp::SMod || a->op == AluOp::MovSx8 ||
                    a->op == AluOp::MovSx16 || a->op == AluOp::MovSx32;
    return v4 ? 4 : 1;
  }
  if (const auto* e = std::get_if<Endian>(&d)) return e->order == ByteOrder::Swap ? 4 : 1;
  if (const auto* j = std::get_if<Jmp>(&d)) return !j->is64 ? 3 : v2_cond(j->cond) ? 2 : 1;
  if (const auto* j = std::get_if<Ja>(&d)) return j->is_long ? 4 : 1;
  if (const auto* l = std::get_if<Load>(&d)) return l->sign_extend || l->acquire ? 4 : 1;
  if (const auto* s = std::get_if<Store>(&d)) return s->release ? 4 : 1;
  if (const auto* a = std::get_if<Atomic>(&d)) return a->fetch || a->op != AtomicOp::Add ? 3 : 1;
  return 1;
}

std::optional<std::int64_t> branch_target(const Decoded& d, std::size_t pc) {
  const auto next = std::int64_t(pc) + 1;
  if (auto* j = std::get_if<Jmp>(&d)) return next + j->off;
  if (auto* j = std::get_if<Ja>(&d)) return next + j->off;
  if (auto* m = std::get_if<MayGoto>(&d)) return next + m->off;
  if (auto* c = std::get_if<Call>(&d); c && c->kind == CallKind::Local) return next + c->imm;
  if (auto* l = std::get_if<LdImm64>(&d); l && l->pseudo == bpf::PSEUDO_FUNC) return next + l->lo;
  return std::nullopt;
}

std::vector<DecodedInsn> decode_program(std::span<const Insn> insns) {
  std::vector<DecodedInsn> out;
  std::vector<bool> second_half(insns.size(), false);
  for (std::size_t pc = 0; pc < insns.size();) {
    DecodeResult r = decode(insns, pc);
    if (!r.ok()) throw InputError(Location{{}, {}, pc}, r.error());
    const std::size_t n = slots(r.decoded());
    if (n == 2) second_half[pc + 1] = true;
    out.push_back({pc, r.decoded()});
    pc += n;
  }
  for (const auto& [pc, insn] : out) {
    auto target = branch_target(insn, pc);
    if (!target) continue;
    const bool is_call = std::holds_alternative<Call>(insn) || std::holds_alternative<LdImm64>(insn);
    const char* what = is_call ? "call" : "jump";
    if (*target < 0 || *target >= std::int64_t(insns.size()))
      throw InputError(Location{{}, {}, pc}, std::string(what) + " out of range from insn " +
                                                 std::to_string(pc) + " to " + std::to_string(*target));
    if (second_half[std::size_t(*target)])
      throw InputError(Location{{}, {}, pc}, std::string(what) + " into the middle of ldimm64 insn " +
                                                 std::to_string(*target - 1));
  }
  return out;
}

Cond negate(Cond c) {
  switch (c) {
    case Cond::Eq: return Cond::Ne;
    case Cond::Ne: return Cond::Eq;
    case Cond::Gt: return Cond::Le;
    case Cond::Le: return Cond::Gt;
    case Cond::Ge: return Cond::Lt;
    case Cond::Lt: return Cond::Ge;
    case Cond::Sgt: return Cond::Sle;
    case Cond::Sle: return Cond::Sgt;
    case Cond::Sge: return Cond::Slt;
    case Cond::Slt: return Cond::Sge;
    case Cond::Set: return Cond::Set;
  }
  return c;
}

}  // namespace tristate
