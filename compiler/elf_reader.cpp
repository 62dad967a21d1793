#include "compiler/elf_reader.hpp"

#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "compiler/isa.hpp"

namespace tristate {

namespace {

constexpr uint16_t kEmBpf = 247;
constexpr std::size_t kInsnSize = sizeof(Insn);

// Little-endian loads from bytes already known to be in range.
uint16_t le16(std::span<const uint8_t> b, std::size_t off) { return uint16_t(b[off] | b[off + 1] << 8); }
uint32_t le32(std::span<const uint8_t> b, std::size_t off) {
  return uint32_t(b[off]) | uint32_t(b[off + 1]) << 8 | uint32_t(b[off + 2]) << 16 | uint32_t(b[off + 3]) << 24;
}
uint64_t le64(std::span<const uint8_t> b, std::size_t off) { return le32(b, off) | uint64_t(le32(b, off + 4)) << 32; }

// start + len <= limit, without overflow.
bool fits(uint64_t start, uint64_t len, uint64_t limit) { return start <= limit && len <= limit - start; }

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---- the ELF file header, checked on the raw bytes before libelf sees them --------------------

void check_file_header(std::span<const uint8_t> b) {
  if (b.empty()) throw InputError("empty file");
  if (b.size() < 4 || std::memcmp(b.data(), ELFMAG, SELFMAG) != 0) throw InputError("not an ELF file (bad magic bytes)");
  if (b.size() < sizeof(Elf64_Ehdr))
    throw InputError("truncated: " + std::to_string(b.size()) + " bytes is too short for an ELF header");
  if (b[EI_CLASS] != ELFCLASS64)
    throw InputError("not a 64-bit ELF file (class " + std::to_string(b[EI_CLASS]) + "); BPF objects are ELF64");
  if (b[EI_DATA] == ELFDATA2MSB) throw InputError("big-endian ELF; only little-endian BPF objects are supported");
  if (b[EI_DATA] != ELFDATA2LSB) throw InputError("invalid ELF data encoding " + std::to_string(b[EI_DATA]));
  if (b[EI_VERSION] != EV_CURRENT) throw InputError("unknown ELF version " + std::to_string(b[EI_VERSION]));
  const uint16_t type = le16(b, offsetof(Elf64_Ehdr, e_type));
  const uint16_t machine = le16(b, offsetof(Elf64_Ehdr, e_machine));
  if (machine != kEmBpf)
    throw InputError("not a BPF object: ELF machine " + std::to_string(machine) + " (BPF is EM_BPF = 247)");
  if (type != ET_REL)
    throw InputError("not a relocatable object (ELF type " + std::to_string(type) + "); expected a .o as clang writes it");
  const uint64_t shoff = le64(b, offsetof(Elf64_Ehdr, e_shoff));
  const uint16_t shentsize = le16(b, offsetof(Elf64_Ehdr, e_shentsize));
  uint64_t shnum = le16(b, offsetof(Elf64_Ehdr, e_shnum));
  if (shoff == 0) throw InputError("no section header table");
  if (shentsize != sizeof(Elf64_Shdr))
    throw InputError("section header entry size " + std::to_string(shentsize) + ", expected " +
                     std::to_string(sizeof(Elf64_Shdr)));
  if (!fits(shoff, sizeof(Elf64_Shdr), b.size()))
    throw InputError("section header table offset " + hex(shoff) + " is past the end of the file (" +
                     std::to_string(b.size()) + " bytes)");
  if (shnum == 0) shnum = le64(b, shoff + offsetof(Elf64_Shdr, sh_size));  // extended numbering
  if (shnum == 0 || shnum > (b.size() - shoff) / sizeof(Elf64_Shdr))
    throw InputError("section header table (" + std::to_string(shnum) + " entries at offset " + hex(shoff) +
                     ") does not fit in the file (" + std::to_string(b.size()) + " bytes)");
}

// ---- sections and symbols, read through libelf ------------------------------------------------

struct Section {
  std::size_t index = 0;
  std::string name;
  GElf_Shdr hdr{};
  std::span<const uint8_t> data;  // the bytes in the file; empty for SHT_NOBITS and SHT_NULL

  bool exec() const { return hdr.sh_type == SHT_PROGBITS && (hdr.sh_flags & SHF_EXECINSTR); }
  uint64_t size() const { return hdr.sh_size; }
};

struct Symbol {
  std::size_t index = 0;
  std::string name;  // for section symbols: the section's name
  uint8_t type = STT_NOTYPE;
  uint8_t bind = STB_LOCAL;
  uint16_t shndx = SHN_UNDEF;
  uint64_t value = 0;
  uint64_t size = 0;
  bool defined_in(std::size_t section) const { return shndx != SHN_UNDEF && shndx < SHN_LORESERVE && shndx == section; }
};

// Global data sections as libbpf recognises them: .data, .rodata, .bss and their .NAME variants.
enum class DataKind { None, Data, Rodata, Bss };

DataKind data_kind(const Section& s) {
  if (s.exec()) return DataKind::None;
  auto is = [&](const char* base) {
    const std::string b = base;
    return s.name == b || s.name.starts_with(b + ".");
  };
  if (s.hdr.sh_type == SHT_PROGBITS && is(".data")) return DataKind::Data;
  if (s.hdr.sh_type == SHT_PROGBITS && is(".rodata")) return DataKind::Rodata;
  if (s.hdr.sh_type == SHT_NOBITS && is(".bss")) return DataKind::Bss;
  return DataKind::None;
}

class ElfView {
 public:
  explicit ElfView(const ElfHandle& h) : h_(h) {
    Elf* e = h.get();
    std::size_t shnum = 0, shstrndx = 0;
    if (elf_getshdrnum(e, &shnum) != 0) throw InputError("cannot read the section count: " + elf_error_message());
    if (elf_getshdrstrndx(e, &shstrndx) != 0)
      throw InputError("cannot find the section name table: " + elf_error_message());
    if (shstrndx == SHN_UNDEF || shstrndx >= shnum)
      throw InputError("section name table index " + std::to_string(shstrndx) + " is out of range");
    const auto file = h.bytes();
    sections_.resize(shnum);
    for (std::size_t i = 0; i < shnum; ++i) {
      Section& s = sections_[i];
      s.index = i;
      Elf_Scn* scn = elf_getscn(e, i);
      if (!scn || !gelf_getshdr(scn, &s.hdr))
        throw InputError("cannot read section header " + std::to_string(i) + ": " + elf_error_message());
      if (i == 0) continue;
      if (s.hdr.sh_type != SHT_NOBITS && s.hdr.sh_type != SHT_NULL) {
        if (!fits(s.hdr.sh_offset, s.hdr.sh_size, file.size()))
          throw InputError("section " + std::to_string(i) + ": offset " + hex(s.hdr.sh_offset) + " + size " +
                           hex(s.hdr.sh_size) + " is past the end of the file (" + std::to_string(file.size()) +
                           " bytes)");
        s.data = file.subspan(s.hdr.sh_offset, s.hdr.sh_size);
      }
    }
    // Names only once every section is known to lie inside the file.
    if (sections_[shstrndx].hdr.sh_type != SHT_STRTAB)
      throw InputError("section name table (section " + std::to_string(shstrndx) + ") is not a string table");
    for (std::size_t i = 1; i < shnum; ++i) {
      const char* name = elf_strptr(e, shstrndx, sections_[i].hdr.sh_name);
      if (!name)
        throw InputError("section " + std::to_string(i) + ": name offset " + std::to_string(sections_[i].hdr.sh_name) +
                         " is outside the section name table");
      sections_[i].name = printable(name);
    }
    // libbpf keeps the last of several sections with one of these names, and this reader the
    // first; they must not disagree about which one they checked.
    for (const char* special : {".BTF", ".BTF.ext", ".maps", "maps", "license", "version", ".text", ".struct_ops",
                                ".struct_ops.link"})
      if (std::count_if(sections_.begin(), sections_.end(), [&](const Section& s) { return s.name == special; }) > 1)
        throw InputError(std::string("more than one section named ") + special);
    for (const auto& s : sections_) {
      if (s.exec() && s.size() % kInsnSize != 0)
        throw InputError("section " + s.name + ": size " + std::to_string(s.size()) +
                         " is not a multiple of 8 (the size of an instruction)");
      if (s.hdr.sh_type == SHT_SYMTAB) {
        if (symtab_) throw InputError("more than one symbol table");
        symtab_ = s.index;
      }
    }
    if (!symtab_) throw InputError("no symbol table (.symtab); BPF objects need one to name their programs");
    read_symbols();
    check_relocation_sections();
  }

  const std::vector<Section>& sections() const { return sections_; }
  const Section& section(std::size_t i) const { return sections_.at(i); }
  const std::vector<Symbol>& symbols() const { return symbols_; }
  std::size_t symtab_index() const { return *symtab_; }

  const Section* find(const std::string& name) const {
    for (const auto& s : sections_)
      if (s.index != 0 && s.name == name) return &s;
    return nullptr;
  }

  // The relocations of one section, each checked to name a real symbol and lie inside the section.
  std::vector<GElf_Rel> relocations_for(std::size_t target) const {
    std::vector<GElf_Rel> out;
    for (const auto& s : sections_) {
      if (s.hdr.sh_type != SHT_REL || s.hdr.sh_info != target) continue;
      Elf_Data* d = elf_getdata(elf_getscn(h_.get(), s.index), nullptr);
      if (!d && s.size() != 0) throw InputError("cannot read relocation section " + s.name + ": " + elf_error_message());
      const std::size_t n = s.size() / sizeof(Elf64_Rel);
      for (std::size_t i = 0; i < n; ++i) {
        GElf_Rel r;
        if (!gelf_getrel(d, int(i), &r))
          throw InputError(s.name + ": cannot read relocation " + std::to_string(i) + ": " + elf_error_message());
        const uint64_t sym = GELF_R_SYM(r.r_info);
        if (sym == 0 || sym >= symbols_.size())
          throw InputError(s.name + ": relocation " + std::to_string(i) + " names symbol " + std::to_string(sym) +
                           ", which does not exist (the symbol table has " + std::to_string(symbols_.size()) + ")");
        if (!fits(r.r_offset, 8, section(target).size()))
          throw InputError(s.name + ": relocation " + std::to_string(i) + " at offset " + hex(r.r_offset) +
                           " is outside section " + section(target).name + " (" + std::to_string(section(target).size()) +
                           " bytes)");
        out.push_back(r);
      }
    }
    return out;
  }

 private:
  void read_symbols() {
    const Section& st = sections_[*symtab_];
    if (st.hdr.sh_entsize != sizeof(Elf64_Sym) || st.size() % sizeof(Elf64_Sym) != 0)
      throw InputError("symbol table: entry size " + std::to_string(st.hdr.sh_entsize) + " and size " +
                       std::to_string(st.size()) + " do not describe an array of " +
                       std::to_string(sizeof(Elf64_Sym)) + "-byte symbols");
    if (st.hdr.sh_link == 0 || st.hdr.sh_link >= sections_.size() || sections_[st.hdr.sh_link].hdr.sh_type != SHT_STRTAB)
      throw InputError("symbol table: its string table (section " + std::to_string(st.hdr.sh_link) + ") is not a string table");
    Elf_Data* d = elf_getdata(elf_getscn(h_.get(), st.index), nullptr);
    const std::size_t n = st.size() / sizeof(Elf64_Sym);
    if (!d && n != 0) throw InputError("cannot read the symbol table: " + elf_error_message());
    symbols_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      GElf_Sym raw;
      if (!gelf_getsym(d, int(i), &raw)) throw InputError("cannot read symbol " + std::to_string(i) + ": " + elf_error_message());
      Symbol& s = symbols_[i];
      s.index = i;
      s.type = GELF_ST_TYPE(raw.st_info);
      s.bind = GELF_ST_BIND(raw.st_info);
      s.shndx = raw.st_shndx;
      s.value = raw.st_value;
      s.size = raw.st_size;
      const char* name = elf_strptr(h_.get(), st.hdr.sh_link, raw.st_name);
      if (!name)
        throw InputError("symbol " + std::to_string(i) + ": name offset " + std::to_string(raw.st_name) +
                         " is outside the string table");
      s.name = printable(name);
      if (s.shndx == SHN_XINDEX) throw InputError("symbol " + s.name + ": extended section indices are not supported");
      if (s.shndx >= SHN_LORESERVE && s.shndx != SHN_ABS && s.shndx != SHN_COMMON)
        throw InputError("symbol " + s.name + ": reserved section index " + hex(s.shndx));
      if (s.shndx < SHN_LORESERVE && s.shndx >= sections_.size())
        throw InputError("symbol " + (s.name.empty() ? std::to_string(i) : s.name) + ": section index " +
                         std::to_string(s.shndx) + " is out of range (" + std::to_string(sections_.size()) + " sections)");
      if (s.type == STT_SECTION && s.name.empty() && s.shndx != SHN_UNDEF && s.shndx < SHN_LORESERVE)
        s.name = sections_[s.shndx].name;
    }
  }

  void check_relocation_sections() const {
    for (const auto& s : sections_) {
      if (s.hdr.sh_type == SHT_RELA && s.hdr.sh_info < sections_.size() && sections_[s.hdr.sh_info].exec())
        throw InputError(s.name + ": RELA relocations on code; BPF objects use REL");
      if (s.hdr.sh_type != SHT_REL) continue;
      if (s.hdr.sh_link != *symtab_)
        throw InputError(s.name + ": relocations refer to section " + std::to_string(s.hdr.sh_link) +
                         ", which is not the symbol table");
      if (s.hdr.sh_info == 0 || s.hdr.sh_info >= sections_.size())
        throw InputError(s.name + ": relocates section " + std::to_string(s.hdr.sh_info) + ", which does not exist");
      if ((s.hdr.sh_entsize != 0 && s.hdr.sh_entsize != sizeof(Elf64_Rel)) || s.size() % sizeof(Elf64_Rel) != 0)
        throw InputError(s.name + ": size " + std::to_string(s.size()) + " is not an array of " +
                         std::to_string(sizeof(Elf64_Rel)) + "-byte relocations");
    }
    // libbpf reads the relocations of code and of map sections (map-in-map initialisers); each
    // relocated section is checked once, however many REL sections name it.
    std::vector<bool> checked(sections_.size(), false);
    for (const auto& s : sections_) {
      if (s.hdr.sh_type != SHT_REL || checked[s.hdr.sh_info]) continue;
      const Section& target = sections_[s.hdr.sh_info];
      if (target.exec() || target.name == ".maps" || target.name.starts_with(".struct_ops")) relocations_for(target.index);
      checked[target.index] = true;
    }
  }

  const ElfHandle& h_;
  std::vector<Section> sections_;
  std::vector<Symbol> symbols_;
  std::optional<std::size_t> symtab_;
};

// ---- BTF: checked before libbpf parses it ----------------------------------------------------
//
// libbpf 1.1 trusts type ids and chains it follows while opening an object (map definitions,
// externs); a corrupt .BTF can make it dereference NULL or loop forever. So the format is checked
// here first, from the BTF documentation (Documentation/bpf/btf.rst): header bounds, every type
// record inside the type area, every name inside the string area, every referenced type id
// defined, and no cycle of modifiers.

constexpr uint16_t kBtfMagic = 0xeB9F;
enum BtfKind : uint8_t {
  kUnknown = 0, kInt, kPtr, kArray, kStruct, kUnion, kEnum, kFwd, kTypedef, kVolatile, kConst, kRestrict,
  kFunc, kFuncProto, kVar, kDatasec, kFloat, kDeclTag, kTypeTag, kEnum64, kMaxKind = kEnum64,
};

struct BtfType {
  uint32_t name_off = 0;
  uint8_t kind = 0;
  uint16_t vlen = 0;
  uint32_t size_or_type = 0;
  std::size_t extra = 0;  // offset of the kind-specific data in the type area
};

class Btf {
 public:
  static Btf parse(std::span<const uint8_t> sec) {
    auto fail = [](const std::string& why) -> InputError { return InputError(".BTF: " + why); };
    if (sec.size() < 24) throw fail("too short for a BTF header (" + std::to_string(sec.size()) + " bytes)");
    if (le16(sec, 0) != kBtfMagic) throw fail("bad magic " + hex(le16(sec, 0)));
    if (sec[2] != 1) throw fail("unknown version " + std::to_string(sec[2]));
    const uint32_t hdr_len = le32(sec, 4), type_off = le32(sec, 8), type_len = le32(sec, 12), str_off = le32(sec, 16),
                   str_len = le32(sec, 20);
    if (hdr_len < 24 || hdr_len > sec.size()) throw fail("header length " + std::to_string(hdr_len) + " is invalid");
    const uint64_t body = sec.size() - hdr_len;
    if (!fits(type_off, type_len, body) || !fits(str_off, str_len, body) || type_off % 4 || type_len % 4)
      throw fail("type or string area lies outside the section");
    if (str_len == 0 || sec[hdr_len + str_off] != 0 || sec[hdr_len + str_off + str_len - 1] != 0)
      throw fail("string area must start and end with a NUL byte");
    Btf btf;
    btf.types_ = sec.subspan(hdr_len + type_off, type_len);
    btf.strings_ = sec.subspan(hdr_len + str_off, str_len);
    btf.list_.push_back({});  // id 0 is void
    std::size_t pos = 0;
    while (pos < type_len) {
      if (type_len - pos < 12) throw fail("truncated type record at offset " + std::to_string(pos));
      BtfType t;
      t.name_off = le32(btf.types_, pos);
      const uint32_t info = le32(btf.types_, pos + 4);
      t.kind = (info >> 24) & 0x1f;
      t.vlen = info & 0xffff;
      t.size_or_type = le32(btf.types_, pos + 8);
      t.extra = pos + 12;
      const std::size_t id = btf.list_.size();
      if (t.kind == kUnknown || t.kind > kMaxKind)
        throw fail("type " + std::to_string(id) + " has unknown kind " + std::to_string(t.kind));
      const uint64_t extra = extra_size(t);
      if (!fits(t.extra, extra, type_len)) throw fail("type " + std::to_string(id) + " runs past the type area");
      btf.list_.push_back(t);
      pos = t.extra + extra;
    }
    btf.check_references();
    return btf;
  }

  std::size_t count() const { return list_.size(); }
  const BtfType& type(std::size_t id) const { return list_.at(id); }
  std::string name(uint32_t off) const {
    return off < strings_.size() ? std::string(reinterpret_cast<const char*>(strings_.data()) + off) : std::string();
  }
  uint32_t u32(std::size_t off) const { return le32(types_, off); }
  std::size_t strings_size() const { return strings_.size(); }

  // The DATASEC named `name`, if any.
  std::optional<std::size_t> find_datasec(const std::string& name) const {
    for (std::size_t id = 1; id < list_.size(); ++id)
      if (list_[id].kind == kDatasec && this->name(list_[id].name_off) == name) return id;
    return std::nullopt;
  }

 private:
  static uint64_t extra_size(const BtfType& t) {
    switch (t.kind) {
      case kInt: case kVar: case kDeclTag: return 4;
      case kArray: return 12;
      case kStruct: case kUnion: case kDatasec: case kEnum64: return uint64_t(t.vlen) * 12;
      case kEnum: case kFuncProto: return uint64_t(t.vlen) * 8;
      default: return 0;
    }
  }

  static bool is_reference(uint8_t kind) {
    switch (kind) {
      case kPtr: case kTypedef: case kVolatile: case kConst: case kRestrict: case kTypeTag: case kFunc: case kVar:
      case kDeclTag: case kArray: return true;
      default: return false;
    }
  }

  uint32_t next_of(const BtfType& t) const { return t.kind == kArray ? u32(t.extra) : t.size_or_type; }

  void check_references() const {
    auto fail = [](std::size_t id, const std::string& why) { return InputError(".BTF: type " + std::to_string(id) + ": " + why); };
    auto name_ok = [&](uint32_t off) { return off < strings_.size(); };
    auto id_ok = [&](uint32_t ref) { return ref < list_.size(); };
    for (std::size_t id = 1; id < list_.size(); ++id) {
      const BtfType& t = list_[id];
      if (!name_ok(t.name_off)) throw fail(id, "name offset outside the string area");
      auto ref = [&](uint32_t r, const char* what) {
        if (!id_ok(r)) throw fail(id, std::string(what) + " refers to type " + std::to_string(r) + ", which does not exist");
      };
      switch (t.kind) {
        case kPtr: case kTypedef: case kVolatile: case kConst: case kRestrict: case kTypeTag: case kVar:
        case kDeclTag: ref(t.size_or_type, "it"); break;
        case kFunc:
          ref(t.size_or_type, "it");
          if (list_[t.size_or_type].kind != kFuncProto) throw fail(id, "function whose type is not a prototype");
          break;
        case kArray: ref(u32(t.extra), "element"); ref(u32(t.extra + 4), "index"); break;
        case kStruct: case kUnion:
          for (std::size_t m = 0; m < t.vlen; ++m) {
            if (!name_ok(u32(t.extra + 12 * m))) throw fail(id, "member name outside the string area");
            ref(u32(t.extra + 12 * m + 4), "member");
          }
          break;
        case kEnum: case kEnum64: {
          const std::size_t stride = t.kind == kEnum ? 8 : 12;
          for (std::size_t m = 0; m < t.vlen; ++m)
            if (!name_ok(u32(t.extra + stride * m))) throw fail(id, "enumerator name outside the string area");
          break;
        }
        case kFuncProto:
          ref(t.size_or_type, "return type");
          for (std::size_t m = 0; m < t.vlen; ++m) {
            if (!name_ok(u32(t.extra + 8 * m))) throw fail(id, "parameter name outside the string area");
            ref(u32(t.extra + 8 * m + 4), "parameter");
          }
          break;
        case kDatasec:
          for (std::size_t m = 0; m < t.vlen; ++m) {
            const uint32_t v = u32(t.extra + 12 * m);
            ref(v, "section entry");
            if (list_[v].kind != kVar && list_[v].kind != kFunc) throw fail(id, "section entry is not a variable or function");
          }
          break;
        default: break;
      }
    }
    // Chains of modifiers, pointers, arrays and variables must end; the kernel allows 32 links.
    for (std::size_t id = 1; id < list_.size(); ++id) {
      std::size_t cur = id;
      for (int depth = 0; is_reference(list_[cur].kind); ++depth) {
        if (depth > 32) throw fail(id, "chain of type references is cyclic or longer than 32");
        cur = next_of(list_[cur]);
      }
    }
    // libbpf keeps type sizes in an int and adds them up (Kconfig externs share one map), and a
    // negative result becomes a bogus error code. So sizes are capped well below INT_MAX; 256 MiB
    // is still far above the largest map value the kernel accepts (KMALLOC_MAX_SIZE).
    std::vector<int64_t> sizes(list_.size(), -1);
    for (std::size_t id = 1; id < list_.size(); ++id)
      if (size_of(uint32_t(id), sizes) > kMaxTypeSize)
        throw fail(id, "size " + std::to_string(sizes[id]) + " exceeds 256 MiB");
  }

  static constexpr int64_t kMaxTypeSize = int64_t(1) << 28;

  // The size of a type in bytes, as BTF defines it (0 for void, functions and forward
  // declarations); saturates above INT32_MAX. Recursion only follows reference chains, which
  // are at most 33 long by now.
  int64_t size_of(uint32_t id, std::vector<int64_t>& memo) const {
    if (memo[id] >= 0) return memo[id];
    const BtfType& t = list_[id];
    int64_t size = 0;
    switch (t.kind) {
      case kInt: case kEnum: case kEnum64: case kStruct: case kUnion: case kFloat: case kDatasec:
        size = t.size_or_type;
        break;
      case kPtr: size = 8; break;
      case kTypedef: case kVolatile: case kConst: case kRestrict: case kTypeTag: case kVar: case kDeclTag:
        size = size_of(t.size_or_type, memo);
        break;
      case kArray: {
        const int64_t elem = size_of(u32(t.extra), memo);
        const uint32_t n = u32(t.extra + 8);
        size = elem != 0 && n > (int64_t(INT32_MAX) + 1) / elem ? int64_t(INT32_MAX) + 1 : elem * n;
        break;
      }
      default: break;
    }
    return memo[id] = std::min<int64_t>(size, int64_t(INT32_MAX) + 1);
  }

  std::span<const uint8_t> types_, strings_;
  std::vector<BtfType> list_;
};

// .BTF.ext: header bounds and each info block's records inside it, as libbpf walks them.
void check_btf_ext(std::span<const uint8_t> sec, const Btf* btf) {
  auto fail = [](const std::string& why) { return InputError(".BTF.ext: " + why); };
  if (sec.size() < 24) throw fail("too short for a header (" + std::to_string(sec.size()) + " bytes)");
  if (le16(sec, 0) != kBtfMagic) throw fail("bad magic " + hex(le16(sec, 0)));
  if (sec[2] != 1) throw fail("unknown version " + std::to_string(sec[2]));
  const uint32_t hdr_len = le32(sec, 4);
  if (hdr_len < 24 || hdr_len > sec.size() || hdr_len % 4) throw fail("header length " + std::to_string(hdr_len) + " is invalid");
  const auto body = sec.subspan(hdr_len);
  struct Area { uint32_t off, len, min_record; const char* what; };
  std::vector<Area> areas{{le32(sec, 8), le32(sec, 12), 8, "func_info"}, {le32(sec, 16), le32(sec, 20), 16, "line_info"}};
  if (hdr_len >= 32) areas.push_back({le32(sec, 24), le32(sec, 28), 16, "core_relo"});
  for (const Area& a : areas) {
    if (a.len == 0) continue;
    if (!fits(a.off, a.len, body.size()) || a.off % 4) throw fail(std::string(a.what) + " lies outside the section");
    auto info = body.subspan(a.off, a.len);
    if (info.size() < 4) throw fail(std::string(a.what) + " has no record size");
    const uint32_t record = le32(info, 0);
    if (record < a.min_record || record % 4) throw fail(std::string(a.what) + " record size " + std::to_string(record) + " is invalid");
    std::size_t pos = 4;
    while (pos < info.size()) {
      if (info.size() - pos < 8) throw fail(std::string(a.what) + " section header is truncated");
      const uint32_t name_off = le32(info, pos), num = le32(info, pos + 4);
      if (num == 0) throw fail(std::string(a.what) + " section with no records");
      if (btf && name_off >= btf->strings_size()) throw fail(std::string(a.what) + " section name outside the BTF strings");
      pos += 8;
      if (uint64_t(num) * record > info.size() - pos) throw fail(std::string(a.what) + " records run past the end");
      pos += std::size_t(num) * record;
    }
  }
}

// ---- functions, relocations and linking -------------------------------------------------------

// A call or function-pointer load that the linker must point at another function.
struct Link {
  std::size_t slot = 0;    // within the function
  std::size_t target = 0;  // index into Reader::funcs_
  bool ldimm = false;      // LD_IMM64 function pointer rather than a call
};

struct FuncInfo {
  Function fn;
  std::size_t section = 0;
  std::size_t start = 0;  // first slot in the section
  bool entry = false;
  std::vector<Link> links;
};

class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, std::string name) : name_(std::move(name)), bytes_(bytes) {}

  Module read(bool use_libbpf) {
    check_file_header(bytes_);
    ElfHandle handle = ElfHandle::from_memory(bytes_);
    ElfView elf(handle);
    elf_ = &elf;

    // A global-data section becomes one map value, whose size the kernel takes as 32 bits
    // (libbpf 1.1 truncates larger sizes silently).
    for (const Section& s : elf.sections())
      if (data_kind(s) != DataKind::None && s.size() > UINT32_MAX)
        throw InputError("section " + s.name + ": " + std::to_string(s.size()) + " bytes is too large for a map value");

    Module m;
    m.path = name_;
    read_license(m);
    collect_functions();
    collect_relocations();
    for (auto& f : funcs_) {
      if (f.entry) {
        Program p;
        p.entry = f.fn;
        link(p, std::size_t(&f - funcs_.data()));
        m.programs.push_back(std::move(p));
      } else {
        m.subprograms.push_back(f.fn);
      }
    }
    validate_images(m);

    std::optional<Btf> btf;
    if (const Section* s = elf.find(".BTF")) {
      m.has_btf = true;
      btf = Btf::parse(s->data);
    }
    if (const Section* s = elf.find(".BTF.ext")) {
      m.has_btf_ext = true;
      check_btf_ext(s->data, btf ? &*btf : nullptr);
    }

    const Section* legacy = elf.find("maps");
    if (legacy || !use_libbpf) {
      if (legacy && elf.find(".maps") && use_libbpf)
        throw InputError("both a legacy maps section and BTF-defined .maps: only libbpf reads the latter, and libbpf 1.x "
                         "refuses objects with the former; move the legacy maps to .maps");
      if (legacy) read_legacy_maps(*legacy, m);
      add_internal_maps(m, btf ? &*btf : nullptr);
      for (auto& p : m.programs) set_type(p, prog_type_from_section(p.section()).value_or(0));
    } else {
      read_with_libbpf(m);
    }
    elf_ = nullptr;
    return m;
  }

 private:
  void read_license(Module& m) {
    const Section* s = elf_->find("license");
    if (!s) return;
    const auto d = s->data;
    const auto* c = reinterpret_cast<const char*>(d.data());
    m.license = printable(std::string_view(c, std::size_t(std::find(c, c + d.size(), '\0') - c)));
  }

  void collect_functions() {
    for (const Symbol& sym : elf_->symbols()) {
      if (sym.type != STT_FUNC || sym.shndx == SHN_UNDEF || sym.shndx >= SHN_LORESERVE) continue;
      const Section& sec = elf_->section(sym.shndx);
      if (!sec.exec()) continue;
      const std::string where = "function " + sym.name + " in section " + sec.name;
      if (sym.value % kInsnSize || sym.size % kInsnSize)
        throw InputError(where + ": offset " + hex(sym.value) + " or size " + hex(sym.size) +
                         " is not a multiple of 8 (the size of an instruction)");
      if (sym.size == 0) throw InputError(where + ": size 0");
      if (!fits(sym.value, sym.size, sec.size()))
        throw InputError(where + ": bytes " + hex(sym.value) + ".." + hex(sym.value + sym.size) +
                         " are outside the section (" + std::to_string(sec.size()) + " bytes)");
      if (sym.name.empty()) throw InputError(where + ": function without a name");
      FuncInfo f;
      f.fn.name = sym.name;
      f.fn.section = sec.name;
      f.fn.section_offset = sym.value / kInsnSize;
      f.fn.global = sym.bind != STB_LOCAL;
      f.fn.insns.resize(sym.size / kInsnSize);
      std::memcpy(f.fn.insns.data(), sec.data.data() + sym.value, sym.size);
      f.section = sec.index;
      f.start = sym.value / kInsnSize;
      f.entry = sec.name != ".text";
      funcs_.push_back(std::move(f));
    }
    // File order: by section, then by offset (the order libbpf lists programs in).
    std::sort(funcs_.begin(), funcs_.end(), [](const FuncInfo& a, const FuncInfo& b) {
      return std::tie(a.section, a.start, a.fn.name) < std::tie(b.section, b.start, b.fn.name);
    });
    std::unordered_map<std::string, std::size_t> names;
    for (std::size_t i = 0; i < funcs_.size(); ++i) {
      const FuncInfo& f = funcs_[i];
      if (!names.emplace(f.fn.name, i).second) throw InputError("two functions are named " + f.fn.name);
      if (i > 0 && funcs_[i - 1].section == f.section && funcs_[i - 1].start + funcs_[i - 1].fn.insns.size() > f.start)
        throw InputError("functions " + funcs_[i - 1].fn.name + " and " + f.fn.name + " overlap in section " + f.fn.section);
      by_start_[{f.section, f.start}] = i;
    }
  }

  // The function that starts at `slot` of `section`, if one does.
  std::optional<std::size_t> function_at(std::size_t section, uint64_t slot) const {
    auto it = by_start_.find({section, std::size_t(slot)});
    if (it == by_start_.end()) return std::nullopt;
    return it->second;
  }

  // The function whose instructions include `slot` of `section`.
  std::optional<std::size_t> function_containing(std::size_t section, uint64_t slot) const {
    auto it = by_start_.upper_bound({section, std::size_t(slot)});
    if (it == by_start_.begin()) return std::nullopt;
    --it;
    const FuncInfo& f = funcs_[it->second];
    if (it->first.first != section || slot >= f.start + f.fn.insns.size()) return std::nullopt;
    return it->second;
  }

  void collect_relocations() {
    // Symbols that define maps, by (section, offset).
    std::map<std::pair<std::size_t, uint64_t>, std::string> map_syms;
    for (const Symbol& s : elf_->symbols()) {
      if (s.shndx == SHN_UNDEF || s.shndx >= SHN_LORESERVE || s.type == STT_SECTION || s.name.empty()) continue;
      const std::string& sec = elf_->section(s.shndx).name;
      if (sec == "maps" || sec == ".maps") map_syms.emplace(std::pair{std::size_t(s.shndx), s.value}, s.name);
    }
    std::vector<std::vector<bool>> has_reloc(funcs_.size());
    for (std::size_t i = 0; i < funcs_.size(); ++i) has_reloc[i].assign(funcs_[i].fn.insns.size(), false);

    for (const Section& code : elf_->sections()) {
      if (!code.exec()) continue;
      for (const GElf_Rel& r : elf_->relocations_for(code.index)) {
        if (r.r_offset % kInsnSize)
          throw InputError(code.name + ": relocation at offset " + hex(r.r_offset) + " is not on an instruction boundary");
        const uint64_t sec_slot = r.r_offset / kInsnSize;
        // Code that no function covers is never loaded; libbpf skips its relocations as well.
        auto owner = function_containing(code.index, sec_slot);
        if (!owner) continue;
        FuncInfo& f = funcs_[*owner];
        const std::size_t slot = std::size_t(sec_slot - f.start);
        const Location at{{}, f.fn.name, slot};
        if (has_reloc[*owner][slot]) throw InputError(at, "two relocations on one instruction");
        has_reloc[*owner][slot] = true;
        const Symbol& sym = elf_->symbols()[GELF_R_SYM(r.r_info)];
        const Insn& insn = f.fn.insns[slot];
        Relocation rel;
        rel.insn = slot;
        rel.symbol = sym.name;
        const bool undefined = sym.shndx == SHN_UNDEF;
        if (!undefined && sym.shndx >= SHN_LORESERVE)
          throw InputError(at, "relocation against " + sym.name + ", which is not in any section");
        const Section* target = undefined ? nullptr : &elf_->section(sym.shndx);
        if (target) rel.section = target->name;

        if (insn.opcode == (bpf::LD | bpf::IMM | bpf::DW)) {
          if (slot + 1 >= f.fn.insns.size())
            throw InputError(at, "relocated ldimm64 is cut off by the end of the function");
          const uint64_t offset = sym.value + uint64_t(int64_t(insn.imm));
          rel.offset = offset;
          if (undefined) {
            rel.kind = RelocKind::Extern;
          } else if (target->exec()) {
            rel.kind = RelocKind::FuncPtr;
            if (offset % kInsnSize) throw InputError(at, "function pointer to offset " + hex(offset) + " of " + target->name + " is not on an instruction");
            auto callee = function_at(target->index, offset / kInsnSize);
            if (!callee)
              throw InputError(at, "function pointer to offset " + hex(offset) + " of section " + target->name +
                                       ", where no function starts");
            rel.target = funcs_[*callee].fn.name;
            f.links.push_back({slot, *callee, true});
          } else if (target->name == "maps" || target->name == ".maps") {
            rel.kind = RelocKind::Map;
            auto it = map_syms.find({target->index, offset});
            if (it == map_syms.end())
              throw InputError(at, "map relocation to offset " + hex(offset) + " of section " + target->name +
                                       ", where no map is defined");
            rel.target = it->second;
          } else if (data_kind(*target) != DataKind::None) {
            rel.kind = RelocKind::GlobalData;
          } else {
            throw InputError(at, "relocation against " + sym.name + " in section " + target->name +
                                     ", which holds neither code, maps nor global data");
          }
        } else if (insn.opcode == (bpf::JMP | bpf::CALL)) {
          if (undefined) {
            rel.kind = RelocKind::Extern;  // a kfunc declared __ksym
          } else if (target->exec() && insn.src == bpf::PSEUDO_CALL) {
            rel.kind = RelocKind::Call;
            if (sym.value % kInsnSize) throw InputError(at, "call relocation against a symbol not on an instruction");
            const int64_t callee_slot = int64_t(sym.value / kInsnSize) + insn.imm + 1;
            rel.offset = uint64_t(callee_slot) * kInsnSize;
            auto callee = callee_slot >= 0 ? function_at(target->index, uint64_t(callee_slot)) : std::nullopt;
            if (!callee)
              throw InputError(at, "call to slot " + std::to_string(callee_slot) + " of section " + target->name +
                                       ", where no function starts");
            rel.target = funcs_[*callee].fn.name;
            f.links.push_back({slot, *callee, false});
          } else {
            throw InputError(at, "call relocation against " + sym.name + ", which is not a function");
          }
        } else {
          throw InputError(at, "relocation on an instruction that is neither ldimm64 nor call (opcode " + hex(insn.opcode) + ")");
        }
        f.fn.relocs.push_back(std::move(rel));
      }
    }
    for (auto& f : funcs_)
      std::sort(f.fn.relocs.begin(), f.fn.relocs.end(), [](const Relocation& a, const Relocation& b) { return a.insn < b.insn; });

    // Calls without a relocation are relative within their section (static callees next to the
    // caller, as clang leaves them). A target outside any function is left for decode_program
    // to report as out of range.
    for (std::size_t i = 0; i < funcs_.size(); ++i) {
      FuncInfo& f = funcs_[i];
      for (std::size_t slot = 0; slot < f.fn.insns.size(); ++slot) {
        if (has_reloc[i][slot]) continue;
        const Insn& insn = f.fn.insns[slot];
        const bool call = insn.opcode == (bpf::JMP | bpf::CALL) && insn.src == bpf::PSEUDO_CALL;
        const bool func_ptr = insn.opcode == (bpf::LD | bpf::IMM | bpf::DW) && insn.src == bpf::PSEUDO_FUNC;
        if (!call && !func_ptr) continue;
        const int64_t target = int64_t(f.start + slot) + insn.imm + 1;
        const int64_t local = target - int64_t(f.start);
        if (local >= 0 && local < int64_t(f.fn.insns.size())) continue;  // within the function itself
        auto callee = target >= 0 ? function_at(f.section, uint64_t(target)) : std::nullopt;
        if (!callee)
          throw InputError(Location{{}, f.fn.name, slot}, std::string(call ? "call" : "function pointer") + " to slot " +
                                                              std::to_string(target) + " of section " + f.fn.section +
                                                              ", where no function starts");
        f.links.push_back({slot, *callee, func_ptr});
      }
      std::sort(f.links.begin(), f.links.end(), [](const Link& a, const Link& b) { return a.slot < b.slot; });
    }
  }

  // The image libbpf would hand the kernel: the root function, then every function it reaches,
  // each appended once in depth-first order of first use, with call and function-pointer
  // immediates made relative to the image. Iterative so a long call chain cannot overflow the stack.
  void link(Program& p, std::size_t root) const {
    std::vector<std::optional<std::size_t>> placed(funcs_.size());
    struct Frame { std::size_t func; std::size_t next_link; };
    std::vector<Frame> stack;
    auto append = [&](std::size_t fi) {
      const FuncInfo& f = funcs_[fi];
      placed[fi] = p.image.size();
      p.functions.push_back({f.fn.name, p.image.size(), f.fn.insns.size()});
      p.image.insert(p.image.end(), f.fn.insns.begin(), f.fn.insns.end());
      stack.push_back({fi, 0});
    };
    append(root);
    while (!stack.empty()) {
      Frame& top = stack.back();
      const FuncInfo& f = funcs_[top.func];
      if (top.next_link == f.links.size()) {
        stack.pop_back();
        continue;
      }
      const Link& l = f.links[top.next_link];
      if (!placed[l.target]) {
        append(l.target);  // invalidates `top`; the link is patched when we come back to it
        continue;
      }
      Insn& insn = p.image[*placed[top.func] + l.slot];
      insn.imm = int32_t(int64_t(*placed[l.target]) - int64_t(*placed[top.func] + l.slot + 1));
      if (l.ldimm) insn.src = bpf::PSEUDO_FUNC;
      ++top.next_link;
    }
  }

  void validate_images(const Module& m) const {
    std::vector<bool> reached(funcs_.size(), false);
    std::unordered_map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < funcs_.size(); ++i) index[funcs_[i].fn.name] = i;
    for (const Program& p : m.programs) {
      try {
        decode_program(p.image);
      } catch (const InputError& e) {
        throw e.within(Location{{}, p.name(), {}});
      }
      for (const auto& r : p.functions) reached[index.at(r.name)] = true;
    }
    // A subprogram no program reaches is still checked, on its own: its calls to other functions
    // were checked when they were linked (they land on a function's first slot), so here they
    // are aimed at its own first slot, which keeps the check linear in the size of the file.
    for (std::size_t i = 0; i < funcs_.size(); ++i) {
      if (reached[i]) continue;
      std::vector<Insn> alone = funcs_[i].fn.insns;
      for (const Link& l : funcs_[i].links) alone[l.slot].imm = -int32_t(l.slot) - 1;
      try {
        decode_program(alone);
      } catch (const InputError& e) {
        throw e.within(Location{{}, funcs_[i].fn.name, {}});
      }
    }
  }

  static void set_type(Program& p, uint32_t type) {
    p.prog_type = type;
    p.prog_type_name = prog_type_name(type);
  }

  // The name libbpf gives the object: the file name up to its first dot, as bpf_object__open_file
  // derives it. Internal map names start with it.
  std::string object_name() const {
    std::string base = std::filesystem::path(name_).filename().string();
    return base.substr(0, base.find('.'));
  }

  void read_legacy_maps(const Section& sec, Module& m) const {
    if (sec.hdr.sh_type != SHT_PROGBITS) throw InputError("legacy maps section holds no data");
    std::vector<const Symbol*> syms;
    for (const Symbol& s : elf_->symbols())
      if (s.defined_in(sec.index) && s.type != STT_SECTION && !s.name.empty()) syms.push_back(&s);
    std::sort(syms.begin(), syms.end(), [](const Symbol* a, const Symbol* b) { return a->value < b->value; });
    // Old compilers left map symbols without sizes; then every record has the same size.
    const bool sized = std::all_of(syms.begin(), syms.end(), [](const Symbol* s) { return s->size != 0; });
    if (!sized && !syms.empty() && sec.size() % syms.size() != 0)
      throw InputError("legacy maps section: " + std::to_string(sec.size()) + " bytes do not divide into " +
                       std::to_string(syms.size()) + " map definitions");
    for (const Symbol* s : syms) {
      const uint64_t size = sized ? s->size : sec.size() / syms.size();
      if (size < 16 || !fits(s->value, size, sec.size()))
        throw InputError("legacy map " + s->name + ": definition at " + hex(s->value) + " of " + std::to_string(size) +
                         " bytes does not fit a bpf_map_def in the " + std::to_string(sec.size()) + "-byte maps section");
      auto field = [&](int k) -> uint32_t { return uint64_t(k + 1) * 4 <= size ? le32(sec.data, s->value + 4 * k) : 0; };
      MapDef d;
      d.name = s->name;
      d.type = field(0);
      d.type_name = map_type_name(d.type);
      d.key_size = field(1);
      d.value_size = field(2);
      d.max_entries = field(3);
      d.flags = field(4);
      d.legacy = true;
      m.maps.push_back(std::move(d));
    }
  }

  // libbpf turns each global-data section into a one-element array map. Its name is the section
  // name when that has a second dot (".data.foo"), else the object name cut so that the whole
  // fits in 15 characters, followed by the section name; characters the kernel does not allow in
  // map names become '_'. Read-only data is BPF_F_RDONLY_PROG; a section with a non-static
  // variable in its BTF is also BPF_F_MMAPABLE. (Observed from libbpf 1.1; tests compare.)
  void add_internal_maps(Module& m, const Btf* btf) const {
    constexpr uint32_t kRdonlyProg = 1u << 7, kMmapable = 1u << 10;
    const std::string obj = object_name();
    for (const Section& s : elf_->sections()) {
      const DataKind kind = data_kind(s);
      if (kind == DataKind::None) continue;
      std::string name;
      if (s.name.find('.', 1) != std::string::npos) {
        name = s.name;
      } else {
        const std::size_t suffix = std::max<std::size_t>(7, s.name.size());
        const std::size_t prefix = suffix >= 15 ? 0 : std::min(15 - suffix, obj.size());
        name = obj.substr(0, prefix) + s.name;
      }
      name = name.substr(0, 15);
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') c = '_';
      MapDef d;
      d.name = name;
      d.type = BPF_MAP_TYPE_ARRAY;
      d.type_name = map_type_name(d.type);
      d.key_size = 4;
      d.value_size = uint32_t(s.size());
      d.max_entries = 1;
      if (kind == DataKind::Rodata) d.flags |= kRdonlyProg;
      if (btf) {
        if (auto sec = btf->find_datasec(s.name)) {
          const BtfType& t = btf->type(*sec);
          for (std::size_t i = 0; i < t.vlen; ++i) {
            const BtfType& v = btf->type(btf->u32(t.extra + 12 * i));
            if (v.kind == kVar && btf->u32(v.extra) != 0) d.flags |= kMmapable;  // linkage 0 = static
          }
        }
      }
      d.internal = true;
      d.section = s.name;
      if (kind == DataKind::Bss)
        d.initial_value.assign(s.size(), 0);
      else
        d.initial_value.assign(s.data.begin(), s.data.end());
      m.maps.push_back(std::move(d));
    }
  }

  void read_with_libbpf(Module& m) const {
    BpfObject obj = BpfObject::open_memory(bytes_, object_name());
    std::unordered_map<std::string, uint32_t> types;
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, obj.get()) types[bpf_program__name(prog)] = bpf_program__type(prog);
    for (auto& p : m.programs) {
      auto it = types.find(p.name());
      set_type(p, it != types.end() ? it->second : prog_type_from_section(p.section()).value_or(0));
    }
    // libbpf does not say which section an internal map holds: take it, and the initial value,
    // from our own reading of the same sections (whose names the tests compare with libbpf's).
    Module own;
    add_internal_maps(own, nullptr);
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, obj.get()) {
      MapDef d;
      d.name = bpf_map__name(map);
      d.type = bpf_map__type(map);
      d.type_name = map_type_name(d.type);
      d.key_size = bpf_map__key_size(map);
      d.value_size = bpf_map__value_size(map);
      d.max_entries = bpf_map__max_entries(map);
      d.flags = bpf_map__map_flags(map);
      d.internal = bpf_map__is_internal(map);
      for (MapDef& o : own.maps)
        if (d.internal && o.name == d.name) {
          d.section = o.section;
          d.initial_value = std::move(o.initial_value);
        }
      m.maps.push_back(std::move(d));
    }
  }

  std::string name_;
  std::span<const uint8_t> bytes_;
  const ElfView* elf_ = nullptr;
  std::vector<FuncInfo> funcs_;
  std::map<std::pair<std::size_t, std::size_t>, std::size_t> by_start_;
};

Module read(std::span<const uint8_t> bytes, const std::string& name, bool use_libbpf) {
  try {
    return Reader(bytes, name).read(use_libbpf);
  } catch (const InputError& e) {
    throw e.within(Location{name, {}, {}});
  }
}

}  // namespace

Module read_elf(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return read(bytes, path, true);
}

Module read_elf_memory(std::span<const uint8_t> bytes, const std::string& name) { return read(bytes, name, true); }

namespace detail {
Module read_elf_memory_without_libbpf(std::span<const uint8_t> bytes, const std::string& name) {
  return read(bytes, name, false);
}
}  // namespace detail

}  // namespace tristate
