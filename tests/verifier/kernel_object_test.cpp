// The whole-object kernel oracle against the running kernel, on the corpus and on small objects
// compiled here. On the project's machines (root, Linux 6.18) bpf() must work, so an unavailable
// bpf() fails every test unless TRISTATE_ALLOW_NO_BPF=1.
#include "verifier/kernel_object.hpp"

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "compiler/clang.hpp"
#include "compiler/error.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/process.hpp"

using namespace tristate;

namespace {

// Every test here needs bpf(); see tests/support/kernel.hpp for what happens without it.
#define REQUIRE_BPF()                                                                               \
  do {                                                                                              \
    std::string why;                                                                                \
    if (!test::kernel_test_may_run(kernel_bpf_available(&why), why, "the kernel object test")) return; \
  } while (0)

std::string progs_dir() {
  const std::string d = test::env("TRISTATE_PROGS_DIR");
  if (d.empty()) FAIL("TRISTATE_PROGS_DIR is not set (the test main sets it; it is <build>/benchmarks/progs)");
  return d;
}

std::string corpus(const std::string& name) { return progs_dir() + "/" + name; }

std::vector<std::string> corpus_objects() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(progs_dir())) {
    const std::string name = e.path().filename().string();
    if (name.ends_with(".v3.o") || name.ends_with(".v4.o")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A 64-byte Ethernet / IPv4 / UDP packet from 10.0.0.1:1234 to 10.0.0.2:`dport`.
std::vector<uint8_t> udp_packet(uint16_t dport) {
  std::vector<uint8_t> p(64, 0);
  const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
  std::memcpy(p.data(), eth, sizeof eth);
  uint8_t* ip = p.data() + 14;
  const uint8_t iph[20] = {0x45, 0, 0, 50, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  std::memcpy(ip, iph, sizeof iph);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += uint32_t(ip[i] << 8 | ip[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = uint8_t(~sum >> 8);
  ip[11] = uint8_t(~sum);
  uint8_t* udp = ip + 20;
  const uint8_t udph[8] = {0x04, 0xd2, uint8_t(dport >> 8), uint8_t(dport), 0, 30, 0, 0};
  std::memcpy(udp, udph, sizeof udph);
  for (std::size_t i = 42; i < 64; ++i) p[i] = uint8_t(i);
  return p;
}

// The host-endian bytes of `v`, as map keys and values hold numbers.
template <typename T>
Bytes bytes_of(T v) {
  Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}
Bytes u32_bytes(uint32_t v) { return bytes_of(v); }
Bytes u64_bytes(uint64_t v) { return bytes_of(v); }

const MapContents& find_map(const std::vector<MapContents>& dump, const std::string& name) {
  for (const MapContents& c : dump)
    if (c.name == name) return c;
  FAIL("no map " << name << " in the dump");
  throw std::logic_error("unreachable");
}

// Compiles BPF C `source` into `dir` and returns the object's path.
std::string compile(const test::TempDir& dir, const std::string& name, const std::string& source) {
  CompileOptions o;
  o.source = dir.write(name + ".c", source);
  o.output = dir.file(name + ".o");
  REQUIRE(compile_c(o).exit_code == 0);
  return o.output;
}

// The InputError that loading or running throws, as (where, message).
template <typename F>
InputError input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e;
  }
  FAIL("no InputError was thrown");
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("every corpus object loads and its packet programs run on an IPv4/UDP packet", "[kernel_object]") {
  REQUIRE_BPF();
  const std::vector<std::string> objects = corpus_objects();
  REQUIRE(objects.size() >= 52);  // 26 programs, each for -mcpu=v3 and v4
  const std::vector<uint8_t> packet = udp_packet(53);
  std::size_t ran = 0, not_runnable = 0;
  for (const std::string& path : objects) {
    INFO(path);
    KernelObject obj = KernelObject::load(path);
    REQUIRE_FALSE(obj.programs().empty());
    const std::vector<MapContents> dump = obj.dump();
    REQUIRE(dump.size() == obj.maps().size());
    for (std::size_t i = 0; i < dump.size(); ++i) CHECK(dump[i].name == obj.maps()[i]);
    for (const std::string& prog : obj.programs()) {
      INFO(prog);
      if (!obj.can_test_run(prog)) {
        ++not_runnable;
        continue;
      }
      const KernelRun r = obj.run(prog, packet);
      ++ran;
      CHECK(r.packet_out.size() == packet.size());
      if (prog.starts_with("xdp_"))
        CHECK(r.retval <= XDP_REDIRECT);
      else if (prog.starts_with("tc_"))
        CHECK(r.retval == TC_ACT_OK);
    }
  }
  CHECK(ran == 2 * 24);          // every program but the three tracing ones, in both objects
  CHECK(not_runnable == 2 * 3);  // tracepoint_count has two programs, kprobe_count one
}

TEST_CASE("a corpus program's verdict depends on the packet", "[kernel_object]") {
  REQUIRE_BPF();
  KernelObject obj = KernelObject::load(corpus("xdp_drop_proto.v4.o"));
  CHECK(obj.run("xdp_drop_proto", udp_packet(53)).retval == XDP_PASS);
  CHECK(obj.run("xdp_drop_proto", udp_packet(19)).retval == XDP_DROP);  // chargen
  const KernelRun r = obj.run("xdp_drop_proto", udp_packet(11211));   // memcached
  CHECK(r.retval == XDP_DROP);
  CHECK(r.packet_out == udp_packet(11211));
}

TEST_CASE("a per-CPU counter changes only in CPU 0's copy", "[kernel_object]") {
  REQUIRE_BPF();
  KernelObject obj = KernelObject::load(corpus("xdp_count_percpu.v3.o"));
  REQUIRE(obj.ncpus() >= 1);
  // Start from the last CPU the thread may use, so a run that stayed there would show.
  cpu_set_t before;
  REQUIRE(sched_getaffinity(0, sizeof before, &before) == 0);
  int last = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &before)) last = cpu;
  cpu_set_t elsewhere;
  CPU_ZERO(&elsewhere);
  CPU_SET(last, &elsewhere);
  REQUIRE(sched_setaffinity(0, sizeof elsewhere, &elsewhere) == 0);
  const std::vector<uint8_t> packet = udp_packet(53);
  const uint32_t r1 = obj.run("xdp_count_percpu", packet).retval;
  const uint32_t r2 = obj.run("xdp_count_percpu", packet, {}, 3).retval;
  cpu_set_t after;
  REQUIRE(sched_getaffinity(0, sizeof after, &after) == 0);
  REQUIRE(sched_setaffinity(0, sizeof before, &before) == 0);
  CHECK(CPU_EQUAL(&after, &elsewhere));  // run() gave the affinity back
  CHECK(r1 == XDP_PASS);
  CHECK(r2 == XDP_PASS);

  const std::vector<MapContents> dump = obj.dump();
  const MapContents& stats = find_map(dump, "rxq_stats");
  REQUIRE(stats.entries.size() == 64);  // every index of the array
  const Bytes zero(16, 0);
  for (std::size_t i = 0; i < stats.entries.size(); ++i) {
    const MapEntry& e = stats.entries[i];
    INFO("index " << i);
    CHECK(e.key == u32_bytes(uint32_t(i)));
    REQUIRE(e.values.size() == obj.ncpus());
    for (unsigned cpu = 0; cpu < obj.ncpus(); ++cpu) {
      INFO("cpu " << cpu);
      Bytes want = zero;
      if (i == 0 && cpu == 0) {  // rx_queue_index 0; {rx_packets, rx_bytes}
        want = u64_bytes(4);
        const Bytes bytes = u64_bytes(4 * 64);
        want.insert(want.end(), bytes.begin(), bytes.end());
      }
      CHECK(e.values[cpu] == want);
    }
  }
}

TEST_CASE("seeded maps dump back in key order, one value per CPU for per-CPU maps", "[kernel_object]") {
  REQUIRE_BPF();
  const std::string data = test::env("TRISTATE_TEST_DATA_DIR");
  REQUIRE_FALSE(data.empty());
  KernelObject obj = KernelObject::load(data + "/maps.o");
  const unsigned ncpus = obj.ncpus();

  MapContents hash{"hash_map", {}, {}};
  hash.entries.push_back({u32_bytes(0x0001), {u64_bytes(1)}});  // 01 00 00 00
  hash.entries.push_back({u32_bytes(0x0200), {u64_bytes(2)}});  // 00 02 00 00: bytewise first
  MapContents percpu{"percpu", {}, {}};
  percpu.entries.push_back({u32_bytes(3), {Bytes(16, 0xab)}});  // one value: every CPU
  std::vector<Bytes> each;
  for (unsigned cpu = 0; cpu < ncpus; ++cpu) each.push_back(Bytes(16, uint8_t(cpu + 1)));
  percpu.entries.push_back({u32_bytes(5), each});
  MapContents lru{"lru", {}, {}};
  lru.entries.push_back({Bytes(12, 7), {Bytes(24, 9)}});
  obj.seed({hash, percpu, lru});

  const std::vector<MapContents> dump = obj.dump();
  REQUIRE(dump.size() == 4);
  CHECK(dump[0].name == "hash_map");
  CHECK(dump[0].entries == std::vector<MapEntry>{hash.entries[1], hash.entries[0]});
  const MapContents& pc = dump[1];
  REQUIRE(pc.entries.size() == 16);
  CHECK(pc.entries[3].values == std::vector<Bytes>(ncpus, Bytes(16, 0xab)));
  CHECK(pc.entries[5].values == each);
  CHECK(pc.entries[4].values == std::vector<Bytes>(ncpus, Bytes(16, 0)));
  CHECK(dump[2].entries == lru.entries);
  CHECK(dump[3].name == "events");
  CHECK(dump[3].entries.empty());
  CHECK(dump[3].records.empty());

  SECTION("reset empties hash maps and zeroes arrays") {
    obj.reset();
    const std::vector<MapContents> after = obj.dump();
    CHECK(after[0].entries.empty());
    CHECK(after[2].entries.empty());
    for (const MapEntry& e : after[1].entries) CHECK(e.values == std::vector<Bytes>(ncpus, Bytes(16, 0)));
  }

  SECTION("seed errors name the map and the entry") {
    const auto unknown = input_error([&] { obj.seed({MapContents{"nope", {}, {}}}); });
    CHECK(unknown.where().file == data + "/maps.o");
    CHECK_THAT(unknown.reason(), Catch::Contains("no map named 'nope'") && Catch::Contains("hash_map"));
    MapContents bad_key{"hash_map", {{Bytes(3, 0), {u64_bytes(0)}}}, {}};
    CHECK_THAT(input_error([&] { obj.seed({bad_key}); }).reason(),
               Catch::Contains("map 'hash_map' entry 0") && Catch::Contains("key of 3 bytes"));
    MapContents two_values{"percpu", {{u32_bytes(0), {Bytes(16, 0), Bytes(16, 0)}}}, {}};
    if (ncpus != 2)
      CHECK_THAT(input_error([&] { obj.seed({two_values}); }).reason(), Catch::Contains("2 values given"));
    MapContents past_end{"percpu", {{u32_bytes(16), {Bytes(16, 0)}}}, {}};
    CHECK_THAT(input_error([&] { obj.seed({past_end}); }).reason(), Catch::Contains("E2BIG"));
  }
}

TEST_CASE("reset brings global data and counters back to their state after load", "[kernel_object]") {
  REQUIRE_BPF();
  KernelObject obj = KernelObject::load(corpus("xdp_global_data.v4.o"));
  const std::vector<MapContents> loaded = obj.dump();
  // .data starts with `seq = 1` (libbpf wrote the section's bytes into the map).
  const MapContents& data = find_map(loaded, "xdp_glob.data");
  REQUIRE(data.entries.size() == 1);
  CHECK(data.entries[0].values[0] == u64_bytes(1));

  const std::vector<uint8_t> packet = udp_packet(53);
  for (int i = 0; i < 3; ++i) obj.run("xdp_global_data", packet);
  const std::vector<MapContents> ran = obj.dump();
  CHECK(ran != loaded);
  CHECK(find_map(ran, "xdp_glob.data") != data);

  obj.reset();
  CHECK(obj.dump() == loaded);
  // The same load serves another run from the same start.
  obj.run("xdp_global_data", packet);
  obj.run("xdp_global_data", packet);
  obj.run("xdp_global_data", packet);
  CHECK(obj.dump() == ran);
}

TEST_CASE("the frozen .rodata cannot be seeded", "[kernel_object]") {
  REQUIRE_BPF();
  KernelObject obj = KernelObject::load(corpus("xdp_global_data.v3.o"));
  const MapContents rodata = find_map(obj.dump(), "xdp_glob.rodata");  // a copy
  REQUIRE(rodata.entries.size() == 1);
  const auto e = input_error([&] { obj.seed({rodata}); });
  CHECK_THAT(e.reason(), Catch::Contains("EPERM") && Catch::Contains("frozen"));
}

TEST_CASE("ring buffer records and prog array entries round-trip", "[kernel_object]") {
  REQUIRE_BPF();
  test::TempDir dir;
  const std::string path = compile(dir, "ring", R"(
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u32);
} jumps SEC(".maps");
SEC("xdp") int xdp_emit(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  if (data + 8 > end) return XDP_ABORTED;
  __u64 head;  /* helpers may not read the packet: copy it to the stack */
  __builtin_memcpy(&head, data, 8);
  bpf_ringbuf_output(&events, &head, 8, 0);
  __u32 n = 0x11223344;
  bpf_ringbuf_output(&events, &n, sizeof n, 0);
  bpf_tail_call(ctx, &jumps, 2);
  return XDP_PASS;
}
SEC("xdp") int xdp_target(struct xdp_md *ctx) { return XDP_DROP; }
char LICENSE[] SEC("license") = "GPL";
)");
  KernelObject obj = KernelObject::load(path);
  REQUIRE(obj.programs() == std::vector<std::string>{"xdp_emit", "xdp_target"});
  const std::vector<uint8_t> packet = udp_packet(53);
  CHECK(obj.run("xdp_emit", packet).retval == XDP_PASS);  // the tail call finds nothing

  obj.seed({MapContents{"jumps", {{u32_bytes(2), {u32_bytes(1)}}}, {}}});  // program index 1
  CHECK(obj.run("xdp_emit", packet).retval == XDP_DROP);

  const std::vector<MapContents> dump = obj.dump();
  const Bytes first8(packet.begin(), packet.begin() + 8);
  const std::vector<Bytes> records = {first8, u32_bytes(0x11223344), first8, u32_bytes(0x11223344)};
  CHECK(dump[0].name == "events");
  CHECK(dump[0].records == records);
  CHECK(dump[1].entries == std::vector<MapEntry>{{u32_bytes(2), {u32_bytes(1)}}});
  CHECK(obj.dump() == dump);  // consumed records are kept

  obj.run("xdp_emit", packet);
  obj.reset();
  const std::vector<MapContents> after = obj.dump();
  CHECK(after[0].records.empty());
  CHECK(after[1].entries.empty());
  CHECK(obj.run("xdp_emit", packet).retval == XDP_PASS);

  CHECK_THAT(input_error([&] { obj.seed({MapContents{"jumps", {{u32_bytes(0), {u32_bytes(2)}}}, {}}}); }).reason(),
             Catch::Contains("program index 2") && Catch::Contains("2 programs"));
  CHECK_THAT(input_error([&] { obj.seed({MapContents{"events", {}, {Bytes(8, 0)}}}); }).reason(),
             Catch::Contains("cannot be seeded"));
}

TEST_CASE("devmap slots dump as the kernel stores them and reset empties them", "[kernel_object]") {
  REQUIRE_BPF();
  KernelObject obj = KernelObject::load(corpus("xdp_redirect_map.v3.o"));
  CHECK(find_map(obj.dump(), "tx_ports").entries.empty());  // no slot is occupied after load
  obj.seed({MapContents{"tx_ports", {{u32_bytes(5), {u32_bytes(1)}}}, {}}});  // ifindex 1: lo
  CHECK(find_map(obj.dump(), "tx_ports").entries == std::vector<MapEntry>{{u32_bytes(5), {u32_bytes(1)}}});
  obj.reset();
  CHECK(find_map(obj.dump(), "tx_ports").entries.empty());
}

TEST_CASE("tracepoint programs cannot be test-run, and say so", "[kernel_object]") {
  REQUIRE_BPF();
  const std::string path = corpus("tracepoint_count.v3.o");
  KernelObject obj = KernelObject::load(path);
  CHECK_FALSE(obj.can_test_run("tp_sys_enter_execve"));
  const auto e = input_error([&] { obj.run("tp_sys_enter_execve", udp_packet(53)); });
  CHECK(e.where().file == path);
  CHECK(e.where().prog == "tp_sys_enter_execve");
  CHECK_THAT(e.reason(), Catch::StartsWith("programs of type tracepoint cannot be test-run by the kernel") &&
                             Catch::Contains("ENOTSUPP"));
  CHECK_THAT(input_error([&] { obj.can_test_run("nope"); }).reason(),
             Catch::Contains("tp_sys_enter_execve, tp_sched_process_exit"));
}

TEST_CASE("a refused program is named with the verifier's reason", "[kernel_object]") {
  REQUIRE_BPF();
  test::TempDir dir;
  const std::string path = compile(dir, "refused", R"(
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int xdp_fine(struct xdp_md *ctx) { return XDP_PASS; }
SEC("xdp") int xdp_unchecked(struct xdp_md *ctx) {
  unsigned char *data = (unsigned char *)(long)ctx->data;
  return data[20];  /* no bounds check against data_end */
}
char LICENSE[] SEC("license") = "GPL";
)");
  const auto e = input_error([&] { KernelObject::load(path); });
  CHECK(e.where().file == path);
  CHECK(e.where().prog == "xdp_unchecked");
  CHECK_THAT(e.reason(), Catch::Contains("EACCES") && Catch::Contains("invalid access to packet"));
}

TEST_CASE("a corrupt or missing file is an InputError naming it", "[kernel_object]") {
  REQUIRE_BPF();
  test::TempDir dir;
  const std::string good = test::read_file(corpus("xdp_parse.v3.o"));
  std::string bad = good.substr(0, good.size() / 2);  // cut in the middle of the sections
  bad[0] = 'X';                                        // and no ELF magic
  const std::string path = dir.write("corrupt.o", bad);
  const auto e = input_error([&] { KernelObject::load(path); });
  CHECK(e.where().file == path);
  CHECK_THAT(e.reason(), Catch::Contains("libbpf refuses the object"));
  const std::string missing = dir.file("missing.o");
  CHECK(input_error([&] { KernelObject::load(missing); }).where().file == missing);
}
