// Functional tests of BPF programs: the cases of a NAME.tests.json file (the format is described
// in benchmarks/progs/README.md: packets or contexts in, with map contents; verdict, output packet
// and map entries expected) run in the interpreter and in the running kernel, each case from
// freshly seeded maps. Packet programs run with BPF_PROG_TEST_RUN; tracing programs, which the
// kernel cannot test-run, are attached and fired by a trigger (a system call, an exec).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "compiler/maps.hpp"
#include "compiler/program.hpp"

namespace tristate {

struct FunctionalSuite {
  std::string path;          // the tests file, for messages
  nlohmann::json seeds;      // the map seeds every case starts from (an empty object when none)
  std::vector<nlohmann::json> cases;
};

// Reads a tests file and its seeds: `maps_path`, or when that is empty NAME.maps.json next to the
// tests file, if it exists. InputError naming the file when either does not parse.
FunctionalSuite load_functional_suite(const std::string& tests_path, const std::string& maps_path = "");

// NAME.tests.json for the object at `object_path` (NAME: its file name up to the first dot), looked
// for next to the object, then in each of `dirs`; nullopt when there is none.
std::optional<std::string> find_functional_tests(const std::string& object_path, const std::vector<std::string>& dirs);

// One case's input without its expectations: what a search uses as a test case.
struct FunctionalInput {
  std::string name;
  std::size_t program = 0;         // index into module.programs
  std::vector<uint8_t> packet;     // packet programs
  std::vector<uint8_t> ctx;
  nlohmann::json maps;             // the case's own seeds (null when none), after the suite's
};
// The inputs of every case of `suite` (InputError as run_functional_interpreter for bad cases).
std::vector<FunctionalInput> functional_inputs(const Module& module, const std::string& object_path,
                                               const FunctionalSuite& suite);
// Seeds `maps` (made from module.maps) with the suite's seeds, then the input's.
void seed_functional_maps(MapSet& maps, const Module& module, const FunctionalSuite& suite, const FunctionalInput& input);

enum class Engine { Interpreter, Kernel };
const char* engine_name(Engine e);

struct CaseResult {
  std::string name;     // the case's name
  std::string program;  // the program it ran
  Engine engine = Engine::Interpreter;
  std::vector<std::string> failures;  // what did not hold; empty when the case passed
  bool passed() const { return failures.empty(); }
};

// Every case of `suite` on the interpreter, for the programs of `module` (read from
// `object_path`, named in messages). A case that does not parse (an unknown program, a malformed
// packet, a map that does not exist) throws InputError naming the tests file and the case.
std::vector<CaseResult> run_functional_interpreter(const Module& module, const std::string& object_path,
                                                   const FunctionalSuite& suite);

// Every case of `suite` in the kernel: the object at `object_path` is loaded once with libbpf, and
// each case starts from maps put back as they were after loading, then seeded. The caller checks
// that bpf() is available (kernel_bpf_available). InputError as above, and when the kernel refuses
// the object.
std::vector<CaseResult> run_functional_kernel(const Module& module, const std::string& object_path,
                                              const FunctionalSuite& suite);

}  // namespace tristate
