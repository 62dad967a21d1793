#include "datapath/loopback.hpp"

#include <algorithm>
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

Batch LoopbackQueue::enqueue_batch(std::span<const Buffer> buffers) {
  const std::size_t mask = slots_.size() - 1;
  const std::size_t n = std::min<std::size_t>(buffers.size(), slots_.size() - (head_ - tail_));
  for (std::size_t i = 0; i < n; ++i) slots_[(head_ + i) & mask] = buffers[i];
  head_ += n;
  return {n, n == buffers.size() ? Status::Ok : Status::Full};
}

Batch LoopbackQueue::dequeue_batch(std::span<Buffer> out) {
  const std::size_t mask = slots_.size() - 1;
  const std::size_t n = std::min<std::size_t>(out.size(), head_ - tail_);
  for (std::size_t i = 0; i < n; ++i) out[i] = slots_[(tail_ + i) & mask];
  tail_ += n;
  return {n, n == out.size() ? Status::Ok : Status::Empty};
}

}  // namespace tristate::datapath
