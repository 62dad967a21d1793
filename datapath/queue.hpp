// Descriptor queues with CleanQ's ownership semantics (Haecki et al., "CleanQ: a lightweight,
// uniform, formally specified interface for intra-machine data transfer").
//
// Two sides share memory regions and pass buffers (slices of a region) to each other. At every
// moment each byte of a registered region is owned by exactly one side or is in transit between
// them: registering a region gives all of it to the side that registered it; enqueue hands a
// buffer the caller owns to the other side (in transit until that side dequeues it); dequeue takes
// ownership of a buffer the other side sent; deregistering needs the whole region back.
//
// `Queue` is one side's endpoint. Backends (datapath/loopback.hpp, datapath/ring.hpp) only move
// descriptors and do not check ownership, so that they stay a few instructions per operation;
// datapath/checked.hpp is the layer that enforces the rules, stackable on any Queue.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tristate::datapath {

using RegionId = uint32_t;

// Flags of a descriptor.
enum BufferFlag : uint32_t {
  kLastOfChain = 1u << 0,  // the last buffer of a packet spread over several buffers
};

// One descriptor: a slice of a registered region, and within it the bytes that hold data.
// 32 bytes, two to a cache line.
struct Buffer {
  RegionId region = 0;
  uint32_t flags = 0;
  uint64_t offset = 0;        // of the buffer in its region
  uint32_t length = 0;        // of the buffer
  uint32_t valid_offset = 0;  // of the data, from the buffer's start
  uint32_t valid_length = 0;  // of the data
  uint32_t reserved = 0;
  bool operator==(const Buffer&) const = default;
};
static_assert(sizeof(Buffer) == 32);

// What an operation did. Ok, Full and Empty are the normal outcomes; the others are violations
// of the interface, reported by the checking layer (or by a backend for what it must check
// anyway, such as an unknown region at registration).
enum class Status : uint8_t {
  Ok,
  Full,           // enqueue: no room now; the caller still owns the buffer
  Empty,          // dequeue: nothing has arrived
  UnknownRegion,  // the descriptor's region is not registered on this queue
  OutOfRegion,    // the buffer does not lie inside its region, or its data not inside the buffer
  NotOwned,       // enqueue of a buffer (or part of one) this side does not own
  AlreadyOwned,   // dequeue of a buffer this side already owns (a double dequeue)
  RegionInUse,    // deregister while part of the region is in transit or held by the other side
  NoRoom,         // the region table is full
  Unsupported,    // the backend cannot do this (adding a region to an AF_XDP UMEM)
};
std::string_view describe(Status status);

// The outcome of a batched operation: how many descriptors went through (a prefix of the batch),
// and why it stopped when not all did.
struct Batch {
  std::size_t done = 0;
  Status status = Status::Ok;
};

struct Registered {
  Status status = Status::Ok;
  RegionId id = 0;
};

struct Dequeued {
  Status status = Status::Empty;
  Buffer buffer;
};

// The regions both sides of a queue know, by id. Registration and lookup may race between the
// two sides' threads: an entry is published with a release store of its size and read with an
// acquire load. Ids start at 1, so that a zeroed descriptor never names a region.
class RegionTable {
 public:
  static constexpr std::size_t kCapacity = 64;

  Registered add(std::span<uint8_t> memory);
  Status remove(RegionId id);
  // The region's memory, or an empty span when the id is not registered.
  std::span<uint8_t> memory(RegionId id) const;
  // The bytes of a buffer (the whole buffer, not only its data); empty when it lies outside.
  std::span<uint8_t> bytes(const Buffer& buffer) const;

 private:
  struct Entry {
    std::atomic<uint64_t> size{0};  // 0: free
    std::atomic<uint8_t*> base{nullptr};
  };
  Entry entries_[kCapacity];
};

// One side's endpoint of a queue.
class Queue {
 public:
  virtual ~Queue() = default;

  // Registers memory with both sides; this side owns all of it afterwards.
  virtual Registered register_region(std::span<uint8_t> memory) = 0;
  // Removes a region; its memory belongs to the caller again.
  virtual Status deregister_region(RegionId id) = 0;

  // Hands buffers to the other side: Ok, or Full (nothing was sent).
  virtual Status enqueue(const Buffer& buffer) = 0;
  // Takes one buffer the other side sent: Ok, or Empty.
  virtual Dequeued dequeue() = 0;

  // Batched forms: as many as fit (enqueue) or have arrived (dequeue), in order, with one
  // synchronisation with the other side for the whole batch where the backend allows it.
  virtual Batch enqueue_batch(std::span<const Buffer> buffers);
  virtual Batch dequeue_batch(std::span<Buffer> out);

  // The regions this queue knows (both sides see the same table).
  virtual const RegionTable& regions() const = 0;
};

// A one-line description of a descriptor, for error messages: "region 1 [4096, +2048) data [14, +60)".
std::string describe(const Buffer& buffer);

}  // namespace tristate::datapath
