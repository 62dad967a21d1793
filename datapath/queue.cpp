#include "datapath/queue.hpp"

#include <limits>

namespace tristate::datapath {

namespace {
// A slot being filled in by add(): taken, not yet visible.
constexpr uint64_t kClaimed = std::numeric_limits<uint64_t>::max();
}  // namespace

std::string_view describe(Status status) {
  switch (status) {
    case Status::Ok: return "ok";
    case Status::Full: return "queue full";
    case Status::Empty: return "queue empty";
    case Status::UnknownRegion: return "region not registered";
    case Status::OutOfRegion: return "buffer outside its region, or data outside its buffer";
    case Status::NotOwned: return "enqueue of a buffer this side does not own";
    case Status::AlreadyOwned: return "dequeue of a buffer this side already owns";
    case Status::RegionInUse: return "deregister of a region with buffers in transit or held by the other side";
    case Status::NoRoom: return "region table full";
    case Status::Unsupported: return "not supported by this queue";
  }
  return "unknown status";
}

std::string describe(const Buffer& b) {
  return "region " + std::to_string(b.region) + " [" + std::to_string(b.offset) + ", +" +
         std::to_string(b.length) + ") data [" + std::to_string(b.valid_offset) + ", +" +
         std::to_string(b.valid_length) + ")";
}

Registered RegionTable::add(std::span<uint8_t> memory) {
  if (memory.empty()) return {Status::OutOfRegion, 0};
  for (std::size_t i = 0; i < kCapacity; ++i) {
    uint64_t expected = 0;
    if (!entries_[i].size.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel)) continue;
    entries_[i].base.store(memory.data(), std::memory_order_relaxed);
    entries_[i].size.store(memory.size(), std::memory_order_release);
    return {Status::Ok, static_cast<RegionId>(i + 1)};
  }
  return {Status::NoRoom, 0};
}

Status RegionTable::remove(RegionId id) {
  if (id == 0 || id > kCapacity) return Status::UnknownRegion;
  uint64_t size = entries_[id - 1].size.load(std::memory_order_acquire);
  // Only the registration seen here is removed, not one made meanwhile by the other side.
  if (size == 0 || size == kClaimed || !entries_[id - 1].size.compare_exchange_strong(size, 0, std::memory_order_acq_rel))
    return Status::UnknownRegion;
  return Status::Ok;
}

std::span<uint8_t> RegionTable::memory(RegionId id) const {
  if (id == 0 || id > kCapacity) return {};
  const Entry& e = entries_[id - 1];
  uint64_t size = e.size.load(std::memory_order_acquire);
  if (size == 0 || size == kClaimed) return {};
  return {e.base.load(std::memory_order_relaxed), size};
}

std::span<uint8_t> RegionTable::bytes(const Buffer& b) const {
  std::span<uint8_t> region = memory(b.region);
  if (b.offset > region.size() || b.length > region.size() - b.offset) return {};
  return region.subspan(b.offset, b.length);
}

Batch Queue::enqueue_batch(std::span<const Buffer> buffers) {
  Batch batch;
  for (const Buffer& b : buffers) {
    batch.status = enqueue(b);
    if (batch.status != Status::Ok) return batch;
    ++batch.done;
  }
  return batch;
}

Batch Queue::dequeue_batch(std::span<Buffer> out) {
  Batch batch;
  for (Buffer& slot : out) {
    Dequeued d = dequeue();
    batch.status = d.status;
    if (d.status != Status::Ok) return batch;
    slot = d.buffer;
    ++batch.done;
  }
  return batch;
}

}  // namespace tristate::datapath
