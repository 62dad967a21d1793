#include "compiler/program.hpp"

#include <algorithm>

#include "compiler/error.hpp"

namespace tristate {

const Program* Module::find_program(const std::string& name) const {
  for (const auto& p : programs)
    if (p.name() == name) return &p;
  return nullptr;
}

const Function* Module::find_subprogram(const std::string& name) const {
  for (const auto& f : subprograms)
    if (f.name == name) return &f;
  return nullptr;
}

std::vector<MapRef> resolve_map_refs(const Module& module, const Program& program) {
  std::vector<MapRef> refs(program.image.size());
  for (const FunctionRange& range : program.functions) {
    const Function* f = range.name == program.name() ? &program.entry : module.find_subprogram(range.name);
    if (!f) throw InternalError("image function " + range.name + " is not in the module");
    for (const Relocation& rel : f->relocs) {
      const std::size_t slot = range.start + rel.insn;
      const Location at{module.path, program.name(), slot};
      if (rel.insn >= range.size || slot >= program.image.size())
        throw InputError(at, "relocation of " + rel.symbol + " outside its function " + range.name);
      if (rel.kind == RelocKind::Map) {
        auto it = std::find_if(module.maps.begin(), module.maps.end(), [&](const MapDef& d) { return d.name == rel.target; });
        if (it == module.maps.end()) throw InputError(at, "relocation against map " + rel.target + ", which the module lacks");
        refs[slot] = {int(it - module.maps.begin()), -1};
      } else if (rel.kind == RelocKind::GlobalData) {
        auto it = std::find_if(module.maps.begin(), module.maps.end(),
                               [&](const MapDef& d) { return d.internal && d.section == rel.section; });
        if (it == module.maps.end())
          throw InputError(at, "relocation against " + rel.section + ", for which the module has no map");
        refs[slot] = {int(it - module.maps.begin()), int64_t(rel.offset)};
      }
    }
  }
  return refs;
}

}  // namespace tristate
