// `tristate disasm FILE`: the instructions of each program in the LLVM/kernel syntax.
#include <iostream>
#include <nlohmann/json.hpp>

#include "compiler/disasm.hpp"
#include "tools/commands.hpp"
#include "tools/hex.hpp"
#include "tools/input_options.hpp"

namespace tristate::cli {

namespace {

struct DisasmArgs {
  std::string prog;
  bool raw = false;
  bool linked = false;
};

std::string hex_bytes(std::span<const Insn> insns) {
  return to_hex(std::span(reinterpret_cast<const uint8_t*>(insns.data()), insns.size_bytes()));
}

// The pieces to print for one program: the functions as in the file, or the linked image.
struct Piece {
  std::string name;
  std::span<const Insn> insns;
};

std::vector<Piece> pieces_of(const Module& m, const Program& p, bool linked) {
  std::vector<Piece> out;
  if (linked) {
    for (const auto& f : p.functions)
      out.push_back({f.name, std::span<const Insn>(p.image).subspan(f.start, f.size)});
    return out;
  }
  out.push_back({p.entry.name, p.entry.insns});
  for (std::size_t i = 1; i < p.functions.size(); ++i)
    if (const Function* f = m.find_subprogram(p.functions[i].name)) out.push_back({f->name, f->insns});
  return out;
}

nlohmann::json piece_json(const Piece& piece) {
  nlohmann::json insns = nlohmann::json::array();
  for (std::size_t pc = 0; pc < piece.insns.size();) {
    DecodeResult r = decode(piece.insns, pc);
    const std::size_t n = r.ok() ? slots(r.decoded()) : 1;
    insns.push_back({{"pc", pc},
                     {"text", r.ok() ? format_insn(r.decoded()) : "<invalid: " + r.error() + ">"},
                     {"bytes", hex_bytes(piece.insns.subspan(pc, std::min(n, piece.insns.size() - pc)))}});
    pc += n;
  }
  return {{"name", piece.name}, {"insns", insns}};
}

}  // namespace

void add_disasm_command(CLI::App& app, Run& run) {
  auto* cmd = app.add_subcommand(
      "disasm", "Disassemble programs in the LLVM/kernel syntax (diffable with llvm-objdump -d)");
  auto in = std::make_shared<InputArgs>();
  auto args = std::make_shared<DisasmArgs>();
  auto out = std::make_shared<OutputOptions>();
  add_input_options(*cmd, *in);
  cmd->add_option("--prog", args->prog, "only this program (by name)");
  cmd->add_flag("--raw", args->raw, "show the raw instruction bytes");
  cmd->add_flag("--linked", args->linked,
                "show each program as the kernel would receive it: subprograms appended, calls resolved");
  cmd->add_flag("--json", out->json, "print JSON");
  cmd->callback([&run, in, args, out] {
    run = [in, args, out] {
      Module m = load(*in);
      nlohmann::json programs = nlohmann::json::array();
      bool first = true;
      for (const Program* p : select_programs(m, args->prog)) {
        auto pieces = pieces_of(m, *p, args->linked);
        if (out->json) {
          nlohmann::json functions = nlohmann::json::array();
          for (const auto& piece : pieces) functions.push_back(piece_json(piece));
          programs.push_back({{"name", p->name()},
                              {"section", p->section()},
                              {"type", p->prog_type_name},
                              {"functions", functions}});
          continue;
        }
        if (!first) std::cout << "\n";
        first = false;
        std::cout << "program " << p->name() << " (section " << (p->section().empty() ? "-" : p->section())
                  << ", type " << p->prog_type_name << "):\n";
        for (const auto& piece : pieces) {
          std::cout << "\n<" << piece.name << ">:\n";
          std::cout << format_listing(piece.insns, ListingOptions{args->raw});
        }
      }
      if (out->json) std::cout << nlohmann::json{{"file", m.path}, {"programs", programs}}.dump(2) << "\n";
      return 0;
    };
  });
}

}  // namespace tristate::cli
