// The real-kernel oracle: load a program with BPF_PROG_LOAD (the kernel verifier's verdict) and
// run it with BPF_PROG_TEST_RUN (the kernel's own interpreter or JIT), so every other layer can be
// checked against the running Linux kernel. libbpf's low-level API is wrapped here and nowhere
// else in verifier/; this header does not mention libbpf or <linux/bpf.h>.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "compiler/error.hpp"
#include "compiler/isa.hpp"

namespace tristate {

// Whether this process may load and run BPF programs. The first call probes (it loads and runs a
// 2-instruction socket filter, then loads a 2-instruction XDP program, because unprivileged
// bpf() can allow the first and refuse the second); later calls return the cached answer. When
// the answer is false, `why` says what is missing (not root, EPERM, ENOSYS, ...); when true, it
// is cleared.
bool kernel_bpf_available(std::string* why = nullptr);

// What one BPF_PROG_TEST_RUN reported.
struct KernelRun {
  uint32_t retval = 0;              // r0 as BPF_PROG_TEST_RUN reports it (32 bits)
  std::vector<uint8_t> packet_out;  // data_out, at the length the kernel reported
  uint32_t duration_ns = 0;         // mean time of one repetition
};

// A program loaded into the kernel; its file descriptor is closed on destruction. Move-only.
class KernelProgram {
 public:
  // Loads `insns` as a program of type `prog_type` (an `enum bpf_prog_type` value) under the
  // license "GPL". `name` is the kernel's label for it (bpftool shows it): at most 15 characters
  // are kept, as libbpf does with long function names; characters other than letters, digits,
  // '_' and '.' are an InputError. When the kernel refuses the program, throws InputError whose
  // reason names the errno and quotes the last lines of the verifier log (log_level 1).
  static KernelProgram load(std::span<const Insn> insns, uint32_t prog_type,
                            const std::string& name = "tristate");

  // Runs the program `repeat` times (0 counts as 1) on `packet` (data_in). Skb and XDP programs
  // need a packet of at least 14 bytes (ETH_HLEN). The kernel does not restore the packet between
  // repetitions: `packet_out` is the packet after all of them, and `retval` is the last r0.
  // Socket filters (like every skb type but tc's) run with skb->data past the 14-byte Ethernet
  // header, so LD_ABS 0 reads packet[14], and the kernel returns that header zeroed in packet_out.
  // When the program grows the packet beyond 256 bytes of room, it runs a second time with the
  // room the kernel asked for.
  // Errors from the kernel (EINVAL, ENOTSUPP for program types without test runs, ...) throw
  // InputError naming the errno.
  KernelRun run(std::span<const uint8_t> packet, uint32_t repeat = 1) const;

  // The program's file descriptor; -1 after the program was moved away.
  int fd() const { return fd_; }

  KernelProgram(KernelProgram&& other) noexcept;
  KernelProgram& operator=(KernelProgram&& other) noexcept;
  KernelProgram(const KernelProgram&) = delete;
  KernelProgram& operator=(const KernelProgram&) = delete;
  ~KernelProgram();

 private:
  KernelProgram(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  int fd_ = -1;
  std::string name_;  // for error locations
};

// Shared with the whole-object oracle (kernel_object.cpp), whose program fds libbpf holds.

// "EACCES (Permission denied)": an errno by the name kernel sources and logs use, including the
// kernel-internal ENOTSUPP (524) that glibc does not know.
std::string errno_text(int e);

// The text for an error libbpf returns: an errno, or one of libbpf's own codes (4000 and up).
std::string libbpf_error_text(int err);

// One BPF_PROG_LOAD of `insns` as type `prog_type` under the license "GPL", named `name` (at most
// 15 characters of [A-Za-z0-9_.]), with the verifier log at `log_level` into `log_buf` (no log
// when it is null). Returns the program fd, or -errno.
int load_program_raw(std::span<const Insn> insns, uint32_t prog_type, const char* name, int log_level,
                     char* log_buf, std::size_t log_size);

// The last lines of a verifier log (the refusal is at its end, followed only by statistics), each
// on its own line indented by two spaces; empty for an empty log.
std::string verifier_log_tail(const char* log);

// One BPF_PROG_TEST_RUN of the loaded program `prog_fd`, as KernelProgram::run describes it, with
// optional `ctx_in` bytes (ctx_in). Kernel errors throw InputError at `where` naming the errno.
KernelRun test_run_program(int prog_fd, std::span<const uint8_t> packet, std::span<const uint8_t> ctx_in,
                           uint32_t repeat, const Location& where);

}  // namespace tristate
