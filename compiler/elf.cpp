#include "compiler/elf.hpp"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "compiler/error.hpp"

namespace tristate {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  const Location where{path, {}, {}};
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw InputError(where, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw InputError(where, std::string("cannot stat: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw InputError(where, "is a directory, not a file");
  if (!S_ISREG(st.st_mode)) throw InputError(where, "not a regular file");
  std::vector<uint8_t> bytes;
  bytes.reserve(std::size_t(st.st_size));
  // Read to the end rather than trusting st_size: the file may change while we read it.
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(where, std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
  }
  return bytes;
}

namespace {

void init_libelf() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (elf_version(EV_CURRENT) == EV_NONE) throw InternalError("libelf is older than the ELF version it was built for");
  });
}

}  // namespace

std::string elf_error_message() {
  const char* msg = elf_errmsg(-1);
  return msg ? msg : "unknown libelf error";
}

ElfHandle ElfHandle::from_memory(std::span<const uint8_t> bytes) {
  init_libelf();
  ElfHandle h;
  h.storage_.assign(bytes.begin(), bytes.end());
  if (h.storage_.empty()) throw InputError("empty file");
  // elf_memory takes a mutable pointer but only reads through it for a read-only handle.
  h.elf_ = elf_memory(reinterpret_cast<char*>(h.storage_.data()), h.storage_.size());
  if (!h.elf_) throw InputError("libelf cannot read the object: " + elf_error_message());
  if (elf_kind(h.elf_) != ELF_K_ELF) throw InputError("not an ELF object");
  return h;
}

ElfHandle::ElfHandle(ElfHandle&& other) noexcept : storage_(std::move(other.storage_)), elf_(other.elf_) {
  other.elf_ = nullptr;
}

ElfHandle& ElfHandle::operator=(ElfHandle&& other) noexcept {
  if (this != &other) {
    if (elf_) elf_end(elf_);
    storage_ = std::move(other.storage_);
    elf_ = other.elf_;
    other.elf_ = nullptr;
  }
  return *this;
}

ElfHandle::~ElfHandle() {
  if (elf_) elf_end(elf_);
}

std::string printable(std::string_view text) {
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// ---- libbpf's log ----------------------------------------------------------------------------

namespace {

thread_local LibbpfLog* current_log = nullptr;

int collect_libbpf_message(enum libbpf_print_level level, const char* format, va_list args) {
  if (!current_log) return 0;
  char buf[1024];
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(buf, sizeof buf, format, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string line(buf, std::min<std::size_t>(std::size_t(n), sizeof buf - 1));
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  if (line.starts_with("libbpf: ")) line.erase(0, 8);
  if (!line.empty()) current_log->add(level, printable(line));  // it may quote names from the file
  return n;
}

}  // namespace

void install_libbpf_print() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(collect_libbpf_message); });
}

LibbpfLog::LibbpfLog() : outer_(current_log) {
  install_libbpf_print();
  current_log = this;
}

LibbpfLog::~LibbpfLog() { current_log = outer_; }

void LibbpfLog::add(int level, std::string line) {
  if (level == LIBBPF_WARN) warnings_.push_back(line);
  last_ = std::move(line);
}

std::string LibbpfLog::summary() const {
  std::string out;
  for (const auto& l : warnings_) out += (out.empty() ? "" : "; ") + l;
  if (out.empty()) out = last_;
  return out.empty() ? "no details" : out;
}

std::string prog_type_name(uint32_t prog_type) {
  const char* s = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(prog_type));
  return s ? s : "unknown(" + std::to_string(prog_type) + ")";
}

std::string map_type_name(uint32_t map_type) {
  const char* s = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(map_type));
  return s ? s : "unknown(" + std::to_string(map_type) + ")";
}

std::optional<uint32_t> map_type_from_name(std::string_view name) {
  // libbpf's table is indexed by the enum and ends with NULLs; 0 is "unspec".
  for (uint32_t t = 1; t < 256; ++t)
    if (const char* s = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(t)); s && name == s) return t;
  return std::nullopt;
}

std::vector<std::string> map_type_names() {
  std::vector<std::string> out;
  for (uint32_t t = 1; t < 256; ++t)
    if (const char* s = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(t))) out.emplace_back(s);
  return out;
}

std::optional<uint32_t> prog_type_from_section(const std::string& section) {
  LibbpfLog log;  // libbpf warns about names it does not know; the caller decides what to say
  enum bpf_prog_type type = BPF_PROG_TYPE_UNSPEC;
  enum bpf_attach_type attach = BPF_CGROUP_INET_INGRESS;
  if (libbpf_prog_type_by_name(section.c_str(), &type, &attach) != 0) return std::nullopt;
  return uint32_t(type);
}

// ---- bpf_object ------------------------------------------------------------------------------

BpfObject BpfObject::open_memory(std::span<const uint8_t> bytes, const std::string& object_name) {
  if (bytes.empty()) throw InputError("empty file");
  LibbpfLog log;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = object_name.c_str());
  errno = 0;
  bpf_object* obj = bpf_object__open_mem(bytes.data(), bytes.size(), &opts);
  // libbpf 1.1 turns an internal error code into a pointer when it lies beyond -4095 (IS_ERR
  // misses it; a corrupt extern size does this) and returns that as the object. No user-space
  // pointer is negative, so such a value is an error whose object libbpf has already freed.
  if (reinterpret_cast<intptr_t>(obj) < 0) {
    obj = nullptr;
    errno = EINVAL;
  }
  if (!obj) {
    const int err = errno ? errno : EINVAL;
    char reason[128] = {};
    libbpf_strerror(err, reason, sizeof reason);  // also knows libbpf's own codes (4000 and up)
    throw InputError("libbpf refuses the object (" + std::string(reason) + "): " + log.summary());
  }
  return BpfObject(obj);
}

BpfObject& BpfObject::operator=(BpfObject&& other) noexcept {
  if (this != &other) {
    if (obj_) bpf_object__close(obj_);
    obj_ = other.obj_;
    other.obj_ = nullptr;
  }
  return *this;
}

BpfObject::~BpfObject() {
  if (obj_) bpf_object__close(obj_);
}

}  // namespace tristate
