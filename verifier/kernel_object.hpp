// The real-kernel oracle for whole ELF objects: libbpf opens and loads every program of the
// object, creates its maps and initialises its global data, exactly as a production loader would;
// then programs run with BPF_PROG_TEST_RUN and the maps are seeded and dumped from user space, in
// the MapContents form the interpreter's maps (compiler/maps.hpp) use, so the two compare
// directly. This header does not mention libbpf.
//
// Map contents as the kernel shows them to user space:
//   - array, per-CPU array: every index, in index order (internal maps for .data/.bss/.rodata
//     are one-element arrays);
//   - hash, LRU hash, per-CPU hash, LRU per-CPU hash, LPM trie, devmap hash and other keyed maps:
//     every key, sorted bytewise;
//     (user-space lookups do not mark LRU entries used, so dumping leaves eviction order alone);
//   - per-CPU maps: one value per possible CPU (libbpf_num_possible_cpus), value_size bytes each;
//   - prog array: the occupied indices; a value is the u32 (little-endian) index of the program in
//     programs(), the object's program order, which is the file order of Module::programs (the
//     kernel gives user space a program id, translated here; seeding translates the other way);
//   - devmap, cpumap: the occupied indices with the value the kernel returns (struct
//     bpf_devmap_val / bpf_cpumap_val, truncated to value_size);
//   - ring buffer: `records`, in output order, every record the programs output since load or the
//     last reset() (dump() consumes them from the ring and keeps them);
//   - every other type, and types whose lookups the kernel refuses from user space (xskmap:
//     EOPNOTSUPP; sockmap, queue, stack, perf event array, ...): no entries.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "compiler/maps.hpp"
#include "verifier/kernel_oracle.hpp"

namespace tristate {

// A loaded object; everything it created in the kernel is released on destruction. Move-only.
class KernelObject {
 public:
  // Opens the ELF object at `path` (the object name libbpf derives from the file name: internal
  // map names match Module::maps) and loads it: all programs, maps created, global data
  // initialised and .rodata frozen. InputError naming the file when libbpf refuses it, and naming
  // the file and program, with the errno and the last lines of the verifier log, when the kernel
  // refuses a program.
  static KernelObject load(const std::string& path);

  // The entry programs' function names, in the object's (file) order.
  const std::vector<std::string>& programs() const;
  // The map names, in the object's order (the order of dump() and of Module::maps).
  std::vector<std::string> maps() const;
  // The number of possible CPUs: how many values a per-CPU entry has.
  unsigned ncpus() const;

  // Whether run() can run program `prog` (InputError for a name not in programs()): true for the
  // program types whose BPF_PROG_TEST_RUN takes a packet (XDP, the skb types, flow dissector).
  // Tracepoints, kprobes and the other tracing types are false: the kernel has no test run for
  // them (it answers ENOTSUPP, errno 524) or takes no packet (raw tracepoints: EINVAL).
  bool can_test_run(const std::string& prog) const;

  // Adds or replaces entries, by map name, the way user-space bpf_map_update_elem(BPF_ANY) does.
  // A per-CPU entry gives one value per CPU, or a single value meaning "every CPU". InputError
  // naming the file, the map and the entry when a map does not exist, sizes do not fit, or the
  // kernel refuses the update (E2BIG for an index past max_entries or a full hash; EPERM for the
  // frozen .rodata). Ring buffers cannot be seeded.
  void seed(const std::vector<MapContents>& maps);

  // Runs program `prog` once (`repeat` times; 0 counts as 1) with BPF_PROG_TEST_RUN on `packet`
  // (data_in) and optional `ctx_in` bytes; the maps keep what the run left in them. An xdp_md
  // ctx_in whose data_end is 0 gets the packet's length there, as the interpreter derives it. As
  // KernelProgram::run: retval is the last r0, packet_out is the packet at the length the kernel
  // reports, and skb programs other than tc see the packet past its Ethernet header.
  // The calling thread is pinned to CPU 0 for the run (and its affinity restored afterwards), so
  // per-CPU maps change only in CPU 0's copy: compare with an interpreter that models CPU 0.
  // InputError naming the file and program for an unknown name, a kernel error (naming the errno),
  // a program type without a test run (the reason then starts "programs of type T cannot be
  // test-run by the kernel"; check can_test_run first), or when CPU 0 is not available.
  KernelRun run(const std::string& prog, std::span<const uint8_t> packet, std::span<const uint8_t> ctx_in = {},
                uint32_t repeat = 1);

  // Nanoseconds per run of `prog` on `packet` in the kernel, for benchmarks: the slope between a
  // run() of `repeat` repetitions and one of a tenth as many, each timed with CLOCK_MONOTONIC.
  // A test-run call with repetitions has a fixed cost of its own (about 0.3 ms on Linux 6.18 on
  // the 2-core VM, whatever the count above 1): one call's time divided by its count would add it
  // to every run (3 ns at 100,000 repetitions); the slope leaves it out. Errors as run().
  double ns_per_run(const std::string& prog, std::span<const uint8_t> packet, std::span<const uint8_t> ctx_in,
                    uint32_t repeat);

  // Attaches program `prog` where its section name says (libbpf's automatic attach: kprobes,
  // tracepoints, ...) until the returned handle is released. InputError naming the file and the
  // program when libbpf cannot (an unknown kernel function, a section with no automatic attach).
  std::shared_ptr<void> attach(const std::string& prog);

  // Every map's contents now, in the object's map order, as described at the top of this file.
  std::vector<MapContents> dump() const;

  // Puts every map back as it was right after load(): arrays hold zero or their initial global
  // data again, keyed maps and prog arrays are emptied, pending ring buffer records dropped and
  // kept records forgotten. Frozen maps (.rodata, .kconfig) cannot change and are left alone.
  // Far cheaper than loading again, which re-runs the verifier.
  void reset();

  KernelObject(KernelObject&&) noexcept;
  KernelObject& operator=(KernelObject&&) noexcept;
  KernelObject(const KernelObject&) = delete;
  KernelObject& operator=(const KernelObject&) = delete;
  ~KernelObject();

 private:
  struct Impl;
  explicit KernelObject(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tristate
