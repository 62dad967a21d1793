#include "verifier/functional.hpp"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "compiler/byte_spec.hpp"
#include "compiler/error.hpp"
#include "compiler/hex.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/maps.hpp"
#include "compiler/packet_spec.hpp"
#include "verifier/kernel_object.hpp"

namespace tristate {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(Location{path, {}, {}}, "cannot open the file");
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError(Location{path, {}, {}}, std::string("not valid JSON: ") + e.what());
  }
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

uint64_t self_pid_tgid() { return uint64_t(getpid()) << 32 | uint64_t(uint32_t(syscall(SYS_gettid))); }

bool is_tracing(uint32_t prog_type) {
  switch (prog_type) {
    case BPF_PROG_TYPE_KPROBE:
    case BPF_PROG_TYPE_TRACEPOINT:
    case BPF_PROG_TYPE_PERF_EVENT:
    case BPF_PROG_TYPE_RAW_TRACEPOINT:
    case BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE:
    case BPF_PROG_TYPE_TRACING: return true;
    default: return false;
  }
}

// Return-value names of XDP and tc programs.
const std::map<std::string, uint32_t>& verdict_names() {
  static const std::map<std::string, uint32_t> names = {
      {"XDP_ABORTED", 0},       {"XDP_DROP", 1},         {"XDP_PASS", 2},          {"XDP_TX", 3},
      {"XDP_REDIRECT", 4},      {"TC_ACT_UNSPEC", ~0u},  {"TC_ACT_OK", 0},         {"TC_ACT_RECLASSIFY", 1},
      {"TC_ACT_SHOT", 2},       {"TC_ACT_PIPE", 3},      {"TC_ACT_STOLEN", 4},     {"TC_ACT_QUEUED", 5},
      {"TC_ACT_REPEAT", 6},     {"TC_ACT_REDIRECT", 7},
  };
  return names;
}

struct Trigger {
  std::string syscall;  // "getppid", or empty
  std::string exec;     // a file to execute, or empty
  uint32_t count = 1;
};

// One case, read from the tests file; the expectations are read after the run, when the
// triggering process (for `...:trigger` tokens) is known.
struct Case {
  std::string name;
  std::size_t program = 0;
  const json* maps = nullptr;
  json packet_description;
  std::vector<uint8_t> packet;
  std::vector<uint8_t> ctx;
  uint32_t repeat = 1;
  std::optional<Trigger> trigger;
  const json* expect = nullptr;
  Location where;  // the tests file and the case
};

[[noreturn]] void bad_case(const Location& where, const std::string& why) { throw InputError(where, why); }

Case parse_case(const json& c, std::size_t index, const Module& module, const std::string& object_path,
                const FunctionalSuite& suite) {
  Case k;
  k.where = Location{suite.path, "case " + std::to_string(index), {}};
  if (!c.is_object()) bad_case(k.where, "a case is an object");
  for (const auto& [key, v] : c.items())
    if (key != "name" && key != "program" && key != "maps" && key != "packet" && key != "ctx" && key != "repeat" &&
        key != "trigger" && key != "expect")
      bad_case(k.where, "unknown field '" + key + "' (name, program, maps, packet, ctx, repeat, trigger, expect)");
  if (!c.contains("name") || !c["name"].is_string()) bad_case(k.where, "every case has a \"name\" string");
  k.name = c["name"].get<std::string>();
  k.where.prog = "case '" + k.name + "'";
  if (c.contains("program")) {
    if (!c["program"].is_string()) bad_case(k.where, "\"program\" is a program name");
    const std::string p = c["program"].get<std::string>();
    bool found = false;
    for (std::size_t i = 0; i < module.programs.size(); ++i)
      if (module.programs[i].name() == p) {
        k.program = i;
        found = true;
      }
    if (!found) bad_case(k.where, "no program '" + p + "' in " + object_path);
  } else if (module.programs.size() != 1) {
    bad_case(k.where, object_path + " has " + std::to_string(module.programs.size()) + " programs: name one with \"program\"");
  }
  if (c.contains("maps")) k.maps = &c["maps"];
  if (c.contains("packet")) k.packet_description = c["packet"];
  if (c.contains("ctx")) {
    if (!c["ctx"].is_string()) bad_case(k.where, "\"ctx\" is a string of typed bytes");
    try {
      k.ctx = parse_byte_spec(c["ctx"].get<std::string>()).bytes;
    } catch (const ByteSpecError& e) {
      bad_case(k.where, std::string("ctx: ") + e.what());
    }
  }
  if (c.contains("repeat")) {
    if (!c["repeat"].is_number_unsigned() || c["repeat"].get<uint64_t>() < 1 || c["repeat"].get<uint64_t>() > 100000)
      bad_case(k.where, "\"repeat\" is a number from 1 to 100000");
    k.repeat = uint32_t(c["repeat"].get<uint64_t>());
  }
  if (c.contains("trigger")) {
    const json& t = c["trigger"];
    Trigger tr;
    if (!t.is_object()) bad_case(k.where, "\"trigger\" is {\"syscall\": \"getppid\", \"count\": N} or {\"exec\": PATH}");
    if (t.contains("syscall")) {
      if (t["syscall"] != "getppid") bad_case(k.where, "the trigger system calls: getppid");
      tr.syscall = "getppid";
    } else if (t.contains("exec") && t["exec"].is_string()) {
      tr.exec = t["exec"].get<std::string>();
    } else {
      bad_case(k.where, "\"trigger\" needs \"syscall\" or \"exec\"");
    }
    if (t.contains("count")) {
      if (!t["count"].is_number_unsigned() || t["count"].get<uint64_t>() < 1 || t["count"].get<uint64_t>() > 10000)
        bad_case(k.where, "the trigger's \"count\" is a number from 1 to 10000");
      tr.count = uint32_t(t["count"].get<uint64_t>());
    }
    k.trigger = tr;
  }
  if (!c.contains("expect") || !c["expect"].is_object()) bad_case(k.where, "every case has an \"expect\" object");
  k.expect = &c["expect"];
  for (const auto& [key, v] : k.expect->items())
    if (key != "ret" && key != "packet" && key != "maps")
      bad_case(k.where, "unknown expectation '" + key + "' (ret, packet, maps)");
  const bool tracing = is_tracing(module.programs[k.program].prog_type);
  if (tracing && !k.trigger) bad_case(k.where, "a tracing program's case needs a \"trigger\" (the kernel cannot test-run it)");
  if (!tracing && k.trigger) bad_case(k.where, "only tracing programs take a \"trigger\"");
  if (!tracing) {
    if (k.packet_description.is_null()) bad_case(k.where, "a packet program's case needs a \"packet\"");
    try {
      k.packet = build_packet(k.packet_description);
    } catch (const PacketSpecError& e) {
      bad_case(k.where, std::string("packet: ") + e.what());
    }
  }
  return k;
}

std::string hex_masked(const std::vector<uint8_t>& bytes, const std::vector<bool>& compared) {
  std::string s = to_hex(bytes);
  for (std::size_t i = 0; i < compared.size() && 2 * i + 1 < s.size(); ++i)
    if (!compared[i]) s[2 * i] = s[2 * i + 1] = '?';
  return s;
}

// Every expectation of the case that does not hold for this outcome.
std::vector<std::string> check(const Case& k, const Module& module, const ByteSpecContext& context, std::optional<uint32_t> ret,
                               const std::vector<uint8_t>* packet_out, const std::vector<MapContents>& maps) {
  std::vector<std::string> failures;
  const json& e = *k.expect;
  if (e.contains("ret") && ret) {
    uint32_t want = 0;
    const json& r = e["ret"];
    if (r.is_string()) {
      const auto it = verdict_names().find(r.get<std::string>());
      if (it == verdict_names().end()) bad_case(k.where, "unknown return value name " + r.dump());
      want = it->second;
    } else if (r.is_number_integer()) {
      want = uint32_t(r.get<int64_t>());
    } else {
      bad_case(k.where, "\"ret\" is a number or a name like XDP_PASS");
    }
    if (*ret != want)
      failures.push_back("returned " + std::to_string(int64_t(int32_t(*ret))) + ", expected " + std::to_string(int64_t(int32_t(want))) +
                         (r.is_string() ? " (" + r.get<std::string>() + ")" : ""));
  }
  if (e.contains("packet") && packet_out) {
    ByteSpec want;
    if (e["packet"] == "unchanged") {
      want.bytes = k.packet;
      want.compared.assign(k.packet.size(), true);
    } else if (e["packet"].is_string()) {
      try {
        want = parse_byte_spec(e["packet"].get<std::string>(), context);
      } catch (const ByteSpecError& x) {
        bad_case(k.where, std::string("expect.packet: ") + x.what());
      }
    } else {
      try {
        want.bytes = build_packet(e["packet"], context);
        want.compared.assign(want.bytes.size(), true);
      } catch (const PacketSpecError& x) {
        bad_case(k.where, std::string("expect.packet: ") + x.what());
      }
    }
    if (!want.matches(*packet_out))
      failures.push_back("packet after the run:\n      got      " + to_hex(*packet_out) + "\n      expected " +
                         hex_masked(want.bytes, want.compared));
  }
  if (e.contains("maps")) {
    const json& m = e["maps"];
    if (!m.is_object()) bad_case(k.where, "expect.maps is an object of map names");
    for (const auto& [name, entries] : m.items()) {
      std::size_t mi = module.maps.size();
      for (std::size_t i = 0; i < module.maps.size(); ++i)
        if (module.maps[i].name == name) mi = i;
      if (mi == module.maps.size()) bad_case(k.where, "expect.maps: no map named '" + name + "'");
      const MapDef& def = module.maps[mi];
      if (!entries.is_array()) bad_case(k.where, "expect.maps." + name + " is a list of {key, value} or {key, absent}");
      for (const json& entry : entries) {
        if (!entry.is_object() || !entry.contains("key")) bad_case(k.where, "expect.maps." + name + ": each entry has a key");
        std::vector<uint8_t> key;
        const json& kj = entry["key"];
        if (kj.is_number_integer() && kj.get<int64_t>() >= 0 && (def.key_size == 4 || def.key_size == 8)) {
          const uint64_t v = kj.get<uint64_t>();
          for (uint32_t b = 0; b < def.key_size; ++b) key.push_back(uint8_t(v >> (8 * b)));
        } else if (kj.is_string()) {
          try {
            const ByteSpec ks = parse_byte_spec(kj.get<std::string>(), context);
            key = ks.bytes;
          } catch (const ByteSpecError& x) {
            bad_case(k.where, "expect.maps." + name + " key: " + x.what());
          }
        } else {
          bad_case(k.where, "expect.maps." + name + ": a key is typed bytes, or a number for 4- and 8-byte keys");
        }
        if (key.size() != def.key_size)
          bad_case(k.where, "expect.maps." + name + ": key " + to_hex(key) + " is " + std::to_string(key.size()) +
                                " bytes; the map's keys are " + std::to_string(def.key_size));
        const MapEntry* found = nullptr;
        for (const MapEntry& me : maps[mi].entries)
          if (me.key == key) found = &me;
        const std::string label = name + "[" + to_hex(key) + "]";
        if (entry.value("absent", false)) {
          if (found) failures.push_back(label + " is present (value " + to_hex(found->values.at(0)) + "), expected absent");
          continue;
        }
        if (!entry.contains("value") || !entry["value"].is_string())
          bad_case(k.where, "expect.maps." + name + ": each entry has a \"value\" of typed bytes or \"absent\": true");
        ByteSpec want;
        try {
          want = parse_byte_spec(entry["value"].get<std::string>(), context);
        } catch (const ByteSpecError& x) {
          bad_case(k.where, "expect.maps." + name + " value: " + x.what());
        }
        if (want.bytes.size() != def.value_size)
          bad_case(k.where, "expect.maps." + name + ": the value " + entry["value"].dump() + " is " +
                                std::to_string(want.bytes.size()) + " bytes; the map's values are " +
                                std::to_string(def.value_size));
        if (!found) {
          failures.push_back(label + " is absent, expected " + hex_masked(want.bytes, want.compared));
          continue;
        }
        if (!want.matches(found->values.at(0)))  // per-CPU maps: CPU 0's value
          failures.push_back(label + " is " + to_hex(found->values.at(0)) + ", expected " +
                             hex_masked(want.bytes, want.compared));
      }
    }
  }
  return failures;
}

std::vector<std::string> program_names(const Module& module) {
  std::vector<std::string> names;
  for (const auto& p : module.programs) names.push_back(p.name());
  return names;
}

// Seeds `maps` with the suite's seeds, then the case's.
void seed(MapSet& maps, const Case& k, const Module& module, const FunctionalSuite& suite) {
  const auto names = program_names(module);
  try {
    maps.seed_json(suite.seeds, names, Location{suite.path, {}, {}});
    if (k.maps) maps.seed_json(*k.maps, names, k.where);
  } catch (const InputError& e) {
    throw InputError(k.where, e.reason());
  }
}

// Fires the case's trigger; returns the pid_tgid of the process that fired it.
uint64_t fire(const Trigger& t, const Location& where) {
  if (!t.syscall.empty()) {
    // Through glibc's wrapper, so uprobes on it fire as well as kprobes on the system call.
    for (uint32_t i = 0; i < t.count; ++i) (void)getppid();
    return self_pid_tgid();
  }
  uint64_t last = 0;
  for (uint32_t i = 0; i < t.count; ++i) {
    const pid_t child = fork();
    if (child < 0) throw InputError(where, "fork failed: " + errno_text(errno));
    if (child == 0) {
      execl(t.exec.c_str(), t.exec.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) throw InputError(where, "the trigger could not execute " + t.exec);
    last = uint64_t(uint32_t(child)) << 32 | uint32_t(child);
  }
  return last;
}

}  // namespace

const char* engine_name(Engine e) { return e == Engine::Kernel ? "kernel" : "interpreter"; }

FunctionalSuite load_functional_suite(const std::string& tests_path, const std::string& maps_path) {
  FunctionalSuite s;
  s.path = tests_path;
  const json j = read_json(tests_path);
  if (!j.is_object() || !j.contains("cases") || !j["cases"].is_array())
    throw InputError(Location{tests_path, {}, {}}, "a tests file is an object with a \"cases\" list");
  for (const auto& [key, v] : j.items())
    if (key != "cases") throw InputError(Location{tests_path, {}, {}}, "unknown field '" + key + "' (a tests file has \"cases\")");
  for (const json& c : j["cases"]) s.cases.push_back(c);
  std::string seeds = maps_path;
  if (seeds.empty()) {
    std::string name = fs::path(tests_path).filename().string();
    name = name.substr(0, name.find('.'));
    const fs::path p = fs::path(tests_path).parent_path() / (name + ".maps.json");
    if (fs::exists(p)) seeds = p.string();
  }
  s.seeds = seeds.empty() ? json::object() : read_json(seeds);
  return s;
}

std::optional<std::string> find_functional_tests(const std::string& object_path, const std::vector<std::string>& dirs) {
  std::string name = fs::path(object_path).filename().string();
  name = name.substr(0, name.find('.'));
  std::vector<fs::path> places{fs::path(object_path).parent_path()};
  for (const auto& d : dirs) places.emplace_back(d);
  for (const auto& d : places) {
    const fs::path p = d / (name + ".tests.json");
    if (fs::exists(p)) return p.string();
  }
  return std::nullopt;
}

std::vector<FunctionalInput> functional_inputs(const Module& module, const std::string& object_path,
                                               const FunctionalSuite& suite) {
  std::vector<FunctionalInput> out;
  for (std::size_t i = 0; i < suite.cases.size(); ++i) {
    const Case k = parse_case(suite.cases[i], i, module, object_path, suite);
    out.push_back({k.name, k.program, k.packet, k.ctx, k.maps ? *k.maps : json()});
  }
  return out;
}

void seed_functional_maps(MapSet& maps, const Module& module, const FunctionalSuite& suite, const FunctionalInput& input) {
  const auto names = program_names(module);
  maps.seed_json(suite.seeds, names, Location{suite.path, {}, {}});
  if (!input.maps.is_null()) maps.seed_json(input.maps, names, Location{suite.path, "case '" + input.name + "'", {}});
}

std::vector<CaseResult> run_functional_interpreter(const Module& module, const std::string& object_path,
                                                   const FunctionalSuite& suite) {
  std::vector<CaseResult> results;
  for (std::size_t i = 0; i < suite.cases.size(); ++i) {
    const Case k = parse_case(suite.cases[i], i, module, object_path, suite);
    CaseResult res{k.name, module.programs[k.program].name(), Engine::Interpreter, {}};
    MapSet maps(module.maps, 1);
    seed(maps, k, module, suite);
    const Interpreter interp(module, maps);
    Environment env;
    env.ktime_ns = monotonic_ns();
    env.pid_tgid = self_pid_tgid();
    const uint32_t runs = k.trigger ? k.trigger->count : k.repeat;
    std::optional<PacketResult> last;
    for (uint32_t r = 0; r < runs; ++r) {
      last = interp.run(k.program, RunInput{k.packet, k.ctx}, env);
      if (last->fault) {
        res.failures.push_back("the interpreter stopped at insn " + std::to_string(last->fault->insn) + ": " + last->fault->reason);
        break;
      }
    }
    if (res.failures.empty()) {
      const ByteSpecContext context{env.pid_tgid};
      res.failures = check(k, module, context, uint32_t(last->r0), k.trigger ? nullptr : &last->packet, maps.dump());
    }
    results.push_back(std::move(res));
  }
  return results;
}

std::vector<CaseResult> run_functional_kernel(const Module& module, const std::string& object_path,
                                              const FunctionalSuite& suite) {
  std::vector<CaseResult> results;
  KernelObject kernel = KernelObject::load(object_path);
  for (std::size_t i = 0; i < suite.cases.size(); ++i) {
    const Case k = parse_case(suite.cases[i], i, module, object_path, suite);
    const std::string& prog = module.programs[k.program].name();
    CaseResult res{k.name, prog, Engine::Kernel, {}};
    kernel.reset();
    MapSet maps(module.maps, kernel.ncpus());
    seed(maps, k, module, suite);
    std::vector<MapContents> seeded;
    for (const MapContents& m : maps.dump())
      if (suite.seeds.contains(m.name) || (k.maps && k.maps->contains(m.name))) seeded.push_back(m);
    try {
      kernel.seed(seeded);
    } catch (const InputError& e) {
      throw InputError(k.where, e.reason());
    }
    if (k.trigger) {
      uint64_t pid_tgid = 0;
      {
        const auto link = kernel.attach(prog);
        pid_tgid = fire(*k.trigger, k.where);
      }
      res.failures = check(k, module, ByteSpecContext{pid_tgid}, std::nullopt, nullptr, kernel.dump());
    } else {
      KernelRun run;
      for (uint32_t r = 0; r < k.repeat; ++r) run = kernel.run(prog, k.packet, k.ctx);
      res.failures = check(k, module, ByteSpecContext{}, run.retval, &run.packet_out, kernel.dump());
    }
    results.push_back(std::move(res));
  }
  return results;
}

}  // namespace tristate
