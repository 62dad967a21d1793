// Hex text <-> bytes: map contents in JSON, --json output and hex arguments of the command line.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tristate {

// Lowercase, two digits a byte, no separators.
std::string to_hex(std::span<const uint8_t> bytes);

// Pairs of hex digits, whitespace anywhere ignored; nullopt for any other character or an odd
// number of digits.
std::optional<std::vector<uint8_t>> parse_hex(std::string_view text);

}  // namespace tristate
