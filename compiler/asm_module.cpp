#include "compiler/asm_module.hpp"

#include <linux/bpf.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "compiler/asm.hpp"
#include "compiler/bytecode.hpp"
#include "compiler/cfg.hpp"
#include "compiler/elf.hpp"
#include "compiler/error.hpp"
#include "compiler/hex.hpp"
#include "compiler/isa.hpp"
#include "compiler/maps.hpp"

namespace tristate {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text = text.substr(nl + 1);
  }
  return out;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  s = trim(s);
  while (!s.empty()) {
    std::size_t n = 0;
    while (n < s.size() && !std::isspace(static_cast<unsigned char>(s[n]))) ++n;
    out.push_back(s.substr(0, n));
    s = trim(s.substr(n));
  }
  return out;
}

// The text after `;` of a `;` comment line (trimmed), or nothing for any other line.
std::optional<std::string_view> semicolon_comment(std::string_view line) {
  line = trim(line);
  if (!line.starts_with(';')) return std::nullopt;
  return trim(line.substr(1));
}

// Whether a line holds code (an instruction or a label): neither blank nor only a comment.
bool is_code(std::string_view line) {
  line = trim(line);
  return !line.empty() && !line.starts_with(';') && !line.starts_with('#') && !line.starts_with("//");
}

// The directive keyword a comment starts with, if any: "type", "map", "expect", "witness",
// "window".
std::optional<std::string_view> directive_of(std::string_view comment) {
  for (std::string_view k : {"type:", "expect:", "witness:", "window:"})
    if (comment.starts_with(k)) return k.substr(0, k.size() - 1);
  const auto w = words(comment);
  if (!w.empty() && w[0] == "map") return "map";
  return std::nullopt;
}

[[noreturn]] void fail_at(const Location& where, std::size_t line, const std::string& reason) {
  throw InputError(where, "line " + std::to_string(line) + ": " + reason);
}

std::optional<uint32_t> parse_u32(std::string_view s) {
  if (s.empty()) return std::nullopt;
  const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  const unsigned base = hex ? 16 : 10;
  uint64_t v = 0;
  for (char c : hex ? s.substr(2) : s) {
    unsigned d;
    if (c >= '0' && c <= '9') d = unsigned(c - '0');
    else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') d = unsigned(c - 'A' + 10);
    else return std::nullopt;
    if (d >= base) return std::nullopt;
    v = v * base + d;
    if (v > UINT32_MAX) return std::nullopt;
  }
  return uint32_t(v);
}

bool is_identifier(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; });
}

constexpr const char* kMapUsage = "expected `; map NAME TYPE key=K value=V entries=N [flags=F]`";

MapDef parse_map(std::string_view comment, const Location& where, std::size_t line) {
  const auto w = words(comment);
  if (w.size() < 3) fail_at(where, line, kMapUsage);
  MapDef d;
  d.name = std::string(w[1]);
  if (!is_identifier(w[1])) fail_at(where, line, "map name '" + d.name + "' is not an identifier; " + kMapUsage);
  const auto type = map_type_from_name(w[2]);
  if (!type) {
    std::string names;
    for (const auto& n : map_type_names()) names += (names.empty() ? "" : ", ") + n;
    fail_at(where, line, "unknown map type '" + std::string(w[2]) + "' (one of: " + names + ")");
  }
  d.type = *type;
  d.type_name = map_type_name(*type);
  struct Field {
    std::string_view key;
    uint32_t* value;
    bool required;
    bool seen = false;
  };
  Field fields[] = {{"key", &d.key_size, true},
                    {"value", &d.value_size, true},
                    {"entries", &d.max_entries, true},
                    {"flags", &d.flags, false}};
  for (std::size_t i = 3; i < w.size(); ++i) {
    const std::size_t eq = w[i].find('=');
    const std::string_view k = w[i].substr(0, eq);
    Field* f = nullptr;
    for (Field& candidate : fields)
      if (candidate.key == k) f = &candidate;
    if (eq == std::string_view::npos || !f)
      fail_at(where, line, "unexpected '" + std::string(w[i]) + "' in a map directive; " + kMapUsage);
    if (f->seen) fail_at(where, line, "map '" + d.name + "' gives " + std::string(k) + "= twice");
    const auto v = parse_u32(w[i].substr(eq + 1));
    if (!v)
      fail_at(where, line, "map '" + d.name + "': " + std::string(k) + "=" + std::string(w[i].substr(eq + 1)) +
                               " is not a number from 0 to 0xffffffff");
    *f->value = *v;
    f->seen = true;
  }
  for (const Field& f : fields)
    if (f.required && !f.seen) fail_at(where, line, "map '" + d.name + "' lacks " + std::string(f.key) + "=; " + kMapUsage);
  // The sizes the kernel would refuse, for the map types the interpreter models (it checks them
  // the kernel's way); other types are taken as given.
  if (is_modelled_map_type(d.type)) {
    try {
      MapInstance check(d, 1);
    } catch (const InputError& e) {
      fail_at(where, line, e.reason());
    }
  }
  return d;
}

// The header of a module: the comment lines before its first instruction.
struct Header {
  std::optional<std::string> type;
  std::vector<MapDef> maps;
};

Header read_header(const std::vector<std::string_view>& lines, const Location& where) {
  Header h;
  std::size_t type_line = 0;
  std::map<std::string, std::size_t> map_lines;
  for (std::size_t i = 0; i < lines.size() && !is_code(lines[i]); ++i) {
    const auto comment = semicolon_comment(lines[i]);
    if (!comment) continue;
    const auto kind = directive_of(*comment);
    if (kind == "type") {
      if (h.type) fail_at(where, i + 1, "a second type directive (the first is on line " + std::to_string(type_line) + ")");
      h.type = std::string(trim(comment->substr(5)));
      type_line = i + 1;
      try {
        prog_type_from_name(*h.type);
      } catch (const InputError& e) {
        fail_at(where, i + 1, e.reason());
      }
    } else if (kind == "map") {
      MapDef d = parse_map(*comment, where, i + 1);
      if (auto it = map_lines.find(d.name); it != map_lines.end())
        fail_at(where, i + 1, "a second map named '" + d.name + "' (the first is on line " + std::to_string(it->second) + ")");
      map_lines.emplace(d.name, i + 1);
      h.maps.push_back(std::move(d));
    }
  }
  return h;
}

bool is_map_pseudo(uint8_t k) { return k == bpf::PSEUDO_MAP_FD || k == bpf::PSEUDO_MAP_IDX; }
bool is_value_pseudo(uint8_t k) { return k == bpf::PSEUDO_MAP_VALUE || k == bpf::PSEUDO_MAP_IDX_VALUE; }

std::string data_section(const MapDef& d) { return ".data." + d.name; }

// Makes map `d` global data, read by direct value address.
void make_internal(MapDef& d) {
  d.internal = true;
  d.section = data_section(d);
  d.initial_value.assign(d.value_size, 0);
}

}  // namespace

Module assemble_module(std::string_view text, const std::string& path, const AsmModuleOptions& opts) {
  std::string name = opts.prog_name;
  if (name.empty()) name = std::filesystem::path(path).stem().string();
  if (name.empty()) name = "prog";
  const Location where{path, name, {}};
  const std::vector<std::string_view> lines = split_lines(text);
  Header header = read_header(lines, where);

  Assembly as;
  try {
    as = assemble_listing(text);
  } catch (const InputError& e) {
    throw e.within(where);
  }
  // An error at an instruction: its line goes first in the reason.
  const auto at_slot = [&](std::size_t slot, const std::string& reason) {
    const std::string line = slot < as.lines.size() ? "line " + std::to_string(as.lines[slot]) + ": " : "";
    return InputError(Location{path, name, slot}, line + reason);
  };
  const auto relocated = [&](const InputError& e) {
    if (e.where().insn) return at_slot(*e.where().insn, e.reason());
    return e.within(where);
  };
  if (as.insns.empty()) throw InputError(where, "the program has no instructions");

  std::vector<DecodedInsn> decoded;
  try {
    decoded = decode_program(as.insns);
  } catch (const InputError& e) {
    throw relocated(e);
  }

  // Functions: the entry, and one from every bpf-to-bpf call target to the next.
  std::vector<std::size_t> starts{0};
  for (const DecodedInsn& d : decoded) {
    const auto* call = std::get_if<Call>(&d.insn);
    if (call && call->kind == CallKind::Local) starts.push_back(std::size_t(*branch_target(d.insn, d.pc)));
  }
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  std::vector<FunctionRange> ranges;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const std::size_t end = i + 1 < starts.size() ? starts[i + 1] : as.insns.size();
    std::string fname = name;
    if (i > 0) {
      fname.clear();
      for (const AsmLabel& l : as.labels)
        if (l.pc == starts[i]) {
          fname = l.name;
          break;
        }
      const bool taken = fname == name || std::any_of(ranges.begin(), ranges.end(), [&](const FunctionRange& r) { return r.name == fname; });
      if (fname.empty() || taken) fname = "sub_" + std::to_string(starts[i]);
    }
    ranges.push_back({fname, starts[i], end - starts[i]});
  }
  const auto function_of = [&](std::size_t pc) {
    return std::size_t(std::upper_bound(starts.begin(), starts.end(), pc) - starts.begin() - 1);
  };

  std::vector<Function> functions(ranges.size());
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    Function& f = functions[i];
    f.name = ranges[i].name;
    f.section = i == 0 ? "" : ".text";
    f.section_offset = i == 0 ? 0 : ranges[i].start;
    f.insns.assign(as.insns.begin() + std::ptrdiff_t(ranges[i].start),
                   as.insns.begin() + std::ptrdiff_t(ranges[i].start + ranges[i].size));
    f.global = i == 0;
  }

  // Map references become relocations, as clang's objects have them.
  for (const DecodedInsn& d : decoded) {
    const auto* ld = std::get_if<LdImm64>(&d.insn);
    if (!ld || ld->pseudo == 0) continue;
    if (!is_map_pseudo(ld->pseudo) && !is_value_pseudo(ld->pseudo))
      throw at_slot(d.pc, "ld_pseudo kind " + std::to_string(ld->pseudo) +
                              " is not supported here (0x1: a map, 0x2: the address of a map's value)");
    const uint32_t index = uint32_t(ld->lo);
    if (index >= header.maps.size())
      throw at_slot(d.pc, "map index " + std::to_string(index) + ", but " +
                              (header.maps.empty() ? std::string("no map is declared")
                                                   : std::to_string(header.maps.size()) + " maps are declared (`; map` lines, numbered from 0)"));
    MapDef& map = header.maps[index];
    const std::size_t fi = function_of(d.pc);
    Relocation rel;
    rel.insn = d.pc - ranges[fi].start;
    rel.symbol = map.name;
    rel.target = map.name;
    if (is_map_pseudo(ld->pseudo)) {
      rel.kind = RelocKind::Map;
      rel.section = ".maps";
    } else {
      // array_map_direct_value_addr: only a one-entry array, and only within its value.
      if (map.type != BPF_MAP_TYPE_ARRAY || map.max_entries != 1)
        throw at_slot(d.pc, "the address of a value needs an array map with entries=1, as the kernel's does; map '" +
                                map.name + "' is " + map.type_name + " with entries=" + std::to_string(map.max_entries));
      if (uint32_t(ld->hi) >= map.value_size)
        throw at_slot(d.pc, "offset " + std::to_string(uint32_t(ld->hi)) + " is past the " +
                                std::to_string(map.value_size) + "-byte value of map '" + map.name + "'");
      make_internal(map);
      rel.kind = RelocKind::GlobalData;
      rel.section = data_section(map);
      rel.offset = uint32_t(ld->hi);
    }
    functions[fi].relocs.push_back(std::move(rel));
  }

  Program p;
  p.entry = std::move(functions[0]);
  const std::string type_name = header.type ? *header.type : opts.default_prog_type;
  try {
    p.prog_type = prog_type_from_name(type_name);
  } catch (const InputError& e) {
    throw e.within(where);
  }
  p.prog_type_name = prog_type_name(p.prog_type);
  p.image = std::move(as.insns);
  p.functions = ranges;
  try {
    build_cfg(p.image, p.functions);
  } catch (const InputError& e) {
    throw relocated(e);
  }

  Module m;
  m.path = path;
  m.programs.push_back(std::move(p));
  for (std::size_t i = 1; i < functions.size(); ++i) m.subprograms.push_back(std::move(functions[i]));
  m.maps = std::move(header.maps);
  m.license = "GPL";
  return m;
}

SrcTgt parse_srctgt(std::string_view text, const std::string& path) {
  const Location file{path, {}, {}};
  const std::vector<std::string_view> lines = split_lines(text);
  std::optional<std::size_t> src_at, tgt_at;  // 0-based line indices of the markers
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view l = trim(lines[i]);
    if (!l.starts_with("---")) continue;
    const auto w = words(l.substr(3));
    const std::string which = w.size() == 1 ? std::string(w[0]) : "";
    if (which == "src") {
      if (src_at) fail_at(file, i + 1, "a second `--- src` (the first is on line " + std::to_string(*src_at + 1) + ")");
      if (tgt_at) fail_at(file, i + 1, "`--- src` must come before `--- tgt`");
      src_at = i;
    } else if (which == "tgt") {
      if (tgt_at) fail_at(file, i + 1, "a second `--- tgt` (the first is on line " + std::to_string(*tgt_at + 1) + ")");
      if (!src_at) fail_at(file, i + 1, "`--- tgt` before `--- src`");
      tgt_at = i;
    } else {
      fail_at(file, i + 1, "unknown section line `" + std::string(l) + "` (expected `--- src` or `--- tgt`)");
    }
  }
  if (!src_at) throw InputError(file, "no `--- src` line: a .srctgt file is a header, then `--- src` and `--- tgt` sections");
  if (!tgt_at) throw InputError(file, "no `--- tgt` line after `--- src` (line " + std::to_string(*src_at + 1) + ")");

  SrcTgt out;
  out.path = path;
  std::optional<std::size_t> description_at;
  for (std::size_t i = 0; i < *src_at; ++i) {
    if (is_code(lines[i]))
      fail_at(file, i + 1, "the header holds only comments and directives; instructions go after `--- src`");
    const auto comment = semicolon_comment(lines[i]);
    if (!comment) continue;
    if (!description_at) {
      if (const auto kind = directive_of(*comment); kind && kind != "map")
        fail_at(file, i + 1, "the first `;` line describes the pair, and this one is a " + std::string(*kind) +
                                 " directive: put a line saying what the pair tests above it");
      description_at = i;
      out.description = std::string(*comment);
      continue;
    }
    const auto kind = directive_of(*comment);
    const auto value = [&](std::size_t skip) { return std::string(trim(comment->substr(skip))); };
    const auto once = [&](bool seen, const char* what) {
      if (seen) fail_at(file, i + 1, std::string("a second `; ") + what + ":` line");
    };
    if (kind == "expect") {
      once(!out.expect.empty(), "expect");
      out.expect = value(7);
      if (out.expect != "equivalent" && out.expect != "not-equivalent" && out.expect != "unknown")
        fail_at(file, i + 1, "expect: '" + out.expect + "' is not one of equivalent, not-equivalent, unknown");
    } else if (kind == "window") {
      once(out.window.has_value(), "window");
      out.window = value(7);
    } else if (kind == "witness") {
      once(out.witness.has_value(), "witness");
      // packet=HEX, the hex with any spacing (parse_hex's), to the end of the line.
      const std::string_view item = trim(comment->substr(8));
      if (!item.starts_with("packet="))
        fail_at(file, i + 1, "witness: expected packet=HEX, not '" + std::string(item) + "'");
      const auto bytes = parse_hex(item.substr(7));
      if (!bytes || bytes->empty()) fail_at(file, i + 1, "witness: the packet is not hex bytes");
      SrcTgtWitness w{*bytes};
      out.witness = std::move(w);
    }
  }
  if (out.expect.empty())
    throw InputError(file, "no `; expect:` line in the header (equivalent, not-equivalent or unknown)");

  // Directives belong in the header: in a half, the comments before its first instruction would
  // otherwise be read as directives of that half alone.
  for (const auto [from, to] : {std::pair{*src_at + 1, *tgt_at}, std::pair{*tgt_at + 1, lines.size()}}) {
    for (std::size_t i = from; i < to && !is_code(lines[i]); ++i)
      if (const auto c = semicolon_comment(lines[i]); c && directive_of(*c))
        fail_at(file, i + 1, "directives belong in the header, before `--- src`");
  }

  // Each half as a module of its own: the header, then its lines, every other line blank so that
  // line numbers stay the file's. The description line is prose, never a directive.
  const auto half_text = [&](std::size_t from, std::size_t to) {
    std::string s;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if ((i < *src_at && i != description_at) || (i >= from && i < to)) s += lines[i];
      s += '\n';
    }
    return s;
  };
  out.src = assemble_module(half_text(*src_at + 1, *tgt_at), path, AsmModuleOptions{"src"});
  out.tgt = assemble_module(half_text(*tgt_at + 1, lines.size()), path, AsmModuleOptions{"tgt"});
  // A map read by direct value address in one half is global data in both.
  for (std::size_t i = 0; i < out.src.maps.size(); ++i) {
    MapDef& a = out.src.maps[i];
    MapDef& b = out.tgt.maps[i];
    if (a.internal && !b.internal) make_internal(b);
    if (b.internal && !a.internal) make_internal(a);
  }
  return out;
}

SrcTgt read_srctgt(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_srctgt(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path);
}

}  // namespace tristate
