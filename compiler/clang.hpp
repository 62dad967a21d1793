// Compiles BPF C sources with clang-19, the way the rest of the project expects objects to look.
#pragma once

#include <string>
#include <vector>

namespace tristate {

struct CompileOptions {
  std::string source;
  std::string output;
  std::string opt = "-O2";
  std::string cpu = "v3";
  std::vector<std::string> include_dirs;
  std::vector<std::string> defines;
};

struct CompileResult {
  int exit_code = 0;              // clang's exit status; 128 + N if it died of signal N
  std::vector<std::string> argv;  // the command, with the requested output path after -o
};

// Runs `clang-19 OPT -g -target bpf -mcpu=CPU [-I DIR]... [-D DEF]... -I/usr/include/<multiarch>
// -c SOURCE -o OUTPUT` directly (no shell). clang's diagnostics go straight to our stderr.
// clang writes to a temporary file next to OUTPUT, which is renamed over OUTPUT only when clang
// succeeds, so a failed compile leaves an existing OUTPUT as it was. InputError if the source is
// missing, OUTPUT is empty or names the source itself, or clang cannot be started.
CompileResult compile_c(const CompileOptions& opts);

// The directory with the target's <asm/types.h>: /usr/include/<multiarch triple>.
std::string multiarch_include_dir();

}  // namespace tristate
