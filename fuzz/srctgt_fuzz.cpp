// Fuzzes the assembly-text readers and the equivalence checker behind them: the bytes are read
// as a .srctgt pair (compiler/asm_module.hpp). Text that does not parse must end in an
// InputError; a pair that parses is checked by the Z3 equivalence checker (short timeout), which
// replays every counterexample on the interpreter and throws InternalError, a crash here, when
// the interpreter does not show the difference: this fuzzer hunts encoding bugs too.
#include <cstdint>
#include <string_view>

#include "compiler/asm_module.hpp"
#include "compiler/error.hpp"
#include "verifier/equiv.hpp"

using namespace tristate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  SrcTgt pair;
  try {
    pair = parse_srctgt(text, "fuzz.srctgt");
  } catch (const InputError&) {
    return 0;
  }
  CheckOptions options;
  options.timeout_ms = 200;
  options.unroll = 8;
  EquivalenceChecker checker(options);
  try {
    checker.programs(pair.src, pair.src.programs.at(0), pair.tgt, pair.tgt.programs.at(0));
    checker.safety(pair.tgt, pair.tgt.programs.at(0));
  } catch (const InputError&) {
  }
  return 0;
}
