#include "tools/commands.hpp"

namespace tristate::cli {
void add_info_command(CLI::App& app, Run& run) {
  auto* cmd = app.add_subcommand("info", "not yet implemented");
  cmd->callback([&run] { run = [] { return 1; }; });
}
}  // namespace tristate::cli
