// The interpreter's maps: every modelled type, every error code, and the JSON seed/dump format.
// Expected values are worked out by hand from the kernel functions named in compiler/maps.cpp.
#include "compiler/maps.hpp"

#include <linux/bpf.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "compiler/hex.hpp"

using namespace tristate;

namespace {

MapDef make_def(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const std::string& name = "m") {
  return {.name = name, .type = type, .key_size = key_size, .value_size = value_size, .max_entries = max_entries};
}

Bytes u32(uint32_t v) {
  Bytes b(4);
  std::memcpy(b.data(), &v, 4);
  return b;
}

Bytes u64(uint64_t v) {
  Bytes b(8);
  std::memcpy(b.data(), &v, 8);
  return b;
}

uint32_t read32(const uint8_t* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

// An LPM key: u32 prefixlen (host order) then the data bytes.
Bytes lpm(uint32_t prefixlen, std::initializer_list<uint8_t> data) {
  Bytes b = u32(prefixlen);
  b.insert(b.end(), data);
  return b;
}

// The u32 value an LPM lookup finds, or -1.
int64_t lpm_find(MapInstance& m, const Bytes& key) {
  const uint8_t* p = m.lookup(key, 0);
  return p ? int64_t(read32(p)) : -1;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

}  // namespace

TEST_CASE("map type predicates", "[maps]") {
  CHECK(is_per_cpu(BPF_MAP_TYPE_PERCPU_ARRAY));
  CHECK(is_per_cpu(BPF_MAP_TYPE_PERCPU_HASH));
  CHECK(is_per_cpu(BPF_MAP_TYPE_LRU_PERCPU_HASH));
  CHECK_FALSE(is_per_cpu(BPF_MAP_TYPE_LRU_HASH));
  CHECK_FALSE(is_per_cpu(BPF_MAP_TYPE_ARRAY));
  for (uint32_t t : {BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH,
                     BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_LPM_TRIE, BPF_MAP_TYPE_PROG_ARRAY,
                     BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_XSKMAP,
                     BPF_MAP_TYPE_RINGBUF})
    CHECK(is_modelled_map_type(t));
  CHECK_FALSE(is_modelled_map_type(BPF_MAP_TYPE_STACK));
  CHECK_FALSE(is_modelled_map_type(BPF_MAP_TYPE_SOCKMAP));
}

TEST_CASE("maps the kernel would refuse are InputErrors naming the map", "[maps]") {
  const auto refused = [](const MapDef& d) { return message_of([&] { MapInstance m(d, 2); }); };
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_STACK, 0, 4, 4, "stk")), Catch::Contains("'stk'") && Catch::Contains("not modelled"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_ARRAY, 8, 4, 4, "arr")), Catch::Contains("'arr'") && Catch::Contains("4-byte key"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_ARRAY, 4, 0, 4)), Catch::Contains("needs a 4-byte key and a value"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_HASH, 4, 8, 0)), Catch::Contains("max_entries must not be 0"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_HASH, 0, 8, 4)), Catch::Contains("needs a key"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_LPM_TRIE, 4, 4, 4)), Catch::Contains("LPM"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_LPM_TRIE, 261, 4, 4)), Catch::Contains("LPM"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_RINGBUF, 0, 0, 12288)), Catch::Contains("power-of-2"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_RINGBUF, 0, 0, 2048)), Catch::Contains("multiple of 4096"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_DEVMAP, 4, 12, 4)), Catch::Contains("4- or 8-byte value"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 4)), Catch::Contains("4-byte value"));
  CHECK_THAT(refused(make_def(BPF_MAP_TYPE_ARRAY, 4, 1u << 20, 1u << 12)), Catch::Contains("more than the interpreter models"));
  MapDef internal = make_def(BPF_MAP_TYPE_ARRAY, 4, 2, 1, ".data");
  internal.internal = true;
  internal.initial_value = {1, 2, 3};
  CHECK_THAT(refused(internal), Catch::Contains("initial value has 3 bytes"));
}

TEST_CASE("array: lookup, update flags and their error codes, delete", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_ARRAY, 4, 4, 3), 2);
  uint8_t* v1 = m.lookup(u32(1), 0);
  REQUIRE(v1 != nullptr);
  CHECK(read32(v1) == 0);  // zero-initialised
  CHECK(reinterpret_cast<uintptr_t>(v1) % 8 == 0);
  CHECK(m.lookup(u32(1), 1) == v1);  // one copy for every CPU
  CHECK(m.lookup(u32(3), 0) == nullptr);
  CHECK(m.lookup(u32(0xffffffff), 0) == nullptr);

  CHECK(m.update(u32(1), u32(7), BPF_ANY, 0) == 0);
  CHECK(read32(v1) == 7);  // in place
  CHECK(m.update(u32(1), u32(8), BPF_EXIST, 0) == 0);
  CHECK(read32(v1) == 8);
  CHECK(m.update(u32(1), u32(9), BPF_NOEXIST, 0) == -EEXIST);  // every element exists
  CHECK(m.update(u32(3), u32(9), BPF_ANY, 0) == -E2BIG);
  CHECK(m.update(u32(3), u32(9), BPF_NOEXIST, 0) == -E2BIG);  // the index is checked first
  CHECK(m.update(u32(1), u32(9), 3, 0) == -EINVAL);
  CHECK(m.update(u32(1), u32(9), 8, 0) == -EINVAL);
  // array_map_update_elem's order: BPF_F_LOCK is refused only after the index and NOEXIST checks.
  CHECK(m.update(u32(1), u32(9), BPF_F_LOCK, 0) == -EINVAL);
  CHECK(m.update(u32(3), u32(9), BPF_F_LOCK, 0) == -E2BIG);
  CHECK(m.update(u32(1), u32(9), BPF_F_LOCK | BPF_NOEXIST, 0) == -EEXIST);
  CHECK(read32(v1) == 8);
  CHECK(m.remove(u32(1)) == -EINVAL);
  CHECK(m.remove(u32(5)) == -EINVAL);

  // Writes through the pointer show in the dump, which lists every index.
  v1[3] = 0xaa;
  const MapContents d = m.dump();
  CHECK(d.name == "m");
  REQUIRE(d.entries.size() == 3);
  CHECK(d.entries[0] == MapEntry{u32(0), {u32(0)}});
  CHECK(d.entries[1] == MapEntry{u32(1), {Bytes{8, 0, 0, 0xaa}}});
  CHECK(d.entries[2] == MapEntry{u32(2), {u32(0)}});
  CHECK(d.records.empty());

  m.clear();
  CHECK(m.lookup(u32(1), 0) == v1);  // arrays never move
  CHECK(read32(v1) == 0);
}

TEST_CASE("array: clear zeroes every written element and internal maps restart from their initial value", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_ARRAY, 4, 16, 100), 1);
  for (uint32_t i = 0; i < 100; i += 7) REQUIRE(m.update(u32(i), Bytes(16, uint8_t(i + 1)), BPF_ANY, 0) == 0);
  m.lookup(u32(50), 0)[15] = 1;
  m.clear();
  for (const MapEntry& e : m.dump().entries) CHECK(e.values[0] == Bytes(16, 0));

  MapDef data = make_def(BPF_MAP_TYPE_ARRAY, 4, 6, 1, ".data");
  data.internal = true;
  data.section = ".data";
  data.initial_value = {1, 2, 3};  // shorter than the value: padded with zeros
  MapInstance g(data, 2);
  uint8_t* p = g.lookup(u32(0), 0);
  REQUIRE(p != nullptr);
  CHECK(Bytes(p, p + 6) == Bytes{1, 2, 3, 0, 0, 0});
  p[0] = 9;
  p[5] = 9;
  g.clear();
  CHECK(g.lookup(u32(0), 1) == p);
  CHECK(Bytes(p, p + 6) == Bytes{1, 2, 3, 0, 0, 0});
}

TEST_CASE("per-CPU array: each CPU its own copy", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2), 3);
  uint8_t* c0 = m.lookup(u32(0), 0);
  uint8_t* c2 = m.lookup(u32(0), 2);
  REQUIRE(c0 != nullptr);
  CHECK(c0 != c2);
  CHECK(m.update(u32(0), u32(5), BPF_ANY, 2) == 0);
  CHECK(read32(c2) == 5);
  CHECK(read32(c0) == 0);
  CHECK(m.update(u32(0), u32(5), BPF_NOEXIST, 1) == -EEXIST);
  CHECK(m.update(u32(2), u32(5), BPF_ANY, 1) == -E2BIG);
  CHECK(m.remove(u32(0)) == -EINVAL);
  const MapContents d = m.dump();
  REQUIRE(d.entries.size() == 2);
  CHECK(d.entries[0].values == std::vector<Bytes>{u32(0), u32(0), u32(5)});
  CHECK(d.entries[1].values == std::vector<Bytes>{u32(0), u32(0), u32(0)});
}

TEST_CASE("hash: flags, capacity, delete, and stable value memory", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_HASH, 2, 4, 2), 1);
  CHECK(m.lookup(Bytes{1, 0}, 0) == nullptr);
  CHECK(m.update(Bytes{1, 0}, u32(10), BPF_EXIST, 0) == -ENOENT);
  CHECK(m.update(Bytes{1, 0}, u32(10), BPF_NOEXIST, 0) == 0);
  CHECK(m.update(Bytes{1, 0}, u32(11), BPF_NOEXIST, 0) == -EEXIST);
  CHECK(m.update(Bytes{1, 0}, u32(11), 3, 0) == -EINVAL);
  CHECK(m.update(Bytes{1, 0}, u32(11), BPF_F_LOCK, 0) == -EINVAL);  // no spin locks modelled
  uint8_t* first = m.lookup(Bytes{1, 0}, 0);
  REQUIRE(first != nullptr);
  CHECK(read32(first) == 10);

  // Replacing links a new element: the old pointer keeps the old bytes, a new lookup sees the new.
  CHECK(m.update(Bytes{1, 0}, u32(12), BPF_EXIST, 0) == 0);
  uint8_t* second = m.lookup(Bytes{1, 0}, 0);
  CHECK(second != first);
  CHECK(read32(first) == 10);
  CHECK(read32(second) == 12);

  CHECK(m.update(Bytes{0, 9}, u32(20), BPF_ANY, 0) == 0);
  CHECK(m.update(Bytes{2, 0}, u32(30), BPF_ANY, 0) == -E2BIG);  // full
  CHECK(m.update(Bytes{0, 9}, u32(21), BPF_ANY, 0) == 0);       // replacing works when full

  const MapContents d = m.dump();
  REQUIRE(d.entries.size() == 2);
  CHECK(d.entries[0] == MapEntry{Bytes{0, 9}, {u32(21)}});  // bytewise order
  CHECK(d.entries[1] == MapEntry{Bytes{1, 0}, {u32(12)}});

  CHECK(m.remove(Bytes{1, 0}) == 0);
  CHECK(m.remove(Bytes{1, 0}) == -ENOENT);
  CHECK(m.lookup(Bytes{1, 0}, 0) == nullptr);
  CHECK(read32(second) == 12);  // still readable after the delete
  second[0] = 99;               // and writable, without effect on the map
  CHECK(m.update(Bytes{1, 0}, u32(13), BPF_NOEXIST, 0) == 0);
  CHECK(read32(m.lookup(Bytes{1, 0}, 0)) == 13);
  m.clear();
  CHECK(m.dump().entries.empty());
}

TEST_CASE("per-CPU hash: a new entry's other CPUs are zero, an existing entry's keep theirs", "[maps]") {
  for (uint32_t type : {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH}) {
    MapInstance m(make_def(type, 4, 4, 4), 3);
    CHECK(m.update(u32(1), u32(5), BPF_ANY, 1) == 0);
    CHECK(read32(m.lookup(u32(1), 0)) == 0);
    CHECK(read32(m.lookup(u32(1), 1)) == 5);
    CHECK(read32(m.lookup(u32(1), 2)) == 0);
    uint8_t* p2 = m.lookup(u32(1), 2);
    CHECK(m.update(u32(1), u32(7), BPF_EXIST, 2) == 0);
    CHECK(m.lookup(u32(1), 2) == p2);  // in place
    CHECK(read32(p2) == 7);
    CHECK(read32(m.lookup(u32(1), 1)) == 5);
    CHECK(m.update(u32(1), u32(7), BPF_NOEXIST, 0) == -EEXIST);
    CHECK(m.update(u32(2), u32(7), BPF_EXIST, 0) == -ENOENT);
    CHECK(m.update(u32(1), u32(7), BPF_F_LOCK, 0) == -EINVAL);
    CHECK(m.dump().entries == std::vector<MapEntry>{{u32(1), {u32(0), u32(5), u32(7)}}});
    CHECK(m.remove(u32(1)) == 0);
    CHECK(read32(p2) == 7);
  }
}

TEST_CASE("LRU hash: evicts the least recently used; lookups and updates count as use", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_LRU_HASH, 4, 4, 3), 1);
  for (uint32_t k = 1; k <= 3; ++k) REQUIRE(m.update(u32(k), u32(k * 10), BPF_ANY, 0) == 0);
  uint8_t* one = m.lookup(u32(1), 0);  // use order now 2, 3, 1
  CHECK(m.update(u32(4), u32(40), BPF_ANY, 0) == 0);  // evicts 2
  CHECK(m.lookup(u32(2), 0) == nullptr);
  CHECK(m.update(u32(3), u32(31), BPF_EXIST, 0) == 0);  // use order 1, 4, 3
  CHECK(m.update(u32(5), u32(50), BPF_NOEXIST, 0) == 0);  // evicts 1
  CHECK(m.lookup(u32(1), 0) == nullptr);
  CHECK(read32(one) == 10);  // the evicted value stays readable
  CHECK(m.update(u32(6), u32(60), BPF_EXIST, 0) == -ENOENT);
  CHECK(m.update(u32(4), u32(41), BPF_NOEXIST, 0) == -EEXIST);
  CHECK(m.update(u32(4), u32(41), BPF_F_LOCK, 0) == -EINVAL);
  CHECK(m.remove(u32(9)) == -ENOENT);
  // Order 4, 3, 5: the failed updates above did not count as use.
  CHECK(m.update(u32(7), u32(70), BPF_ANY, 0) == 0);  // evicts 4
  const MapContents d = m.dump();
  REQUIRE(d.entries.size() == 3);
  CHECK(d.entries[0].key == u32(3));
  CHECK(d.entries[1].key == u32(5));
  CHECK(d.entries[2].key == u32(7));
  CHECK(d.entries[0].values[0] == u32(31));
}

TEST_CASE("LPM trie: longest prefix match", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 16), 1);
  CHECK(lpm_find(m, lpm(32, {10, 0, 10, 123})) == -1);  // empty
  REQUIRE(m.update(lpm(8, {10, 0, 0, 0}), u32(1), BPF_ANY, 0) == 0);
  REQUIRE(m.update(lpm(24, {10, 0, 10, 0}), u32(2), BPF_ANY, 0) == 0);
  REQUIRE(m.update(lpm(32, {10, 0, 10, 123}), u32(3), BPF_ANY, 0) == 0);
  // The example of docs.ebpf.io's BPF_MAP_TYPE_LPM_TRIE page.
  CHECK(lpm_find(m, lpm(32, {10, 0, 10, 123})) == 3);
  CHECK(lpm_find(m, lpm(32, {10, 0, 10, 200})) == 2);
  CHECK(lpm_find(m, lpm(32, {10, 12, 0, 1})) == 1);
  CHECK(lpm_find(m, lpm(32, {12, 0, 0, 1})) == -1);
  // The lookup key's own prefixlen bounds the match (longest_prefix_match takes the minimum).
  CHECK(lpm_find(m, lpm(31, {10, 0, 10, 123})) == 2);
  CHECK(lpm_find(m, lpm(24, {10, 0, 10, 123})) == 2);
  CHECK(lpm_find(m, lpm(23, {10, 0, 10, 123})) == 1);
  CHECK(lpm_find(m, lpm(7, {10, 0, 10, 123})) == -1);
  CHECK(lpm_find(m, lpm(33, {10, 0, 10, 123})) == -1);  // past max_prefixlen
  // A /0 entry matches everything; bits past a prefix do not matter.
  REQUIRE(m.update(lpm(0, {0xff, 0xff, 0, 0}), u32(9), BPF_ANY, 0) == 0);
  CHECK(lpm_find(m, lpm(32, {12, 0, 0, 1})) == 9);
  CHECK(lpm_find(m, lpm(0, {10, 0, 10, 123})) == 9);
  // Overlapping prefixes that differ inside a byte: 10.0.10.128/25 and 10.0.10.0/23.
  REQUIRE(m.update(lpm(25, {10, 0, 10, 128}), u32(4), BPF_ANY, 0) == 0);
  REQUIRE(m.update(lpm(23, {10, 0, 11, 0}), u32(5), BPF_ANY, 0) == 0);  // stored as 10.0.10.0/23
  CHECK(lpm_find(m, lpm(32, {10, 0, 10, 129})) == 4);
  CHECK(lpm_find(m, lpm(32, {10, 0, 10, 127})) == 2);
  CHECK(lpm_find(m, lpm(32, {10, 0, 11, 1})) == 5);
  CHECK(lpm_find(m, lpm(32, {10, 0, 12, 1})) == 1);
}

TEST_CASE("LPM trie: lookups agree with a brute-force longest match through updates and deletes", "[maps]") {
  // IPv4- and IPv6-sized keys; few distinct data bits, so prefixes nest and collide often.
  for (uint32_t data_bytes : {4u, 16u}) {
    DYNAMIC_SECTION(data_bytes << " data bytes") {
      std::mt19937_64 rng(data_bytes);
      const uint32_t max_len = data_bytes * 8;
      MapInstance m(make_def(BPF_MAP_TYPE_LPM_TRIE, 4 + data_bytes, 4, 64), 1);
      const auto random_key = [&](uint32_t prefixlen) {
        Bytes k = u32(prefixlen);
        for (uint32_t i = 0; i < data_bytes; ++i) k.push_back(uint8_t(rng() % 2 ? 0x0a : 0x8b));
        return k;
      };
      const auto masked = [&](const Bytes& key, uint32_t len) {
        Bytes d(key.begin() + 4, key.end());
        for (uint32_t bit = len; bit < max_len; ++bit) d[bit / 8] &= uint8_t(~(0x80 >> (bit % 8)));
        return d;
      };
      std::map<std::pair<uint32_t, Bytes>, uint32_t> stored;  // (prefixlen, masked data) -> value
      for (int step = 0; step < 3000; ++step) {
        const uint32_t len = uint32_t(rng() % (max_len + 1));
        const Bytes key = random_key(len);
        if (step % 3 == 0) {
          const uint32_t value = uint32_t(step);
          const int64_t rc = m.update(key, u32(value), BPF_ANY, 0);
          auto at = std::make_pair(len, masked(key, len));
          if (rc == 0) stored[at] = value;
          else CHECK((rc == -ENOSPC && stored.size() == 64 && !stored.count(at)));
        } else if (step % 3 == 1) {
          CHECK(m.remove(key) == (stored.erase({len, masked(key, len)}) ? 0 : -ENOENT));
        } else {
          int64_t want = -1;
          uint32_t best = 0;
          for (const auto& [at, value] : stored)
            if (at.first <= len && (want < 0 || at.first >= best) && masked(key, at.first) == at.second) {
              want = value;
              best = at.first;
            }
          CHECK(lpm_find(m, key) == want);
        }
      }
    }
  }
}

TEST_CASE("LPM trie: update, delete and their error codes", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 2), 1);
  CHECK(m.update(lpm(33, {1, 2, 3, 4}), u32(1), BPF_ANY, 0) == -EINVAL);
  CHECK(m.update(lpm(16, {1, 2, 3, 4}), u32(1), 3, 0) == -EINVAL);
  CHECK(m.update(lpm(16, {1, 2, 3, 4}), u32(1), BPF_F_LOCK, 0) == -EINVAL);
  CHECK(m.update(lpm(16, {1, 2, 3, 4}), u32(1), BPF_EXIST, 0) == -ENOENT);
  CHECK(m.update(lpm(16, {1, 2, 3, 4}), u32(1), BPF_NOEXIST, 0) == 0);
  // The same prefix with other bits past it is the same entry, and the key keeps the bytes last
  // written (the running kernel's get_next_key returns 1.2.9.4/16 here).
  CHECK(m.update(lpm(16, {1, 2, 9, 4}), u32(2), BPF_NOEXIST, 0) == -EEXIST);
  uint8_t* old = m.lookup(lpm(32, {1, 2, 0, 0}), 0);
  CHECK(m.update(lpm(16, {1, 2, 9, 4}), u32(2), BPF_EXIST, 0) == 0);
  CHECK(read32(old) == 1);  // a new node; the old one stays readable
  CHECK(lpm_find(m, lpm(32, {1, 2, 0, 0})) == 2);
  CHECK(m.update(lpm(32, {1, 2, 3, 4}), u32(3), BPF_ANY, 0) == 0);
  CHECK(m.update(lpm(8, {1, 0, 0, 0}), u32(4), BPF_ANY, 0) == -ENOSPC);  // full
  CHECK(m.update(lpm(8, {1, 0, 0, 0}), u32(4), BPF_EXIST, 0) == -ENOENT);  // ENOENT before ENOSPC
  CHECK(m.update(lpm(32, {1, 2, 3, 4}), u32(5), BPF_ANY, 0) == 0);       // replacing works when full

  const MapContents d = m.dump();
  REQUIRE(d.entries.size() == 2);
  CHECK(d.entries[0] == MapEntry{lpm(16, {1, 2, 9, 4}), {u32(2)}});
  CHECK(d.entries[1] == MapEntry{lpm(32, {1, 2, 3, 4}), {u32(5)}});

  // Delete wants the exact prefix: a longer or shorter one, or a prefix past max, does not match.
  CHECK(m.remove(lpm(33, {1, 2, 3, 4})) == -EINVAL);
  CHECK(m.remove(lpm(15, {1, 2, 0, 0})) == -ENOENT);
  CHECK(m.remove(lpm(24, {1, 2, 3, 0})) == -ENOENT);
  CHECK(m.remove(lpm(16, {1, 2, 0xff, 0xff})) == 0);  // bits past the prefix do not matter
  CHECK(m.remove(lpm(16, {1, 2, 0, 0})) == -ENOENT);
  CHECK(lpm_find(m, lpm(32, {1, 2, 0, 0})) == -1);
  CHECK(lpm_find(m, lpm(32, {1, 2, 3, 4})) == 5);
}

TEST_CASE("prog array: BPF_ANY only, -E2BIG past the end, delete -ENOENT when empty", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4), 2);
  CHECK(m.lookup(u32(1), 0) == nullptr);
  CHECK(m.update(u32(1), u32(0), BPF_NOEXIST, 0) == -EINVAL);
  CHECK(m.update(u32(1), u32(0), BPF_EXIST, 0) == -EINVAL);
  CHECK(m.update(u32(4), u32(0), BPF_ANY, 0) == -E2BIG);
  CHECK(m.update(u32(3), u32(2), BPF_ANY, 0) == 0);
  CHECK(m.update(u32(1), u32(1), BPF_ANY, 0) == 0);
  REQUIRE(m.lookup(u32(3), 0) != nullptr);
  CHECK(read32(m.lookup(u32(3), 0)) == 2);  // what bpf_tail_call reads
  CHECK(m.dump().entries == std::vector<MapEntry>{{u32(1), {u32(1)}}, {u32(3), {u32(2)}}});
  CHECK(m.remove(u32(3)) == 0);
  CHECK(m.remove(u32(3)) == -ENOENT);
  CHECK(m.remove(u32(4)) == -E2BIG);
  CHECK(m.lookup(u32(3), 0) == nullptr);
}

TEST_CASE("devmap and cpumap: every slot exists for NOEXIST; 0 empties a slot; delete is 0", "[maps]") {
  MapInstance dev(make_def(BPF_MAP_TYPE_DEVMAP, 4, 4, 4), 2);
  CHECK(dev.remove(u32(0)) == 0);  // empty: still 0
  CHECK(dev.remove(u32(4)) == -EINVAL);
  CHECK(dev.update(u32(0), u32(1), BPF_NOEXIST, 0) == -EEXIST);
  CHECK(dev.update(u32(0), u32(1), BPF_EXIST, 0) == 0);
  CHECK(dev.update(u32(0), u32(1), 3, 0) == -EINVAL);
  CHECK(dev.update(u32(4), u32(1), BPF_ANY, 0) == -E2BIG);
  REQUIRE(dev.lookup(u32(0), 0) != nullptr);
  CHECK(read32(dev.lookup(u32(0), 0)) == 1);
  CHECK(dev.update(u32(2), u32(7), BPF_ANY, 0) == 0);
  CHECK(dev.dump().entries == std::vector<MapEntry>{{u32(0), {u32(1)}}, {u32(2), {u32(7)}}});
  CHECK(dev.update(u32(0), u32(0), BPF_ANY, 0) == 0);  // ifindex 0 empties the slot
  CHECK(dev.lookup(u32(0), 0) == nullptr);
  CHECK(dev.remove(u32(2)) == 0);
  CHECK(dev.dump().entries.empty());

  MapInstance dev8(make_def(BPF_MAP_TYPE_DEVMAP, 4, 8, 4), 2);
  CHECK(dev8.update(u32(0), u64(uint64_t(5) << 32), BPF_ANY, 0) == -EINVAL);  // a program without a device

  MapInstance cpu(make_def(BPF_MAP_TYPE_CPUMAP, 4, 4, 8), 2);
  CHECK(cpu.update(u32(0), u32(16385), BPF_ANY, 0) == -EOVERFLOW);
  CHECK(cpu.update(u32(2), u32(64), BPF_ANY, 0) == -ENODEV);  // only CPUs 0 and 1
  CHECK(cpu.update(u32(8), u32(64), BPF_ANY, 0) == -E2BIG);
  CHECK(cpu.update(u32(1), u32(64), BPF_NOEXIST, 0) == -EEXIST);
  CHECK(cpu.update(u32(1), u32(16384), BPF_ANY, 0) == 0);
  REQUIRE(cpu.lookup(u32(1), 0) != nullptr);
  CHECK(read32(cpu.lookup(u32(1), 0)) == 16384);
  CHECK(cpu.update(u32(1), u32(0), BPF_ANY, 0) == 0);  // qsize 0 empties the slot
  CHECK(cpu.lookup(u32(1), 0) == nullptr);
  CHECK(cpu.remove(u32(1)) == 0);
  CHECK(cpu.remove(u32(8)) == -EINVAL);
}

TEST_CASE("xskmap: an indexed map with hash-like NOEXIST and EXIST", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_XSKMAP, 4, 4, 2), 1);
  CHECK(m.update(u32(0), u32(3), BPF_EXIST, 0) == -ENOENT);
  CHECK(m.update(u32(0), u32(3), BPF_NOEXIST, 0) == 0);
  CHECK(m.update(u32(0), u32(4), BPF_NOEXIST, 0) == -EEXIST);
  CHECK(m.update(u32(0), u32(4), BPF_EXIST, 0) == 0);
  CHECK(m.update(u32(2), u32(4), BPF_ANY, 0) == -E2BIG);
  CHECK(m.update(u32(0), u32(4), 3, 0) == -EINVAL);
  CHECK(read32(m.lookup(u32(0), 0)) == 4);
  CHECK(m.remove(u32(1)) == 0);
  CHECK(m.remove(u32(2)) == -EINVAL);
  CHECK(m.remove(u32(0)) == 0);
  CHECK(m.lookup(u32(0), 0) == nullptr);
}

TEST_CASE("devmap hash: NOEXIST only, -E2BIG when full, delete -ENOENT", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 2), 1);
  CHECK(m.update(u32(9), u32(1), BPF_EXIST, 0) == 0);  // the kernel does not check EXIST here
  CHECK(m.update(u32(9), u32(1), BPF_NOEXIST, 0) == -EEXIST);
  CHECK(m.update(u32(9), u32(1), 3, 0) == -EINVAL);
  CHECK(m.update(u32(5), u32(0), BPF_ANY, 0) == -EINVAL);  // ifindex 0 names no device
  CHECK(m.update(u32(0x100), u32(2), BPF_ANY, 0) == 0);
  CHECK(m.update(u32(1), u32(1), BPF_ANY, 0) == -E2BIG);
  CHECK(m.dump().entries == std::vector<MapEntry>{{u32(0x100), {u32(2)}}, {u32(9), {u32(1)}}});  // bytewise
  CHECK(m.remove(u32(1)) == -ENOENT);
  CHECK(m.remove(u32(9)) == 0);
  CHECK(m.lookup(u32(9), 0) == nullptr);
}

TEST_CASE("ring buffer: records until -EAGAIN; no lookup, update or delete", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096), 2);
  CHECK(m.lookup({}, 0) == nullptr);
  CHECK(m.update({}, {}, BPF_ANY, 0) == -EINVAL);
  CHECK(m.remove({}) == -EINVAL);
  CHECK(m.ringbuf_output(Bytes{1}, 4) == -EINVAL);
  CHECK(m.ringbuf_output(Bytes{1}, BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) == 0);  // both bits: allowed
  CHECK(m.ringbuf_output(Bytes(3, 2), BPF_RB_FORCE_WAKEUP) == 0);
  // Used so far: 2 * round_up(8 + n, 8) = 32 bytes. The producer may run 4095 bytes ahead, so
  // 4064 more bytes hold 253 records of 8 + 8 bytes and leave 16 bytes, one record short.
  for (int i = 0; i < 253; ++i) REQUIRE(m.ringbuf_output(u64(uint64_t(i)), 0) == 0);
  CHECK(m.ringbuf_output(u64(0), 0) == -EAGAIN);
  CHECK(m.ringbuf_output(Bytes(1), 0) == -EAGAIN);  // also 16 bytes
  CHECK(m.ringbuf_output({}, 0) == 0);              // a bare header: 8 bytes, 4088 in use
  CHECK(m.ringbuf_output({}, 0) == -EAGAIN);        // 4096 would not leave the one byte
  const MapContents d = m.dump();
  REQUIRE(d.records.size() == 256);
  CHECK(d.records[0] == Bytes{1});
  CHECK(d.records[1] == Bytes{2, 2, 2});
  CHECK(d.records[254] == u64(252));
  CHECK(d.records[255].empty());
  CHECK(d.entries.empty());
  m.clear();
  CHECK(m.dump().records.empty());
  CHECK(m.ringbuf_output(Bytes(4080), 0) == 0);  // 4088 bytes fit an empty ring
  m.clear();
  CHECK(m.ringbuf_output(Bytes(4081), 0) == -EAGAIN);
}

TEST_CASE("clear empties hash-like maps and keeps nothing", "[maps]") {
  MapInstance m(make_def(BPF_MAP_TYPE_LRU_HASH, 4, 4, 2), 1);
  m.update(u32(1), u32(1), BPF_ANY, 0);
  m.update(u32(2), u32(2), BPF_ANY, 0);
  m.clear();
  CHECK(m.dump().entries.empty());
  // After clear the LRU order starts afresh: 3, 4 fill the map and 5 evicts 3.
  m.update(u32(3), u32(3), BPF_ANY, 0);
  m.update(u32(4), u32(4), BPF_ANY, 0);
  m.update(u32(5), u32(5), BPF_ANY, 0);
  CHECK(m.lookup(u32(3), 0) == nullptr);
  CHECK(m.lookup(u32(4), 0) != nullptr);

  MapInstance lpm_map(make_def(BPF_MAP_TYPE_LPM_TRIE, 5, 4, 4), 1);
  lpm_map.update(lpm(8, {1}), u32(1), BPF_ANY, 0);
  lpm_map.clear();
  CHECK(lpm_find(lpm_map, lpm(8, {1})) == -1);
}

TEST_CASE("seed: user-side updates, per-CPU values, and errors naming the map and entry", "[maps]") {
  MapInstance pc(make_def(BPF_MAP_TYPE_PERCPU_HASH, 4, 4, 2, "counts"), 2);
  pc.seed({"counts", {{u32(1), {u32(5)}}, {u32(2), {u32(6), u32(7)}}}, {}});
  CHECK(pc.dump().entries == std::vector<MapEntry>{{u32(1), {u32(5), u32(5)}}, {u32(2), {u32(6), u32(7)}}});
  pc.seed({"counts", {{u32(2), {u32(8), u32(9)}}}, {}});  // replaces
  CHECK(read32(pc.lookup(u32(2), 1)) == 9);
  const auto seed_error = [](MapInstance& m, const MapContents& c) { return message_of([&] { m.seed(c); }); };
  CHECK_THAT(seed_error(pc, {"counts", {{u32(3), {u32(1)}}}, {}}),
             Catch::Contains("'counts'") && Catch::Contains("entry 0 (key 03000000)") && Catch::Contains("overflow"));
  CHECK_THAT(seed_error(pc, {"counts", {{Bytes{1}, {u32(1)}}}, {}}), Catch::Contains("the key has 1 bytes"));
  CHECK_THAT(seed_error(pc, {"counts", {{u32(1), {Bytes{1}}}}, {}}), Catch::Contains("a value has 1 bytes"));
  CHECK_THAT(seed_error(pc, {"counts", {{u32(1), {u32(1), u32(2), u32(3)}}}, {}}), Catch::Contains("3 values"));
  CHECK_THAT(seed_error(pc, {"counts", {}, {Bytes{1}}}), Catch::Contains("only ring buffers"));

  MapInstance arr(make_def(BPF_MAP_TYPE_ARRAY, 4, 4, 2, "arr"), 1);
  CHECK_THAT(seed_error(arr, {"arr", {{u32(1), {u32(1)}}, {u32(2), {u32(1)}}}, {}}),
             Catch::Contains("entry 1 (key 02000000): index 2 is out of range (max_entries 2)"));
  CHECK_THAT(seed_error(arr, {"arr", {{u32(0), {u32(1), u32(1)}}}, {}}), Catch::Contains("expected 1"));

  MapInstance lru(make_def(BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, "lru"), 1);
  lru.seed({"lru", {{u32(1), {u32(1)}}, {u32(2), {u32(2)}}}, {}});  // user-side updates evict too
  CHECK(lru.dump().entries == std::vector<MapEntry>{{u32(2), {u32(2)}}});

  MapInstance trie(make_def(BPF_MAP_TYPE_LPM_TRIE, 5, 4, 4, "trie"), 1);
  CHECK_THAT(seed_error(trie, {"trie", {{lpm(9, {1}), {u32(1)}}}, {}}), Catch::Contains("prefix length 9 exceeds 8"));
  MapInstance cpus(make_def(BPF_MAP_TYPE_CPUMAP, 4, 4, 4, "cpus"), 1);
  CHECK_THAT(seed_error(cpus, {"cpus", {{u32(1), {u32(1)}}}, {}}), Catch::Contains("cpu 1 does not exist"));

  MapInstance ring(make_def(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, "events"), 1);
  ring.seed({"events", {}, {Bytes{1, 2}, Bytes{3}}});
  CHECK(ring.dump().records == std::vector<Bytes>{Bytes{1, 2}, Bytes{3}});
  CHECK_THAT(seed_error(ring, {"events", {}, {Bytes(4096)}}), Catch::Contains("record 0") && Catch::Contains("full"));
  CHECK_THAT(seed_error(ring, {"events", {{Bytes{}, {Bytes{}}}}, {}}), Catch::Contains("takes \"records\""));
}

namespace {

std::vector<MapDef> json_defs() {
  MapDef data = make_def(BPF_MAP_TYPE_ARRAY, 4, 4, 1, ".data");
  data.internal = true;
  data.initial_value = {1, 0, 0, 0};
  return {make_def(BPF_MAP_TYPE_HASH, 2, 2, 8, "flows"), make_def(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2, "stats"),
          make_def(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, "jmp"), make_def(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, "events"),
          make_def(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4, "routes"), data};
}

const std::vector<std::string> kPrograms = {"entry", "deadbeef", "parse"};

}  // namespace

TEST_CASE("JSON: seed then dump round trips", "[maps]") {
  const auto defs = json_defs();
  MapSet maps(defs, 2);
  REQUIRE(maps.size() == defs.size());
  CHECK(maps.find("stats") == 1);
  CHECK(maps.find("nope") == -1);
  const nlohmann::json seed = nlohmann::json::parse(R"({
    "flows": {"entries": [{"key": "0200", "value": "AB CD"}, {"key": "0100", "value": "0000"}]},
    "stats": {"entries": [{"key": 1, "values": ["01000000", "02000000"]}, {"key": "00000000", "value": "07000000"}]},
    "jmp": {"entries": [{"key": 2, "value": "parse"}, {"key": 0, "value": 1}, {"key": 3, "value": "deadbeef"}]},
    "events": {"records": ["0102", ""]},
    "routes": {"entries": [{"key": "100000000a0bffff", "value": "05000000"}]}
  })");
  maps.seed_json(seed, kPrograms, Location{"seed.json", "", std::nullopt});
  const nlohmann::json out = to_json(maps.dump(), defs);
  const nlohmann::json expected = nlohmann::json::parse(R"({
    "flows": {"entries": [{"key": "0100", "value": "0000"}, {"key": "0200", "value": "abcd"}]},
    "stats": {"entries": [{"key": "00000000", "values": ["07000000", "07000000"]},
                          {"key": "01000000", "values": ["01000000", "02000000"]}]},
    "jmp": {"entries": [{"key": "00000000", "value": "01000000"}, {"key": "02000000", "value": "02000000"},
                        {"key": "03000000", "value": "01000000"}]},
    "events": {"records": ["0102", ""]},
    "routes": {"entries": [{"key": "100000000a0bffff", "value": "05000000"}]},
    ".data": {"entries": [{"key": "00000000", "value": "01000000"}]}
  })");
  CHECK(out == expected);

  // The dump seeds an equal set of maps.
  MapSet again(defs, 2);
  again.seed_json(out, kPrograms, {});
  CHECK(again.dump() == maps.dump());
}

TEST_CASE("JSON: every malformed seed is an InputError naming the map and entry", "[maps]") {
  const auto defs = json_defs();
  const Location where{"seed.json", "", std::nullopt};
  const auto error = [&](const char* text) {
    MapSet maps(defs, 2);
    return message_of([&] { maps.seed_json(nlohmann::json::parse(text), kPrograms, where); });
  };
  CHECK_THAT(error(R"([1])"), Catch::Contains("seed.json") && Catch::Contains("JSON object of map names"));
  CHECK_THAT(error(R"({"nope": {}})"), Catch::Contains("unknown map 'nope'") && Catch::Contains("flows, stats"));
  CHECK_THAT(error(R"({"flows": []})"), Catch::Contains("'flows'") && Catch::Contains("must be a JSON object"));
  CHECK_THAT(error(R"({"flows": {"entry": []}})"), Catch::Contains("unknown field \"entry\""));
  CHECK_THAT(error(R"({"flows": {"records": []}})"), Catch::Contains("unknown field \"records\""));
  CHECK_THAT(error(R"({"events": {"entries": []}})"), Catch::Contains("'events'") && Catch::Contains("expected \"records\""));
  CHECK_THAT(error(R"({"events": {"records": "00"}})"), Catch::Contains("array of hex strings"));
  CHECK_THAT(error(R"({"events": {"records": ["0g"]}})"), Catch::Contains("record 0") && Catch::Contains("not hex"));
  CHECK_THAT(error(R"({"flows": {"entries": {}}})"), Catch::Contains("\"entries\" must be an array"));
  CHECK_THAT(error(R"({"flows": {"entries": [1]}})"), Catch::Contains("entry 0: an entry must be an object"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"value": "0000"}]}})"), Catch::Contains("entry 0: the entry has no \"key\""));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "0000", "value": "0000", "extra": 1}]}})"),
             Catch::Contains("unknown field \"extra\""));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "0000"}]}})"), Catch::Contains("exactly one of"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "0000", "value": "0000", "values": ["0000"]}]}})"),
             Catch::Contains("exactly one of"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "00", "value": "0000"}]}})"),
             Catch::Contains("'flows'") && Catch::Contains("entry 0 (key 00)") && Catch::Contains("the key has 1 bytes"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "0000", "value": "000000"}]}})"),
             Catch::Contains("a value has 3 bytes"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "0000", "value": "0"}]}})"), Catch::Contains("is not hex"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "zz00", "value": "0000"}]}})"),
             Catch::Contains("the key: \"zz00\" is not hex"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": 1, "value": "0000"}]}})"), Catch::Contains("not numbers"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "0000", "value": 5}]}})"), Catch::Contains("the value must be a string of hex or typed bytes"));
  CHECK_THAT(error(R"({"flows": {"entries": [{"key": "0000", "values": ["0000", "0000"]}]}})"),
             Catch::Contains("only per-CPU maps take \"values\""));
  CHECK_THAT(error(R"({"stats": {"entries": [{"key": 2, "value": "00000000"}]}})"),
             Catch::Contains("'stats'") && Catch::Contains("index 2 is out of range (max_entries 2)"));
  CHECK_THAT(error(R"({"stats": {"entries": [{"key": "02000000", "value": "00000000"}]}})"),
             Catch::Contains("index 2 is out of range"));
  CHECK_THAT(error(R"({"stats": {"entries": [{"key": -1, "value": "00000000"}]}})"), Catch::Contains("non-negative integer"));
  CHECK_THAT(error(R"({"stats": {"entries": [{"key": 1.5, "value": "00000000"}]}})"), Catch::Contains("non-negative integer"));
  CHECK_THAT(error(R"({"stats": {"entries": [{"key": 0, "values": ["00000000"]}]}})"),
             Catch::Contains("array of 2 values, one per CPU"));
  CHECK_THAT(error(R"({"jmp": {"entries": [{"key": 0, "value": "nosuch"}]}})"),
             Catch::Contains("'jmp'") && Catch::Contains("unknown program \"nosuch\"") && Catch::Contains("entry, deadbeef, parse"));
  CHECK_THAT(error(R"({"jmp": {"entries": [{"key": 0, "value": 3}]}})"),
             Catch::Contains("program index 3 is out of range (the module has 3 programs)"));
  CHECK_THAT(error(R"({"jmp": {"entries": [{"key": 0, "value": "03000000"}]}})"), Catch::Contains("program index 3"));
  CHECK_THAT(error(R"({"jmp": {"entries": [{"key": 4, "value": 0}]}})"), Catch::Contains("index 4 is out of range"));
  CHECK_THAT(error(R"({"jmp": {"entries": [{"key": 0, "value": [0]}]}})"), Catch::Contains("a prog array value is"));
  CHECK_THAT(error(R"({"routes": {"entries": [{"key": "2100000000000000", "value": "00000000"}]}})"),
             Catch::Contains("'routes'") && Catch::Contains("prefix length 33 exceeds 32"));
}

TEST_CASE("hex helpers: lowercase, no separators; whitespace ignored when parsing", "[maps]") {
  CHECK(to_hex(Bytes{0x00, 0xab, 0x7f}) == "00ab7f");
  CHECK(parse_hex("00 AB\n7f") == Bytes{0x00, 0xab, 0x7f});
  CHECK_FALSE(parse_hex("abc").has_value());
  CHECK_FALSE(parse_hex("0x00").has_value());
  CHECK(parse_hex("") == Bytes{});
}
