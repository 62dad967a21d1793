// End to end on real packets: a veth pair in a namespace of the test's own; a known packet mix is
// sent from one end; on the other an AF_XDP socket feeds a pipeline stage running the optimizer's
// output of a corpus program; every verdict and output packet must be what the interpreter
// expects from the original program (passed packets reach the host sink, transmitted ones come
// back out of the veth and are read on the sending end, dropped ones only refill). A second
// test hot-swaps the program mid-stream and counts every packet. Needs root and AF_XDP: fails
// with the reason when they are missing (TRISTATE_ALLOW_NO_BPF=1 turns that into a loud warning).
#include "datapath/afxdp.hpp"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "compiler/frontend.hpp"
#include "compiler/packet_gen.hpp"
#include "datapath/checked.hpp"
#include "datapath/loopback.hpp"
#include "datapath/stage.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

using namespace tristate;
using namespace tristate::datapath;
using Bytes = std::vector<uint8_t>;

namespace {


// The receiving end: the AF_XDP socket, a checking layer on both of its queues sharing the
// user side's ledger, and a stage whose pass route is a host sink and whose tx route is the
// socket's TX queue.
struct Receiver {
  Receiver(const std::string& ifname, std::shared_ptr<PacketProgram> program)
      : socket(AfXdpOptions{.ifname = ifname, .frames = 2048, .ring_size = 2048, .mode = XdpMode::Generic}, table),
        rx(socket.rx(), &ledger),
        tx(socket.tx(), &ledger),
        host(4096, &table),
        stage(std::move(program), Routes{.pass = &host, .tx = &tx}, table) {
    ledger.add_region(socket.umem_region(), 2048ull * socket.frame_size());
    std::vector<Buffer> frames = socket.frames();
    REQUIRE(rx.enqueue_batch(frames).done == frames.size());
  }

  // Moves what has arrived through the stage; returns the packets seen so far.
  void pump() {
    Buffer batch[64];
    Batch got = rx.dequeue_batch(batch);
    for (std::size_t i = 0; i < got.done; ++i) {
      while (stage.enqueue(batch[i]) == Status::Full) stage.flush();
      ++received;
    }
    stage.flush();
    for (Dequeued d = stage.dequeue(); d.status == Status::Ok; d = stage.dequeue()) refill(d.buffer);
    for (Dequeued d = host.dequeue(); d.status == Status::Ok; d = host.dequeue()) {
      std::span<uint8_t> bytes = table.bytes(d.buffer).subspan(d.buffer.valid_offset, d.buffer.valid_length);
      passed.emplace_back(bytes.begin(), bytes.end());
      refill(d.buffer);
    }
    for (Dequeued d = tx.dequeue(); d.status == Status::Ok; d = tx.dequeue()) refill(d.buffer);
  }
  void refill(const Buffer& b) { REQUIRE(rx.enqueue(b) == Status::Ok); }

  RegionTable table;
  AfXdpSocket socket;
  Ledger ledger;
  CheckedQueue rx, tx;
  LoopbackQueue host;
  Stage stage;
  std::size_t received = 0;
  std::vector<Bytes> passed;
};

// What the interpreter makes of a packet: verdict and output bytes.
struct Expected {
  XdpAction action;
  Bytes output;
};

Expected expect(PacketProgram& program, const Bytes& packet) {
  Bytes frame(4096, 0);
  std::copy(packet.begin(), packet.end(), frame.begin() + 256);
  Buffer b{.region = 1, .length = 4096, .valid_offset = 256, .valid_length = static_cast<uint32_t>(packet.size())};
  PacketProgram::Outcome o = program.run(frame, b);
  return {o.action, Bytes(frame.begin() + b.valid_offset, frame.begin() + b.valid_offset + b.valid_length)};
}

// The packets sent: the generator's mix that a veth carries (14 to 1500 bytes), and ICMP echo
// requests, so that every verdict of the programs used here occurs.
std::vector<Bytes> packet_mix() {
  std::vector<Bytes> out;
  for (const TestPacket& p : generate_test_packets(160, 20261207))
    if (p.bytes.size() >= 14 && p.bytes.size() <= 1500) out.push_back(p.bytes);
  return out;
}

// The optimizer's output for a corpus object, made with the tristate binary.
Module optimized(const std::string& object, const test::TempDir& dir) {
  std::string in = test::env("TRISTATE_PROGS_DIR") + "/" + object;
  std::string out = dir.file("opt_" + object);
  test::ProcessResult r = test::run_process({test::env("TRISTATE_BIN"), "opt", in, "-o", out, "--budget", "2", "--seed", "1"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  return load_input(out, {});
}

bool may_run(const test::VethNamespace& ns, const char* what) {
  return test::kernel_test_may_run(ns.ok(), ns.error(), what);
}

}  // namespace

TEST_CASE("an optimized corpus program on AF_XDP gives the interpreter's verdicts and packets", "[afxdp][e2e]") {
  const std::string object = GENERATE(as<std::string>{}, "xdp_icmp_echo.v3.o", "xdp_drop_proto.v3.o");
  const Engine engine = GENERATE(Engine::Interpreter, Engine::Jit);
  INFO(object << (engine == Engine::Jit ? " on the JIT" : " on the interpreter"));
  test::TempDir dir;
  Module original = load_input(test::env("TRISTATE_PROGS_DIR") + "/" + object, {});
  Module better = optimized(object, dir);
  CHECK(better.programs[0].image.size() < original.programs[0].image.size());  // it did optimize

  test::VethNamespace ns;
  if (!may_run(ns, "the AF_XDP end-to-end test")) return;
  test::VethNamespace::Inside inside(ns);
  REQUIRE(inside.ok());
  test::Wire wire(ns.sender());
  REQUIRE(wire.ok());
  Receiver receiver(ns.receiver(), std::make_shared<PacketProgram>(better, std::string{}, engine));

  PacketProgram reference(original);
  std::vector<Bytes> mix = packet_mix();
  std::vector<Bytes> want_pass, want_tx;
  std::size_t want_drop = 0;
  for (const Bytes& p : mix) {
    Expected e = expect(reference, p);
    if (e.action == XdpAction::Pass) want_pass.push_back(e.output);
    else if (e.action == XdpAction::Tx) want_tx.push_back(e.output);
    else ++want_drop;
  }
  INFO("pass " << want_pass.size() << ", tx " << want_tx.size() << ", other " << want_drop);
  REQUIRE(!want_pass.empty());
  REQUIRE((!want_tx.empty() || want_drop > 0));  // a second verdict occurs

  for (const Bytes& p : mix) REQUIRE(wire.send(p));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (receiver.received < mix.size() && std::chrono::steady_clock::now() < deadline) receiver.pump();
  for (int i = 0; i < 10; ++i) receiver.pump();  // nothing more may come
  CHECK(receiver.received == mix.size());
  CHECK(receiver.stage.stats().packets == mix.size());
  CHECK(receiver.stage.stats().faults == 0);

  // Passed packets reach the host sink in order, exactly as the interpreter wrote them.
  REQUIRE(receiver.passed.size() == want_pass.size());
  for (std::size_t i = 0; i < want_pass.size(); ++i) CHECK(receiver.passed[i] == want_pass[i]);
  // Transmitted ones come back out of the veth.
  std::vector<Bytes> came_back;
  while (auto frame = wire.receive(came_back.size() < want_tx.size() ? 2000 : 200)) came_back.push_back(*frame);
  CHECK(came_back == want_tx);
  CHECK(receiver.stage.stats().by_action[static_cast<int>(XdpAction::Drop)] +
            receiver.stage.stats().by_action[static_cast<int>(XdpAction::Aborted)] == want_drop);
  CHECK(receiver.rx.violation_count() + receiver.tx.violation_count() == 0);
  AfXdpStats stats = receiver.socket.stats();
  CHECK(stats.rx_dropped == 0);
  CHECK(stats.rx_invalid == 0);
  CHECK(stats.tx_invalid == 0);
}

TEST_CASE("a hot swap on AF_XDP mid-stream loses no packet", "[afxdp][e2e][swap]") {
  // From the original program on the interpreter to the optimized one compiled by the JIT.
  constexpr std::size_t kPackets = 3000;
  test::TempDir dir;
  Module original = load_input(test::env("TRISTATE_PROGS_DIR") + "/xdp_icmp_echo.v3.o", {});
  Module better = optimized("xdp_icmp_echo.v3.o", dir);

  test::VethNamespace ns;
  if (!may_run(ns, "the AF_XDP hot swap test")) return;
  test::VethNamespace::Inside inside(ns);
  REQUIRE(inside.ok());
  test::Wire wire(ns.sender());
  REQUIRE(wire.ok());
  auto v1 = std::make_shared<PacketProgram>(original);
  auto v2 = PacketProgram::successor(*v1, better, {}, Engine::Jit);
  Receiver receiver(ns.receiver(), v1);

  std::vector<Bytes> mix = packet_mix();
  std::vector<Bytes> sent;
  for (std::size_t i = 0; i < kPackets; ++i) sent.push_back(mix[i % mix.size()]);
  PacketProgram reference(original);
  std::vector<Bytes> want_pass;
  std::size_t want_tx = 0;
  for (const Bytes& p : sent) {
    Expected e = expect(reference, p);
    if (e.action == XdpAction::Pass) want_pass.push_back(e.output);
    want_tx += e.action == XdpAction::Tx;
  }

  // The sender paces itself so that the stream is still flowing when the swap comes.
  std::thread sender([&] {
    test::VethNamespace::Inside there(ns);
    for (std::size_t i = 0; i < sent.size(); ++i) {
      wire.send(sent[i]);
      if (i % 64 == 63) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  bool swapped = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (receiver.received < kPackets && std::chrono::steady_clock::now() < deadline) {
    if (!swapped && receiver.received >= kPackets / 2) {
      receiver.stage.swap_program(v2);
      swapped = true;
    }
    receiver.pump();
  }
  sender.join();
  for (int i = 0; i < 10; ++i) receiver.pump();

  CHECK(receiver.received == kPackets);
  CHECK(receiver.stage.stats().swaps == 1);
  CHECK(v1->runs() > 0);
  CHECK(v2->runs() > 0);
  CHECK(v1->runs() + v2->runs() == kPackets);
  CHECK(v2->engine() == Engine::Jit);
  CHECK(&v1->maps() == &v2->maps());
  CHECK(receiver.passed == want_pass);
  CHECK(receiver.stage.stats().by_action[static_cast<int>(XdpAction::Tx)] == want_tx);
  CHECK(receiver.socket.stats().rx_dropped == 0);
  std::size_t came_back = 0;
  while (wire.receive(came_back < want_tx ? 2000 : 200)) ++came_back;
  CHECK(came_back == want_tx);
}
