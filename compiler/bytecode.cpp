#include "compiler/bytecode.hpp"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "compiler/isa.hpp"

namespace tristate {

namespace {

std::string joined_names() {
  std::string out;
  for (const auto& n : prog_type_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::vector<FunctionRange> function_ranges(const std::vector<DecodedInsn>& decoded, std::size_t size,
                                           const std::string& stem) {
  std::vector<std::size_t> starts{0};
  for (const auto& d : decoded) {
    const auto* call = std::get_if<Call>(&d.insn);
    const auto* ld = std::get_if<LdImm64>(&d.insn);
    if ((call && call->kind == CallKind::Local) || (ld && ld->pseudo == bpf::PSEUDO_FUNC))
      starts.push_back(std::size_t(*branch_target(d.insn, d.pc)));  // in range: decode_program checked
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  std::vector<FunctionRange> out;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const std::size_t end = i + 1 < starts.size() ? starts[i + 1] : size;
    out.push_back({i == 0 ? stem : stem + "+" + std::to_string(starts[i]), starts[i], end - starts[i]});
  }
  return out;
}

uint32_t prog_type_from_name(const std::string& name) {
  if (name.empty()) throw InputError("no program type given; raw bytecode needs one of: " + joined_names());
  for (uint32_t t = 1; t < 256; ++t) {
    const char* s = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(t));
    if (s && name == s) return t;
  }
  // Section-style names ("tc", "socket", "kprobe/foo") are what people write in SEC().
  if (auto t = prog_type_from_section(name); t && *t != 0) return *t;
  throw InputError("unknown program type '" + name + "'; accepted: " + joined_names());
}

std::vector<Insn> insns_from_bytes(std::span<const uint8_t> bytes, const Location& where) {
  if (bytes.empty() || bytes.size() % sizeof(Insn) != 0)
    throw InputError(where, "size " + std::to_string(bytes.size()) +
                                " bytes is not a positive multiple of 8; raw bytecode is a sequence of 8-byte instructions");
  std::vector<Insn> insns(bytes.size() / sizeof(Insn));
  std::memcpy(insns.data(), bytes.data(), bytes.size());
  return insns;
}

std::vector<std::string> prog_type_names() {
  std::vector<std::string> out;
  // libbpf's table is indexed by the enum and ends with NULLs; 0 is "unspec", which the kernel
  // refuses to load, so it is not offered.
  for (uint32_t t = 1; t < 256; ++t)
    if (const char* s = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(t))) out.emplace_back(s);
  return out;
}

Module read_bytecode_memory(std::span<const uint8_t> bytes, const std::string& name, const std::string& prog_type) {
  std::string stem = std::filesystem::path(name).stem().string();
  if (stem.empty()) stem = name;
  const Location file{name, {}, {}};
  std::vector<Insn> insns = insns_from_bytes(bytes, file);
  uint32_t type = 0;
  try {
    type = prog_type_from_name(prog_type);
  } catch (const InputError& e) {
    throw e.within(file);
  }
  Program p;
  p.entry.name = stem;
  p.entry.section = "";
  p.entry.insns = std::move(insns);
  p.prog_type = type;
  p.prog_type_name = prog_type_name(type);
  p.image = p.entry.insns;
  try {
    p.functions = function_ranges(decode_program(p.image), p.image.size(), stem);
  } catch (const InputError& e) {
    throw e.within(Location{name, stem, {}});
  }
  Module m;
  m.path = name;
  // The entry holds its own range; every other range is a subprogram of the module, as an ELF
  // object's .text functions are (the image keeps them all, in order).
  p.entry.insns.assign(p.image.begin(), p.image.begin() + std::ptrdiff_t(p.functions[0].size));
  for (std::size_t i = 1; i < p.functions.size(); ++i) {
    const FunctionRange& r = p.functions[i];
    Function f;
    f.name = r.name;
    f.section_offset = r.start;
    f.insns.assign(p.image.begin() + std::ptrdiff_t(r.start), p.image.begin() + std::ptrdiff_t(r.start + r.size));
    f.global = false;
    m.subprograms.push_back(std::move(f));
  }
  m.programs.push_back(std::move(p));
  return m;
}

Module read_bytecode(const std::string& path, const std::string& prog_type) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return read_bytecode_memory(bytes, path, prog_type);
}

}  // namespace tristate
