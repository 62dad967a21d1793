// The kernel verifier as an oracle of verdicts and logs (issue 6): load a program at log level 1
// or 2 and keep the whole verifier log, so the analyzer's states can be compared with the states
// the kernel printed (verifier/kernel_log.hpp parses them). Unlike KernelProgram::load, a refusal
// is an answer here, not an error. This header does not mention libbpf.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "compiler/isa.hpp"
#include "compiler/program.hpp"

namespace tristate {

struct KernelVerdict {
  bool accepted = false;
  int error = 0;           // errno of a refusal (EACCES, EINVAL, E2BIG, ...); 0 when accepted
  std::string log;         // the whole verifier log at the requested level
  uint64_t processed = 0;  // "processed N insns" from the log's statistics line; 0 when absent
};

// The verifier log levels: BPF_LOG_LEVEL1 (1), BPF_LOG_LEVEL2 (2, every state) and BPF_LOG_STATS
// (4, only with one of the others: 1|4, 2|4).
inline constexpr int kLogLevel1 = 1, kLogLevel2 = 2, kLogStats = 4;

// Loads `image` (Program::image) as a program of type `prog_type` (an enum bpf_prog_type value)
// under the license "GPL" with the verifier log at `log_level`, and returns the verdict and the
// log; the program, if accepted, is unloaded again.
//
// Maps: every MapDef in `maps` is created first (type, key_size, value_size, max_entries, flags;
// internal maps, MapDef::internal, as 1-entry arrays of value_size holding initial_value, frozen
// when their section is .rodata*). Then every LD_IMM64 slot i with map_refs[i].map >= 0 is
// patched: offset -1 becomes BPF_PSEUDO_MAP_FD with the map's fd, offset >= 0 BPF_PSEUDO_MAP_VALUE
// with the fd and the offset in the second slot's imm. `map_refs` (resolve_map_refs) is empty or
// has one entry per slot of `image`. Everything created is closed before returning.
//
// The log starts with 16 MiB of room; when the kernel answers ENOSPC (it had more to say, and
// then refuses even a good program), the program is verified once more with room for the whole
// log (up to 256 MiB). InputError only for what is not a verdict: a map the kernel will not
// create (naming the map and the errno), malformed map_refs, a log beyond 256 MiB.
KernelVerdict kernel_verify(std::span<const Insn> image, uint32_t prog_type, const std::vector<MapDef>& maps,
                            const std::vector<MapRef>& map_refs, int log_level = kLogLevel1);

// The same for program `prog` (its function name) of the ELF object at `path`, opened by libbpf as
// KernelObject::load opens it (maps created, global data initialised, BTF, CO-RE relocations),
// with only that program loaded. A refusal gives accepted=false, the errno and the log;
// InputError when the file cannot be opened, has no program `prog`, or libbpf fails before the
// kernel verified the program.
KernelVerdict kernel_verify_object(const std::string& path, const std::string& prog, int log_level = kLogLevel1);

}  // namespace tristate
