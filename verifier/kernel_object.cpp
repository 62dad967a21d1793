#include "verifier/kernel_object.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <utility>

#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "compiler/hex.hpp"

namespace tristate {

namespace {

// Room for one refused program's verifier log; the kernel keeps the tail when it overflows.
constexpr std::size_t kLoadLogSize = 1 << 20;

// How user space sees a map's contents (see kernel_object.hpp).
enum class Layout {
  Array,    // every index holds a value
  FdArray,  // indices hold a value or nothing (lookups of empty slots give ENOENT)
  Keyed,    // keys found with BPF_MAP_GET_NEXT_KEY
  Ring,     // records read with ring_buffer__consume
  Opaque,   // not dumped, not seeded
};

Layout layout_of(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
      return Layout::Array;
    case BPF_MAP_TYPE_PROG_ARRAY:
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_CPUMAP:
      return Layout::FdArray;
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_LPM_TRIE:
    case BPF_MAP_TYPE_DEVMAP_HASH:
      return Layout::Keyed;
    case BPF_MAP_TYPE_RINGBUF:
      return Layout::Ring;
    default:  // xskmap (user-space lookups give EOPNOTSUPP), sockmap, queue, stack, map-in-map, ...
      return Layout::Opaque;
  }
}

// Program types whose BPF_PROG_TEST_RUN takes a packet in data_in and returns it in data_out.
// (The flow dissector's data_out is its flow keys, raw tracepoints take no packet.)
bool packet_test_run(uint32_t prog_type) {
  switch (prog_type) {
    case BPF_PROG_TYPE_XDP:
    case BPF_PROG_TYPE_SCHED_CLS:
    case BPF_PROG_TYPE_SCHED_ACT:
    case BPF_PROG_TYPE_SOCKET_FILTER:
    case BPF_PROG_TYPE_CGROUP_SKB:
    case BPF_PROG_TYPE_LWT_IN:
    case BPF_PROG_TYPE_LWT_OUT:
    case BPF_PROG_TYPE_LWT_XMIT:
    case BPF_PROG_TYPE_LWT_SEG6LOCAL:
      return true;
    default:
      return false;
  }
}

Bytes index_key(uint32_t i) {
  Bytes key(4);
  std::memcpy(key.data(), &i, 4);  // array keys are host-endian u32
  return key;
}

// While alive, the calling thread runs on CPU 0 only; its previous affinity comes back after.
class PinnedToCpu0 {
 public:
  explicit PinnedToCpu0(const Location& where) {
    if (::sched_getaffinity(0, sizeof saved_, &saved_) != 0)
      throw InputError(where, "sched_getaffinity failed: " + errno_text(errno));
    cpu_set_t cpu0;
    CPU_ZERO(&cpu0);
    CPU_SET(0, &cpu0);
    if (::sched_setaffinity(0, sizeof cpu0, &cpu0) != 0)
      throw InputError(where, "cannot pin the thread to CPU 0, where test runs must happen for per-CPU maps to be "
                              "deterministic: sched_setaffinity failed with " + errno_text(errno) +
                              " (is CPU 0 outside this process's cpuset?)");
  }
  ~PinnedToCpu0() { ::sched_setaffinity(0, sizeof saved_, &saved_); }
  PinnedToCpu0(const PinnedToCpu0&) = delete;
  PinnedToCpu0& operator=(const PinnedToCpu0&) = delete;

 private:
  cpu_set_t saved_;
};

// One ring buffer's consumer; `records` keeps what was consumed, in output order.
struct RingReader {
  ring_buffer* rb = nullptr;
  std::vector<Bytes> records;

  static int collect(void* ctx, void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    static_cast<RingReader*>(ctx)->records.emplace_back(p, p + size);
    return 0;
  }
  RingReader() = default;
  RingReader(const RingReader&) = delete;
  RingReader& operator=(const RingReader&) = delete;
  ~RingReader() {
    if (rb) ring_buffer__free(rb);
  }
};

struct ProgSlot {
  std::string name;
  uint32_t type = 0;
  int fd = -1;    // owned by the bpf_object
  bpf_program* prog = nullptr;  // owned by the bpf_object
  uint32_t id = 0;  // the kernel's program id: what prog array lookups return
};

struct MapSlot {
  std::string name;
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  int fd = -1;  // owned by the bpf_object
  bool per_cpu = false;
  bool frozen = false;  // libbpf freezes .rodata and .kconfig after writing them
  Layout layout = Layout::Opaque;
  std::unique_ptr<RingReader> ring;  // ring buffers only; heap-allocated: libbpf keeps its address
};

}  // namespace

struct KernelObject::Impl {
  Impl(std::string p, BpfObject o) : path(std::move(p)), obj(std::move(o)) {}

  std::string path;
  unsigned ncpus = 1;
  BpfObject obj;  // declared before the slots, so the ring readers are freed before the maps
  std::vector<ProgSlot> progs;
  std::vector<std::string> prog_names;  // progs' names, for programs()
  std::vector<MapSlot> maps;
  std::vector<MapContents> after_load;

  Location where(const std::string& prog = {}) const { return Location{path, prog, {}}; }

  const ProgSlot& program(const std::string& name) const {
    for (const ProgSlot& p : progs)
      if (p.name == name) return p;
    std::string known;
    for (const ProgSlot& p : progs) known += (known.empty() ? "" : ", ") + p.name;
    throw InputError(where(name), "no such program in the object; it has: " + known);
  }

  MapSlot& map(const std::string& name) {
    for (MapSlot& m : maps)
      if (m.name == name) return m;
    std::string known;
    for (const MapSlot& m : maps) known += (known.empty() ? "" : ", ") + m.name;
    throw InputError(where(), "no map named '" + name + "' in the object; it has: " + (known.empty() ? "no maps" : known));
  }

  // Bytes per CPU in a per-CPU value buffer: the kernel copies longs, so each value is rounded up.
  static std::size_t stride(const MapSlot& m) { return (std::size_t(m.value_size) + 7) / 8 * 8; }
  std::size_t buffer_size(const MapSlot& m) const { return m.per_cpu ? stride(m) * ncpus : m.value_size; }

  // The value buffer bpf_map_update_elem takes for `e` (prog arrays: index -> program fd).
  Bytes encode_value(const MapSlot& m, const MapEntry& e, const std::string& what) const {
    const std::size_t n = e.values.size();
    if (n == 0 || (n != 1 && (!m.per_cpu || n != ncpus)))
      throw InputError(where(), what + ": " + std::to_string(n) + " values given; " +
                                    (m.per_cpu ? "a per-CPU map takes one (for every CPU) or one per CPU (" +
                                                     std::to_string(ncpus) + ")"
                                               : std::string("the map takes one")));
    for (const Bytes& v : e.values)
      if (v.size() != m.value_size)
        throw InputError(where(), what + ": a value of " + std::to_string(v.size()) + " bytes, the map's values have " +
                                      std::to_string(m.value_size));
    if (m.type == BPF_MAP_TYPE_PROG_ARRAY) {
      uint32_t index = 0;
      std::memcpy(&index, e.values[0].data(), 4);
      if (index >= progs.size())
        throw InputError(where(), what + ": program index " + std::to_string(index) + ", the object has " +
                                      std::to_string(progs.size()) + " programs");
      Bytes buf(4);
      std::memcpy(buf.data(), &progs[index].fd, 4);
      return buf;
    }
    if (!m.per_cpu) return e.values[0];
    Bytes buf(buffer_size(m), 0);
    for (unsigned cpu = 0; cpu < ncpus; ++cpu) {
      const Bytes& v = e.values[n == 1 ? 0 : cpu];
      std::copy(v.begin(), v.end(), buf.begin() + std::ptrdiff_t(cpu * stride(m)));
    }
    return buf;
  }

  void write(MapSlot& m, const MapEntry& e, std::size_t i) {
    const std::string what = "map '" + m.name + "' entry " + std::to_string(i) + " (key " + to_hex(e.key) + ")";
    if (m.layout == Layout::Ring || m.layout == Layout::Opaque)
      throw InputError(where(), what + ": maps of type " + map_type_name(m.type) + " cannot be seeded from user space here");
    if (e.key.size() != m.key_size)
      throw InputError(where(), what + ": a key of " + std::to_string(e.key.size()) + " bytes, the map's keys have " +
                                    std::to_string(m.key_size));
    const Bytes value = encode_value(m, e, what);
    if (bpf_map_update_elem(m.fd, e.key.data(), value.data(), BPF_ANY) != 0) {
      const int err = errno;
      std::string reason = what + ": bpf_map_update_elem failed with " + errno_text(err);
      if (err == EPERM && m.frozen) reason += "; the map is read-only global data, frozen after load";
      if (err == E2BIG) reason += "; the map has room for " + std::to_string(m.max_entries) + " entries";
      throw InputError(where(), reason);
    }
  }

  // The entry at `key`, or nothing when the slot is empty (ENOENT) or the kernel refuses the
  // lookup from user space (then `refused` is set).
  std::optional<MapEntry> lookup(const MapSlot& m, const Bytes& key, bool& refused) const {
    Bytes buf(buffer_size(m), 0);
    if (bpf_map_lookup_elem(m.fd, key.data(), buf.data()) != 0) {
      if (errno != ENOENT) refused = true;
      return std::nullopt;
    }
    return entry(m, key, std::move(buf));
  }

  // Every index of an array with one BPF_MAP_LOOKUP_BATCH (a lookup per index costs a system call
  // each, which large arrays dumped after every packet feel); false when the kernel refuses it.
  bool dump_array_batch(const MapSlot& m, MapContents& c) const {
    const std::size_t size = buffer_size(m);
    uint32_t count = m.max_entries, out_batch = 0;
    Bytes keys(std::size_t(count) * 4), values(std::size_t(count) * size);
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    // The kernel answers ENOENT when the walk reached the end, with `count` entries copied.
    if (bpf_map_lookup_batch(m.fd, nullptr, &out_batch, keys.data(), values.data(), &count, &opts) != 0 &&
        errno != ENOENT)
      return false;
    if (count != m.max_entries) return false;
    for (uint32_t i = 0; i < count; ++i) {
      const auto v = values.begin() + std::ptrdiff_t(i * size);
      c.entries.push_back(entry(m, Bytes(keys.begin() + 4 * i, keys.begin() + 4 * (i + 1)), Bytes(v, v + std::ptrdiff_t(size))));
    }
    return true;
  }

  // An entry as user space sees it, from the value buffer a lookup filled.
  MapEntry entry(const MapSlot& m, const Bytes& key, Bytes buf) const {
    MapEntry e;
    e.key = key;
    if (m.per_cpu) {
      for (unsigned cpu = 0; cpu < ncpus; ++cpu) {
        const auto first = buf.begin() + std::ptrdiff_t(cpu * stride(m));
        e.values.emplace_back(first, first + m.value_size);
      }
    } else if (m.type == BPF_MAP_TYPE_PROG_ARRAY) {
      uint32_t id = 0;
      std::memcpy(&id, buf.data(), 4);
      for (std::size_t i = 0; i < progs.size(); ++i)
        if (progs[i].id == id) id = uint32_t(i);  // ids are far above any program count
      e.values.push_back(index_key(id));
    } else {
      e.values.push_back(std::move(buf));
    }
    return e;
  }

  std::vector<Bytes> keys(const MapSlot& m) const {
    std::vector<Bytes> out;
    if (m.layout == Layout::Array || m.layout == Layout::FdArray) {
      for (uint32_t i = 0; i < m.max_entries; ++i) out.push_back(index_key(i));
      return out;
    }
    Bytes next(m.key_size);
    const void* prev = nullptr;
    // Bounded: a hash map changing under us could otherwise restart its walk forever.
    while (out.size() <= m.max_entries && bpf_map_get_next_key(m.fd, prev, next.data()) == 0) {
      out.push_back(next);
      prev = out.back().data();
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  MapContents dump(MapSlot& m) const {
    MapContents c;
    c.name = m.name;
    if (m.layout == Layout::Ring) {
      if (ring_buffer__consume(m.ring->rb) < 0)
        throw InputError(where(), "map '" + m.name + "': ring_buffer__consume failed with " + errno_text(errno));
      c.records = m.ring->records;
      return c;
    }
    if (m.layout == Layout::Opaque) return c;
    if (m.layout == Layout::Array && m.max_entries > 16 && dump_array_batch(m, c)) return c;
    c.entries.clear();
    bool refused = false;
    for (const Bytes& k : keys(m)) {
      if (auto e = lookup(m, k, refused)) c.entries.push_back(std::move(*e));
      if (refused) return MapContents{m.name, {}, {}};
    }
    return c;
  }

  const MapContents& initial(const MapSlot& m) const {
    for (const MapContents& c : after_load)
      if (c.name == m.name) return c;
    throw InternalError("KernelObject: no contents after load for map " + m.name);
  }

  // Writes the contents after load back with one BPF_MAP_UPDATE_BATCH (arrays: one syscall
  // instead of one per index); false when the kernel refuses the batch.
  bool write_batch(MapSlot& m) {
    const MapContents& c = initial(m);
    if (c.entries.empty()) return true;
    Bytes keys, values;
    for (std::size_t i = 0; i < c.entries.size(); ++i) {
      keys.insert(keys.end(), c.entries[i].key.begin(), c.entries[i].key.end());
      const Bytes v = encode_value(m, c.entries[i], "map '" + m.name + "' entry " + std::to_string(i));
      values.insert(values.end(), v.begin(), v.end());
    }
    uint32_t count = uint32_t(c.entries.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
    return bpf_map_update_batch(m.fd, keys.data(), values.data(), &count, &opts) == 0 &&
           count == c.entries.size();
  }

  void reset(MapSlot& m) {
    if (m.frozen) return;
    switch (m.layout) {
      case Layout::Opaque:
        return;
      case Layout::Ring:
        if (ring_buffer__consume(m.ring->rb) < 0)
          throw InputError(where(), "map '" + m.name + "': ring_buffer__consume failed with " + errno_text(errno));
        m.ring->records.clear();
        return;
      case Layout::Array:
        if (write_batch(m)) return;
        break;  // every index is written back one by one below
      case Layout::FdArray:
      case Layout::Keyed:
        for (const Bytes& k : keys(m))
          if (bpf_map_delete_elem(m.fd, k.data()) != 0 && errno != ENOENT)
            throw InputError(where(), "map '" + m.name + "': bpf_map_delete_elem failed with " + errno_text(errno));
        break;
    }
    const MapContents& c = initial(m);
    for (std::size_t i = 0; i < c.entries.size(); ++i) write(m, c.entries[i], i);
  }
};

KernelObject::KernelObject(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KernelObject::KernelObject(KernelObject&&) noexcept = default;
KernelObject& KernelObject::operator=(KernelObject&&) noexcept = default;
KernelObject::~KernelObject() = default;

KernelObject KernelObject::load(const std::string& path) {
  const Location file{path, {}, {}};
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  // The name bpf_object__open_file would derive: the file name up to its first dot. Internal map
  // names start with it, so they match the frontend's (compiler/elf_reader.cpp).
  const std::string base = std::filesystem::path(path).filename().string();
  std::unique_ptr<Impl> impl;
  try {
    impl = std::make_unique<Impl>(path, BpfObject::open_memory(bytes, base.substr(0, base.find('.'))));
  } catch (const InputError& e) {
    throw e.within(file);
  }
  bpf_object* obj = impl->obj.get();

  LibbpfLog log;  // quiet unless the load fails
  // libbpf loads each program without a log first and, only when the kernel refuses it, again at
  // log level 1 into the program's log buffer: only the refused program's buffer gets written.
  std::vector<std::pair<bpf_program*, std::unique_ptr<char[]>>> logs;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    logs.emplace_back(prog, std::make_unique_for_overwrite<char[]>(kLoadLogSize));
    logs.back().second[0] = '\0';
    bpf_program__set_log_buf(prog, logs.back().second.get(), kLoadLogSize);
  }
  if (const int err = bpf_object__load(obj); err != 0) {
    for (auto& [p, buf] : logs) {
      buf[kLoadLogSize - 1] = '\0';
      if (buf[0] == '\0') continue;
      throw InputError(Location{path, bpf_program__name(p), {}},
                       "the kernel refused the program: " + libbpf_error_text(-err) +
                           "; the verifier log ends with:" + verifier_log_tail(buf.get()));
    }
    throw InputError(file, "libbpf could not load the object (" + libbpf_error_text(-err) + "): " + log.summary());
  }
  for (auto& [p, buf] : logs) bpf_program__set_log_buf(p, nullptr, 0);  // the buffers die here

  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) throw InputError(file, "cannot count the possible CPUs: " + libbpf_error_text(-ncpus));
  impl->ncpus = unsigned(ncpus);

  bpf_object__for_each_program(prog, obj) {
    ProgSlot p;
    p.name = bpf_program__name(prog);
    p.type = bpf_program__type(prog);
    p.fd = bpf_program__fd(prog);
    p.prog = prog;
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(p.fd, &info, &len) != 0)
      throw InputError(Location{path, p.name, {}}, "BPF_OBJ_GET_INFO_BY_FD failed with " + errno_text(errno));
    p.id = info.id;
    impl->prog_names.push_back(p.name);
    impl->progs.push_back(std::move(p));
  }
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, obj) {
    MapSlot m;
    m.name = bpf_map__name(map);
    m.type = bpf_map__type(map);
    m.key_size = bpf_map__key_size(map);
    m.value_size = bpf_map__value_size(map);
    m.max_entries = bpf_map__max_entries(map);
    m.fd = bpf_map__fd(map);
    m.per_cpu = is_per_cpu(m.type);
    m.frozen = bpf_map__is_internal(map) && (bpf_map__map_flags(map) & BPF_F_RDONLY_PROG);
    m.layout = layout_of(m.type);
    if (m.layout == Layout::Ring) {
      m.ring = std::make_unique<RingReader>();
      m.ring->rb = ring_buffer__new(m.fd, &RingReader::collect, m.ring.get(), nullptr);
      if (!m.ring->rb)
        throw InputError(file, "map '" + m.name + "': ring_buffer__new failed with " + errno_text(errno) + ": " +
                                   log.summary());
    }
    impl->maps.push_back(std::move(m));
  }
  KernelObject out(std::move(impl));
  out.impl_->after_load = out.dump();
  return out;
}

const std::vector<std::string>& KernelObject::programs() const { return impl_->prog_names; }

std::vector<std::string> KernelObject::maps() const {
  std::vector<std::string> names;
  for (const MapSlot& m : impl_->maps) names.push_back(m.name);
  return names;
}

unsigned KernelObject::ncpus() const { return impl_->ncpus; }

bool KernelObject::can_test_run(const std::string& prog) const {
  return packet_test_run(impl_->program(prog).type);
}

void KernelObject::seed(const std::vector<MapContents>& maps) {
  for (const MapContents& c : maps) {
    MapSlot& m = impl_->map(c.name);
    if (!c.records.empty())
      throw InputError(impl_->where(), "map '" + m.name + "': ring buffer records cannot be seeded");
    for (std::size_t i = 0; i < c.entries.size(); ++i) impl_->write(m, c.entries[i], i);
  }
}

double KernelObject::ns_per_run(const std::string& prog, std::span<const uint8_t> packet, std::span<const uint8_t> ctx_in,
                                uint32_t repeat) {
  const auto now_ns = [] {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return double(t.tv_sec) * 1e9 + double(t.tv_nsec);
  };
  const uint32_t many = std::max<uint32_t>(repeat, 20), fewer = many / 10;
  double start = now_ns();
  run(prog, packet, ctx_in, fewer);
  const double t_fewer = now_ns() - start;
  start = now_ns();
  run(prog, packet, ctx_in, many);
  const double t_many = now_ns() - start;
  return (t_many - t_fewer) / double(many - fewer);
}

KernelRun KernelObject::run(const std::string& prog, std::span<const uint8_t> packet,
                            std::span<const uint8_t> ctx_in, uint32_t repeat) {
  const ProgSlot& p = impl_->program(prog);
  const Location where = impl_->where(prog);
  const PinnedToCpu0 pinned(where);
  // An xdp_md given as ctx_in must say where the linear data ends (the kernel takes data_end as
  // its length, and 0 as an empty packet); the interpreter derives it from the packet, as here.
  std::vector<uint8_t> ctx(ctx_in.begin(), ctx_in.end());
  if (p.type == BPF_PROG_TYPE_XDP && ctx.size() >= 8 && ctx[4] == 0 && ctx[5] == 0 && ctx[6] == 0 && ctx[7] == 0) {
    const uint32_t len = uint32_t(packet.size());
    std::memcpy(&ctx[4], &len, 4);
  }
  try {
    return test_run_program(p.fd, packet, ctx, repeat, where);
  } catch (const InputError& e) {
    if (packet_test_run(p.type)) throw;
    throw InputError(where, "programs of type " + prog_type_name(p.type) + " cannot be test-run by the kernel: " +
                                e.reason());
  }
}

std::shared_ptr<void> KernelObject::attach(const std::string& prog) {
  const ProgSlot& p = impl_->program(prog);
  LibbpfLog log;
  bpf_link* link = bpf_program__attach(p.prog);
  if (!link) {
    const int e = errno;
    throw InputError(impl_->where(prog), "libbpf could not attach the program (" + errno_text(e) + "): " + log.summary());
  }
  return std::shared_ptr<void>(link, [](void* l) { bpf_link__destroy(static_cast<bpf_link*>(l)); });
}

std::vector<MapContents> KernelObject::dump() const {
  std::vector<MapContents> out;
  for (MapSlot& m : impl_->maps) out.push_back(impl_->dump(m));
  return out;
}

void KernelObject::reset() {
  for (MapSlot& m : impl_->maps) impl_->reset(m);
}

}  // namespace tristate
