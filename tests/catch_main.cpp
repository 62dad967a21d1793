// The Catch2 main of every test binary. It fills in the locations the tests read from the
// environment (the tristate binary, the corpus, the test objects, llvm-objdump, bpftool) with the
// values of this build, keeping any the caller already set.
#define CATCH_CONFIG_RUNNER
#include <cstdlib>
#include <string>
#include <catch2/catch.hpp>

int main(int argc, char** argv) {
  setenv("TRISTATE_BIN", TRISTATE_BIN_DEFAULT, 0);
  setenv("TRISTATE_SOURCE_DIR", TRISTATE_SOURCE_DIR_DEFAULT, 0);
  setenv("TRISTATE_PROGS_DIR", TRISTATE_PROGS_DIR_DEFAULT, 0);
  setenv("TRISTATE_LLVM_OBJDUMP", TRISTATE_LLVM_OBJDUMP_DEFAULT, 0);
  setenv("TRISTATE_TEST_DATA_DIR", TRISTATE_TEST_DATA_DIR_DEFAULT, 0);
  if (TRISTATE_BPFTOOL_DEFAULT[0] != '\0' && std::string(TRISTATE_BPFTOOL_DEFAULT).find("NOTFOUND") == std::string::npos)
    setenv("TRISTATE_BPFTOOL", TRISTATE_BPFTOOL_DEFAULT, 0);
  return Catch::Session().run(argc, argv);
}
