#include "tests/support/netns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "tests/support/process.hpp"

namespace tristate::test {

namespace {

std::string ip(const std::vector<std::string>& args, bool* ok) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r = run_process(argv);
  *ok = r.status == 0;
  return r.err;
}

}  // namespace

VethNamespace::VethNamespace() {
  static std::atomic<int> counter{0};
  name_ = "tristate-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  bool ok = false;
  std::string err = ip({"netns", "add", name_}, &ok);
  if (!ok) {
    error_ = "cannot create network namespace " + name_ + ": " + err;
    name_.clear();
    return;
  }
  const std::vector<std::vector<std::string>> steps = {
      {"netns", "exec", name_, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"},
      {"netns", "exec", name_, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1"},
      {"-n", name_, "link", "add", a_, "type", "veth", "peer", "name", b_},
      {"-n", name_, "link", "set", a_, "up"},
      {"-n", name_, "link", "set", b_, "up"},
  };
  for (const auto& step : steps) {
    err = ip(step, &ok);
    if (!ok) {
      error_ = "cannot set up the veth pair in " + name_ + ": " + err;
      return;
    }
  }
}

VethNamespace::~VethNamespace() {
  if (name_.empty()) return;
  bool ok = false;
  ip({"netns", "del", name_}, &ok);  // takes the veth pair with it
}

VethNamespace::Inside::Inside(const VethNamespace& ns) {
  if (!ns.ok()) return;
  home_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = open(("/var/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
  ok_ = home_ >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0;
  if (target >= 0) close(target);
}

VethNamespace::Inside::~Inside() {
  if (home_ >= 0) {
    if (ok_) setns(home_, CLONE_NEWNET);
    close(home_);
  }
}

Wire::Wire(const std::string& ifname) {
  fd_ = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  ifindex_ = if_nametoindex(ifname.c_str());
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(ifindex_);
  ok_ = fd_ >= 0 && ifindex_ != 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

Wire::~Wire() {
  if (fd_ >= 0) close(fd_);
}

bool Wire::send(const std::vector<uint8_t>& frame) {
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(ifindex_);
  to.sll_halen = 6;
  std::memcpy(to.sll_addr, frame.data(), 6);
  return sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == static_cast<ssize_t>(frame.size());
}

std::optional<std::vector<uint8_t>> Wire::receive(int ms) {
  std::vector<uint8_t> buf(2048);
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return std::nullopt;
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    const ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return std::nullopt;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
}

}  // namespace tristate::test
