// Test support: the benchmark corpus (benchmarks/progs, built into TRISTATE_PROGS_DIR) as the
// tests that run every corpus program see it.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace tristate::test {

// Every corpus object (NAME.v3.o, NAME.v4.o), sorted by path.
inline std::vector<std::filesystem::path> corpus_objects() {
  std::vector<std::filesystem::path> objects;
  for (const auto& e : std::filesystem::directory_iterator(env("TRISTATE_PROGS_DIR")))
    if (e.path().extension() == ".o") objects.push_back(e.path());
  std::sort(objects.begin(), objects.end());
  return objects;
}

// The corpus program's map seeds: benchmarks/progs/NAME.maps.json for NAME.v3.o / NAME.v4.o
// (an empty object when it has none).
inline nlohmann::json corpus_seeds(const std::filesystem::path& object) {
  std::string stem = object.stem().string();  // NAME.v3
  stem = stem.substr(0, stem.rfind('.'));
  const std::filesystem::path p =
      std::filesystem::path(env("TRISTATE_SOURCE_DIR")) / "benchmarks" / "progs" / (stem + ".maps.json");
  if (!std::filesystem::exists(p)) return nlohmann::json::object();
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

}  // namespace tristate::test
