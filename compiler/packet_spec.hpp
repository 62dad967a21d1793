// Packets described layer by layer in JSON, as functional tests (benchmarks/progs/NAME.tests.json)
// give their input and expected output packets; the layers and their fields are listed in
// benchmarks/progs/README.md. Lengths, next-protocol fields and checksums are computed unless the
// description gives them, so a test that expects a rewritten packet checks the program's checksum
// updates against checksums computed here from scratch.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <vector>

#include "compiler/byte_spec.hpp"

namespace tristate {

// Why a description is not a packet: names the layer (its index and kind) and the field.
struct PacketSpecError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The frame a layer list describes (or, for a string, its typed bytes). Throws PacketSpecError.
std::vector<uint8_t> build_packet(const nlohmann::json& description, const ByteSpecContext& context = {});

}  // namespace tristate
