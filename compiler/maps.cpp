// The interpreter's BPF maps. Each rule below names the Linux function it follows; the kernel
// sources are from Linux 6.18 (kernel/bpf/arraymap.c, hashtab.c, lpm_trie.c, devmap.c, cpumap.c,
// net/xdp/xskmap.c, kernel/bpf/ringbuf.c), and the user-side error codes are also checked against
// the running kernel by tests/verifier/map_kernel_test.cpp.
#include "compiler/maps.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string_view>

#include "compiler/byte_spec.hpp"
#include "compiler/hex.hpp"
#include "compiler/key_index.hpp"

namespace tristate {

namespace {

// What a map type behaves like.
enum class Shape {
  Array,    // ARRAY, PERCPU_ARRAY: preallocated, every index exists
  Hash,     // HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH
  Lpm,      // LPM_TRIE
  Slots,    // PROG_ARRAY, DEVMAP, CPUMAP, XSKMAP: indexed, an entry exists once set
  DevHash,  // DEVMAP_HASH
  RingBuf,  // RINGBUF
};

Shape shape_of(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY: return Shape::Array;
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH: return Shape::Hash;
    case BPF_MAP_TYPE_LPM_TRIE: return Shape::Lpm;
    case BPF_MAP_TYPE_PROG_ARRAY:
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_CPUMAP:
    case BPF_MAP_TYPE_XSKMAP: return Shape::Slots;
    case BPF_MAP_TYPE_DEVMAP_HASH: return Shape::DevHash;
    case BPF_MAP_TYPE_RINGBUF: return Shape::RingBuf;
    default: throw InternalError("shape_of: unmodelled map type " + std::to_string(type));
  }
}

bool is_array_like(uint32_t type) {
  const Shape s = shape_of(type);
  return s == Shape::Array || s == Shape::Slots;
}

uint32_t u32_at(std::span<const uint8_t> bytes) {
  uint32_t v = 0;
  std::memcpy(&v, bytes.data(), 4);
  return v;
}

Bytes u32_bytes(uint32_t v) {
  Bytes b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

constexpr uint32_t round8(uint32_t n) { return (n + 7) & ~7u; }

std::string errno_name(int64_t rc) {
  switch (-rc) {
    case EINVAL: return "EINVAL";
    case E2BIG: return "E2BIG";
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    case ENODEV: return "ENODEV";
    case EOVERFLOW: return "EOVERFLOW";
    case EAGAIN: return "EAGAIN";
    default: return "errno " + std::to_string(-rc);
  }
}

// Orders keys by their bytes, or (indexed maps) by their u32 index. Transparent, so the hot
// lookup path searches with the program's key span without copying it.
struct KeyLess {
  bool by_index = false;
  using is_transparent = void;
  bool less(std::span<const uint8_t> a, std::span<const uint8_t> b) const {
    if (by_index) return u32_at(a) < u32_at(b);
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  }
  bool operator()(const Bytes& a, const Bytes& b) const { return less(a, b); }
  bool operator()(std::span<const uint8_t> a, const Bytes& b) const { return less(a, b); }
  bool operator()(const Bytes& a, std::span<const uint8_t> b) const { return less(a, b); }
};

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

// The most bytes of array memory one map may take; the kernel's limit is the machine's memory,
// ours is what a test run can afford.
constexpr uint64_t kMaxArrayBytes = uint64_t(1) << 30;

}  // namespace

bool is_per_cpu(uint32_t map_type) {
  return map_type == BPF_MAP_TYPE_PERCPU_ARRAY || map_type == BPF_MAP_TYPE_PERCPU_HASH ||
         map_type == BPF_MAP_TYPE_LRU_PERCPU_HASH || map_type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

bool is_modelled_map_type(uint32_t map_type) {
  switch (map_type) {
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_LPM_TRIE:
    case BPF_MAP_TYPE_PROG_ARRAY:
    case BPF_MAP_TYPE_DEVMAP:
    case BPF_MAP_TYPE_DEVMAP_HASH:
    case BPF_MAP_TYPE_CPUMAP:
    case BPF_MAP_TYPE_XSKMAP:
    case BPF_MAP_TYPE_RINGBUF: return true;
    default: return false;
  }
}

struct MapInstance::Impl {
  // One stored entry of a hash-like or indexed map.
  struct Entry {
    Bytes key;                          // as last written (LPM: the data bits past prefixlen too)
    std::unique_ptr<uint8_t[]> value;   // ncpus copies of `stride` bytes for per-CPU maps
    uint64_t last_use = 0;              // LRU maps: the tick of the last lookup or update
  };

  MapDef def;
  unsigned ncpus = 1;
  Shape shape = Shape::Array;
  bool per_cpu = false;
  bool lru = false;
  uint32_t stride = 0;  // bytes between per-CPU copies and array elements (8-aligned, as the kernel)
  unsigned copies = 1;  // value copies an entry holds: ncpus for per-CPU maps, else 1

  // Arrays: max_entries * copies * stride bytes, zeroed, never moved. `touched` lists the indices
  // a pointer was handed out for or that were written, so clear() need not rewrite the whole array.
  std::unique_ptr<uint8_t, FreeDeleter> array;
  std::vector<uint32_t> touched;
  std::vector<bool> is_touched;
  // array_storage() was called: code elsewhere computes element addresses, so clear() resets all.
  // Atomic because another thread may ask while a program runs on the map (a stage's successor
  // being compiled); nothing else array_storage() reads ever changes.
  std::atomic<bool> exposed{false};

  // Every other map but the ring buffer: ordered for dumps, with a hash index over it for the
  // program side's lookups (its keys view the map nodes' own key bytes, which never move).
  using Entries = std::map<Bytes, Entry, KeyLess>;
  Entries entries;
  KeyIndex<Entries::iterator> index;
  // LPM lookups build each candidate prefix's key here, in whole words (the index hashes words:
  // building the key bytewise would stall the loads that read it back).
  std::array<uint64_t, 33> lpm_scratch{};
  std::map<uint64_t, const Bytes*> by_use;  // LRU maps: tick of last use -> key in `entries`
  uint64_t tick = 0;
  std::vector<uint32_t> lpm_lengths;        // LPM: how many entries have each prefix length
  // LPM: the prefix lengths stored, longest first, each with the mask that keeps a key's first
  // `length` bits of data (and clears the prefixlen field).
  struct PrefixMask {
    uint32_t length;
    std::vector<uint64_t> words;
  };
  std::vector<PrefixMask> lpm_present;
  // Values of deleted, evicted or replaced entries: kept so the program's pointers stay valid.
  std::vector<std::unique_ptr<uint8_t[]>> graveyard;

  // Ring buffer.
  std::vector<Bytes> records;
  uint64_t ring_used = 0;

  [[noreturn]] void refuse(const std::string& why) const {
    throw InputError("map '" + def.name + "' (" + (def.type_name.empty() ? std::to_string(def.type) : def.type_name) +
                     "): " + why);
  }

  void validate() const {
    const auto need = [&](bool ok, const std::string& what) {
      if (!ok) refuse(what + " (key_size " + std::to_string(def.key_size) + ", value_size " +
                      std::to_string(def.value_size) + ", max_entries " + std::to_string(def.max_entries) + ")");
    };
    switch (shape) {
      case Shape::Array:
        need(def.key_size == 4 && def.value_size > 0, "an array needs a 4-byte key and a value");
        break;
      case Shape::Hash: need(def.key_size > 0 && def.value_size > 0, "a hash map needs a key and a value"); break;
      case Shape::Lpm:
        // trie_alloc: key_size in [4 + 1, 4 + 256], value_size >= 1.
        need(def.key_size >= 5 && def.key_size <= 260 && def.value_size > 0,
             "an LPM trie needs a key of 4 + 1..256 bytes and a value");
        break;
      case Shape::Slots:
      case Shape::DevHash:
        if (def.type == BPF_MAP_TYPE_PROG_ARRAY || def.type == BPF_MAP_TYPE_XSKMAP)
          need(def.key_size == 4 && def.value_size == 4, "this map type needs a 4-byte key and a 4-byte value");
        else  // devmap and cpumap values: the u32 ifindex or qsize, optionally with a u32 program fd
          need(def.key_size == 4 && (def.value_size == 4 || def.value_size == 8),
               "this map type needs a 4-byte key and a 4- or 8-byte value");
        break;
      case Shape::RingBuf:
        // ringbuf_map_alloc: no key or value, max_entries a power of 2 and a multiple of the page.
        need(def.key_size == 0 && def.value_size == 0 && (def.max_entries & (def.max_entries - 1)) == 0 &&
                 def.max_entries % 4096 == 0,
             "a ring buffer needs no key or value and a power-of-2 size that is a multiple of 4096");
        break;
    }
    need(def.max_entries > 0, "max_entries must not be 0");
  }

  bool full() const { return entries.size() >= def.max_entries; }

  void check_key(std::span<const uint8_t> key) const {
    if (key.size() != def.key_size)
      throw InternalError("map '" + def.name + "': a key of " + std::to_string(key.size()) + " bytes, not " +
                          std::to_string(def.key_size));
  }
  void check_cpu(unsigned cpu) const {
    if (cpu >= ncpus)
      throw InternalError("map '" + def.name + "': cpu " + std::to_string(cpu) + " of " + std::to_string(ncpus));
  }

  // --- arrays ---
  uint8_t* array_slot(uint32_t index, unsigned cpu) {
    if (!is_touched[index]) {
      is_touched[index] = true;
      touched.push_back(index);
    }
    return array.get() + (uint64_t(index) * copies + cpu) * stride;
  }
  void reset_array() {
    const uint64_t elem = uint64_t(copies) * stride;
    if (exposed.load(std::memory_order_relaxed)) {
      std::memset(array.get(), 0, elem * def.max_entries);  // array_storage() gave every element out
    } else {
      for (uint32_t i : touched) std::memset(array.get() + i * elem, 0, elem);
    }
    for (uint32_t i : touched) is_touched[i] = false;
    touched.clear();
    if (def.internal) {
      std::memcpy(array_slot(0, 0), def.initial_value.data(), std::min<std::size_t>(def.initial_value.size(), def.value_size));
    }
  }

  // --- entries ---
  std::unique_ptr<uint8_t[]> new_value() const { return std::unique_ptr<uint8_t[]>(new uint8_t[std::size_t(copies) * stride]()); }

  void mark_used(std::map<Bytes, Entry, KeyLess>::iterator it) {
    if (!lru) return;
    if (it->second.last_use) by_use.erase(it->second.last_use);
    it->second.last_use = ++tick;
    by_use.emplace(tick, &it->first);
  }

  Entries::iterator find(std::span<const uint8_t> key) {
    Entries::iterator* it = index.find(key.data());
    return it ? *it : entries.end();
  }
  Entries::iterator emplace_entry(std::span<const uint8_t> key) {
    auto it = entries.emplace(Bytes(key.begin(), key.end()), Entry{}).first;
    index.insert(it->first.data(), it);
    if (shape == Shape::Lpm) count_prefix(u32_at(key), +1);
    return it;
  }

  void erase(Entries::iterator it) {
    if (lru && it->second.last_use) by_use.erase(it->second.last_use);
    if (shape == Shape::Lpm) count_prefix(u32_at(it->first), -1);
    graveyard.push_back(std::move(it->second.value));
    index.erase(it->first.data());
    entries.erase(it);
  }

  // LPM: one more or one fewer entry of prefix length p; lpm_present follows.
  void count_prefix(uint32_t p, int delta) {
    const uint32_t was = lpm_lengths[p];
    lpm_lengths[p] = uint32_t(int64_t(was) + delta);
    if ((was == 0) == (lpm_lengths[p] == 0)) return;
    const auto at = std::lower_bound(lpm_present.begin(), lpm_present.end(), p,
                                     [](const PrefixMask& m, uint32_t length) { return m.length > length; });
    if (was != 0) {
      lpm_present.erase(at);
      return;
    }
    std::vector<uint8_t> ones(def.key_size, 0xff);
    std::vector<uint8_t> mask((def.key_size + 7) / 8 * 8, 0);
    lpm_canonical_into(mask.data(), ones, p);
    std::memset(mask.data(), 0, 4);
    PrefixMask m{p, std::vector<uint64_t>(mask.size() / 8)};
    std::memcpy(m.words.data(), mask.data(), mask.size());
    lpm_present.insert(at, std::move(m));
  }

  // LPM: the entry's identity, (prefixlen, data with the bits past prefixlen cleared). The kernel
  // compares only the first prefixlen bits of the data (lpm_trie.c, longest_prefix_match).
  Bytes lpm_canonical(std::span<const uint8_t> key, uint32_t prefixlen) const {
    Bytes c;
    lpm_canonical_into(c, key, prefixlen);
    return c;
  }
  static void lpm_canonical_into(Bytes& c, std::span<const uint8_t> key, uint32_t prefixlen) {
    c.resize(key.size());
    lpm_canonical_into(c.data(), key, prefixlen);
  }
  static void lpm_canonical_into(uint8_t* c, std::span<const uint8_t> key, uint32_t prefixlen) {
    std::memcpy(c, &prefixlen, 4);
    // data is big-endian: data[0] holds the top bits
    const std::size_t whole = 4 + prefixlen / 8;
    std::memcpy(c + 4, key.data() + 4, whole - 4);
    if (whole < key.size()) {
      c[whole] = prefixlen % 8 ? uint8_t(key[whole] & uint8_t(0xff << (8 - prefixlen % 8))) : 0;
      std::memset(c + whole + 1, 0, key.size() - whole - 1);
    }
  }
  uint32_t lpm_max_prefixlen() const { return (def.key_size - 4) * 8; }

  // Writes `value` into a fresh copy of the entry at `it` (or a new entry): the kernel's hash and
  // LPM updates of non-per-CPU values link a new element and free the old one after RCU, so a
  // pointer from an earlier lookup keeps seeing the old bytes (hashtab.c htab_map_update_elem,
  // lpm_trie.c trie_update_elem). The old value goes to the graveyard.
  Entries::iterator store_fresh(std::span<const uint8_t> key, const Bytes& identity,
                                                        std::span<const uint8_t> value, unsigned cpu) {
    auto it = find(identity);
    auto fresh = new_value();
    std::memcpy(fresh.get() + std::size_t(cpu) * stride, value.data(), value.size());
    if (it == entries.end()) {
      it = emplace_entry(identity);
    } else {
      graveyard.push_back(std::move(it->second.value));
    }
    it->second.key.assign(key.begin(), key.end());
    it->second.value = std::move(fresh);
    return it;
  }

  // --- the program side ---
  uint8_t* lookup(std::span<const uint8_t> key, unsigned cpu) {
    check_cpu(cpu);
    if (shape == Shape::RingBuf) return nullptr;
    check_key(key);
    return lookup_checked(key, cpu);
  }
  uint8_t* lookup_checked(std::span<const uint8_t> key, unsigned cpu) { return lookup_fn(*this, key.data(), cpu); }

  // The program side's lookup of each shape, one function each so that the hot ones stay small;
  // lookup_fn is picked once, for the map's type and key size.
  using LookupFn = uint8_t* (*)(Impl&, const uint8_t* key, unsigned cpu);
  LookupFn lookup_fn = nullptr;

  static uint8_t* array_lookup(Impl& m, const uint8_t* key, unsigned cpu) {
    const uint32_t index = u32_at({key, 4});
    if (index >= m.def.max_entries) return nullptr;  // array_map_lookup_elem
    return m.array_slot(index, m.per_cpu ? cpu : 0);
  }
  // Hash maps (LRU ones mark the entry used: htab_lru_map_lookup_elem sets its reference bit).
  // The stored value of indexed and device maps too (dev_map_lookup_elem gives the
  // bpf_devmap_val; prog arrays have no program-side lookup, but bpf_tail_call reads its slot
  // here): they are never per-CPU.
  template <uint32_t KeySize>
  static uint8_t* hash_lookup(Impl& m, const uint8_t* key, unsigned cpu) {
    Entries::iterator* it = KeySize ? m.index.template find_sized<KeySize>(key) : m.index.find(key);
    if (!it) return nullptr;
    if (m.lru) m.mark_used(*it);
    return (*it)->second.value.get() + std::size_t(m.per_cpu ? cpu : 0) * m.stride;
  }
  // trie_lookup_elem: NULL when the key's prefixlen exceeds the trie's; otherwise the longest
  // stored prefix no longer than the key's prefixlen whose bits match the data.
  template <uint32_t KeySize>
  static uint8_t* lpm_lookup(Impl& m, const uint8_t* key, unsigned) {
    const uint32_t limit = u32_at({key, 4});
    if (limit > m.lpm_max_prefixlen()) return nullptr;
    const std::size_t size = KeySize ? KeySize : m.def.key_size, words = (size + 7) / 8;
    // Key sizes are 4 + a multiple of 1..: read in 4-byte halves (see load_u64_halves), the tail
    // of the last word byte by byte.
    uint64_t in[33];
    for (std::size_t w = 0; w < words; ++w) {
      const std::size_t n = std::min<std::size_t>(8, size - w * 8);
      if (n == 8) {
        in[w] = load_u64_halves(key + w * 8);
      } else {
        in[w] = 0;
        for (std::size_t i = 0; i < n; ++i) in[w] |= uint64_t(key[w * 8 + i]) << (8 * i);
      }
    }
    const auto* candidate = reinterpret_cast<const uint8_t*>(m.lpm_scratch.data());
    for (const PrefixMask& mask : m.lpm_present) {
      if (mask.length > limit) continue;
      for (std::size_t w = 0; w < words; ++w) m.lpm_scratch[w] = in[w] & mask.words[w];
      m.lpm_scratch[0] |= mask.length;  // the prefixlen field: little-endian, the low 4 bytes
      Entries::iterator* it = KeySize ? m.index.template find_sized<KeySize>(candidate) : m.index.find(candidate);
      if (it) return (*it)->second.value.get();
    }
    return nullptr;
  }
  static uint8_t* no_lookup(Impl&, const uint8_t*, unsigned) { return nullptr; }  // ring buffers

  LookupFn pick_lookup() const {
    switch (shape) {
      case Shape::Array: return array_lookup;
      case Shape::Lpm:
        switch (def.key_size) {
          case 8: return lpm_lookup<8>;    // IPv4
          case 20: return lpm_lookup<20>;  // IPv6
          default: return lpm_lookup<0>;
        }
      case Shape::RingBuf: return no_lookup;
      case Shape::Hash:
      case Shape::Slots:
      case Shape::DevHash:
        switch (def.key_size) {
          case 4: return hash_lookup<4>;
          case 8: return hash_lookup<8>;
          case 16: return hash_lookup<16>;
          default: return hash_lookup<0>;
        }
    }
    return no_lookup;
  }

  int64_t update(std::span<const uint8_t> key, std::span<const uint8_t> value, uint64_t flags, unsigned cpu) {
    check_cpu(cpu);
    if (shape == Shape::RingBuf) return -EINVAL;
    check_key(key);
    if (value.size() != def.value_size)
      throw InternalError("map '" + def.name + "': a value of " + std::to_string(value.size()) + " bytes");
    switch (shape) {
      case Shape::Array: {
        // array_map_update_elem, in its order: unknown flags, index, NOEXIST (a bit test, so
        // BPF_F_LOCK | BPF_NOEXIST gives -EEXIST), then BPF_F_LOCK without a spin lock.
        if ((flags & ~uint64_t(BPF_F_LOCK)) > BPF_EXIST) return -EINVAL;
        const uint32_t index = u32_at(key);
        if (index >= def.max_entries) return -E2BIG;
        if (flags & BPF_NOEXIST) return -EEXIST;
        if (flags & BPF_F_LOCK) return -EINVAL;
        std::memcpy(array_slot(index, per_cpu ? cpu : 0), value.data(), value.size());
        return 0;
      }
      case Shape::Hash: {
        // htab_map_update_elem and its per-CPU and LRU variants: flags past BPF_EXIST (BPF_F_LOCK
        // included: no spin lock is modelled) -EINVAL; check_flags: -EEXIST, -ENOENT; a new key in
        // a full map -E2BIG (alloc_htab_elem). The kernel's LRU takes a free node before it checks
        // the flags, so it may evict even when the update then fails, or replaces an existing key;
        // this model evicts only to insert a new key into a full map. The kernel's LRU is also
        // approximate (per-CPU free lists and reference bits); this model is an exact LRU.
        if (flags > BPF_EXIST) return -EINVAL;
        auto it = find(key);
        if (it != entries.end() && flags == BPF_NOEXIST) return -EEXIST;
        if (it == entries.end() && flags == BPF_EXIST) return -ENOENT;
        if (it == entries.end() && full()) {
          if (!lru) return -E2BIG;
          erase(find(*by_use.begin()->second));
        }
        if (per_cpu) {
          // pcpu_copy_value / pcpu_init_value: an existing entry's copy for this CPU is written in
          // place; a new entry starts with this CPU's copy and zeros elsewhere.
          if (it == entries.end()) {
            it = emplace_entry(key);
            it->second.key.assign(key.begin(), key.end());
            it->second.value = new_value();
          }
          std::memcpy(it->second.value.get() + std::size_t(cpu) * stride, value.data(), value.size());
        } else {
          it = store_fresh(key, Bytes(key.begin(), key.end()), value, 0);
        }
        mark_used(it);
        return 0;
      }
      case Shape::Lpm: {
        // trie_update_elem: flags past BPF_EXIST or prefixlen past max -EINVAL; an existing
        // prefix with BPF_NOEXIST -EEXIST; a new one with BPF_EXIST -ENOENT, in a full trie
        // -ENOSPC (trie_check_add_elem, since Linux 6.13; replacing works in a full trie). The
        // new node keeps the key's data as given, bits past prefixlen included, and that is the
        // key the user side then reads back (trie_get_next_key).
        if (flags > BPF_EXIST) return -EINVAL;
        const uint32_t prefixlen = u32_at(key);
        if (prefixlen > lpm_max_prefixlen()) return -EINVAL;
        const Bytes identity = lpm_canonical(key, prefixlen);
        const bool exists = entries.count(identity) != 0;
        if (exists && flags == BPF_NOEXIST) return -EEXIST;
        if (!exists && flags == BPF_EXIST) return -ENOENT;
        if (!exists && full()) return -ENOSPC;
        store_fresh(key, identity, value, 0);
        return 0;
      }
      case Shape::Slots: return update_slot(key, value, flags);
      case Shape::DevHash: {
        // dev_map_hash_update_elem: -EEXIST for an existing key with BPF_NOEXIST, but no -ENOENT
        // for BPF_EXIST (the running kernel accepts it); -E2BIG when a new key finds the map full;
        // ifindex 0 names no device: -EINVAL (__dev_map_alloc_node).
        if (flags > BPF_EXIST) return -EINVAL;
        auto it = find(key);
        if (it != entries.end() && (flags & BPF_NOEXIST)) return -EEXIST;
        if (u32_at(value) == 0) return -EINVAL;
        if (it == entries.end() && full()) return -E2BIG;
        store_fresh(key, Bytes(key.begin(), key.end()), value, 0);
        return 0;
      }
      case Shape::RingBuf: break;
    }
    return -EINVAL;
  }

  int64_t update_slot(std::span<const uint8_t> key, std::span<const uint8_t> value, uint64_t flags) {
    const uint32_t index = u32_at(key);
    auto it = find(key);
    switch (def.type) {
      case BPF_MAP_TYPE_PROG_ARRAY:
        // bpf_fd_array_map_update_elem: only BPF_ANY; then the index.
        if (flags != BPF_ANY) return -EINVAL;
        if (index >= def.max_entries) return -E2BIG;
        break;
      case BPF_MAP_TYPE_XSKMAP:
        // xsk_map_update_elem: hash-like flags on an indexed map.
        if (flags > BPF_EXIST) return -EINVAL;
        if (index >= def.max_entries) return -E2BIG;
        if (it != entries.end() && flags == BPF_NOEXIST) return -EEXIST;
        if (it == entries.end() && flags == BPF_EXIST) return -ENOENT;
        break;
      case BPF_MAP_TYPE_DEVMAP:
      case BPF_MAP_TYPE_CPUMAP: {
        // __dev_map_update_elem and cpu_map_update_elem: every slot "exists", so BPF_NOEXIST is
        // always -EEXIST. A devmap ifindex of 0 or a cpumap qsize of 0 empties the slot.
        if (flags > BPF_EXIST) return -EINVAL;
        if (index >= def.max_entries) return -E2BIG;
        if (flags == BPF_NOEXIST) return -EEXIST;
        const uint32_t first = u32_at(value);
        if (def.type == BPF_MAP_TYPE_CPUMAP) {
          if (first > 16384) return -EOVERFLOW;  // cpumap's sanity limit on qsize
          if (index >= ncpus) return -ENODEV;     // not a possible CPU
        }
        if (first == 0) {
          // devmap: a program fd with ifindex 0 is -EINVAL
          if (def.type == BPF_MAP_TYPE_DEVMAP && def.value_size == 8 && int32_t(u32_at(value.subspan(4))) > 0)
            return -EINVAL;
          if (it != entries.end()) erase(it);
          return 0;
        }
        break;
      }
      default: throw InternalError("update_slot: map type " + std::to_string(def.type));
    }
    store_fresh(key, Bytes(key.begin(), key.end()), value, 0);
    return 0;
  }

  int64_t remove(std::span<const uint8_t> key) {
    if (shape == Shape::RingBuf) return -EINVAL;
    check_key(key);
    switch (shape) {
      case Shape::Array: return -EINVAL;  // array_map_delete_elem
      case Shape::Lpm: {
        // trie_delete_elem: prefixlen past max -EINVAL; only an exact (prefixlen, data) match.
        const uint32_t prefixlen = u32_at(key);
        if (prefixlen > lpm_max_prefixlen()) return -EINVAL;
        auto it = find(lpm_canonical(key, prefixlen));
        if (it == entries.end()) return -ENOENT;
        erase(it);
        return 0;
      }
      case Shape::Slots: {
        // fd_array_map_delete_elem: -E2BIG past the end, -ENOENT when empty. dev_map_delete_elem,
        // cpu_map_delete_elem, xsk_map_delete_elem: -EINVAL past the end, else 0 even when empty.
        const uint32_t index = u32_at(key);
        const bool prog_array = def.type == BPF_MAP_TYPE_PROG_ARRAY;
        if (index >= def.max_entries) return prog_array ? -E2BIG : -EINVAL;
        auto it = find(key);
        if (it == entries.end()) return prog_array ? -ENOENT : 0;
        erase(it);
        return 0;
      }
      case Shape::Hash:
      case Shape::DevHash: {
        auto it = find(key);
        if (it == entries.end()) return -ENOENT;
        erase(it);
        return 0;
      }
      case Shape::RingBuf: break;
    }
    return -EINVAL;
  }

  int64_t ringbuf_output(std::span<const uint8_t> data, uint64_t flags) {
    if (shape != Shape::RingBuf) throw InternalError("map '" + def.name + "': bpf_ringbuf_output on a non-ring-buffer map");
    // bpf_ringbuf_output: flags other than BPF_RB_NO_WAKEUP and BPF_RB_FORCE_WAKEUP bits -EINVAL.
    if (flags & ~uint64_t(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP)) return -EINVAL;
    // __bpf_ringbuf_reserve: a record takes round_up(8-byte header + size, 8) bytes, and the
    // producer may run at most size - 1 bytes ahead of the consumer (which never consumes here).
    const uint64_t len = (uint64_t(data.size()) + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t(7);
    if (ring_used + len > uint64_t(def.max_entries) - 1) return -EAGAIN;
    ring_used += len;
    records.emplace_back(data.begin(), data.end());
    return 0;
  }

  // The user side's exact-key slot for `cpu`, or nullptr (no LRU use, no longest-prefix match).
  uint8_t* exact_slot(std::span<const uint8_t> key, unsigned cpu) {
    if (shape == Shape::Array) return array_slot(u32_at(key), cpu);
    auto it = find(shape == Shape::Lpm ? lpm_canonical(key, u32_at(key)) : Bytes(key.begin(), key.end()));
    return it == entries.end() ? nullptr : it->second.value.get() + std::size_t(cpu) * stride;
  }

  std::string seed_failure(int64_t rc, std::span<const uint8_t> key) const {
    const uint32_t first = key.size() >= 4 ? u32_at(key) : 0;
    switch (-rc) {
      case E2BIG:
        if (shape == Shape::Array || shape == Shape::Slots)
          return "index " + std::to_string(first) + " is out of range (max_entries " + std::to_string(def.max_entries) + ")";
        return "the map would overflow (max_entries " + std::to_string(def.max_entries) + ")";
      case ENOSPC: return "the map would overflow (max_entries " + std::to_string(def.max_entries) + ")";
      case ENODEV: return "cpu " + std::to_string(first) + " does not exist (" + std::to_string(ncpus) + " CPUs)";
      case EOVERFLOW: return "the cpumap queue size is over 16384";
      case EINVAL:
        if (shape == Shape::Lpm)
          return "prefix length " + std::to_string(first) + " exceeds " + std::to_string(lpm_max_prefixlen());
        return "the kernel refuses this value (EINVAL)";
      default: return "the update fails with " + errno_name(rc);
    }
  }

  void seed(const MapContents& contents) {
    if (shape == Shape::RingBuf) {
      if (!contents.entries.empty()) refuse("a ring buffer takes \"records\", not entries");
      for (std::size_t i = 0; i < contents.records.size(); ++i)
        if (ringbuf_output(contents.records[i], 0) != 0)
          refuse("record " + std::to_string(i) + ": the ring buffer (" + std::to_string(def.max_entries) +
                 " bytes) is full");
      return;
    }
    if (!contents.records.empty()) refuse("only ring buffers take \"records\"");
    for (std::size_t i = 0; i < contents.entries.size(); ++i) {
      const MapEntry& e = contents.entries[i];
      const std::string at = "entry " + std::to_string(i) + " (key " + to_hex(e.key) + "): ";
      if (e.key.size() != def.key_size)
        refuse(at + "the key has " + std::to_string(e.key.size()) + " bytes, the map's keys " + std::to_string(def.key_size));
      if (e.values.size() != 1 && e.values.size() != copies)
        refuse(at + std::to_string(e.values.size()) + " values, expected " +
               (per_cpu ? "1 or " + std::to_string(copies) + " (one per CPU)" : std::string("1")));
      for (const Bytes& v : e.values)
        if (v.size() != def.value_size)
          refuse(at + "a value has " + std::to_string(v.size()) + " bytes, the map's values " +
                 std::to_string(def.value_size));
      // As bpf_map_update_elem from user space with BPF_ANY: the first CPU's value through the
      // update (which also checks index and capacity), then the other CPUs' copies in place.
      const int64_t rc = update(e.key, e.values[0], BPF_ANY, 0);
      if (rc != 0) refuse(at + seed_failure(rc, e.key));
      for (unsigned c = 1; c < copies; ++c)
        if (uint8_t* slot = exact_slot(e.key, c)) std::memcpy(slot, e.values[e.values.size() == 1 ? 0 : c].data(), def.value_size);
    }
  }

  MapContents dump() const {
    MapContents out;
    out.name = def.name;
    if (shape == Shape::RingBuf) {
      out.records = records;
      return out;
    }
    const auto values_of = [&](const uint8_t* base) {
      std::vector<Bytes> v;
      for (unsigned c = 0; c < copies; ++c) v.emplace_back(base + std::size_t(c) * stride, base + std::size_t(c) * stride + def.value_size);
      return v;
    };
    if (shape == Shape::Array) {
      out.entries.reserve(def.max_entries);
      for (uint32_t i = 0; i < def.max_entries; ++i)
        out.entries.push_back({u32_bytes(i), values_of(array.get() + uint64_t(i) * copies * stride)});
      return out;
    }
    for (const auto& [identity, e] : entries) out.entries.push_back({e.key, values_of(e.value.get())});
    // LPM keys are listed as written, which need not sort like their identities.
    if (shape == Shape::Lpm)
      std::sort(out.entries.begin(), out.entries.end(), [](const MapEntry& a, const MapEntry& b) { return a.key < b.key; });
    return out;
  }

  void clear() {
    if (shape == Shape::Array) reset_array();
    index.clear();
    entries.clear();
    by_use.clear();
    std::fill(lpm_lengths.begin(), lpm_lengths.end(), 0);
    lpm_present.clear();
    graveyard.clear();
    records.clear();
    ring_used = 0;
  }
};

MapInstance::MapInstance(const MapDef& def, unsigned ncpus) : impl_(std::make_unique<Impl>()) {
  if (ncpus == 0) throw InternalError("MapInstance: ncpus must be at least 1");
  Impl& m = *impl_;
  m.def = def;
  m.ncpus = ncpus;
  if (!is_modelled_map_type(def.type)) m.refuse("map type " + std::to_string(def.type) + " is not modelled by the interpreter");
  m.shape = shape_of(def.type);
  m.validate();
  m.per_cpu = is_per_cpu(def.type);
  m.lru = def.type == BPF_MAP_TYPE_LRU_HASH || def.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  m.copies = m.per_cpu ? ncpus : 1;
  m.stride = round8(def.value_size);
  m.entries = std::map<Bytes, Impl::Entry, KeyLess>(KeyLess{m.shape == Shape::Slots});
  m.index = KeyIndex<Impl::Entries::iterator>(def.key_size);
  m.lookup_fn = m.pick_lookup();
  if (m.shape == Shape::Lpm) m.lpm_lengths.assign(m.lpm_max_prefixlen() + 1, 0);
  if (m.shape == Shape::Array) {
    const uint64_t bytes = uint64_t(def.max_entries) * m.copies * m.stride;
    if (bytes > kMaxArrayBytes)
      m.refuse(std::to_string(bytes) + " bytes of array memory is more than the interpreter models (" +
               std::to_string(kMaxArrayBytes) + ")");
    m.array.reset(static_cast<uint8_t*>(std::calloc(std::size_t(bytes), 1)));
    if (!m.array) m.refuse("cannot allocate " + std::to_string(bytes) + " bytes");
    m.is_touched.assign(def.max_entries, false);
  }
  if (def.internal) {
    if (m.shape != Shape::Array || def.max_entries != 1) m.refuse("an internal (global data) map must be a one-entry array");
    if (def.initial_value.size() > def.value_size)
      m.refuse("the initial value has " + std::to_string(def.initial_value.size()) + " bytes, the value " +
               std::to_string(def.value_size));
    m.reset_array();
  }
}

MapInstance::~MapInstance() = default;
MapInstance::MapInstance(MapInstance&&) noexcept = default;
MapInstance& MapInstance::operator=(MapInstance&&) noexcept = default;

const MapDef& MapInstance::def() const { return impl_->def; }
unsigned MapInstance::ncpus() const { return impl_->ncpus; }

uint8_t* MapInstance::lookup(std::span<const uint8_t> key, unsigned cpu) { return impl_->lookup(key, cpu); }
uint8_t* MapInstance::lookup_unchecked(const uint8_t* key, unsigned cpu) {
  return impl_->lookup_checked({key, impl_->def.key_size}, cpu);
}
int64_t MapInstance::update(std::span<const uint8_t> key, std::span<const uint8_t> value, uint64_t flags, unsigned cpu) {
  return impl_->update(key, value, flags, cpu);
}
int64_t MapInstance::remove(std::span<const uint8_t> key) { return impl_->remove(key); }
int64_t MapInstance::ringbuf_output(std::span<const uint8_t> data, uint64_t flags) { return impl_->ringbuf_output(data, flags); }
void MapInstance::seed(const MapContents& contents) { impl_->seed(contents); }
MapContents MapInstance::dump() const { return impl_->dump(); }
void MapInstance::clear() { impl_->clear(); }
std::optional<MapInstance::ArrayStorage> MapInstance::array_storage() {
  Impl& m = *impl_;
  if (m.shape != Shape::Array) return std::nullopt;
  m.exposed.store(true, std::memory_order_relaxed);
  return ArrayStorage{m.array.get(), m.stride, m.copies, m.def.max_entries};
}

// --- MapSet ---

MapSet::MapSet(const std::vector<MapDef>& defs, unsigned ncpus) {
  maps_.reserve(defs.size());
  for (const MapDef& d : defs) maps_.emplace_back(d, ncpus);
}

int MapSet::find(const std::string& name) const {
  for (std::size_t i = 0; i < maps_.size(); ++i)
    if (maps_[i].def().name == name) return int(i);
  return -1;
}

std::vector<MapContents> MapSet::dump() const {
  std::vector<MapContents> out;
  out.reserve(maps_.size());
  for (const MapInstance& m : maps_) out.push_back(m.dump());
  return out;
}

namespace {

// Reads one map's JSON seed; every error names the map and the entry.
struct SeedReader {
  const MapDef& def;
  unsigned ncpus;
  const std::vector<std::string>& programs;
  const Location& where;

  [[noreturn]] void fail(const std::string& at, const std::string& why) const {
    throw InputError(where, "map '" + def.name + "': " + at + why);
  }

  Bytes bytes(const nlohmann::json& j, const std::string& at, const std::string& what) const {
    if (!j.is_string()) fail(at, what + " must be a string of hex or typed bytes, not " + std::string(j.type_name()));
    try {
      return parse_byte_spec(j.get<std::string>()).bytes;
    } catch (const ByteSpecError& e) {
      fail(at, what + ": " + e.what());
    }
  }

  Bytes key(const nlohmann::json& j, const std::string& at) const {
    if (j.is_number()) {
      if (!is_array_like(def.type)) fail(at, "keys of this map type are hex strings, not numbers");
      if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0))
        fail(at, "the index " + j.dump() + " is not a non-negative integer");
      const uint64_t index = j.get<uint64_t>();
      if (index >= def.max_entries)
        fail(at, "index " + std::to_string(index) + " is out of range (max_entries " + std::to_string(def.max_entries) + ")");
      return u32_bytes(uint32_t(index));
    }
    return bytes(j, at, "the key");
  }

  Bytes program_value(uint64_t index, const std::string& at) const {
    if (index >= programs.size())
      fail(at, "program index " + std::to_string(index) + " is out of range (the module has " +
                   std::to_string(programs.size()) + " programs)");
    return u32_bytes(uint32_t(index));
  }

  Bytes value(const nlohmann::json& j, const std::string& at) const {
    if (def.type == BPF_MAP_TYPE_PROG_ARRAY) {
      if (j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0))
        return program_value(j.get<uint64_t>(), at);
      if (j.is_string()) {
        // A program's name first: a program may well be called "deadbeef".
        const auto& s = j.get_ref<const std::string&>();
        for (std::size_t i = 0; i < programs.size(); ++i)
          if (programs[i] == s) return u32_bytes(uint32_t(i));
        if (auto bytes = parse_hex(s); bytes && bytes->size() == def.value_size) return program_value(u32_at(*bytes), at);
        std::string names;
        for (const auto& p : programs) names += (names.empty() ? "" : ", ") + p;
        fail(at, "unknown program \"" + s + "\" (the module's programs: " + (names.empty() ? "none" : names) + ")");
      }
      fail(at, "a prog array value is a program name, its index or 4 bytes of hex, not " + std::string(j.type_name()));
    }
    return bytes(j, at, "the value");
  }

  MapContents read(const nlohmann::json& body) const {
    MapContents c;
    c.name = def.name;
    if (!body.is_object()) fail("", "the map's contents must be a JSON object, not " + std::string(body.type_name()));
    const bool ring = def.type == BPF_MAP_TYPE_RINGBUF;
    for (const auto& [field, v] : body.items()) {
      if (field == (ring ? "records" : "entries")) continue;
      fail("", "unknown field \"" + field + "\" (expected \"" + (ring ? "records" : "entries") + "\")");
    }
    if (ring) {
      if (!body.contains("records")) return c;
      const auto& records = body.at("records");
      if (!records.is_array()) fail("", "\"records\" must be an array of hex strings");
      for (std::size_t i = 0; i < records.size(); ++i)
        c.records.push_back(bytes(records[i], "record " + std::to_string(i) + ": ", "the record"));
      return c;
    }
    if (!body.contains("entries")) return c;
    const auto& entries = body.at("entries");
    if (!entries.is_array()) fail("", "\"entries\" must be an array");
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      std::string at = "entry " + std::to_string(i) + ": ";
      if (!e.is_object()) fail(at, "an entry must be an object with \"key\" and \"value\" or \"values\"");
      for (const auto& [field, v] : e.items())
        if (field != "key" && field != "value" && field != "values")
          fail(at, "unknown field \"" + field + "\" (expected \"key\" and \"value\" or \"values\")");
      if (!e.contains("key")) fail(at, "the entry has no \"key\"");
      MapEntry entry;
      entry.key = key(e.at("key"), at);
      at = "entry " + std::to_string(i) + " (key " + to_hex(entry.key) + "): ";
      const bool one = e.contains("value"), many = e.contains("values");
      if (one == many) fail(at, "give exactly one of \"value\" and \"values\"");
      if (one) {
        entry.values.push_back(value(e.at("value"), at));
      } else {
        if (!is_per_cpu(def.type)) fail(at, "only per-CPU maps take \"values\"; give \"value\"");
        const auto& vs = e.at("values");
        if (!vs.is_array() || vs.size() != ncpus)
          fail(at, "\"values\" must be an array of " + std::to_string(ncpus) + " values, one per CPU");
        for (const auto& v : vs) entry.values.push_back(value(v, at));
      }
      c.entries.push_back(std::move(entry));
    }
    return c;
  }
};

}  // namespace

void MapSet::seed_json(const nlohmann::json& j, const std::vector<std::string>& programs, const Location& where) {
  if (!j.is_object())
    throw InputError(where, "map contents must be a JSON object of map names, not " + std::string(j.type_name()));
  for (const auto& [name, body] : j.items()) {
    const int index = find(name);
    if (index < 0) {
      std::string names;
      for (const MapInstance& m : maps_) names += (names.empty() ? "" : ", ") + m.def().name;
      throw InputError(where, "unknown map '" + name + "' (the module's maps: " + (names.empty() ? "none" : names) + ")");
    }
    MapInstance& m = maps_[std::size_t(index)];
    const MapContents contents = SeedReader{m.def(), m.ncpus(), programs, where}.read(body);
    try {
      m.seed(contents);
    } catch (const InputError& e) {
      throw e.within(where);
    }
  }
}

nlohmann::json to_json(const std::vector<MapContents>& dumps, const std::vector<MapDef>& defs) {
  nlohmann::json out = nlohmann::json::object();
  for (const MapContents& d : dumps) {
    const auto def = std::find_if(defs.begin(), defs.end(), [&](const MapDef& x) { return x.name == d.name; });
    const bool known = def != defs.end();
    if ((known && def->type == BPF_MAP_TYPE_RINGBUF) || (!known && !d.records.empty())) {
      nlohmann::json records = nlohmann::json::array();
      for (const Bytes& r : d.records) records.push_back(to_hex(r));
      out[d.name] = {{"records", std::move(records)}};
      continue;
    }
    const bool per_cpu = known ? is_per_cpu(def->type) : false;
    nlohmann::json entries = nlohmann::json::array();
    for (const MapEntry& e : d.entries) {
      nlohmann::json entry = {{"key", to_hex(e.key)}};
      if (per_cpu || e.values.size() != 1) {
        nlohmann::json values = nlohmann::json::array();
        for (const Bytes& v : e.values) values.push_back(to_hex(v));
        entry["values"] = std::move(values);
      } else {
        entry["value"] = to_hex(e.values.front());
      }
      entries.push_back(std::move(entry));
    }
    out[d.name] = {{"entries", std::move(entries)}};
  }
  return out;
}

}  // namespace tristate
