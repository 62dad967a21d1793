#include "compiler/asm.hpp"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include "compiler/disasm.hpp"
#include "compiler/error.hpp"

namespace tristate {

namespace {

// Inside the parser an error is an InputError carrying only the reason; parse_insn and
// assemble add the line number and the text.
[[noreturn]] void fail(const std::string& reason) { throw InputError(reason); }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Tokens

struct Token {
  enum Kind : uint8_t { Ident, Number, Punct } kind;
  std::string text;
  uint64_t value = 0;  // of a Number
};

// Operators and punctuation, longest first so that `<<=` is taken before `<` and `<=`.
constexpr std::string_view kPuncts[] = {
    "<<=", ">>=", "+=", "-=", "*=", "/=", "|=", "&=", "%=", "^=", "==", "!=", ">=", "<=",
    "=",   ">",   "<",  "&",  "+",  "-",  "*",  "(",  ")",  "[",  "]",  ",",  ":",
};
// The signed operators, written with a leading `s` glued to the operator (`s>>=`, `s<`).
constexpr std::string_view kSignedOps[] = {"s>>=", "s/=", "s%=", "s>", "s>=", "s<", "s<="};

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
bool ident_char(char c) { return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

int digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

std::string_view punct_at(std::string_view s) {
  for (std::string_view p : kPuncts)
    if (s.starts_with(p)) return p;
  return {};
}

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      const bool is_hex = c == '0' && i + 1 < s.size() && (s[i + 1] == 'x' || s[i + 1] == 'X');
      const uint64_t base = is_hex ? 16 : 10;
      std::size_t j = is_hex ? i + 2 : i;
      while (j < s.size() && std::isalnum(static_cast<unsigned char>(s[j]))) ++j;
      const std::string text(s.substr(i, j - i));
      const std::size_t first_digit = is_hex ? 2 : 0;
      if (text.size() == first_digit) fail("bad number " + quoted(text));
      uint64_t v = 0;
      for (std::size_t k = first_digit; k < text.size(); ++k) {
        const uint64_t d = uint64_t(digit_value(text[k]));
        if (d >= base) fail("bad number " + quoted(text));
        if (v > (std::numeric_limits<uint64_t>::max() - d) / base)
          fail("number " + quoted(text) + " does not fit in 64 bits");
        v = v * base + d;
      }
      out.push_back({Token::Number, text, v});
      i = j;
    } else if (ident_start(c)) {
      std::size_t j = i;
      while (j < s.size() && ident_char(s[j])) ++j;
      std::string word(s.substr(i, j - i));
      if (word == "s" && j < s.size() && std::strchr("<>/%", s[j])) {
        const std::string op = "s" + std::string(punct_at(s.substr(j)));
        bool known = false;
        for (std::string_view k : kSignedOps) known |= op == k;
        if (!known) fail("unknown operator " + quoted(op));
        out.push_back({Token::Punct, op});
        i = j + op.size() - 1;
      } else {
        out.push_back({Token::Ident, std::move(word)});
        i = j;
      }
    } else if (std::string_view p = punct_at(s.substr(i)); !p.empty()) {
      out.push_back({Token::Punct, std::string(p)});
      i += p.size();
    } else {
      fail("unexpected character " + quoted(std::string(1, c)));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Numbers and their ranges

struct Number {
  bool negative = false;
  uint64_t magnitude = 0;
  std::string text;  // as written, for messages
};

// A 32-bit immediate. Where the CPU sign-extends it to 64 bits only [-2^31, 2^31) is accepted
// (`r1 = 0xffffffff` would silently mean -1); elsewhere the unsigned spelling up to 2^32-1 is
// also accepted, as llvm-mc does.
int32_t imm32(const Number& n, bool sign_extended) {
  const uint64_t max = sign_extended ? 0x7fffffff : 0xffffffff;
  if (n.negative ? n.magnitude > 0x80000000ull : n.magnitude > max) {
    std::string why = "immediate " + n.text + " is out of range [-0x80000000, " + hex(max) + "]";
    if (sign_extended) why += " (it is sign-extended to 64 bits; use `ll` for a 64-bit constant)";
    fail(why);
  }
  return n.negative ? int32_t(-int64_t(n.magnitude)) : int32_t(uint32_t(n.magnitude));
}

int64_t signed_in(const Number& n, int64_t lo, int64_t hi, const char* what) {
  const bool ok = n.negative ? n.magnitude <= uint64_t(-lo) : n.magnitude <= uint64_t(hi);
  if (!ok)
    fail(std::string(what) + " " + n.text + " is out of range [" + (lo < 0 ? "-" : "") + hex(uint64_t(-lo)) +
         ", " + hex(uint64_t(hi)) + "]");
  return n.negative ? -int64_t(n.magnitude) : int64_t(n.magnitude);
}

int16_t off16(const Number& n) { return int16_t(signed_in(n, INT16_MIN, INT16_MAX, "offset")); }

// ---------------------------------------------------------------------------------------------
// The parser: one instruction from its tokens.

struct RegTok {
  Reg num = 0;
  bool is64 = true;
  std::string text;
};

bool is_register_name(std::string_view s) {
  if (s.size() < 2 || (s[0] != 'r' && s[0] != 'w')) return false;
  for (char c : s.substr(1))
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

struct SizeTok {
  Width width = Width::DW;
  bool sign = false;
};

class Parser {
 public:
  Parser(std::vector<Token> tokens, bool labels_allowed)
      : t_(std::move(tokens)), labels_allowed_(labels_allowed) {}

  Decoded parse() {
    if (t_.empty()) fail("empty instruction");
    Decoded d = statement();
    if (const Token* extra = peek()) fail("unexpected " + quoted(extra->text) + " after the instruction");
    return d;
  }

  // The label a jump or call named instead of an offset (the offset is then left 0).
  const std::optional<std::string>& label() const { return label_; }

 private:
  std::vector<Token> t_;
  std::size_t i_ = 0;
  bool labels_allowed_;
  std::optional<std::string> label_;

  const Token* peek(std::size_t k = 0) const { return i_ + k < t_.size() ? &t_[i_ + k] : nullptr; }
  bool is(std::string_view text, std::size_t k = 0) const {
    const Token* p = peek(k);
    return p && p->kind != Token::Number && p->text == text;
  }
  bool is_number(std::size_t k = 0) const {
    const Token* p = peek(k);
    return p && p->kind == Token::Number;
  }
  bool is_reg(std::size_t k = 0) const {
    const Token* p = peek(k);
    return p && p->kind == Token::Ident && is_register_name(p->text);
  }
  bool accept(std::string_view text) {
    if (!is(text)) return false;
    ++i_;
    return true;
  }
  std::string found() const {
    const Token* p = peek();
    return p ? "but found " + quoted(p->text) : "but the line ends";
  }
  void expect(std::string_view text) {
    if (!accept(text)) fail("expected " + quoted(text) + " " + found());
  }
  std::string ident(const char* what) {
    const Token* p = peek();
    if (!p || p->kind != Token::Ident) fail(std::string("expected ") + what + " " + found());
    ++i_;
    return p->text;
  }
  std::string op(const char* after) {
    const Token* p = peek();
    if (!p || p->kind != Token::Punct)
      fail(std::string("expected an operator after ") + after + " " + found());
    ++i_;
    return p->text;
  }

  RegTok reg() {
    const Token* p = peek();
    if (!p || p->kind != Token::Ident || !is_register_name(p->text)) fail("expected a register " + found());
    ++i_;
    // Exactly r0..r10 and w0..w10 (no `r01`); the length check keeps stoul in range.
    if (p->text.size() > 3 || (p->text.size() == 3 && p->text[1] == '0') ||
        std::stoul(p->text.substr(1)) > kMaxReg)
      fail("invalid register " + quoted(p->text) + " (registers are r0..r10, w0..w10)");
    return {Reg(std::stoul(p->text.substr(1))), p->text[0] == 'r', p->text};
  }
  // A register whose width is fixed by the instruction (`w1 += w2`, never `w1 += r2`).
  RegTok reg_as(bool is64) {
    RegTok r = reg();
    if (r.is64 != is64)
      fail("expected " + std::string(is64 ? "r" : "w") + std::to_string(r.num) + " instead of " + r.text);
    return r;
  }
  // A register that may be written either way (`r1 = *(u8 *)...` and `w1 = *(u8 *)...`), except
  // that a 64-bit access needs the 64-bit name.
  RegTok reg_for(Width w) {
    RegTok r = reg();
    if (w == Width::DW && !r.is64)
      fail("a 64-bit access needs r" + std::to_string(r.num) + ", not " + r.text);
    return r;
  }

  Number number() {
    Number n;
    std::string sign;
    if (accept("-")) {
      n.negative = true;
      sign = "-";
    } else if (accept("+")) {
      sign = "+";
    }
    const Token* p = peek();
    if (!p || p->kind != Token::Number) fail("expected a number " + found());
    ++i_;
    n.magnitude = p->value;
    n.text = sign + p->text;
    if (n.magnitude == 0) n.negative = false;
    return n;
  }

  // A jump or call target: a signed offset, or (in assemble) a label.
  int32_t target(bool wide) {
    if (const Token* p = peek(); p && p->kind == Token::Ident) {
      if (!labels_allowed_)
        fail("label " + quoted(p->text) +
             " needs assemble(); a single instruction takes an offset such as +0x3");
      ++i_;
      label_ = p->text;
      return 0;
    }
    const Number n = number();
    if (wide) return int32_t(signed_in(n, INT32_MIN, INT32_MAX, "jump offset"));
    return int32_t(signed_in(n, INT16_MIN, INT16_MAX, "jump offset"));
  }

  SizeTok size() {
    static constexpr std::pair<std::string_view, SizeTok> kSizes[] = {
        {"u8", {Width::B, false}},   {"u16", {Width::H, false}}, {"u32", {Width::W, false}},
        {"u64", {Width::DW, false}}, {"s8", {Width::B, true}},   {"s16", {Width::H, true}},
        {"s32", {Width::W, true}},
    };
    const std::string name = ident("a size such as u32");
    for (const auto& [n, s] : kSizes)
      if (n == name) return s;
    fail("unknown size " + quoted(name) + " (u8, u16, u32, u64, s8, s16, s32)");
  }
  SizeTok unsigned_size() {
    SizeTok s = size();
    if (s.sign) fail("a sign-extending size is only valid in a load");
    return s;
  }
  // `(u32 *)`
  SizeTok typed_pointer(bool allow_sign) {
    expect("(");
    SizeTok s = allow_sign ? size() : unsigned_size();
    expect("*");
    expect(")");
    return s;
  }
  // `r1 + 0x8`, `r10 - 8`, `r1`
  std::pair<Reg, int16_t> address() {
    const RegTok base = reg_as(true);
    int16_t off = 0;
    if (accept("+")) {
      off = off16(number());
    } else if (accept("-")) {
      Number n = number();
      n.negative = !n.negative && n.magnitude != 0;
      n.text = "-" + n.text;
      off = off16(n);
    }
    return {base.num, off};
  }
  std::pair<Reg, int16_t> paren_address() {
    expect("(");
    auto a = address();
    expect(")");
    return a;
  }

  // `((u32 *)(r1 + 0x0), w2)`: the arguments of store_release and atomic_fetch_*, the register
  // spelled for the access width.
  struct TypedAccess {
    SizeTok size;
    Reg base;
    int16_t off;
    RegTok reg;
  };
  TypedAccess typed_access_and_reg() {
    expect("(");
    const SizeTok s = typed_pointer(false);
    const auto [base, off] = paren_address();
    expect(",");
    const RegTok r = reg_for(s.width);
    expect(")");
    return {s, base, off, r};
  }

  Decoded statement() {
    if (accept("exit")) return Exit{};
    if (accept("goto")) return Ja{target(false), false};
    if (accept("gotol")) return Ja{target(true), true};
    if (accept("may_goto")) return MayGoto{int16_t(target(false))};
    if (accept("call")) return call();
    if (accept("if")) return jump();
    if (accept("lock")) return lock();
    if (accept("store_release")) return store_release();
    if (accept("ld_pseudo")) return ld_pseudo();
    if (is("*")) return store();
    if (is_reg()) return reg_statement();
    fail("unknown mnemonic " + quoted(peek()->text));
  }

  Decoded call() {
    if (is("pc") && (is("+", 1) || is("-", 1))) {  // bpf-to-bpf: `call pc+0x3`
      ++i_;
      return Call{CallKind::Local, int32_t(signed_in(number(), INT32_MIN, INT32_MAX, "call offset")), 0};
    }
    if (is("kfunc") && (is_number(1) || is("-", 1) || is("+", 1))) {  // `call kfunc 0x3039[, 0x2]`
      ++i_;
      const int32_t id = imm32(number(), false);
      const int16_t off = accept(",") ? off16(number()) : 0;
      return Call{CallKind::Kfunc, id, off};
    }
    if (const Token* p = peek(); p && p->kind == Token::Ident)  // `call name` (assemble only)
      return Call{CallKind::Local, target(true), 0};
    return Call{CallKind::Helper, imm32(number(), false), 0};
  }

  Decoded jump() {
    const RegTok dst = reg();
    const std::string cond_text = op(quoted(dst.text).c_str());
    std::optional<Cond> cond;
    for (int c = 0; c <= int(Cond::Sle); ++c)
      if (cond_spelling(Cond(c)) == cond_text) cond = Cond(c);
    if (!cond) fail("unknown condition " + quoted(cond_text));
    const Operand src = is_reg() ? Operand::r(reg_as(dst.is64).num) : Operand::k(imm32(number(), dst.is64));
    expect("goto");
    return Jmp{dst.is64, *cond, dst.num, src, int16_t(target(false))};
  }

  Decoded lock() {  // lock *(u64 *)(r1 + 0x0) += r2
    expect("*");
    const SizeTok s = typed_pointer(false);
    const auto [base, off] = paren_address();
    static constexpr std::pair<std::string_view, AtomicOp> kOps[] = {
        {"+=", AtomicOp::Add}, {"|=", AtomicOp::Or}, {"&=", AtomicOp::And}, {"^=", AtomicOp::Xor}};
    const std::string o = op("the address");
    for (const auto& [text, aop] : kOps)
      if (o == text) return Atomic{s.width, aop, false, base, reg_for(s.width).num, off};
    fail("unknown atomic operator " + quoted(o) + " (+=, |=, &=, ^=)");
  }

  Decoded store() {  // *(u32 *)(r10 - 0x4) = r1 | 0x5
    expect("*");
    const SizeTok s = typed_pointer(false);
    const auto [base, off] = paren_address();
    expect("=");
    if (is_reg()) return Store{s.width, false, base, off, Operand::r(reg_for(s.width).num)};
    return Store{s.width, false, base, off, Operand::k(imm32(number(), s.width == Width::DW))};
  }

  Decoded store_release() {  // store_release((u8 *)(r1 + 0x0), w2)
    const TypedAccess a = typed_access_and_reg();
    return Store{a.size.width, true, a.base, a.off, Operand::r(a.reg.num)};
  }

  Decoded ld_pseudo() {  // ld_pseudo r1, 0x2, 0x3[, 0x10]
    const RegTok dst = reg_as(true);
    expect(",");
    const Number kind = number();
    if (kind.negative || kind.magnitude > 15)
      fail("ld_pseudo kind " + kind.text + " does not fit in src_reg");
    expect(",");
    const int32_t lo = imm32(number(), false);
    const int32_t hi = accept(",") ? imm32(number(), false) : 0;
    return LdImm64{dst.num, uint8_t(kind.magnitude), lo, hi};
  }

  Decoded reg_statement() {
    const RegTok dst = reg();
    if (accept("=")) return assignment(dst);
    const std::string o = op(quoted(dst.text).c_str());
    for (int a = 0; a <= int(AluOp::Arsh); ++a) {
      if (AluOp(a) == AluOp::Mov || alu_op_spelling(AluOp(a)) != o) continue;
      const Operand src = is_reg() ? Operand::r(reg_as(dst.is64).num) : Operand::k(imm32(number(), dst.is64));
      return Alu{dst.is64, AluOp(a), dst.num, src};
    }
    fail("unknown operator " + quoted(o) + " after " + quoted(dst.text));
  }

  Decoded assignment(const RegTok& dst) {
    if (accept("*")) {  // r1 = *(u32 *)(r2 + 0x0), r0 = *(u8 *)skb[...]
      const SizeTok s = typed_pointer(true);
      if (accept("skb")) return packet_load(dst, s);
      const auto [base, off] = paren_address();
      if ((s.width == Width::DW || s.sign) && !dst.is64)
        fail("this load writes all 64 bits: use r" + std::to_string(dst.num) + ", not " + dst.text);
      return Load{s.width, s.sign, false, dst.num, base, off};
    }
    if (accept("(")) {  // r1 = (s8)r2
      static constexpr std::pair<std::string_view, AluOp> kMovSx[] = {
          {"s8", AluOp::MovSx8}, {"s16", AluOp::MovSx16}, {"s32", AluOp::MovSx32}};
      const std::string name = ident("s8, s16 or s32");
      expect(")");
      if (name == "s32" && !dst.is64)
        fail("(s32) exists only on 64 bits: r" + std::to_string(dst.num) + " = (s32)rN");
      for (const auto& [n, aop] : kMovSx)
        if (n == name) return Alu{dst.is64, aop, dst.num, Operand::r(reg_as(dst.is64).num)};
      fail("unknown sign extension " + quoted(name) + " (s8, s16, s32)");
    }
    if (is("-") && is_reg(1)) {  // r1 = -r1
      ++i_;
      const RegTok src = reg();
      if (src.num != dst.num || src.is64 != dst.is64)
        fail("negation names one register on both sides: " + dst.text + " = -" + dst.text);
      return Alu{dst.is64, AluOp::Neg, dst.num, Operand::k(0)};
    }
    if (is_reg()) return Alu{dst.is64, AluOp::Mov, dst.num, Operand::r(reg_as(dst.is64).num)};
    if (const Token* p = peek(); p && p->kind == Token::Ident) return named_operation(dst);
    const Number n = number();
    if (accept("ll")) {
      if (!dst.is64) fail("a 64-bit constant needs r" + std::to_string(dst.num) + ", not " + dst.text);
      if (n.negative && n.magnitude > (uint64_t(1) << 63))
        fail("immediate " + n.text + " is out of range [-0x8000000000000000, 0xffffffffffffffff]");
      const uint64_t v = n.negative ? 0 - n.magnitude : n.magnitude;
      return LdImm64{dst.num, 0, int32_t(uint32_t(v)), int32_t(uint32_t(v >> 32))};
    }
    return Alu{dst.is64, AluOp::Mov, dst.num, Operand::k(imm32(n, dst.is64))};
  }

  Decoded packet_load(const RegTok& dst, SizeTok s) {  // r0 = *(u32 *)skb[r1 + 0x3]
    if (dst.num != 0 || !dst.is64) fail("a packet load always writes r0, not " + dst.text);
    if (s.sign || s.width == Width::DW) fail("packet loads are u8, u16 or u32");
    expect("[");
    PacketLoad p{false, s.width, 0, 0};
    if (is_reg()) {
      p.indirect = true;
      p.src = reg_as(true).num;
      if (accept("+")) {
        p.imm = imm32(number(), true);
      } else if (accept("-")) {
        Number n = number();
        n.negative = !n.negative && n.magnitude != 0;
        n.text = "-" + n.text;
        p.imm = imm32(n, true);
      }
    } else {
      p.imm = imm32(number(), true);
    }
    expect("]");
    return p;
  }

  // r1 = be16 r1, load_acquire(...), atomic_fetch_add(...), xchg_64(...), cmpxchg_64(...),
  // addr_space_cast(...)
  Decoded named_operation(const RegTok& dst) {
    const std::string name = ident("an operation");
    static constexpr std::pair<std::string_view, ByteOrder> kOrders[] = {
        {"le", ByteOrder::ToLe}, {"be", ByteOrder::ToBe}, {"bswap", ByteOrder::Swap}};
    for (const auto& [prefix, order] : kOrders) {
      for (int bits : {16, 32, 64}) {
        if (name != std::string(prefix) + std::to_string(bits)) continue;
        const RegTok src = reg();
        if (!dst.is64 || !src.is64 || src.num != dst.num)
          fail(name + " names one r register on both sides: r" + std::to_string(dst.num) + " = " + name +
               " r" + std::to_string(dst.num));
        return Endian{order, dst.num, uint8_t(bits)};
      }
    }
    if (name == "load_acquire") {  // w0 = load_acquire((u8 *)(r1 + 0x0))
      expect("(");
      const SizeTok s = typed_pointer(false);
      const auto [base, off] = paren_address();
      expect(")");
      if (s.width == Width::DW && !dst.is64) fail("a 64-bit access needs r" + std::to_string(dst.num));
      return Load{s.width, false, true, dst.num, base, off};
    }
    static constexpr std::pair<std::string_view, AtomicOp> kFetch[] = {{"atomic_fetch_add", AtomicOp::Add},
                                                                       {"atomic_fetch_or", AtomicOp::Or},
                                                                       {"atomic_fetch_and", AtomicOp::And},
                                                                       {"atomic_fetch_xor", AtomicOp::Xor}};
    for (const auto& [n, aop] : kFetch) {
      if (name != n) continue;  // r1 = atomic_fetch_add((u64 *)(r2 + 0x0), r1)
      const TypedAccess a = typed_access_and_reg();
      same_register(dst, a.reg, a.size.width, name);
      return Atomic{a.size.width, aop, true, a.base, a.reg.num, a.off};
    }
    if (name == "xchg_64" || name == "xchg32_32") {  // r1 = xchg_64(r2 + 0x0, r1)
      const Width w = name == "xchg_64" ? Width::DW : Width::W;
      expect("(");
      const auto [base, off] = address();
      expect(",");
      const RegTok src = reg_for(w);
      expect(")");
      same_register(dst, src, w, name);
      return Atomic{w, AtomicOp::Xchg, true, base, src.num, off};
    }
    if (name == "cmpxchg_64" || name == "cmpxchg32_32") {  // r0 = cmpxchg_64(r1 + 0x0, r0, r2)
      const Width w = name == "cmpxchg_64" ? Width::DW : Width::W;
      expect("(");
      const auto [base, off] = address();
      expect(",");
      const RegTok expected = reg_for(w);
      expect(",");
      const RegTok src = reg_for(w);
      expect(")");
      if (dst.num != 0 || expected.num != 0)
        fail(name + " compares with and writes r0: r0 = " + name + "(..., r0, rN)");
      same_register(dst, expected, w, name);
      return Atomic{w, AtomicOp::CmpXchg, true, base, src.num, off};
    }
    if (name == "addr_space_cast") {  // r1 = addr_space_cast(r2, 0x0, 0x1)
      if (!dst.is64) fail("addr_space_cast writes r" + std::to_string(dst.num) + ", not " + dst.text);
      expect("(");
      const RegTok src = reg_as(true);
      expect(",");
      const auto dst_as = signed_in(number(), 0, 0xffff, "address space");
      expect(",");
      const auto src_as = signed_in(number(), 0, 0xffff, "address space");
      expect(")");
      return AddrSpaceCast{dst.num, src.num, uint16_t(dst_as), uint16_t(src_as)};
    }
    fail("unknown operation " + quoted(name));
  }

  void same_register(const RegTok& a, const RegTok& b, Width w, const std::string& name) {
    if (a.num != b.num)
      fail(name + " reads and writes one register: " + a.text + " and " + b.text + " differ");
    if (w == Width::DW && !a.is64)
      fail("a 64-bit access needs r" + std::to_string(a.num) + ", not " + a.text);
  }
};

// Everything parse_insn returns must be an instruction the kernel's field checks accept (decode
// gives the reason otherwise: "div by zero", "frame pointer is read only", ...).
Decoded checked(const Decoded& d) {
  const Encoded e = encode(d);
  const DecodeResult r = decode(e.span(), 0);
  if (!r.ok()) fail(r.error());
  if (!(r.decoded() == d))
    throw InternalError("assembler built an instruction that decodes differently: " + format_insn(d));
  return d;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_hex_digit(char c) { return digit_value(c) < 16; }

// The instruction text of a line: without comments, without the slot number and raw bytes of a
// listing line, without objdump's ` <sym+0x10>` annotation after a jump.
std::string_view instruction_text(std::string_view line) {
  for (std::string_view start : {";", "#", "//"})
    if (auto p = line.find(start); p != std::string_view::npos) line = line.substr(0, p);
  line = trim(line);

  std::size_t digits = 0;
  while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) ++digits;
  if (digits > 0 && digits < line.size() && line[digits] == ':') {
    line = trim(line.substr(digits + 1));
    // Raw bytes: pairs of hex digits, each followed by white space (no mnemonic looks like that).
    while (line.size() > 2 && is_hex_digit(line[0]) && is_hex_digit(line[1]) &&
           std::isspace(static_cast<unsigned char>(line[2])))
      line = trim(line.substr(3));
  }

  if (line.ends_with('>')) {
    const auto open = line.rfind('<');
    if (open != std::string_view::npos && open > 0 &&
        std::isspace(static_cast<unsigned char>(line[open - 1])) &&
        line.substr(open).find_first_of(" \t") == std::string_view::npos)
      line = trim(line.substr(0, open));
  }
  return line;
}

InputError at_line(std::size_t line_no, const std::string& reason, std::string_view text) {
  std::string msg = "line " + std::to_string(line_no) + ": " + reason;
  if (!trim(text).empty()) msg += " in `" + std::string(trim(text)) + "`";
  return InputError(msg);
}

// Points a jump or call at a label, `rel` slots after the next instruction.
void set_target(Decoded& d, int64_t rel, const std::string& label) {
  auto fits = [&](int64_t lo, int64_t hi, const char* hint) {
    if (rel < lo || rel > hi)
      fail("label " + quoted(label) + " is " + std::to_string(rel) + " instructions away, out of range" +
           hint);
    return rel;
  };
  if (auto* j = std::get_if<Jmp>(&d)) j->off = int16_t(fits(INT16_MIN, INT16_MAX, " for a 16-bit offset"));
  if (auto* m = std::get_if<MayGoto>(&d))
    m->off = int16_t(fits(INT16_MIN, INT16_MAX, " for a 16-bit offset"));
  if (auto* j = std::get_if<Ja>(&d))
    j->off = j->is_long ? int32_t(fits(INT32_MIN, INT32_MAX, ""))
                        : int32_t(fits(INT16_MIN, INT16_MAX, " for goto (gotol reaches further)"));
  if (auto* c = std::get_if<Call>(&d)) c->imm = int32_t(fits(INT32_MIN, INT32_MAX, ""));
}

}  // namespace

Decoded parse_insn(std::string_view text) {
  try {
    const std::string_view body = instruction_text(text);
    if (body.starts_with('<')) fail("not an instruction");
    return checked(Parser(tokenize(body), false).parse());
  } catch (const InputError& e) {
    throw at_line(1, e.reason(), text);
  }
}

std::vector<Insn> assemble(std::string_view text) { return assemble_listing(text).insns; }

Assembly assemble_listing(std::string_view text) {
  struct LabelDef {
    std::size_t pc, line;
  };
  struct Fixup {
    std::size_t pc, line;
    std::string label;
    Decoded insn;
    std::string text;
  };
  std::map<std::string, LabelDef, std::less<>> labels;
  std::vector<Fixup> fixups;
  Assembly result;
  std::vector<Insn>& out = result.insns;

  std::size_t line_no = 0;
  while (!text.empty() || line_no == 0) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    try {
      const std::string_view body = instruction_text(line);
      if (body.starts_with('<')) fail("not an instruction");
      std::vector<Token> tokens = tokenize(body);
      std::size_t first = 0;
      while (tokens.size() - first >= 2 && tokens[first].kind == Token::Ident &&
             tokens[first + 1].kind == Token::Punct && tokens[first + 1].text == ":") {
        const std::string& name = tokens[first].text;
        if (auto it = labels.find(name); it != labels.end())
          fail("duplicate label " + quoted(name) + " (first defined on line " +
               std::to_string(it->second.line) + ")");
        labels.emplace(name, LabelDef{out.size(), line_no});
        result.labels.push_back({name, out.size()});
        first += 2;
      }
      if (first == tokens.size()) continue;
      Parser parser(std::vector<Token>(tokens.begin() + std::ptrdiff_t(first), tokens.end()), true);
      const Decoded d = checked(parser.parse());
      if (parser.label()) fixups.push_back({out.size(), line_no, *parser.label(), d, std::string(line)});
      const Encoded e = encode(d);
      out.insert(out.end(), e.insn.begin(), e.insn.begin() + e.count);
      result.lines.insert(result.lines.end(), e.count, line_no);
    } catch (const InputError& e) {
      throw at_line(line_no, e.reason(), line);
    }
  }

  for (Fixup& f : fixups) {
    try {
      const auto it = labels.find(f.label);
      if (it == labels.end()) fail("unknown label " + quoted(f.label));
      set_target(f.insn, int64_t(it->second.pc) - int64_t(f.pc + 1), f.label);
      out[f.pc] = encode(f.insn).insn[0];
    } catch (const InputError& e) {
      throw at_line(f.line, e.reason(), f.text);
    }
  }
  return result;
}

}  // namespace tristate
