// `tristate info` against what llvm-objdump and bpftool see, for every corpus object:
// - llvm-objdump-19 -t: every FUNC symbol is a program (own section) or a subprogram (.text),
//   with the same section and instruction count (symbol size / 8).
// - bpftool prog loadall (the running kernel loads the object): the same programs with the same
//   types, and the maps they use with the same types, key/value sizes and max_entries.
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/kernel.hpp"
#include "tests/support/process.hpp"
#include "verifier/kernel_oracle.hpp"

using namespace tristate::test;
using nlohmann::json;

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;  // statfs f_type of bpffs

std::vector<std::string> corpus_objects() {
  std::vector<std::string> out;
  const std::string dir = env("TRISTATE_PROGS_DIR");
  if (!dir.empty() && std::filesystem::exists(dir))
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".o") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

json info_json(const std::string& obj) {
  auto r = run_process({env("TRISTATE_BIN"), "info", obj, "--json"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  return json::parse(r.out);
}

struct FuncSymbol {
  std::string section;
  std::size_t insns;
};

// FUNC symbols from `llvm-objdump -t`: "VALUE FLAGS SECTION\tSIZE NAME".
std::map<std::string, FuncSymbol> func_symbols(const std::string& obj) {
  auto r = run_process({env("TRISTATE_LLVM_OBJDUMP"), "-t", obj});
  REQUIRE(r.status == 0);
  std::map<std::string, FuncSymbol> out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() < 26 || line.find('\t') == std::string::npos) continue;
    const std::string flags = line.substr(17, 7);
    if (flags.find('F') == std::string::npos) continue;
    const auto tab = line.find('\t');
    const std::string section = line.substr(25, tab - 25);
    std::istringstream rest(line.substr(tab + 1));
    std::string size_hex, name;
    rest >> size_hex >> name;
    out[name] = {section, std::stoul(size_hex, nullptr, 16) / 8};
  }
  return out;
}

// The oracle's probe (bpf() loads and runs programs), plus what bpftool's loadall needs.
bool bpftool_loadall_available(std::string& why) {
  if (!tristate::kernel_bpf_available(&why)) return false;
  struct statfs fs;
  if (statfs("/sys/fs/bpf", &fs) != 0 || fs.f_type != kBpfFsMagic) {
    why = "bpffs is not mounted at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)";
    return false;
  }
  if (env("TRISTATE_BPFTOOL").empty()) {
    why = "bpftool not found at configure time";
    return false;
  }
  return true;
}

json bpftool_json(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {env("TRISTATE_BPFTOOL"), "-j"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_process(argv);
  INFO("bpftool " << args[0] << " " << args[1] << ": " << r.err);
  REQUIRE(r.status == 0);
  return json::parse(r.out);
}

// The kernel keeps 15 characters of a name (BPF_OBJ_NAME_LEN - 1); bpftool shows the full name
// when it can recover it from BTF. Either is the same object as our `name`.
bool same_name(const std::string& shown, const std::string& name) {
  return shown == name || (shown.size() == 15 && name.starts_with(shown));
}

}  // namespace

TEST_CASE("info agrees with llvm-objdump on programs, sections and instruction counts", "[cli][crosscheck]") {
  const auto objects = corpus_objects();
  REQUIRE(objects.size() >= 16);  // 8+ programs, v3 and v4
  std::size_t compared = 0;
  for (const auto& obj : objects) {
    {
      INFO("object " << obj);
      json info = info_json(obj);
      auto syms = func_symbols(obj);
      std::set<std::string> from_info, from_objdump;
      for (const auto& p : info["programs"]) {
        const std::string name = p["name"];
        from_info.insert(name);
        REQUIRE(syms.count(name));
        CHECK(syms[name].section == p["section"].get<std::string>());
        CHECK(syms[name].insns == p["insns"].get<std::size_t>());
        ++compared;
      }
      for (const auto& f : info["subprograms"]) {
        const std::string name = f["name"];
        from_info.insert(name);
        REQUIRE(syms.count(name));
        CHECK(syms[name].section == f["section"].get<std::string>());
        CHECK(syms[name].insns == f["insns"].get<std::size_t>());
        ++compared;
      }
      for (const auto& [name, sym] : syms) from_objdump.insert(name);
      CHECK(from_info == from_objdump);
    }
  }
  std::cout << "crosscheck: compared " << compared << " functions with llvm-objdump in " << objects.size()
            << " objects\n";
}

TEST_CASE("info agrees with bpftool on programs, types and maps of the loaded object", "[cli][crosscheck][kernel]") {
  std::string why;
  const bool available = bpftool_loadall_available(why);
  if (!kernel_test_may_run(available, why, "the bpftool cross-check")) return;
  const auto objects = corpus_objects();
  REQUIRE_FALSE(objects.empty());
  std::size_t programs = 0, maps = 0;
  for (const auto& obj : objects) {
    {
      INFO("object " << obj);
      json info = info_json(obj);
      const std::string pin_dir = "/sys/fs/bpf/tristate-crosscheck-" + std::to_string(getpid());
      struct Cleanup {
        std::string dir;
        ~Cleanup() {
          std::error_code ec;
          std::filesystem::remove_all(dir, ec);
        }
      } cleanup{pin_dir};
      auto load = run_process({env("TRISTATE_BPFTOOL"), "prog", "loadall", obj, pin_dir});
      INFO("bpftool prog loadall: " << load.err);
      REQUIRE(load.status == 0);

      // Programs: every loaded program is one info reports, with the same type, and no more.
      std::size_t loaded = 0;
      std::set<int> map_ids;
      for (const auto& e : std::filesystem::directory_iterator(pin_dir)) {
        json p = bpftool_json({"prog", "show", "pinned", e.path().string()});
        const json* match = nullptr;
        for (const auto& ip : info["programs"])
          if (same_name(p["name"], ip["name"])) match = &ip;
        INFO("kernel program " << p.dump());
        REQUIRE(match != nullptr);
        CHECK((*match)["type"] == p["type"]);
        ++loaded;
        if (p.contains("map_ids"))
          for (int id : p["map_ids"]) map_ids.insert(id);
      }
      CHECK(loaded == info["programs"].size());
      programs += loaded;

      // Every map a loaded program uses is one info reports, with the same shape.
      for (int id : map_ids) {
        json m = bpftool_json({"map", "show", "id", std::to_string(id)});
        const json* match = nullptr;
        for (const auto& im : info["maps"])
          if (same_name(m["name"], im["name"])) match = &im;
        INFO("kernel map " << m.dump());
        REQUIRE(match != nullptr);
        CHECK((*match)["type"] == m["type"]);
        CHECK((*match)["key_size"] == m["bytes_key"]);
        CHECK((*match)["value_size"] == m["bytes_value"]);
        CHECK((*match)["max_entries"] == m["max_entries"]);
        ++maps;
      }
    }
  }
  std::cout << "crosscheck: compared " << programs << " programs and " << maps
            << " maps with bpftool (kernel-loaded) in " << objects.size() << " objects\n";
}
