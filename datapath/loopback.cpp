#include "datapath/loopback.hpp"

#include <bit>

namespace tristate::datapath {

LoopbackQueue::LoopbackQueue(std::size_t capacity, RegionTable* regions)
    : own_regions_(regions ? nullptr : std::make_unique<RegionTable>()),
      regions_(regions ? regions : own_regions_.get()),
      slots_(std::bit_ceil(capacity < 1 ? 1 : capacity)) {}

Status LoopbackQueue::enqueue(const Buffer& buffer) {
  if (head_ - tail_ == slots_.size()) return Status::Full;
  slots_[head_++ & (slots_.size() - 1)] = buffer;
  return Status::Ok;
}

Dequeued LoopbackQueue::dequeue() {
  if (head_ == tail_) return {Status::Empty, {}};
  return {Status::Ok, slots_[tail_++ & (slots_.size() - 1)]};
}

}  // namespace tristate::datapath
