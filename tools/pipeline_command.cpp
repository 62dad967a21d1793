// `tristate pipeline`: run an XDP program in a datapath stage on packets from a capture, the
// generator or an AF_XDP socket, and send what it passes and transmits to sinks.
//
//   tristate pipeline --prog FILE [--name PROG] [--jit] [--maps JSON] --from pcap:FILE|afxdp:IFACE|gen:SPEC
//                     [--to pcap:FILE|afxdp:IFACE|none] [--tx pcap:FILE|afxdp:IFACE|none] [--count N]
//                     [--duration S] [--mode native|generic|auto] [--json]
//
// The driver is datapath/pipeline.hpp; this file parses, prints live statistics while stderr is
// a terminal, and prints the summary (a table, or --json). SIGINT and SIGTERM stop the run
// cleanly: the summary is printed and the pcap sinks written. Exit status: 0, or 2 for bad input
// (then no output file is created).
#include <linux/bpf.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "compiler/frontend.hpp"
#include "datapath/pipeline.hpp"
#include "tools/commands.hpp"

namespace tristate::cli {

namespace {

using nlohmann::json;
using namespace datapath;

struct PipelineArgs {
  std::string prog;
  std::string name;
  bool jit = false;
  std::string maps;
  std::string from;
  std::string to = "none";
  std::string tx;
  uint64_t count = 0;
  double duration = 0;
  std::string mode = "auto";
  bool json = false;
};

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

// SIGINT/SIGTERM set the stop flag while this lives; a second signal has the default effect.
class StopOnSignal {
 public:
  StopOnSignal() {
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopOnSignal() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_{}, old_term_{};
};

// --maps given inline ('{' first) or as a file.
json maps_argument(const std::string& text) {
  std::string body = text;
  const std::size_t first = text.find_first_not_of(" \t\n");
  if (first == std::string::npos || text[first] != '{') {
    const auto bytes = read_file_bytes(text);
    body.assign(bytes.begin(), bytes.end());
  }
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    throw InputError(Location{first != std::string::npos && text[first] == '{' ? "--maps" : text, {}, {}},
                     std::string("not valid JSON: ") + e.what());
  }
}

std::string number(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

json verdicts_json(const PipelineStats& s) {
  json v = json::object();
  for (std::size_t a = 0; a < kXdpActions; ++a) v[std::string(action_name(static_cast<XdpAction>(a)))] = s.by_action[a];
  return v;
}

json sink_json(const SinkStats& s) { return json{{"spec", s.spec}, {"packets", s.packets}, {"bytes", s.bytes}, {"dropped", s.dropped}}; }

std::string live_line(const PipelineStats& s) {
  std::ostringstream os;
  os << number(s.seconds, 1) << " s  " << s.packets << " pkts  " << number(s.pps(), 0) << " pps |";
  for (std::size_t a = 0; a < kXdpActions; ++a) os << " " << action_name(static_cast<XdpAction>(a)) << " " << s.by_action[a];
  os << " | faults " << s.faults;
  if (s.socket) os << " | socket drops " << s.socket->rx_dropped + s.socket->rx_ring_full + s.socket->fill_ring_empty;
  return os.str();
}

int pipeline(const PipelineArgs& args) {
  if (args.prog.empty()) throw InputError("give the program with --prog FILE");
  if (args.from.empty()) throw InputError("give a source with --from pcap:FILE, gen:SPEC or afxdp:IFACE");
  PipelineOptions options;
  options.source = parse_source(args.from);
  options.pass = parse_sink(args.to, "--to");
  if (!args.tx.empty()) options.tx = parse_sink(args.tx, "--tx");
  options.count = args.count;
  if (args.duration < 0) throw InputError("--duration must not be negative");
  options.duration = args.duration;
  if (args.mode == "native") options.mode = XdpMode::Native;
  else if (args.mode == "generic") options.mode = XdpMode::Generic;
  else if (args.mode != "auto") throw InputError("--mode " + args.mode + ": expected native, generic or auto");
  options.inputs.push_back(args.prog);
  if (!args.maps.empty() && args.maps.find('{') == std::string::npos) options.inputs.push_back(args.maps);

  const Module module = [&] {
    try {
      return load_input(args.prog, {});
    } catch (const InputError& e) {
      throw e.within(Location{args.prog, {}, {}});
    }
  }();
  // The first XDP program unless --name says which.
  std::string name = args.name;
  if (name.empty())
    for (const Program& p : module.programs)
      if (p.prog_type == BPF_PROG_TYPE_XDP) {
        name = p.name();
        break;
      }
  auto program = std::make_shared<PacketProgram>(module, name, args.jit ? Engine::Jit : Engine::Interpreter);
  if (!args.maps.empty()) {
    std::vector<std::string> names;
    for (const Program& p : module.programs) names.push_back(p.name());
    program->maps().seed_json(maps_argument(args.maps), names, Location{module.path, {}, {}});
  }

  const bool live = isatty(STDERR_FILENO);
  StopOnSignal signals;
  g_stop.store(false);
  options.stop = &g_stop;
  std::function<void(const PipelineStats&)> progress;
  if (live) progress = [](const PipelineStats& s) { std::cerr << "\r\033[K" << live_line(s) << std::flush; };
  const PipelineStats s = run_pipeline(program, options, progress);
  if (live) std::cerr << "\r\033[K" << std::flush;

  const std::string engine = args.jit ? "jit" : "interpreter";
  if (args.json) {
    json j{{"file", module.path},
           {"program", program->name()},
           {"engine", engine},
           {"packets", s.packets},
           {"seconds", s.seconds},
           {"pps", s.pps()},
           {"verdicts", verdicts_json(s)},
           {"faults", s.faults},
           {"refused", s.refused},
           {"source", {{"spec", options.source.spec}, {"packets", s.packets}, {"stopped_by", s.stopped_by}}},
           {"sinks", {{"pass", sink_json(s.pass)}, {"tx", sink_json(s.tx)}, {"recycled", sink_json(s.other)}}},
           {"violations", s.violations},
           {"maps", to_json(program->maps().dump(), module.maps)}};
    if (!s.last_violation.empty()) j["last_violation"] = s.last_violation;
    if (!s.last_fault.empty()) j["last_fault"] = s.last_fault;
    if (s.socket)
      j["socket"] = {{"rx_dropped", s.socket->rx_dropped},         {"rx_invalid", s.socket->rx_invalid},
                     {"tx_invalid", s.socket->tx_invalid},         {"rx_ring_full", s.socket->rx_ring_full},
                     {"fill_ring_empty", s.socket->fill_ring_empty}, {"tx_ring_empty", s.socket->tx_ring_empty}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "program     " << program->name() << " of " << module.path << " (" << engine << ")\n"
            << "source      " << options.source.spec << ": " << s.packets << " packets in " << number(s.seconds, 3) << " s ("
            << number(s.pps(), 0) << " pps), stopped by " << s.stopped_by << "\n"
            << "verdicts   ";
  for (std::size_t a = 0; a < kXdpActions; ++a) std::cout << " " << action_name(static_cast<XdpAction>(a)) << " " << s.by_action[a];
  std::cout << "\nfaults      " << s.faults << (s.last_fault.empty() ? "" : " (last: " + s.last_fault + ")") << "\n";
  for (const auto& [reason, n] : s.refused) std::cout << "refused     " << n << " " << reason << " (counted as aborted)\n";
  const auto sink_line = [](const char* what, const SinkStats& k) {
    std::cout << what << k.spec << ": " << k.packets << " packets, " << k.bytes << " bytes";
    if (k.dropped) std::cout << ", " << k.dropped << " not sent";
    std::cout << "\n";
  };
  sink_line("pass     -> ", s.pass);
  sink_line("tx       -> ", s.tx);
  std::cout << "recycled    " << s.other.packets << " packets (dropped, aborted, redirected)\n";
  if (s.socket)
    std::cout << "socket      rx_dropped " << s.socket->rx_dropped << ", rx_ring_full " << s.socket->rx_ring_full
              << ", fill_ring_empty " << s.socket->fill_ring_empty << ", rx_invalid " << s.socket->rx_invalid
              << ", tx_invalid " << s.socket->tx_invalid << "\n";
  std::cout << "violations  " << s.violations << (s.last_violation.empty() ? "" : " (last: " + s.last_violation + ")") << "\n";
  return 0;
}

}  // namespace

void add_pipeline_command(CLI::App& app, Run& run) {
  auto args = std::make_shared<PipelineArgs>();
  CLI::App* cmd = app.add_subcommand("pipeline", "Run an XDP program in a datapath stage on packets from a capture, the generator or AF_XDP");
  cmd->footer(
      "Sources: pcap:FILE, gen:N or gen:count=N,seed=S, afxdp:IFACE (queue 0; until --count, --duration or Ctrl-C).\n"
      "Sinks: pcap:FILE (written at the end, atomically), afxdp:IFACE, none. --to gets XDP_PASS packets (default none),\n"
      "--tx gets XDP_TX packets (default: back out of the source's socket for afxdp, else none). See docs/pipeline.md.");
  cmd->add_option("--prog", args->prog, "BPF ELF object (or C source, assembly) with the XDP program")->required();
  cmd->add_option("--name", args->name, "The program to run (default: the first XDP program)");
  cmd->add_flag("--jit", args->jit, "Run the program with the LLVM JIT instead of the interpreter");
  cmd->add_option("--maps", args->maps, "Map contents to start from, as JSON (inline or a file), as `tristate run --maps`");
  cmd->add_option("--from", args->from, "Source: pcap:FILE, gen:SPEC or afxdp:IFACE")->required();
  cmd->add_option("--to", args->to, "Sink of passed packets: pcap:FILE, afxdp:IFACE or none")->capture_default_str();
  cmd->add_option("--tx", args->tx, "Sink of XDP_TX packets: pcap:FILE, afxdp:IFACE or none");
  cmd->add_option("--count", args->count, "Stop after this many packets (0: no limit)");
  cmd->add_option("--duration", args->duration, "Stop after this many seconds (0: no limit)");
  cmd->add_option("--mode", args->mode, "XDP mode of the AF_XDP sockets: native, generic or auto")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([&run, args] { run = [args] { return pipeline(*args); }; });
}

}  // namespace tristate::cli
