#include "compiler/byte_spec.hpp"

#include <arpa/inet.h>
#include <cctype>
#include <charconv>

#include "compiler/hex.hpp"

namespace tristate {

namespace {

[[noreturn]] void fail(std::string_view token, const std::string& why) {
  throw ByteSpecError("'" + std::string(token) + "': " + why);
}

void append_le(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
void append_be(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(uint8_t(v >> (8 * i)));
}

// A value that fits `bytes` bytes, signed or unsigned.
uint64_t sized_number(std::string_view token, std::string_view text, int bytes) {
  const auto n = parse_spec_number(text);
  if (!n) fail(token, "not a number");
  if (bytes < 8) {
    const int64_t lo = -(int64_t(1) << (8 * bytes - 1));
    const int64_t hi = int64_t((uint64_t(1) << (8 * bytes)) - 1);
    if (*n < lo || *n > hi) fail(token, "does not fit " + std::to_string(bytes) + " bytes");
  }
  return uint64_t(*n);
}

}  // namespace

bool ByteSpec::matches(const std::vector<uint8_t>& actual) const {
  if (actual.size() != bytes.size()) return false;
  for (std::size_t i = 0; i < bytes.size(); ++i)
    if (compared[i] && actual[i] != bytes[i]) return false;
  return true;
}

std::optional<int64_t> parse_spec_number(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (negative) {
    if (v > uint64_t(1) << 63) return std::nullopt;
    return int64_t(0 - v);
  }
  return int64_t(v);  // values above INT64_MAX wrap; sized_number takes them as unsigned
}

std::optional<std::vector<uint8_t>> parse_ip4(std::string_view text) {
  in_addr a{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &a) != 1) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(&a);
  return std::vector<uint8_t>(p, p + 4);
}

std::optional<std::vector<uint8_t>> parse_ip6(std::string_view text) {
  in6_addr a{};
  if (inet_pton(AF_INET6, std::string(text).c_str(), &a) != 1) return std::nullopt;
  const auto* p = reinterpret_cast<const uint8_t*>(&a);
  return std::vector<uint8_t>(p, p + 16);
}

std::optional<std::vector<uint8_t>> parse_mac(std::string_view text) {
  std::vector<uint8_t> out;
  std::size_t i = 0;
  while (out.size() < 6) {
    if (i + 2 > text.size() || !std::isxdigit(uint8_t(text[i])) || !std::isxdigit(uint8_t(text[i + 1])))
      return std::nullopt;
    out.push_back(uint8_t(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
    i += 2;
    if (out.size() < 6) {
      if (i >= text.size() || text[i] != ':') return std::nullopt;
      ++i;
    }
  }
  if (i != text.size()) return std::nullopt;
  return out;
}

ByteSpec parse_byte_spec(std::string_view text, const ByteSpecContext& context) {
  ByteSpec spec;
  const auto push = [&spec](const std::vector<uint8_t>& b, bool compared = true) {
    spec.bytes.insert(spec.bytes.end(), b.begin(), b.end());
    spec.compared.insert(spec.compared.end(), b.size(), compared);
  };
  if (text.find(':') == std::string_view::npos) {
    const auto hex = parse_hex(text);
    if (!hex) throw ByteSpecError("\"" + std::string(text) + "\" is not hex (pairs of digits 0-9a-f) or typed bytes (TYPE:VALUE tokens)");
    push(*hex);
    return spec;
  }
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (std::isspace(uint8_t(text[pos]))) {
      ++pos;
      continue;
    }
    std::size_t end = pos;
    while (end < text.size() && !std::isspace(uint8_t(text[end]))) ++end;
    const std::string_view token = text.substr(pos, end - pos);
    pos = end;
    const std::size_t colon = token.find(':');
    if (colon == std::string_view::npos) {
      const auto hex = parse_hex(token);
      if (!hex) fail(token, "neither hex nor TYPE:VALUE");
      push(*hex);
      continue;
    }
    const std::string_view type = token.substr(0, colon), value = token.substr(colon + 1);
    std::vector<uint8_t> b;
    if (type == "u8" || type == "u16" || type == "u32" || type == "u64") {
      const int n = type == "u8" ? 1 : type == "u16" ? 2 : type == "u32" ? 4 : 8;
      append_le(b, sized_number(token, value, n), n);
    } else if (type == "be16" || type == "be32" || type == "be64") {
      const int n = type == "be16" ? 2 : type == "be32" ? 4 : 8;
      append_be(b, sized_number(token, value, n), n);
    } else if (type == "ip4" || type == "ip6" || type == "mac") {
      const auto a = type == "ip4" ? parse_ip4(value) : type == "ip6" ? parse_ip6(value) : parse_mac(value);
      if (!a) fail(token, "not a valid " + std::string(type) + " address");
      b = *a;
    } else if (type == "zero" || type == "any") {
      const auto n = parse_spec_number(value);
      if (!n || *n < 0 || *n > (1 << 20)) fail(token, "the count must be a number from 0 to 1048576");
      b.assign(std::size_t(*n), 0);
      push(b, type == "zero");
      continue;
    } else if (type == "str") {
      b.assign(value.begin(), value.end());
    } else if (type == "tgid" || type == "pid_tgid") {
      if (value != "trigger") fail(token, "the only value is 'trigger'");
      if (!context.trigger_pid_tgid) fail(token, "no triggering process here (only tracing cases with a trigger have one)");
      if (type == "tgid")
        append_le(b, *context.trigger_pid_tgid >> 32, 4);
      else
        append_le(b, *context.trigger_pid_tgid, 8);
    } else {
      fail(token, "unknown type '" + std::string(type) + "' (u8 u16 u32 u64 be16 be32 be64 ip4 ip6 mac zero str any tgid pid_tgid)");
    }
    push(b);
  }
  return spec;
}

}  // namespace tristate
