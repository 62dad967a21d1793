// `tristate`: the eBPF superoptimizer's command line.
#include <iostream>

#include "compiler/error.hpp"
#include "tools/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Tristate: an eBPF superoptimizer.\n"
               "Reads BPF ELF objects, raw bytecode (.bin) and C sources; prints, checks and "
               "optimizes BPF programs."};
  app.require_subcommand(0, 1);
  app.set_version_flag("-V,--version", std::string("tristate ") + TRISTATE_VERSION);

  tristate::cli::Run run;
  tristate::cli::add_info_command(app, run);
  tristate::cli::add_disasm_command(app, run);
  tristate::cli::add_compile_command(app, run);
  tristate::cli::add_run_command(app, run);
  tristate::cli::add_equiv_command(app, run);
  tristate::cli::add_check_command(app, run);
  tristate::cli::add_test_command(app, run);
  tristate::cli::add_opt_command(app, run);
  tristate::cli::add_load_command(app, run);
  tristate::cli::add_pipeline_command(app, run);
  tristate::cli::add_tnum_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // CLI11 returns 0 for --help/--version and 105-ish codes for usage errors; bad usage is bad input.
    return rc == 0 ? 0 : 2;
  }
  if (!run) {
    std::cout << app.help();
    return 0;
  }
  try {
    return run();
  } catch (const tristate::InputError& e) {
    std::cerr << "tristate: " << e.what() << "\n";
    return 2;
  } catch (const tristate::InternalError& e) {
    std::cerr << "tristate: internal error: " << e.what() << "\n";
    return 70;
  }
}
