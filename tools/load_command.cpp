// `tristate load`: load an object into the kernel and attach its XDP program to an interface.
//
//   tristate load OBJ.o --xdp IFACE [--prog NAME] [--mode native|generic] [--pin DIR] [--netns NS] [--json]
//   tristate load --detach --xdp IFACE [--pin DIR] [--netns NS] [--json]
//
// The link and the maps are pinned under DIR (default /sys/fs/bpf/tristate/IFACE), so the program
// stays attached after the command exits; --detach undoes it (datapath/xdp_attach.hpp, docs/pipeline.md).
// Exit status: 0 done, 2 bad input (nothing left attached or pinned).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "compiler/error.hpp"
#include "datapath/xdp_attach.hpp"
#include "tools/commands.hpp"

namespace tristate::cli {

namespace {

struct LoadArgs {
  std::string object;
  std::string iface;
  std::string prog;
  std::string mode;
  std::string pin;
  std::string netns;
  bool detach = false;
  bool json = false;
};

int load(const LoadArgs& args) {
  using namespace datapath;
  if (args.iface.empty()) throw InputError("give the interface to attach to with --xdp IFACE");
  if (!args.netns.empty()) enter_netns(args.netns);
  if (args.detach) {
    if (!args.object.empty()) throw InputError(Location{args.object, {}, {}}, "--detach takes no object");
    const XdpDetachment d = detach_xdp(args.iface, args.pin);
    if (args.json) {
      std::cout << nlohmann::json{{"detached", true},     {"interface", args.iface}, {"ifindex", d.ifindex},
                                  {"link_id", d.link_id}, {"prog_id", d.prog_id},     {"pin_dir", d.pin_dir},
                                  {"removed", d.removed}}
                       .dump(2)
                << "\n";
    } else {
      std::cout << "detached prog id " << d.prog_id << " (link id " << d.link_id << ") from " << args.iface << "\n"
                << "removed " << d.removed.size() << " pins and " << d.pin_dir << "\n";
    }
    return 0;
  }
  if (args.object.empty()) throw InputError("give the object to load (or --detach)");
  XdpAttachOptions options{.object = args.object, .ifname = args.iface, .program = args.prog, .pin_dir = args.pin};
  if (args.mode == "native") options.mode = XdpMode::Native;
  else if (args.mode == "generic") options.mode = XdpMode::Generic;
  else if (!args.mode.empty() && args.mode != "auto")
    throw InputError(Location{args.object, args.prog, {}}, "--mode " + args.mode + ": expected native, generic or auto");
  const XdpAttachment a = attach_xdp(options);
  if (args.json) {
    nlohmann::json maps = nlohmann::json::object();
    for (const auto& [name, path] : a.maps) maps[name] = path;
    std::cout << nlohmann::json{{"file", a.object},   {"program", a.program}, {"prog_id", a.prog_id},
                                {"link_id", a.link_id}, {"interface", a.ifname}, {"ifindex", a.ifindex},
                                {"mode", a.mode},       {"pin_dir", a.pin_dir}, {"link", a.link_pin},
                                {"maps", maps},         {"mounted_bpffs", a.mounted_bpffs}}
                     .dump(2)
              << "\n";
    return 0;
  }
  if (a.mounted_bpffs) std::cout << "mounted a BPF filesystem at /sys/fs/bpf\n";
  std::cout << "attached " << a.program << " (prog id " << a.prog_id << ") to " << a.ifname << " (ifindex " << a.ifindex
            << ") in " << a.mode << " mode\n"
            << "link id " << a.link_id << " pinned at " << a.link_pin << "\n";
  for (const auto& [name, path] : a.maps) std::cout << "map " << name << " pinned at " << path << "\n";
  std::cout << "detach with: tristate load --detach --xdp " << a.ifname << " --pin " << a.pin_dir << "\n";
  return 0;
}

}  // namespace

void add_load_command(CLI::App& app, Run& run) {
  auto args = std::make_shared<LoadArgs>();
  CLI::App* cmd = app.add_subcommand(
      "load", "Load an object into the kernel and attach its XDP program to an interface, pinned so that it stays attached");
  cmd->footer(
      "The link is pinned at DIR/link and every map at DIR/maps/NAME (DIR: --pin, default /sys/fs/bpf/tristate/IFACE);\n"
      "a BPF filesystem is mounted at /sys/fs/bpf when none is. `--detach --xdp IFACE` detaches and removes the pins.");
  cmd->add_option("OBJ", args->object, "BPF ELF object to load (all its programs and maps)");
  cmd->add_option("--xdp", args->iface, "The network interface to attach the XDP program to")->required();
  cmd->add_option("--prog", args->prog, "The program to attach (default: the first XDP program)");
  cmd->add_option("--mode", args->mode, "XDP mode: native (driver) or generic (skb); default: native when the driver has it");
  cmd->add_option("--pin", args->pin, "Pin directory on a BPF filesystem (default /sys/fs/bpf/tristate/IFACE)");
  cmd->add_option("--netns", args->netns,
                  "Network namespace of the interface (an `ip netns` name or a path), entered without leaving the mount "
                  "namespace, so that the pins land in this BPF filesystem (under `ip netns exec` they could not outlive the command)");
  cmd->add_flag("--detach", args->detach, "Detach the program pinned at the pin directory and remove the pins");
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([&run, args] { run = [args] { return load(*args); }; });
}

}  // namespace tristate::cli
