// A lock-free single-producer single-consumer ring of descriptors in shared memory, and a queue
// made of two of them (one each way).
//
// The layout follows the usual cache-aware design (as in FastForward and Rigtorp's SPSC queue):
// the producer's index and its cached copy of the consumer's index share one cache line, the
// consumer's index and its cached copy of the producer's another, so that in the common case each
// side touches only its own line and the slots; the other side's index is re-read only when the
// cached copy says the ring is full (or empty). A batch publishes all its slots with one release
// store. Nothing in the ring is a pointer, so it works across processes that map the same memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "datapath/queue.hpp"

namespace tristate::datapath {

inline constexpr std::size_t kCacheLine = 64;

// Anonymous memory shared with the processes this one forks afterwards (MAP_SHARED), zeroed.
class SharedMemory {
 public:
  explicit SharedMemory(std::size_t bytes);
  ~SharedMemory();
  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&&) = delete;
  SharedMemory(const SharedMemory&) = delete;

  std::span<uint8_t> bytes() const { return {base_, size_}; }

 private:
  uint8_t* base_ = nullptr;
  std::size_t size_ = 0;
};

class SpscRing {
 public:
  // Bytes a ring of `capacity` descriptors needs (capacity: a power of two).
  static std::size_t bytes_for(std::size_t capacity);
  // A ring laid out at the start of `memory` (cache-line aligned, at least bytes_for(capacity)),
  // which must be zeroed when the ring is first made; other processes attach to the same bytes.
  SpscRing(std::span<uint8_t> memory, std::size_t capacity);

  // Producer: writes as many of `buffers` as fit, in order; returns how many.
  std::size_t push(std::span<const Buffer> buffers);
  // Consumer: reads up to out.size() descriptors; returns how many.
  std::size_t pop(std::span<Buffer> out);

  std::size_t capacity() const { return mask_ + 1; }

 private:
  struct Header {
    alignas(kCacheLine) std::atomic<uint64_t> head;  // next slot to write (producer's line)
    uint64_t tail_seen;                              // the producer's last read of tail
    alignas(kCacheLine) std::atomic<uint64_t> tail;  // next slot to read (consumer's line)
    uint64_t head_seen;                              // the consumer's last read of head
  };
  static_assert(std::atomic<uint64_t>::is_always_lock_free, "the ring needs address-free atomics");

  Header* header_;
  Buffer* slots_;
  uint64_t mask_;
};

// A queue between two sides (two threads, or two processes forked after it was made): side 0
// enqueues onto one ring and dequeues from the other, side 1 the other way round. The region
// table lives in the same shared memory (unless the channel is given one shared with other queues
// of a pipeline in one process); region memory registered must be mapped at the same address in
// both processes (shared memory mapped before the fork).
class RingChannel {
 public:
  explicit RingChannel(std::size_t capacity = 1024, RegionTable* regions = nullptr);
  RingChannel(const RingChannel&) = delete;

  Queue& side(int which) { return which == 0 ? side0_ : side1_; }

 private:
  class Endpoint final : public Queue {
   public:
    Endpoint(RegionTable& table, SpscRing out, SpscRing in) : table_(table), out_(out), in_(in) {}
    Registered register_region(std::span<uint8_t> memory) override { return table_.add(memory); }
    Status deregister_region(RegionId id) override { return table_.remove(id); }
    Status enqueue(const Buffer& buffer) override;
    Dequeued dequeue() override;
    Batch enqueue_batch(std::span<const Buffer> buffers) override;
    Batch dequeue_batch(std::span<Buffer> out) override;
    const RegionTable& regions() const override { return table_; }

   private:
    RegionTable& table_;
    SpscRing out_, in_;
  };

  // Where the region table and the two rings lie in memory_.
  static std::size_t table_bytes();
  SpscRing ring(int which);

  std::size_t capacity_;
  SharedMemory memory_;
  RegionTable* table_;  // constructed in memory_
  Endpoint side0_, side1_;
};

}  // namespace tristate::datapath
