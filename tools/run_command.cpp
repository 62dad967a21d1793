// `tristate run`: run a program in the interpreter.
//
//   tristate run FILE [--prog NAME] --packet HEX | --pcap CAP [--ctx JSON] [--maps JSON] [--repeat N]
//   tristate run --raw PROG.bin|- --mem HEX
//
// The first form runs an XDP, tc, socket-filter or tracing program as BPF_PROG_TEST_RUN would and
// prints the return value, the packet after the run, the map entries that changed and the number
// of instructions executed. The second runs raw bytecode with r1 pointing to a memory block and
// r2 holding its size, and prints r0 in hex (the convention of BPF ISA conformance suites).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compiler/bytecode.hpp"
#include "compiler/context.hpp"
#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/pcap.hpp"
#include "tools/commands.hpp"
#include "tools/hex.hpp"
#include "tools/input_options.hpp"

namespace tristate::cli {

namespace {

struct RunArgs {
  InputArgs input;
  std::string prog;
  std::string packet;
  std::string pcap;
  std::string ctx;
  std::string maps;
  uint32_t repeat = 1;
  unsigned run_cpu = 0;
  uint64_t seed = 1;
  uint64_t ktime = Environment{}.ktime_ns;
  std::string fib;
  std::string raw;
  std::string mem;
  uint64_t max_insns = RunLimits{}.max_insns;
  bool json = false;
};

// The program of --raw: raw little-endian instructions, or the same bytes written as hex text
// (as conformance harnesses pipe them). `-` reads standard input.
std::vector<uint8_t> read_program(const std::string& path) {
  std::vector<uint8_t> bytes;
  if (path == "-")
    bytes.assign(std::istreambuf_iterator<char>(std::cin), {});
  else
    bytes = read_file_bytes(path);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (auto hex = parse_hex(text); hex && !hex->empty()) return *hex;
  return bytes;
}

int run_raw(const RunArgs& args) {
  const std::string name = args.raw == "-" ? "<stdin>" : args.raw;
  const std::vector<Insn> insns = insns_from_bytes(read_program(args.raw), Location{name, {}, {}});
  const Location where{name, "prog", {}};
  auto mem = parse_hex(args.mem);
  if (!mem) throw InputError(Location{name, {}, {}}, "--mem is not an even number of hex digits");
  std::optional<Interpreter> interp;
  try {
    interp.emplace(insns);
  } catch (const InputError& e) {
    throw e.within(where);
  }
  const RunResult r = interp->run(std::span<uint8_t>(*mem), RunLimits{args.max_insns});
  if (r.fault) throw InputError(Location{name, "prog", r.fault->insn}, r.fault->reason);
  if (args.json)
    std::cout << nlohmann::json{{"r0", r.r0}, {"executed", r.executed}, {"memory", to_hex(*mem)}}.dump(2) << "\n";
  else
    std::cout << std::hex << r.r0 << std::dec << "\n";
  return 0;
}

// A JSON argument given inline (starting with '{' or '[') or as a file name.
nlohmann::json json_argument(const std::string& text, const char* option) {
  std::string body = text;
  const std::size_t first = text.find_first_not_of(" \t\n");
  if (first == std::string::npos || (text[first] != '{' && text[first] != '[')) {
    const auto bytes = read_file_bytes(text);
    body.assign(bytes.begin(), bytes.end());
  }
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(std::string(option) + " is not valid JSON: " + e.what());
  }
}

// --ctx: named context fields ({"mark": 1, "cb": [1, 2]}), or {"hex": "..."} for the raw bytes
// (tracing programs read their whole context from it).
std::vector<uint8_t> context_bytes(const nlohmann::json& j, CtxModel model, const Location& where) {
  if (!j.is_object()) throw InputError(where, "--ctx must be a JSON object");
  if (j.contains("hex")) {
    auto bytes = j["hex"].is_string() ? parse_hex(j["hex"].get<std::string>()) : std::nullopt;
    if (!bytes) throw InputError(where, "--ctx: \"hex\" must be a string of hex digits");
    return *bytes;
  }
  if (model == CtxModel::Tracing) throw InputError(where, "--ctx for a tracing program is {\"hex\": \"...\"}");
  std::vector<uint8_t> ctx(ctx_size(model), 0);
  for (const auto& [key, value] : j.items()) {
    const auto put = [&](const std::string& name, const nlohmann::json& v) {
      const CtxField* f = ctx_field_named(model, name);
      if (!f) throw InputError(where, "--ctx: " + std::string(ctx_model_name(model)) + " has no field " + name);
      if (!f->user_settable) throw InputError(where, "--ctx: a test run cannot set " + name);
      if (!v.is_number_unsigned()) throw InputError(where, "--ctx: " + name + " must be a non-negative number");
      const uint64_t n = v.get<uint64_t>();
      if (f->size < 8 && n >> (8 * f->size)) throw InputError(where, "--ctx: " + name + " does not fit its field");
      std::memcpy(ctx.data() + f->offset, &n, f->size);
    };
    if (value.is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) put(key + "[" + std::to_string(i) + "]", value[i]);
    } else {
      put(key, value);
    }
  }
  return ctx;
}

// A dotted IPv4 address as it sits in a packet (network byte order read as a host u32).
std::optional<uint32_t> ipv4(const std::string& text) {
  unsigned a, b, c, d;
  char end;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &end) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
    return std::nullopt;
  const uint8_t bytes[4] = {uint8_t(a), uint8_t(b), uint8_t(c), uint8_t(d)};
  uint32_t v;
  std::memcpy(&v, bytes, 4);
  return v;
}

// --fib: [{"prefix": "10.0.0.0/24", "ifindex": 2, "gateway": "10.0.0.1", "smac": HEX, "dmac": HEX,
// "mtu": 1500}, ...], the routes bpf_fib_lookup consults (gateway, macs and mtu optional).
std::vector<FibRoute> fib_routes(const nlohmann::json& j) {
  const auto bad = [](const std::string& why) { return InputError("--fib: " + why); };
  if (!j.is_array()) throw bad("expected a JSON array of routes");
  std::vector<FibRoute> routes;
  for (const auto& r : j) {
    if (!r.is_object() || !r.contains("prefix") || !r["prefix"].is_string() || !r.contains("ifindex") ||
        !r["ifindex"].is_number_unsigned())
      throw bad("each route needs \"prefix\": \"A.B.C.D/N\" and \"ifindex\": N, got " + r.dump());
    const std::string prefix = r["prefix"];
    const auto slash = prefix.find('/');
    FibRoute route;
    const auto addr = ipv4(prefix.substr(0, slash));
    const int len = slash == std::string::npos ? 32 : std::atoi(prefix.c_str() + slash + 1);
    if (!addr || len < 0 || len > 32) throw bad("bad prefix " + prefix);
    route.prefix = *addr;
    route.prefix_len = uint8_t(len);
    route.ifindex = r["ifindex"];
    if (r.contains("gateway")) {
      const auto gw = r["gateway"].is_string() ? ipv4(r["gateway"]) : std::nullopt;
      if (!gw) throw bad("bad gateway in " + r.dump());
      route.gateway = *gw;
    }
    for (const char* mac : {"smac", "dmac"}) {
      if (!r.contains(mac)) continue;
      const auto bytes = r[mac].is_string() ? parse_hex(r[mac].get<std::string>()) : std::nullopt;
      if (!bytes || bytes->size() != 6) throw bad(std::string(mac) + " must be 6 bytes of hex in " + r.dump());
      std::copy(bytes->begin(), bytes->end(), (std::string(mac) == "smac" ? route.smac : route.dmac).begin());
    }
    if (r.contains("mtu")) {
      if (!r["mtu"].is_number_unsigned() || r["mtu"].get<uint64_t>() > 65535) throw bad("bad mtu in " + r.dump());
      route.mtu = uint16_t(r["mtu"].get<uint64_t>());
    }
    routes.push_back(route);
  }
  return routes;
}

std::string verdict_name(CtxModel model, uint64_t r0) {
  static const char* xdp[] = {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT"};
  static const char* tc[] = {"TC_ACT_OK", "TC_ACT_RECLASSIFY", "TC_ACT_SHOT", "TC_ACT_PIPE",
                             "TC_ACT_STOLEN", "TC_ACT_QUEUED", "TC_ACT_REPEAT", "TC_ACT_REDIRECT"};
  if (model == CtxModel::Xdp && r0 < 5) return xdp[r0];
  if (model == CtxModel::Tc && r0 < 8) return tc[r0];
  if (model == CtxModel::Tc && uint32_t(r0) == 0xffffffff) return "TC_ACT_UNSPEC";
  if (model == CtxModel::SocketFilter) return r0 == 0 ? "drop" : "keep " + std::to_string(uint32_t(r0)) + " bytes";
  return "";
}

// The entries of `after` that differ from `before` (or are new), and those that went away.
nlohmann::json changed_entries(const MapContents& before, const MapContents& after, bool per_cpu) {
  nlohmann::json out = nlohmann::json::array();
  const auto value_json = [per_cpu](const MapEntry* e) -> nlohmann::json {
    if (!e) return nullptr;
    if (!per_cpu) return to_hex(e->values.at(0));
    nlohmann::json v = nlohmann::json::array();
    for (const auto& c : e->values) v.push_back(to_hex(c));
    return v;
  };
  const auto find = [](const MapContents& m, const Bytes& key) -> const MapEntry* {
    for (const auto& e : m.entries)
      if (e.key == key) return &e;
    return nullptr;
  };
  for (const auto& e : after.entries) {
    const MapEntry* old = find(before, e.key);
    if (!old || old->values != e.values)
      out.push_back({{"key", to_hex(e.key)}, {"before", value_json(old)}, {"after", value_json(&e)}});
  }
  for (const auto& e : before.entries)
    if (!find(after, e.key)) out.push_back({{"key", to_hex(e.key)}, {"before", value_json(&e)}, {"after", nullptr}});
  return out;
}

// "BEFORE -> AFTER" for a changed value in hex; for values over 16 bytes only the bytes that
// changed, as "bytes A..B: OLD -> NEW" runs.
std::string value_change(const std::string& before, const std::string& after) {
  if (before.size() != after.size() || before.size() <= 32) return before + " -> " + after;
  std::string out;
  for (std::size_t i = 0; i < before.size(); i += 2) {
    if (before.compare(i, 2, after, i, 2) == 0) continue;
    std::size_t j = i;
    while (j < before.size() && before.compare(j, 2, after, j, 2) != 0) j += 2;
    out += (out.empty() ? "" : ", ") + std::string("bytes ") + std::to_string(i / 2) + ".." + std::to_string(j / 2) +
           ": " + before.substr(i, j - i) + " -> " + after.substr(i, j - i);
    i = j;
  }
  return out;
}

int run_module(const RunArgs& args) {
  const Module module = load(args.input);
  const auto selected = select_programs(module, args.prog);
  if (selected.size() != 1) {
    std::string have;
    for (const auto* p : selected) have += (have.empty() ? "" : ", ") + p->name();
    throw InputError(Location{module.path, {}, {}}, "the file has several programs; choose one with --prog (" + have + ")");
  }
  const Program& program = *selected[0];
  const std::size_t index = std::size_t(&program - module.programs.data());
  const Location where{module.path, program.name(), {}};
  const CtxModel model = ctx_model_for(program.prog_type);

  std::vector<std::vector<uint8_t>> packets;
  if (!args.packet.empty() && !args.pcap.empty()) throw InputError(where, "give --packet or --pcap, not both");
  if (!args.packet.empty()) {
    auto bytes = parse_hex(args.packet);
    if (!bytes) throw InputError(where, "--packet is not an even number of hex digits");
    packets.push_back(*bytes);
  } else if (!args.pcap.empty()) {
    packets = read_pcap(args.pcap);
  } else if (takes_packet(model)) {
    throw InputError(where, "a " + program.prog_type_name + " program runs on a packet: give --packet HEX or --pcap FILE");
  } else {
    packets.emplace_back();  // tracing: one run on the context alone
  }

  MapSet maps;
  try {
    maps = MapSet(module.maps, 1 + args.run_cpu);
  } catch (const InputError& e) {
    throw e.within(where);
  }
  if (!args.maps.empty()) {
    std::vector<std::string> names;
    for (const auto& p : module.programs) names.push_back(p.name());
    maps.seed_json(json_argument(args.maps, "--maps"), names, Location{module.path, {}, {}});
  }
  const std::vector<uint8_t> ctx = args.ctx.empty() ? std::vector<uint8_t>{}
                                                    : context_bytes(json_argument(args.ctx, "--ctx"), model, where);
  const std::vector<MapContents> before = maps.dump();
  const Interpreter interp(module, maps);
  Environment env;
  env.cpu = args.run_cpu;
  env.prandom_seed = args.seed;
  env.ktime_ns = args.ktime;
  if (!args.fib.empty()) env.fib = fib_routes(json_argument(args.fib, "--fib"));

  nlohmann::json runs = nlohmann::json::array();
  for (std::size_t i = 0; i < packets.size(); ++i) {
    std::vector<uint8_t> packet = packets[i];
    PacketResult r;
    uint64_t executed = 0;
    for (uint32_t k = 0; k < std::max<uint32_t>(1, args.repeat); ++k) {
      // As BPF_PROG_TEST_RUN does, repetitions continue on the packet the previous one left.
      r = interp.run(index, RunInput{packet, ctx}, env, RunLimits{args.max_insns});
      executed += r.executed;
      if (r.fault) {
        std::string what = packets.size() > 1 ? "packet " + std::to_string(i + 1) + ": " : "";
        throw InputError(Location{module.path, program.name(), r.fault->insn}, what + r.fault->reason);
      }
      packet = r.packet;
    }
    nlohmann::json run{{"r0", r.r0},
                       {"verdict", verdict_name(model, r.r0)},
                       {"executed", executed},
                       {"packet", to_hex(r.packet)},
                       {"packet_changed", r.packet != packets[i]}};
    if (r.redirect)
      run["redirect"] = {{"ifindex", r.redirect->ifindex},
                         {"map", r.redirect->map >= 0 ? nlohmann::json(module.maps[std::size_t(r.redirect->map)].name) : nullptr},
                         {"key", r.redirect->key},
                         {"flags", r.redirect->flags}};
    if (!r.trace.empty()) run["trace"] = r.trace;
    if (r.tail_calls) run["tail_calls"] = r.tail_calls;
    runs.push_back(run);
  }

  const std::vector<MapContents> after = maps.dump();
  nlohmann::json changed = nlohmann::json::object();
  for (std::size_t m = 0; m < after.size(); ++m) {
    auto entries = changed_entries(before[m], after[m], is_per_cpu(module.maps[m].type));
    if (!entries.empty()) changed[after[m].name] = entries;
    if (after[m].records.size() > before[m].records.size()) {
      nlohmann::json recs = nlohmann::json::array();
      for (std::size_t k = before[m].records.size(); k < after[m].records.size(); ++k) recs.push_back(to_hex(after[m].records[k]));
      changed[after[m].name] = {{"records", recs}};
    }
  }

  if (args.json) {
    std::cout << nlohmann::json{{"file", module.path},
                                {"program", program.name()},
                                {"type", program.prog_type_name},
                                {"runs", runs},
                                {"changed_maps", changed},
                                {"maps", to_json(after, module.maps)}}
                     .dump(2)
              << "\n";
    return 0;
  }
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    if (runs.size() > 1) std::cout << "packet " << i + 1 << ":\n";
    std::cout << "r0 = " << r["r0"].get<uint64_t>();
    if (!r["verdict"].get<std::string>().empty()) std::cout << " (" << r["verdict"].get<std::string>() << ")";
    std::cout << "\nexecuted " << r["executed"].get<uint64_t>() << " instructions\n";
    if (takes_packet(model))
      std::cout << "packet " << (r["packet_changed"].get<bool>() ? "changed" : "unchanged") << " ("
                << r["packet"].get<std::string>().size() / 2 << " bytes): " << r["packet"].get<std::string>() << "\n";
    if (r.contains("redirect")) std::cout << "redirect: " << r["redirect"].dump() << "\n";
    if (r.contains("trace"))
      for (const auto& line : r["trace"]) std::cout << "trace: " << line.get<std::string>() << "\n";
  }
  if (changed.empty()) {
    std::cout << "maps unchanged\n";
  } else {
    for (const auto& [name, entries] : changed.items()) {
      if (entries.is_object()) {
        for (const auto& rec : entries["records"]) std::cout << name << ": record " << rec.get<std::string>() << "\n";
        continue;
      }
      for (const auto& e : entries) {
        std::cout << name << "[" << e["key"].get<std::string>() << "]: ";
        if (e["before"].is_string() && e["after"].is_string())
          std::cout << value_change(e["before"].get<std::string>(), e["after"].get<std::string>()) << "\n";
        else
          std::cout << (e["before"].is_null() ? "(none)" : e["before"].dump()) << " -> "
                    << (e["after"].is_null() ? "(deleted)" : e["after"].dump()) << "\n";
      }
    }
  }
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, Run& run) {
  auto* cmd = app.add_subcommand(
      "run",
      "Run a program in the interpreter, as BPF_PROG_TEST_RUN would: prints r0, the packet after the run, the map "
      "entries that changed and the instructions executed");
  auto args = std::make_shared<RunArgs>();
  cmd->add_option("FILE", args->input.path,
                  "BPF ELF object (.o), C source (.c), assembly text (.s, .asm) or raw bytecode (with --prog-type)");
  cmd->add_option("--prog-type", args->input.options.prog_type, "program type of raw bytecode in FILE");
  cmd->add_option("--prog", args->prog, "the program to run, when the file has several");
  cmd->add_option("--packet", args->packet, "the packet, as hex bytes (Ethernet frame, at least 14 bytes)");
  cmd->add_option("--pcap", args->pcap, "run on every packet of a pcap or pcapng file, in order (maps carry over)");
  cmd->add_option("--ctx", args->ctx,
                  "context fields as JSON (inline or a file): {\"mark\": 1, \"cb\": [1,2]} for tc, "
                  "{\"ingress_ifindex\": 1} for XDP, {\"hex\": \"...\"} for a tracing context");
  cmd->add_option("--maps", args->maps,
                  "map contents to start from, as JSON (inline or a file): {\"MAP\": {\"entries\": [{\"key\": HEX, "
                  "\"value\": HEX}]}}");
  cmd->add_option("--repeat", args->repeat, "run each packet this many times (the packet carries over, as in the kernel)")
      ->capture_default_str();
  cmd->add_option("--run-cpu", args->run_cpu, "the CPU the program runs on (bpf_get_smp_processor_id, per-CPU maps)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "seed of bpf_get_prandom_u32")->capture_default_str();
  cmd->add_option("--ktime", args->ktime, "what bpf_ktime_get_ns returns, in ns")->capture_default_str();
  cmd->add_option("--fib", args->fib,
                  "routes for bpf_fib_lookup, as JSON (inline or a file): [{\"prefix\": \"10.0.0.0/24\", \"ifindex\": 2, "
                  "\"gateway\": \"10.0.0.1\", \"smac\": HEX, \"dmac\": HEX, \"mtu\": 1500}]");
  cmd->add_option("--raw", args->raw,
                  "raw bytecode (8-byte little-endian instructions, or their hex text) to run with r1 pointing to --mem; "
                  "- reads stdin; prints r0 in hex");
  cmd->add_option("--mem", args->mem, "with --raw: hex bytes of the memory block r1 points to (r2 = its size)");
  cmd->add_option("--max-insns", args->max_insns, "stop after this many instructions")->capture_default_str();
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->callback([&run, args] {
    run = [args] {
      if (!args->raw.empty()) {
        if (!args->input.path.empty()) throw InputError("give FILE or --raw, not both");
        return run_raw(*args);
      }
      if (args->input.path.empty()) throw InputError("give a FILE to run (or --raw PROG --mem HEX)");
      return run_module(*args);
    };
  });
}

}  // namespace tristate::cli
