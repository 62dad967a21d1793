// `tristate test`: a program's functional tests (NAME.tests.json; the format is described in
// benchmarks/progs/README.md) in the interpreter and, with --kernel, in the running kernel.
//
//   tristate test FILE [--cases TESTS.json] [--maps SEEDS.json] [--kernel] [--json]
//
// Prints one line per case that fails, with what did not hold, and a summary per engine. Exit
// status: 0 every case passed; 1 a case failed; 2 bad input (a malformed case, an unknown program
// or map, an object the kernel refuses, or --kernel where bpf() is unavailable).
#include <iostream>
#include <nlohmann/json.hpp>

#include "compiler/error.hpp"
#include "tools/commands.hpp"
#include "tools/input_options.hpp"
#include "verifier/functional.hpp"
#include "verifier/kernel_oracle.hpp"

namespace tristate::cli {

namespace {

struct TestArgs {
  InputArgs input;
  std::string cases;
  std::string maps;
  bool kernel = false;
  bool json = false;
};

int run_test(const TestArgs& args) {
  const Module module = load(args.input);
  std::string tests = args.cases;
  if (tests.empty()) {
    const auto found = find_functional_tests(args.input.path, {TRISTATE_CORPUS_SOURCE_DIR});
    if (!found)
      throw InputError(Location{args.input.path, {}, {}},
                       "no NAME.tests.json next to the file or in " + std::string(TRISTATE_CORPUS_SOURCE_DIR) +
                           "; give one with --cases");
    tests = *found;
  }
  const FunctionalSuite suite = load_functional_suite(tests, args.maps);
  std::vector<CaseResult> results = run_functional_interpreter(module, args.input.path, suite);
  if (args.kernel) {
    std::string why;
    if (!kernel_bpf_available(&why))
      throw InputError(Location{args.input.path, {}, {}}, "--kernel: this process cannot load BPF programs: " + why);
    if (!is_elf_file(args.input.path))
      throw InputError(Location{args.input.path, {}, {}}, "--kernel runs ELF objects (compile the source first with `tristate compile`)");
    auto more = run_functional_kernel(module, args.input.path, suite);
    results.insert(results.end(), more.begin(), more.end());
  }
  std::size_t failed = 0;
  for (const auto& r : results) failed += !r.passed();
  if (args.json) {
    nlohmann::json out{{"file", args.input.path}, {"tests", tests}, {"cases", nlohmann::json::array()}};
    for (const auto& r : results)
      out["cases"].push_back({{"name", r.name}, {"program", r.program}, {"engine", engine_name(r.engine)},
                              {"passed", r.passed()}, {"failures", r.failures}});
    out["failed"] = failed;
    std::cout << out.dump(2) << "\n";
    return failed ? 1 : 0;
  }
  for (const auto& r : results) {
    if (r.passed()) continue;
    std::cout << "FAIL [" << engine_name(r.engine) << "] " << r.program << ": " << r.name << "\n";
    for (const auto& f : r.failures) std::cout << "    " << f << "\n";
  }
  for (Engine e : {Engine::Interpreter, Engine::Kernel}) {
    std::size_t n = 0, ok = 0;
    for (const auto& r : results)
      if (r.engine == e) {
        ++n;
        ok += r.passed();
      }
    if (n) std::cout << args.input.path << ": " << engine_name(e) << ": " << ok << " of " << n << " cases passed\n";
  }
  return failed ? 1 : 0;
}

}  // namespace

void add_test_command(CLI::App& app, Run& run) {
  auto args = std::make_shared<TestArgs>();
  CLI::App* cmd = app.add_subcommand("test", "Run a program's functional tests (NAME.tests.json) in the interpreter and the kernel");
  cmd->footer(
      "Each case gives a packet (or a context and a trigger, for tracing programs) and map contents, and expects\n"
      "a return value, an output packet and map entries; benchmarks/progs/README.md describes the format.\n"
      "Without --cases, NAME.tests.json is looked for next to FILE, then in the corpus folder; NAME is the file\n"
      "name up to its first dot (xdp_lb.O2.v3.o -> xdp_lb). Map seeds default to NAME.maps.json beside the tests.\n"
      "Exit status: 0 all cases passed, 1 a case failed, 2 bad input.");
  add_input_options(*cmd, args->input);
  cmd->add_option("--cases", args->cases, "The tests file (default: NAME.tests.json, found as described below)");
  cmd->add_option("--maps", args->maps, "Map seeds every case starts from (default: NAME.maps.json beside the tests)");
  cmd->add_flag("--kernel", args->kernel, "Run the cases in the running kernel too (BPF_PROG_TEST_RUN; tracing programs attached and triggered)");
  cmd->add_flag("--json", args->json, "Print every case's result as JSON");
  cmd->callback([&run, args] { run = [args] { return run_test(*args); }; });
}

}  // namespace tristate::cli
