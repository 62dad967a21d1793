#include "tests/support/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
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

}  // namespace tristate::test
