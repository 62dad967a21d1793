// The ownership-checking layer: each kind of violation is caught, the legal traffic is not
// disturbed, and under random traffic no byte is ever owned by both sides.
#include "datapath/checked.hpp"

#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "datapath/loopback.hpp"
#include "datapath/ring.hpp"

using namespace tristate::datapath;

namespace {

Buffer slice(RegionId region, uint64_t offset, uint32_t length) {
  return Buffer{.region = region, .offset = offset, .length = length, .valid_length = length};
}

}  // namespace

TEST_CASE("registering a region gives all of it to the side that registered it", "[checked]") {
  RingChannel channel(16);
  CheckedQueue a(channel.side(0)), b(channel.side(1));
  std::vector<uint8_t> memory(8192);
  Registered r = a.register_region(memory);
  REQUIRE(r.status == Status::Ok);
  CHECK(a.owned_bytes(r.id) == 8192);
  CHECK(b.owned_bytes(r.id) == 0);
  CHECK(b.regions().memory(r.id).data() == memory.data());  // the other side knows the region
}

TEST_CASE("buffers change owner on dequeue, and come back", "[checked]") {
  RingChannel channel(16);
  CheckedQueue a(channel.side(0)), b(channel.side(1));
  std::vector<uint8_t> memory(8192);
  RegionId id = a.register_region(memory).id;

  REQUIRE(a.enqueue(slice(id, 0, 2048)) == Status::Ok);
  REQUIRE(a.enqueue(slice(id, 2048, 2048)) == Status::Ok);
  CHECK(a.owned_bytes(id) == 4096);  // two buffers in transit
  CHECK(b.owned_bytes(id) == 0);

  Dequeued d = b.dequeue();
  REQUIRE(d.status == Status::Ok);
  CHECK(d.buffer == slice(id, 0, 2048));
  CHECK(b.owned_bytes(id) == 2048);
  REQUIRE(b.enqueue(d.buffer) == Status::Ok);  // B may pass on what it received
  CHECK(b.dequeue().status == Status::Ok);
  CHECK(b.dequeue().status == Status::Empty);

  // B returns the second buffer split in two: ownership is by byte, not by descriptor.
  REQUIRE(b.enqueue(slice(id, 2048, 1024)) == Status::Ok);
  REQUIRE(b.enqueue(slice(id, 3072, 1024)) == Status::Ok);
  Buffer back[4];
  Batch got = a.dequeue_batch(back);
  CHECK(got.done == 3);
  CHECK(got.status == Status::Empty);
  CHECK(a.owned_bytes(id) == 8192);
  CHECK(a.deregister_region(id) == Status::Ok);
  CHECK(a.violation_count() == 0);
  CHECK(b.violation_count() == 0);
}

TEST_CASE("enqueue of a buffer the side does not own is refused", "[checked][violation]") {
  RingChannel channel(16);
  CheckedQueue a(channel.side(0)), b(channel.side(1));
  std::vector<uint8_t> memory(8192);
  RegionId id = a.register_region(memory).id;

  SECTION("the other side's buffer") {
    CHECK(b.enqueue(slice(id, 0, 2048)) == Status::NotOwned);
    REQUIRE(b.last_violation());
    CHECK(b.last_violation()->operation == "enqueue");
    CHECK(b.last_violation()->message() == "enqueue of region 1 [0, +2048) data [0, +2048): enqueue of a buffer this side does not own");
    CHECK(a.dequeue().status == Status::Empty);  // it did not reach A
  }
  SECTION("a buffer already sent") {
    REQUIRE(a.enqueue(slice(id, 0, 2048)) == Status::Ok);
    CHECK(a.enqueue(slice(id, 0, 2048)) == Status::NotOwned);
    CHECK(b.dequeue().status == Status::Ok);
    CHECK(b.dequeue().status == Status::Empty);
  }
  SECTION("a buffer overlapping one already sent") {
    REQUIRE(a.enqueue(slice(id, 0, 2048)) == Status::Ok);
    CHECK(a.enqueue(slice(id, 1024, 2048)) == Status::NotOwned);
    CHECK(b.dequeue().status == Status::Ok);
    CHECK(b.dequeue().status == Status::Empty);
  }
  SECTION("a buffer twice in one batch: the prefix before it goes") {
    Buffer batch[] = {slice(id, 0, 1024), slice(id, 1024, 1024), slice(id, 0, 1024)};
    Batch sent = a.enqueue_batch(batch);
    CHECK(sent.done == 2);
    CHECK(sent.status == Status::NotOwned);
    CHECK(a.owned_bytes(id) == 8192 - 2048);
    Buffer out[3];
    CHECK(b.dequeue_batch(out).done == 2);
  }
  CHECK(a.violation_count() + b.violation_count() == 1);
}

TEST_CASE("a double dequeue is refused", "[checked][violation]") {
  // A misbehaving sender (no checking layer on its side) sends the same buffer twice.
  RingChannel channel(16);
  Queue& raw_a = channel.side(0);
  CheckedQueue b(channel.side(1));
  std::vector<uint8_t> memory(4096);
  RegionId id = raw_a.register_region(memory).id;
  REQUIRE(raw_a.enqueue(slice(id, 0, 1024)) == Status::Ok);
  REQUIRE(raw_a.enqueue(slice(id, 0, 1024)) == Status::Ok);  // the raw ring does not mind
  REQUIRE(raw_a.enqueue(slice(id, 512, 1024)) == Status::Ok);  // nor an overlap

  CHECK(b.dequeue().status == Status::Ok);
  Dequeued twice = b.dequeue();
  CHECK(twice.status == Status::AlreadyOwned);
  REQUIRE(b.last_violation());
  CHECK(b.last_violation()->operation == "dequeue");
  CHECK(b.last_violation()->buffer == slice(id, 0, 1024));
  CHECK(b.dequeue().status == Status::AlreadyOwned);
  CHECK(b.owned_bytes(id) == 1024);  // the refused ones were not taken
  CHECK(b.violation_count() == 2);
}

TEST_CASE("a batched dequeue keeps the legal buffers and drops the violating one", "[checked][violation]") {
  RingChannel channel(16);
  Queue& raw_a = channel.side(0);
  CheckedQueue b(channel.side(1));
  std::vector<uint8_t> memory(4096);
  RegionId id = raw_a.register_region(memory).id;
  Buffer sent[] = {slice(id, 0, 1024), slice(id, 0, 1024), slice(id, 2048, 1024)};
  REQUIRE(raw_a.enqueue_batch(sent).done == 3);
  Buffer out[3];
  Batch got = b.dequeue_batch(out);
  CHECK(got.done == 2);
  CHECK(got.status == Status::AlreadyOwned);
  CHECK(out[0] == sent[0]);
  CHECK(out[1] == sent[2]);
}

TEST_CASE("deregistering a region with buffers in flight is refused", "[checked][violation]") {
  RingChannel channel(16);
  CheckedQueue a(channel.side(0)), b(channel.side(1));
  std::vector<uint8_t> memory(4096);
  RegionId id = a.register_region(memory).id;
  REQUIRE(a.enqueue(slice(id, 1024, 1024)) == Status::Ok);

  CHECK(a.deregister_region(id) == Status::RegionInUse);  // in transit
  REQUIRE(a.last_violation());
  CHECK(a.last_violation()->operation == "deregister");
  CHECK(a.regions().memory(id).size() == 4096);  // still registered

  Dequeued d = b.dequeue();
  REQUIRE(d.status == Status::Ok);
  CHECK(a.deregister_region(id) == Status::RegionInUse);  // held by the other side
  CHECK(b.deregister_region(id) == Status::RegionInUse);  // and B does not own all of it either

  REQUIRE(b.enqueue(d.buffer) == Status::Ok);
  REQUIRE(a.dequeue().status == Status::Ok);
  CHECK(a.deregister_region(id) == Status::Ok);
  CHECK(a.regions().memory(id).empty());
  CHECK(a.deregister_region(id) == Status::UnknownRegion);
}

TEST_CASE("descriptors outside their region are refused", "[checked][violation]") {
  LoopbackQueue loop(8);
  CheckedQueue q(loop);
  std::vector<uint8_t> memory(4096);
  RegionId id = q.register_region(memory).id;
  CHECK(q.enqueue(slice(id + 1, 0, 64)) == Status::UnknownRegion);
  CHECK(q.enqueue(slice(id, 4000, 200)) == Status::OutOfRegion);
  CHECK(q.enqueue(slice(id, 0, 0)) == Status::OutOfRegion);
  Buffer data_outside = slice(id, 0, 64);
  data_outside.valid_offset = 32;
  data_outside.valid_length = 40;
  CHECK(q.enqueue(data_outside) == Status::OutOfRegion);
  CHECK(q.owned_bytes(id) == 4096);
  CHECK(q.violation_count() == 4);
}

TEST_CASE("a full queue leaves the buffer with its owner", "[checked]") {
  LoopbackQueue loop(2);
  CheckedQueue q(loop);
  std::vector<uint8_t> memory(4096);
  RegionId id = q.register_region(memory).id;
  REQUIRE(q.enqueue(slice(id, 0, 64)) == Status::Ok);
  REQUIRE(q.enqueue(slice(id, 64, 64)) == Status::Ok);
  CHECK(q.enqueue(slice(id, 128, 64)) == Status::Full);
  CHECK(q.owned_bytes(id) == 4096 - 128);
  Buffer batch[] = {slice(id, 128, 64), slice(id, 192, 64)};
  REQUIRE(q.dequeue().status == Status::Ok);
  Batch sent = q.enqueue_batch(batch);
  CHECK(sent.done == 1);
  CHECK(sent.status == Status::Full);
  CHECK(q.owned_bytes(id) == 4096 - 128);  // one came back, one went, one stayed
  CHECK(q.violation_count() == 0);
}

TEST_CASE("under random legal and illegal traffic no byte is owned by both sides", "[checked]") {
  // Both sides draw random slices of the region and enqueue, dequeue, or (rarely) try to
  // deregister. The model in the test tracks what is in transit; at every step the bytes owned by
  // A, by B and in transit must add up to the region exactly, which holds only if the layer
  // never lets a byte be owned twice.
  constexpr uint32_t kSize = 1 << 14, kGrain = 256;
  RingChannel channel(64);
  CheckedQueue side[2] = {CheckedQueue(channel.side(0)), CheckedQueue(channel.side(1))};
  std::vector<uint8_t> memory(kSize);
  RegionId id = side[0].register_region(memory).id;
  std::mt19937_64 rng(20261207);
  uint64_t in_transit[2] = {0, 0};  // bytes sent by side i not yet dequeued
  std::size_t legal = 0, refused = 0;
  for (int step = 0; step < 20000; ++step) {
    int who = rng() % 2;
    if (rng() % 2) {
      uint64_t offset = rng() % (kSize / kGrain) * kGrain;
      uint32_t length = static_cast<uint32_t>((1 + rng() % 4) * kGrain);
      if (offset + length > kSize) continue;
      Status s = side[who].enqueue(slice(id, offset, length));
      if (s == Status::Ok) {
        in_transit[who] += length;
        ++legal;
      } else {
        REQUIRE((s == Status::NotOwned || s == Status::Full));
        refused += s == Status::NotOwned;
      }
    } else if (rng() % 100 == 0) {
      bool all_home = side[who].owned_bytes(id) == kSize;
      Status s = side[who].deregister_region(id);
      REQUIRE(s == (all_home ? Status::Ok : Status::RegionInUse));
      if (s == Status::Ok) id = side[0].register_region(memory).id;
    } else {
      Dequeued d = side[who].dequeue();
      REQUIRE((d.status == Status::Ok || d.status == Status::Empty));
      if (d.status == Status::Ok) in_transit[1 - who] -= d.buffer.length;
    }
    REQUIRE(side[0].owned_bytes(id) + side[1].owned_bytes(id) + in_transit[0] + in_transit[1] == kSize);
  }
  CHECK(legal > 1000);
  CHECK(refused > 1000);
}
