#include "verifier/kernel_log.hpp"

#include "analyzer/state.hpp"

#include <charconv>
#include <cinttypes>
#include <climits>
#include <cstdio>

namespace tristate {

// How the Linux 6.18 kernel prints numbers and scalars (kernel/bpf/log.c), the facts this file
// depends on:
//   - a signed number (verbose_snum) is decimal when it lies in [S16_MIN, S16_MAX], otherwise the
//     hex of its 64 bits ("%#llx": 0x prefix, also for 0); an unsigned one (verbose_unum) is decimal
//     up to U16_MAX, hex above;
//   - a scalar whose tnum is constant prints as that constant, signed: "129", "-1", "0xffffffff";
//   - otherwise print_scalar_ranges lists smin, smax, umin, umax, smin32, smax32, umin32, umax32
//     in this order, LEAVING OUT EVERY BOUND EQUAL TO ITS TYPE'S EXTREME (smin == S64_MIN,
//     smax == S64_MAX, umin == 0, umax == U64_MAX, smin32 == S32_MIN, smax32 == S32_MAX,
//     umin32 == 0, umax32 == U32_MAX) and nothing else. So an absent key means exactly that
//     extreme: "scalar(smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff))" has umin = 0,
//     smin32 = S32_MIN, smax32 = S32_MAX, umin32 = 0, umax32 = U32_MAX, which is what the kernel held
//     (the 32-bit halves of [0, U32_MAX] are unbounded). A printed bound is followed by every later
//     bound of the same parity in the list (min with mins, max with maxes) that holds the same
//     64-bit value and is not a negative signed one paired with a non-negative one, as
//     "smin=umin=smin32=umin32=20"; the value is printed by the first key's printer. Signed 32-bit
//     bounds are widened to 64 bits by sign extension when decimal and by zero extension (u32)
//     when hex, so "smin32=0xfffe7960" is -100000 and never groups with a negative 64-bit smin;
//   - then ",var_off=(0xVALUE; 0xMASK)" unless the tnum is unknown (mask all ones);
//   - pointers print their id, map, off, r, sz, ... fields, then either imm=N (a constant nonzero
//     variable part; nothing for 0) or the bounds and var_off as above.
// The printing side lives with the analyzer's states (analyzer/state.cpp, format_scalar), which
// prints its own log the same way.

namespace {


// A number as the kernel prints it: decimal (maybe negative) or 0x hex, as its 64 bits.
std::optional<uint64_t> parse_number(std::string_view s) {
  bool neg = false;
  if (s.starts_with('-')) {
    neg = true;
    s.remove_prefix(1);
  }
  int base = 10;
  if (s.starts_with("0x") || s.starts_with("0X")) {
    if (neg) return std::nullopt;
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (neg) {
    if (v > uint64_t(INT64_MAX) + 1) return std::nullopt;
    v = uint64_t(0) - v;
  }
  return v;
}

bool is_hex(std::string_view s) { return s.starts_with("0x") || s.starts_with("0X"); }

enum class Bound { Smin, Smax, Umin, Umax, Smin32, Smax32, Umin32, Umax32 };
constexpr std::string_view kBoundNames[] = {"smin", "smax", "umin", "umax", "smin32", "smax32", "umin32", "umax32"};

std::optional<Bound> bound_of(std::string_view key) {
  for (int i = 0; i < 8; ++i)
    if (key == kBoundNames[i]) return Bound(i);
  return std::nullopt;
}

// Sets bound `b` of `s` from its printed text; false when the text does not fit the bound.
bool set_bound(Scalar& s, Bound b, std::string_view text) {
  const std::optional<uint64_t> v = parse_number(text);
  if (!v) return false;
  const bool negative_decimal = text.starts_with('-');
  switch (b) {
    case Bound::Smin: s.smin = int64_t(*v); return true;
    case Bound::Smax: s.smax = int64_t(*v); return true;
    case Bound::Umin: if (negative_decimal) return false; s.umin = *v; return true;
    case Bound::Umax: if (negative_decimal) return false; s.umax = *v; return true;
    case Bound::Smin32:
    case Bound::Smax32: {
      // Hex: the u32 bits; decimal: the sign-extended value.
      int64_t x;
      if (is_hex(text)) {
        if (*v > UINT32_MAX) return false;
        x = int32_t(uint32_t(*v));
      } else {
        x = int64_t(*v);
        if (x < INT32_MIN || x > INT32_MAX) return false;
      }
      (b == Bound::Smin32 ? s.s32_min : s.s32_max) = int32_t(x);
      return true;
    }
    case Bound::Umin32:
    case Bound::Umax32:
      if (negative_decimal || *v > UINT32_MAX) return false;
      (b == Bound::Umin32 ? s.u32_min : s.u32_max) = uint32_t(*v);
      return true;
  }
  return false;
}

// Splits at `sep` outside parentheses.
std::vector<std::string_view> split_top(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    else if (s[i] == ')') --depth;
    else if (s[i] == sep && depth == 0) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

// "(0x0; 0xff)" -> the tnum.
std::optional<Tnum> parse_tnum(std::string_view s) {
  if (!s.starts_with('(') || !s.ends_with(')')) return std::nullopt;
  s = s.substr(1, s.size() - 2);
  const std::size_t semi = s.find("; ");
  if (semi == std::string_view::npos) return std::nullopt;
  const auto value = parse_number(s.substr(0, semi));
  const auto mask = parse_number(s.substr(semi + 2));
  if (!value || !mask || (*value & *mask) != 0) return std::nullopt;
  return Tnum{*value, *mask};
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool is_type_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

}  // namespace

std::optional<LoggedReg> parse_logged_reg(std::string_view text) {
  LoggedReg r;
  if (text.starts_with('P') && text.size() > 1 &&
      (text[1] == '-' || (text[1] >= '0' && text[1] <= '9') || text.substr(1).starts_with("scalar("))) {
    r.precise = true;
    text.remove_prefix(1);
  }
  if (text.empty()) return std::nullopt;

  // A constant scalar: the number alone.
  if (text[0] == '-' || (text[0] >= '0' && text[0] <= '9')) {
    const auto v = parse_number(text);
    if (!v) return std::nullopt;
    r.type = "scalar";
    r.value = Scalar::constant(*v);
    return r;
  }

  std::size_t i = 0;
  while (i < text.size() && is_type_char(text[i])) ++i;
  r.type = std::string(text.substr(0, i));
  if (r.type.empty()) return std::nullopt;
  text.remove_prefix(i);

  // Stack pointers: "fp-4", "fp0", "fp[1]-8", or "fp(...)" / "fp[1](...)" with a variable part.
  if (r.type.starts_with("fp") && r.type != "fp") {
    // "fp0": the type word swallowed the digits.
    const auto n = parse_int(std::string_view(r.type).substr(2));
    if (!n || !text.empty()) return std::nullopt;
    r.type = "fp";
    r.off = *n;
    r.value = Scalar::constant(0);
    return r;
  }
  if (r.type == "fp" && text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || !parse_int(text.substr(1, close - 1))) return std::nullopt;
    r.fields["frame"] = std::string(text.substr(1, close - 1));
    text.remove_prefix(close + 1);
  }
  if (r.type == "fp" && !text.starts_with('(')) {
    const auto n = parse_int(text);
    if (!n) return std::nullopt;
    r.off = *n;
    r.value = Scalar::constant(0);
    return r;
  }

  if (!text.starts_with('(') || !text.ends_with(')')) return std::nullopt;
  const std::string_view inner = text.substr(1, text.size() - 2);
  bool has_range = false;
  std::optional<uint64_t> imm;
  if (!inner.empty()) {
    for (const std::string_view item : split_top(inner, ',')) {
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) {
        if (item.empty()) return std::nullopt;
        r.fields[std::string(item)] = "";
        continue;
      }
      const std::string_view key = item.substr(0, eq);
      if (key == "var_off") {
        const auto t = parse_tnum(item.substr(eq + 1));
        if (!t) return std::nullopt;
        r.value.var = *t;
        has_range = true;
        continue;
      }
      if (bound_of(key)) {
        // "smax=umax=smax32=umax32=255": every key before the last '=' takes the value.
        const std::size_t last = item.rfind('=');
        const std::string_view value = item.substr(last + 1);
        for (const std::string_view k : split_top(item.substr(0, last), '=')) {
          const auto b = bound_of(k);
          if (!b || !set_bound(r.value, *b, value)) return std::nullopt;
        }
        has_range = true;
        continue;
      }
      const std::string_view value = item.substr(eq + 1);
      if (key.empty() || value.empty()) return std::nullopt;
      r.fields[std::string(key)] = std::string(value);
      if (key == "off") {
        const auto v = parse_number(value);
        if (!v) return std::nullopt;
        r.off = int64_t(*v);
      } else if (key == "imm") {
        imm = parse_number(value);
        if (!imm) return std::nullopt;
      } else if (key == "id") {
        // "id=3+4": a scalar copy with a constant added (BPF_ADD_CONST); the delta is its off.
        const std::size_t sign = value.find_first_of("+-");
        if (sign != std::string_view::npos) {
          const auto d = parse_int(value.substr(value[sign] == '+' ? sign + 1 : sign));
          if (!d) return std::nullopt;
          r.off = *d;
        }
      }
    }
  }
  if (r.type != "scalar" && !has_range) r.value = Scalar::constant(imm.value_or(0));
  return r;
}

std::string print_logged_scalar(const Scalar& s) { return format_scalar(s); }

namespace {

// "R1_w" -> 1 (liveness marks of older kernels dropped); nullopt when not a register name.
std::optional<int> register_name(std::string_view name) {
  if (!name.starts_with('R')) return std::nullopt;
  name.remove_prefix(1);
  const std::size_t mark = name.find('_');
  if (mark != std::string_view::npos) name = name.substr(0, mark);
  const auto n = parse_int(name);
  if (!n || *n < 0 || *n > 10) return std::nullopt;
  return int(*n);
}

// "fp-8_w" -> -8.
std::optional<int> stack_name(std::string_view name) {
  if (!name.starts_with("fp")) return std::nullopt;
  name.remove_prefix(2);
  const std::size_t mark = name.find('_');
  if (mark != std::string_view::npos) name = name.substr(0, mark);
  const auto n = parse_int(name);
  if (!n) return std::nullopt;
  return int(*n);
}

// Fills `st` from a printed state (" frame1: R1=... fp-8=..."); false when nothing in it is a
// register or a slot.
bool parse_state_text(std::string_view text, LoggedState& st) {
  bool any = false;
  for (std::string_view tok : split_top(text, ' ')) {
    if (tok.empty()) continue;
    if (tok.starts_with("frame") && tok.ends_with(':')) {
      if (const auto f = parse_int(tok.substr(5, tok.size() - 6))) st.frame = int(*f);
      continue;
    }
    const std::size_t eq = tok.find('=');
    if (eq == std::string_view::npos) continue;  // " cb", " async_cb"
    const std::string_view name = tok.substr(0, eq);
    const std::string value(tok.substr(eq + 1));
    if (const auto r = register_name(name)) {
      st.regs.emplace_back(*r, value);
      any = true;
    } else if (const auto o = stack_name(name)) {
      st.stack.emplace_back(*o, value);
      any = true;
    }  // refs=1,2 and other annotations
  }
  return any;
}

// "123: rest" -> 123 and rest; nullopt when the line does not start with an instruction number.
std::optional<std::pair<std::size_t, std::string_view>> numbered(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
  if (i == 0 || i >= line.size() || line[i] != ':') return std::nullopt;
  std::size_t n = 0;
  std::from_chars(line.data(), line.data() + i, n);
  line.remove_prefix(i + 1);
  if (line.starts_with(' ')) line.remove_prefix(1);
  return std::make_pair(n, line);
}

// The position of the ';' that ends an instruction's text, outside its parentheses.
std::size_t state_separator(std::string_view s) {
  int depth = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '(') ++depth;
    else if (s[i] == ')') --depth;
    else if (s[i] == ';' && depth == 0) return i;
  }
  return std::string_view::npos;
}

}  // namespace

std::vector<LoggedState> parse_verifier_log(std::string_view log) {
  std::vector<LoggedState> out;
  bool expect_full = true;  // the next `N:` state line lists the whole frame
  bool speculative = false;
  while (!log.empty()) {
    const std::size_t nl = log.find('\n');
    std::string_view line = log.substr(0, nl);
    log.remove_prefix(nl == std::string_view::npos ? log.size() : nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);

    if (line.starts_with("from ")) {
      // "from A to B: state", "from A to B (speculative execution): state", "from A to B: safe"
      const std::size_t to = line.find(" to ");
      const std::size_t colon = line.find(':');
      if (to == std::string_view::npos || colon == std::string_view::npos || colon < to) continue;
      std::string_view target = line.substr(to + 4, colon - to - 4);
      speculative = target.find("speculative") != std::string_view::npos;
      target = target.substr(0, target.find(' '));
      const auto b = parse_int(target);
      if (!b) continue;
      LoggedState st;
      st.insn = std::size_t(*b);
      st.before = st.full = true;
      st.speculative = speculative;
      if (parse_state_text(line.substr(colon + 1), st)) {
        out.push_back(std::move(st));
        expect_full = true;
      }
      continue;
    }
    if (line == "callee:") {
      expect_full = true;
      continue;
    }
    const auto num = numbered(line);
    if (!num) continue;
    const auto [n, rest] = *num;
    LoggedState st;
    st.insn = n;
    st.speculative = speculative;
    if (rest.starts_with('(')) {
      // An instruction; its touched state follows the ';' when nothing came between.
      expect_full = false;
      const std::size_t semi = state_separator(rest);
      if (semi == std::string_view::npos) continue;
      if (parse_state_text(rest.substr(semi + 1), st)) out.push_back(std::move(st));
      continue;
    }
    st.before = true;
    st.full = expect_full;
    if (parse_state_text(rest, st)) {
      out.push_back(std::move(st));
      expect_full = false;
    }
  }
  return out;
}

}  // namespace tristate
