// The ELF writer on an object compiled here whose functions carry removable no-ops (`goto +0`)
// around map lookups, global data accesses, bpf-to-bpf calls, function pointers and a CO-RE
// record, with several programs in one section, one in another, and subprograms in .text. Every
// no-op is removed; the result must read back with the expected code, load into the kernel, show
// the kernel the same program (the kernel's verifier removes such no-ops itself) and compute the
// same results. Tests that need bpf() fail without it unless TRISTATE_ALLOW_NO_BPF=1, which makes
// them warn loudly instead (tests/support/kernel.hpp).
#include "compiler/elf_writer.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>
#include <linux/bpf.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "compiler/clang.hpp"
#include "compiler/elf.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"
#include "compiler/isa.hpp"
#include "tests/support/kernel.hpp"
#include "tests/support/process.hpp"

using namespace tristate;

namespace {

// Every function starts or ends with a no-op somewhere, no-ops sit right before and after map
// lookups, global data loads and stores, calls (static and global, with and without a
// relocation), function pointers (from a program section and from .text) and a CO-RE record, and
// one is the target of a branch.
constexpr const char* kSource = R"(
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define NOP() asm volatile("goto +0" ::: "memory")

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __type(key, __u32);
  __type(value, __u64);
  __uint(max_entries, 4);
} counts SEC(".maps");

volatile __u64 hits = 1;         /* .data */
volatile const __u32 bias = 60;  /* .rodata */
volatile __u64 last_len;         /* .bss */

static __attribute__((noinline)) int twice(int x) {
  NOP();
  return x * 2 + (int)bias;
}

__attribute__((noinline)) int mix(int x) {
  NOP();
  int r = twice(x) ^ 5;
  NOP();
  return r;
}

__attribute__((noinline)) int mix2(int x) {
  NOP();
  return mix(x) + 1;
}

static long add_index(__u32 i, void *data) {
  NOP();
  /* Two line_info records on removed slots move to the slot after them, which has none: the
     later one must win. */
  asm volatile("goto +0\n\tr0 = 0" ::: "r0", "memory");
  *(long *)data += i;
  NOP();
  return 0;
}

static __attribute__((noinline)) long looped(int n) {
  long s = 0;
  NOP();
  bpf_loop(n & 7, add_index, &s, 0);
  NOP();
  return s;
}

SEC("xdp") int xdp_first(struct xdp_md *ctx) {
  NOP();
  __u32 k = 0;
  __u64 *v = bpf_map_lookup_elem(&counts, &k);
  NOP();
  if (v) {
    NOP();
    *v += 1;
  }
  hits++;
  NOP();
  last_len = ctx->data_end - ctx->data;
  NOP();
  long s = 0;
  bpf_loop(3, add_index, &s, 0);
  NOP();
  return (twice((int)last_len) + mix(1) + s) & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int xdp_second(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
  NOP();
  int first = data + 1 <= end ? *(unsigned char *)data : -1;
  NOP();
  int r = mix2(first) + (int)looped(end - data);
  NOP();
  return r > 100 ? XDP_PASS : XDP_DROP;
}

SEC("tc") int tc_only(struct __sk_buff *skb) {
  NOP();
  __u32 k = 1;
  __u64 *v = bpf_map_lookup_elem(&counts, &k);
  if (v) *v += skb->len;
  NOP();
  int r = bpf_core_field_exists(skb->len) ? twice(skb->len) : 0;
  NOP();
  return r > 140 ? 0 : 2;
}

char LICENSE[] SEC("license") = "GPL";
)";

constexpr const char* kObjectName = "nops.o";

// The object compiled from kSource (once per test run).
const std::vector<uint8_t>& nops_object() {
  static const std::vector<uint8_t> bytes = [] {
    test::TempDir dir;
    const std::string src = dir.write("nops.c", std::string(kSource));
    CompileOptions o;
    o.source = src;
    o.output = dir.file(kObjectName);
    const CompileResult r = compile_c(o);
    if (r.exit_code != 0) FAIL("clang-19 failed on the test source (exit " << r.exit_code << ")");
    return read_file_bytes(o.output);
  }();
  return bytes;
}

bool is_ldimm64(const Insn& i) { return i.opcode == (bpf::LD | bpf::IMM | bpf::DW); }
bool is_nop(const Insn& i) {
  return i.opcode == (bpf::JMP | bpf::JA) && i.off == 0 && i.imm == 0 && i.dst == 0 && i.src == 0;
}
bool is_pseudo_call(const Insn& i) { return i.opcode == (bpf::JMP | bpf::CALL) && i.src == bpf::PSEUDO_CALL; }

// `code` without the slots `drop` says, every jump re-aimed at the slot its target became (a
// jump to a removed slot lands on the next kept one). With `calls`, bpf-to-bpf calls and
// PSEUDO_FUNC loads are treated like jumps too (for linked images, where they are relative).
struct Removal {
  std::vector<Insn> insns;
  std::vector<std::ptrdiff_t> old_to_new;
  std::size_t removed = 0;
};

Removal remove_slots(const std::vector<Insn>& code, const std::vector<bool>& drop, bool calls) {
  const std::size_t n = code.size();
  std::vector<std::size_t> prefix(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + (drop[i] ? 0 : 1);
  Removal r;
  for (std::size_t i = 0; i < n; ++i) {
    if (drop[i]) {
      r.old_to_new.push_back(-1);
      ++r.removed;
      continue;
    }
    r.old_to_new.push_back(std::ptrdiff_t(prefix[i]));
    Insn x = code[i];
    const uint8_t cls = bpf::class_of(x.opcode), op = bpf::op_of(x.opcode);
    const bool jump = (cls == bpf::JMP || cls == bpf::JMP32) && op != bpf::CALL && op != bpf::EXIT;
    auto moved = [&](int64_t rel) {
      const int64_t target = int64_t(i) + rel + 1;
      REQUIRE(target >= 0);
      REQUIRE(target <= int64_t(n));
      return int64_t(prefix[std::size_t(target)]) - int64_t(prefix[i]) - 1;
    };
    if (jump && cls == bpf::JMP32 && op == bpf::JA)
      x.imm = int32_t(moved(x.imm));  // gotol
    else if (jump)
      x.off = int16_t(moved(x.off));
    else if (calls && (is_pseudo_call(x) || (is_ldimm64(x) && x.src == bpf::PSEUDO_FUNC)))
      x.imm = int32_t(moved(x.imm));
    r.insns.push_back(x);
  }
  return r;
}

// Which slots of `code` are `goto +0` (never the second half of an LD_IMM64).
std::vector<bool> nop_slots(const std::vector<Insn>& code) {
  std::vector<bool> drop(code.size(), false);
  for (std::size_t i = 0; i < code.size(); ++i) {
    if (is_ldimm64(code[i])) {
      ++i;
      continue;
    }
    drop[i] = is_nop(code[i]);
  }
  return drop;
}

std::vector<const Function*> all_functions(const Module& m) {
  std::vector<const Function*> out;
  for (const Program& p : m.programs) out.push_back(&p.entry);
  for (const Function& f : m.subprograms) out.push_back(&f);
  return out;
}

const Function& function_named(const Module& m, const std::string& name) {
  for (const Function* f : all_functions(m))
    if (f->name == name) return *f;
  FAIL("no function " << name << " in " << m.path);
  throw;
}

FunctionEdit edit_of(const Function& f, const Removal& r) {
  FunctionEdit e;
  e.section = f.section;
  e.section_offset = f.section_offset;
  e.old_size = f.insns.size();
  e.insns = r.insns;
  e.old_to_new = r.old_to_new;
  return e;
}

// The edits that remove every no-op from every function.
std::vector<FunctionEdit> remove_all_nops(const Module& m) {
  std::vector<FunctionEdit> edits;
  for (const Function* f : all_functions(m)) {
    const Removal r = remove_slots(f->insns, nop_slots(f->insns), false);
    if (r.removed) edits.push_back(edit_of(*f, r));
  }
  return edits;
}

// The bytes of every section, by name.
std::map<std::string, std::vector<uint8_t>> sections_of(const std::vector<uint8_t>& bytes) {
  ElfHandle h = ElfHandle::from_memory(bytes);
  std::size_t shstrndx = 0;
  REQUIRE(elf_getshdrstrndx(h.get(), &shstrndx) == 0);
  std::map<std::string, std::vector<uint8_t>> out;
  for (Elf_Scn* scn = elf_nextscn(h.get(), nullptr); scn; scn = elf_nextscn(h.get(), scn)) {
    GElf_Shdr hdr;
    REQUIRE(gelf_getshdr(scn, &hdr));
    std::vector<uint8_t> data;
    if (hdr.sh_type != SHT_NOBITS) {
      REQUIRE(hdr.sh_offset + hdr.sh_size <= bytes.size());
      const auto first = bytes.begin() + std::ptrdiff_t(hdr.sh_offset);
      data.assign(first, first + std::ptrdiff_t(hdr.sh_size));
    } else {
      data.assign(hdr.sh_size, 0);
    }
    out[elf_strptr(h.get(), shstrndx, hdr.sh_name)] = std::move(data);
  }
  return out;
}

uint32_t u32_at(const std::vector<uint8_t>& b, std::size_t at) {
  REQUIRE(at + 4 <= b.size());
  return uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 | uint32_t(b[at + 3]) << 24;
}

// Where in .BTF.ext the instruction offset of each func_info, line_info and CO-RE record is,
// sorted: what the entries of .rel.BTF.ext point at.
std::vector<uint64_t> btf_ext_record_positions(const std::vector<uint8_t>& ext) {
  const uint32_t hdr = u32_at(ext, 4);
  std::vector<uint64_t> out;
  for (std::size_t area = 0; area < (hdr >= 32 ? 3u : 2u); ++area) {
    const uint32_t off = u32_at(ext, 8 + 8 * area), len = u32_at(ext, 12 + 8 * area);
    if (len == 0) continue;
    std::size_t pos = hdr + off;
    const std::size_t end = pos + len;
    const uint32_t rec = u32_at(ext, pos);
    for (pos += 4; pos < end;) {
      const uint32_t n = u32_at(ext, pos + 4);
      pos += 8;
      for (uint32_t i = 0; i < n; ++i, pos += rec) out.push_back(pos);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint64_t> relocation_offsets(const std::vector<uint8_t>& rel) {
  std::vector<uint64_t> out;
  for (std::size_t at = 0; at + 16 <= rel.size(); at += 16)
    out.push_back(u32_at(rel, at) | uint64_t(u32_at(rel, at + 4)) << 32);
  std::sort(out.begin(), out.end());
  return out;
}

struct Rewritten {
  Module in, out;
  std::vector<uint8_t> out_bytes;
  std::size_t removed = 0;
};

const Rewritten& rewritten() {
  static const Rewritten r = [] {
    Rewritten w;
    w.in = read_elf_memory(nops_object(), kObjectName);
    const auto edits = remove_all_nops(w.in);
    for (const auto& e : edits)
      for (auto v : e.old_to_new) w.removed += v < 0;
    w.out_bytes = rewrite_elf(nops_object(), kObjectName, edits);
    w.out = read_elf_memory(w.out_bytes, kObjectName);
    return w;
  }();
  return r;
}

// ---- the kernel side ---------------------------------------------------------------------

// Whether this process may load programs: a 2-instruction XDP program must load.
bool bpf_available(std::string& why) {
  const Insn prog[] = {make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 0, 0, 0, 2),
                       make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0)};
  LibbpfLog log;
  const auto* insns = reinterpret_cast<const bpf_insn*>(prog);
  const int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "tristate_probe", "GPL", insns, 2, nullptr);
  if (fd < 0) {
    why = std::string("BPF_PROG_LOAD of a trivial XDP program: ") + std::strerror(-fd);
    return false;
  }
  close(fd);
  return true;
}

#define REQUIRE_BPF(what)                                                          \
  do {                                                                             \
    std::string why;                                                               \
    if (!test::kernel_test_may_run(bpf_available(why), why, what)) return;        \
  } while (0)

// An object opened and loaded by libbpf.
struct Loaded {
  BpfObject obj;
  std::map<uint32_t, std::string> map_names;  // kernel map id -> name
};

Loaded load(const std::vector<uint8_t>& bytes) {
  LibbpfLog log;
  Loaded l{BpfObject::open_memory(bytes, "nops"), {}};
  const int err = bpf_object__load(l.obj.get());
  INFO("libbpf: " << log.summary());
  REQUIRE(err == 0);
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, l.obj.get()) {
    bpf_map_info info{};
    uint32_t len = sizeof info;
    REQUIRE(bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len) == 0);
    l.map_names[info.id] = bpf_map__name(map);
  }
  return l;
}

bpf_program* program_named(const Loaded& l, const std::string& name) {
  bpf_program* p = bpf_object__find_program_by_name(l.obj.get(), name.c_str());
  REQUIRE(p != nullptr);
  return p;
}

// What the kernel shows of a loaded program: its instructions after verification (map ids
// replaced by map names, so two loads compare), its line_info and its func_info.
struct KernelView {
  std::vector<std::string> insns;
  std::vector<std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>> lines;  // insn_off, file, line, col
  std::vector<std::pair<uint32_t, uint32_t>> funcs;                       // insn_off, type id
};

KernelView kernel_view(const Loaded& l, int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  REQUIRE(bpf_obj_get_info_by_fd(fd, &info, &len) == 0);
  std::vector<Insn> xlated(info.xlated_prog_len / sizeof(Insn));
  std::vector<bpf_line_info> lines(info.nr_line_info);
  std::vector<bpf_func_info> funcs(info.nr_func_info);
  bpf_prog_info again{};
  again.xlated_prog_len = uint32_t(xlated.size() * sizeof(Insn));
  again.xlated_prog_insns = reinterpret_cast<uint64_t>(xlated.data());
  again.nr_line_info = uint32_t(lines.size());
  again.line_info_rec_size = sizeof(bpf_line_info);
  again.line_info = reinterpret_cast<uint64_t>(lines.data());
  again.nr_func_info = uint32_t(funcs.size());
  again.func_info_rec_size = sizeof(bpf_func_info);
  again.func_info = reinterpret_cast<uint64_t>(funcs.data());
  len = sizeof again;
  REQUIRE(bpf_obj_get_info_by_fd(fd, &again, &len) == 0);
  KernelView v;
  for (std::size_t i = 0; i < xlated.size(); ++i) {
    const Insn& x = xlated[i];
    std::string text = std::to_string(x.opcode) + " " + std::to_string(x.dst) + " " + std::to_string(x.src) + " " +
                       std::to_string(x.off) + " ";
    const bool map_ref = is_ldimm64(x) && (x.src == bpf::PSEUDO_MAP_FD || x.src == bpf::PSEUDO_MAP_VALUE);
    if (map_ref) {
      auto it = l.map_names.find(uint32_t(x.imm));
      text += "map " + (it == l.map_names.end() ? "?" + std::to_string(x.imm) : it->second);
    } else {
      text += std::to_string(x.imm);
    }
    v.insns.push_back(text);
    if (is_ldimm64(x) && i + 1 < xlated.size()) v.insns.push_back("hi " + std::to_string(xlated[++i].imm));
  }
  for (const auto& li : lines) v.lines.emplace_back(li.insn_off, li.file_name_off, li.line_off, li.line_col);
  for (const auto& fi : funcs) v.funcs.emplace_back(fi.insn_off, fi.type_id);
  return v;
}

struct Run {
  uint32_t retval = 0;
  std::vector<uint8_t> packet;
};

Run test_run(int fd, const std::vector<uint8_t>& packet) {
  std::vector<uint8_t> out(packet.size() + 512);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.data(), .data_out = out.data(),
              .data_size_in = uint32_t(packet.size()), .data_size_out = uint32_t(out.size()), .repeat = 1);
  const int err = bpf_prog_test_run_opts(fd, &opts);
  INFO("BPF_PROG_TEST_RUN: " << std::strerror(err < 0 ? -err : 0));
  REQUIRE(err == 0);
  out.resize(opts.data_size_out);
  return {opts.retval, out};
}

// Every array map's values, index by index.
std::map<std::string, std::vector<std::vector<uint8_t>>> array_contents(const Loaded& l) {
  std::map<std::string, std::vector<std::vector<uint8_t>>> out;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, l.obj.get()) {
    if (bpf_map__type(map) != BPF_MAP_TYPE_ARRAY) continue;
    auto& values = out[bpf_map__name(map)];
    for (uint32_t k = 0; k < bpf_map__max_entries(map); ++k) {
      std::vector<uint8_t> v(bpf_map__value_size(map));
      REQUIRE(bpf_map_lookup_elem(bpf_map__fd(map), &k, v.data()) == 0);
      values.push_back(std::move(v));
    }
  }
  return out;
}

// Ethernet-sized packets of several lengths and contents (fixed seed).
std::vector<std::vector<uint8_t>> test_packets() {
  std::mt19937 rng(20240607);
  std::vector<std::vector<uint8_t>> out;
  for (std::size_t len : {14u, 15u, 60u, 64u, 77u, 128u, 255u, 256u, 1000u}) {
    std::vector<uint8_t> p(len);
    for (auto& b : p) b = uint8_t(rng());
    out.push_back(p);
    p[0] = uint8_t(len * 7);
    out.push_back(p);
  }
  return out;
}

constexpr long kBpfFsMagic = 0xcafe4a11;  // statfs f_type of bpffs

}  // namespace

TEST_CASE("rewrite_elf removes slots from every function and moves everything that points at them",
          "[elf_writer]") {
  const Rewritten& w = rewritten();
  REQUIRE(w.removed >= 20);
  const std::vector<std::string> expected_programs = {"xdp_first", "xdp_second", "tc_only"};
  REQUIRE(w.out.programs.size() == expected_programs.size());

  // Every function: the expected size and place, its own code with the no-ops gone, and its
  // relocations on the slots they moved to.
  std::map<std::string, std::size_t> section_size;
  for (const Function* f : all_functions(w.in)) {
    INFO("function " << f->name);
    const Removal r = remove_slots(f->insns, nop_slots(f->insns), false);
    CHECK(r.removed >= 1);  // the source puts at least one no-op in every function
    const Function& o = function_named(w.out, f->name);
    CHECK(o.section == f->section);
    CHECK(o.insns.size() == f->insns.size() - r.removed);
    REQUIRE(o.insns.size() == r.insns.size());
    for (std::size_t i = 0; i < o.insns.size(); ++i) {
      INFO("new slot " << i);
      const Insn& got = o.insns[i];
      const Insn& want = r.insns[i];
      // Calls and function pointers to other functions are aimed at their new places; their
      // targets are checked on the linked images below.
      const bool func_ptr = std::any_of(f->relocs.begin(), f->relocs.end(), [&](const Relocation& rel) {
        return rel.kind == RelocKind::FuncPtr && r.old_to_new[rel.insn] == std::ptrdiff_t(i);
      });
      const bool retargeted = is_pseudo_call(want) || func_ptr;
      if (retargeted) {
        CHECK(got.opcode == want.opcode);
        CHECK(got.dst == want.dst);
        CHECK(got.src == want.src);
        CHECK(got.off == want.off);
      } else {
        CHECK(got == want);
      }
    }
    REQUIRE(o.relocs.size() == f->relocs.size());
    for (std::size_t k = 0; k < f->relocs.size(); ++k) {
      const Relocation& a = f->relocs[k];
      const Relocation& b = o.relocs[k];
      CHECK(std::ptrdiff_t(b.insn) == r.old_to_new[a.insn]);
      CHECK(b.kind == a.kind);
      CHECK(b.symbol == a.symbol);
      CHECK(b.section == a.section);
      CHECK(b.target == a.target);
      if (a.kind == RelocKind::Map || a.kind == RelocKind::GlobalData) CHECK(b.offset == a.offset);
    }
    section_size[f->section] += o.insns.size();
  }
  // Functions are laid out in their input order with nothing between them.
  for (const auto& [section, size] : section_size) {
    std::vector<const Function*> fs;
    for (const Function* f : all_functions(w.out))
      if (f->section == section) fs.push_back(f);
    std::sort(fs.begin(), fs.end(),
              [](const Function* a, const Function* b) { return a->section_offset < b->section_offset; });
    std::size_t at = 0;
    for (const Function* f : fs) {
      INFO("function " << f->name);
      CHECK(f->section_offset == at);
      at += f->insns.size();
    }
    CHECK(at == size);
  }

  // Every program as libbpf links it: the input's image without its no-ops, calls included.
  for (const Program& p : w.in.programs) {
    INFO("program " << p.name());
    const Program* o = w.out.find_program(p.name());
    REQUIRE(o != nullptr);
    CHECK(o->prog_type == p.prog_type);
    const Removal r = remove_slots(p.image, nop_slots(p.image), true);
    CHECK(o->image == r.insns);
    REQUIRE(o->functions.size() == p.functions.size());
    for (std::size_t k = 0; k < p.functions.size(); ++k) CHECK(o->functions[k].name == p.functions[k].name);
  }

  // Sections nothing points into are carried over byte for byte; code and BTF.ext shrink.
  const auto before = sections_of(nops_object()), after = sections_of(w.out_bytes);
  for (const char* same :
       {".data", ".rodata", ".bss", ".maps", "license", ".BTF", ".rel.BTF", ".debug_info", ".debug_line", ".strtab"}) {
    INFO("section " << same);
    REQUIRE(before.count(same));
    REQUIRE(after.count(same));
    CHECK(before.at(same) == after.at(same));
  }
  for (const char* shrunk : {".text", "xdp", "tc"}) CHECK(after.at(shrunk).size() < before.at(shrunk).size());
  CHECK(after.at(".BTF.ext").size() < before.at(".BTF.ext").size());
  CHECK(after.at(".rel.BTF.ext").size() < before.at(".rel.BTF.ext").size());
  CHECK(relocation_offsets(before.at(".rel.BTF.ext")) == btf_ext_record_positions(before.at(".BTF.ext")));
  CHECK(relocation_offsets(after.at(".rel.BTF.ext")) == btf_ext_record_positions(after.at(".BTF.ext")));
  CHECK(w.out.maps.size() == w.in.maps.size());
  CHECK(w.out.license == w.in.license);
  CHECK(w.out.has_btf_ext);
}

TEST_CASE("rewrite_elf edits of .text alone re-aim calls and function pointers from untouched sections",
          "[elf_writer]") {
  const Module in = read_elf_memory(nops_object(), kObjectName);
  std::vector<FunctionEdit> edits;
  for (const Function& f : in.subprograms)
    edits.push_back(edit_of(f, remove_slots(f.insns, nop_slots(f.insns), false)));
  const auto out_bytes = rewrite_elf(nops_object(), kObjectName, edits);
  const Module out = read_elf_memory(out_bytes, kObjectName);
  for (const Program& p : in.programs) {
    INFO("program " << p.name());
    // The entry keeps its no-ops; the subprograms of its image lose theirs.
    std::vector<bool> drop = nop_slots(p.image);
    std::fill(drop.begin(), drop.begin() + std::ptrdiff_t(p.functions[0].size), false);
    const Program* o = out.find_program(p.name());
    REQUIRE(o != nullptr);
    // Only calls and function pointers into .text change in the entry.
    REQUIRE(o->entry.insns.size() == p.entry.insns.size());
    for (std::size_t i = 0; i < p.entry.insns.size(); ++i)
      if (!(o->entry.insns[i] == p.entry.insns[i]))
        CHECK((is_pseudo_call(p.entry.insns[i]) || is_ldimm64(p.entry.insns[i])));
    CHECK(o->image == remove_slots(p.image, drop, true).insns);
  }
  const auto before = sections_of(nops_object()), after = sections_of(out_bytes);
  CHECK(after.at("tc") != before.at("tc"));  // its call into .text is re-aimed
  CHECK(after.at("tc").size() == before.at("tc").size());
}

TEST_CASE("rewrite_elf with no edits gives an equivalent object", "[elf_writer]") {
  const auto out = rewrite_elf(nops_object(), kObjectName, {});
  const Module a = read_elf_memory(nops_object(), kObjectName), b = read_elf_memory(out, kObjectName);
  REQUIRE(a.programs.size() == b.programs.size());
  for (std::size_t i = 0; i < a.programs.size(); ++i) CHECK(a.programs[i].image == b.programs[i].image);
  CHECK(sections_of(nops_object()) == sections_of(out));
}

TEST_CASE("libbpf's static linker (bpftool gen object) takes the rewritten object", "[elf_writer]") {
  const std::string bpftool = test::env("TRISTATE_BPFTOOL");
  if (bpftool.empty()) {
    WARN("bpftool was not found at configure time: the static linker check did NOT run");
    return;
  }
  const Rewritten& w = rewritten();
  test::TempDir dir;
  const std::string obj = dir.write("nops.out.o", w.out_bytes), linked = dir.file("linked.o");
  const auto r = test::run_process({bpftool, "gen", "object", linked, obj});
  INFO("bpftool gen object: " << r.err);
  REQUIRE(r.status == 0);
  const Module m = read_elf(linked);
  REQUIRE(m.programs.size() == w.out.programs.size());
  for (const Program& p : w.out.programs) {
    INFO("program " << p.name());
    const Program* q = m.find_program(p.name());
    REQUIRE(q != nullptr);
    CHECK(q->image == p.image);
  }
}

TEST_CASE("the rewritten object loads and runs like the input in the kernel", "[elf_writer][kernel]") {
  REQUIRE_BPF("the elf writer's kernel test");
  const Rewritten& w = rewritten();
  Loaded in = load(nops_object()), out = load(w.out_bytes);
  const auto packets = test_packets();
  for (const Program& p : w.in.programs) {
    INFO("program " << p.name());
    const int in_fd = bpf_program__fd(program_named(in, p.name()));
    const int out_fd = bpf_program__fd(program_named(out, p.name()));
    REQUIRE(in_fd >= 0);
    REQUIRE(out_fd >= 0);
    // The kernel's verifier removes `goto +0` itself, moving line_info the way the writer does:
    // so the two must be the same program to the kernel, with the same line and function info.
    const KernelView a = kernel_view(in, in_fd), b = kernel_view(out, out_fd);
    CHECK(a.insns == b.insns);
    CHECK(a.lines == b.lines);
    CHECK(a.funcs == b.funcs);
    CHECK(b.lines.size() >= 4);
    CHECK(b.funcs.size() == p.functions.size());
    for (const auto& packet : packets) {
      INFO("packet of " << packet.size() << " bytes");
      const Run x = test_run(in_fd, packet), y = test_run(out_fd, packet);
      CHECK(x.retval == y.retval);
      CHECK(x.packet == y.packet);
    }
  }
  const auto in_maps = array_contents(in), out_maps = array_contents(out);
  CHECK(in_maps == out_maps);
  CHECK(in_maps.size() == 4);  // counts, .data, .rodata, .bss
}

TEST_CASE("bpftool loads every program of the rewritten object", "[elf_writer][kernel]") {
  REQUIRE_BPF("the elf writer's bpftool test");
  const std::string bpftool = test::env("TRISTATE_BPFTOOL");
  struct statfs fs {};
  const bool ready = !bpftool.empty() && statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type == kBpfFsMagic;
  if (!test::kernel_test_may_run(ready, "bpftool or the bpffs at /sys/fs/bpf is missing", "the bpftool loadall test"))
    return;
  const Rewritten& w = rewritten();
  test::TempDir dir;
  const std::string obj = dir.write("nops.out.o", w.out_bytes);
  const std::string pins = "/sys/fs/bpf/tristate-elf-writer-" + std::to_string(getpid());
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{pins};
  const auto r = test::run_process({bpftool, "prog", "loadall", obj, pins});
  INFO("bpftool: " << r.err);
  REQUIRE(r.status == 0);
  std::vector<std::string> pinned;
  for (const auto& e : std::filesystem::directory_iterator(pins)) pinned.push_back(e.path().filename().string());
  std::sort(pinned.begin(), pinned.end());
  CHECK(pinned == std::vector<std::string>{"tc_only", "xdp_first", "xdp_second"});
}

TEST_CASE("rewrite_elf drops the relocation of a map load it removes, and keeps the others", "[elf_writer]") {
  const Module m = read_elf_memory(nops_object(), kObjectName);
  const Function& f = function_named(m, "xdp_first");
  std::size_t at = f.insns.size();
  for (const Relocation& r : f.relocs)
    if (r.kind == RelocKind::Map && at == f.insns.size()) at = r.insn;
  REQUIRE(at < f.insns.size());
  std::vector<bool> drop(f.insns.size(), false);
  drop[at] = drop[at + 1] = true;
  const Removal removal = remove_slots(f.insns, drop, false);
  const Module out = read_elf_memory(rewrite_elf(nops_object(), kObjectName, {edit_of(f, removal)}), kObjectName);
  const Function& g = function_named(out, "xdp_first");
  REQUIRE(g.relocs.size() + 1 == f.relocs.size());
  std::size_t k = 0;
  for (const Relocation& r : f.relocs) {
    if (r.insn == at) continue;
    CHECK(g.relocs[k].insn == std::size_t(removal.old_to_new[r.insn]));
    CHECK(g.relocs[k].target == r.target);
    CHECK(g.insns[g.relocs[k].insn] == f.insns[r.insn]);
    ++k;
  }
}

TEST_CASE("rewrite_elf refuses edits it cannot write safely", "[elf_writer]") {
  const Module m = read_elf_memory(nops_object(), kObjectName);
  auto expect_error = [&](const std::vector<FunctionEdit>& edits, const std::string& fn, const std::string& words) {
    try {
      (void)rewrite_elf(nops_object(), kObjectName, edits);
      FAIL("no error; expected one about " << words);
    } catch (const InputError& e) {
      INFO(e.what());
      CHECK(e.where().file == kObjectName);
      CHECK(e.where().prog == fn);
      CHECK(std::string(e.what()).find(words) != std::string::npos);
    }
  };
  // The first slot in `f` that `pred` likes (LD_IMM64 pairs count as one).
  auto slot_where = [](const Function& f, auto pred) {
    for (std::size_t i = 0; i < f.insns.size(); ++i)
      if (pred(f, i)) return i;
    FAIL("no such slot in " << f.name);
    return std::size_t(0);
  };

  SECTION("a function pointer load removed") {
    const Function* owner = nullptr;
    std::size_t at = 0;
    for (const Program& p : m.programs)
      for (const Relocation& r : p.entry.relocs)
        if (!owner && r.kind == RelocKind::FuncPtr) {
          owner = &p.entry;
          at = r.insn;
        }
    REQUIRE(owner);
    std::vector<bool> drop(owner->insns.size(), false);
    drop[at] = drop[at + 1] = true;
    expect_error({edit_of(*owner, remove_slots(owner->insns, drop, false))}, owner->name, "relocation");
    try {
      (void)rewrite_elf(nops_object(), kObjectName, {edit_of(*owner, remove_slots(owner->insns, drop, false))});
    } catch (const InputError& e) {
      CHECK(e.where().insn == at);
    }
  }
  SECTION("a call removed") {
    const Function& f = function_named(m, "mix2");
    const std::size_t at = slot_where(f, [](const Function& g, std::size_t i) { return is_pseudo_call(g.insns[i]); });
    std::vector<bool> drop(f.insns.size(), false);
    drop[at] = true;
    expect_error({edit_of(f, remove_slots(f.insns, drop, false))}, "mix2", "relocation");
  }
  SECTION("an instruction with a CO-RE record removed") {
    const Function& f = function_named(m, "tc_only");
    // `r1 = 1` right before the branch on bpf_core_field_exists.
    const std::size_t at = slot_where(f, [](const Function& g, std::size_t i) {
      return g.insns[i].opcode == (bpf::ALU64 | bpf::MOV | bpf::K) && g.insns[i].imm == 1 && g.insns[i].dst == 1;
    });
    std::vector<bool> drop(f.insns.size(), false);
    drop[at] = true;
    expect_error({edit_of(f, remove_slots(f.insns, drop, false))}, "tc_only", "CO-RE");
  }
  SECTION("old_size does not match the function") {
    const Function& f = function_named(m, "twice");
    FunctionEdit e = edit_of(f, remove_slots(f.insns, nop_slots(f.insns), false));
    e.old_size += 1;
    expect_error({e}, "twice", "instructions");
  }
  SECTION("old_to_new is not monotone") {
    const Function& f = function_named(m, "tc_only");
    FunctionEdit e = edit_of(f, remove_slots(f.insns, std::vector<bool>(f.insns.size(), false), false));
    std::swap(e.old_to_new[2], e.old_to_new[3]);
    expect_error({e}, "tc_only", "monotone");
  }
  SECTION("old_to_new keeps more slots than the new body has") {
    const Function& f = function_named(m, "mix");
    FunctionEdit e = edit_of(f, remove_slots(f.insns, nop_slots(f.insns), false));
    e.insns.pop_back();
    expect_error({e}, "mix", "keeps");
  }
  SECTION("two edits of one function") {
    const Function& f = function_named(m, "mix");
    const FunctionEdit e = edit_of(f, remove_slots(f.insns, nop_slots(f.insns), false));
    expect_error({e, e}, "mix", "two edits");
  }
  SECTION("no function at the edit's offset") {
    const Function& f = function_named(m, "mix");
    FunctionEdit e = edit_of(f, remove_slots(f.insns, nop_slots(f.insns), false));
    e.section_offset += 1;
    expect_error({e}, "", "no function starts");
  }
  SECTION("a body whose jump leaves the function") {
    const Function& f = function_named(m, "xdp_second");
    FunctionEdit e = edit_of(f, remove_slots(f.insns, nop_slots(f.insns), false));
    for (Insn& i : e.insns)
      if (bpf::class_of(i.opcode) == bpf::JMP && bpf::op_of(i.opcode) == bpf::JGT) i.off = 100;
    expect_error({e}, "xdp_second", "not valid");
  }
}
