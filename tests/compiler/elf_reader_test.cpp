#include "compiler/elf_reader.hpp"

#include <elf.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "compiler/isa.hpp"

using namespace tristate;
namespace fs = std::filesystem;

namespace {

std::string data_dir() {
  const char* d = std::getenv("TRISTATE_TEST_DATA_DIR");
  if (!d || !*d) FAIL("TRISTATE_TEST_DATA_DIR is not set (ctest sets it; it is <build>/tests/data)");
  return d;
}

std::string data_file(const std::string& name) {
  std::string p = data_dir() + "/" + name;
  if (!fs::exists(p)) FAIL(p + " is missing; build the test_objects target");
  return p;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The corpus objects, if the corpus has been built.
std::vector<std::string> corpus_objects() {
  std::vector<std::string> out;
  const char* d = std::getenv("TRISTATE_PROGS_DIR");
  std::error_code ec;
  if (d && *d && fs::is_directory(d, ec))
    for (const auto& e : fs::recursive_directory_iterator(d, ec))
      if (e.path().extension() == ".o") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> test_objects() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(data_dir()))
    if (e.path().extension() == ".o") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

const Program& program(const Module& m, const std::string& name) {
  const Program* p = m.find_program(name);
  if (!p) FAIL("no program " + name + " in " + m.path);
  return *p;
}

const MapDef& map_named(const Module& m, const std::string& name) {
  for (const auto& d : m.maps)
    if (d.name == name) return d;
  FAIL("no map " + name + " in " + m.path);
  throw;
}

const FunctionRange& range(const Program& p, const std::string& name) {
  for (const auto& r : p.functions)
    if (r.name == name) return r;
  FAIL("function " + name + " is not in the image of " + p.name());
  throw;
}

// Sizes of FUNC symbols in executable sections according to llvm-objdump: name -> instructions.
std::map<std::string, std::size_t> objdump_functions(const std::string& path) {
  const char* tool = std::getenv("TRISTATE_LLVM_OBJDUMP");
  std::string cmd = std::string(tool && *tool ? tool : "llvm-objdump-19") + " -t '" + path + "'";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  REQUIRE(::pclose(pipe) == 0);
  // "0000000000000040 l     F .text	0000000000000020 leaf"
  std::map<std::string, std::size_t> funcs;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::istringstream left(line.substr(0, tab));
    bool func = false;
    for (std::string flag; left >> flag;) func |= flag == "F";
    if (!func) continue;
    std::istringstream rest(line.substr(tab + 1));
    std::string size_hex, name;
    rest >> size_hex >> name;
    funcs[name] = std::stoull(size_hex, nullptr, 16) / 8;
  }
  return funcs;
}

// Checks what must hold for any module read from an object: each image starts with its entry,
// ranges tile the image, each range holds its function's instructions except at linked slots,
// and every bpf-to-bpf call or function pointer in the image lands on a function's first slot.
void check_images(const Module& m) {
  for (const Program& p : m.programs) {
    INFO(m.path << ": " << p.name());
    REQUIRE(!p.functions.empty());
    CHECK(p.functions[0].name == p.name());
    CHECK(p.functions[0].start == 0);
    CHECK(p.functions[0].size == p.entry.insns.size());
    std::size_t next = 0;
    std::set<std::size_t> starts;
    for (const auto& r : p.functions) {
      CHECK(r.start == next);
      next += r.size;
      starts.insert(r.start);
    }
    CHECK(next == p.image.size());
    for (const auto& [pc, insn] : decode_program(p.image)) {
      auto target = branch_target(insn, pc);
      const auto* call = std::get_if<Call>(&insn);
      const auto* ld = std::get_if<LdImm64>(&insn);
      const bool linked = (call && call->kind == CallKind::Local && call->imm != -1) || (ld && ld->pseudo == bpf::PSEUDO_FUNC);
      if (!linked) continue;
      // A call inside the caller's own body (no symbol marks it) need not start a range.
      auto owner = std::find_if(p.functions.begin(), p.functions.end(),
                                [&](const FunctionRange& r) { return pc >= r.start && pc < r.start + r.size; });
      REQUIRE(owner != p.functions.end());
      if (*target >= std::int64_t(owner->start) && *target < std::int64_t(owner->start + owner->size)) continue;
      CHECK(starts.count(std::size_t(*target)) == 1);
    }
  }
}

}  // namespace

TEST_CASE("calls.o: programs, sections, types and subprograms") {
  Module m = read_elf(data_file("calls.o"));
  CHECK(m.path == data_file("calls.o"));
  REQUIRE(m.programs.size() == 3);
  CHECK(m.programs[0].name() == "xdp_calls");
  CHECK(m.programs[0].section() == "xdp");
  CHECK(m.programs[0].prog_type == 6);
  CHECK(m.programs[0].prog_type_name == "xdp");
  CHECK(m.programs[0].entry.insns.size() == 19);
  CHECK(m.programs[1].name() == "tc_calls");
  CHECK(m.programs[1].section() == "tc");
  CHECK(m.programs[1].prog_type_name == "sched_cls");
  CHECK(m.programs[2].name() == "sock_plain");
  CHECK(m.programs[2].prog_type_name == "socket_filter");
  CHECK(m.programs[2].entry.insns.size() == 2);

  std::vector<std::string> subs;
  for (const auto& f : m.subprograms) {
    subs.push_back(f.name);
    CHECK(f.section == ".text");
  }
  CHECK(subs == std::vector<std::string>{"middle", "leaf", "add_index", "keep_unused", "unused_helper"});
  REQUIRE(m.find_subprogram("leaf"));
  CHECK(m.find_subprogram("leaf")->section_offset == 8);
  CHECK(m.find_subprogram("leaf")->insns.size() == 4);
  CHECK_FALSE(m.find_subprogram("leaf")->global);
  CHECK(m.find_subprogram("middle")->global);
  CHECK(m.license == "GPL");
  CHECK(m.has_btf);
  CHECK(m.has_btf_ext);
  CHECK(m.maps.empty());
}

TEST_CASE("calls.o: images are linked as libbpf links them") {
  Module m = read_elf(data_file("calls.o"));
  check_images(m);
  const Program& xdp = program(m, "xdp_calls");
  // Depth-first in order of first use: the bpf_loop callback (insn 6) before middle (insn 11),
  // and leaf, which the callback calls, right after the callback. This is the order the kernel
  // shows for the loaded program (bpftool prog dump xlated).
  std::vector<std::string> order;
  for (const auto& r : xdp.functions) order.push_back(r.name);
  CHECK(order == std::vector<std::string>{"xdp_calls", "add_index", "leaf", "middle"});
  const auto decoded = decode_program(xdp.image);
  auto at = [&](std::size_t pc) -> const Decoded& {
    for (const auto& d : decoded)
      if (d.pc == pc) return d.insn;
    FAIL("no instruction at " << pc);
    throw;
  };
  // The function pointer passed to bpf_loop becomes PSEUDO_FUNC pointing at add_index.
  const auto* ld = std::get_if<LdImm64>(&at(6));
  REQUIRE(ld);
  CHECK(ld->pseudo == bpf::PSEUDO_FUNC);
  CHECK(*branch_target(at(6), 6) == std::int64_t(range(xdp, "add_index").start));
  // The call to middle lands on middle's first instruction.
  const auto* call = std::get_if<Call>(&at(11));
  REQUIRE(call);
  CHECK(call->kind == CallKind::Local);
  CHECK(*branch_target(at(11), 11) == std::int64_t(range(xdp, "middle").start));
  // Calls between .text functions (no relocation in the file) are re-aimed too: add_index -> leaf.
  const std::size_t add_index = range(xdp, "add_index").start;
  CHECK(*branch_target(at(add_index + 1), add_index + 1) == std::int64_t(range(xdp, "leaf").start));
  // middle calls leaf twice; both land on leaf.
  const std::size_t middle = range(xdp, "middle").start;
  CHECK(*branch_target(at(middle + 1), middle + 1) == std::int64_t(range(xdp, "leaf").start));
  CHECK(*branch_target(at(middle + 5), middle + 5) == std::int64_t(range(xdp, "leaf").start));
  // Apart from linked slots, each range is its function's instructions as in the file.
  for (const auto& r : xdp.functions) {
    const Function& f = r.name == "xdp_calls" ? xdp.entry : *m.find_subprogram(r.name);
    REQUIRE(f.insns.size() == r.size);
    for (std::size_t i = 0; i < r.size; ++i) {
      const Insn& a = xdp.image[r.start + i];
      if (a.opcode == (bpf::JMP | bpf::CALL) && a.src == bpf::PSEUDO_CALL) continue;
      if (a.opcode == (bpf::LD | bpf::IMM | bpf::DW) && a.src == bpf::PSEUDO_FUNC) continue;
      CHECK(a == f.insns[i]);
    }
  }
  // tc_calls reaches only leaf; sock_plain calls nothing.
  const Program& tc = program(m, "tc_calls");
  REQUIRE(tc.functions.size() == 2);
  CHECK(tc.functions[1].name == "leaf");
  CHECK(tc.image.size() == 12);
  CHECK(*branch_target(decode_program(tc.image)[1].insn, 1) == 8);
  CHECK(program(m, "sock_plain").functions.size() == 1);
}

TEST_CASE("calls.o: call and function-pointer relocations") {
  Module m = read_elf(data_file("calls.o"));
  const Program& xdp = program(m, "xdp_calls");
  REQUIRE(xdp.entry.relocs.size() == 2);
  const Relocation& fp = xdp.entry.relocs[0];
  CHECK(fp.insn == 6);
  CHECK(fp.kind == RelocKind::FuncPtr);
  CHECK(fp.section == ".text");
  CHECK(fp.offset == 12 * 8);
  CHECK(fp.target == "add_index");
  const Relocation& call = xdp.entry.relocs[1];
  CHECK(call.insn == 11);
  CHECK(call.kind == RelocKind::Call);
  CHECK(call.symbol == "middle");
  CHECK(call.target == "middle");
  CHECK(call.offset == 0);
  // A call to a static function goes through the section symbol; the target is still resolved.
  const Program& tc = program(m, "tc_calls");
  REQUIRE(tc.entry.relocs.size() == 1);
  CHECK(tc.entry.relocs[0].kind == RelocKind::Call);
  CHECK(tc.entry.relocs[0].symbol == ".text");
  CHECK(tc.entry.relocs[0].target == "leaf");
  CHECK(tc.entry.relocs[0].offset == 8 * 8);
  // The file form of the instructions is kept in the function.
  CHECK(tc.entry.insns[1].imm == 7);
  CHECK(xdp.entry.insns[6].src == 0);
}

TEST_CASE("globals.o: global data relocations and internal maps") {
  Module m = read_elf(data_file("globals.o"));
  const Program& p = program(m, "filter");
  CHECK(p.prog_type_name == "xdp");
  std::map<std::string, const Relocation*> by_symbol;
  for (const auto& r : p.entry.relocs) by_symbol[r.symbol] = &r;
  REQUIRE(by_symbol.count("packets"));
  CHECK(by_symbol["packets"]->kind == RelocKind::GlobalData);
  CHECK(by_symbol["packets"]->section == ".data");
  REQUIRE(by_symbol.count("drop_port"));
  CHECK(by_symbol["drop_port"]->kind == RelocKind::GlobalData);
  CHECK(by_symbol["drop_port"]->section == ".rodata");
  REQUIRE(by_symbol.count("dropped"));
  CHECK(by_symbol["dropped"]->kind == RelocKind::GlobalData);
  CHECK(by_symbol["dropped"]->section == ".bss");
  REQUIRE(by_symbol.count("stats"));
  CHECK(by_symbol["stats"]->kind == RelocKind::Map);
  CHECK(by_symbol["stats"]->section == ".maps");
  CHECK(by_symbol["stats"]->target == "stats");
  for (const auto& r : p.entry.relocs) CHECK(p.entry.insns[r.insn].opcode == (bpf::LD | bpf::IMM | bpf::DW));

  REQUIRE(m.maps.size() == 4);
  const MapDef& stats = map_named(m, "stats");
  CHECK(stats.type_name == "array");
  CHECK(stats.type == 2);
  CHECK(stats.key_size == 4);
  CHECK(stats.value_size == 8);
  CHECK(stats.max_entries == 8);
  CHECK_FALSE(stats.internal);
  CHECK_FALSE(stats.legacy);
  const MapDef& data = map_named(m, "globals.data");
  CHECK(data.internal);
  CHECK(data.type_name == "array");
  CHECK(data.value_size == 8);
  CHECK(data.max_entries == 1);
  const MapDef& rodata = map_named(m, "globals.rodata");
  CHECK(rodata.internal);
  CHECK(rodata.value_size == 4);
  CHECK((rodata.flags & 0x80) != 0);  // BPF_F_RDONLY_PROG
  CHECK(map_named(m, "globals.bss").internal);
  CHECK(m.license == "Dual BSD/GPL");
}

TEST_CASE("maps.o: BTF-defined maps and program types") {
  Module m = read_elf(data_file("maps.o"));
  struct Expected { const char* name; const char* type; uint32_t key, value, max, flags; };
  const Expected expected[] = {{"hash_map", "hash", 4, 8, 1024, 1},
                               {"percpu", "percpu_array", 4, 16, 16, 0},
                               {"lru", "lru_hash", 12, 24, 4096, 0},
                               {"events", "ringbuf", 0, 0, 4096, 0}};
  REQUIRE(m.maps.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    INFO(expected[i].name);
    CHECK(m.maps[i].name == expected[i].name);
    CHECK(m.maps[i].type_name == expected[i].type);
    CHECK(m.maps[i].key_size == expected[i].key);
    CHECK(m.maps[i].value_size == expected[i].value);
    CHECK(m.maps[i].max_entries == expected[i].max);
    CHECK(m.maps[i].flags == expected[i].flags);
    CHECK_FALSE(m.maps[i].legacy);
    CHECK_FALSE(m.maps[i].internal);
  }
  const std::pair<const char*, const char*> types[] = {
      {"xdp_prog", "xdp"},       {"tc_prog", "sched_cls"},  {"socket_prog", "socket_filter"},
      {"cgroup_prog", "cgroup_skb"}, {"tp_prog", "tracepoint"}, {"kprobe_prog", "kprobe"}};
  REQUIRE(m.programs.size() == 6);
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(m.programs[i].name() == types[i].first);
    CHECK(m.programs[i].prog_type_name == types[i].second);
  }
  CHECK(program(m, "cgroup_prog").section() == "cgroup_skb/ingress");
  CHECK(program(m, "tp_prog").section() == "tracepoint/syscalls/sys_enter_openat");
  const Program& tp = program(m, "tp_prog");
  REQUIRE(tp.entry.relocs.size() == 1);
  CHECK(tp.entry.relocs[0].kind == RelocKind::Map);
  CHECK(tp.entry.relocs[0].target == "events");
  CHECK(tp.entry.relocs[0].offset == 104);  // events' offset in .maps
}

TEST_CASE("legacy_maps.o: maps from the legacy maps section") {
  Module m = read_elf(data_file("legacy_maps.o"));
  REQUIRE(m.maps.size() == 2);
  const MapDef& count = map_named(m, "packet_count");
  CHECK(count.legacy);
  CHECK_FALSE(count.internal);
  CHECK(count.type_name == "array");
  CHECK(count.key_size == 4);
  CHECK(count.value_size == 8);
  CHECK(count.max_entries == 4);
  CHECK(count.flags == 0);
  // The second record is iproute2's 36-byte struct: its size comes from the symbol.
  const MapDef& flows = map_named(m, "flow_table");
  CHECK(flows.legacy);
  CHECK(flows.type_name == "hash");
  CHECK(flows.key_size == 8);
  CHECK(flows.value_size == 16);
  CHECK(flows.max_entries == 1024);
  CHECK(flows.flags == 1);  // BPF_F_NO_PREALLOC
  REQUIRE(m.programs.size() == 1);
  const Program& p = m.programs[0];
  CHECK(p.name() == "count_packets");
  CHECK(p.prog_type_name == "xdp");
  std::vector<std::string> targets;
  for (const auto& r : p.entry.relocs) {
    CHECK(r.kind == RelocKind::Map);
    CHECK(r.section == "maps");
    targets.push_back(r.target);
  }
  CHECK(targets == std::vector<std::string>{"packet_count", "flow_table"});
  CHECK(p.entry.relocs[1].offset == 20);
}

TEST_CASE("externs.o: kconfig and kfunc externs") {
  Module m = read_elf(data_file("externs.o"));
  const Program& p = program(m, "ext_prog");
  CHECK(p.prog_type_name == "sched_cls");
  std::map<std::string, RelocKind> kinds;
  for (const auto& r : p.entry.relocs) {
    kinds[r.symbol] = r.kind;
    CHECK(r.section.empty());
  }
  CHECK(kinds == std::map<std::string, RelocKind>{{"bpf_rcu_read_lock", RelocKind::Extern},
                                                 {"bpf_rcu_read_unlock", RelocKind::Extern},
                                                 {"LINUX_KERNEL_VERSION", RelocKind::Extern},
                                                 {"CONFIG_HZ", RelocKind::Extern}});
  REQUIRE(m.maps.size() == 1);
  CHECK(m.maps[0].name == "externs.kconfig");
  CHECK(m.maps[0].internal);
  // Kfunc calls stay as in the file (libbpf resolves them at load time).
  CHECK(p.image == p.entry.insns);
}

TEST_CASE("instruction counts agree with llvm-objdump's symbol sizes") {
  std::vector<std::string> files = test_objects();
  const auto corpus = corpus_objects();
  if (corpus.empty())
    WARN("no corpus objects in TRISTATE_PROGS_DIR; checking only the test objects");
  files.insert(files.end(), corpus.begin(), corpus.end());
  REQUIRE(files.size() >= 5);
  for (const auto& f : files) {
    INFO(f);
    Module m = read_elf(f);
    std::map<std::string, std::size_t> ours;
    for (const auto& p : m.programs) ours[p.name()] = p.entry.insns.size();
    for (const auto& s : m.subprograms) ours[s.name] = s.insns.size();
    CHECK(ours == objdump_functions(f));
    check_images(m);
  }
}

TEST_CASE("the legacy path derives internal maps and program types as libbpf does") {
  std::vector<std::string> files = test_objects();
  const auto corpus = corpus_objects();
  files.insert(files.end(), corpus.begin(), corpus.end());
  for (const auto& f : files) {
    INFO(f);
    const auto bytes = slurp(f);
    Module with = read_elf_memory(bytes, f);
    if (std::any_of(with.maps.begin(), with.maps.end(), [](const MapDef& d) { return d.legacy; })) continue;
    Module without = detail::read_elf_memory_without_libbpf(bytes, f);
    auto internal = [](const Module& m) {
      std::vector<std::tuple<std::string, uint32_t, uint32_t, uint32_t, uint32_t>> out;
      for (const auto& d : m.maps)
        if (d.internal && !d.name.ends_with(".kconfig"))  // kconfig comes from externs, not a section
          out.emplace_back(d.name, d.key_size, d.value_size, d.max_entries, d.flags);
      return out;
    };
    CHECK(internal(with) == internal(without));
    REQUIRE(with.programs.size() == without.programs.size());
    for (std::size_t i = 0; i < with.programs.size(); ++i) {
      CHECK(with.programs[i].prog_type == without.programs[i].prog_type);
      CHECK(with.programs[i].image == without.programs[i].image);
    }
  }
}

TEST_CASE("read_elf on a missing file names it") {
  try {
    read_elf("/nonexistent/dir/x.o");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.where().file == "/nonexistent/dir/x.o");
    CHECK_THAT(e.what(), Catch::Contains("cannot open"));
  }
}

// ---- corrupted input ---------------------------------------------------------------------------

namespace {

// The error for reading `bytes`, or "" if they read fine. Any exception other than InputError
// fails the test; so does an InputError that does not name the file.
std::string error_of(const std::vector<uint8_t>& bytes, const std::string& name = "bad.o") {
  try {
    read_elf_memory(bytes, name);
    return "";
  } catch (const InputError& e) {
    CHECK(e.where().file == name);
    CHECK(std::string(e.what()).starts_with(name + ": "));
    return e.what();
  }
}

struct ElfEdit {
  std::vector<uint8_t> b;

  Elf64_Ehdr ehdr() const {
    Elf64_Ehdr h;
    std::memcpy(&h, b.data(), sizeof h);
    return h;
  }
  std::size_t shdr_pos(std::size_t i) const { return ehdr().e_shoff + i * sizeof(Elf64_Shdr); }
  Elf64_Shdr shdr(std::size_t i) const {
    Elf64_Shdr s;
    std::memcpy(&s, b.data() + shdr_pos(i), sizeof s);
    return s;
  }
  void set_shdr(std::size_t i, const Elf64_Shdr& s) { std::memcpy(b.data() + shdr_pos(i), &s, sizeof s); }
  std::string name(std::size_t i) const {
    const Elf64_Shdr str = shdr(ehdr().e_shstrndx);
    return reinterpret_cast<const char*>(b.data() + str.sh_offset + shdr(i).sh_name);
  }
  std::size_t find(const std::string& n) const {
    for (std::size_t i = 1; i < ehdr().e_shnum; ++i)
      if (name(i) == n) return i;
    FAIL("no section " + n);
    return 0;
  }
  template <class T>
  T get(std::size_t off) const {
    T v;
    std::memcpy(&v, b.data() + off, sizeof v);
    return v;
  }
  template <class T>
  void put(std::size_t off, const T& v) {
    std::memcpy(b.data() + off, &v, sizeof v);
  }
  // File offset of symbol `name` in .symtab.
  std::size_t symbol_pos(const std::string& sym) const {
    const std::size_t st = find(".symtab");
    const Elf64_Shdr s = shdr(st);
    const Elf64_Shdr str = shdr(s.sh_link);
    for (std::size_t off = s.sh_offset; off < s.sh_offset + s.sh_size; off += sizeof(Elf64_Sym)) {
      auto e = get<Elf64_Sym>(off);
      if (reinterpret_cast<const char*>(b.data() + str.sh_offset + e.st_name) == sym) return off;
    }
    FAIL("no symbol " + sym);
    return 0;
  }
  std::size_t insn_pos(const std::string& section, std::size_t insn) const { return shdr(find(section)).sh_offset + insn * 8; }
};

ElfEdit load(const std::string& name) { return ElfEdit{slurp(data_file(name))}; }

// One BTF type record in the file: its id, kind, name and where its 12-byte header starts.
struct BtfRecord {
  std::size_t id = 0, pos = 0;
  uint32_t kind = 0;
  std::string name;
};

// Walks the .BTF type records (record sizes from Documentation/bpf/btf.rst).
std::vector<BtfRecord> btf_records(const ElfEdit& e) {
  const auto btf = e.shdr(e.find(".BTF"));
  const uint32_t hdr_len = e.get<uint32_t>(btf.sh_offset + 4), type_off = e.get<uint32_t>(btf.sh_offset + 8),
                 type_len = e.get<uint32_t>(btf.sh_offset + 12), str_off = e.get<uint32_t>(btf.sh_offset + 16);
  const std::size_t types = btf.sh_offset + hdr_len + type_off, strings = btf.sh_offset + hdr_len + str_off;
  std::vector<BtfRecord> out;
  for (std::size_t pos = 0, id = 1; pos < type_len; ++id) {
    const uint32_t info = e.get<uint32_t>(types + pos + 4);
    const uint32_t kind = (info >> 24) & 0x1f, vlen = info & 0xffff;
    out.push_back({id, types + pos, kind,
                   reinterpret_cast<const char*>(e.b.data() + strings + e.get<uint32_t>(types + pos))});
    std::size_t extra = 0;
    if (kind == 1 || kind == 14 || kind == 17) extra = 4;
    if (kind == 3) extra = 12;
    if (kind == 4 || kind == 5 || kind == 15 || kind == 19) extra = 12 * vlen;
    if (kind == 6 || kind == 13) extra = 8 * vlen;
    pos += 12 + extra;
  }
  return out;
}

}  // namespace

TEST_CASE("truncated objects are InputErrors at every length") {
  for (const char* name : {"calls.o", "globals.o", "legacy_maps.o"}) {
    const auto whole = slurp(data_file(name));
    REQUIRE(error_of(whole).empty());
    std::size_t checked = 0;
    for (std::size_t len = 0; len < whole.size(); len += len < 300 ? 1 : 37) {
      INFO(name << " truncated to " << len << " bytes");
      std::vector<uint8_t> cut(whole.begin(), whole.begin() + std::ptrdiff_t(len));
      const std::string err = error_of(cut);
      CHECK_FALSE(err.empty());  // the section headers are at the end, so every cut loses some
      ++checked;
    }
    CHECK(checked > 300);
  }
  CHECK_THAT(error_of({}), Catch::Contains("empty file"));
  CHECK_THAT(error_of({0x7f, 'E', 'L', 'F', 2, 1, 1}), Catch::Contains("too short for an ELF header"));
}

TEST_CASE("bad ELF headers give clear reasons") {
  auto with = [](auto edit) {
    ElfEdit e = load("globals.o");
    edit(e);
    return error_of(e.b);
  };
  CHECK_THAT(with([](ElfEdit& e) { e.b[0] = 0; }), Catch::Contains("not an ELF file"));
  CHECK_THAT(with([](ElfEdit& e) { e.b[EI_CLASS] = ELFCLASS32; }), Catch::Contains("64-bit"));
  CHECK_THAT(with([](ElfEdit& e) { e.b[EI_DATA] = ELFDATA2MSB; }), Catch::Contains("big-endian"));
  CHECK_THAT(with([](ElfEdit& e) { e.put<uint16_t>(offsetof(Elf64_Ehdr, e_machine), EM_X86_64); }),
             Catch::Contains("EM_BPF = 247"));
  CHECK_THAT(with([](ElfEdit& e) { e.put<uint16_t>(offsetof(Elf64_Ehdr, e_type), ET_EXEC); }),
             Catch::Contains("not a relocatable object"));
  CHECK_THAT(with([](ElfEdit& e) { e.put<uint64_t>(offsetof(Elf64_Ehdr, e_shoff), e.b.size() - 10); }),
             Catch::Contains("section header"));
  CHECK_THAT(with([](ElfEdit& e) { e.put<uint64_t>(offsetof(Elf64_Ehdr, e_shoff), ~uint64_t(0) - 8); }),
             Catch::Contains("section header"));
  CHECK_THAT(with([](ElfEdit& e) { e.put<uint16_t>(offsetof(Elf64_Ehdr, e_shnum), 0xfff0); }),
             Catch::Contains("does not fit"));
  CHECK_THAT(with([](ElfEdit& e) { e.put<uint16_t>(offsetof(Elf64_Ehdr, e_shentsize), 40); }),
             Catch::Contains("entry size"));
  CHECK_THAT(with([](ElfEdit& e) { e.put<uint16_t>(offsetof(Elf64_Ehdr, e_shstrndx), 0x7777); }),
             Catch::Contains("name table"));
}

TEST_CASE("bad section headers give clear reasons") {
  auto with = [](const char* file, auto edit) {
    ElfEdit e = load(file);
    edit(e);
    return error_of(e.b);
  };
  // A section that claims bytes past the end of the file.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto s = e.shdr(e.find("xdp"));
               s.sh_offset = e.b.size() - 8;
               e.set_shdr(e.find("xdp"), s);
             }),
             Catch::Contains("past the end of the file"));
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto s = e.shdr(e.find(".BTF"));
               s.sh_size = ~uint64_t(0);
               e.set_shdr(e.find(".BTF"), s);
             }),
             Catch::Contains("past the end of the file"));
  // Code whose size is not a whole number of instructions.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto s = e.shdr(e.find("socket"));
               s.sh_size -= 3;
               e.set_shdr(e.find("socket"), s);
             }),
             Catch::Contains("not a multiple of 8"));
  // A section name outside the name table.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto s = e.shdr(e.find("tc"));
               s.sh_name = 0x7fffffff;
               e.set_shdr(e.find("tc"), s);
             }),
             Catch::Contains("name offset"));
  // The symbol table made unreadable in two ways.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto s = e.shdr(e.find(".symtab"));
               s.sh_entsize = 20;
               e.set_shdr(e.find(".symtab"), s);
             }),
             Catch::Contains("symbol table"));
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto s = e.shdr(e.find(".symtab"));
               s.sh_type = SHT_PROGBITS;
               e.set_shdr(e.find(".symtab"), s);
             }),
             Catch::Contains("no symbol table"));
  // Two sections named .BTF: libbpf would parse a different one than the one checked here.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto ext = e.shdr(e.find(".BTF.ext"));
               ext.sh_name = e.shdr(e.find(".BTF")).sh_name;
               e.set_shdr(e.find(".BTF.ext"), ext);
             }),
             Catch::Contains("more than one section named .BTF"));
  // Global data too large for a map value (libbpf 1.1 would truncate the size).
  CHECK_THAT(with("globals.o", [](ElfEdit& e) {
               auto s = e.shdr(e.find(".bss"));
               s.sh_size = (uint64_t(1) << 32) + 8;
               e.set_shdr(e.find(".bss"), s);
             }),
             Catch::Contains("section .bss") && Catch::Contains("too large for a map value"));
  // A relocation section that points at a section that does not exist.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto s = e.shdr(e.find(".relxdp"));
               s.sh_info = 999;
               e.set_shdr(e.find(".relxdp"), s);
             }),
             Catch::Contains("does not exist"));
}

TEST_CASE("symbols and relocations pointing outside their sections") {
  auto with = [](const char* file, auto edit) {
    ElfEdit e = load(file);
    edit(e);
    return error_of(e.b);
  };
  // A function that runs past the end of its section.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto pos = e.symbol_pos("sock_plain");
               auto s = e.get<Elf64_Sym>(pos);
               s.st_size = 0x1000;
               e.put(pos, s);
             }),
             Catch::Contains("outside the section"));
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto pos = e.symbol_pos("sock_plain");
               auto s = e.get<Elf64_Sym>(pos);
               s.st_value = ~uint64_t(0) - 7;
               e.put(pos, s);
             }),
             Catch::Contains("outside the section"));
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto pos = e.symbol_pos("leaf");
               auto s = e.get<Elf64_Sym>(pos);
               s.st_value += 4;
               e.put(pos, s);
             }),
             Catch::Contains("multiple of 8"));
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto pos = e.symbol_pos("leaf");
               auto s = e.get<Elf64_Sym>(pos);
               s.st_shndx = 0x4000;
               e.put(pos, s);
             }),
             Catch::Contains("out of range"));
  // A relocation whose offset is past its section, or whose symbol does not exist.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto off = e.shdr(e.find(".relxdp")).sh_offset;
               auto r = e.get<Elf64_Rel>(off);
               r.r_offset = 0x100000;
               e.put(off, r);
             }),
             Catch::Contains("is outside section xdp"));
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto off = e.shdr(e.find(".relxdp")).sh_offset;
               auto r = e.get<Elf64_Rel>(off);
               r.r_info = ELF64_R_INFO(100000, ELF64_R_TYPE(r.r_info));
               e.put(off, r);
             }),
             Catch::Contains("does not exist"));
  // A relocation moved onto an instruction that is neither a call nor an ldimm64.
  const std::string on_alu = with("calls.o", [](ElfEdit& e) {
    auto off = e.shdr(e.find(".relxdp")).sh_offset;
    auto r = e.get<Elf64_Rel>(off);
    r.r_offset = 0;
    e.put(off, r);
  });
  CHECK_THAT(on_alu, Catch::Contains("xdp_calls: insn 0") && Catch::Contains("neither ldimm64 nor call"));
  // A call relocation against a function pointer target that is not a function start.
  CHECK_THAT(with("calls.o", [](ElfEdit& e) {
               auto pos = e.insn_pos("tc", 1);
               auto i = e.get<Insn>(pos);
               i.imm = 5;
               e.put(pos, i);
             }),
             Catch::Contains("tc_calls: insn 1") && Catch::Contains("no function starts"));
}

TEST_CASE("invalid instructions in an object name the file, program and instruction") {
  auto with = [](auto edit) {
    ElfEdit e = load("calls.o");
    edit(e);
    return error_of(e.b, "calls.o");
  };
  // An unknown opcode in the entry program.
  CHECK_THAT(with([](ElfEdit& e) { e.b[e.insn_pos("xdp", 3)] = 0xff; }), Catch::StartsWith("calls.o: xdp_calls: insn 3: "));
  // An out-of-range jump.
  CHECK_THAT(with([](ElfEdit& e) {
               auto pos = e.insn_pos("xdp", 16);
               auto i = e.get<Insn>(pos);
               i.off = 200;
               e.put(pos, i);
             }),
             Catch::StartsWith("calls.o: xdp_calls: insn 16: ") && Catch::Contains("out of range"));
  // A bad instruction in a subprogram is reported in the first image that contains it, at its
  // image index (leaf starts at 26 in xdp_calls' image).
  CHECK_THAT(with([](ElfEdit& e) { e.b[e.insn_pos(".text", 9) + 1] = 0x0b; }),
             Catch::StartsWith("calls.o: xdp_calls: insn 27: "));
  // A subprogram no program reaches is still checked, as a program of its own (keep_unused
  // occupies .text slots 19 and 20).
  CHECK_THAT(with([](ElfEdit& e) { e.b[e.insn_pos(".text", 20)] = 0xff; }), Catch::StartsWith("calls.o: keep_unused: insn 1: "));
  // A lone LD_IMM64 half at the end of a program.
  CHECK_THAT(with([](ElfEdit& e) {
               auto pos = e.insn_pos("socket", 1);
               Insn i;
               i.opcode = bpf::LD | bpf::IMM | bpf::DW;
               e.put(pos, i);
             }),
             Catch::StartsWith("calls.o: sock_plain: insn 1: "));
}

TEST_CASE("flipped header bytes never crash") {
  const auto whole = load("calls.o");
  std::size_t errors = 0, total = 0;
  auto flip_all = [&](std::size_t from, std::size_t to) {
    for (std::size_t pos = from; pos < to; ++pos)
      for (uint8_t mask : {0x01, 0x80, 0xff}) {
        ElfEdit e = whole;
        e.b[pos] ^= mask;
        ++total;
        if (!error_of(e.b).empty()) ++errors;
      }
  };
  flip_all(0, sizeof(Elf64_Ehdr));
  const auto eh = whole.ehdr();
  flip_all(eh.e_shoff, eh.e_shoff + std::size_t(eh.e_shnum) * sizeof(Elf64_Shdr));
  // Most header bytes matter; the ones that do not (addresses, alignment, flags) read fine.
  CHECK(errors > total / 4);
}

TEST_CASE("random corruption of valid objects gives InputError or a module") {
  std::mt19937 rng(20240611);
  for (const char* name : {"calls.o", "globals.o", "maps.o", "legacy_maps.o", "externs.o"}) {
    const auto whole = slurp(data_file(name));
    std::size_t errors = 0;
    for (int iter = 0; iter < 300; ++iter) {
      auto b = whole;
      const int flips = 1 + int(rng() % 8);
      for (int k = 0; k < flips; ++k) b[rng() % b.size()] = uint8_t(rng());
      INFO(name << " iteration " << iter);
      if (!error_of(b).empty()) ++errors;
    }
    CHECK(errors > 0);
  }
}

TEST_CASE("corrupt BTF is rejected before libbpf reads it") {
  std::mt19937 rng(7);
  const ElfEdit whole = load("maps.o");
  const auto btf = whole.shdr(whole.find(".BTF"));
  std::size_t errors = 0;
  for (int iter = 0; iter < 500; ++iter) {
    ElfEdit e = whole;
    const std::size_t pos = btf.sh_offset + rng() % btf.sh_size;
    e.b[pos] = uint8_t(rng());
    INFO("byte " << pos - btf.sh_offset << " of .BTF");
    if (!error_of(e.b).empty()) ++errors;
  }
  CHECK(errors > 0);
  ElfEdit e = whole;
  std::size_t ptr_pos = 0, ptr_id = 0;
  for (const auto& r : btf_records(e))
    if (r.kind == 2 && !ptr_id) ptr_pos = r.pos, ptr_id = r.id;
  REQUIRE(ptr_id != 0);
  // A reference to a type id that does not exist.
  e.put<uint32_t>(ptr_pos + 8, 0x00ffffff);
  CHECK_THAT(error_of(e.b), Catch::Contains(".BTF: type " + std::to_string(ptr_id)) && Catch::Contains("does not exist"));
  // A cycle: the pointer points to itself.
  e.put<uint32_t>(ptr_pos + 8, uint32_t(ptr_id));
  CHECK_THAT(error_of(e.b), Catch::Contains("cyclic"));
}

TEST_CASE("a type size that overflows libbpf's int is rejected") {
  // Found by fuzzing: libbpf 1.1 stores the size of the `unsigned int` behind a Kconfig extern
  // in an int, returns the negative result as an error code, and hands that back as the object
  // pointer, which crashes the first use.
  ElfEdit e = load("externs.o");
  bool found = false;
  for (const auto& r : btf_records(e))
    if (r.kind == 1 && r.name == "unsigned int") {
      e.put<uint32_t>(r.pos + 8, 0xfff80004);
      found = true;
    }
  REQUIRE(found);
  CHECK_THAT(error_of(e.b), Catch::Contains(".BTF: type") && Catch::Contains("exceeds 256 MiB"));
  // The wrapper guards the same case even when handed the bytes directly.
  CHECK_THROWS_AS(BpfObject::open_memory(e.b, "externs"), InputError);
}

TEST_CASE("garbage is InputError") {
  std::mt19937 rng(99);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<uint8_t> b(std::size_t(rng() % 4096));
    for (auto& c : b) c = uint8_t(rng());
    if (iter % 2 == 0 && b.size() >= 64) {
      // Plausible header, random rest.
      const uint8_t ident[] = {0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT};
      std::memcpy(b.data(), ident, sizeof ident);
      b[16] = ET_REL;
      b[17] = 0;
      b[18] = 247;
      b[19] = 0;
    }
    INFO("iteration " << iter);
    CHECK_FALSE(error_of(b).empty());
  }
}
