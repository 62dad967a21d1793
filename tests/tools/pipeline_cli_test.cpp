// `tristate pipeline` end to end: on generated packets and on a capture, the verdict counts, the
// passed and transmitted packets and the final maps are those `tristate run --pcap` (the
// interpreter, packet after packet) gives for the same packets; packets too short for the kernel
// are counted as aborted with the reason; an AF_XDP source in a namespace of the test's own stops
// after exactly --count packets and sends its XDP_TX packets back out; bad input exits with
// status 2 and writes nothing.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "compiler/packet_gen.hpp"
#include "compiler/pcap.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

using namespace tristate::test;
using nlohmann::json;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

ProcessResult tristate_cli(std::vector<std::string> args) {
  const std::string bin = env("TRISTATE_BIN");
  REQUIRE_FALSE(bin.empty());
  args.insert(args.begin(), bin);
  return run_process(args);
}

std::string corpus(const std::string& name) { return env("TRISTATE_PROGS_DIR") + "/" + name; }

Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// What `tristate run --pcap` makes of a capture: the verdict counts, the output packets of each
// verdict in order, and the maps at the end.
struct Reference {
  std::map<std::string, uint64_t> verdicts;  // "pass" -> n, as the pipeline names them
  std::vector<Bytes> passed, transmitted;
  json maps;
};

Reference reference(const std::string& object, const std::string& pcap, const std::string& maps = "") {
  std::vector<std::string> args = {"run", object, "--pcap", pcap, "--json"};
  if (!maps.empty()) args.insert(args.end(), {"--maps", maps});
  const auto r = tristate_cli(args);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  static const std::map<std::string, std::string> names = {
      {"XDP_ABORTED", "aborted"}, {"XDP_DROP", "drop"}, {"XDP_PASS", "pass"}, {"XDP_TX", "tx"}, {"XDP_REDIRECT", "redirect"}};
  Reference out;
  for (const auto& [k, v] : names) out.verdicts[v] = 0;
  for (const json& run : j["runs"]) {
    const std::string v = names.at(run["verdict"].get<std::string>());
    ++out.verdicts[v];
    if (v == "pass") out.passed.push_back(from_hex(run["packet"]));
    if (v == "tx") out.transmitted.push_back(from_hex(run["packet"]));
  }
  out.maps = j["maps"];
  return out;
}

std::map<std::string, uint64_t> verdicts(const json& j) {
  std::map<std::string, uint64_t> out;
  for (const auto& [k, v] : j["verdicts"].items()) out[k] = v.get<uint64_t>();
  return out;
}


}  // namespace

TEST_CASE("pipeline: generated packets give the interpreter's verdicts, packets and maps", "[pipeline][cli]") {
  const std::string name = GENERATE(as<std::string>{}, "xdp_icmp_echo.v3.o", "xdp_drop_proto.v3.o", "xdp_firewall.v3.o");
  INFO(name);
  const std::string object = corpus(name);
  const std::string maps_file = env("TRISTATE_SOURCE_DIR") + "/benchmarks/progs/xdp_firewall.maps.json";
  const bool seeded = name == "xdp_firewall.v3.o";
  TempDir dir;

  // The generator's packets (lengths 0, 1 and 13 among them), and those the kernel runs.
  std::vector<Bytes> runnable;
  std::size_t too_short = 0;
  for (const Bytes& p : tristate::generate_packets(300, 7)) {
    if (p.size() < 14) ++too_short;
    else runnable.push_back(p);
  }
  REQUIRE(too_short > 0);
  const std::string in = dir.file("in.pcap");
  tristate::write_pcap(in, runnable);
  const Reference want = reference(object, in, seeded ? maps_file : "");
  INFO("reference verdicts: " << json(want.verdicts).dump());
  REQUIRE(!want.passed.empty());
  REQUIRE(want.passed.size() < runnable.size());  // a second verdict occurs

  std::vector<std::string> args = {"pipeline", "--prog", object, "--from", "gen:count=300,seed=7", "--to", "pcap:" + dir.file("pass.pcap"),
                                   "--tx", "pcap:" + dir.file("tx.pcap"), "--json"};
  if (seeded) args.insert(args.end(), {"--maps", maps_file});
  const auto r = tristate_cli(args);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  INFO(j.dump(2));
  CHECK(j["program"] == name.substr(0, name.find('.')));
  CHECK(j["engine"] == "interpreter");
  CHECK(j["packets"] == 300);
  std::map<std::string, uint64_t> expected = want.verdicts;
  expected["aborted"] += too_short;  // refused before the program, as the kernel refuses them
  CHECK(verdicts(j) == expected);
  CHECK(j["refused"]["shorter than an Ethernet header (14 bytes)"] == too_short);
  CHECK(j["faults"] == 0);
  CHECK(j["violations"] == 0);
  CHECK(j["maps"] == want.maps);
  CHECK(j["sinks"]["pass"]["packets"] == want.passed.size());
  CHECK(j["sinks"]["tx"]["packets"] == want.transmitted.size());

  // The sinks hold exactly the passed and the transmitted packets, in order, byte for byte.
  CHECK(tristate::read_pcap(dir.file("pass.pcap")) == want.passed);
  CHECK(tristate::read_pcap(dir.file("tx.pcap")) == want.transmitted);
  const std::string pass_bytes = read_file(dir.file("pass.pcap"));
  const std::vector<uint8_t> canonical = tristate::pcap_bytes(want.passed);
  CHECK(pass_bytes == std::string(canonical.begin(), canonical.end()));
  // No temporary file is left beside them.
  for (const std::string& f : dir.files()) CHECK(f.front() != '.');
}

TEST_CASE("pipeline: a capture source gives the interpreter's verdicts, and --count stops it", "[pipeline][cli]") {
  const std::string object = corpus("xdp_icmp_echo.v3.o");
  TempDir dir;
  std::vector<Bytes> packets;
  for (const Bytes& p : tristate::generate_packets(200, 11))
    if (p.size() >= 14) packets.push_back(p);
  const std::string in = dir.file("in.pcap");
  tristate::write_pcap(in, packets);
  const Reference want = reference(object, in);

  const auto r = tristate_cli({"pipeline", "--prog", object, "--from", "pcap:" + in, "--to", "pcap:" + dir.file("pass.pcap"), "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  CHECK(j["packets"] == packets.size());
  CHECK(verdicts(j) == want.verdicts);
  CHECK(j["source"]["stopped_by"] == "end of source");
  CHECK(j["sinks"]["tx"]["spec"] == "none");
  CHECK(tristate::read_pcap(dir.file("pass.pcap")) == want.passed);

  // --count: only the first N packets.
  const auto c = tristate_cli({"pipeline", "--prog", object, "--from", "pcap:" + in, "--count", "10", "--json"});
  REQUIRE(c.status == 0);
  const json cj = json::parse(c.out);
  CHECK(cj["packets"] == 10);
  CHECK(cj["source"]["stopped_by"] == "count");

  // The human summary names the program, the source and the verdicts.
  const auto h = tristate_cli({"pipeline", "--prog", object, "--from", "pcap:" + in});
  REQUIRE(h.status == 0);
  CHECK(h.out.find("xdp_icmp_echo") != std::string::npos);
  CHECK(h.out.find("pass " + std::to_string(want.verdicts.at("pass"))) != std::string::npos);
  CHECK(h.err.empty());  // no live statistics when stderr is not a terminal
}

TEST_CASE("pipeline: bad input exits with status 2 and writes nothing", "[pipeline][cli]") {
  TempDir dir;
  const std::string object = corpus("xdp_icmp_echo.v3.o");
  const std::string out = dir.file("out.pcap");
  std::vector<Bytes> packets = tristate::generate_packets(20, 1);
  packets.erase(std::remove_if(packets.begin(), packets.end(), [](const Bytes& p) { return p.size() < 14; }), packets.end());
  const std::string in = dir.file("in.pcap");
  tristate::write_pcap(in, packets);
  const std::string in_before = read_file(in);

  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--prog", object, "--from", "carrier-pigeon:x", "--to", "pcap:" + out}, "unknown scheme 'carrier-pigeon'"},
      {{"--prog", object, "--from", "gen:100", "--to", "gen:5"}, "gen: is a source"},
      {{"--prog", object, "--from", "gen:count=x", "--to", "pcap:" + out}, "count must be a non-negative integer"},
      {{"--prog", object, "--from", "gen:100000000000", "--to", "pcap:" + out}, "at most 1000000 generated packets"},
      {{"--prog", object, "--from", "pcap:" + dir.file("missing.pcap"), "--to", "pcap:" + out}, "missing.pcap"},
      {{"--prog", corpus("tc_classifier.v3.o"), "--from", "gen:10", "--to", "pcap:" + out}, "XDP"},
      {{"--prog", dir.file("nothing.o"), "--from", "gen:10", "--to", "pcap:" + out}, "nothing.o"},
      {{"--prog", object, "--from", "afxdp:nosuchif0", "--to", "pcap:" + out}, "nosuchif0"},
      {{"--prog", object, "--from", "gen:10", "--to", "pcap:" + out, "--tx", "afxdp:nosuchif0"}, "nosuchif0"},
      {{"--prog", object, "--from", "pcap:" + in, "--to", "pcap:" + in}, "overwrite an input"},
      {{"--prog", object, "--from", "gen:10", "--to", "pcap:" + out, "--tx", "pcap:" + out}, "the same file"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"pipeline"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = tristate_cli(args);
    INFO(json(args).dump() << "\n" << r.err);
    CHECK(r.status == 2);
    CHECK(r.err.rfind("tristate: ", 0) == 0);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK_FALSE(fs::exists(out));
  }
  CHECK(read_file(in) == in_before);
  CHECK(dir.files() == std::vector<std::string>{"in.pcap"});  // no temporary file left behind
}

TEST_CASE("pipeline: an AF_XDP source stops after --count packets and transmits out of its socket", "[pipeline][cli][afxdp]") {
  constexpr int kCount = 40;
  const std::string object = corpus("xdp_icmp_echo.v3.o");
  TempDir dir;
  VethNamespace ns;
  if (!kernel_test_may_run(ns.ok(), ns.error(), "the AF_XDP pipeline test")) return;

  // An ICMP echo request (the program answers it: XDP_TX) and a TCP segment (XDP_PASS).
  std::optional<Bytes> echo, other;
  for (const tristate::TestPacket& p : tristate::generate_test_packets(200, 5)) {
    if (!p.well_formed || p.category.find("vlan") != std::string::npos || p.category.find("qinq") != std::string::npos) continue;
    if (!echo && p.category == "eth/ipv4/icmp") echo = p.bytes;
    if (!other && p.category == "eth/ipv4/tcp") other = p.bytes;
  }
  REQUIRE(echo);
  REQUIRE(other);
  const std::string mix = dir.file("mix.pcap");
  tristate::write_pcap(mix, {*echo, *other});
  const Reference want = reference(object, mix);
  REQUIRE(want.transmitted.size() == 1);
  REQUIRE(want.passed.size() == 1);

  std::atomic<bool> done{false};
  ProcessResult result;
  std::thread pipeline([&] {
    result = run_process({"ip", "netns", "exec", ns.name(), env("TRISTATE_BIN"), "pipeline", "--prog", object, "--from",
                          "afxdp:" + ns.receiver(), "--count", std::to_string(kCount), "--duration", "60", "--to",
                          "pcap:" + dir.file("pass.pcap"), "--json"});
    done = true;
  });
  // Send until the pipeline has had its packets: those sent before its socket is up reach the
  // kernel's stack instead, which answers nothing (the link has no address).
  std::vector<Bytes> came_back;
  {
    VethNamespace::Inside inside(ns);
    REQUIRE(inside.ok());
    Wire wire(ns.sender());
    REQUIRE(wire.ok());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (std::size_t i = 0; !done && std::chrono::steady_clock::now() < deadline; ++i) {
      wire.send(i % 2 ? *other : *echo);
      while (auto frame = wire.receive(2)) came_back.push_back(*frame);
    }
    while (auto frame = wire.receive(500)) came_back.push_back(*frame);
  }
  pipeline.join();
  INFO(result.err);
  REQUIRE(result.status == 0);
  const json j = json::parse(result.out);
  INFO(j.dump(2));
  CHECK(j["packets"] == kCount);
  CHECK(j["source"]["stopped_by"] == "count");
  CHECK(j["source"]["spec"] == "afxdp:" + ns.receiver());
  CHECK(j["sinks"]["tx"]["spec"] == "afxdp:" + ns.receiver());
  const std::map<std::string, uint64_t> v = verdicts(j);
  CHECK(v.at("pass") + v.at("tx") == kCount);
  CHECK(v.at("tx") > 0);
  CHECK(v.at("pass") > 0);
  CHECK(j["faults"] == 0);
  CHECK(j["violations"] == 0);
  CHECK(j["socket"]["rx_invalid"] == 0);
  CHECK(j["socket"]["tx_invalid"] == 0);
  // The passed packets are in the capture, as the interpreter passes them.
  const std::vector<Bytes> passed = tristate::read_pcap(dir.file("pass.pcap"));
  CHECK(passed.size() == v.at("pass"));
  for (const Bytes& p : passed) CHECK(p == want.passed[0]);
  // Every transmitted packet came back out of the veth as the interpreter's reply.
  CHECK(came_back.size() == v.at("tx"));
  for (const Bytes& p : came_back) CHECK(p == want.transmitted[0]);
}
