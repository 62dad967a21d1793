// A pipeline stage: a queue that runs a verified XDP program on every buffer enqueued into it and
// passes the buffer on by the program's verdict.
//
// The stage is itself a Queue (CleanQ's composition): whoever enqueues a buffer into it gives it
// up; the stage runs the program on the buffer's data, in place, and enqueues the buffer on the
// route of its verdict (pass, transmit, or a redirect target). Buffers it does not pass on
// (dropped, aborted, a fault, a redirect with no route, a route that refuses the buffer) come back
// to the sender through dequeue(). When a route is full the buffer waits in the stage's backlog
// and the stage refuses new buffers (Full) until the backlog drains, so backpressure reaches the
// sender without running any packet twice.
//
// Hot swap: swap_program() hands the stage a new version of its program (the optimizer's output)
// from any thread. The stage installs it between two packets, so each packet runs wholly on one
// version, none is lost, and the maps are the very same objects (successor() builds the new
// version on the old one's maps).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "compiler/interpreter.hpp"
#include "compiler/maps.hpp"
#include "compiler/program.hpp"
#include "datapath/fifo.hpp"
#include "datapath/jit.hpp"
#include "datapath/queue.hpp"

namespace tristate::datapath {

// enum xdp_action.
enum class XdpAction : uint32_t { Aborted = 0, Drop = 1, Pass = 2, Tx = 3, Redirect = 4 };
inline constexpr std::size_t kXdpActions = 5;
std::string_view action_name(XdpAction action);

// How a stage runs its program.
enum class Engine {
  Interpreter,  // compiler/interpreter.hpp: every access checked, the reference
  Jit,          // native code from LLVM 19's ORC JIT (datapath/jit.hpp), unchecked accesses
};

// One XDP program the analyzer accepted, with its maps, ready to run on packets.
class PacketProgram {
 public:
  // Program `name` of `module` (the first one when empty) with fresh maps made from the module
  // (seeded by the caller through maps()). InputError naming the file, program and instruction
  // when the program is not XDP, the analyzer refuses it, or the engine cannot run it.
  explicit PacketProgram(const Module& module, const std::string& name = {}, Engine engine = Engine::Interpreter);
  // Not copied or moved: the JIT's frame points at this object's environment and maps.
  PacketProgram(const PacketProgram&) = delete;
  PacketProgram& operator=(const PacketProgram&) = delete;

  // The next version of `old`'s program (its optimized form), running on the same maps.
  // InputError when the module's maps differ from the old one's (name, type, key and value size,
  // entries): the maps could not be carried over.
  // Compiled here, in the caller's thread, so a stage swapping to it never waits for the JIT.
  // engine: the old one's when not given.
  static std::shared_ptr<PacketProgram> successor(const PacketProgram& old, const Module& module, const std::string& name = {},
                                                  std::optional<Engine> engine = std::nullopt);

  struct Outcome {
    XdpAction action = XdpAction::Aborted;
    std::optional<Redirect> redirect;
    std::optional<std::string> fault;  // why the run stopped early (then the action is Aborted)
  };
  // Runs on the data of `buffer` in `bytes` (the buffer's memory), writing the output packet back
  // and updating the buffer's data offset and length.
  Outcome run(std::span<uint8_t> bytes, Buffer& buffer);

  MapSet& maps() { return *maps_; }
  const std::string& name() const { return name_; }
  Engine engine() const { return engine_; }
  uint64_t runs() const { return runs_; }

 private:
  PacketProgram(const Module& module, const std::string& name, Engine engine, std::shared_ptr<MapSet> maps);
  Outcome run_interpreted(std::span<uint8_t> bytes, Buffer& buffer);
  Outcome run_jitted(std::span<uint8_t> bytes, Buffer& buffer);

  std::string name_;
  Engine engine_ = Engine::Interpreter;
  std::vector<MapDef> map_defs_;
  std::shared_ptr<MapSet> maps_;
  std::unique_ptr<Interpreter> interpreter_;
  std::unique_ptr<JitProgram> jit_;
  JitFrame frame_;  // the JIT's context, reused run after run
  std::size_t index_ = 0;
  Environment env_;
  PacketResult scratch_;
  uint64_t runs_ = 0;
};

// Where a stage sends buffers by verdict. Null: back to the sender.
struct Routes {
  Queue* pass = nullptr;
  Queue* tx = nullptr;
  // XDP_REDIRECT: by the key of bpf_redirect_map, or the ifindex of bpf_redirect.
  std::vector<Queue*> redirect;
};

struct StageStats {
  uint64_t packets = 0;
  uint64_t by_action[kXdpActions] = {};
  uint64_t faults = 0;
  std::string last_fault;  // the reason of the latest fault
  uint64_t returned = 0;  // buffers given back to the sender
  uint64_t refused = 0;   // buffers a route refused (an ownership violation downstream)
  uint64_t swaps = 0;     // program versions installed after the first
};

class Stage final : public Queue {
 public:
  // regions: the table of the pipeline's regions (shared with the queues around the stage).
  Stage(std::shared_ptr<PacketProgram> program, Routes routes, RegionTable& regions);

  Registered register_region(std::span<uint8_t> memory) override { return regions_.add(memory); }
  Status deregister_region(RegionId id) override { return regions_.remove(id); }
  Status enqueue(const Buffer& buffer) override;
  Dequeued dequeue() override;
  // Runs the whole batch before passing the buffers on, each route's share in batches of its own.
  Batch enqueue_batch(std::span<const Buffer> buffers) override;
  Batch dequeue_batch(std::span<Buffer> out) override;
  const RegionTable& regions() const override { return regions_; }

  // Retries buffers waiting for a full route; returns how many are still waiting.
  std::size_t flush();

  // Asks the stage to run `next` from the next packet on (any thread may call this). The old
  // version keeps running until the stage installs the new one at its next enqueue (or flush).
  void swap_program(std::shared_ptr<PacketProgram> next);
  // The version now running (call from the stage's thread).
  const std::shared_ptr<PacketProgram>& program() const { return program_; }

  const StageStats& stats() const { return stats_; }

 private:
  static constexpr std::size_t kMaxBatch = 64;  // buffers run before they are passed on

  void install_pending();
  Queue* route(const PacketProgram::Outcome& outcome) const;
  // Checks `in`, runs the program on it into `out` and picks its route (null: back to the sender).
  Status run_one(const Buffer& in, Buffer& out, Queue*& target);
  // Passes buffers on to `target` (null: back to the sender), the ones it has no room for into
  // the backlog, the ones it refuses back to the sender.
  void forward(Queue* target, std::span<const Buffer> buffers);

  std::shared_ptr<PacketProgram> program_;
  Routes routes_;
  RegionTable& regions_;
  struct Waiting {
    Queue* target;
    Buffer buffer;
  };
  Fifo<Waiting> backlog_;  // buffers run and routed, waiting for room on their route
  Fifo<Buffer> returns_;   // buffers going back to the sender
  StageStats stats_;

  std::atomic<bool> swap_pending_{false};
  std::mutex swap_mutex_;
  std::shared_ptr<PacketProgram> next_;
};

}  // namespace tristate::datapath
