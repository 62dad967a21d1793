// The search's cost function on test cases: a candidate window is written into the interpreter in
// place, the test cases that reach the window run, and the error is the bit distance between what
// they leave and what the reference program left: the registers live after the window (on each
// of the first visits), the stack there (first visit), the return value, the packet, the context,
// what the run did to its maps, its redirect and trace output, and faults. The evaluation stops
// as soon as the error passes the caller's bound.
#pragma once

#include <cstddef>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/facts.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/liveness.hpp"
#include "compiler/maps.hpp"
#include "compiler/program.hpp"
#include "synth/testcases.hpp"

namespace tristate {

class Evaluator {
 public:
  static constexpr uint64_t kFaultError = 1024;   // a fault the reference did not have
  static constexpr std::size_t kVisits = 2;        // window visits compared per run

  // `module` and `suite` must outlive the evaluator; the module's program `program` is copied.
  Evaluator(const Module& module, std::size_t program, const TestSuite& suite);

  // Sets the window [start, end) whose end state is compared (live_out: the registers live
  // there) and runs the current program to record the reference on the cases that reach it.
  // Only the stack bytes in `live_stack` (r10 - 512 + i) are compared: the ones read later.
  void set_window(std::size_t start, std::size_t end, RegSet live_out, const StackBytes& live_stack = StackBytes{}.set());
  std::size_t reaching_cases() const { return reaching_.size(); }

  // Adds a case that reaches the window (a counterexample of a proof), with its reference run on
  // the window's instructions as set_window found them.
  void add_case(TestCase c, std::function<void(MapSet&)> seeder);
  std::size_t added_cases() const { return added_; }

  // Writes `insn` at `slot` of the program the interpreter runs; the kernel's reason when it
  // refuses the encoding (then nothing changed).
  std::optional<std::string> write(std::size_t slot, const Insn& insn);
  const std::vector<Insn>& image() const { return image_; }

  // The error of the program as it stands against the reference, or any value above `bound`
  // once it passes it.
  uint64_t error(uint64_t bound);
  uint64_t runs() const { return runs_; }
  // The work done so far, in a unit that does not depend on the machine: instructions executed
  // plus kRunCost per run (setting up a run, resetting maps).
  uint64_t work() const { return work_; }
  static constexpr uint64_t kRunCost = 200;

 private:
  struct Observed {
    std::vector<ObservedReg> regs;  // live-out registers, kVisits visits (missing visits: Uninit)
    std::size_t visits = 0;
    std::array<uint8_t, Interpreter::kStackSize> stack{};      // at the first visit
    std::array<uint64_t, Interpreter::kStackSize / 64> written{};
    uint64_t r0 = 0;
    bool fault = false;
    std::vector<uint8_t> packet;
    std::vector<uint8_t> ctx;
    MapEffects maps;             // map-changing helper calls and the map values written
    std::optional<Redirect> redirect;
    std::vector<std::string> trace;
  };
  Observed run_one(std::size_t case_index);
  void reset_group(int group);

  const Module& module_;
  std::size_t program_ = 0;
  TestSuite suite_;  // a copy: counterexamples are added to it
  std::vector<Insn> window_at_set_;  // the window's instructions when set_window ran
  std::size_t added_ = 0;
  std::vector<Insn> image_;
  MapSet maps_;
  std::optional<Interpreter> interp_;
  std::size_t start_ = 0, end_ = 0;
  std::vector<Reg> live_;
  std::vector<bool> watch_end_;  // the slot after the window
  std::array<uint64_t, Interpreter::kStackSize / 64> live_stack_{};  // bytes compared
  std::vector<std::size_t> reaching_;   // case indices that reach the window
  std::vector<Observed> reference_;     // per reaching case
  PacketResult scratch_;
  Environment env_;
  uint64_t runs_ = 0;
  uint64_t work_ = 0;
};

}  // namespace tristate
