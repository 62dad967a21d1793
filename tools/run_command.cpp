// `tristate run --raw PROG.bin|- --mem HEX`: run raw bytecode in the interpreter with r1 pointing
// to a memory block and r2 holding its size, and print r0 in hex (the convention BPF ISA
// conformance suites use). Running ELF programs on packets and contexts comes with the context
// model (issue 3).
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "compiler/bytecode.hpp"
#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "compiler/interpreter.hpp"
#include "tools/commands.hpp"
#include "tools/hex.hpp"

namespace tristate::cli {

namespace {

struct RunArgs {
  std::string raw;
  std::string mem;
  uint64_t max_insns = RunLimits{}.max_insns;
  bool json = false;
};

// The program: raw little-endian instructions, or the same bytes written as hex text (as
// conformance harnesses pipe them). `-` reads standard input.
std::vector<uint8_t> read_program(const std::string& path) {
  std::vector<uint8_t> bytes;
  if (path == "-")
    bytes.assign(std::istreambuf_iterator<char>(std::cin), {});
  else
    bytes = read_file_bytes(path);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (auto hex = parse_hex(text); hex && !hex->empty()) return *hex;
  return bytes;
}

}  // namespace

void add_run_command(CLI::App& app, Run& run) {
  auto* cmd = app.add_subcommand("run", "Run a program in the interpreter and print r0");
  auto args = std::make_shared<RunArgs>();
  cmd->add_option("--raw", args->raw,
                  "raw bytecode (8-byte little-endian instructions, or their hex text); - reads stdin")
      ->required();
  cmd->add_option("--mem", args->mem, "hex bytes of the memory block r1 points to (r2 = its size)");
  cmd->add_option("--max-insns", args->max_insns, "stop after this many instructions")->capture_default_str();
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->callback([&run, args] {
    run = [args] {
      const std::string name = args->raw == "-" ? "<stdin>" : args->raw;
      const std::vector<Insn> insns = insns_from_bytes(read_program(args->raw), Location{name, {}, {}});
      const Location where{name, "prog", {}};
      auto mem = parse_hex(args->mem);
      if (!mem) throw InputError(Location{name, {}, {}}, "--mem is not an even number of hex digits");

      std::optional<Interpreter> interp;
      try {
        interp.emplace(insns);
      } catch (const InputError& e) {
        throw e.within(where);
      }
      const RunResult r = interp->run(std::span<uint8_t>(*mem), RunLimits{args->max_insns});
      if (r.fault) throw InputError(Location{name, "prog", r.fault->insn}, r.fault->reason);
      if (args->json) {
        std::cout << nlohmann::json{{"r0", r.r0}, {"executed", r.executed}, {"memory", to_hex(*mem)}}.dump(2)
                  << "\n";
      } else {
        std::cout << std::hex << r.r0 << std::dec << "\n";
      }
      return 0;
    };
  });
}

}  // namespace tristate::cli
