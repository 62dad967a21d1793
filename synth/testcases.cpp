#include "synth/testcases.hpp"

#include <algorithm>
#include <memory>
#include <random>

#include "compiler/context.hpp"
#include "compiler/packet_gen.hpp"

namespace tristate {

TestSuite make_test_suite(const Module& module, std::size_t program, const std::string& object_path,
                          const FunctionalSuite* suite, const TestSuiteOptions& options) {
  TestSuite out;
  const CtxModel model = ctx_model_for(module.programs.at(program).prog_type);
  const bool packets = model == CtxModel::Xdp || model == CtxModel::Tc || model == CtxModel::SocketFilter;
  if (suite) {
    // Each case's seeds as the entries they add to the maps the object starts with, parsed once.
    MapSet fresh(module.maps, 1);
    const std::vector<MapContents> initial = fresh.dump();
    for (FunctionalInput& in : functional_inputs(module, object_path, *suite)) {
      if (in.program != program) continue;
      MapSet seeded(module.maps, 1);
      seed_functional_maps(seeded, module, *suite, in);
      std::vector<MapContents> added = seeded.dump();
      for (std::size_t m = 0; m < added.size(); ++m) {
        std::vector<MapEntry> kept;
        for (MapEntry& e : added[m].entries)
          if (std::find(initial[m].entries.begin(), initial[m].entries.end(), e) == initial[m].entries.end()) kept.push_back(std::move(e));
        added[m].entries = std::move(kept);
        added[m].records.clear();
      }
      out.seeders.push_back([added = std::move(added)](MapSet& maps) {
        for (std::size_t m = 0; m < added.size() && m < maps.size(); ++m)
          if (!added[m].entries.empty()) maps[m].seed(added[m]);
      });
      out.cases.push_back({std::move(in.packet), std::move(in.ctx), int(out.seeders.size()) - 1, std::nullopt});
    }
  }
  if (packets) {
    for (auto& p : generate_packets(options.random_packets, options.seed))
      if (p.size() >= 14) out.cases.push_back({std::move(p), {}, -1});
  } else if (model != CtxModel::None) {
    std::mt19937_64 rng(options.seed);
    const std::size_t size = ctx_size(model) ? ctx_size(model) : 64;
    for (std::size_t i = 0; i < options.random_contexts; ++i) {
      std::vector<uint8_t> ctx(size);
      for (auto& b : ctx) b = uint8_t(rng());
      out.cases.push_back({{}, std::move(ctx), -1});
    }
  }
  return out;
}

}  // namespace tristate
