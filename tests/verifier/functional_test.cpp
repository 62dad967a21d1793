// Functional tests (verifier/functional.hpp): the runner reports what does not hold, and every
// corpus program passes its NAME.tests.json in the interpreter and in the kernel, at every
// optimisation level and CPU version the corpus is built for (-O1/-O2/-O3 x v3/v4).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "compiler/elf_reader.hpp"
#include "tests/support/corpus.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/process.hpp"
#include "verifier/functional.hpp"
#include "verifier/kernel_oracle.hpp"

namespace fs = std::filesystem;
using namespace tristate;

namespace {

fs::path corpus_source_dir() { return fs::path(test::env("TRISTATE_SOURCE_DIR")) / "benchmarks" / "progs"; }

// Every built variant: the -O2 objects and those in O1/ and O3/.
std::vector<fs::path> all_variants() {
  std::vector<fs::path> out;
  const fs::path dir = test::env("TRISTATE_PROGS_DIR");
  for (const fs::path& d : {dir / "O1", dir, dir / "O3"})
    for (const auto& e : fs::directory_iterator(d))
      if (e.path().extension() == ".o") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

FunctionalSuite suite_for(const fs::path& object) {
  const auto tests = find_functional_tests(object.string(), {corpus_source_dir().string()});
  REQUIRE(tests);
  return load_functional_suite(*tests);
}

}  // namespace

TEST_CASE("functional runner: a wrong expectation is reported, in both engines", "[functional][kernel]") {
  const fs::path object = fs::path(test::env("TRISTATE_PROGS_DIR")) / "xdp_firewall.v3.o";
  const Module module = read_elf(object.string());
  FunctionalSuite suite = suite_for(object);
  // One case made wrong three ways: the verdict, a byte of the output packet, a counter.
  nlohmann::json c = suite.cases.at(0);
  c["name"] = "made wrong";
  c["expect"]["ret"] = 4;
  c["expect"]["packet"] = "00";
  c["expect"]["maps"] = {{"fw_verdicts", {{{"key", 3}, {"value", "u64:77"}}}}};
  suite.cases = {c};
  std::vector<CaseResult> results = run_functional_interpreter(module, object.string(), suite);
  std::string why;
  if (test::kernel_test_may_run(kernel_bpf_available(&why), why, "the functional runner's kernel check")) {
    auto k = run_functional_kernel(module, object.string(), suite);
    results.insert(results.end(), k.begin(), k.end());
  }
  for (const CaseResult& r : results) {
    INFO(engine_name(r.engine));
    REQUIRE(r.failures.size() == 3);
    CHECK(r.failures[0].find("expected 4") != std::string::npos);
    CHECK(r.failures[1].find("packet after the run") != std::string::npos);
    CHECK(r.failures[2].find("fw_verdicts[03000000]") != std::string::npos);
  }
  // A malformed case is bad input naming the file and the case.
  suite.cases = {nlohmann::json{{"name", "no packet"}, {"expect", nlohmann::json::object()}}};
  CHECK_THROWS_WITH(run_functional_interpreter(module, object.string(), suite),
                    Catch::Contains("xdp_firewall.tests.json") && Catch::Contains("needs a \"packet\""));
}

TEST_CASE("every corpus program has functional tests covering each of its programs", "[functional]") {
  std::size_t sources = 0;
  for (const auto& e : fs::directory_iterator(corpus_source_dir())) {
    if (e.path().extension() != ".c") continue;
    ++sources;
    const std::string name = e.path().stem().string();
    INFO(name);
    const fs::path object = fs::path(test::env("TRISTATE_PROGS_DIR")) / (name + ".v3.o");
    const FunctionalSuite suite = suite_for(object);
    CHECK(suite.cases.size() >= 4);
    std::set<std::string> covered;
    for (const auto& c : suite.cases) covered.insert(c.value("program", ""));
    const Module module = read_elf(object.string());
    if (module.programs.size() > 1)
      for (const auto& p : module.programs) CHECK(covered.count(p.name()) == 1);
  }
  CHECK(sources >= 25);
}

TEST_CASE("every corpus program passes its functional tests in the interpreter and the kernel, every build variant",
          "[functional][kernel][corpus]") {
  std::string why;
  const bool kernel = test::kernel_test_may_run(kernel_bpf_available(&why), why, "the corpus functional tests in the kernel");
  const std::vector<fs::path> objects = all_variants();
  REQUIRE(objects.size() >= 150);  // 25 programs x 3 levels x 2 CPU versions
  std::size_t cases = 0, passed[2] = {0, 0}, runs[2] = {0, 0};
  for (const fs::path& object : objects) {
    const std::string label = object.parent_path().filename().string() + "/" + object.filename().string();
    const Module module = read_elf(object.string());
    const FunctionalSuite suite = suite_for(object);
    cases += suite.cases.size();
    std::vector<CaseResult> results = run_functional_interpreter(module, object.string(), suite);
    if (kernel) {
      auto k = run_functional_kernel(module, object.string(), suite);
      results.insert(results.end(), k.begin(), k.end());
    }
    for (const CaseResult& r : results) {
      const int e = r.engine == Engine::Kernel;
      ++runs[e];
      passed[e] += r.passed();
      std::string all;
      for (const auto& f : r.failures) all += "\n  " + f;
      INFO(label << " [" << engine_name(r.engine) << "] " << r.program << ": " << r.name << all);
      CHECK(r.passed());
    }
  }
  std::cout << "functional: compared " << cases << " cases of " << objects.size()
            << " corpus objects (-O1/-O2/-O3, v3/v4): interpreter " << passed[0] << " of " << runs[0]
            << " passed, kernel " << passed[1] << " of " << runs[1] << " passed\n";
  CHECK(runs[1] == (kernel ? runs[0] : 0));
}
