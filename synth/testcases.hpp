// Test cases of the search: concrete inputs of one program (packets or contexts, with the map
// contents they start from), run on the interpreter to reject wrong candidates before any proof.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compiler/interpreter.hpp"
#include "compiler/maps.hpp"
#include "compiler/program.hpp"
#include "verifier/functional.hpp"

namespace tristate {

struct TestCase {
  std::vector<uint8_t> packet;
  std::vector<uint8_t> ctx;
  int group = -1;  // which TestSuite::seeders entry seeds the maps first; -1: maps as the object starts them
  std::optional<Environment> env;  // the helpers' world (default: the interpreter's)
};

struct TestSuite {
  // Cases of one group are consecutive: a run of a group starts from freshly seeded maps and its
  // cases then run in order (so counters and other map state evolve as they would in the kernel).
  std::vector<TestCase> cases;
  std::vector<std::function<void(MapSet&)>> seeders;
};

struct TestSuiteOptions {
  std::size_t random_packets = 48;  // generated packets (compiler/packet_gen.hpp), packet programs only
  std::size_t random_contexts = 16; // random context bytes, tracing programs only
  uint64_t seed = 1;
};

// The test cases of `program` (index into module.programs): every case of `suite` for it, each
// with its own map seeds, then generated inputs from the object's initial maps. `suite` may be
// null (no functional tests for this object).
TestSuite make_test_suite(const Module& module, std::size_t program, const std::string& object_path,
                          const FunctionalSuite* suite, const TestSuiteOptions& options);

}  // namespace tristate
