// `tristate info FILE`: programs, types, instruction counts, maps and BTF of a BPF object.
#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/commands.hpp"
#include "tools/input_options.hpp"

namespace tristate::cli {

namespace {

nlohmann::json to_json(const Module& m) {
  nlohmann::json j;
  j["file"] = m.path;
  j["btf"] = m.has_btf;
  j["btf_ext"] = m.has_btf_ext;
  j["license"] = m.license;
  j["programs"] = nlohmann::json::array();
  for (const auto& p : m.programs) {
    nlohmann::json functions = nlohmann::json::array();
    for (const auto& f : p.functions) functions.push_back({{"name", f.name}, {"start", f.start}, {"insns", f.size}});
    j["programs"].push_back({{"name", p.name()},
                             {"section", p.section()},
                             {"type", p.prog_type_name},
                             {"insns", p.entry.insns.size()},
                             {"image_insns", p.image.size()},
                             {"functions", functions}});
  }
  j["subprograms"] = nlohmann::json::array();
  for (const auto& f : m.subprograms)
    j["subprograms"].push_back({{"name", f.name}, {"section", f.section}, {"insns", f.insns.size()}});
  j["maps"] = nlohmann::json::array();
  for (const auto& map : m.maps)
    j["maps"].push_back({{"name", map.name},
                         {"type", map.type_name},
                         {"key_size", map.key_size},
                         {"value_size", map.value_size},
                         {"max_entries", map.max_entries},
                         {"flags", map.flags},
                         {"legacy", map.legacy},
                         {"internal", map.internal}});
  return j;
}

void print_human(const Module& m) {
  std::cout << m.path << ": BTF " << (m.has_btf ? "yes" : "no") << ", BTF.ext "
            << (m.has_btf_ext ? "yes" : "no");
  if (!m.license.empty()) std::cout << ", license " << m.license;
  std::cout << "\n\nprograms (" << m.programs.size() << "):\n";
  for (const auto& p : m.programs) {
    std::cout << "  " << p.name() << "  section " << (p.section().empty() ? "-" : p.section())
              << "  type " << p.prog_type_name << "  " << p.entry.insns.size() << " insns";
    if (p.functions.size() > 1) {
      std::cout << " (" << p.image.size() << " linked with";
      for (std::size_t i = 1; i < p.functions.size(); ++i) std::cout << " " << p.functions[i].name;
      std::cout << ")";
    }
    std::cout << "\n";
  }
  if (!m.subprograms.empty()) {
    std::cout << "\nsubprograms (" << m.subprograms.size() << "):\n";
    for (const auto& f : m.subprograms)
      std::cout << "  " << f.name << "  section " << f.section << "  " << f.insns.size() << " insns\n";
  }
  std::cout << "\nmaps (" << m.maps.size() << "):\n";
  for (const auto& map : m.maps) {
    std::cout << "  " << map.name << "  " << map.type_name << "  key " << map.key_size << "  value "
              << map.value_size << "  max_entries " << map.max_entries;
    if (map.flags) std::cout << "  flags 0x" << std::hex << map.flags << std::dec;
    if (map.legacy) std::cout << "  (legacy maps section)";
    if (map.internal) std::cout << "  (global data)";
    std::cout << "\n";
  }
}

}  // namespace

void add_info_command(CLI::App& app, Run& run) {
  auto* cmd = app.add_subcommand("info", "Show the programs, maps and BTF of a BPF object");
  auto args = std::make_shared<InputArgs>();
  auto out = std::make_shared<OutputOptions>();
  add_input_options(*cmd, *args);
  cmd->add_flag("--json", out->json, "print JSON");
  cmd->callback([&run, args, out] {
    run = [args, out] {
      Module m = load(*args);
      if (out->json)
        std::cout << to_json(m).dump(2) << "\n";
      else
        print_human(m);
      return 0;
    };
  });
}

}  // namespace tristate::cli
