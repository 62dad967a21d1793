#include "compiler/clang.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"
#include "tests/support/process.hpp"

using namespace tristate;
namespace fs = std::filesystem;

namespace {

using Scratch = tristate::test::TempDir;

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `f` with our stderr (fd 2) going to a file, and returns what was written there: clang's
// diagnostics must reach our stderr unchanged.
template <class F>
std::string capture_stderr(const Scratch& s, F f) {
  const std::string path = s.file("stderr.txt");
  fflush(stderr);
  const int saved = ::dup(2);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  ::dup2(fd, 2);
  ::close(fd);
  try {
    f();
  } catch (...) {
    ::dup2(saved, 2);
    ::close(saved);
    throw;
  }
  fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string text = read_text(path);
  fs::remove(path);
  return text;
}

const char* kGood = R"(
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int pass(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] SEC("license") = "GPL";
)";

}  // namespace

TEST_CASE("compile_c builds an object libbpf-style tools can read") {
  Scratch s;
  const std::string src = s.write("good.c", kGood);
  CompileOptions o;
  o.source = src;
  o.output = s.file("good.o");
  const CompileResult r = compile_c(o);
  CHECK(r.exit_code == 0);
  REQUIRE(fs::exists(o.output));
  Module m = read_elf(o.output);
  REQUIRE(m.programs.size() == 1);
  CHECK(m.programs[0].name() == "pass");
  CHECK(m.programs[0].prog_type_name == "xdp");
  CHECK(m.has_btf);  // -g
  // The command as documented.
  const std::vector<std::string> expected{TRISTATE_CLANG, "-O2", "-g", "-target", "bpf", "-mcpu=v3",
                                          "-I" + multiarch_include_dir(), "-c", src, "-o", o.output};
  CHECK(r.argv == expected);
  // No temporary file is left behind.
  CHECK(s.files() == std::vector<std::string>{"good.c", "good.o"});
}

TEST_CASE("compile_c passes the CPU, optimisation, include directories and defines") {
  Scratch s;
  fs::create_directory(fs::path(s.file("inc")));
  s.write("inc/value.h", "#define FROM_HEADER 3\n");
  const std::string src = s.write("defs.c", R"(
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "value.h"
SEC("xdp") int defs(struct xdp_md *ctx) { return FROM_HEADER + FROM_FLAG; }
)");
  CompileOptions o;
  o.source = src;
  o.output = s.file("defs.o");
  o.cpu = "v4";
  o.opt = "-O1";
  o.include_dirs = {s.file("inc")};
  o.defines = {"FROM_FLAG=4"};
  const CompileResult r = compile_c(o);
  REQUIRE(r.exit_code == 0);
  CHECK(std::find(r.argv.begin(), r.argv.end(), "-mcpu=v4") != r.argv.end());
  CHECK(std::find(r.argv.begin(), r.argv.end(), "-O1") != r.argv.end());
  CHECK(std::find(r.argv.begin(), r.argv.end(), "-DFROM_FLAG=4") != r.argv.end());
  CHECK(std::find(r.argv.begin(), r.argv.end(), "-I" + s.file("inc")) != r.argv.end());
  Module m = read_elf(o.output);
  REQUIRE(m.programs.size() == 1);
  // return 7: r0 = 7; exit
  REQUIRE(m.programs[0].entry.insns.size() == 2);
  CHECK(m.programs[0].entry.insns[0].imm == 7);
}

TEST_CASE("a failed compile reports clang's error and leaves an existing output alone") {
  Scratch s;
  const std::string src = s.write("bad.c", "int broken( { return 0; }\n");
  const std::string out = s.write("bad.o", "previous object");
  CompileOptions o;
  o.source = src;
  o.output = out;
  CompileResult r;
  const std::string err = capture_stderr(s, [&] { r = compile_c(o); });
  CHECK(r.exit_code != 0);
  CHECK_THAT(err, Catch::Contains("bad.c") && Catch::Contains("error"));
  CHECK(read_text(out) == "previous object");
  CHECK(s.files() == std::vector<std::string>{"bad.c", "bad.o"});
}

TEST_CASE("compile_c refuses a missing source and never overwrites the source") {
  Scratch s;
  CompileOptions o;
  o.source = s.file("missing.c");
  o.output = s.file("missing.o");
  try {
    compile_c(o);
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.where().file == o.source);
    CHECK_THAT(e.what(), Catch::Contains("no such file"));
  }
  const std::string src = s.write("self.c", kGood);
  for (const std::string& out : {src, (fs::path(s.file(".")) / "self.c").string()}) {
    o.source = src;
    o.output = out;
    try {
      compile_c(o);
      FAIL("no error for output " << out);
    } catch (const InputError& e) {
      CHECK(e.where().file == src);
      CHECK_THAT(e.what(), Catch::Contains("source itself"));
    }
    CHECK(read_text(src) == kGood);
  }
  // Through a symbolic link as well.
  fs::create_symlink(src, fs::path(s.file("link.o")));
  o.output = s.file("link.o");
  CHECK_THROWS_AS(compile_c(o), InputError);
  CHECK(read_text(src) == kGood);
}
