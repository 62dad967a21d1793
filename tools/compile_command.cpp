// `tristate compile foo.c -o foo.o [-O]`: clang-19 -O2 -g -target bpf with the right include paths,
// then, with -O, the superoptimizer on the object (as `tristate opt foo.o -o foo.o`).
#include <iostream>
#include <nlohmann/json.hpp>

#include "compiler/clang.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"
#include "tools/commands.hpp"

namespace tristate::cli {

void add_compile_command(CLI::App& app, Run& run) {
  auto* cmd = app.add_subcommand(
      "compile", "Compile a BPF C source with clang-19 (-O2 -g -target bpf) into an ELF object");
  auto opts = std::make_shared<CompileOptions>();
  auto out = std::make_shared<OutputOptions>();
  auto optimize = std::make_shared<bool>(false);
  auto opt_args = std::make_shared<OptArgs>();
  cmd->add_option("SOURCE", opts->source, "C source file")->required();
  cmd->add_option("-o,--output", opts->output, "object file to write (never the source itself)")->required();
  cmd->add_option("--clang-opt", opts->opt, "optimization level passed to clang (-O0..-O3, -Os)")->capture_default_str();
  cmd->add_flag("-O,--optimize", *optimize, "then superoptimize the object (as `tristate opt`; its options below apply)");
  add_opt_search_options(*cmd, *opt_args);
  cmd->add_option("--cpu", opts->cpu, "BPF ISA version: v1, v2, v3 or v4")
      ->check(CLI::IsMember({"v1", "v2", "v3", "v4", "generic", "probe"}))
      ->capture_default_str();
  cmd->add_option("-I", opts->include_dirs, "extra include directory");
  cmd->add_option("-D", opts->defines, "preprocessor definition");
  cmd->add_flag("--json", out->json, "print a JSON summary");
  cmd->callback([&run, opts, out, optimize, opt_args] {
    run = [opts, out, optimize, opt_args] {
      if (!opts->opt.starts_with("-O")) opts->opt = "-O" + opts->opt;
      CompileResult r = compile_c(*opts);
      if (r.exit_code != 0) {
        // clang has already printed its diagnostics; a source that does not compile is bad input.
        std::cerr << "tristate: " << opts->source << ": clang-19 failed with exit status " << r.exit_code << "\n";
        return 2;
      }
      if (*optimize) {
        opt_args->json = out->json;
        return optimize_file(opts->output, opts->output, *opt_args, true);
      }
      Module m = read_elf(opts->output);
      std::size_t insns = 0;
      for (const auto& p : m.programs) insns += p.entry.insns.size();
      if (out->json) {
        nlohmann::json j{{"source", opts->source}, {"output", opts->output}, {"command", r.argv},
                         {"programs", m.programs.size()}, {"maps", m.maps.size()}, {"insns", insns}};
        std::cout << j.dump(2) << "\n";
      } else {
        auto count = [](std::size_t n, const char* what) {
          return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
        };
        std::cout << "wrote " << opts->output << ": " << count(m.programs.size(), "program") << ", "
                  << count(insns, "instruction") << ", " << count(m.maps.size(), "map") << "\n";
      }
      return 0;
    };
  });
}

}  // namespace tristate::cli
