#include "datapath/checked.hpp"

#include <iterator>
#include <vector>

namespace tristate::datapath {

std::string Violation::message() const {
  return operation + " of " + describe(buffer) + ": " + std::string(describe(status));
}

Registered CheckedQueue::register_region(std::span<uint8_t> memory) {
  Registered r = inner_.register_region(memory);
  if (r.status == Status::Ok) owned_[r.id] = Ranges{{0, memory.size()}};
  return r;
}

Status CheckedQueue::deregister_region(RegionId id) {
  std::span<uint8_t> memory = inner_.regions().memory(id);
  Buffer whole{.region = id, .length = static_cast<uint32_t>(memory.size())};
  if (memory.empty()) return violation(Status::UnknownRegion, "deregister", whole);
  auto it = owned_.find(id);
  if (it == owned_.end() || !covers(it->second, 0, memory.size()))
    return violation(Status::RegionInUse, "deregister", whole);
  Status s = inner_.deregister_region(id);
  if (s == Status::Ok) owned_.erase(it);
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
  auto it = owned_.find(b.region);
  if (it == owned_.end() || !covers(it->second, b.offset, b.offset + b.length))
    return violation(Status::NotOwned, "enqueue", b);
  erase(it->second, b.offset, b.offset + b.length);
  return Status::Ok;
}

Status CheckedQueue::check_take(const Buffer& b) {
  if (Status s = check_bounds(b); s != Status::Ok) return violation(s, "dequeue", b);
  Ranges& mine = owned_[b.region];
  if (overlaps(mine, b.offset, b.offset + b.length)) return violation(Status::AlreadyOwned, "dequeue", b);
  insert(mine, b.offset, b.offset + b.length);
  return Status::Ok;
}

Status CheckedQueue::enqueue(const Buffer& b) {
  if (Status s = check_give(b); s != Status::Ok) return s;
  Status s = inner_.enqueue(b);
  if (s != Status::Ok) insert(owned_[b.region], b.offset, b.offset + b.length);  // still ours
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
    insert(owned_[buffers[i].region], buffers[i].offset, buffers[i].offset + buffers[i].length);
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

uint64_t CheckedQueue::owned_bytes(RegionId id) const {
  auto it = owned_.find(id);
  if (it == owned_.end()) return 0;
  uint64_t total = 0;
  for (auto [begin, end] : it->second) total += end - begin;
  return total;
}

Status CheckedQueue::violation(Status status, const char* operation, const Buffer& b) {
  ++violations_;
  last_ = Violation{status, operation, b};
  return status;
}

bool CheckedQueue::covers(const Ranges& r, uint64_t begin, uint64_t end) {
  auto it = r.upper_bound(begin);  // first range starting after begin
  if (it == r.begin()) return false;
  --it;
  return it->first <= begin && end <= it->second;
}

bool CheckedQueue::overlaps(const Ranges& r, uint64_t begin, uint64_t end) {
  auto it = r.lower_bound(end);  // first range starting at or after end: cannot overlap
  if (it == r.begin()) return false;
  --it;
  return it->second > begin;
}

void CheckedQueue::insert(Ranges& r, uint64_t begin, uint64_t end) {
  // Merge with the neighbours it touches, so that covers() sees one range.
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

void CheckedQueue::erase(Ranges& r, uint64_t begin, uint64_t end) {
  // Called only when [begin, end) lies inside one range.
  auto it = std::prev(r.upper_bound(begin));
  auto [start, stop] = *it;
  r.erase(it);
  if (start < begin) r[start] = begin;
  if (end < stop) r[end] = stop;
}

}  // namespace tristate::datapath
