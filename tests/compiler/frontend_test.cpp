#include "compiler/frontend.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "compiler/error.hpp"
#include "tests/support/process.hpp"

using namespace tristate;
namespace fs = std::filesystem;

namespace {

std::string data_file(const std::string& name) {
  const char* d = std::getenv("TRISTATE_TEST_DATA_DIR");
  if (!d || !*d) FAIL("TRISTATE_TEST_DATA_DIR is not set");
  return std::string(d) + "/" + name;
}

using Scratch = tristate::test::TempDir;

std::string error_of(const std::string& path, const InputOptions& opts = {}) {
  try {
    load_input(path, opts);
  } catch (const InputError& e) {
    CHECK(e.where().file == path);
    return e.what();
  }
  FAIL("no InputError for " << path);
  return "";
}

// Points TMPDIR at a fresh directory for the duration, so the test can see what load_input
// leaves behind there.
struct PrivateTmp {
  Scratch scratch;
  std::string old;
  bool had = false;
  PrivateTmp() {
    if (const char* t = std::getenv("TMPDIR")) old = t, had = true;
    ::setenv("TMPDIR", scratch.path().c_str(), 1);
  }
  ~PrivateTmp() {
    if (had)
      ::setenv("TMPDIR", old.c_str(), 1);
    else
      ::unsetenv("TMPDIR");
  }
  bool empty() const { return fs::is_empty(scratch.path()); }
};

}  // namespace

TEST_CASE("ELF objects are recognised by their magic bytes, whatever their name") {
  Scratch s;
  std::ifstream in(data_file("globals.o"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 64);
  const std::string path = s.write("object.bin", bytes);
  Module m = load_input(path, InputOptions{"sched_cls"});  // prog_type is ignored for ELF
  CHECK(m.path == path);
  REQUIRE(m.programs.size() == 1);
  CHECK(m.programs[0].name() == "filter");
  CHECK(m.programs[0].prog_type_name == "xdp");
  CHECK(m.maps.size() == 4);
}

TEST_CASE("C sources are compiled to a temporary object that is removed afterwards") {
  Scratch s;  // before PrivateTmp, so it is not inside the directory being watched
  PrivateTmp tmp;
  const std::string src = s.write("counter.c", R"(
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
volatile int hits;
SEC("tc") int count(struct __sk_buff *skb) { hits++; return 0; }
char LICENSE[] SEC("license") = "GPL";
)");
  Module m = load_input(src, InputOptions{});
  CHECK(m.path == src);
  REQUIRE(m.programs.size() == 1);
  CHECK(m.programs[0].name() == "count");
  CHECK(m.programs[0].prog_type_name == "sched_cls");
  // The object is named after the source, so libbpf's internal map is counter.bss.
  REQUIRE(m.maps.size() == 1);
  CHECK(m.maps[0].name == "counter.bss");
  CHECK(m.license == "GPL");
  CHECK(tmp.empty());
  // Nothing is written next to the source either.
  CHECK(std::distance(fs::directory_iterator(s.path()), fs::directory_iterator()) == 1);
}

TEST_CASE("a C source that does not compile is an InputError naming it") {
  Scratch s;  // before PrivateTmp, so it is not inside the directory being watched
  PrivateTmp tmp;
  const std::string src = s.write("broken.c", "this is not C\n");
  CHECK_THAT(error_of(src), Catch::Contains("exit status"));
  CHECK(tmp.empty());
}

TEST_CASE("raw bytecode needs a program type") {
  Scratch s;
  // r0 = 0; exit
  const std::string prog("\xb7\x00\x00\x00\x00\x00\x00\x00\x95\x00\x00\x00\x00\x00\x00\x00", 16);
  const std::string path = s.write("ret0.bin", prog);
  CHECK_THAT(error_of(path), Catch::Contains("--prog-type") && Catch::Contains("xdp"));
  Module m = load_input(path, InputOptions{"xdp"});
  REQUIRE(m.programs.size() == 1);
  CHECK(m.programs[0].name() == "ret0");
  CHECK(m.programs[0].image.size() == 2);
  // A 7-byte file names the file and its size.
  const std::string seven = s.write("seven.bin", std::string(7, '\0'));
  CHECK_THAT(error_of(seven, InputOptions{"xdp"}), Catch::Contains("size 7 bytes"));
}

TEST_CASE("assembly text (.s, .asm) is read with assemble_module") {
  Scratch s;
  const std::string text = "; map m hash key=4 value=4 entries=2\n    r0 = 2\n    exit\n";
  Module a = load_input(s.write("two.s", text), InputOptions{});
  REQUIRE(a.programs.size() == 1);
  CHECK(a.programs[0].name() == "two");
  CHECK(a.programs[0].prog_type_name == "xdp");  // the default
  CHECK(a.programs[0].image.size() == 2);
  REQUIRE(a.maps.size() == 1);
  CHECK(a.maps[0].type_name == "hash");
  // --prog-type gives the type a text without a `; type:` line; the line wins over it.
  CHECK(load_input(s.write("two.asm", text), InputOptions{"socket_filter"}).programs[0].prog_type_name ==
        "socket_filter");
  CHECK(load_input(s.write("tc.s", "; type: tc\n r0 = 0\n exit\n"), InputOptions{"xdp"}).programs[0].prog_type_name ==
        "sched_cls");
  const std::string bad = s.write("bad.s", "; x\n r0 = 0\n r0 = *(u64 *)(r10 - 8)\n exiit\n");
  CHECK(error_of(bad) == bad + ": bad: line 4: unknown mnemonic 'exiit' in `exiit`");
}

TEST_CASE("missing files and directories are InputErrors naming them") {
  Scratch s;
  CHECK_THAT(error_of(s.file("nope.o")), Catch::Contains("cannot open"));
  CHECK_THAT(error_of(s.path()), Catch::Contains("directory"));
  // A corrupt object is reported through load_input as well.
  const std::string bad = s.write("bad.o", std::string("\x7f" "ELF\x02\x01\x01", 7));
  CHECK_THAT(error_of(bad), Catch::Contains("too short"));
}
