// The interpreter against the running kernel on every corpus program: each packet program runs on
// 200 generated packets (well-formed and malformed) and on one packet of every length from 0 to
// 1500, in both, with the
// same map contents (benchmarks/progs/NAME.maps.json seeds them), and after every packet the
// return value, the packet bytes and every map must be identical. Map state carries over from
// packet to packet in both, so stateful programs are compared over the whole sequence.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <linux/bpf.h>
#include <map>
#include <nlohmann/json.hpp>
#include <time.h>

#include "compiler/elf_reader.hpp"
#include "compiler/interpreter.hpp"
#include "tests/support/kernel.hpp"
#include "compiler/packet_gen.hpp"
#include "tests/support/corpus.hpp"
#include "tests/support/process.hpp"
#include "verifier/kernel_object.hpp"

namespace fs = std::filesystem;
using namespace tristate;

namespace {

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

// Map bytes (u64) that hold bpf_ktime_get_ns() values or are computed from elapsed time: the
// kernel's clock and the interpreter's Environment::ktime_ns (read just before each kernel run)
// cannot agree to the nanosecond, so these compare within a bound instead.
struct TimeField {
  const char* map;
  std::size_t offset;
  uint64_t slack;
};
constexpr uint64_t kClockSlackNs = 50'000'000;
constexpr TimeField kTimeFields[] = {
    {"flow_buckets", 0, kClockSlackNs},  // xdp_bpf2bpf: bucket.window_start
    // xdp_rate_limit: bucket.tokens, 1 << 16 per token, refilled at 1000 per second of elapsed time:
    // the clock slack's worth of tokens (50 ms: 50 tokens).
    {"rl_buckets", 0, (kClockSlackNs / 1'000'000) << 16},
    {"rl_buckets", 8, kClockSlackNs},    // xdp_rate_limit: bucket.last_ns
    {"syn_track", 0, kClockSlackNs},     // xdp_syn_guard: window.start_ns
};

bool values_match(const std::string& map, const Bytes& kernel, const Bytes& interp) {
  if (kernel.size() != interp.size()) return false;
  Bytes k = kernel, i = interp;
  for (const TimeField& t : kTimeFields) {
    if (map != t.map || t.offset + 8 > k.size()) continue;
    uint64_t kt = 0, it = 0;
    std::memcpy(&kt, &k[t.offset], 8);
    std::memcpy(&it, &i[t.offset], 8);
    if ((kt == 0) != (it == 0) || (kt > it ? kt - it : it - kt) > t.slack) return false;
    std::fill_n(k.begin() + long(t.offset), 8, 0);
    std::fill_n(i.begin() + long(t.offset), 8, 0);
  }
  return k == i;
}

// The first difference between the kernel's maps and the interpreter's, or "".
std::string map_difference(const std::vector<MapContents>& kernel, const std::vector<MapContents>& interp) {
  if (kernel.size() != interp.size()) return "different numbers of maps";
  for (std::size_t m = 0; m < kernel.size(); ++m) {
    const MapContents& k = kernel[m];
    const MapContents& i = interp[m];
    if (k.records != i.records) return k.name + ": different ring buffer records";
    if (k.entries.size() != i.entries.size())
      return k.name + ": kernel has " + std::to_string(k.entries.size()) + " entries, interpreter " +
             std::to_string(i.entries.size());
    for (std::size_t e = 0; e < k.entries.size(); ++e) {
      const MapEntry& ke = k.entries[e];
      const MapEntry& ie = i.entries[e];
      bool same = ke.key == ie.key && ke.values.size() == ie.values.size();
      for (std::size_t c = 0; same && c < ke.values.size(); ++c) same = values_match(k.name, ke.values[c], ie.values[c]);
      if (!same) return k.name + ": entry " + std::to_string(e) + " differs";
    }
  }
  return "";
}

std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t c : b) s += {d[c >> 4], d[c & 15]};
  return s;
}

struct Totals {
  std::size_t compared = 0, refused_by_both = 0, programs = 0, mismatches = 0;
  std::vector<std::string> interpreter_only;
};

// Runs every program of the object at `path` on `count` generated packets (and, with
// `every_length`, on one packet of every length from 0 to 1500 as well) in the kernel and the
// interpreter, maps seeded from `seeds` in both, and compares after every packet.
void differential(const fs::path& path, const nlohmann::json& seeds, std::size_t count, bool every_length, Totals& totals) {
  const Module module = read_elf(path.string());
  KernelObject kernel = KernelObject::load(path.string());
  std::vector<std::string> names;
  for (const auto& p : module.programs) names.push_back(p.name());

  for (std::size_t index = 0; index < module.programs.size(); ++index) {
    const std::string& name = names[index];
    const std::string label = path.filename().string() + ":" + name;
    MapSet maps(module.maps, kernel.ncpus());
    maps.seed_json(seeds, names, Location{path.string(), {}, {}});
    const Interpreter interp(module, maps);

    if (!kernel.can_test_run(name)) {
      // The kernel cannot run it (tracing); the interpreter must still run it without a fault.
      const PacketResult r = interp.run(index, RunInput{{}, std::vector<uint8_t>(64, 0)});
      INFO(label << ": " << (r.fault ? r.fault->reason : ""));
      CHECK(!r.fault);
      totals.interpreter_only.push_back(label);
      continue;
    }
    ++totals.programs;
    kernel.reset();
    std::vector<MapContents> seeded;
    for (const MapContents& m : maps.dump())
      if (seeds.contains(m.name)) seeded.push_back(m);
    kernel.seed(seeded);

    const uint64_t packet_seed = std::hash<std::string>{}(name) ^ path.filename().string().size();
    auto packets = generate_packets(count, packet_seed);
    if (every_length) {
      const auto more = packets_of_every_length(packet_seed);
      packets.insert(packets.end(), more.begin(), more.end());
    }
    std::map<std::size_t, std::vector<Bytes>> drained;
    for (std::size_t k = 0; k < packets.size(); ++k) {
      const auto& packet = packets[k];
      INFO(label << " packet " << k << " (" << describe(packet) << "): " << hex(packet));
      Environment env;
      std::optional<KernelRun> kr;
      std::string kernel_error;
      const uint64_t t0 = monotonic_ns();
      try {
        kr = kernel.run(name, packet);
      } catch (const InputError& e) {
        kernel_error = e.what();
      }
      env.ktime_ns = t0;
      std::optional<PacketResult> ir;
      std::string interp_error;
      try {
        ir = interp.run(index, RunInput{packet, {}}, env);
      } catch (const InputError& e) {
        interp_error = e.what();
      }
      ++totals.compared;
      if (!kr || !ir) {
        INFO("kernel: " << (kr ? "ran" : kernel_error) << "; interpreter: " << (ir ? "ran" : interp_error));
        CHECK(!kr);
        CHECK(!ir);
        if (!kr && !ir)
          ++totals.refused_by_both;
        else
          ++totals.mismatches;
        continue;
      }
      INFO("interpreter fault: " << (ir->fault ? ir->fault->reason + " at insn " + std::to_string(ir->fault->insn) : "none"));
      REQUIRE(!ir->fault);
      const bool same_r0 = kr->retval == uint32_t(ir->r0);
      const bool same_packet = kr->packet_out == ir->packet;
      // The kernel's ring buffers are drained by each dump (the consumer keeps the records); the
      // interpreter's are drained the same way here, so neither fills up over the packets.
      std::vector<MapContents> interp_maps = maps.dump();
      for (std::size_t m = 0; m < interp_maps.size(); ++m) {
        if (module.maps[m].type != BPF_MAP_TYPE_RINGBUF) continue;
        auto& acc = drained[m];
        acc.insert(acc.end(), interp_maps[m].records.begin(), interp_maps[m].records.end());
        interp_maps[m].records = acc;
        maps[m].clear();
      }
      const std::string maps_diff = map_difference(kernel.dump(), interp_maps);
      INFO("r0 kernel " << kr->retval << " interpreter " << ir->r0);
      INFO("packet kernel " << hex(kr->packet_out) << "\n  interpreter " << hex(ir->packet));
      INFO("maps: " << maps_diff);
      CHECK(same_r0);
      CHECK(same_packet);
      CHECK(maps_diff.empty());
      if (!same_r0 || !same_packet || !maps_diff.empty()) {
        ++totals.mismatches;
        break;  // the states have diverged; the rest of this program's packets would only repeat it
      }
    }
  }
}

}  // namespace

TEST_CASE("corpus programs: interpreter and kernel agree on r0, packet and maps for 200 packets and every length",
          "[kernel][differential][corpus]") {
  std::string why;
  if (!test::kernel_test_may_run(kernel_bpf_available(&why), why, "the corpus differential test")) return;

  const std::vector<fs::path> objects = test::corpus_objects();
  REQUIRE(objects.size() >= 28);

  Totals totals;
  for (const fs::path& path : objects) differential(path, test::corpus_seeds(path), 200, true, totals);
  std::cout << "corpus differential: compared " << totals.compared << " packet runs of " << totals.programs
            << " programs in " << objects.size() << " objects with the kernel (" << totals.refused_by_both
            << " refused by both as the kernel refuses them), " << totals.mismatches << " mismatches; "
            << totals.interpreter_only.size() << " tracing programs the kernel cannot test-run ran in the interpreter only\n";
  CHECK(totals.mismatches == 0);
  CHECK(totals.programs >= 24);
}

TEST_CASE("tail calls, ring buffer, LRU and per-CPU hash: interpreter and kernel agree", "[kernel][differential][tail_calls]") {
  std::string why;
  if (!test::kernel_test_may_run(kernel_bpf_available(&why), why, "the tail call differential test")) return;
  const fs::path path = fs::path(test::env("TRISTATE_TEST_DATA_DIR")) / "tail_calls.o";
  const auto seeds = nlohmann::json::parse(R"({"jump_table": {"entries": [{"key": 0, "value": "stage_a"},
                                                                           {"key": 1, "value": "stage_b"},
                                                                           {"key": 2, "value": "dispatch"}]}})");
  Totals totals;
  differential(path, seeds, 300, false, totals);
  std::cout << "tail call differential: compared " << totals.compared << " packet runs of " << totals.programs
            << " programs, " << totals.mismatches << " mismatches\n";
  CHECK(totals.mismatches == 0);
  CHECK(totals.programs == 3);
}
