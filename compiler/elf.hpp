// RAII wrappers over the C libraries the frontend reads objects with: file descriptors, libelf's
// Elf handles and libbpf's bpf_object. This is the only place that calls elf_memory/elf_end and
// bpf_object__open_mem/bpf_object__close; NULL and errno become InputError here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct bpf_object;
typedef struct Elf Elf;

namespace tristate {

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// The whole content of a regular file. InputError (naming the file) when it cannot be opened or
// read, or is not a regular file.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// A libelf handle over an in-memory copy of an object file. The copy is owned here because
// libelf keeps pointing into the buffer for the handle's whole life.
class ElfHandle {
 public:
  // InputError (with libelf's reason) if libelf refuses the bytes.
  static ElfHandle from_memory(std::span<const uint8_t> bytes);

  ElfHandle(ElfHandle&& other) noexcept;
  ElfHandle& operator=(ElfHandle&& other) noexcept;
  ElfHandle(const ElfHandle&) = delete;
  ElfHandle& operator=(const ElfHandle&) = delete;
  ~ElfHandle();

  Elf* get() const { return elf_; }
  std::span<const uint8_t> bytes() const { return {storage_.data(), storage_.size()}; }

 private:
  ElfHandle() = default;
  std::vector<uint8_t> storage_;
  Elf* elf_ = nullptr;
};

// libelf's message for its last error.
std::string elf_error_message();

// While one of these is alive, libbpf's log messages on this thread are collected in it instead
// of going to stderr. Outside any capture, libbpf's messages are dropped: libbpf must never print
// on the user's terminal. Captures nest; the innermost one receives the messages.
class LibbpfLog {
 public:
  LibbpfLog();
  ~LibbpfLog();
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;

  // libbpf's warnings, one per line, without the "libbpf: " prefix.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // For an error reason: the warnings joined with "; ", or, when libbpf gave none (some
  // refusals are only explained at debug level), its last message of any level.
  std::string summary() const;

  void add(int level, std::string line);

 private:
  std::vector<std::string> warnings_;
  std::string last_;
  LibbpfLog* outer_ = nullptr;
};

// Installs the collecting print callback (idempotent). Every entry point that calls libbpf does
// this first; it is public so other folders that use libbpf can silence it the same way.
void install_libbpf_print();

// Text from an input file made safe to print: bytes outside printable ASCII become \xNN. Names
// in real objects are C identifiers and section names, so only corrupt input is affected.
std::string printable(std::string_view text);

// libbpf's names for the kernel's enum values ("xdp", "sched_cls", "hash", ...); for a value
// libbpf 1.1 does not know, "unknown(N)".
std::string prog_type_name(uint32_t prog_type);
std::string map_type_name(uint32_t map_type);
// The inverse of map_type_name for libbpf's names ("array", "hash", "lru_hash", ...), and every
// such name in enum order (without "unspec").
std::optional<uint32_t> map_type_from_name(std::string_view name);
std::vector<std::string> map_type_names();

// The program type libbpf assigns to a program in ELF section `section` ("xdp", "tc",
// "kprobe/foo", ...), or nothing when libbpf does not recognise the name.
std::optional<uint32_t> prog_type_from_section(const std::string& section);

// A libbpf object opened (not loaded) from memory, closed on destruction.
class BpfObject {
 public:
  // `object_name` is what libbpf prefixes internal map names with (as bpf_object__open_file would
  // derive it from the path). InputError with libbpf's messages when libbpf refuses the object.
  static BpfObject open_memory(std::span<const uint8_t> bytes, const std::string& object_name);

  BpfObject(BpfObject&& other) noexcept : obj_(other.obj_) { other.obj_ = nullptr; }
  BpfObject& operator=(BpfObject&& other) noexcept;
  BpfObject(const BpfObject&) = delete;
  BpfObject& operator=(const BpfObject&) = delete;
  ~BpfObject();

  bpf_object* get() const { return obj_; }

 private:
  explicit BpfObject(bpf_object* obj) : obj_(obj) {}
  bpf_object* obj_ = nullptr;
};

}  // namespace tristate
