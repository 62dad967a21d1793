// Hex text <-> bytes for the command line: the compiler library's encoder and parser.
#pragma once

#include "compiler/hex.hpp"

namespace tristate::cli {

using tristate::parse_hex;
using tristate::to_hex;

}  // namespace tristate::cli
