// The ownership-checking layer: a Queue that wraps another and enforces CleanQ's rules on the
// side it stands for (see datapath/queue.hpp).
//
// It keeps, for every region, the byte ranges this side owns. Registering a region makes all of
// it owned; enqueue needs the whole buffer owned and gives it away; dequeue needs the buffer to
// overlap nothing owned and takes it; deregister needs the whole region owned. A violation is
// refused before it reaches the wrapped queue (enqueue, deregister) or dropped as it comes out of
// it (dequeue), returned as its Status and remembered with its descriptor in last_violation().
// Stacked on both ends of a queue, it guarantees no byte is ever owned by both sides.
//
// One side may talk through several queues over the same memory (an AF_XDP socket's RX and TX
// queues, a stage and its routes): their checking layers then share one Ledger, so that a buffer
// received on one queue may be sent on another.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "datapath/queue.hpp"

namespace tristate::datapath {

struct Violation {
  Status status = Status::Ok;
  std::string operation;  // "enqueue", "dequeue", "deregister"
  Buffer buffer;          // the descriptor (for deregister: the whole region)
  std::string message() const;  // "enqueue of region 1 [0, +2048) ...: enqueue of a buffer this side does not own"
};

// The byte ranges one side owns, per region.
class Ledger {
 public:
  // Gives the side a whole region (registered by it, or by other means such as a UMEM).
  void add_region(RegionId id, uint64_t size);
  void remove_region(RegionId id);
  bool owns(RegionId id, uint64_t begin, uint64_t end) const;
  bool owns_any(RegionId id, uint64_t begin, uint64_t end) const;
  // Callers check first: give() only what owns() says is owned, take() only what owns_any() says is not.
  void give(RegionId id, uint64_t begin, uint64_t end);
  void take(RegionId id, uint64_t begin, uint64_t end);
  uint64_t owned_bytes(RegionId id) const;

 private:
  using Ranges = std::map<uint64_t, uint64_t>;  // start -> end, disjoint and not touching
  std::unordered_map<RegionId, Ranges> owned_;
};

class CheckedQueue final : public Queue {
 public:
  // ledger: shared with the side's other checked queues (it must outlive this one), or null for
  // a ledger of its own.
  explicit CheckedQueue(Queue& inner, Ledger* ledger = nullptr)
      : inner_(inner), own_ledger_(ledger ? nullptr : std::make_unique<Ledger>()), ledger_(ledger ? *ledger : *own_ledger_) {}

  Registered register_region(std::span<uint8_t> memory) override;
  Status deregister_region(RegionId id) override;
  Status enqueue(const Buffer& buffer) override;
  Dequeued dequeue() override;
  Batch enqueue_batch(std::span<const Buffer> buffers) override;
  Batch dequeue_batch(std::span<Buffer> out) override;
  const RegionTable& regions() const override { return inner_.regions(); }

  // How many bytes of the region this side owns now.
  uint64_t owned_bytes(RegionId id) const { return ledger_.owned_bytes(id); }
  std::size_t violation_count() const { return violations_; }
  const std::optional<Violation>& last_violation() const { return last_; }

 private:
  // Checks a descriptor's bounds against its region: Ok, UnknownRegion or OutOfRegion.
  Status check_bounds(const Buffer& b) const;
  // Checks an outgoing buffer and, when it passes, gives it away.
  Status check_give(const Buffer& b);
  // Checks an incoming buffer and, when it passes, takes it.
  Status check_take(const Buffer& b);
  Status violation(Status status, const char* operation, const Buffer& b);

  Queue& inner_;
  std::unique_ptr<Ledger> own_ledger_;
  Ledger& ledger_;
  std::size_t violations_ = 0;
  std::optional<Violation> last_;
};

}  // namespace tristate::datapath
