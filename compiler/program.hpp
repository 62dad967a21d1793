// The program model the frontend produces: a module of programs and maps, as in the object file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/isa.hpp"

namespace tristate {

// What an instruction's relocation ties it to.
enum class RelocKind : uint8_t {
  Map,        // LD_IMM64 of a map (BTF-defined `.maps` or legacy `maps`)
  GlobalData, // LD_IMM64 of a variable in .data / .rodata / .bss (and .data.* / .rodata.*)
  Call,       // bpf-to-bpf call into a subprogram
  FuncPtr,    // LD_IMM64 of a function address (callbacks)
  Extern,     // ksym / kconfig / kfunc extern
};

struct Relocation {
  std::size_t insn = 0;       // slot index within the function's own instructions
  RelocKind kind = RelocKind::Map;
  std::string symbol;         // the symbol the relocation names
  std::string section;        // the section that symbol lives in
  uint64_t offset = 0;        // offset of the target within its section (globals, subprograms)
  // What the relocation resolves to: the called or referenced function for Call and FuncPtr, the
  // map for Map (the symbol may be a section symbol, which names only the section).
  std::string target;
};

// Whether two relocations tie their instructions to the same thing (wherever they sit).
inline bool same_target(const Relocation& a, const Relocation& b) {
  return a.kind == b.kind && a.symbol == b.symbol && a.section == b.section && a.offset == b.offset && a.target == b.target;
}

// One function as it stands in the object file: an entry program or a subprogram.
struct Function {
  std::string name;
  std::string section;
  std::size_t section_offset = 0;  // in instructions, from the start of the section
  std::vector<Insn> insns;         // exactly as in the file (relocations not applied)
  std::vector<Relocation> relocs;
  bool global = true;
};

// Where one function sits inside a program's linked image.
struct FunctionRange {
  std::string name;
  std::size_t start = 0;  // first slot in the image
  std::size_t size = 0;   // number of slots
};

struct Program {
  Function entry;
  uint32_t prog_type = 0;        // the kernel's enum bpf_prog_type value
  std::string prog_type_name;    // libbpf's name for it: "xdp", "sched_cls", ...
  // The program as the kernel would receive it from libbpf: the entry's instructions followed by
  // every subprogram it reaches (through calls or function pointers), with bpf-to-bpf call and
  // PSEUDO_FUNC immediates resolved to image-relative offsets. Map and global-data loads keep
  // their file form (their relocations are in the functions' `relocs`).
  std::vector<Insn> image;
  std::vector<FunctionRange> functions;  // functions[0] is the entry, in image order

  const std::string& name() const { return entry.name; }
  const std::string& section() const { return entry.section; }
};

struct MapDef {
  std::string name;
  uint32_t type = 0;             // the kernel's enum bpf_map_type value
  std::string type_name;         // libbpf's name for it: "array", "hash", "percpu_array", ...
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint32_t flags = 0;
  bool legacy = false;           // defined in the legacy `maps` section
  bool internal = false;         // libbpf's map for .data / .rodata / .bss / .kconfig
  // Internal maps only: the section the map holds, and its bytes as the object file gives them
  // (zeros for .bss), the value the map starts with.
  std::string section;
  std::vector<uint8_t> initial_value;
};

struct Module {
  std::string path;
  std::vector<Program> programs;     // entry programs, in file order
  std::vector<Function> subprograms; // functions in `.text` (or other non-program code)
  std::vector<MapDef> maps;
  std::string license;
  bool has_btf = false;
  bool has_btf_ext = false;

  const Program* find_program(const std::string& name) const;
  const Function* find_subprogram(const std::string& name) const;
};

// What an LD_IMM64 slot of a program's image refers to, after its relocation: a map (offset -1)
// or a byte of an internal map's value (global data, offset >= 0). map is -1 for other slots.
struct MapRef {
  int map = -1;
  int64_t offset = -1;
};

// One entry per slot of program.image. InputError naming the module, program and slot when a
// relocation lies outside its function or names a map the module lacks.
std::vector<MapRef> resolve_map_refs(const Module& module, const Program& program);

}  // namespace tristate
