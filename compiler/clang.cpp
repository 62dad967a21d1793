#include "compiler/clang.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "compiler/error.hpp"

extern char** environ;

namespace tristate {

namespace fs = std::filesystem;

namespace {

// Removes a temporary file unless it was handed over (renamed into place).
class TempFile {
 public:
  explicit TempFile(fs::path path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  const fs::path& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// A name next to `output` that no other compile (in this or another process) picks.
fs::path temp_name_for(const fs::path& output) {
  static std::atomic<unsigned> counter{0};
  fs::path dir = output.parent_path();
  std::string name = "." + output.filename().string() + ".tristate-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter++) + ".tmp";
  return dir.empty() ? fs::path(name) : dir / name;
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(b, ec) && fs::equivalent(a, b, ec)) return true;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

int run(const std::vector<std::string>& argv, const std::string& source) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, argv[0].c_str(), nullptr, nullptr, args.data(), environ);
  if (err != 0) throw InputError(Location{source, {}, {}}, "cannot run " + argv[0] + ": " + std::strerror(err));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw InternalError(std::string("waitpid on clang failed: ") + std::strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

std::string multiarch_include_dir() {
  // The triple Debian's multiarch layout uses for the host; BPF programs include the host's
  // <asm/types.h> through <linux/types.h>.
#if defined(__x86_64__)
  return "/usr/include/x86_64-linux-gnu";
#elif defined(__aarch64__)
  return "/usr/include/aarch64-linux-gnu";
#elif defined(__i386__)
  return "/usr/include/i386-linux-gnu";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "/usr/include/powerpc64le-linux-gnu";
#elif defined(__s390x__)
  return "/usr/include/s390x-linux-gnu";
#elif defined(__riscv) && __riscv_xlen == 64
  return "/usr/include/riscv64-linux-gnu";
#else
  return "/usr/include";
#endif
}

CompileResult compile_c(const CompileOptions& opts) {
  const Location src{opts.source, {}, {}};
  std::error_code ec;
  if (opts.source.empty()) throw InputError("no C source given");
  if (!fs::exists(opts.source, ec)) throw InputError(src, "no such file");
  if (!fs::is_regular_file(opts.source, ec)) throw InputError(src, "not a regular file");
  if (opts.output.empty()) throw InputError(src, "no output file given");
  if (same_file(opts.source, opts.output))
    throw InputError(src, "the output " + opts.output + " is the source itself; refusing to overwrite it");
  if (fs::is_directory(opts.output, ec)) throw InputError(Location{opts.output, {}, {}}, "output is a directory");

  TempFile temp(temp_name_for(opts.output));
  auto command = [&](const std::string& out) {
    std::vector<std::string> argv{TRISTATE_CLANG, opts.opt, "-g", "-target", "bpf", "-mcpu=" + opts.cpu};
    for (const auto& d : opts.include_dirs) argv.push_back("-I" + d);
    for (const auto& d : opts.defines) argv.push_back("-D" + d);
    argv.push_back("-I" + multiarch_include_dir());
    argv.insert(argv.end(), {"-c", opts.source, "-o", out});
    return argv;
  };
  CompileResult result;
  result.exit_code = run(command(temp.path().string()), opts.source);
  // Reported with the real output path: that is the command that reproduces the result.
  result.argv = command(opts.output);
  if (result.exit_code == 0) {
    if (::rename(temp.path().c_str(), opts.output.c_str()) != 0)
      throw InputError(Location{opts.output, {}, {}}, std::string("cannot write: ") + std::strerror(errno));
    temp.release();
  }
  return result;
}

}  // namespace tristate
