#include "datapath/checked.hpp"

#include <iterator>
#include <vector>

namespace tristate::datapath {

std::string Violation::message() const {
  return operation + " of " + describe(buffer) + ": " + std::string(describe(status));
}

namespace {

using Ranges = std::map<uint64_t, uint64_t>;

bool covers(const Ranges& r, uint64_t begin, uint64_t end) {
  auto it = r.upper_bound(begin);  // first range starting after begin
  if (it == r.begin()) return false;
  --it;
  return it->first <= begin && end <= it->second;
}

bool overlaps(const Ranges& r, uint64_t begin, uint64_t end) {
  auto it = r.lower_bound(end);  // first range starting at or after end: cannot overlap
  if (it == r.begin()) return false;
  --it;
  return it->second > begin;
}

}  // namespace

void Ledger::add_region(RegionId id, uint64_t size) { owned_[id] = Ranges{{0, size}}; }

void Ledger::remove_region(RegionId id) { owned_.erase(id); }

bool Ledger::owns(RegionId id, uint64_t begin, uint64_t end) const {
  auto it = owned_.find(id);
  return it != owned_.end() && covers(it->second, begin, end);
}

bool Ledger::owns_any(RegionId id, uint64_t begin, uint64_t end) const {
  auto it = owned_.find(id);
  return it != owned_.end() && overlaps(it->second, begin, end);
}

void Ledger::take(RegionId id, uint64_t begin, uint64_t end) {
  // Merge with the neighbours it touches, so that covers() sees one range.
  Ranges& r = owned_[id];
  auto next = r.lower_bound(begin);
  if (next != r.begin()) {
    auto prev = std::prev(next);
    if (prev->second == begin) {
      begin = prev->first;
      r.erase(prev);
    }
  }
  next = r.find(end);
  if (next != r.end()) {
    end = next->second;
    r.erase(next);
  }
  r[begin] = end;
}

void Ledger::give(RegionId id, uint64_t begin, uint64_t end) {
  // [begin, end) lies inside one range (the caller checked owns()).
  Ranges& r = owned_.at(id);
  auto it = std::prev(r.upper_bound(begin));
  auto [start, stop] = *it;
  r.erase(it);
  if (start < begin) r[start] = begin;
  if (end < stop) r[end] = stop;
}

uint64_t Ledger::owned_bytes(RegionId id) const {
  auto it = owned_.find(id);
  if (it == owned_.end()) return 0;
  uint64_t total = 0;
  for (auto [begin, end] : it->second) total += end - begin;
  return total;
}

Registered CheckedQueue::register_region(std::span<uint8_t> memory) {
  Registered r = inner_.register_region(memory);
  if (r.status == Status::Ok) ledger_.add_region(r.id, memory.size());
  return r;
}

Status CheckedQueue::deregister_region(RegionId id) {
  std::span<uint8_t> memory = inner_.regions().memory(id);
  Buffer whole{.region = id, .length = static_cast<uint32_t>(memory.size())};
  if (memory.empty()) return violation(Status::UnknownRegion, "deregister", whole);
  if (!ledger_.owns(id, 0, memory.size())) return violation(Status::RegionInUse, "deregister", whole);
  Status s = inner_.deregister_region(id);
  if (s == Status::Ok) ledger_.remove_region(id);
  return s;
}

Status CheckedQueue::check_bounds(const Buffer& b) const {
  std::span<uint8_t> region = inner_.regions().memory(b.region);
  if (region.empty()) return Status::UnknownRegion;
  if (b.length == 0 || b.offset > region.size() || b.length > region.size() - b.offset) return Status::OutOfRegion;
  if (b.valid_offset > b.length || b.valid_length > b.length - b.valid_offset) return Status::OutOfRegion;
  return Status::Ok;
}

Status CheckedQueue::check_give(const Buffer& b) {
  if (Status s = check_bounds(b); s != Status::Ok) return violation(s, "enqueue", b);
  if (!ledger_.owns(b.region, b.offset, b.offset + b.length)) return violation(Status::NotOwned, "enqueue", b);
  ledger_.give(b.region, b.offset, b.offset + b.length);
  return Status::Ok;
}

Status CheckedQueue::check_take(const Buffer& b) {
  if (Status s = check_bounds(b); s != Status::Ok) return violation(s, "dequeue", b);
  if (ledger_.owns_any(b.region, b.offset, b.offset + b.length)) return violation(Status::AlreadyOwned, "dequeue", b);
  ledger_.take(b.region, b.offset, b.offset + b.length);
  return Status::Ok;
}

Status CheckedQueue::enqueue(const Buffer& b) {
  if (Status s = check_give(b); s != Status::Ok) return s;
  Status s = inner_.enqueue(b);
  if (s != Status::Ok) ledger_.take(b.region, b.offset, b.offset + b.length);  // still ours
  return s;
}

Dequeued CheckedQueue::dequeue() {
  Dequeued d = inner_.dequeue();
  if (d.status == Status::Ok) d.status = check_take(d.buffer);
  return d;
}

Batch CheckedQueue::enqueue_batch(std::span<const Buffer> buffers) {
  // Give away the longest prefix that passes (a buffer twice in one batch fails the second time).
  std::size_t checked = 0;
  Status stop = Status::Ok;
  for (; checked < buffers.size(); ++checked)
    if ((stop = check_give(buffers[checked])) != Status::Ok) break;
  Batch sent = inner_.enqueue_batch(buffers.first(checked));
  for (std::size_t i = sent.done; i < checked; ++i)
    ledger_.take(buffers[i].region, buffers[i].offset, buffers[i].offset + buffers[i].length);
  if (sent.done < checked) return sent;
  return {checked, stop};
}

Batch CheckedQueue::dequeue_batch(std::span<Buffer> out) {
  Batch got = inner_.dequeue_batch(out);
  // Keep the buffers that pass, in order; a violating one is dropped and reported.
  Batch kept{0, got.status};
  for (std::size_t i = 0; i < got.done; ++i) {
    Status s = check_take(out[i]);
    if (s == Status::Ok)
      out[kept.done++] = out[i];
    else
      kept.status = s;
  }
  return kept;
}

Status CheckedQueue::violation(Status status, const char* operation, const Buffer& b) {
  ++violations_;
  last_ = Violation{status, operation, b};
  return status;
}

}  // namespace tristate::datapath
