#include "compiler/error.hpp"

namespace tristate {

namespace {
std::string message(const Location& where, const std::string& reason) {
  std::string prefix = format_location(where);
  return prefix.empty() ? reason : prefix + ": " + reason;
}
}  // namespace

std::string format_location(const Location& where) {
  std::string out;
  auto add = [&out](const std::string& part) {
    if (!out.empty()) out += ": ";
    out += part;
  };
  if (!where.file.empty()) add(where.file);
  if (!where.prog.empty()) add(where.prog);
  if (where.insn) add("insn " + std::to_string(*where.insn));
  return out;
}

InputError::InputError(Location where, std::string reason)
    : std::runtime_error(message(where, reason)), where_(std::move(where)), reason_(std::move(reason)) {}

InputError InputError::within(const Location& outer) const {
  Location merged = where_;
  if (merged.file.empty()) merged.file = outer.file;
  if (merged.prog.empty()) merged.prog = outer.prog;
  if (!merged.insn) merged.insn = outer.insn;
  return InputError(std::move(merged), reason_);
}

}  // namespace tristate
