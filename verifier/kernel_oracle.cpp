#include "verifier/kernel_oracle.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <utility>

#include "compiler/error.hpp"

namespace tristate {

// The kernel reads the instruction array as `struct bpf_insn`; Insn is laid out the same way.
static_assert(sizeof(Insn) == sizeof(struct bpf_insn) && alignof(Insn) == alignof(struct bpf_insn));

namespace {

constexpr std::size_t kObjNameMax = BPF_OBJ_NAME_LEN - 1;  // the kernel wants room for the NUL
constexpr std::size_t kLogSize = 1 << 20;                  // the kernel keeps the tail if it overflows
constexpr std::size_t kLogTailLines = 16;
constexpr std::size_t kOutSlack = 256;  // data_out room beyond the input: XDP headroom growth
constexpr int kENOTSUPP = 524;          // kernel-internal; glibc has no name for it
constexpr int kLibbpfErrnoStart = 4000; // libbpf's own error codes (LIBBPF_ERRNO__*) start here

const bpf_insn* as_bpf_insns(std::span<const Insn> insns) {
  return reinterpret_cast<const bpf_insn*>(insns.data());
}

int load_raw(std::span<const Insn> insns, uint32_t prog_type, const char* name, char* log_buf,
             std::size_t log_size) {
  return load_program_raw(insns, prog_type, name, log_buf ? 1 : 0, log_buf, log_size);
}

// One BPF_PROG_TEST_RUN. Returns 0 or -errno; on -ENOSPC `out.packet_out.size()` is the size the
// kernel needed.
int test_run_raw(int fd, std::span<const uint8_t> packet, std::span<const uint8_t> ctx_in, uint32_t repeat,
                 KernelRun& out) {
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = packet.data();
  opts.data_size_in = static_cast<uint32_t>(packet.size());
  if (!ctx_in.empty()) {
    opts.ctx_in = ctx_in.data();
    opts.ctx_size_in = static_cast<uint32_t>(ctx_in.size());
  }
  opts.data_out = out.packet_out.data();
  opts.data_size_out = static_cast<uint32_t>(out.packet_out.size());
  opts.repeat = static_cast<int>(repeat);
  const int err = bpf_prog_test_run_opts(fd, &opts) < 0 ? errno : 0;
  out.retval = opts.retval;
  out.duration_ns = opts.duration;
  // On ENOSPC the kernel reports the full size it wanted to copy.
  if (err == 0 || err == ENOSPC) out.packet_out.resize(opts.data_size_out);
  return -err;
}

std::string kernel_object_name(const std::string& name) {
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.';
    if (!ok)
      throw InputError(Location{{}, name, {}},
                       "not a kernel program name: only letters, digits, '_' and '.' are allowed");
  }
  return name.substr(0, kObjNameMax);
}

struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

std::string read_sysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  if (!(in >> value)) return "unknown";
  return value;
}

// The effective capability set (CapEff in /proc/self/status), to say which capability is missing.
uint64_t effective_caps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("CapEff:")) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

// The kernel's tests: bpf_capable() for loading at all when unprivileged bpf() is disabled,
// bpf_net_capable() in addition for networking program types such as XDP.
constexpr int kCapNetAdmin = 12, kCapSysAdmin = 21, kCapBpf = 39;
bool has_cap(uint64_t caps, int cap) { return (caps >> cap) & 1; }
bool bpf_capable(uint64_t caps) { return has_cap(caps, kCapBpf) || has_cap(caps, kCapSysAdmin); }
bool bpf_net_capable(uint64_t caps) { return has_cap(caps, kCapNetAdmin) || has_cap(caps, kCapSysAdmin); }

struct Probe {
  bool ok = false;
  std::string why;
};

Probe probe_kernel() {
  const Insn socket_filter[] = {make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 0, 0, 0, 7),
                                make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0)};
  const int fd = load_raw(socket_filter, BPF_PROG_TYPE_SOCKET_FILTER, "tristate_probe", nullptr, 0);
  if (fd < 0) {
    const int e = -fd;
    const std::string what = "loading a 2-instruction socket filter failed with " + errno_text(e);
    if (e == ENOSYS)
      return {false, what + ": this kernel has no bpf() system call (CONFIG_BPF_SYSCALL is off) "
                            "or a seccomp filter hides it"};
    if (e == EPERM || e == EACCES) {
      const std::string who = "euid " + std::to_string(::geteuid());
      if (!bpf_capable(effective_caps()))
        return {false, what + ": the process (" + who + ") has neither CAP_BPF nor CAP_SYS_ADMIN, and "
                           "kernel.unprivileged_bpf_disabled = " +
                           read_sysctl("/proc/sys/kernel/unprivileged_bpf_disabled") +
                           "; run as root with full capabilities, or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON"};
      return {false, what + " although the process (" + who + ") has CAP_BPF or CAP_SYS_ADMIN: a "
                            "seccomp filter or a security module refuses bpf()"};
    }
    return {false, what};
  }
  const FdGuard guard{fd};
  KernelRun run;
  run.packet_out.resize(14 + kOutSlack);
  const uint8_t packet[14] = {};
  if (const int err = test_run_raw(fd, packet, {}, 1, run); err < 0)
    return {false, "BPF_PROG_TEST_RUN of a loaded socket filter failed with " + errno_text(-err)};
  if (run.retval != 7)
    return {false, "BPF_PROG_TEST_RUN reported r0 = " + std::to_string(run.retval) +
                       " for a socket filter that returns 7"};

  // Unprivileged bpf() (kernel.unprivileged_bpf_disabled = 0) loads socket filters only.
  const Insn xdp[] = {make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 0, 0, 0, XDP_PASS),
                      make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0)};
  const int xdp_fd = load_raw(xdp, BPF_PROG_TYPE_XDP, "tristate_probe", nullptr, 0);
  if (xdp_fd < 0) {
    std::string why = "socket filters load, but a 2-instruction XDP program fails with " + errno_text(-xdp_fd);
    const uint64_t caps = effective_caps();
    if (!bpf_capable(caps) || !bpf_net_capable(caps))
      why += std::string(": networking program types need ") +
             (bpf_capable(caps) ? "" : "CAP_BPF and ") + "CAP_NET_ADMIN (or CAP_SYS_ADMIN), which the process lacks";
    return {false, why};
  }
  ::close(xdp_fd);
  return {true, {}};
}

}  // namespace

int load_program_raw(std::span<const Insn> insns, uint32_t prog_type, const char* name, int log_level,
                     char* log_buf, std::size_t log_size) {
  bpf_prog_load_opts opts{};
  opts.sz = sizeof(opts);
  if (log_buf) {
    opts.log_level = static_cast<uint32_t>(log_level);
    opts.log_buf = log_buf;
    opts.log_size = static_cast<uint32_t>(log_size);
  }
  const int fd = bpf_prog_load(static_cast<enum bpf_prog_type>(prog_type), name, "GPL",
                               as_bpf_insns(insns), insns.size(), &opts);
  return fd >= 0 ? fd : -errno;
}

std::string libbpf_error_text(int err) {
  if (err < kLibbpfErrnoStart) return errno_text(err);
  char buf[128] = {};
  libbpf_strerror(err, buf, sizeof buf);
  return buf;
}

std::string errno_text(int e) {
  if (e == kENOTSUPP) return "ENOTSUPP (not supported for this program type)";
  const char* name = strerrorname_np(e);
  const char* desc = strerrordesc_np(e);
  std::string out = name ? name : "errno " + std::to_string(e);
  if (desc) out += std::string(" (") + desc + ")";
  return out;
}

std::string verifier_log_tail(const char* log) {
  std::vector<std::string> lines;
  std::string line;
  for (const char* p = log; *p; ++p) {
    if (*p == '\n') {
      if (!line.empty()) lines.push_back(std::move(line));
      line.clear();
    } else {
      line += *p;
    }
  }
  if (!line.empty()) lines.push_back(std::move(line));
  std::string out;
  const std::size_t first = lines.size() > kLogTailLines ? lines.size() - kLogTailLines : 0;
  for (std::size_t i = first; i < lines.size(); ++i) out += "\n  " + lines[i];
  return out;
}

KernelRun test_run_program(int prog_fd, std::span<const uint8_t> packet, std::span<const uint8_t> ctx_in,
                           uint32_t repeat, const Location& where) {
  if (repeat > uint32_t(INT_MAX))
    throw InputError(where, "repeat count " + std::to_string(repeat) + " is above INT_MAX");
  if (packet.size() > UINT32_MAX - kOutSlack)
    throw InputError(where, "packet of " + std::to_string(packet.size()) + " bytes is too large");

  KernelRun out;
  out.packet_out.resize(packet.size() + kOutSlack);
  int err = test_run_raw(prog_fd, packet, ctx_in, repeat, out);
  if (err == -ENOSPC && out.packet_out.size() > packet.size() + kOutSlack) {
    // The program grew the packet beyond the room given (e.g. bpf_xdp_adjust_tail); the kernel
    // said how much it needs. Run again with that much: the program is a function of the packet.
    err = test_run_raw(prog_fd, packet, ctx_in, repeat, out);
  }
  if (err < 0) {
    std::string reason = "BPF_PROG_TEST_RUN failed: " + errno_text(-err);
    if (err == -EINVAL && packet.size() < 14)
      reason += "; skb and XDP programs need a packet of at least 14 bytes (ETH_HLEN), this one has " +
                std::to_string(packet.size());
    throw InputError(where, reason);
  }
  return out;
}

bool kernel_bpf_available(std::string* why) {
  static const Probe probe = probe_kernel();  // thread-safe, once per process
  if (why) *why = probe.why;
  return probe.ok;
}

KernelProgram KernelProgram::load(std::span<const Insn> insns, uint32_t prog_type,
                                  const std::string& name) {
  const Location where{{}, name, {}};
  if (insns.empty()) throw InputError(where, "cannot load an empty program");
  const std::string kname = kernel_object_name(name);

  // Without a log first: log_level 1 slows verification down, and a log that overflows its
  // buffer makes the kernel refuse an otherwise good program with ENOSPC.
  const int fd = load_raw(insns, prog_type, kname.c_str(), nullptr, 0);
  if (fd >= 0) return KernelProgram(fd, name);

  // Refused: load again with a log to learn why. The errno stays the first attempt's, since
  // the logged attempt may end in ENOSPC when the log is long.
  const int err = -fd;
  std::vector<char> log(kLogSize, '\0');
  const int retry = load_raw(insns, prog_type, kname.c_str(), log.data(), log.size());
  if (retry >= 0) return KernelProgram(retry, name);  // a transient failure (e.g. memory)
  log.back() = '\0';
  std::string reason = "the kernel refused the program: " + errno_text(err);
  const std::string tail = verifier_log_tail(log.data());
  if (tail.empty())
    reason += "; the verifier log is empty (the kernel refused it before verification: check the "
              "program type, the instruction count and the privileges)";
  else
    reason += "; the verifier log ends with:" + tail;
  throw InputError(where, reason);
}

KernelRun KernelProgram::run(std::span<const uint8_t> packet, uint32_t repeat) const {
  if (fd_ < 0) throw InternalError("KernelProgram::run on a moved-from program");
  return test_run_program(fd_, packet, {}, repeat, Location{{}, name_, {}});
}

KernelProgram::KernelProgram(KernelProgram&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), name_(std::move(other.name_)) {}

KernelProgram& KernelProgram::operator=(KernelProgram&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::move(other.name_);
  }
  return *this;
}

KernelProgram::~KernelProgram() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace tristate
