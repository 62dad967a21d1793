// Loading an ELF object into the kernel and attaching its XDP program to a network interface so
// that it stays attached after the process exits (`tristate load`).
//
// libbpf loads the whole object (every program and map); the XDP program is attached through a
// bpf_link (BPF_LINK_CREATE with BPF_XDP), and the link and the maps are pinned in a BPF
// filesystem:
//   DIR/link           the link: while it is pinned the program stays attached
//   DIR/maps/MAPNAME   every map of the object (internal ones too: OBJ.bss, OBJ.rodata, ...)
// Detaching detaches the link, removes those pins and the directory. Either operation does all
// of its work or none: on any failure what it pinned or attached is undone before the InputError
// (naming the file, the program and the reason) leaves.
//
// This header does not mention libbpf; the RAII wrappers over its C API are in xdp_attach.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datapath/afxdp.hpp"

namespace tristate::datapath {

// Where pins go when the caller names no directory: /sys/fs/bpf/tristate/IFNAME.
std::string default_pin_dir(const std::string& ifname);

// Mounts a BPF filesystem at `root` when none is mounted there. Returns true when it mounted one.
// InputError when it cannot (no permission, `root` cannot be made).
bool ensure_bpffs(const std::string& root = "/sys/fs/bpf");

// Moves the calling thread into the network namespace `name` (a name of `ip netns`, or a path
// such as /proc/PID/ns/net), staying in the current mount namespace, so that pins land in the
// BPF filesystem the caller sees. InputError when there is no such namespace.
void enter_netns(const std::string& name);

struct XdpAttachOptions {
  std::string object;   // ELF object file
  std::string ifname;   // interface to attach to
  std::string program;  // program name; empty: the first XDP program of the object
  XdpMode mode = XdpMode::Auto;  // Auto: the kernel picks native when the driver has it
  std::string pin_dir;  // empty: default_pin_dir(ifname)
};

struct XdpAttachment {
  std::string object;
  std::string program;
  uint32_t prog_id = 0;
  uint32_t link_id = 0;
  uint32_t ifindex = 0;
  std::string ifname;
  std::string mode;      // what the kernel reports: "native", "generic", "offload" or "unknown"
  std::string pin_dir;
  std::string link_pin;  // pin_dir + "/link"
  std::vector<std::pair<std::string, std::string>> maps;  // map name, pinned path
  bool mounted_bpffs = false;  // the command mounted /sys/fs/bpf
};

// Loads, attaches and pins, as described at the top of this file. InputError (nothing left
// behind) for: no such interface, a BPF filesystem that would not outlive the command (none was
// mounted at /sys/fs/bpf and the process runs in a mount namespace of its own, as under
// `ip netns exec`, so pins would vanish, and the attachment with them, when it exits), an object that cannot be read or that libbpf refuses
// (truncated, corrupt), no XDP program or a named program that is not XDP, the kernel refusing
// a program (with the last lines of the verifier log), a mode the driver does not support, an
// interface that already has an XDP program, pins already at the directory.
XdpAttachment attach_xdp(const XdpAttachOptions& options);

struct XdpDetachment {
  std::string pin_dir;
  std::string link_pin;
  uint32_t link_id = 0;
  uint32_t prog_id = 0;
  uint32_t ifindex = 0;  // the interface the link was attached to (0: it is gone)
  std::vector<std::string> removed;  // every pin removed, the link's first
};

// Detaches the link pinned at `pin_dir` (empty: default_pin_dir(ifname)) and removes its pins and
// the directory. InputError when nothing is pinned there, or when the link there is attached to
// another interface than `ifname`.
XdpDetachment detach_xdp(const std::string& ifname, const std::string& pin_dir);

}  // namespace tristate::datapath
