#include "compiler/elf_writer.hpp"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

#include "compiler/elf.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"

namespace tristate {

namespace {

constexpr std::size_t kInsnSize = sizeof(Insn);
constexpr std::size_t kSymSize = 24;  // sizeof(Elf64_Sym)
constexpr std::size_t kRelSize = 16;  // sizeof(Elf64_Rel)
// The BPF relocation types clang emits on code: R_BPF_64_64 on LD_IMM64, R_BPF_64_32 on calls.
constexpr uint32_t kRelocLdImm64 = 1, kRelocCall = 10;
constexpr uint8_t kLdImm64 = bpf::LD | bpf::IMM | bpf::DW;
constexpr uint8_t kCall = bpf::JMP | bpf::CALL;

// Little-endian fields of ELF and BTF structures, read and written on the file's bytes so the
// writer never depends on libelf's in-memory conversions.
uint32_t get32(std::span<const uint8_t> b, std::size_t off) {
  return uint32_t(b[off]) | uint32_t(b[off + 1]) << 8 | uint32_t(b[off + 2]) << 16 | uint32_t(b[off + 3]) << 24;
}
uint64_t get64(std::span<const uint8_t> b, std::size_t off) {
  return get32(b, off) | uint64_t(get32(b, off + 4)) << 32;
}
uint16_t get16(std::span<const uint8_t> b, std::size_t off) { return uint16_t(b[off] | b[off + 1] << 8); }
void put32(std::span<uint8_t> b, std::size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = uint8_t(v >> (8 * i));
}
void put64(std::span<uint8_t> b, std::size_t off, uint64_t v) {
  put32(b, off, uint32_t(v));
  put32(b, off + 4, uint32_t(v >> 32));
}
void append32(std::vector<uint8_t>& out, uint32_t v) {
  out.resize(out.size() + 4);
  put32(out, out.size() - 4, v);
}

bool fits(uint64_t start, uint64_t len, uint64_t limit) { return start <= limit && len <= limit - start; }

Insn insn_at(std::span<const uint8_t> code, std::size_t slot) {
  Insn i;
  std::memcpy(&i, code.data() + slot * kInsnSize, kInsnSize);
  return i;
}
void set_insn(std::vector<uint8_t>& code, std::size_t slot, const Insn& i) {
  std::memcpy(code.data() + slot * kInsnSize, &i, kInsnSize);
}

struct SectionInfo {
  std::size_t index = 0;
  std::string name;
  GElf_Shdr hdr{};
  std::span<const uint8_t> bytes;  // in the input; empty for SHT_NOBITS and SHT_NULL

  bool exec() const { return hdr.sh_type == SHT_PROGBITS && (hdr.sh_flags & SHF_EXECINSTR); }
};

struct SymbolInfo {
  std::string name;
  uint8_t type = STT_NOTYPE;
  uint16_t shndx = SHN_UNDEF;
  uint64_t value = 0, size = 0;          // in the input
  uint64_t new_value = 0, new_size = 0;  // in the output
};

// One function of an executable section, in the input's slots.
struct FunctionSpan {
  std::string name;
  std::size_t start = 0;
  std::size_t size = 0;
  const FunctionEdit* edit = nullptr;
  std::size_t end() const { return start + size; }
};

struct RelocRef {
  std::size_t rel_section = 0;  // the SHT_REL section holding it
  std::size_t entry = 0;        // its index there
  uint64_t offset = 0;          // r_offset in the input
  uint32_t sym = 0;
  uint32_t type = 0;
};

// An executable section: where each of its input slots goes, and its output bytes.
struct CodeSection {
  std::size_t index = 0;
  std::string name;
  std::size_t old_slots = 0;
  std::vector<FunctionSpan> functions;  // ordered by start
  bool edited = false;
  // Per input slot: whether it is kept. prefix[s] is the number of kept slots before s, which is
  // the output slot of a kept s and, for a removed s, the output slot of the next kept one;
  // prefix[old_slots] is the output size.
  std::vector<bool> kept;
  std::vector<std::size_t> prefix;
  std::vector<std::size_t> old_of_new;  // per output slot: the input slot it came from
  std::vector<uint8_t> data;            // the output bytes
  bool changed = false;
  std::map<uint64_t, RelocRef> relocs;  // by r_offset in the input

  const FunctionSpan* containing(std::size_t slot) const {
    auto it = std::upper_bound(functions.begin(), functions.end(), slot,
                               [](std::size_t s, const FunctionSpan& f) { return s < f.start; });
    if (it == functions.begin()) return nullptr;
    --it;
    return slot < it->end() ? &*it : nullptr;
  }
  bool starts_function(std::size_t slot) const {
    const FunctionSpan* f = containing(slot);
    return f && f->start == slot;
  }
  // The output slot of input slot `slot` (or the end of the section).
  std::size_t moved(std::size_t slot) const { return edited ? prefix[slot] : slot; }
  bool is_kept(std::size_t slot) const { return !edited || kept[slot]; }
};

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

// A file for libelf to write into: memory-backed when the kernel allows, else an unnamed file in
// /tmp. Either way nothing the user sees is created.
UniqueFd scratch_file() {
  int fd = ::memfd_create("tristate-elf-writer", MFD_CLOEXEC);
  if (fd < 0) fd = ::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) throw InternalError(std::string("elf writer: cannot create a scratch file: ") + std::strerror(errno));
  return UniqueFd(fd);
}

class Writer {
 public:
  Writer(std::span<const uint8_t> input, std::string name)
      : input_(input), name_(std::move(name)), handle_(ElfHandle::from_memory(input)) {}

  std::vector<uint8_t> run(const Module& module, const std::vector<FunctionEdit>& edits) {
    read_sections();
    read_symbols();
    read_code(module);
    apply_edits(edits);
    move_symbols();
    move_relocations();
    fix_calls();
    rewrite_btf_ext();
    for (auto& [index, cs] : code_)
      if (cs.changed) replaced_[index] = std::move(cs.data);
    return write();
  }

 private:
  InputError error(const FunctionSpan* f, std::optional<std::size_t> slot, const std::string& reason) const {
    Location where{name_, f ? f->name : std::string(), {}};
    if (f && slot) where.insn = *slot - f->start;
    return InputError(std::move(where), reason);
  }

  void read_sections() {
    Elf* e = handle_.get();
    if (!gelf_getehdr(e, &ehdr_)) throw InputError("cannot read the ELF header: " + elf_error_message());
    std::size_t shnum = 0, shstrndx = 0;
    if (elf_getshdrnum(e, &shnum) != 0 || elf_getshdrstrndx(e, &shstrndx) != 0)
      throw InputError("cannot read the section table: " + elf_error_message());
    if (shnum >= SHN_LORESERVE || shstrndx >= SHN_LORESERVE)
      throw InputError("objects with " + std::to_string(shnum) + " sections (extended numbering) are not supported");
    sections_.resize(shnum);
    replaced_.resize(shnum);
    for (std::size_t i = 0; i < shnum; ++i) {
      SectionInfo& s = sections_[i];
      s.index = i;
      Elf_Scn* scn = elf_getscn(e, i);
      if (!scn || !gelf_getshdr(scn, &s.hdr))
        throw InputError("cannot read section header " + std::to_string(i) + ": " + elf_error_message());
      if (i == 0) continue;
      const char* n = elf_strptr(e, shstrndx, s.hdr.sh_name);
      s.name = n ? printable(n) : std::string();
      if (s.hdr.sh_type != SHT_NOBITS && s.hdr.sh_type != SHT_NULL) {
        if (!fits(s.hdr.sh_offset, s.hdr.sh_size, input_.size()))
          throw InputError("section " + s.name + " lies outside the file");
        s.bytes = input_.subspan(s.hdr.sh_offset, s.hdr.sh_size);
      }
    }
  }

  void read_symbols() {
    for (const auto& s : sections_)
      if (s.hdr.sh_type == SHT_SYMTAB) symtab_ = s.index;
    if (!symtab_) throw InputError("no symbol table");
    const SectionInfo& st = sections_[*symtab_];
    const std::size_t n = st.bytes.size() / kSymSize;
    symbols_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = i * kSymSize;
      SymbolInfo& s = symbols_[i];
      const char* nm = elf_strptr(handle_.get(), st.hdr.sh_link, get32(st.bytes, at));
      s.name = nm ? printable(nm) : std::string();
      s.type = GELF_ST_TYPE(st.bytes[at + 4]);
      s.shndx = get16(st.bytes, at + 6);
      s.new_value = s.value = get64(st.bytes, at + 8);
      s.new_size = s.size = get64(st.bytes, at + 16);
      if (s.type == STT_SECTION && s.shndx < sections_.size()) s.name = sections_[s.shndx].name;
    }
  }

  // The executable section a symbol is defined in, if it is one.
  CodeSection* code_of(const SymbolInfo& s) {
    if (s.shndx == SHN_UNDEF || s.shndx >= SHN_LORESERVE) return nullptr;
    auto it = code_.find(s.shndx);
    return it == code_.end() ? nullptr : &it->second;
  }

  void read_code(const Module& module) {
    std::unordered_map<std::string, std::vector<std::size_t>> by_name;
    for (const auto& s : sections_) {
      if (!s.exec()) continue;
      if (s.bytes.size() % kInsnSize) throw InputError("section " + s.name + " is not a whole number of instructions");
      CodeSection& cs = code_[s.index];
      cs.index = s.index;
      cs.name = s.name;
      cs.old_slots = s.bytes.size() / kInsnSize;
      cs.data.assign(s.bytes.begin(), s.bytes.end());
      by_name[s.name].push_back(s.index);
    }
    auto add = [&](const Function& f) {
      auto it = by_name.find(f.section);
      if (it == by_name.end()) throw InternalError("elf writer: function " + f.name + " is in no executable section");
      if (it->second.size() > 1) {
        ambiguous_.insert(f.section);
        return;  // only an error if an edit names the section
      }
      code_[it->second.front()].functions.push_back({f.name, f.section_offset, f.insns.size(), nullptr});
    };
    for (const Program& p : module.programs) add(p.entry);
    for (const Function& f : module.subprograms) add(f);
    for (auto& [index, cs] : code_)
      std::sort(cs.functions.begin(), cs.functions.end(),
                [](const FunctionSpan& a, const FunctionSpan& b) { return a.start < b.start; });
    for (const auto& s : sections_) {
      if (s.hdr.sh_type != SHT_REL || !code_.count(s.hdr.sh_info)) continue;
      CodeSection& cs = code_[s.hdr.sh_info];
      for (std::size_t i = 0; i < s.bytes.size() / kRelSize; ++i) {
        const uint64_t info = get64(s.bytes, i * kRelSize + 8);
        RelocRef r{s.index, i, get64(s.bytes, i * kRelSize), uint32_t(info >> 32), uint32_t(info)};
        if (r.sym >= symbols_.size())
          throw InputError(s.name + ": relocation " + std::to_string(i) + " names no symbol");
        if (!cs.relocs.emplace(r.offset, r).second)
          throw InputError(s.name + ": two relocations at offset " + std::to_string(r.offset));
      }
    }
  }

  void apply_edits(const std::vector<FunctionEdit>& edits) {
    for (const FunctionEdit& ed : edits) {
      if (ambiguous_.count(ed.section)) throw InputError("more than one executable section is named " + ed.section);
      CodeSection* cs = nullptr;
      for (auto& [index, c] : code_)
        if (c.name == ed.section) cs = &c;
      if (!cs) throw InputError("edit of section " + ed.section + ", which is not an executable section of the object");
      auto it = std::find_if(cs->functions.begin(), cs->functions.end(),
                             [&](const FunctionSpan& f) { return f.start == ed.section_offset; });
      if (it == cs->functions.end())
        throw InputError("edit at instruction " + std::to_string(ed.section_offset) + " of section " + ed.section +
                         ", where no function starts");
      FunctionSpan& f = *it;
      if (f.edit) throw error(&f, {}, "two edits of this function");
      if (ed.old_size != f.size)
        throw error(&f, {}, "edit says the function has " + std::to_string(ed.old_size) + " instructions; it has " +
                                std::to_string(f.size));
      if (ed.old_to_new.size() != f.size)
        throw error(&f, {}, "old_to_new has " + std::to_string(ed.old_to_new.size()) + " entries for a function of " +
                                std::to_string(f.size) + " instructions");
      if (ed.insns.empty()) throw error(&f, {}, "the new body is empty");
      auto at = [&](std::size_t k) {
        return "old_to_new[" + std::to_string(k) + "] = " + std::to_string(ed.old_to_new[k]);
      };
      std::optional<std::size_t> last;  // the last kept slot
      for (std::size_t k = 0; k < f.size; ++k) {
        const std::ptrdiff_t v = ed.old_to_new[k];
        if (v == -1) continue;
        if (v < 0) throw error(&f, f.start + k, at(k) + ": must be a new slot or -1");
        if (last && v <= ed.old_to_new[*last])
          throw error(&f, f.start + k, at(k) + " after " + at(*last) + ": not monotone");
        last = k;
      }
      std::size_t next = 0;  // the new slot the next kept slot must become
      for (std::size_t k = 0; k < f.size; ++k) {
        if (ed.old_to_new[k] == -1) continue;
        if (std::size_t(ed.old_to_new[k]) != next)
          throw error(&f, f.start + k, at(k) + " skips new slot " + std::to_string(next) +
                                           ": the new body holds the kept slots in order, with no gaps");
        ++next;
      }
      if (next != ed.insns.size())
        throw error(&f, {}, "old_to_new keeps " + std::to_string(next) + " slots but the new body has " +
                                std::to_string(ed.insns.size()) + " instructions");
      f.edit = &ed;
      cs->edited = true;
    }
    for (auto& [index, cs] : code_) {
      if (!cs.edited) continue;
      cs.kept.assign(cs.old_slots, true);
      for (const FunctionSpan& f : cs.functions)
        if (f.edit)
          for (std::size_t k = 0; k < f.size; ++k) cs.kept[f.start + k] = f.edit->old_to_new[k] >= 0;
      cs.prefix.assign(cs.old_slots + 1, 0);
      for (std::size_t s = 0; s < cs.old_slots; ++s) cs.prefix[s + 1] = cs.prefix[s] + (cs.kept[s] ? 1 : 0);
      const std::span<const uint8_t> old = sections_[cs.index].bytes;
      std::vector<uint8_t> data;
      data.reserve(cs.prefix.back() * kInsnSize);
      std::size_t s = 0;
      auto fn = cs.functions.begin();
      while (s < cs.old_slots) {
        while (fn != cs.functions.end() && fn->start < s) ++fn;
        if (fn != cs.functions.end() && fn->start == s && fn->edit) {
          const FunctionEdit& ed = *fn->edit;
          const auto* body = reinterpret_cast<const uint8_t*>(ed.insns.data());
          data.insert(data.end(), body, body + ed.insns.size() * kInsnSize);
          for (std::size_t k = 0; k < fn->size; ++k)
            if (ed.old_to_new[k] >= 0) cs.old_of_new.push_back(s + k);
          s += fn->size;
        } else {
          data.insert(data.end(), old.begin() + std::ptrdiff_t(s * kInsnSize),
                      old.begin() + std::ptrdiff_t((s + 1) * kInsnSize));
          cs.old_of_new.push_back(s);
          ++s;
        }
      }
      if (data.size() != cs.prefix.back() * kInsnSize || cs.old_of_new.size() != cs.prefix.back())
        throw InternalError("elf writer: section " + cs.name + " laid out inconsistently");
      cs.data = std::move(data);
      cs.changed = true;
    }
  }

  void move_symbols() {
    bool any = false;
    for (SymbolInfo& s : symbols_) {
      CodeSection* cs = code_of(s);
      if (!cs || !cs->edited || s.type == STT_SECTION) continue;
      const std::string what = "symbol " + s.name + " in section " + cs->name;
      if (s.value % kInsnSize || s.size % kInsnSize || !fits(s.value, s.size, cs->old_slots * kInsnSize))
        throw InputError(what + ": offset " + std::to_string(s.value) + " and size " + std::to_string(s.size) +
                         " do not lie on instructions of the section");
      const std::size_t first = s.value / kInsnSize, end = first + s.size / kInsnSize;
      // A label on a removed slot moves to the next kept one, where a jump to it now lands.
      s.new_value = cs->prefix[first] * kInsnSize;
      s.new_size = (cs->prefix[end] - cs->prefix[first]) * kInsnSize;
      any = any || s.new_value != s.value || s.new_size != s.size;
    }
    if (!any) return;
    const SectionInfo& st = sections_[*symtab_];
    std::vector<uint8_t> bytes(st.bytes.begin(), st.bytes.end());
    for (std::size_t i = 0; i < symbols_.size(); ++i) {
      put64(bytes, i * kSymSize + 8, symbols_[i].new_value);
      put64(bytes, i * kSymSize + 16, symbols_[i].new_size);
    }
    replaced_[*symtab_] = std::move(bytes);
  }

  std::vector<uint8_t>& replaced(std::size_t section) {
    const auto& old = sections_[section].bytes;
    if (!replaced_[section]) replaced_[section].emplace(old.begin(), old.end());
    return *replaced_[section];
  }

  void move_relocations() {
    std::map<std::size_t, std::set<std::size_t>> dropped;  // per SHT_REL section: entries dropped
    for (auto& [index, cs] : code_) {
      if (!cs.edited) continue;
      for (const auto& [offset, r] : cs.relocs) {
        const std::size_t slot = offset / kInsnSize;
        if (offset % kInsnSize || slot >= cs.old_slots)
          throw InputError(sections_[r.rel_section].name + ": relocation at offset " + std::to_string(offset) +
                           " is not on an instruction of section " + cs.name);
        const FunctionSpan* f = cs.containing(slot);
        const std::string what =
            "relocation (type " + std::to_string(r.type) + " against " + symbols_[r.sym].name + ")";
        if (!cs.kept[slot]) {
          // A map or global-data load the edit removes (tail merging removes repeated code) takes
          // its relocation with it; anything else removed under a relocation is refused.
          if (insn_at(sections_[cs.index].bytes, slot).opcode == kLdImm64 && !code_of(symbols_[r.sym])) {
            dropped[r.rel_section].insert(r.entry);
            continue;
          }
          throw error(f, slot, what + " on an instruction the edit removes");
        }
        const Insn before = insn_at(sections_[cs.index].bytes, slot), after = insn_at(cs.data, cs.prefix[slot]);
        if (before.opcode != after.opcode)
          throw error(f, slot, what + " on an instruction whose opcode the edit changes (" +
                                   std::to_string(before.opcode) + " to " + std::to_string(after.opcode) + ")");
        put64(replaced(r.rel_section), r.entry * kRelSize, uint64_t(cs.prefix[slot]) * kInsnSize);
      }
    }
    for (const auto& [section, entries] : dropped) {
      const std::vector<uint8_t>& old = replaced(section);
      std::vector<uint8_t> bytes;
      for (std::size_t i = 0; i < old.size() / kRelSize; ++i)
        if (!entries.count(i))
          bytes.insert(bytes.end(), old.begin() + std::ptrdiff_t(i * kRelSize), old.begin() + std::ptrdiff_t((i + 1) * kRelSize));
      replaced_[section] = std::move(bytes);
    }
  }

  // Where a call or function pointer aimed at input slot `target` of `cs` lands in the output.
  std::size_t moved_target(const CodeSection& cs, int64_t target, const FunctionSpan* from, std::size_t slot) const {
    if (target < 0 || uint64_t(target) >= cs.old_slots)
      throw error(from, slot, "call or function pointer to slot " + std::to_string(target) + " of section " + cs.name +
                                  ", which has " + std::to_string(cs.old_slots) + " instructions");
    if (!cs.is_kept(std::size_t(target)) && !cs.starts_function(std::size_t(target)))
      throw error(from, slot, "call or function pointer to slot " + std::to_string(target) + " of section " + cs.name +
                                  ", an instruction the edit removes");
    return cs.moved(std::size_t(target));
  }

  int32_t checked_imm(int64_t v, const FunctionSpan& f, std::size_t slot) const {
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
      throw error(&f, slot, "the moved call or function pointer target is out of reach of a 32-bit immediate");
    return int32_t(v);
  }

  // Calls and function-pointer loads, in every executable section, whose target moved.
  void fix_calls() {
    for (auto& [index, cs] : code_) {
      for (const FunctionSpan& f : cs.functions) {
        const std::size_t new_begin = cs.moved(f.start), new_end = cs.moved(f.end());
        for (std::size_t j = new_begin; j < new_end; ++j) {
          const std::size_t old = cs.edited ? cs.old_of_new[j] : j;
          Insn insn = insn_at(cs.data, j);
          const bool ld = insn.opcode == kLdImm64;
          const bool call = insn.opcode == kCall && insn.src == bpf::PSEUDO_CALL;
          auto rel = cs.relocs.find(uint64_t(old) * kInsnSize);
          if (rel != cs.relocs.end()) {
            const RelocRef& r = rel->second;
            const SymbolInfo& sym = symbols_[r.sym];
            const CodeSection* target = code_of(sym);
            if (target && (ld || call)) {
              const uint32_t want = ld ? kRelocLdImm64 : kRelocCall;
              if (r.type != want && (target->edited || cs.edited))
                throw error(&f, old, "relocation type " + std::to_string(r.type) + " against " + sym.name + " on a " +
                                         (ld ? "function pointer load" : "call") +
                                         " is not one the writer knows how to move (expected " +
                                         std::to_string(want) + ")");
              if (target->edited) {
                if (ld && (int64_t(sym.value) + insn.imm) % int64_t(kInsnSize) != 0)
                  throw error(&f, old, "function pointer to " + sym.name + " + " + std::to_string(insn.imm) +
                                           " is not on an instruction");
                // libbpf 1.1: a call goes to sym/8 + imm + 1, a function pointer to (sym + imm)/8.
                const int64_t t = ld ? (int64_t(sym.value) + insn.imm) / int64_t(kInsnSize)
                                     : int64_t(sym.value / kInsnSize) + insn.imm + 1;
                const int64_t nt = int64_t(moved_target(*target, t, &f, old));
                const int64_t imm = ld ? nt * int64_t(kInsnSize) - int64_t(sym.new_value)
                                       : nt - int64_t(sym.new_value / kInsnSize) - 1;
                insn.imm = checked_imm(imm, f, old);
                set_insn(cs.data, j, insn);
                cs.changed = true;
              }
            }
          } else if ((call || (ld && insn.src == bpf::PSEUDO_FUNC)) && cs.edited) {
            // Unrelocated: relative to the instruction's own position in the section.
            const int64_t t = int64_t(old) + insn.imm + 1;
            const bool local = t >= int64_t(f.start) && t < int64_t(f.end());  // the edit's own business
            if (!local) {
              const int64_t nt = int64_t(moved_target(cs, t, &f, old));
              insn.imm = checked_imm(nt - int64_t(j) - 1, f, old);
              set_insn(cs.data, j, insn);
            }
          }
          if (ld) ++j;  // the second half of the pair
        }
      }
    }
  }

  // ---- .BTF.ext -----------------------------------------------------------------------------
  //
  // Three info areas (func_info, line_info, CO-RE relocations), each a record size followed by
  // blocks of {section name in .BTF strings, record count, records}; every record starts with
  // the byte offset of its instruction in that section. The section is rebuilt area by area;
  // `btf_moved_` and `btf_dropped_` say where each input byte range went, for .rel.BTF.ext.

  struct Chunk {
    uint64_t to = 0;
    uint64_t len = 0;
  };

  void chunk(uint64_t from, uint64_t to, uint64_t len) { btf_moved_[from] = {to, len}; }

  std::optional<uint64_t> btf_position(uint64_t from, bool& dropped) const {
    dropped = false;
    auto it = btf_moved_.upper_bound(from);
    if (it != btf_moved_.begin() && from < std::prev(it)->first + std::prev(it)->second.len)
      return std::prev(it)->second.to + (from - std::prev(it)->first);
    auto d = btf_dropped_.upper_bound(from);
    if (d != btf_dropped_.begin() && from < std::prev(d)->first + std::prev(d)->second) dropped = true;
    return std::nullopt;
  }

  enum class Area { FuncInfo, LineInfo, CoreRelo };

  // The records of one block of an edited section: {input position, output slot} of those kept.
  std::vector<std::pair<std::size_t, std::size_t>> move_records(Area area, const CodeSection& cs,
                                                               std::span<const uint8_t> ext, std::size_t first,
                                                               std::size_t count, std::size_t rec) const {
    struct Out {
      std::size_t pos, slot;
      bool own;
    };
    std::vector<Out> out;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t pos = first + i * rec;
      const uint32_t off = get32(ext, pos);
      const std::size_t s = off / kInsnSize;
      if (off % kInsnSize || s >= cs.old_slots)
        throw InputError(".BTF.ext: a record of section " + cs.name + " is at byte " + std::to_string(off) +
                         ", which is not an instruction of the section");
      const FunctionSpan* f = cs.containing(s);
      if (cs.kept[s]) {
        out.push_back({pos, cs.prefix[s], true});
        continue;
      }
      switch (area) {
        case Area::FuncInfo:
          if (!cs.starts_function(s)) throw error(f, s, ".BTF.ext func_info record on an instruction the edit removes");
          out.push_back({pos, cs.prefix[s], true});
          break;
        case Area::CoreRelo:
          throw error(f, s, ".BTF.ext CO-RE relocation on an instruction the edit removes");
        case Area::LineInfo:
          // To the next kept slot, if the function has one.
          if (f && cs.prefix[f->end()] > cs.prefix[s]) out.push_back({pos, cs.prefix[s], false});
          break;
      }
    }
    // Of the records landing on one slot, the slot's own record wins; else the last one moved
    // there, which is the line the slot belonged to. Slots never decrease along `out`.
    std::vector<std::pair<std::size_t, std::size_t>> kept;
    for (std::size_t i = 0; i < out.size();) {
      std::size_t k = i;
      bool own = false;
      for (; k < out.size() && out[k].slot == out[i].slot; ++k) own = own || out[k].own;
      for (std::size_t m = i; m < k; ++m)
        if (own ? out[m].own : m + 1 == k) kept.push_back({out[m].pos, out[m].slot});
      i = k;
    }
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
      return a.second < b.second || (a.second == b.second && a.first < b.first);
    });
    return kept;
  }

  void rewrite_btf_ext() {
    const SectionInfo* ext_sec = find_section(".BTF.ext");
    const SectionInfo* btf_sec = find_section(".BTF");
    if (!ext_sec || !btf_sec) return;
    bool edited = false;
    for (const auto& [index, cs] : code_) edited = edited || cs.edited;
    if (!edited) return;
    const std::span<const uint8_t> ext = ext_sec->bytes, btf = btf_sec->bytes;
    auto bad = [](const std::string& why) { return InputError(".BTF.ext: " + why); };
    if (btf.size() < 24 || ext.size() < 24) throw bad("too short");
    const uint32_t btf_hdr = get32(btf, 4), str_off = get32(btf, 16), str_len = get32(btf, 20);
    if (!fits(uint64_t(btf_hdr) + str_off, str_len, btf.size()))
      throw InputError(".BTF: string area outside the section");
    const auto strings = btf.subspan(btf_hdr + str_off, str_len);
    auto string_at = [&](uint32_t off) {
      if (off >= strings.size()) throw bad("section name outside the .BTF strings");
      const auto* c = reinterpret_cast<const char*>(strings.data()) + off;
      return std::string(c, strnlen(c, strings.size() - off));
    };
    std::unordered_map<std::string, const CodeSection*> edited_by_name;
    for (const auto& [index, cs] : code_)
      if (cs.edited) edited_by_name[cs.name] = &cs;

    const uint32_t hdr_len = get32(ext, 4);
    if (hdr_len < 24 || hdr_len > ext.size()) throw bad("header length " + std::to_string(hdr_len) + " is invalid");
    const std::size_t areas = hdr_len >= 32 ? 3 : 2;
    std::vector<uint8_t> out(ext.begin(), ext.begin() + hdr_len);
    chunk(0, 0, hdr_len);
    for (std::size_t a = 0; a < areas; ++a) {
      const Area area = static_cast<Area>(a);
      const std::size_t field = 8 + 8 * a;
      const uint32_t off = get32(ext, field), len = get32(ext, field + 4);
      const std::size_t new_start = out.size();
      if (len != 0) {
        if (!fits(uint64_t(hdr_len) + off, len, ext.size()) || len < 4)
          throw bad("an info area lies outside the section");
        const std::size_t begin = hdr_len + off, end = begin + len;
        const uint32_t rec = get32(ext, begin);
        if (rec < 4 || rec % 4) throw bad("record size " + std::to_string(rec) + " is invalid");
        chunk(begin, out.size(), 4);
        append32(out, rec);
        std::size_t pos = begin + 4;
        while (pos < end) {
          if (end - pos < 8) throw bad("a block header is cut off");
          const uint32_t name_off = get32(ext, pos), count = get32(ext, pos + 4);
          const std::size_t first = pos + 8;
          if (uint64_t(count) * rec > end - first) throw bad("records run past the end of their area");
          const std::size_t next = first + std::size_t(count) * rec;
          auto it = edited_by_name.find(string_at(name_off));
          if (it == edited_by_name.end()) {
            chunk(pos, out.size(), next - pos);
            out.insert(out.end(), ext.begin() + std::ptrdiff_t(pos), ext.begin() + std::ptrdiff_t(next));
          } else {
            const auto records = move_records(area, *it->second, ext, first, count, rec);
            for (std::size_t i = 0; i < count; ++i) btf_dropped_[first + i * rec] = rec;
            if (records.empty()) {
              btf_dropped_[pos] = 8;
            } else {
              chunk(pos, out.size(), 8);
              append32(out, name_off);
              append32(out, uint32_t(records.size()));
              for (const auto& [from, slot] : records) {
                btf_dropped_.erase(from);
                chunk(from, out.size(), rec);
                const std::size_t at = out.size();
                out.insert(out.end(), ext.begin() + std::ptrdiff_t(from), ext.begin() + std::ptrdiff_t(from + rec));
                put32(out, at, uint32_t(slot * kInsnSize));
              }
            }
          }
          pos = next;
        }
      }
      put32(out, field, uint32_t(new_start - hdr_len));
      put32(out, field + 4, uint32_t(out.size() - new_start));
    }
    replaced_[ext_sec->index] = std::move(out);

    // .rel.BTF.ext: one entry per record offset field (libbpf skips it; linkers may not).
    for (const auto& s : sections_) {
      if (s.hdr.sh_type != SHT_REL || s.hdr.sh_info != ext_sec->index) continue;
      std::vector<std::pair<uint64_t, std::size_t>> entries;  // new offset, input entry
      for (std::size_t i = 0; i < s.bytes.size() / kRelSize; ++i) {
        const uint64_t from = get64(s.bytes, i * kRelSize);
        bool dropped = false;
        const auto to = btf_position(from, dropped);
        if (to)
          entries.push_back({*to, i});
        else if (!dropped)
          throw InputError(s.name + ": relocation at offset " + std::to_string(from) + " is not in a .BTF.ext record");
      }
      std::sort(entries.begin(), entries.end());
      std::vector<uint8_t> bytes;
      for (const auto& [to, i] : entries) {
        const std::size_t at = bytes.size();
        bytes.insert(bytes.end(), s.bytes.begin() + std::ptrdiff_t(i * kRelSize),
                     s.bytes.begin() + std::ptrdiff_t((i + 1) * kRelSize));
        put64(bytes, at, to);
      }
      replaced_[s.index] = std::move(bytes);
    }
  }

  const SectionInfo* find_section(const std::string& name) const {
    for (const auto& s : sections_)
      if (s.index != 0 && s.name == name) return &s;
    return nullptr;
  }

  // ---- output -------------------------------------------------------------------------------

  // A new file with the input's header and sections, in the input's order, with the replaced
  // contents; libelf computes offsets and sizes.
  std::vector<uint8_t> write() {
    UniqueFd fd = scratch_file();
    std::unique_ptr<Elf, ElfCloser> e(elf_begin(fd.get(), ELF_C_WRITE, nullptr));
    auto fail = [](const std::string& what) {
      return InternalError("elf writer: " + what + ": " + elf_error_message());
    };
    if (!e) throw fail("elf_begin");
    if (!gelf_newehdr(e.get(), ELFCLASS64)) throw fail("gelf_newehdr");
    for (std::size_t i = 1; i < sections_.size(); ++i) {
      const SectionInfo& s = sections_[i];
      Elf_Scn* scn = elf_newscn(e.get());
      if (!scn || elf_ndxscn(scn) != i) throw fail("elf_newscn for section " + s.name);
      GElf_Shdr hdr = s.hdr;
      hdr.sh_offset = 0;
      const std::span<const uint8_t> bytes = replaced_[i] ? std::span<const uint8_t>(*replaced_[i]) : s.bytes;
      if (s.hdr.sh_type != SHT_NOBITS) hdr.sh_size = bytes.size();
      if (!gelf_update_shdr(scn, &hdr)) throw fail("gelf_update_shdr for section " + s.name);
      if (s.hdr.sh_type == SHT_NULL) continue;
      Elf_Data* d = elf_newdata(scn);
      if (!d) throw fail("elf_newdata for section " + s.name);
      // libelf only reads the buffer, during elf_update below.
      d->d_buf = s.hdr.sh_type == SHT_NOBITS ? nullptr : const_cast<uint8_t*>(bytes.data());
      d->d_size = s.hdr.sh_type == SHT_NOBITS ? s.hdr.sh_size : bytes.size();
      d->d_type = ELF_T_BYTE;
      d->d_off = 0;
      d->d_align = std::max<uint64_t>(1, s.hdr.sh_addralign);
      d->d_version = EV_CURRENT;
    }
    GElf_Ehdr ehdr = ehdr_;
    ehdr.e_shoff = 0;
    ehdr.e_phoff = 0;
    ehdr.e_phnum = 0;
    ehdr.e_shnum = uint16_t(sections_.size());
    if (!gelf_update_ehdr(e.get(), &ehdr)) throw fail("gelf_update_ehdr");
    const off_t size = elf_update(e.get(), ELF_C_WRITE);
    if (size < 0) throw fail("elf_update");
    e.reset();
    std::vector<uint8_t> out(std::size_t(size), 0);
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd.get(), out.data() + done, out.size() - done, off_t(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw InternalError(std::string("elf writer: cannot read the scratch file: ") + std::strerror(errno));
      if (n == 0) break;  // a NOBITS tail: zeros
      done += std::size_t(n);
    }
    return out;
  }

  std::span<const uint8_t> input_;
  std::string name_;
  ElfHandle handle_;
  GElf_Ehdr ehdr_{};
  std::vector<SectionInfo> sections_;
  std::vector<std::optional<std::vector<uint8_t>>> replaced_;  // per section: its new bytes
  std::optional<std::size_t> symtab_;
  std::vector<SymbolInfo> symbols_;
  std::map<std::size_t, CodeSection> code_;  // by section index
  std::set<std::string> ambiguous_;          // executable section names used twice
  std::map<uint64_t, Chunk> btf_moved_;      // .BTF.ext: input position -> output
  std::map<uint64_t, uint64_t> btf_dropped_; // .BTF.ext: input ranges left out
};

}  // namespace

std::vector<uint8_t> rewrite_elf(std::span<const uint8_t> input, const std::string& name,
                                 const std::vector<FunctionEdit>& edits) {
  // Reading validates the whole input (and says where it is bad) and lists its functions.
  const Module module = read_elf_memory(input, name);
  std::vector<uint8_t> out;
  try {
    out = Writer(input, name).run(module, edits);
  } catch (const InputError& e) {
    throw e.within(Location{name, {}, {}});
  }
  // The output must read back: every image decodes, every jump and call lands on an instruction.
  try {
    (void)read_elf_memory(out, name);
  } catch (const InputError& e) {
    throw InputError(e.where(), "the edited object is not valid: " + e.reason());
  }
  return out;
}

}  // namespace tristate
