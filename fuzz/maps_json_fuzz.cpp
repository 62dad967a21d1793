// Fuzzes the maps' JSON seeding: the bytes are parsed as JSON and seeded into a set of maps of
// every modelled type. Bad JSON or contents that do not fit must end in a parse error or an
// InputError, never in a crash, a leak or undefined behaviour (the target is built with ASan and
// UBSan). Whatever was seeded must round-trip: dump, to_json, and seeding that JSON into fresh
// maps succeeds and dumps the same contents.
#include <linux/bpf.h>

#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "compiler/error.hpp"
#include "compiler/maps.hpp"
#include "compiler/program.hpp"

using namespace tristate;

namespace {

// One map of every modelled type (and global data), with small sizes so that seeds fill them.
const std::vector<MapDef>& map_defs() {
  struct Spec {
    const char* name;
    uint32_t type;
    uint32_t key, value, max;
  };
  static constexpr Spec kSpecs[] = {
      {"A", BPF_MAP_TYPE_ARRAY, 4, 4, 4},          {"PA", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 3, 2},
      {"H", BPF_MAP_TYPE_HASH, 2, 2, 4},           {"PH", BPF_MAP_TYPE_PERCPU_HASH, 1, 4, 3},
      {"L", BPF_MAP_TYPE_LRU_HASH, 1, 1, 2},       {"LP", BPF_MAP_TYPE_LRU_PERCPU_HASH, 1, 2, 2},
      {"T", BPF_MAP_TYPE_LPM_TRIE, 6, 1, 4},       {"P", BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 3},
      {"D", BPF_MAP_TYPE_DEVMAP, 4, 8, 3},         {"DH", BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 3},
      {"C", BPF_MAP_TYPE_CPUMAP, 4, 4, 4},         {"X", BPF_MAP_TYPE_XSKMAP, 4, 4, 2},
      {"R", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096},     {"G", BPF_MAP_TYPE_ARRAY, 4, 5, 1},
  };
  static const std::vector<MapDef> defs = [] {
    std::vector<MapDef> out;
    for (const Spec& s : kSpecs) {
      MapDef d;
      d.name = s.name;
      d.type = s.type;
      d.key_size = s.key;
      d.value_size = s.value;
      d.max_entries = s.max;
      out.push_back(d);
    }
    out.back().internal = true;  // G: global data
    out.back().section = ".data";
    out.back().initial_value = {1, 2, 3};
    return out;
  }();
  return defs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  const std::vector<std::string> programs = {"a", "b"};
  const Location where{"fuzz.json", {}, {}};
  MapSet maps(map_defs(), 2);
  try {
    maps.seed_json(j, programs, where);
  } catch (const InputError&) {
    // Contents that do not fit; the maps keep what was seeded before the bad entry.
  }
  const std::vector<MapContents> dumped = maps.dump();
  const nlohmann::json again = to_json(dumped, map_defs());
  MapSet fresh(map_defs(), 2);
  try {
    fresh.seed_json(again, programs, where);
  } catch (const InputError& e) {
    std::fprintf(stderr, "round trip: %s\n%s\n", e.what(), again.dump().c_str());
    std::abort();
  }
  if (fresh.dump() != dumped) {
    std::fprintf(stderr, "round trip changed the contents:\n%s\n%s\n", again.dump().c_str(),
                 to_json(fresh.dump(), map_defs()).dump().c_str());
    std::abort();
  }
  return 0;
}
