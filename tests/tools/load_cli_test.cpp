// `tristate load` end to end: a corpus XDP program attached to a veth in a namespace of the
// test's own, pinned (link and maps) so that it stays attached after the command exits, handling
// a packet sent from the peer (an ICMP echo request comes back as the reply the interpreter
// computes), then detached with its pins removed; bad input refused with exit status 2 and
// nothing attached or pinned. Needs root, bpffs and veth: fails with the reason when they are
// missing (TRISTATE_ALLOW_NO_BPF=1 turns that into a loud warning).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "compiler/packet_gen.hpp"
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

// A pin directory of the test's own under /sys/fs/bpf, removed with whatever is left in it.
class PinDir {
 public:
  PinDir() {
    static std::atomic<int> counter{0};
    path_ = "/sys/fs/bpf/tristate-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  }
  ~PinDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);  // unlinking a pinned link detaches it
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}


std::string link_show(const VethNamespace& ns) {
  return run_process({"ip", "-n", ns.name(), "link", "show", ns.receiver()}).out;
}

}  // namespace

TEST_CASE("load: an XDP program stays attached and pinned until --detach", "[load][cli]") {
  VethNamespace ns;
  if (!kernel_test_may_run(ns.ok(), ns.error(), "the load test")) return;
  PinDir pin;
  const std::string object = corpus("xdp_icmp_echo.v3.o");

  // Generic mode: native XDP_TX on a veth needs an XDP program or GRO on the peer as well.
  const auto r = tristate_cli(
      {"load", object, "--xdp", ns.receiver(), "--netns", ns.name(), "--pin", pin.path(), "--mode", "generic", "--json"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  const json j = json::parse(r.out);
  CHECK(j["mode"] == "generic");
  CHECK(j["program"] == "xdp_icmp_echo");
  CHECK(j["interface"] == ns.receiver());
  CHECK(j["link"] == pin.path() + "/link");
  const uint32_t prog_id = j["prog_id"];
  REQUIRE(prog_id > 0);

  // The command has exited: the program is still attached, the link and the map are pinned.
  const std::string shown = link_show(ns);
  CHECK(shown.find(" xdpgeneric ") != std::string::npos);
  CHECK(shown.find("prog/xdp id " + std::to_string(prog_id) + " ") != std::string::npos);
  CHECK(fs::exists(pin.path() + "/link"));
  CHECK(fs::exists(pin.path() + "/maps/echo_replies"));
  CHECK(j["maps"]["echo_replies"] == pin.path() + "/maps/echo_replies");

  // It handles traffic: an ICMP echo request sent from the peer comes back as the reply the
  // interpreter computes (XDP_TX).
  std::optional<Bytes> request, reply;
  for (const tristate::TestPacket& p : tristate::generate_test_packets(200, 3)) {
    if (!p.well_formed || p.category.find("ipv4") == std::string::npos || p.category.find("/icmp") == std::string::npos) continue;
    std::string hex;
    for (uint8_t b : p.bytes) {
      static const char* digits = "0123456789abcdef";
      hex += digits[b >> 4];
      hex += digits[b & 15];
    }
    const auto run = tristate_cli({"run", object, "--packet", hex, "--json"});
    REQUIRE(run.status == 0);
    const json rj = json::parse(run.out);
    if (rj["runs"][0]["verdict"] != "XDP_TX") continue;
    request = p.bytes;
    reply = from_hex(rj["runs"][0]["packet"]);
    break;
  }
  REQUIRE(request);
  {
    VethNamespace::Inside inside(ns);
    REQUIRE(inside.ok());
    Wire wire(ns.sender());
    REQUIRE(wire.ok());
    REQUIRE(wire.send(*request));
    std::optional<Bytes> back = wire.receive(3000);
    REQUIRE(back);
    CHECK(*back == *reply);
  }

  // Detach: the program goes, and the pins and the directory with it.
  const auto d = tristate_cli({"load", "--detach", "--xdp", ns.receiver(), "--netns", ns.name(), "--pin", pin.path()});
  INFO(d.out << d.err);
  CHECK(d.status == 0);
  CHECK(d.out.find("detached prog id " + std::to_string(prog_id)) != std::string::npos);
  CHECK(link_show(ns).find("prog/xdp") == std::string::npos);
  CHECK_FALSE(fs::exists(pin.path()));

  // Detaching again: nothing is attached there.
  const auto again = tristate_cli({"load", "--detach", "--xdp", ns.receiver(), "--netns", ns.name(), "--pin", pin.path()});
  CHECK(again.status == 2);
  CHECK(again.err.find("nothing is attached") != std::string::npos);
}

TEST_CASE("load: bad input exits with status 2 and attaches and pins nothing", "[load][cli]") {
  VethNamespace ns;
  if (!kernel_test_may_run(ns.ok(), ns.error(), "the load error test")) return;
  PinDir pin;
  TempDir dir;
  const std::string whole = read_file(corpus("xdp_icmp_echo.v3.o"));
  const std::string truncated = dir.write("truncated.o", whole.substr(0, whole.size() / 3));
  const auto load = [&](const std::string& object, const std::string& iface) {
    return tristate_cli({"load", object, "--xdp", iface, "--netns", ns.name(), "--pin", pin.path()});
  };

  SECTION("no such interface") {
    const auto r = load(corpus("xdp_icmp_echo.v3.o"), "nosuchif0");
    CHECK(r.status == 2);
    CHECK(r.err.find("xdp_icmp_echo.v3.o") != std::string::npos);
    CHECK(r.err.find("no such network interface: nosuchif0") != std::string::npos);
  }
  SECTION("a tc program") {
    const auto r = load(corpus("tc_classifier.v3.o"), ns.receiver());
    CHECK(r.status == 2);
    CHECK(r.err.find("tc_classifier.v3.o: the object has no XDP program; it has: tc_classifier (sched_cls)") != std::string::npos);
  }
  SECTION("a tc program named with --prog") {
    const auto r = tristate_cli({"load", corpus("tc_classifier.v3.o"), "--prog", "tc_classifier", "--xdp", ns.receiver(), "--netns",
                                 ns.name(), "--pin", pin.path()});
    CHECK(r.status == 2);
    CHECK(r.err.find("tc_classifier: not an XDP program") != std::string::npos);
  }
  SECTION("a truncated object") {
    const auto r = load(truncated, ns.receiver());
    CHECK(r.status == 2);
    CHECK(r.err.find("tristate: " + truncated + ": ") == 0);
  }
  SECTION("a second program on the same interface") {
    PinDir first;
    const auto a = tristate_cli({"load", corpus("xdp_icmp_echo.v3.o"), "--xdp", ns.receiver(), "--netns", ns.name(), "--pin", first.path()});
    REQUIRE(a.status == 0);
    const auto r = load(corpus("xdp_drop_proto.v3.o"), ns.receiver());
    CHECK(r.status == 2);
    CHECK(r.err.find("already has an XDP program attached") != std::string::npos);
    CHECK(link_show(ns).find("name xdp_icmp_echo") != std::string::npos);  // the first one is untouched
    CHECK(tristate_cli({"load", "--detach", "--xdp", ns.receiver(), "--netns", ns.name(), "--pin", first.path()}).status == 0);
  }
  SECTION("a pin directory in use") {
    const auto a = load(corpus("xdp_icmp_echo.v3.o"), ns.receiver());
    REQUIRE(a.status == 0);
    const auto r = load(corpus("xdp_icmp_echo.v3.o"), ns.receiver());
    CHECK(r.status == 2);
    CHECK(r.err.find("already attached through " + pin.path() + "/link") != std::string::npos);
    CHECK(tristate_cli({"load", "--detach", "--xdp", ns.receiver(), "--netns", ns.name(), "--pin", pin.path()}).status == 0);
  }
  CHECK_FALSE(fs::exists(pin.path()));
  CHECK(link_show(ns).find("prog/xdp") == std::string::npos);
}

TEST_CASE("load: under ip netns exec, pins that could not outlive the command are refused", "[load][cli]") {
  VethNamespace ns;
  if (!kernel_test_may_run(ns.ok(), ns.error(), "the ip netns exec load test")) return;
  PinDir pin;
  const auto r = run_process({"ip", "netns", "exec", ns.name(), env("TRISTATE_BIN"), "load", corpus("xdp_icmp_echo.v3.o"), "--xdp",
                              ns.receiver(), "--pin", pin.path()});
  INFO(r.out << r.err);
  if (r.status == 0) {
    // An `ip` that keeps the host's bpffs in the namespace: then the attachment must persist.
    CHECK(link_show(ns).find("prog/xdp") != std::string::npos);
    CHECK(fs::exists(pin.path() + "/link"));
    CHECK(tristate_cli({"load", "--detach", "--xdp", ns.receiver(), "--netns", ns.name(), "--pin", pin.path()}).status == 0);
  } else {
    CHECK(r.status == 2);
    CHECK(r.err.find("--netns") != std::string::npos);
    CHECK(link_show(ns).find("prog/xdp") == std::string::npos);
    CHECK_FALSE(fs::exists(pin.path()));
  }
}
