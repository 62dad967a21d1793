#include "datapath/xdp_attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "compiler/elf.hpp"
#include "compiler/error.hpp"

namespace tristate::datapath {

namespace fs = std::filesystem;

namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;  // BPF_FS_MAGIC
constexpr std::size_t kLogSize = 1 << 20;

std::string errno_text(int e) { return std::string(std::strerror(e)) + " (errno " + std::to_string(e) + ")"; }

std::string libbpf_text(int err) {
  char buf[256];
  libbpf_strerror(err < 0 ? err : -err, buf, sizeof buf);
  return std::string(buf) + " (errno " + std::to_string(err < 0 ? -err : err) + ")";
}

// The last lines of a verifier log, indented, for an error message.
std::string log_tail(const char* log, std::size_t lines = 8) {
  std::vector<std::string> all;
  std::string line;
  for (const char* p = log; *p; ++p) {
    if (*p == '\n') {
      if (!line.empty()) all.push_back(line);
      line.clear();
    } else {
      line += *p;
    }
  }
  if (!line.empty()) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "\n    " + printable(all[i]);
  return out;
}

bool on_bpffs(const std::string& path) {
  struct statfs st{};
  return statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == kBpfFsMagic;
}

// The nearest existing ancestor of `path` (itself when it exists).
fs::path existing_ancestor(fs::path path) {
  std::error_code ec;
  while (!path.empty() && !fs::exists(path, ec)) {
    fs::path parent = path.parent_path();
    if (parent == path) break;
    path = parent;
  }
  return path;
}

// What the pins of one attach made on disk, undone in reverse order unless committed: so a
// failure halfway leaves nothing behind.
class PinGuard {
 public:
  ~PinGuard() {
    if (committed_) return;
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
      if (it->second) rmdir(it->first.c_str());
      else unlink(it->first.c_str());
    }
  }
  // Creates `dir` and the missing directories above it.
  void make_dirs(const fs::path& dir) {
    std::vector<fs::path> missing;
    std::error_code ec;
    for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      missing.push_back(p);
      if (p == p.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (mkdir(it->c_str(), 0700) != 0 && errno != EEXIST)
        throw InputError(Location{it->string(), {}, {}}, "cannot create the pin directory: " + errno_text(errno));
      made_.emplace_back(it->string(), true);
    }
  }
  void pinned(const std::string& path) { made_.emplace_back(path, false); }
  void commit() { committed_ = true; }

 private:
  std::vector<std::pair<std::string, bool>> made_;  // path, is a directory
  bool committed_ = false;
};

std::string mode_name(uint8_t attach_mode) {
  switch (attach_mode) {
    case XDP_ATTACHED_DRV: return "native";
    case XDP_ATTACHED_SKB: return "generic";
    case XDP_ATTACHED_HW: return "offload";
    default: return "unknown";
  }
}

uint32_t xdp_flags(XdpMode mode) {
  switch (mode) {
    case XdpMode::Native: return XDP_FLAGS_DRV_MODE;
    case XdpMode::Generic: return XDP_FLAGS_SKB_MODE;
    case XdpMode::Auto: return 0;
  }
  return 0;
}

const char* mode_word(XdpMode mode) {
  return mode == XdpMode::Native ? "native" : mode == XdpMode::Generic ? "generic" : "automatic";
}

// The id of the XDP program attached to `ifindex` now (any mode), or 0.
uint32_t attached_prog(uint32_t ifindex) {
  bpf_xdp_query_opts q{};
  q.sz = sizeof q;
  if (bpf_xdp_query(static_cast<int>(ifindex), 0, &q) != 0) return 0;
  return q.prog_id ? q.prog_id : q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id ? q.skb_prog_id : q.hw_prog_id;
}

// Whether this process runs in another mount namespace than its parent (then a filesystem it
// mounts goes away with it, unless something else keeps the namespace).
bool private_mount_namespace() {
  std::error_code ec;
  const fs::path mine = fs::read_symlink("/proc/self/ns/mnt", ec);
  if (ec) return false;
  const fs::path parent = fs::read_symlink("/proc/" + std::to_string(getppid()) + "/ns/mnt", ec);
  return !ec && mine != parent;
}

}  // namespace

void enter_netns(const std::string& name) {
  const std::string path = name.find('/') == std::string::npos ? "/var/run/netns/" + name : name;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw InputError(Location{name, {}, std::nullopt}, "no such network namespace (" + path + "): " + errno_text(errno));
  if (setns(fd.get(), CLONE_NEWNET) != 0)
    throw InputError(Location{name, {}, std::nullopt}, "cannot enter the network namespace: " + errno_text(errno));
}

std::string default_pin_dir(const std::string& ifname) { return "/sys/fs/bpf/tristate/" + ifname; }

bool ensure_bpffs(const std::string& root) {
  if (on_bpffs(root)) return false;
  std::error_code ec;
  fs::create_directories(root, ec);
  if (mount("bpf", root.c_str(), "bpf", 0, "mode=0700") != 0)
    throw InputError(Location{root, {}, {}}, "no BPF filesystem is mounted here and mounting one failed: " + errno_text(errno));
  return true;
}

XdpAttachment attach_xdp(const XdpAttachOptions& options) {
  install_libbpf_print();
  const Location file{options.object, options.program, std::nullopt};
  XdpAttachment out;
  out.object = options.object;
  out.ifname = options.ifname;
  out.ifindex = if_nametoindex(options.ifname.c_str());
  if (out.ifindex == 0) throw InputError(file, "no such network interface: " + options.ifname);

  // The pin directory: on a BPF filesystem that outlives this process, and not in use.
  out.mounted_bpffs = ensure_bpffs();
  if (out.mounted_bpffs && private_mount_namespace()) {
    umount2("/sys/fs/bpf", MNT_DETACH);
    throw InputError(file, "no BPF filesystem is mounted at /sys/fs/bpf in this mount namespace, which is not the one of "
                           "the parent process (`ip netns exec` makes a private one): pins made here would vanish, and "
                           "detach the program, when the command exits. Run it from the parent's namespace with "
                           "`tristate load --netns NS ...` instead");
  }
  out.pin_dir = fs::path(options.pin_dir.empty() ? default_pin_dir(options.ifname) : options.pin_dir).lexically_normal().string();
  while (out.pin_dir.size() > 1 && out.pin_dir.back() == '/') out.pin_dir.pop_back();
  out.link_pin = out.pin_dir + "/link";
  std::error_code ec;
  if (fs::exists(out.link_pin, ec))
    throw InputError(file, "a program is already attached through " + out.link_pin +
                               "; detach it first with `tristate load --detach --xdp " + options.ifname + " --pin " +
                               out.pin_dir + "`");
  if (fs::exists(out.pin_dir, ec) && !fs::is_empty(out.pin_dir, ec))
    throw InputError(file, "the pin directory " + out.pin_dir + " is not empty; give another --pin or remove it");
  if (!on_bpffs(existing_ancestor(out.pin_dir).string()))
    throw InputError(file, "the pin directory " + out.pin_dir + " is not on a BPF filesystem (use one under /sys/fs/bpf)");

  // Open and load the whole object.
  const std::vector<uint8_t> bytes = read_file_bytes(options.object);
  const std::string base = fs::path(options.object).filename().string();
  LibbpfLog log;
  BpfObject object = [&] {
    try {
      return BpfObject::open_memory(bytes, base.substr(0, base.find('.')));
    } catch (const InputError& e) {
      throw e.within(Location{options.object, {}, std::nullopt});
    }
  }();
  bpf_object* obj = object.get();

  bpf_program* chosen = nullptr;
  std::string programs;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    const std::string name = bpf_program__name(prog);
    const char* type = libbpf_bpf_prog_type_str(bpf_program__type(prog));
    programs += (programs.empty() ? "" : ", ") + name + " (" + (type ? type : "unknown") + ")";
    if (!options.program.empty() ? name == options.program : !chosen && bpf_program__type(prog) == BPF_PROG_TYPE_XDP)
      chosen = prog;
  }
  if (!chosen && !options.program.empty())
    throw InputError(file, "no program of this name in the object; it has: " + (programs.empty() ? "(none)" : programs));
  if (!chosen) throw InputError(file, "the object has no XDP program; it has: " + (programs.empty() ? "(none)" : programs));
  out.program = bpf_program__name(chosen);
  const Location where{options.object, out.program, std::nullopt};
  if (bpf_program__type(chosen) != BPF_PROG_TYPE_XDP) {
    const char* type = libbpf_bpf_prog_type_str(bpf_program__type(chosen));
    throw InputError(where, std::string("not an XDP program (its type is ") + (type ? type : "unknown") +
                                "); only XDP programs attach to an interface");
  }

  // libbpf loads without a log first and, when the kernel refuses a program, again at log level
  // 1 into that program's buffer.
  std::vector<std::pair<bpf_program*, std::unique_ptr<char[]>>> logs;
  bpf_object__for_each_program(prog, obj) {
    logs.emplace_back(prog, std::make_unique_for_overwrite<char[]>(kLogSize));
    logs.back().second[0] = '\0';
    bpf_program__set_log_buf(prog, logs.back().second.get(), kLogSize);
  }
  if (const int err = bpf_object__load(obj); err != 0) {
    for (auto& [p, buf] : logs) {
      buf[kLogSize - 1] = '\0';
      if (buf[0] == '\0') continue;
      throw InputError(Location{options.object, bpf_program__name(p), std::nullopt},
                       "the kernel refused the program: " + libbpf_text(err) + "; the verifier log ends with:" + log_tail(buf.get()));
    }
    throw InputError(where, "libbpf could not load the object: " + libbpf_text(err) + ": " + log.summary());
  }
  for (auto& [p, buf] : logs) bpf_program__set_log_buf(p, nullptr, 0);

  const int prog_fd = bpf_program__fd(chosen);
  bpf_prog_info pinfo{};
  uint32_t plen = sizeof pinfo;
  if (bpf_obj_get_info_by_fd(prog_fd, &pinfo, &plen) == 0) out.prog_id = pinfo.id;

  // Attach through a link; the link's fd is closed when this function returns, so until the
  // link is pinned a failure detaches it again.
  bpf_link_create_opts lopts{};
  lopts.sz = sizeof lopts;
  lopts.flags = xdp_flags(options.mode);
  UniqueFd link(bpf_link_create(prog_fd, static_cast<int>(out.ifindex), BPF_XDP, &lopts));
  if (!link) {
    const int e = errno;
    if (e == EOPNOTSUPP || e == 524 /* ENOTSUPP */)
      throw InputError(where, std::string("the driver of ") + options.ifname + " does not support " + mode_word(options.mode) + " XDP");
    if (e == EBUSY || e == EEXIST) {
      const uint32_t other = attached_prog(out.ifindex);
      throw InputError(where, options.ifname + " already has an XDP program attached" +
                                  (other ? " (prog id " + std::to_string(other) + ")" : std::string()) + "; detach it first");
    }
    throw InputError(where, "cannot attach to " + options.ifname + " in " + mode_word(options.mode) + " mode: " + errno_text(e));
  }
  bpf_link_info linfo{};
  uint32_t llen = sizeof linfo;
  if (bpf_obj_get_info_by_fd(link.get(), &linfo, &llen) == 0) out.link_id = linfo.id;
  bpf_xdp_query_opts q{};
  q.sz = sizeof q;
  if (bpf_xdp_query(static_cast<int>(out.ifindex), 0, &q) == 0) out.mode = mode_name(q.attach_mode);
  else out.mode = "unknown";

  // Pin the maps, then the link (last: once it is pinned the attachment outlives us).
  PinGuard guard;
  guard.make_dirs(fs::path(out.pin_dir) / "maps");
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, obj) {
    const std::string name = bpf_map__name(map);
    const std::string path = out.pin_dir + "/maps/" + name;
    if (bpf_obj_pin(bpf_map__fd(map), path.c_str()) != 0)
      throw InputError(where, "cannot pin map '" + name + "' at " + path + ": " + errno_text(errno));
    guard.pinned(path);
    out.maps.emplace_back(name, path);
  }
  if (bpf_obj_pin(link.get(), out.link_pin.c_str()) != 0)
    throw InputError(where, "cannot pin the link at " + out.link_pin + ": " + errno_text(errno));
  guard.pinned(out.link_pin);
  guard.commit();
  return out;
}

XdpDetachment detach_xdp(const std::string& ifname, const std::string& pin_dir) {
  install_libbpf_print();
  XdpDetachment out;
  if (ensure_bpffs() && private_mount_namespace()) {
    umount2("/sys/fs/bpf", MNT_DETACH);
    throw InputError(Location{pin_dir.empty() ? default_pin_dir(ifname) : pin_dir, {}, std::nullopt},
                     "no BPF filesystem is mounted at /sys/fs/bpf in this mount namespace, a private one (as `ip netns "
                     "exec` makes), so no pins can be here; run `tristate load --detach --netns NS ...` instead");
  }
  out.pin_dir = fs::path(pin_dir.empty() ? default_pin_dir(ifname) : pin_dir).lexically_normal().string();
  while (out.pin_dir.size() > 1 && out.pin_dir.back() == '/') out.pin_dir.pop_back();
  out.link_pin = out.pin_dir + "/link";
  const Location where{out.pin_dir, {}, std::nullopt};
  std::error_code ec;
  if (!fs::exists(out.link_pin, ec))
    throw InputError(where, "nothing is attached through this directory (no pinned link at " + out.link_pin +
                                "); nothing to detach from " + ifname);
  UniqueFd link(bpf_obj_get(out.link_pin.c_str()));
  if (!link) throw InputError(where, "cannot open the pinned link " + out.link_pin + ": " + errno_text(errno));
  bpf_link_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(link.get(), &info, &len) != 0)
    throw InputError(where, out.link_pin + " is not a BPF link: " + errno_text(errno));
  if (info.type != BPF_LINK_TYPE_XDP) throw InputError(where, out.link_pin + " is not an XDP link");
  out.link_id = info.id;
  out.prog_id = info.prog_id;
  out.ifindex = info.xdp.ifindex;
  const uint32_t want = if_nametoindex(ifname.c_str());
  if (want != 0 && out.ifindex != 0 && want != out.ifindex) {
    char name[IF_NAMESIZE] = {};
    const char* other = if_indextoname(out.ifindex, name);
    throw InputError(where, "the link pinned here is attached to " +
                                (other ? std::string(other) : "ifindex " + std::to_string(out.ifindex)) + ", not " + ifname);
  }
  // Detach now even if another process holds the link open, then remove the pins.
  if (out.ifindex != 0 && bpf_link_detach(link.get()) != 0 && errno != EINVAL && errno != ENOLINK)
    throw InputError(where, "cannot detach the link: " + errno_text(errno));
  if (unlink(out.link_pin.c_str()) != 0) throw InputError(where, "cannot remove " + out.link_pin + ": " + errno_text(errno));
  out.removed.push_back(out.link_pin);
  const fs::path maps = fs::path(out.pin_dir) / "maps";
  if (fs::is_directory(maps, ec)) {
    for (const auto& entry : fs::directory_iterator(maps, ec)) {
      if (unlink(entry.path().c_str()) == 0) out.removed.push_back(entry.path().string());
    }
    rmdir(maps.c_str());
  }
  if (rmdir(out.pin_dir.c_str()) != 0)
    throw InputError(where, "detached, but the directory could not be removed: " + errno_text(errno));
  return out;
}

}  // namespace tristate::datapath
