// Fuzzes the functional tests' input descriptions: the bytes are parsed as JSON and built into a
// packet (compiler/packet_spec.hpp), and read as typed bytes (compiler/byte_spec.hpp). Anything
// malformed must end in a JSON parse error, PacketSpecError or ByteSpecError, never in a crash,
// a leak or undefined behaviour (the target is built with ASan and UBSan).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "compiler/byte_spec.hpp"
#include "compiler/packet_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)tristate::parse_byte_spec(text, tristate::ByteSpecContext{uint64_t(42) << 32 | 42});
  } catch (const tristate::ByteSpecError&) {
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  try {
    const auto packet = tristate::build_packet(j);
    if (packet.size() > 70000) __builtin_trap();  // every length field is 16 bits, truncate/pad_to too
  } catch (const tristate::PacketSpecError&) {
  }
  return 0;
}
