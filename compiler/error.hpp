// The two exception types that cross module boundaries (see STYLE.md, "Errors").
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

namespace tristate {

// Where in the user's input a problem is. Every part is optional; the printed form leaves out
// what is unknown: "FILE: PROG: insn N: reason".
struct Location {
  std::string file;
  std::string prog;
  std::optional<std::size_t> insn;
};

// The user's input is bad. Reported as `tristate: <location>: <reason>` with exit status 2.
class InputError : public std::runtime_error {
 public:
  InputError(Location where, std::string reason);
  explicit InputError(std::string reason) : InputError(Location{}, std::move(reason)) {}

  const Location& where() const { return where_; }
  const std::string& reason() const { return reason_; }

  // The same error with the missing parts of its location filled in from `outer`, for callers
  // that know more context (the file name, the program) than the code that threw.
  InputError within(const Location& outer) const;

 private:
  Location where_;
  std::string reason_;
};

// A bug in Tristate itself.
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

std::string format_location(const Location& where);

}  // namespace tristate
