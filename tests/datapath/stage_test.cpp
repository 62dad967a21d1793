// Pipeline stages: verdicts route buffers, the program edits packets in place, backpressure holds
// buffers without rerunning them, programs the analyzer refuses are refused, tenants stay apart,
// and a hot swap mid-stream loses no packet and keeps the maps.
#include "datapath/stage.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "compiler/asm_module.hpp"
#include "compiler/error.hpp"
#include "compiler/frontend.hpp"
#include "datapath/checked.hpp"
#include "datapath/loopback.hpp"
#include "datapath/ring.hpp"

using namespace tristate;
using namespace tristate::datapath;

namespace {

// Counts packets in map `counts`, writes 0xaa into byte 1, and returns the verdict byte 0 asks for:
// 0..3 as the XDP action, 4 redirect to the ifindex in byte 2, more: pass. Shorter than Ethernet:
// drop (never reached: the stage refuses such runs as the kernel does).
constexpr const char* kCounter = R"(; type: xdp
; map counts array key=4 value=8 entries=1
    r6 = r1
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r4 = r2
    r4 += 14
    if r4 > r3 goto short
    r7 = *(u8 *)(r2 + 0)
    r8 = *(u8 *)(r2 + 2)
    r5 = 0xaa
    *(u8 *)(r2 + 1) = r5
    *(u32 *)(r10 - 4) = 0
    ld_pseudo r1, 0x1, 0
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto verdict
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
verdict:
    if r7 == 4 goto redirect
    if r7 > 4 goto pass
    r0 = r7
    exit
redirect:
    r1 = r8
    r2 = 0
    call 23
    exit
pass:
    r0 = 2
    exit
short:
    r0 = 1
    exit
)";

// The same program with two instructions fewer (what the optimizer would hand a stage).
constexpr const char* kCounterShorter = R"(; type: xdp
; map counts array key=4 value=8 entries=1
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 14
    if r4 > r3 goto short
    r7 = *(u8 *)(r2 + 0)
    r8 = *(u8 *)(r2 + 2)
    *(u8 *)(r2 + 1) = 0xaa
    *(u32 *)(r10 - 4) = 0
    ld_pseudo r1, 0x1, 0
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto verdict
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
verdict:
    if r7 == 4 goto redirect
    if r7 > 4 goto pass
    r0 = r7
    exit
redirect:
    r1 = r8
    r2 = 0
    call 23
    exit
pass:
    r0 = 2
    exit
short:
    r0 = 1
    exit
)";

Module counter_module(const char* text = kCounter) { return assemble_module(text, "counter.s"); }

uint64_t count_of(PacketProgram& p) {
  int m = p.maps().find("counts");
  REQUIRE(m >= 0);
  std::vector<MapContents> dump = p.maps().dump();
  REQUIRE(dump[m].entries.size() == 1);
  uint64_t v = 0;
  std::memcpy(&v, dump[m].entries[0].values[0].data(), 8);
  return v;
}

// A pipeline of one tenant: packet memory of `buffers` buffers of 2048 bytes, all registered.
struct Pool {
  static constexpr uint32_t kSize = 2048;
  explicit Pool(RegionTable& table, std::size_t buffers) : memory(buffers * kSize) { id = table.add(memory).id; }
  Buffer packet(std::size_t i, std::initializer_list<uint8_t> head, uint32_t length = 60) {
    Buffer b{.region = id, .offset = i * kSize, .length = kSize, .valid_offset = 256, .valid_length = length};
    uint8_t* p = memory.data() + b.offset + b.valid_offset;
    std::fill_n(p, length, 0);
    std::copy(head.begin(), head.end(), p);
    return b;
  }
  uint8_t* data(const Buffer& b) { return memory.data() + b.offset + b.valid_offset; }
  std::vector<uint8_t> memory;
  RegionId id = 0;
};

}  // namespace

TEST_CASE("a stage routes each buffer by its verdict and edits the packet in place", "[stage]") {
  RegionTable table;
  Pool pool(table, 8);
  LoopbackQueue pass(8, &table), tx(8, &table), port3(8, &table);
  auto program = std::make_shared<PacketProgram>(counter_module());
  Stage stage(program, Routes{.pass = &pass, .tx = &tx, .redirect = {nullptr, nullptr, nullptr, &port3}}, table);

  REQUIRE(stage.enqueue(pool.packet(0, {2})) == Status::Ok);     // pass
  REQUIRE(stage.enqueue(pool.packet(1, {3})) == Status::Ok);     // tx
  REQUIRE(stage.enqueue(pool.packet(2, {1})) == Status::Ok);     // drop: back to the sender
  REQUIRE(stage.enqueue(pool.packet(3, {4, 0, 3})) == Status::Ok);  // redirect to ifindex 3
  REQUIRE(stage.enqueue(pool.packet(4, {4, 0, 7})) == Status::Ok);  // redirect with no route: back
  REQUIRE(stage.enqueue(pool.packet(5, {0})) == Status::Ok);     // aborted: back

  Dequeued p = pass.dequeue();
  REQUIRE(p.status == Status::Ok);
  CHECK(p.buffer.offset == 0);
  CHECK(pool.data(p.buffer)[1] == 0xaa);  // written by the program
  CHECK(p.buffer.valid_length == 60);
  CHECK(tx.dequeue().buffer.offset == 1 * Pool::kSize);
  CHECK(port3.dequeue().buffer.offset == 3 * Pool::kSize);
  std::vector<uint64_t> returned;
  for (Dequeued d = stage.dequeue(); d.status == Status::Ok; d = stage.dequeue()) returned.push_back(d.buffer.offset / Pool::kSize);
  CHECK(returned == std::vector<uint64_t>{2, 4, 5});
  CHECK(pass.dequeue().status == Status::Empty);

  const StageStats& s = stage.stats();
  CHECK(s.packets == 6);
  CHECK(s.by_action[static_cast<int>(XdpAction::Pass)] == 1);
  CHECK(s.by_action[static_cast<int>(XdpAction::Tx)] == 1);
  CHECK(s.by_action[static_cast<int>(XdpAction::Drop)] == 1);
  CHECK(s.by_action[static_cast<int>(XdpAction::Redirect)] == 2);
  CHECK(s.by_action[static_cast<int>(XdpAction::Aborted)] == 1);
  CHECK(s.returned == 3);
  CHECK(count_of(*program) == 6);
}

TEST_CASE("a runt packet is aborted with the reason, as the kernel refuses to run it", "[stage]") {
  RegionTable table;
  Pool pool(table, 1);
  LoopbackQueue pass(8, &table);
  auto program = std::make_shared<PacketProgram>(counter_module());
  Stage stage(program, Routes{.pass = &pass}, table);
  REQUIRE(stage.enqueue(pool.packet(0, {2}, 10)) == Status::Ok);
  CHECK(stage.stats().faults == 1);
  CHECK(stage.stats().by_action[static_cast<int>(XdpAction::Aborted)] == 1);
  CHECK(stage.dequeue().status == Status::Ok);  // back to the sender
  CHECK(count_of(*program) == 0);
}

TEST_CASE("a full route holds buffers in the stage and refuses new ones until it drains", "[stage]") {
  RegionTable table;
  Pool pool(table, 4);
  LoopbackQueue pass(1, &table);
  auto program = std::make_shared<PacketProgram>(counter_module());
  Stage stage(program, Routes{.pass = &pass}, table);
  REQUIRE(stage.enqueue(pool.packet(0, {2})) == Status::Ok);
  REQUIRE(stage.enqueue(pool.packet(1, {2})) == Status::Ok);  // ran; waits in the backlog
  CHECK(stage.enqueue(pool.packet(2, {2})) == Status::Full);  // not run
  CHECK(program->runs() == 2);
  CHECK(pass.dequeue().buffer.offset == 0);
  CHECK(stage.flush() == 0);
  CHECK(pass.dequeue().buffer.offset == Pool::kSize);
  REQUIRE(stage.enqueue(pool.packet(2, {2})) == Status::Ok);
  CHECK(program->runs() == 3);
  CHECK(count_of(*program) == 3);
}

TEST_CASE("a batch is run whole and routed as one buffer at a time would be", "[stage][batch]") {
  RegionTable table;
  Pool pool(table, 8);
  LoopbackQueue pass(8, &table), tx(8, &table), port3(8, &table);
  auto program = std::make_shared<PacketProgram>(counter_module());
  Stage stage(program, Routes{.pass = &pass, .tx = &tx, .redirect = {nullptr, nullptr, nullptr, &port3}}, table);
  const std::vector<Buffer> batch = {pool.packet(0, {2}), pool.packet(1, {3}), pool.packet(2, {1}), pool.packet(3, {4, 0, 3}),
                                     pool.packet(4, {4, 0, 7}), pool.packet(5, {0}), pool.packet(6, {2})};
  Batch b = stage.enqueue_batch(batch);
  CHECK(b.done == batch.size());
  CHECK(b.status == Status::Ok);

  Buffer out[8];
  Batch got = pass.dequeue_batch(out);
  REQUIRE(got.done == 2);
  CHECK(out[0].offset == 0);
  CHECK(out[1].offset == 6 * Pool::kSize);
  CHECK(pool.data(out[0])[1] == 0xaa);
  CHECK(tx.dequeue().buffer.offset == 1 * Pool::kSize);
  CHECK(port3.dequeue().buffer.offset == 3 * Pool::kSize);
  got = stage.dequeue_batch(out);
  CHECK(got.status == Status::Empty);  // fewer came back than there was room for
  REQUIRE(got.done == 3);
  CHECK(out[0].offset == 2 * Pool::kSize);
  CHECK(out[1].offset == 4 * Pool::kSize);
  CHECK(out[2].offset == 5 * Pool::kSize);
  CHECK(stage.stats().packets == 7);
  CHECK(stage.stats().returned == 3);
  CHECK(count_of(*program) == 7);
}

TEST_CASE("a batch that fills its route waits in the backlog, in order, and the next batch is refused", "[stage][batch]") {
  RegionTable table;
  Pool pool(table, 6);
  LoopbackQueue pass(2, &table);
  auto program = std::make_shared<PacketProgram>(counter_module());
  Stage stage(program, Routes{.pass = &pass}, table);
  const std::vector<Buffer> first = {pool.packet(0, {2}), pool.packet(1, {2}), pool.packet(2, {2}), pool.packet(3, {2})};
  CHECK(stage.enqueue_batch(first).done == 4);  // all ran; two wait for room
  CHECK(program->runs() == 4);
  const std::vector<Buffer> second = {pool.packet(4, {2})};
  Batch refused = stage.enqueue_batch(second);
  CHECK(refused.done == 0);
  CHECK(refused.status == Status::Full);
  CHECK(program->runs() == 4);  // not run
  std::vector<uint64_t> order;
  for (int round = 0; round < 3 && order.size() < 4; ++round) {
    Buffer out[2];
    Batch got = pass.dequeue_batch(out);
    for (std::size_t i = 0; i < got.done; ++i) order.push_back(out[i].offset / Pool::kSize);
    stage.flush();
  }
  CHECK(order == std::vector<uint64_t>{0, 1, 2, 3});
  CHECK(stage.enqueue_batch(second).done == 1);
}

TEST_CASE("a batch stops at a buffer outside its region, after running the ones before it", "[stage][batch]") {
  RegionTable table;
  Pool pool(table, 3);
  LoopbackQueue pass(8, &table);
  auto program = std::make_shared<PacketProgram>(counter_module());
  Stage stage(program, Routes{.pass = &pass}, table);
  Buffer outside = pool.packet(1, {2});
  outside.region = 42;
  const std::vector<Buffer> batch = {pool.packet(0, {2}), outside, pool.packet(2, {2})};
  Batch b = stage.enqueue_batch(batch);
  CHECK(b.done == 1);
  CHECK(b.status == Status::UnknownRegion);
  CHECK(program->runs() == 1);
  CHECK(pass.dequeue().buffer.offset == 0);
  CHECK(pass.dequeue().status == Status::Empty);
}

TEST_CASE("a stage refuses programs it must not run", "[stage]") {
  SECTION("the analyzer refuses it") {
    // A packet read with no bounds check.
    Module m = assemble_module("; type: xdp\n    r2 = *(u32 *)(r1 + 0)\n    r0 = *(u8 *)(r2 + 0)\n    exit\n", "bad.s");
    try {
      PacketProgram p(m);
      FAIL("accepted a program reading the packet unchecked");
    } catch (const InputError& e) {
      CHECK(e.where().file == "bad.s");
      CHECK(e.where().insn == 1u);
      CHECK_THAT(e.reason(), Catch::Contains("analyzer refuses"));
    }
  }
  SECTION("it is not XDP") {
    Module m = assemble_module("; type: socket_filter\n    r0 = 0\n    exit\n", "sock.s");
    CHECK_THROWS_WITH(PacketProgram(m), Catch::Contains("XDP"));
  }
  SECTION("a successor whose maps differ") {
    PacketProgram old(counter_module());
    Module other = assemble_module(std::string(kCounterShorter).replace(std::string(kCounterShorter).find("entries=1"), 9, "entries=2"), "other.s");
    CHECK_THROWS_WITH(PacketProgram::successor(old, other), Catch::Contains("maps differ"));
  }
}

TEST_CASE("a tenant's stage reaches only its own tenant's memory", "[stage]") {
  // Two tenants, each with its own region table, maps and stage. Both tables have a region 1,
  // but a descriptor means a region only through its own tenant's table: what tenant B's stage
  // does to "region 1" happens in B's memory, never in A's.
  RegionTable table_a, table_b;
  Pool pool_a(table_a, 2), pool_b(table_b, 2);
  REQUIRE(pool_a.id == pool_b.id);
  LoopbackQueue out_a(8, &table_a), out_b(8, &table_b);
  auto prog_a = std::make_shared<PacketProgram>(counter_module());
  auto prog_b = std::make_shared<PacketProgram>(counter_module());
  Stage stage_a(prog_a, Routes{.pass = &out_a}, table_a), stage_b(prog_b, Routes{.pass = &out_b}, table_b);
  CheckedQueue checked_b(stage_b);  // B's sender, with the ownership layer

  Buffer a0 = pool_a.packet(0, {2, 0x11});
  REQUIRE(stage_a.enqueue(a0) == Status::Ok);
  // Tenant B forges A's descriptor: its checking layer refuses it, as B never owned it...
  CHECK(checked_b.enqueue(a0) == Status::NotOwned);
  // ...and a descriptor past B's memory is refused by B's stage itself.
  CHECK(stage_b.enqueue(Buffer{.region = pool_b.id, .offset = 4 * Pool::kSize, .length = Pool::kSize}) == Status::UnknownRegion);
  CHECK(stage_b.enqueue(Buffer{.region = 7, .length = 64}) == Status::UnknownRegion);
  // A descriptor B legitimately owns touches B's bytes only.
  std::vector<uint8_t> a_before = pool_a.memory;
  CheckedQueue sender_b(stage_b);
  // (B's memory was registered in its table directly; the sender takes it as its own.)
  REQUIRE(table_b.remove(pool_b.id) == Status::Ok);
  RegionId id_b = sender_b.register_region(pool_b.memory).id;
  Buffer b0 = pool_b.packet(0, {2, 0x22});
  b0.region = id_b;
  REQUIRE(sender_b.enqueue(b0) == Status::Ok);
  CHECK(pool_a.memory == a_before);
  CHECK(pool_b.data(b0)[1] == 0xaa);
  CHECK(count_of(*prog_a) == 1);
  CHECK(count_of(*prog_b) == 1);
}

TEST_CASE("a hot swap mid-stream loses no packet, runs each on one version, and keeps the maps", "[stage][swap]") {
  // A sender thread streams numbered packets over a ring to the stage's thread; the main thread
  // swaps in the shorter version halfway. Every packet must come out of the pass route exactly
  // once, edited, and the two versions' runs must add up to the packets sent.
  constexpr std::size_t kPackets = 20000, kBuffers = 256;
  RegionTable table;
  Pool pool(table, kBuffers);
  RingChannel input(512, &table), output(512, &table);
  auto v1 = std::make_shared<PacketProgram>(counter_module());
  auto v2 = PacketProgram::successor(*v1, counter_module(kCounterShorter));
  Stage stage(v1, Routes{.pass = &output.side(0)}, table);

  // The sender owns the buffers it gets back: it checks each packet's number and edit there.
  std::atomic<std::size_t> sent{0};
  std::vector<uint8_t> seen(kPackets, 0);
  std::size_t bad_edit = 0;
  std::thread sender([&] {
    Queue& q = input.side(0);
    Queue& done = output.side(1);
    std::vector<Buffer> free;
    for (std::size_t i = 0; i < kBuffers; ++i) free.push_back(pool.packet(i, {2}));
    std::size_t n = 0, back = 0;
    while (back < kPackets) {
      while (!free.empty() && n < kPackets) {
        Buffer b = free.back();
        b.valid_offset = 256;
        b.valid_length = 60;
        uint8_t* p = pool.data(b);
        p[0] = 2;
        p[1] = 0;
        std::memcpy(p + 20, &n, sizeof n);  // the packet's number
        if (q.enqueue(b) != Status::Ok) break;
        free.pop_back();
        sent.store(++n, std::memory_order_relaxed);
      }
      for (Dequeued d = done.dequeue(); d.status == Status::Ok; d = done.dequeue()) {
        uint64_t number = 0;
        std::memcpy(&number, pool.data(d.buffer) + 20, sizeof number);
        if (number < kPackets) ++seen[number];
        if (pool.data(d.buffer)[1] != 0xaa) ++bad_edit;
        free.push_back(d.buffer);
        ++back;
      }
    }
  });

  // The stage's thread is this one: it moves buffers from the input ring through the stage,
  // whose pass route is the output ring back to the sender.
  std::size_t received = 0;
  bool swapped = false;
  Queue& in = input.side(1);
  Buffer batch[32];
  while (received < kPackets) {
    if (!swapped && sent.load(std::memory_order_relaxed) >= kPackets / 2) {
      stage.swap_program(v2);
      swapped = true;
    }
    Batch got = in.dequeue_batch(batch);
    for (std::size_t i = 0; i < got.done; ++i) {
      while (stage.enqueue(batch[i]) == Status::Full) stage.flush();
      ++received;
    }
    stage.flush();
  }
  while (stage.flush() != 0) {
  }
  sender.join();

  CHECK(std::count(seen.begin(), seen.end(), 1) == static_cast<long>(kPackets));
  CHECK(bad_edit == 0);
  CHECK(stage.stats().swaps == 1);
  CHECK(stage.program() == v2);
  CHECK(v1->runs() > 0);
  CHECK(v2->runs() > 0);
  CHECK(v1->runs() + v2->runs() == kPackets);
  CHECK(stage.stats().by_action[static_cast<int>(XdpAction::Pass)] == kPackets);
  CHECK(count_of(*v2) == kPackets);  // the counter carried over: one map, both versions
  CHECK(&v1->maps() == &v2->maps());
}

TEST_CASE("a corpus program runs in a stage as in the interpreter", "[stage]") {
  // xdp_drop_proto (clang -O2, cpu v3): UDP to port 19 is dropped, TCP passes.
  Module m = load_input(std::string(std::getenv("TRISTATE_PROGS_DIR")) + "/xdp_drop_proto.v3.o", {});
  RegionTable table;
  Pool pool(table, 2);
  LoopbackQueue pass(8, &table);
  Stage stage(std::make_shared<PacketProgram>(m), Routes{.pass = &pass}, table);
  auto ipv4 = [](uint8_t proto, uint16_t dport) {
    std::vector<uint8_t> p(14 + 20 + 8, 0);
    p[12] = 0x08;
    p[14] = 0x45;
    p[14 + 9] = proto;
    p[34 + 2] = static_cast<uint8_t>(dport >> 8);
    p[34 + 3] = static_cast<uint8_t>(dport);
    return p;
  };
  auto put = [&](std::size_t i, const std::vector<uint8_t>& bytes) {
    Buffer b = pool.packet(i, {}, static_cast<uint32_t>(bytes.size()));
    std::copy(bytes.begin(), bytes.end(), pool.data(b));
    return b;
  };
  REQUIRE(stage.enqueue(put(0, ipv4(17, 19))) == Status::Ok);
  REQUIRE(stage.enqueue(put(1, ipv4(6, 19))) == Status::Ok);
  CHECK(stage.dequeue().buffer.offset == 0);  // dropped
  CHECK(pass.dequeue().buffer.offset == Pool::kSize);
  CHECK(stage.stats().by_action[static_cast<int>(XdpAction::Drop)] == 1);
  CHECK(stage.stats().by_action[static_cast<int>(XdpAction::Pass)] == 1);
}
