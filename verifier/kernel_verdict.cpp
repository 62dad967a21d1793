#include "verifier/kernel_verdict.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <functional>
#include <memory>

#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "verifier/kernel_oracle.hpp"

namespace tristate {

namespace {

constexpr std::size_t kLogFirst = std::size_t(16) << 20;
constexpr std::size_t kLogMax = std::size_t(256) << 20;

struct Fds {
  std::vector<int> fds;
  ~Fds() {
    for (const int fd : fds) ::close(fd);
  }
};

void check_log_level(int log_level) {
  if (log_level < 1 || log_level > 7 || (log_level & 3) == 0)
    throw InternalError("verifier log level " + std::to_string(log_level) + ": want 1 or 2, optionally | 4");
}

uint64_t processed_insns(const std::string& log) {
  const std::size_t at = log.rfind("processed ");
  if (at == std::string::npos) return 0;
  uint64_t n = 0;
  const char* first = log.data() + at + 10;
  const auto [end, ec] = std::from_chars(first, log.data() + log.size(), n);
  if (ec != std::errc() || std::string_view(end, log.data() + log.size()).substr(0, 6) != " insns") return 0;
  return n;
}

// Verifies with the log in a buffer of 16 MiB and, when the kernel answers ENOSPC, once more with
// 256 MiB. Not doubling step by step: every attempt is a whole verification (seconds for a
// program with a 200 MB log), and a large buffer costs only the pages the kernel writes. libbpf 1.1
// does not pass on the kernel's log_true_size, which would size the second attempt exactly.
// `load(buf, size)` returns 0 when the kernel accepted the program, or -errno.
KernelVerdict verify_with_log(const std::function<int(char*, std::size_t)>& load, const Location& where) {
  std::size_t size = kLogFirst;
  for (;;) {
    const auto buf = std::make_unique_for_overwrite<char[]>(size);
    buf[0] = '\0';
    const int rc = load(buf.get(), size);
    buf[size - 1] = '\0';
    if (rc == -ENOSPC && size < kLogMax) {
      size = kLogMax;
      continue;
    }
    if (rc == -ENOSPC)
      throw InputError(where, "the verifier log at this level is longer than " + std::to_string(kLogMax >> 20) +
                                  " MiB (the kernel answered ENOSPC); use a lower log level");
    KernelVerdict v;
    v.accepted = rc == 0;
    v.error = rc == 0 ? 0 : -rc;
    v.log = buf.get();
    v.processed = processed_insns(v.log);
    return v;
  }
}

// A name the kernel accepts for a map (BPF_OBJ_NAME_LEN - 1 characters of [A-Za-z0-9_.]).
std::string kernel_map_name(const std::string& name) {
  std::string out;
  for (const char c : name) {
    if (out.size() == BPF_OBJ_NAME_LEN - 1) break;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  return out;
}

int create_map(const MapDef& d) {
  const Location where{{}, {}, {}};
  const std::string name = kernel_map_name(d.name);
  bpf_map_create_opts opts{};
  opts.sz = sizeof opts;
  opts.map_flags = d.flags;
  const bool internal = d.internal;
  const auto type = internal ? BPF_MAP_TYPE_ARRAY : static_cast<enum bpf_map_type>(d.type);
  const int fd = bpf_map_create(type, name.c_str(), internal ? 4 : d.key_size, d.value_size,
                                internal ? 1 : d.max_entries, &opts);
  if (fd < 0)
    throw InputError(where, "map '" + d.name + "' (" + d.type_name + ", key " + std::to_string(d.key_size) +
                                " bytes, value " + std::to_string(d.value_size) + " bytes, " +
                                std::to_string(d.max_entries) + " entries, flags " + std::to_string(d.flags) +
                                "): the kernel refused to create it: " + errno_text(errno));
  if (!internal) return fd;
  if (!d.initial_value.empty()) {
    std::vector<uint8_t> value(d.value_size, 0);
    std::copy_n(d.initial_value.begin(), std::min<std::size_t>(d.initial_value.size(), value.size()), value.begin());
    const uint32_t key = 0;
    if (bpf_map_update_elem(fd, &key, value.data(), BPF_ANY) != 0) {
      const int e = errno;
      ::close(fd);
      throw InputError(where, "map '" + d.name + "': writing its initial value failed: " + errno_text(e));
    }
  }
  if (d.section.starts_with(".rodata") && bpf_map_freeze(fd) != 0) {
    const int e = errno;
    ::close(fd);
    throw InputError(where, "map '" + d.name + "': freezing it failed: " + errno_text(e));
  }
  return fd;
}

}  // namespace

KernelVerdict kernel_verify(std::span<const Insn> image, uint32_t prog_type, const std::vector<MapDef>& maps,
                            const std::vector<MapRef>& map_refs, int log_level) {
  check_log_level(log_level);
  const Location where{{}, "tristate", {}};
  if (image.empty()) throw InputError(where, "cannot verify an empty program");
  if (!map_refs.empty() && map_refs.size() != image.size())
    throw InputError(where, "map references for " + std::to_string(map_refs.size()) + " slots, but the program has " +
                                std::to_string(image.size()));
  std::vector<Insn> insns(image.begin(), image.end());
  for (std::size_t i = 0; i < map_refs.size(); ++i) {
    const MapRef& r = map_refs[i];
    if (r.map < 0) continue;
    const Location at{{}, "tristate", i};
    if (std::size_t(r.map) >= maps.size())
      throw InputError(at, "refers to map " + std::to_string(r.map) + " of " + std::to_string(maps.size()));
    if (insns[i].opcode != (bpf::LD | bpf::IMM | bpf::DW) || i + 1 >= insns.size())
      throw InputError(at, "a map reference on an instruction that is not a 16-byte LD_IMM64");
  }

  Fds maps_created;
  for (const MapDef& d : maps) {
    try {
      maps_created.fds.push_back(create_map(d));
    } catch (const InputError& e) {
      throw e.within(where);
    }
  }
  for (std::size_t i = 0; i < map_refs.size(); ++i) {
    const MapRef& r = map_refs[i];
    if (r.map < 0) continue;
    insns[i].imm = maps_created.fds[std::size_t(r.map)];
    if (r.offset < 0) {
      insns[i].src = bpf::PSEUDO_MAP_FD;
      insns[i + 1].imm = 0;
    } else {
      insns[i].src = bpf::PSEUDO_MAP_VALUE;
      insns[i + 1].imm = static_cast<int32_t>(r.offset);
    }
  }

  return verify_with_log(
      [&](char* buf, std::size_t size) {
        const int fd = load_program_raw(insns, prog_type, "tristate", log_level, buf, size);
        if (fd < 0) return fd;
        ::close(fd);
        return 0;
      },
      where);
}

KernelVerdict kernel_verify_object(const std::string& path, const std::string& prog, int log_level) {
  check_log_level(log_level);
  const Location file{path, {}, {}};
  const Location where{path, prog, {}};
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  // The object name bpf_object__open_file would derive, as KernelObject::load does, so internal
  // map names (and the log's map=...) are the same.
  const std::string base = std::filesystem::path(path).filename().string();
  const std::string object_name = base.substr(0, base.find('.'));

  return verify_with_log(
      [&](char* buf, std::size_t size) {
        BpfObject obj = [&] {
          try {
            return BpfObject::open_memory(bytes, object_name);
          } catch (const InputError& e) {
            throw e.within(file);
          }
        }();
        bpf_program* target = nullptr;
        std::string names;
        bpf_program* p = nullptr;
        bpf_object__for_each_program(p, obj.get()) {
          const std::string name = bpf_program__name(p);
          names += (names.empty() ? "" : ", ") + name;
          if (name == prog) target = p;
          else bpf_program__set_autoload(p, false);
        }
        if (!target)
          throw InputError(where, "the object has no program of that name; its programs: " +
                                      (names.empty() ? std::string("none") : names));
        bpf_program__set_log_level(target, uint32_t(log_level));
        bpf_program__set_log_buf(target, buf, size);
        LibbpfLog log;
        const int err = bpf_object__load(obj.get());
        if (err == 0) return 0;
        // A verdict when the kernel got to the program: it wrote a log, or libbpf says the
        // program's load failed. Anything earlier (maps, BTF, relocations) is not a verdict.
        bool program_failed = buf[0] != '\0';
        for (const std::string& w : log.warnings())
          if (w.find("BPF program load failed") != std::string::npos) program_failed = true;
        if (!program_failed)
          throw InputError(where, "libbpf could not load the object (" + libbpf_error_text(-err) + "): " +
                                      log.summary());
        return err;
      },
      where);
}

}  // namespace tristate
