// Fuzzes the interpreter: random programs of several types run on random packets and contexts,
// alone or in a module with maps of every shape. Whatever the program does, the run must end in a
// result or a Fault (or an InputError for a program or input the kernel refuses before running),
// never in a crash, a leak or undefined behaviour (the target is built with ASan and UBSan).
//
// Input layout: byte 0 picks the program type and the biases below, byte 1 the number of
// instructions, then 8 bytes per instruction; the rest is the packet (the context block for
// kprobes, the memory block for programs without a context type).
//   bit 0x08: prepend a prologue that sets r6 = ctx, r7 = r10 - 64, zeroes r0, r5, r8, r9 and (XDP, tc) loads
//             data and data_end into r2 and r3 and exits unless 64 bytes of packet are there;
//   bit 0x10: repair the image: instructions the decoder refuses, and jumps out of the program,
//             become `goto +0`, so that one bad instruction does not reject the whole program;
//   bit 0x20: run in a module with maps (ld_imm64 with src_reg 1 loads map imm % N, with
//             src_reg 2 the global data at offset imm), and a second program for tail calls;
//   bit 0x40: helper call immediates are drawn from the helpers the interpreter models;
//   bit 0x80: run on CPU 1 of 2.
#include <linux/bpf.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "compiler/bytecode.hpp"
#include "compiler/error.hpp"
#include "compiler/interpreter.hpp"
#include "compiler/isa.hpp"
#include "compiler/maps.hpp"
#include "compiler/program.hpp"

using namespace tristate;

namespace {

constexpr uint32_t kTypes[] = {0, BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_XDP,
                               BPF_PROG_TYPE_KPROBE};

constexpr int32_t kHelpers[] = {
    BPF_FUNC_map_lookup_elem,   BPF_FUNC_map_update_elem,   BPF_FUNC_map_delete_elem,
    BPF_FUNC_ktime_get_ns,      BPF_FUNC_ktime_get_boot_ns, BPF_FUNC_ktime_get_coarse_ns,
    BPF_FUNC_trace_printk,      BPF_FUNC_get_prandom_u32,   BPF_FUNC_get_smp_processor_id,
    BPF_FUNC_get_current_pid_tgid, BPF_FUNC_get_current_comm, BPF_FUNC_probe_read_user,
    BPF_FUNC_probe_read_kernel, BPF_FUNC_probe_read_user_str, BPF_FUNC_probe_read_kernel_str,
    BPF_FUNC_skb_load_bytes,    BPF_FUNC_skb_store_bytes,   BPF_FUNC_l3_csum_replace,
    BPF_FUNC_l4_csum_replace,   BPF_FUNC_csum_diff,         BPF_FUNC_redirect,
    BPF_FUNC_redirect_map,      BPF_FUNC_xdp_adjust_head,   BPF_FUNC_xdp_adjust_meta,
    BPF_FUNC_xdp_adjust_tail,   BPF_FUNC_fib_lookup,        BPF_FUNC_ringbuf_output,
    BPF_FUNC_tail_call,
};

const std::vector<MapDef>& map_defs() {
  static const std::vector<MapDef> defs = {
      {.name = "array", .type = BPF_MAP_TYPE_ARRAY, .type_name = "array", .key_size = 4, .value_size = 16, .max_entries = 8},
      {.name = "hash", .type = BPF_MAP_TYPE_HASH, .type_name = "hash", .key_size = 8, .value_size = 12, .max_entries = 4},
      {.name = "lpm", .type = BPF_MAP_TYPE_LPM_TRIE, .type_name = "lpm_trie", .key_size = 8, .value_size = 8, .max_entries = 8},
      {.name = "pcpu", .type = BPF_MAP_TYPE_PERCPU_ARRAY, .type_name = "percpu_array", .key_size = 4, .value_size = 8,
       .max_entries = 4},
      {.name = "progs", .type = BPF_MAP_TYPE_PROG_ARRAY, .type_name = "prog_array", .key_size = 4, .value_size = 4,
       .max_entries = 4},
      {.name = "ring", .type = BPF_MAP_TYPE_RINGBUF, .type_name = "ringbuf", .max_entries = 4096},
      {.name = "lru", .type = BPF_MAP_TYPE_LRU_HASH, .type_name = "lru_hash", .key_size = 4, .value_size = 8, .max_entries = 2},
      {.name = "dev", .type = BPF_MAP_TYPE_DEVMAP, .type_name = "devmap", .key_size = 4, .value_size = 4, .max_entries = 4},
      // Global data, for ld_imm64 with src_reg 2; it must stay last.
      {.name = ".data", .type = BPF_MAP_TYPE_ARRAY, .type_name = "array", .key_size = 4, .value_size = 48, .max_entries = 1,
       .internal = true, .section = ".data", .initial_value = {1, 2, 3, 4, 5, 6, 7, 8}},
  };
  return defs;
}

// The instruction index an ld_imm64 slot names with src_reg 1 (map) or 2 (global data).
std::vector<Relocation> relocations(const std::vector<Insn>& image) {
  std::vector<Relocation> relocs;
  const std::size_t nmaps = map_defs().size() - 1;  // the last one is .data
  for (std::size_t i = 0; i + 1 < image.size(); ++i) {
    const Insn& in = image[i];
    if (in.opcode != (bpf::LD | bpf::IMM | bpf::DW)) continue;
    if (in.src == bpf::PSEUDO_MAP_FD || in.src == bpf::PSEUDO_MAP_VALUE) {
      Relocation r;
      r.insn = i;
      if (in.src == bpf::PSEUDO_MAP_FD) {
        r.kind = RelocKind::Map;
        r.target = map_defs()[uint32_t(in.imm) % nmaps].name;
        r.symbol = r.target;
      } else {
        r.kind = RelocKind::GlobalData;
        r.section = ".data";
        r.symbol = ".data";
        r.offset = uint32_t(in.imm) % 64;  // sometimes past the 48-byte value
      }
      relocs.push_back(r);
    }
    ++i;  // the second slot
  }
  return relocs;
}

// Replaces instructions the decoder refuses and jumps leaving the program with `goto +0`.
void repair(std::vector<Insn>& image) {
  const Insn nop = make_insn(bpf::JMP | bpf::JA, 0, 0, 0, 0);
  std::vector<bool> second(image.size(), false);
  for (std::size_t i = 0; i < image.size(); ++i) {
    const DecodeResult r = decode(image, i);
    if (!r.ok()) {
      image[i] = nop;
      continue;
    }
    if (std::holds_alternative<LdImm64>(r.decoded())) {
      if (i + 1 < image.size()) second[i + 1] = true;
      ++i;
    }
  }
  for (std::size_t i = 0; i < image.size(); ++i) {
    if (second[i]) continue;
    const DecodeResult r = decode(image, i);
    if (!r.ok()) continue;
    if (auto t = branch_target(r.decoded(), i)) {
      if (*t < 0 || std::size_t(*t) >= image.size() || second[std::size_t(*t)]) {
        // An ld_imm64 of a function pointer cannot become a nop in one slot: keep the second slot.
        if (std::holds_alternative<LdImm64>(r.decoded())) {
          image[i].src = 0;
        } else {
          image[i] = nop;
        }
      }
    }
  }
}

std::vector<Insn> prologue(uint32_t type) {
  const auto mov = [](uint8_t dst, int32_t imm) { return make_insn(bpf::ALU64 | bpf::MOV | bpf::K, dst, 0, 0, imm); };
  std::vector<Insn> p;
  p.push_back(make_insn(bpf::ALU64 | bpf::MOV | bpf::X, 6, 1, 0, 0));  // r6 = r1
  for (uint8_t r : {0, 5, 8, 9}) p.push_back(mov(r, 0));
  p.push_back(make_insn(bpf::ALU64 | bpf::MOV | bpf::X, 7, 10, 0, 0));  // r7 = r10 - 64
  p.push_back(make_insn(bpf::ALU64 | bpf::ADD | bpf::K, 7, 0, 0, -64));
  int data = -1, data_end = -1;
  if (type == BPF_PROG_TYPE_XDP) data = 0, data_end = 4;
  if (type == BPF_PROG_TYPE_SCHED_CLS) data = 76, data_end = 80;
  if (data >= 0) {
    p.push_back(make_insn(bpf::LDX | bpf::MEM | bpf::W, 2, 1, int16_t(data), 0));      // r2 = data
    p.push_back(make_insn(bpf::LDX | bpf::MEM | bpf::W, 3, 1, int16_t(data_end), 0));  // r3 = data_end
    p.push_back(make_insn(bpf::ALU64 | bpf::MOV | bpf::X, 4, 2, 0, 0));                // r4 = r2
    p.push_back(make_insn(bpf::ALU64 | bpf::ADD | bpf::K, 4, 0, 0, 64));               // r4 += 64
    p.push_back(make_insn(bpf::JMP | bpf::JLE | bpf::X, 4, 3, 2, 0));                  // if r4 <= r3 goto +2
    p.push_back(mov(0, 0));
    p.push_back(make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0));
  }
  return p;
}

Environment environment(bool cpu1) {
  Environment env;
  env.cpu = cpu1 ? 1 : 0;
  env.ktime_step_ns = 1000;
  FibRoute local;
  local.prefix = 0x0000000a;  // 10.0.0.0/8
  local.prefix_len = 8;
  local.ifindex = 2;
  FibRoute def;
  def.prefix_len = 0;
  def.ifindex = 3;
  def.gateway = 0x0100000a;
  def.mtu = 100;
  env.fib = {local, def};
  return env;
}

void run_one(const Interpreter& interp, uint32_t type, std::span<const uint8_t> rest, const Environment& env) {
  const RunLimits limits{10000};
  if (type == 0) {
    std::vector<uint8_t> memory(rest.begin(), rest.end());
    interp.run(std::span<uint8_t>(memory), limits);
    return;
  }
  RunInput input;
  if (type == BPF_PROG_TYPE_KPROBE)
    input.ctx = rest;
  else
    input.packet = rest;
  try {
    interp.run(0, input, env, limits);
  } catch (const InputError&) {
    // A packet or context the kernel refuses before running.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  const uint32_t type = kTypes[(flags & 7) % 5];
  const std::size_t count = data[1];
  std::span<const uint8_t> bytes(data + 2, size - 2);
  const std::size_t code_bytes = std::min(bytes.size() / 8, count) * 8;
  std::span<const uint8_t> rest = bytes.subspan(code_bytes);

  std::vector<Insn> image;
  if (flags & 0x08) image = prologue(type);
  if (code_bytes > 0) {
    try {
      const auto body = insns_from_bytes(bytes.first(code_bytes), Location{"fuzz.bin", {}, {}});
      image.insert(image.end(), body.begin(), body.end());
    } catch (const InputError&) {
      return 0;
    }
  }
  if (image.empty()) return 0;
  if (flags & 0x40)
    for (Insn& in : image)
      if (in.opcode == (bpf::JMP | bpf::CALL) && in.src == 0)
        in.imm = kHelpers[uint32_t(in.imm) % std::size(kHelpers)];
  if (flags & 0x10) repair(image);

  const Environment env = environment(flags & 0x80);
  try {
    if (!(flags & 0x20)) {
      const Interpreter interp(image, type);
      run_one(interp, type, rest, env);
      return 0;
    }
    Module module;
    module.path = "fuzz.o";
    module.maps = map_defs();
    Program a;
    a.entry.name = "a";
    a.entry.section = "fuzz";
    a.entry.insns = image;
    a.entry.relocs = relocations(image);
    a.prog_type = type;
    a.image = image;
    a.functions = {FunctionRange{"a", 0, image.size()}};
    Program b;  // a tail call target: returns 7
    b.entry.name = "b";
    b.entry.section = "fuzz";
    b.entry.insns = {make_insn(bpf::ALU64 | bpf::MOV | bpf::K, 0, 0, 0, 7), make_insn(bpf::JMP | bpf::EXIT, 0, 0, 0, 0)};
    b.prog_type = type;
    b.image = b.entry.insns;
    b.functions = {FunctionRange{"b", 0, b.image.size()}};
    module.programs = {a, b};
    MapSet maps(module.maps, 2);
    const int progs = maps.find("progs");
    for (uint32_t i = 0; i < 2; ++i) {
      const uint32_t slot = i * 2;  // slot 0 -> a (itself), slot 2 -> b
      maps[std::size_t(progs)].update({reinterpret_cast<const uint8_t*>(&slot), 4},
                                      {reinterpret_cast<const uint8_t*>(&i), 4}, BPF_ANY, 0);
    }
    const Interpreter interp(module, maps);
    run_one(interp, type, rest, env);
    // The maps must stay dumpable after whatever the program did to them.
    (void)to_json(maps.dump(), module.maps);
  } catch (const InputError&) {
    // An image the kernel would refuse (decode_program).
  }
  return 0;
}
