#include "datapath/stage.hpp"

#include <linux/bpf.h>

#include <cstring>

#include "analyzer/analyzer.hpp"
#include "compiler/error.hpp"

namespace tristate::datapath {

std::string_view action_name(XdpAction action) {
  switch (action) {
    case XdpAction::Aborted: return "aborted";
    case XdpAction::Drop: return "drop";
    case XdpAction::Pass: return "pass";
    case XdpAction::Tx: return "tx";
    case XdpAction::Redirect: return "redirect";
  }
  return "unknown";
}

namespace {

const Program& find(const Module& module, const std::string& name) {
  Location where{module.path, name, std::nullopt};
  if (module.programs.empty()) throw InputError(where, "the object has no program");
  const Program* p = name.empty() ? &module.programs.front() : module.find_program(name);
  if (!p) throw InputError(where, "no program of this name in the object");
  return *p;
}

bool same_map(const MapDef& a, const MapDef& b) {
  return a.name == b.name && a.type == b.type && a.key_size == b.key_size && a.value_size == b.value_size &&
         a.max_entries == b.max_entries && a.flags == b.flags;
}

uint32_t get32(const std::vector<uint8_t>& bytes, std::size_t offset) {
  uint32_t v = 0;
  if (offset + 4 <= bytes.size()) std::memcpy(&v, bytes.data() + offset, 4);
  return v;
}

}  // namespace

PacketProgram::PacketProgram(const Module& module, const std::string& name, Engine engine)
    : PacketProgram(module, name, engine, std::make_shared<MapSet>(module.maps, 1)) {}

PacketProgram::PacketProgram(const Module& module, const std::string& name, Engine engine, std::shared_ptr<MapSet> maps)
    : engine_(engine), map_defs_(module.maps), maps_(std::move(maps)) {
  const Program& program = find(module, name);
  name_ = program.name();
  Location where{module.path, name_, std::nullopt};
  if (program.prog_type != BPF_PROG_TYPE_XDP)
    throw InputError(where, "a pipeline stage runs XDP programs; this one is " + program.prog_type_name);
  AnalysisResult verdict = analyze(module, program);
  if (!verdict.accepted) throw InputError({module.path, name_, verdict.insn}, "the analyzer refuses the program: " + verdict.reason);
  index_ = static_cast<std::size_t>(&program - module.programs.data());
  if (engine_ == Engine::Jit) {
    jit_ = std::make_unique<JitProgram>(module, program, *maps_, env_.cpu);
    frame_.env = &env_;
    frame_.maps = maps_.get();
  }
  else
    interpreter_ = std::make_unique<Interpreter>(module, *maps_);
}

std::shared_ptr<PacketProgram> PacketProgram::successor(const PacketProgram& old, const Module& module, const std::string& name,
                                                        std::optional<Engine> engine) {
  bool same = old.map_defs_.size() == module.maps.size();
  for (std::size_t i = 0; same && i < module.maps.size(); ++i) same = same_map(old.map_defs_[i], module.maps[i]);
  if (!same)
    throw InputError({module.path, name.empty() ? old.name_ : name, std::nullopt},
                     "its maps differ from those of the running program, so they cannot be carried over");
  return std::shared_ptr<PacketProgram>(new PacketProgram(module, name.empty() ? old.name_ : name, engine.value_or(old.engine_), old.maps_));
}

PacketProgram::Outcome PacketProgram::run(std::span<uint8_t> bytes, Buffer& buffer) {
  ++runs_;
  return jit_ ? run_jitted(bytes, buffer) : run_interpreted(bytes, buffer);
}

PacketProgram::Outcome PacketProgram::run_jitted(std::span<uint8_t> bytes, Buffer& buffer) {
  Outcome outcome;
  // The frame as BPF_PROG_TEST_RUN (and so the interpreter) has it: the tailroom of a page-sized
  // buffer is the kernel's skb_shared_info; a packet shorter than Ethernet is not run.
  const uint32_t tailroom = buffer.length >= Interpreter::kXdpFrameSize ? Interpreter::kXdpTailroom : 0;
  // One frame for every run: only what a run reads or may have changed is set again.
  JitFrame& frame = frame_;
  frame.redirected = false;
  frame.ktime_calls = 0;
  frame.frame_start = reinterpret_cast<uint64_t>(bytes.data());
  frame.frame_end = frame.frame_start + buffer.length - tailroom;
  frame.data = frame.data_meta = frame.frame_start + buffer.valid_offset;
  frame.data_end = frame.data + buffer.valid_length;
  if (buffer.valid_length < 14 || frame.data_end > frame.frame_end) {
    outcome.fault = "a packet of " + std::to_string(buffer.valid_length) + " bytes is not one the kernel runs an XDP program on";
    return outcome;
  }
  const uint64_t r0 = jit_->run(frame);
  buffer.valid_offset = static_cast<uint32_t>(frame.data - frame.frame_start);
  buffer.valid_length = static_cast<uint32_t>(frame.data_end - frame.data);
  outcome.action = r0 < kXdpActions ? static_cast<XdpAction>(r0) : XdpAction::Aborted;
  if (outcome.action == XdpAction::Redirect) outcome.redirect = redirect_of(frame);
  return outcome;
}

PacketProgram::Outcome PacketProgram::run_interpreted(std::span<uint8_t> bytes, Buffer& buffer) {
  Outcome outcome;
  std::span<uint8_t> data = bytes.subspan(buffer.valid_offset, buffer.valid_length);
  try {
    interpreter_->run(index_, RunInput{data, {}}, env_, {}, scratch_);
  } catch (const InputError& e) {  // a packet the kernel would not run (shorter than Ethernet, say)
    outcome.fault = e.reason();
    return outcome;
  }
  if (scratch_.fault) {
    outcome.fault = "insn " + std::to_string(scratch_.fault->insn) + ": " + scratch_.fault->reason;
    return outcome;
  }
  // The output packet: from data to data_end (the metadata before data is not kept).
  uint32_t begin = get32(scratch_.ctx, offsetof(xdp_md, data));
  uint32_t end = get32(scratch_.ctx, offsetof(xdp_md, data_end));
  if (begin > end || end > scratch_.packet.size() || end - begin > buffer.length) {
    outcome.fault = "the output packet (" + std::to_string(end - begin) + " bytes) does not fit the buffer";
    return outcome;
  }
  uint32_t size = end - begin;
  // Keep the data where it was when it fits there, else end it at the buffer's end.
  uint32_t at = buffer.valid_offset + size <= buffer.length ? buffer.valid_offset : buffer.length - size;
  std::memmove(bytes.data() + at, scratch_.packet.data() + begin, size);
  buffer.valid_offset = at;
  buffer.valid_length = size;
  outcome.action = scratch_.r0 < kXdpActions ? static_cast<XdpAction>(scratch_.r0) : XdpAction::Aborted;
  if (outcome.action == XdpAction::Redirect) outcome.redirect = scratch_.redirect;
  return outcome;
}

Stage::Stage(std::shared_ptr<PacketProgram> program, Routes routes, RegionTable& regions)
    : program_(std::move(program)), routes_(std::move(routes)), regions_(regions) {
  if (!program_) throw InternalError("a stage needs a program");
}

void Stage::swap_program(std::shared_ptr<PacketProgram> next) {
  std::lock_guard lock(swap_mutex_);
  next_ = std::move(next);
  swap_pending_.store(true, std::memory_order_release);
}

void Stage::install_pending() {
  if (!swap_pending_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(swap_mutex_);
  if (next_) {
    program_ = std::move(next_);
    ++stats_.swaps;
  }
  swap_pending_.store(false, std::memory_order_relaxed);
}

Queue* Stage::route(const PacketProgram::Outcome& outcome) const {
  switch (outcome.action) {
    case XdpAction::Pass: return routes_.pass;
    case XdpAction::Tx: return routes_.tx;
    case XdpAction::Redirect: {
      if (!outcome.redirect) return nullptr;
      uint64_t key = outcome.redirect->map >= 0 ? outcome.redirect->key : outcome.redirect->ifindex;
      return key < routes_.redirect.size() ? routes_.redirect[key] : nullptr;
    }
    default: return nullptr;
  }
}

std::size_t Stage::flush() {
  install_pending();
  while (!backlog_.empty()) {
    auto [target, buffer] = backlog_.front();
    Status s = target->enqueue(buffer);
    if (s == Status::Full) break;
    backlog_.pop_front();
    if (s != Status::Ok) {
      ++stats_.refused;
      returns_.push_back(buffer);
    }
  }
  return backlog_.size();
}

Status Stage::run_one(const Buffer& in, Buffer& out, Queue*& target) {
  std::span<uint8_t> bytes = regions_.bytes(in);
  if (bytes.empty()) return Status::UnknownRegion;
  if (in.valid_offset > in.length || in.valid_length > in.length - in.valid_offset) return Status::OutOfRegion;
  out = in;
  PacketProgram::Outcome outcome = program_->run(bytes, out);
  ++stats_.packets;
  ++stats_.by_action[static_cast<std::size_t>(outcome.action)];
  if (outcome.fault) {
    ++stats_.faults;
    stats_.last_fault = std::move(*outcome.fault);
  }
  target = route(outcome);
  return Status::Ok;
}

void Stage::forward(Queue* target, std::span<const Buffer> buffers) {
  if (!target) {
    returns_.append(buffers);
    return;
  }
  while (!buffers.empty()) {
    // Behind a backlog for this route, so that the route sees the buffers in order.
    Batch b = backlog_.empty() ? target->enqueue_batch(buffers) : Batch{0, Status::Full};
    buffers = buffers.subspan(b.done);
    if (buffers.empty()) return;
    if (b.status == Status::Full) {
      for (const Buffer& buffer : buffers) backlog_.push_back({target, buffer});
      return;
    }
    ++stats_.refused;  // the route refused this one (an ownership violation downstream)
    returns_.push_back(buffers.front());
    buffers = buffers.subspan(1);
  }
}

Status Stage::enqueue(const Buffer& in) {
  if (flush() != 0) return Status::Full;
  Buffer out;
  Queue* target = nullptr;
  if (Status s = run_one(in, out, target); s != Status::Ok) return s;
  forward(target, {&out, 1});
  return Status::Ok;
}

Batch Stage::enqueue_batch(std::span<const Buffer> buffers) {
  Batch batch;
  if (flush() != 0) {
    batch.status = Status::Full;
    return batch;
  }
  // Run every buffer first, then pass each run of buffers with the same route on in one batch:
  // the route's queue synchronises once per run, and the descriptors the programs just wrote
  // have reached the cache before they are copied on.
  Buffer out[kMaxBatch];
  Queue* targets[kMaxBatch];
  while (batch.done < buffers.size()) {
    const std::size_t n = std::min(kMaxBatch, buffers.size() - batch.done);
    std::size_t ran = 0;
    for (; ran < n; ++ran) {
      batch.status = run_one(buffers[batch.done + ran], out[ran], targets[ran]);
      if (batch.status != Status::Ok) break;
    }
    for (std::size_t i = 0; i < ran;) {
      std::size_t j = i + 1;
      while (j < ran && targets[j] == targets[i]) ++j;
      forward(targets[i], {out + i, j - i});
      i = j;
    }
    batch.done += ran;
    if (batch.status != Status::Ok) break;
  }
  return batch;
}

Dequeued Stage::dequeue() {
  if (returns_.empty()) flush();
  if (returns_.empty()) return {Status::Empty, {}};
  Dequeued d{Status::Ok, returns_.front()};
  returns_.pop_front();
  ++stats_.returned;
  return d;
}

Batch Stage::dequeue_batch(std::span<Buffer> out) {
  if (returns_.size() < out.size()) flush();
  Batch batch;
  batch.done = returns_.pop_into(out);
  stats_.returned += batch.done;
  if (batch.done < out.size()) batch.status = Status::Empty;
  return batch;
}

}  // namespace tristate::datapath
