// The interpreter's BPF maps: every map type the interpreter models, with the behaviour of the
// Linux 6.18 helpers (bpf_map_lookup_elem, _update_elem, _delete_elem, bpf_ringbuf_output) on the
// program side, and seeding and dumping of contents on the user side, as JSON too.
//
// Map contents in JSON (the format of `tristate run --maps` and of its output):
//   { "MAPNAME": { "entries": [ { "key": "HEX", "value": "HEX" }, ... ] }, ... }
// Per-CPU maps give "values": ["HEX", ...] (one per CPU) instead of "value"; a seed may give a
// single "value", which then goes to every CPU. Keys of array-like maps (array, per-CPU array,
// prog array, devmap, cpumap, xskmap) may also be given as a JSON number (the index). A prog
// array's value may be given as a program name or as its index in the module (a JSON number or
// 4 bytes of hex); a string that names a program is taken as the name. Ring buffers dump as { "records": ["HEX", ...] } in output order.
// Seeds may write keys and values as typed bytes ("ip4:10.0.0.1 be16:80 u8:6 u8:0", see
// compiler/byte_spec.hpp); dumps are always plain hex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json_fwd.hpp>
#include <span>
#include <string>
#include <vector>

#include "compiler/error.hpp"
#include "compiler/program.hpp"

namespace tristate {

using Bytes = std::vector<uint8_t>;

// One map entry as the user side sees it.
struct MapEntry {
  Bytes key;
  std::vector<Bytes> values;  // one per CPU for per-CPU maps, otherwise exactly one
  bool operator==(const MapEntry&) const = default;
};

// A whole map's contents as the user side sees them: what a seed gives and what a dump returns.
struct MapContents {
  std::string name;
  std::vector<MapEntry> entries;  // in key order (bytewise; array-like maps: by index)
  std::vector<Bytes> records;     // ring buffer records, in output order (other maps: empty)
  bool operator==(const MapContents&) const = default;
};

// Whether a map of this type (enum bpf_map_type) holds one value per CPU.
bool is_per_cpu(uint32_t map_type);
// Whether the interpreter models maps of this type.
bool is_modelled_map_type(uint32_t map_type);

// One map. Memory returned by lookup() stays valid, at the same address, for the lifetime of the
// instance, even after the entry is deleted or evicted (the kernel keeps such memory alive under
// RCU for the rest of the program run; here it is kept until clear()).
class MapInstance {
 public:
  // InputError naming the map when its type is not modelled or its sizes are ones the kernel
  // refuses (key or value size 0 where the type needs one, max_entries 0, ...). Internal maps
  // (global data) start with their MapDef::initial_value.
  MapInstance(const MapDef& def, unsigned ncpus);
  ~MapInstance();
  MapInstance(MapInstance&&) noexcept;
  MapInstance& operator=(MapInstance&&) noexcept;

  const MapDef& def() const;
  unsigned ncpus() const;

  // The program side, as Linux 6.18's helpers behave for a program running on `cpu`:
  // the value (value_size bytes, this CPU's copy for per-CPU maps) or nullptr when absent.
  // Array lookups past max_entries give nullptr. Hash and LRU lookups mark the entry used.
  // LPM trie keys are (u32 prefixlen, data): the longest stored prefix matching the data.
  // Devmap, cpumap and xskmap lookups return the stored value. A prog array lookup returns the
  // stored u32 program index (the kernel verifier refuses the helper on prog arrays, but
  // bpf_tail_call reads its slot this way). Ring buffer lookups: nullptr.
  uint8_t* lookup(std::span<const uint8_t> key, unsigned cpu);
  // The same without lookup()'s checks, for callers that made them once (compiled code): `key`
  // points at key_size bytes, cpu < ncpus(), and the map is not a ring buffer.
  uint8_t* lookup_unchecked(const uint8_t* key, unsigned cpu);
  // 0 or a negative errno, as the helper returns: flags BPF_ANY (0), BPF_NOEXIST (1),
  // BPF_EXIST (2) (others: -EINVAL); arrays: -E2BIG past max_entries, -EEXIST for NOEXIST;
  // hash: -E2BIG when full, LRU evicts the least recently used entry instead; per-CPU maps
  // write this CPU's copy (a new entry's other copies are zero). Arrays and per-CPU maps are
  // written in place; a hash, LRU, LPM or device map entry that is replaced gets its value at a
  // new address, as the kernel links a new element (an earlier pointer keeps the old bytes).
  int64_t update(std::span<const uint8_t> key, std::span<const uint8_t> value, uint64_t flags, unsigned cpu);
  // 0 or a negative errno: arrays -EINVAL, absent keys -ENOENT (devmap, cpumap and xskmap: 0,
  // and -EINVAL past max_entries; prog arrays -E2BIG past max_entries).
  int64_t remove(std::span<const uint8_t> key);
  // bpf_ringbuf_output: appends a record of `data` (0 or -EAGAIN when the ring is full, counting
  // an 8-byte header per record and rounding each record up to 8 bytes; the kernel lets the
  // producer run at most size - 1 bytes ahead; -EINVAL for flags with bits other than
  // BPF_RB_NO_WAKEUP (1) and BPF_RB_FORCE_WAKEUP (2)).
  int64_t ringbuf_output(std::span<const uint8_t> data, uint64_t flags);

  // The user side. seed() adds or replaces the given entries the way bpf_map_update_elem from
  // user space does (per-CPU maps take every CPU's value); it throws InputError naming the map
  // and the entry when a key or value has the wrong size, an index is out of range or the map
  // would overflow. dump() returns the current contents.
  void seed(const MapContents& contents);
  MapContents dump() const;
  // Empties the map (arrays: all zero, internal maps: back to their initial value).
  void clear();

  // Arrays and per-CPU arrays: where the values lie, for code that computes their addresses
  // itself (the datapath's JIT, as the kernel inlines array lookups). Element i's copy for CPU c
  // is at base + (i * copies + c) * stride; the memory never moves. Every element counts as
  // handed out afterwards, so clear() resets them all. nullopt for other map types. Safe to call
  // while a program runs on the map in another thread (it changes nothing else the run uses).
  struct ArrayStorage {
    uint8_t* base = nullptr;
    uint32_t stride = 0;
    uint32_t copies = 1;
    uint32_t max_entries = 0;
  };
  std::optional<ArrayStorage> array_storage();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The maps of one module, in the order of Module::maps.
class MapSet {
 public:
  MapSet() = default;
  MapSet(const std::vector<MapDef>& defs, unsigned ncpus);

  std::size_t size() const { return maps_.size(); }
  MapInstance& operator[](std::size_t i) { return maps_[i]; }
  const MapInstance& operator[](std::size_t i) const { return maps_[i]; }
  // The index of the map named `name`, or -1.
  int find(const std::string& name) const;

  // Seeds from JSON in the format described at the top of this file. `programs` names the
  // module's programs, for prog array values given by name. InputError at `where` names the map
  // and the entry when the JSON does not fit.
  void seed_json(const nlohmann::json& j, const std::vector<std::string>& programs, const Location& where);
  std::vector<MapContents> dump() const;

 private:
  std::vector<MapInstance> maps_;
};

// JSON for a set of dumps, in the format described at the top of this file; per-CPU maps (given
// by `defs`, matched by name) use "values".
nlohmann::json to_json(const std::vector<MapContents>& dumps, const std::vector<MapDef>& defs);

}  // namespace tristate
