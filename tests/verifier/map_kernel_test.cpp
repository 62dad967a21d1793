// The interpreter's maps against real kernel maps: the same operation sequences through libbpf's
// bpf_map_* calls and through MapInstance must give the same error codes and leave the same
// contents. User-side calls reach the same map_ops functions as the helpers, except where noted.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "compiler/hex.hpp"
#include "compiler/maps.hpp"
#include "tests/support/kernel.hpp"
#include "verifier/kernel_oracle.hpp"

using namespace tristate;

namespace {

bool require_bpf() {
  std::string why;  // read by reference after the probe has filled it
  return test::kernel_test_may_run(kernel_bpf_available(&why), why, "the map/kernel cross-check");
}

Bytes u32(uint32_t v) {
  Bytes b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

Bytes lpm(uint32_t prefixlen, std::initializer_list<uint8_t> data) {
  Bytes b = u32(prefixlen);
  b.insert(b.end(), data);
  return b;
}

MapDef make_def(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, uint32_t flags = 0) {
  return {.name = "xcheck", .type = type, .key_size = key_size, .value_size = value_size, .max_entries = max_entries, .flags = flags};
}

// A kernel map, closed on destruction.
struct KernelMap {
  int fd = -1;
  explicit KernelMap(const MapDef& d) {
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = d.flags);
    fd = bpf_map_create(bpf_map_type(d.type), "xcheck", d.key_size, d.value_size, d.max_entries, &opts);
    if (fd < 0) FAIL("bpf_map_create(type " << d.type << ") failed: " << std::strerror(errno));
  }
  ~KernelMap() {
    if (fd >= 0) ::close(fd);
  }
  KernelMap(const KernelMap&) = delete;
  KernelMap& operator=(const KernelMap&) = delete;
};

unsigned possible_cpus() { return unsigned(libbpf_num_possible_cpus()); }

struct Op {
  enum Kind { Update, Delete, Lookup } kind;
  Bytes key;
  Bytes value = {};
  uint64_t flags = BPF_ANY;
};

Op upd(Bytes key, Bytes value, uint64_t flags = BPF_ANY) { return {Op::Update, std::move(key), std::move(value), flags}; }
Op del(Bytes key) { return {Op::Delete, std::move(key)}; }
Op get(Bytes key) { return {Op::Lookup, std::move(key)}; }

// Runs `ops` on both; per-CPU maps compare return codes only (user-side updates write every
// CPU, the helper one). Lookups compare presence and, for other maps, the value.
void run_both(const MapDef& def, const std::vector<Op>& ops) {
  KernelMap k(def);
  const unsigned ncpus = possible_cpus();
  MapInstance m(def, ncpus);
  const bool per_cpu = is_per_cpu(def.type);
  const std::size_t value_bytes = per_cpu ? ncpus * ((def.value_size + 7) & ~7u) : def.value_size;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    INFO("op " << i << " key " << to_hex(op.key) << " value " << to_hex(op.value) << " flags " << op.flags);
    switch (op.kind) {
      case Op::Update: {
        Bytes value = op.value;
        if (per_cpu) {
          // The user side gives every CPU's value, each 8-aligned; the model's update writes one.
          Bytes all;
          for (unsigned c = 0; c < ncpus; ++c) {
            all.insert(all.end(), op.value.begin(), op.value.end());
            all.resize(all.size() + ((def.value_size + 7) & ~7u) - def.value_size);
          }
          value = all;
        }
        const int kernel = bpf_map_update_elem(k.fd, op.key.data(), value.data(), op.flags);
        CHECK(m.update(op.key, op.value, op.flags, 0) == kernel);
        break;
      }
      case Op::Delete: CHECK(m.remove(op.key) == bpf_map_delete_elem(k.fd, op.key.data())); break;
      case Op::Lookup: {
        Bytes out(std::max<std::size_t>(value_bytes, 8));
        const int kernel = bpf_map_lookup_elem(k.fd, op.key.data(), out.data());
        const uint8_t* mine = m.lookup(op.key, 0);
        CHECK((mine != nullptr) == (kernel == 0));
        if (mine && kernel == 0 && !per_cpu) CHECK(to_hex(Bytes(mine, mine + def.value_size)) == to_hex(Bytes(out.begin(), out.begin() + def.value_size)));
        break;
      }
    }
  }
  if (per_cpu || def.type == BPF_MAP_TYPE_PROG_ARRAY) return;
  // The kernel's contents, read with get_next_key and lookup, against the model's dump.
  std::vector<std::string> kernel_entries, model_entries;
  Bytes key(def.key_size), next(def.key_size), value(std::max<uint32_t>(def.value_size, 8));
  for (int rc = bpf_map_get_next_key(k.fd, nullptr, next.data()); rc == 0;
       rc = bpf_map_get_next_key(k.fd, key.data(), next.data())) {
    key = next;
    if (bpf_map_lookup_elem(k.fd, key.data(), value.data()) == 0)  // devmap/cpumap list empty slots too
      kernel_entries.push_back(to_hex(key) + "=" + to_hex(Bytes(value.begin(), value.begin() + def.value_size)));
  }
  for (const MapEntry& e : m.dump().entries) model_entries.push_back(to_hex(e.key) + "=" + to_hex(e.values.at(0)));
  std::sort(kernel_entries.begin(), kernel_entries.end());
  std::sort(model_entries.begin(), model_entries.end());
  CHECK(kernel_entries == model_entries);
}

std::vector<Op> hash_ops() {
  return {upd(u32(1), u32(10), BPF_NOEXIST), upd(u32(1), u32(11), BPF_NOEXIST), upd(u32(2), u32(20), BPF_EXIST),
          upd(u32(2), u32(20), BPF_ANY),     upd(u32(3), u32(30), BPF_ANY),     upd(u32(3), u32(30), BPF_NOEXIST),
          upd(u32(1), u32(12), BPF_EXIST),   upd(u32(1), u32(12), 3),           upd(u32(1), u32(12), 8),
          get(u32(1)),                       get(u32(3)),                       del(u32(9)),
          del(u32(1)),                       del(u32(1)),                       upd(u32(3), u32(31), BPF_NOEXIST),
          get(u32(3))};
}

}  // namespace

TEST_CASE("hash maps: flags, capacity and delete agree with the kernel", "[maps][kernel]") {
  if (!require_bpf()) return;
  SECTION("hash") { run_both(make_def(BPF_MAP_TYPE_HASH, 4, 4, 2), hash_ops()); }
  SECTION("hash without preallocation") { run_both(make_def(BPF_MAP_TYPE_HASH, 4, 4, 2, BPF_F_NO_PREALLOC), hash_ops()); }
  SECTION("per-CPU hash") { run_both(make_def(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 2), hash_ops()); }
}

TEST_CASE("arrays: range, NOEXIST and delete agree with the kernel", "[maps][kernel]") {
  if (!require_bpf()) return;
  const std::vector<Op> ops = {upd(u32(3), u32(1)),          upd(u32(3), u32(1), BPF_NOEXIST), upd(u32(1), u32(1), BPF_NOEXIST),
                               upd(u32(1), u32(7), BPF_EXIST), upd(u32(1), u32(1), 3),           upd(u32(0), u32(5)),
                               del(u32(1)),                    del(u32(7)),                      get(u32(1)),
                               get(u32(3)),                    get(u32(0xffffffff))};
  SECTION("array") { run_both(make_def(BPF_MAP_TYPE_ARRAY, 4, 4, 3), ops); }
  SECTION("per-CPU array") { run_both(make_def(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 3), ops); }
}

TEST_CASE("LPM trie: longest match, exact delete, ENOSPC agree with the kernel", "[maps][kernel]") {
  if (!require_bpf()) return;
  run_both(make_def(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4, BPF_F_NO_PREALLOC),
           {upd(lpm(33, {1, 2, 3, 4}), u32(1)),
            upd(lpm(8, {10, 0, 0, 0}), u32(1)),
            upd(lpm(24, {10, 0, 10, 0}), u32(2), BPF_NOEXIST),
            upd(lpm(24, {10, 0, 10, 99}), u32(3), BPF_NOEXIST),  // the same prefix
            upd(lpm(24, {10, 0, 10, 99}), u32(3), BPF_EXIST),    // keeps the .99 in its key
            upd(lpm(32, {10, 0, 10, 123}), u32(4)),
            upd(lpm(0, {0, 0, 0, 0}), u32(5), BPF_EXIST),
            upd(lpm(0, {7, 7, 7, 7}), u32(5), BPF_NOEXIST),  // /0: matches everything
            upd(lpm(16, {10, 0, 0, 0}), u32(6)),              // full
            upd(lpm(16, {10, 0, 0, 0}), u32(6), BPF_EXIST),
            upd(lpm(32, {10, 0, 10, 123}), u32(7)),          // replacing in a full trie
            get(lpm(32, {10, 0, 10, 123})),
            get(lpm(32, {10, 0, 10, 124})),
            get(lpm(31, {10, 0, 10, 123})),
            get(lpm(23, {10, 0, 10, 123})),
            get(lpm(32, {10, 1, 0, 0})),
            get(lpm(32, {11, 0, 0, 0})),
            get(lpm(7, {10, 0, 0, 0})),
            get(lpm(33, {10, 0, 10, 123})),
            del(lpm(33, {10, 0, 10, 123})),
            del(lpm(23, {10, 0, 10, 0})),
            del(lpm(24, {10, 0, 10, 0xff})),
            del(lpm(24, {10, 0, 10, 0})),
            get(lpm(32, {10, 0, 10, 124})),
            del(lpm(0, {1, 1, 1, 1})),
            get(lpm(32, {11, 0, 0, 0}))});
}

TEST_CASE("devmap, devmap hash and cpumap agree with the kernel", "[maps][kernel]") {
  if (!require_bpf()) return;
  const uint32_t lo = 1;  // the loopback device's ifindex
  SECTION("devmap") {
    run_both(make_def(BPF_MAP_TYPE_DEVMAP, 4, 4, 4),
             {del(u32(0)), del(u32(4)), upd(u32(0), u32(lo), BPF_NOEXIST), upd(u32(0), u32(lo), BPF_EXIST),
              upd(u32(4), u32(lo)), upd(u32(0), u32(lo), 3), upd(u32(2), u32(lo)), get(u32(0)), get(u32(1)),
              upd(u32(2), u32(0)), get(u32(2)), del(u32(0))});
  }
  SECTION("devmap hash") {
    run_both(make_def(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 2),
             {upd(u32(9), u32(lo), BPF_EXIST), upd(u32(9), u32(lo), BPF_NOEXIST), upd(u32(5), u32(0)),
              upd(u32(0x100), u32(lo)), upd(u32(1), u32(lo)), upd(u32(9), u32(lo), 3), del(u32(1)), get(u32(9)),
              get(u32(1))});
  }
  SECTION("cpumap") {
    const uint32_t ncpus = possible_cpus();
    run_both(make_def(BPF_MAP_TYPE_CPUMAP, 4, 4, ncpus + 1),
             {upd(u32(0), u32(16385)), upd(u32(ncpus), u32(64)), upd(u32(ncpus + 1), u32(64)), upd(u32(0), u32(64), BPF_NOEXIST),
              upd(u32(0), u32(64)), get(u32(0)), upd(u32(0), u32(0)), get(u32(0)), del(u32(0)), del(u32(ncpus + 1))});
  }
}

TEST_CASE("prog array: flags, range and delete agree with the kernel", "[maps][kernel]") {
  if (!require_bpf()) return;
  const std::vector<Insn> ret0 = {make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 0, 0, 0, 0), make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0)};
  const KernelProgram prog = KernelProgram::load(ret0, BPF_PROG_TYPE_SOCKET_FILTER, "tail");
  const MapDef def = make_def(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4);
  KernelMap k(def);
  MapInstance m(def, possible_cpus());
  const auto both = [&](int kernel, int64_t mine) { CHECK(mine == kernel); };
  const uint32_t fd = uint32_t(prog.fd());
  const Bytes index0 = u32(0);  // the model's value: the program's index in its module
  both(bpf_map_update_elem(k.fd, u32(1).data(), &fd, BPF_NOEXIST), m.update(u32(1), index0, BPF_NOEXIST, 0));
  both(bpf_map_update_elem(k.fd, u32(1).data(), &fd, BPF_EXIST), m.update(u32(1), index0, BPF_EXIST, 0));
  both(bpf_map_update_elem(k.fd, u32(4).data(), &fd, BPF_ANY), m.update(u32(4), index0, BPF_ANY, 0));
  both(bpf_map_update_elem(k.fd, u32(1).data(), &fd, BPF_ANY), m.update(u32(1), index0, BPF_ANY, 0));
  both(bpf_map_delete_elem(k.fd, u32(1).data()), m.remove(u32(1)));
  both(bpf_map_delete_elem(k.fd, u32(1).data()), m.remove(u32(1)));
  both(bpf_map_delete_elem(k.fd, u32(4).data()), m.remove(u32(4)));
}

namespace {

// A socket filter that calls bpf_ringbuf_output(ring, r10 - 8, size, flags) once and returns its
// result.
std::vector<Insn> ringbuf_program(int map_fd, int32_t size, int32_t flags) {
  return {
      make_insn(bpf::ST | bpf::MEM | bpf::DW, 10, 0, -8, 0),
      make_insn(bpf::LD | bpf::DW | bpf::IMM, 1, bpf::PSEUDO_MAP_FD, 0, map_fd),
      make_insn(0, 0, 0, 0, 0),
      make_insn(bpf::ALU64 | bpf::MOV | bpf::X, 2, 10, 0, 0),
      make_insn(bpf::ALU64 | bpf::ADD | bpf::K, 2, 0, 0, -8),
      make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 3, 0, 0, size),
      make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 4, 0, 0, flags),
      make_insn(bpf::JMP | bpf::CALL, 0, 0, 0, BPF_FUNC_ringbuf_output),
      make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0),
  };
}

}  // namespace

TEST_CASE("ring buffer: the kernel fills at size - 1 bytes and takes both wakeup flags", "[maps][kernel]") {
  if (!require_bpf()) return;
  const MapDef def = make_def(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
  const std::vector<uint8_t> packet(64, 0);
  for (const int32_t flags : {0, 3, 4}) {
    INFO("flags " << flags);
    KernelMap k(def);
    MapInstance m(def, possible_cpus());
    const KernelProgram prog = KernelProgram::load(ringbuf_program(k.fd, 8, flags), BPF_PROG_TYPE_SOCKET_FILTER, "ringbuf");
    // 255 records of 16 bytes take 4080 of the 4096 bytes; the 256th would leave no byte free.
    const KernelRun first = prog.run(packet, 255);
    int64_t mine = 0;
    for (int i = 0; i < 255; ++i) mine = m.ringbuf_output(Bytes(8), uint64_t(flags));
    CHECK(int32_t(first.retval) == mine);
    const KernelRun last = prog.run(packet, 1);
    CHECK(int32_t(last.retval) == m.ringbuf_output(Bytes(8), uint64_t(flags)));
    if (flags != 4) CHECK(int32_t(last.retval) == -EAGAIN);
  }
}
