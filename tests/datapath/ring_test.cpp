// The SPSC ring and the two-way ring queue: order, full and empty, batches, two threads, and two
// processes sharing the memory.
#include "datapath/ring.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "datapath/checked.hpp"
#include "datapath/loopback.hpp"

using namespace tristate::datapath;

namespace {

Buffer numbered(uint64_t n) { return Buffer{.region = 1, .offset = n, .length = 64}; }

}  // namespace

TEST_CASE("the ring keeps order and says when it is full or empty", "[ring]") {
  RingChannel channel(4);
  Queue& a = channel.side(0);
  Queue& b = channel.side(1);
  CHECK(b.dequeue().status == Status::Empty);
  for (uint64_t i = 0; i < 4; ++i) REQUIRE(a.enqueue(numbered(i)) == Status::Ok);
  CHECK(a.enqueue(numbered(4)) == Status::Full);
  CHECK(a.dequeue().status == Status::Empty);  // each side reads only the other's ring
  for (uint64_t i = 0; i < 4; ++i) {
    Dequeued d = b.dequeue();
    REQUIRE(d.status == Status::Ok);
    CHECK(d.buffer.offset == i);
  }
  CHECK(b.dequeue().status == Status::Empty);
  REQUIRE(b.enqueue(numbered(9)) == Status::Ok);
  CHECK(a.dequeue().buffer.offset == 9);
}

TEST_CASE("ring batches go through as far as there is room", "[ring]") {
  RingChannel channel(8);
  std::vector<Buffer> batch;
  for (uint64_t i = 0; i < 6; ++i) batch.push_back(numbered(i));
  CHECK(channel.side(0).enqueue_batch(batch).done == 6);
  Batch second = channel.side(0).enqueue_batch(batch);
  CHECK(second.done == 2);
  CHECK(second.status == Status::Full);
  Buffer out[16];
  Batch got = channel.side(1).dequeue_batch(out);
  REQUIRE(got.done == 8);
  CHECK(got.status == Status::Empty);
  for (uint64_t i = 0; i < 8; ++i) CHECK(out[i].offset == (i < 6 ? i : i - 6));
  // Wrapping round the end of the slots many times keeps the order.
  for (uint64_t round = 0; round < 100; ++round) {
    REQUIRE(channel.side(0).enqueue_batch(std::span(batch).first(5)).done == 5);
    REQUIRE(channel.side(1).dequeue_batch(std::span(out).first(5)).done == 5);
    for (uint64_t i = 0; i < 5; ++i) REQUIRE(out[i].offset == i);
  }
}

TEST_CASE("the ring between two threads delivers every descriptor once, in order", "[ring]") {
  // One thread sends a numbered stream in batches of varying size; the other returns each
  // descriptor over the other ring. Both ends check order; the ring is small so that both
  // sides keep finding it full and empty.
  constexpr uint64_t kCount = 1'000'000;
  RingChannel channel(64);
  uint64_t returned_in_order = 0;
  std::thread echo([&] {
    Queue& b = channel.side(1);
    uint64_t expect = 0;
    Buffer batch[32];
    while (expect < kCount) {
      Batch got = b.dequeue_batch(batch);
      for (std::size_t i = 0; i < got.done; ++i) {
        if (batch[i].offset != expect) return;  // the main thread then sees too few come back
        ++expect;
      }
      std::size_t sent = 0;
      while (sent < got.done) sent += b.enqueue_batch(std::span(batch).subspan(sent, got.done - sent)).done;
    }
  });
  Queue& a = channel.side(0);
  uint64_t next = 0;
  Buffer out[32], in[32];
  while (returned_in_order < kCount) {
    std::size_t want = 1 + next % 32;
    std::size_t n = 0;
    while (n < want && next + n < kCount) {
      out[n] = numbered(next + n);
      ++n;
    }
    next += a.enqueue_batch(std::span(out).first(n)).done;
    Batch got = a.dequeue_batch(in);
    for (std::size_t i = 0; i < got.done; ++i) {
      if (in[i].offset != returned_in_order) break;
      ++returned_in_order;
    }
    if (got.done && in[got.done - 1].offset + 1 != returned_in_order) break;  // out of order: stop
  }
  echo.join();
  CHECK(returned_in_order == kCount);
}

TEST_CASE("the ring works between two processes sharing its memory", "[ring]") {
  // The parent registers shared memory, sends 100 buffers with the checking layer on; a forked
  // child receives them, writes into each, and sends them back; the parent finds the bytes the
  // child wrote and owns the whole region again.
  constexpr std::size_t kBuffers = 100, kSize = 256;
  RingChannel channel(32);
  SharedMemory packets(kBuffers * kSize);
  CheckedQueue a(channel.side(0));
  RegionId id = a.register_region(packets.bytes()).id;
  REQUIRE(id != 0);

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    CheckedQueue b(channel.side(1));
    std::size_t done = 0;
    for (int spins = 0; done < kBuffers && spins < 100'000'000; ++spins) {
      Dequeued d = b.dequeue();
      if (d.status != Status::Ok) continue;
      std::span<uint8_t> bytes = b.regions().bytes(d.buffer);
      for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(d.buffer.offset / kSize + 1);
      while (b.enqueue(d.buffer) == Status::Full) {
      }
      ++done;
    }
    _exit(done == kBuffers && b.violation_count() == 0 ? 0 : 1);
  }
  std::size_t sent = 0, back = 0;
  for (int spins = 0; back < kBuffers && spins < 100'000'000; ++spins) {
    if (sent < kBuffers && a.enqueue(Buffer{.region = id, .offset = sent * kSize, .length = kSize}) == Status::Ok) ++sent;
    if (a.dequeue().status == Status::Ok) ++back;
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(back == kBuffers);
  CHECK(a.owned_bytes(id) == kBuffers * kSize);
  CHECK(a.violation_count() == 0);
  for (std::size_t i = 0; i < kBuffers; ++i) CHECK(packets.bytes()[i * kSize + kSize - 1] == i + 1);
  CHECK(a.deregister_region(id) == Status::Ok);
}

TEST_CASE("the loopback queue returns what was enqueued, in order", "[loopback]") {
  LoopbackQueue loop(3);  // rounded up to 4
  for (uint64_t i = 0; i < 4; ++i) REQUIRE(loop.enqueue(numbered(i)) == Status::Ok);
  CHECK(loop.enqueue(numbered(4)) == Status::Full);
  Buffer out[8];
  Batch got = loop.dequeue_batch(out);
  REQUIRE(got.done == 4);
  CHECK(got.status == Status::Empty);
  for (uint64_t i = 0; i < 4; ++i) CHECK(out[i].offset == i);
}

TEST_CASE("the region table hands out ids and finds buffers' bytes", "[regions]") {
  RegionTable table;
  std::vector<uint8_t> one(100), two(50);
  Registered a = table.add(one), b = table.add(two);
  REQUIRE(a.status == Status::Ok);
  REQUIRE(b.status == Status::Ok);
  CHECK(a.id != 0);
  CHECK(a.id != b.id);
  CHECK(table.memory(b.id).data() == two.data());
  CHECK(table.bytes(Buffer{.region = a.id, .offset = 90, .length = 10}).data() == one.data() + 90);
  CHECK(table.bytes(Buffer{.region = a.id, .offset = 90, .length = 11}).empty());
  CHECK(table.memory(0).empty());
  CHECK(table.add({}).status == Status::OutOfRegion);
  CHECK(table.remove(a.id) == Status::Ok);
  CHECK(table.memory(a.id).empty());
  CHECK(table.remove(a.id) == Status::UnknownRegion);
  std::size_t added = 0;
  while (table.add(one).status == Status::Ok) ++added;
  CHECK(added == RegionTable::kCapacity - 1);
  CHECK(table.add(one).status == Status::NoRoom);
}
