#include "compiler/program.hpp"

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

}  // namespace tristate
