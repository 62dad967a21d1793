#include "compiler/disasm.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace tristate {

namespace {

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// A signed value as LLVM prints it: 0x5, -0x5 (negated in unsigned arithmetic so that the most
// negative value prints as -0x8000000000000000).
std::string signed_hex(int64_t v) { return v < 0 ? "-" + hex(0 - uint64_t(v)) : hex(uint64_t(v)); }

// Branch offsets always carry a sign: +0x0, -0x3.
std::string branch_offset(int64_t v) { return v < 0 ? signed_hex(v) : "+" + hex(uint64_t(v)); }

// `base + off` with the sign as an operator: "r10 - 0x8", "r1 + 0x0".
std::string plus_minus(std::string base, int64_t off) {
  return base + (off < 0 ? " - " + hex(0 - uint64_t(off)) : " + " + hex(uint64_t(off)));
}

std::string reg(Reg r, bool is64 = true) { return (is64 ? "r" : "w") + std::to_string(r); }

std::string address(Reg base, int16_t off) { return plus_minus(reg(base), off); }

std::string size_name(Width w, bool sign = false) {
  return (sign ? "s" : "u") + std::to_string(bytes(w) * 8);
}

// `*(u32 *)(r1 + 0x8)`
std::string memory(Width w, Reg base, int16_t off, bool sign = false) {
  return "*(" + size_name(w, sign) + " *)(" + address(base, off) + ")";
}

std::string operand(const Operand& src, bool is64) {
  return src.is_reg ? reg(src.reg, is64) : signed_hex(src.imm);
}

std::string format_atomic(const Atomic& a) {
  const bool is64 = a.width == Width::DW;
  const std::string src = reg(a.src, is64);
  const std::string suffix = is64 ? "_64" : "32_32";  // LLVM's xchg_64 / xchg32_32
  switch (a.op) {
    case AtomicOp::Xchg: return src + " = xchg" + suffix + "(" + address(a.base, a.off) + ", " + src + ")";
    case AtomicOp::CmpXchg: {
      const std::string r0 = reg(0, is64);
      return r0 + " = cmpxchg" + suffix + "(" + address(a.base, a.off) + ", " + r0 + ", " + src + ")";
    }
    default: break;
  }
  static constexpr std::pair<AtomicOp, AluOp> kAsAlu[] = {{AtomicOp::Add, AluOp::Add},
                                                          {AtomicOp::Or, AluOp::Or},
                                                          {AtomicOp::And, AluOp::And},
                                                          {AtomicOp::Xor, AluOp::Xor}};
  static constexpr std::pair<AtomicOp, const char*> kFetchNames[] = {
      {AtomicOp::Add, "add"}, {AtomicOp::Or, "or"}, {AtomicOp::And, "and"}, {AtomicOp::Xor, "xor"}};
  const std::string mem = memory(a.width, a.base, a.off);
  if (a.fetch) {
    for (const auto& [op, name] : kFetchNames)
      if (op == a.op) return src + " = atomic_fetch_" + name + "(" + mem.substr(1) + ", " + src + ")";
  }
  for (const auto& [op, alu] : kAsAlu)
    if (op == a.op) return "lock " + mem + " " + std::string(alu_op_spelling(alu)) + " " + src;
  return "<invalid atomic>";
}

}  // namespace

std::string_view alu_op_spelling(AluOp op) {
  switch (op) {
    case AluOp::Add: return "+=";
    case AluOp::Sub: return "-=";
    case AluOp::Mul: return "*=";
    case AluOp::Div: return "/=";
    case AluOp::SDiv: return "s/=";
    case AluOp::Or: return "|=";
    case AluOp::And: return "&=";
    case AluOp::Lsh: return "<<=";
    case AluOp::Rsh: return ">>=";
    case AluOp::Mod: return "%=";
    case AluOp::SMod: return "s%=";
    case AluOp::Xor: return "^=";
    case AluOp::Mov: return "=";
    case AluOp::Arsh: return "s>>=";
    case AluOp::Neg:
    case AluOp::MovSx8:
    case AluOp::MovSx16:
    case AluOp::MovSx32: return "";
  }
  return "";
}

std::string_view cond_spelling(Cond c) {
  switch (c) {
    case Cond::Eq: return "==";
    case Cond::Gt: return ">";
    case Cond::Ge: return ">=";
    case Cond::Set: return "&";
    case Cond::Ne: return "!=";
    case Cond::Sgt: return "s>";
    case Cond::Sge: return "s>=";
    case Cond::Lt: return "<";
    case Cond::Le: return "<=";
    case Cond::Slt: return "s<";
    case Cond::Sle: return "s<=";
  }
  return "?";
}

std::string format_insn(const Decoded& d) {
  return std::visit(
      Overloaded{
          [](const Alu& a) -> std::string {
            const std::string dst = reg(a.dst, a.is64);
            switch (a.op) {
              case AluOp::Neg: return dst + " = -" + dst;
              case AluOp::MovSx8: return dst + " = (s8)" + operand(a.src, a.is64);
              case AluOp::MovSx16: return dst + " = (s16)" + operand(a.src, a.is64);
              case AluOp::MovSx32: return dst + " = (s32)" + operand(a.src, a.is64);
              default: return dst + " " + std::string(alu_op_spelling(a.op)) + " " + operand(a.src, a.is64);
            }
          },
          [](const Endian& e) -> std::string {
            const char* name = e.order == ByteOrder::ToLe   ? "le"
                               : e.order == ByteOrder::ToBe ? "be"
                                                            : "bswap";
            return reg(e.dst) + " = " + name + std::to_string(e.bits) + " " + reg(e.dst);
          },
          [](const AddrSpaceCast& c) -> std::string {
            return reg(c.dst) + " = addr_space_cast(" + reg(c.src) + ", " + hex(c.dst_as) + ", " +
                   hex(c.src_as) + ")";
          },
          [](const Jmp& j) -> std::string {
            return "if " + reg(j.dst, j.is64) + " " + std::string(cond_spelling(j.cond)) + " " +
                   operand(j.src, j.is64) + " goto " + branch_offset(j.off);
          },
          [](const Ja& j) -> std::string { return (j.is_long ? "gotol " : "goto ") + branch_offset(j.off); },
          [](const MayGoto& m) -> std::string { return "may_goto " + branch_offset(m.off); },
          [](const Load& l) -> std::string {
            if (l.acquire)  // LLVM 21 syntax; LLVM 19 prints <unknown>
              return reg(l.dst, l.width == Width::DW) + " = load_acquire((" + size_name(l.width) + " *)(" +
                     address(l.base, l.off) + "))";
            return reg(l.dst) + " = " + memory(l.width, l.base, l.off, l.sign_extend);
          },
          [](const Store& s) -> std::string {
            if (s.release)  // LLVM 21 syntax; LLVM 19 prints <unknown>
              return "store_release((" + size_name(s.width) + " *)(" + address(s.base, s.off) + "), " +
                     reg(s.src.reg, s.width == Width::DW) + ")";
            return memory(s.width, s.base, s.off) + " = " + operand(s.src, true);
          },
          [](const Atomic& a) { return format_atomic(a); },
          [](const Call& c) -> std::string {
            switch (c.kind) {
              case CallKind::Helper: return "call " + signed_hex(c.imm);
              case CallKind::Local: return "call pc" + branch_offset(c.imm);
              case CallKind::Kfunc:
                return "call kfunc " + signed_hex(c.imm) + (c.off ? ", " + signed_hex(c.off) : "");
            }
            return "call ?";
          },
          [](const Exit&) -> std::string { return "exit"; },
          [](const LdImm64& l) -> std::string {
            if (l.pseudo == 0) return reg(l.dst) + " = " + signed_hex(int64_t(l.value())) + " ll";
            // LLVM's form, with the high word added when it matters (LLVM drops it).
            std::string out = "ld_pseudo\t" + reg(l.dst) + ", " + hex(l.pseudo) + ", " + hex(uint32_t(l.lo));
            if (l.hi != 0) out += ", " + hex(uint32_t(l.hi));
            return out;
          },
          [](const PacketLoad& p) -> std::string {
            std::string index =
                p.indirect ? (p.imm == 0 ? reg(p.src) : plus_minus(reg(p.src), p.imm)) : signed_hex(p.imm);
            return "r0 = *(" + size_name(p.width) + " *)skb[" + index + "]";
          },
      },
      d);
}

std::string format_listing(std::span<const Insn> insns, const ListingOptions& opts) {
  std::string out;
  for (std::size_t pc = 0; pc < insns.size();) {
    const DecodeResult r = decode(insns, pc);
    const std::size_t count = r.ok() ? slots(r.decoded()) : 1;
    char prefix[32];
    std::snprintf(prefix, sizeof prefix, "%8zu:\t", pc);
    out += prefix;
    if (opts.raw_bytes) {
      for (std::size_t i = 0; i < count; ++i) {
        unsigned char raw[8];
        std::memcpy(raw, &insns[pc + i], 8);
        for (int b = 0; b < 8; ++b) {
          char buf[4];
          std::snprintf(buf, sizeof buf, "%02x", raw[b]);
          if (i + b > 0) out += ' ';
          out += buf;
        }
      }
      out += '\t';
    }
    out += r.ok() ? format_insn(r.decoded()) : "<invalid: " + r.error() + ">";
    out += '\n';
    pc += count;
  }
  return out;
}

}  // namespace tristate
