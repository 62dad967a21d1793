#include "compiler/frontend.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "compiler/asm_module.hpp"
#include "compiler/bytecode.hpp"
#include "compiler/clang.hpp"
#include "compiler/elf.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"

namespace tristate {

namespace fs = std::filesystem;

namespace {

// A private directory for the object compiled from a C source, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "tristate-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw InternalError(std::string("cannot create a temporary directory: ") + std::strerror(errno));
    path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Module load_c_source(const std::string& path, const InputOptions& opts) {
  TempDir dir;
  CompileOptions c;
  c.source = path;
  // The object keeps the source's stem so libbpf names internal maps as it would for `stem.o`.
  c.output = (dir.path() / (fs::path(path).stem().string() + ".o")).string();
  c.cpu = opts.cpu;
  c.opt = opts.opt;
  const CompileResult r = compile_c(c);
  if (r.exit_code != 0)
    throw InputError(Location{path, {}, {}}, "clang-19 failed with exit status " + std::to_string(r.exit_code) +
                                                 " (its messages are above)");
  try {
    Module m = read_elf(c.output);
    m.path = path;
    return m;
  } catch (const InputError& e) {
    // The temporary object means nothing to the user; the source is what they gave.
    throw InputError(Location{path, e.where().prog, e.where().insn}, e.reason());
  }
}

}  // namespace

bool is_elf_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw InputError(Location{path, {}, {}}, std::string("cannot open: ") + std::strerror(errno));
  char magic[4] = {};
  ssize_t n;
  do n = ::read(fd.get(), magic, sizeof magic);
  while (n < 0 && errno == EINTR);
  return n == 4 && std::memcmp(magic, "\x7f" "ELF", 4) == 0;
}

Module load_input(const std::string& path, const InputOptions& opts) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(Location{path, {}, {}}, "is a directory, not a file");
  if (is_elf_file(path)) return read_elf(path);
  const auto ext = fs::path(path).extension();
  if (ext == ".c") return load_c_source(path, opts);
  if (ext == ".s" || ext == ".asm") {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    AsmModuleOptions asm_opts;
    if (!opts.prog_type.empty()) asm_opts.default_prog_type = opts.prog_type;
    return assemble_module(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path, asm_opts);
  }
  if (opts.prog_type.empty()) {
    std::string names;
    for (const auto& n : prog_type_names()) names += (names.empty() ? "" : ", ") + n;
    throw InputError(Location{path, {}, {}},
                     "not an ELF object, a .c source or a .s/.asm assembly text, so it is read as raw bytecode, which needs --prog-type "
                     "(one of: " + names + ")");
  }
  return read_bytecode(path, opts.prog_type);
}

}  // namespace tristate
