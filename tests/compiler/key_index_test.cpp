// The maps' hash index: every insert, find and erase agrees with std::map, for the key sizes maps
// use, through growth and through deletions inside probe runs (which move later keys back).
#include "compiler/key_index.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <map>
#include <random>
#include <vector>

using namespace tristate;

namespace {

using Key = std::vector<uint8_t>;

// Random operations on `keys` distinct keys drawn from a small pool, so that finds of absent
// keys, re-inserts after erases and long probe runs all happen.
void run_against_map(uint32_t key_size, std::size_t pool, std::size_t steps, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Key> keys(pool, Key(key_size));
  for (Key& k : keys)
    for (uint8_t& b : k) b = uint8_t(rng() % 4);  // few distinct bytes: keys differ in few bits
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

  KeyIndex<std::size_t> index(key_size);
  std::map<Key, std::size_t> expected;
  for (std::size_t step = 0; step < steps; ++step) {
    const std::size_t k = rng() % keys.size();
    const uint8_t* key = keys[k].data();
    switch (rng() % 3) {
      case 0:
        if (!expected.count(keys[k])) {
          index.insert(key, k);
          expected[keys[k]] = k;
        }
        break;
      case 1: CHECK(index.erase(key) == (expected.erase(keys[k]) == 1)); break;
      default: {
        // Look up through a copy: the index compares bytes, not addresses.
        const Key copy = keys[k];
        std::size_t* found = index.find(copy.data());
        auto it = expected.find(keys[k]);
        REQUIRE((found != nullptr) == (it != expected.end()));
        if (found) CHECK(*found == it->second);
      }
    }
    REQUIRE(index.size() == expected.size());
  }
  // Everything left is still found, and nothing else.
  for (std::size_t k = 0; k < keys.size(); ++k) {
    std::size_t* found = index.find(keys[k].data());
    CHECK((found != nullptr) == (expected.count(keys[k]) == 1));
  }
}

}  // namespace

TEST_CASE("key index: inserts, finds and erases agree with std::map for every key size maps use", "[maps][key_index]") {
  for (uint32_t size : {1u, 4u, 5u, 8u, 12u, 20u, 36u, 260u}) {
    DYNAMIC_SECTION("key size " << size) { run_against_map(size, 300, 20000, 7 + size); }
  }
}

TEST_CASE("key index: erasing inside a run of colliding keys keeps the rest findable", "[maps][key_index]") {
  // 4-byte keys 0..999, all inserted, then every other one erased and re-inserted: erases land
  // inside probe runs, and the keys behind them must move back to stay reachable.
  std::vector<Key> keys;
  for (uint32_t i = 0; i < 1000; ++i) keys.push_back({uint8_t(i), uint8_t(i >> 8), 0, 0});
  KeyIndex<uint32_t> index(4);
  for (uint32_t i = 0; i < keys.size(); ++i) index.insert(keys[i].data(), i);
  for (uint32_t i = 0; i < keys.size(); i += 2) REQUIRE(index.erase(keys[i].data()));
  for (uint32_t i = 0; i < keys.size(); ++i) {
    uint32_t* found = index.find(keys[i].data());
    if (i % 2) {
      REQUIRE(found);
      CHECK(*found == i);
    } else {
      CHECK(!found);
    }
  }
  CHECK(index.size() == 500);
  CHECK(!index.erase(keys[0].data()));
  index.clear();
  CHECK(index.size() == 0);
  CHECK(!index.find(keys[1].data()));
}
