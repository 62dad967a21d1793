#include "datapath/ring.hpp"

#include <sys/mman.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "compiler/error.hpp"

namespace tristate::datapath {

namespace {
std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }
}  // namespace

SharedMemory::SharedMemory(std::size_t bytes) : size_(bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot map " + std::to_string(bytes) + " bytes of shared memory: " + std::strerror(errno));
  base_ = static_cast<uint8_t*>(p);
}

SharedMemory::~SharedMemory() {
  if (base_) munmap(base_, size_);
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept : base_(other.base_), size_(other.size_) {
  other.base_ = nullptr;
  other.size_ = 0;
}

std::size_t SpscRing::bytes_for(std::size_t capacity) { return sizeof(Header) + capacity * sizeof(Buffer); }

SpscRing::SpscRing(std::span<uint8_t> memory, std::size_t capacity)
    : header_(reinterpret_cast<Header*>(memory.data())),
      slots_(reinterpret_cast<Buffer*>(memory.data() + sizeof(Header))),
      mask_(capacity - 1) {
  if (!std::has_single_bit(capacity)) throw InternalError("ring capacity " + std::to_string(capacity) + " is not a power of two");
  if (memory.size() < bytes_for(capacity) || reinterpret_cast<uintptr_t>(memory.data()) % kCacheLine != 0)
    throw InternalError("ring memory too small or not cache-line aligned");
}

std::size_t SpscRing::push(std::span<const Buffer> buffers) {
  uint64_t head = header_->head.load(std::memory_order_relaxed);
  uint64_t room = capacity() - (head - header_->tail_seen);
  if (room < buffers.size()) {
    header_->tail_seen = header_->tail.load(std::memory_order_acquire);
    room = capacity() - (head - header_->tail_seen);
  }
  std::size_t n = buffers.size() < room ? buffers.size() : room;
  for (std::size_t i = 0; i < n; ++i) slots_[(head + i) & mask_] = buffers[i];
  if (n) header_->head.store(head + n, std::memory_order_release);
  return n;
}

std::size_t SpscRing::pop(std::span<Buffer> out) {
  uint64_t tail = header_->tail.load(std::memory_order_relaxed);
  uint64_t ready = header_->head_seen - tail;
  if (ready < out.size()) {
    header_->head_seen = header_->head.load(std::memory_order_acquire);
    ready = header_->head_seen - tail;
  }
  std::size_t n = out.size() < ready ? out.size() : ready;
  for (std::size_t i = 0; i < n; ++i) out[i] = slots_[(tail + i) & mask_];
  if (n) header_->tail.store(tail + n, std::memory_order_release);
  return n;
}

Status RingChannel::Endpoint::enqueue(const Buffer& buffer) {
  return out_.push({&buffer, 1}) == 1 ? Status::Ok : Status::Full;
}

Dequeued RingChannel::Endpoint::dequeue() {
  Dequeued d;
  d.status = in_.pop({&d.buffer, 1}) == 1 ? Status::Ok : Status::Empty;
  return d;
}

Batch RingChannel::Endpoint::enqueue_batch(std::span<const Buffer> buffers) {
  std::size_t n = out_.push(buffers);
  return {n, n == buffers.size() ? Status::Ok : Status::Full};
}

Batch RingChannel::Endpoint::dequeue_batch(std::span<Buffer> out) {
  std::size_t n = in_.pop(out);
  return {n, n == out.size() ? Status::Ok : Status::Empty};
}

std::size_t RingChannel::table_bytes() { return round_up(sizeof(RegionTable), kCacheLine); }

SpscRing RingChannel::ring(int which) {
  std::size_t ring_bytes = round_up(SpscRing::bytes_for(capacity_), kCacheLine);
  return SpscRing(memory_.bytes().subspan(table_bytes() + which * ring_bytes, ring_bytes), capacity_);
}

RingChannel::RingChannel(std::size_t capacity, RegionTable* regions)
    : capacity_(std::bit_ceil(capacity < 1 ? std::size_t{1} : capacity)),
      memory_(table_bytes() + 2 * round_up(SpscRing::bytes_for(capacity_), kCacheLine)),
      table_(regions ? regions : new (memory_.bytes().data()) RegionTable),
      side0_(*table_, ring(0), ring(1)),
      side1_(*table_, ring(1), ring(0)) {}

}  // namespace tristate::datapath
