// `tristate tnum`: the tnum domain's soundness proofs (`prove`, tools/tnum_prove_command.cpp),
// its precision measurements (`compare`, tools/tnum_compare_command.cpp) and its optimality
// proofs (`optimal`, tools/tnum_optimal_command.cpp).
#include "tools/commands.hpp"

namespace tristate::cli {

void add_tnum_command(CLI::App& app, Run& run) {
  auto* tnum = app.add_subcommand(
      "tnum", "The tnum (tristate number) domain: prove its operators sound or optimal with Z3, compare the precision "
              "of its variants");
  tnum->require_subcommand(1);
  add_tnum_prove_command(*tnum, run);
  add_tnum_compare_command(*tnum, run);
  add_tnum_optimal_command(*tnum, run);
}

}  // namespace tristate::cli
