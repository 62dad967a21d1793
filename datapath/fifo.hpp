// A first-in first-out queue of trivially copyable items in one growable power-of-2 ring: what a
// stage keeps its returned and waiting buffers in. Unlike std::deque it never frees and
// reallocates blocks as items pass through, so a steady flow allocates nothing.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

namespace tristate::datapath {

template <class T>
class Fifo {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  bool empty() const { return head_ == tail_; }
  std::size_t size() const { return head_ - tail_; }

  void push_back(const T& item) {
    if (size() == slots_.size()) grow(size() + 1);
    slots_[head_++ & mask()] = item;
  }
  void append(std::span<const T> items) {
    if (size() + items.size() > slots_.size()) grow(size() + items.size());
    for (const T& item : items) slots_[head_++ & mask()] = item;
  }
  const T& front() const { return slots_[tail_ & mask()]; }
  void pop_front() { ++tail_; }
  // Moves up to out.size() items from the front into `out`; returns how many.
  std::size_t pop_into(std::span<T> out) {
    const std::size_t n = std::min(out.size(), size());
    for (std::size_t i = 0; i < n; ++i) out[i] = slots_[(tail_ + i) & mask()];
    tail_ += n;
    return n;
  }

 private:
  std::size_t mask() const { return slots_.size() - 1; }
  void grow(std::size_t need) {
    std::vector<T> bigger(std::bit_ceil(std::max<std::size_t>(need, 16)));
    const std::size_t n = size();
    for (std::size_t i = 0; i < n; ++i) bigger[i] = slots_[(tail_ + i) & mask()];
    slots_ = std::move(bigger);
    tail_ = 0;
    head_ = n;
  }

  std::vector<T> slots_;
  std::size_t head_ = 0, tail_ = 0;  // head: next to write; tail: next to read
};

}  // namespace tristate::datapath
