// The loopback queue: a queue whose other side is the caller itself. What is enqueued comes back
// out of dequeue, in order. Useful to test a stage or a checking layer with no second thread, and
// as the cheapest backend to measure the interface's own cost against.
#pragma once

#include <memory>
#include <vector>

#include "datapath/queue.hpp"

namespace tristate::datapath {

class LoopbackQueue final : public Queue {
 public:
  // capacity: descriptors in transit at most (rounded up to a power of two). regions: a table
  // shared with other queues of the same pipeline (it must outlive this queue), or null for a
  // table of its own.
  explicit LoopbackQueue(std::size_t capacity = 1024, RegionTable* regions = nullptr);

  Registered register_region(std::span<uint8_t> memory) override { return regions_->add(memory); }
  Status deregister_region(RegionId id) override { return regions_->remove(id); }
  Status enqueue(const Buffer& buffer) override;
  Dequeued dequeue() override;
  Batch enqueue_batch(std::span<const Buffer> buffers) override;
  Batch dequeue_batch(std::span<Buffer> out) override;
  const RegionTable& regions() const override { return *regions_; }

 private:
  std::unique_ptr<RegionTable> own_regions_;
  RegionTable* regions_;
  std::vector<Buffer> slots_;
  uint64_t head_ = 0, tail_ = 0;  // head: next to write; tail: next to read
};

}  // namespace tristate::datapath
