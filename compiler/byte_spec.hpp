// Typed bytes: the text form of map keys and values, contexts and payloads in map seeds
// (`tristate run --maps`, benchmarks/progs/NAME.maps.json) and functional tests
// (NAME.tests.json; the format is described in benchmarks/progs/README.md).
//
// Plain hex ("0a000001", whitespace ignored) is one form. A text with a colon is a list of
// whitespace-separated tokens, each plain hex or TYPE:VALUE:
//   u8:N u16:N u32:N u64:N     little-endian (the BPF target's order); negative N: two's complement
//   be16:N be32:N be64:N       network order
//   ip4:A.B.C.D ip6:ADDR mac:XX:XX:XX:XX:XX:XX   addresses in network order
//   zero:N                     N zero bytes
//   str:TEXT                   the bytes of TEXT
//   any:N                      N bytes an expectation does not compare (zeros where bytes are sent)
//   tgid:trigger pid_tgid:trigger   the process that triggered a tracing program (u32 / u64),
//                              when the caller knows it
// Numbers are decimal or 0x-prefixed hex.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tristate {

struct ByteSpec {
  std::vector<uint8_t> bytes;
  std::vector<bool> compared;  // one per byte: false for the bytes of any:N

  // Whether `actual` has the same length and equal bytes wherever compared.
  bool matches(const std::vector<uint8_t>& actual) const;
};

// What the `...:trigger` tokens stand for; without a value they are an error.
struct ByteSpecContext {
  std::optional<uint64_t> trigger_pid_tgid;
};

// Why a text is not typed bytes: names the token and what is wrong with it.
struct ByteSpecError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Parses `text` as described above; throws ByteSpecError.
ByteSpec parse_byte_spec(std::string_view text, const ByteSpecContext& context = {});

// A number as the formats write them: decimal, or hex with 0x; an optional leading '-'.
// nullopt when it is neither or does not fit 64 bits.
std::optional<int64_t> parse_spec_number(std::string_view text);

// Address parsers shared with the packet builder; nullopt when malformed.
std::optional<std::vector<uint8_t>> parse_ip4(std::string_view text);
std::optional<std::vector<uint8_t>> parse_ip6(std::string_view text);
std::optional<std::vector<uint8_t>> parse_mac(std::string_view text);

}  // namespace tristate
