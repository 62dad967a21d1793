// The BPF instruction set: the raw 8-byte instruction and a decoded view of it.
//
// Opcode values are facts from RFC 9669 and the Linux 6.18 UAPI (include/uapi/linux/bpf.h).
// They carry the kernel's names without the `BPF_` prefix (`bpf::ALU64`, `bpf::JSGT`,
// `bpf::MEMSX`), so they read like the kernel's and never collide with its macros when
// <linux/bpf.h> is included in the same translation unit.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace tristate {

namespace bpf {
// Instruction classes (the low three bits of the opcode).
inline constexpr uint8_t LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05,
                         JMP32 = 0x06, ALU64 = 0x07;
// Load/store sizes.
inline constexpr uint8_t W = 0x00, H = 0x08, B = 0x10, DW = 0x18;
// Load/store modes.
inline constexpr uint8_t IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, MEMSX = 0x80, ATOMIC = 0xc0;
// Operand source.
inline constexpr uint8_t K = 0x00, X = 0x08;
// ALU operations.
inline constexpr uint8_t ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, OR = 0x40, AND = 0x50,
                         LSH = 0x60, RSH = 0x70, NEG = 0x80, MOD = 0x90, XOR = 0xa0, MOV = 0xb0,
                         ARSH = 0xc0, END = 0xd0;
// Byte order of END.
inline constexpr uint8_t TO_LE = 0x00, TO_BE = 0x08;
// Jump operations.
inline constexpr uint8_t JA = 0x00, JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40, JNE = 0x50,
                         JSGT = 0x60, JSGE = 0x70, CALL = 0x80, EXIT = 0x90, JLT = 0xa0,
                         JLE = 0xb0, JSLT = 0xc0, JSLE = 0xd0, JCOND = 0xe0;
// Atomic operations, carried in imm.
inline constexpr int32_t FETCH = 0x01, XCHG = 0xe0 | FETCH, CMPXCHG = 0xf0 | FETCH,
                         LOAD_ACQ = 0x100, STORE_REL = 0x110;
// src_reg of LD_IMM64.
inline constexpr uint8_t PSEUDO_MAP_FD = 1, PSEUDO_MAP_VALUE = 2, PSEUDO_BTF_ID = 3,
                         PSEUDO_FUNC = 4, PSEUDO_MAP_IDX = 5, PSEUDO_MAP_IDX_VALUE = 6;
// src_reg of CALL.
inline constexpr uint8_t PSEUDO_CALL = 1, PSEUDO_KFUNC_CALL = 2;
// src_reg of JCOND.
inline constexpr uint8_t MAY_GOTO = 0;
// off of ALU64 MOV X that marks an address-space cast (arena pointers).
inline constexpr int16_t ADDR_SPACE_CAST = 1;

inline constexpr uint8_t class_of(uint8_t opcode) { return opcode & 0x07; }
inline constexpr uint8_t size_of(uint8_t opcode) { return opcode & 0x18; }
inline constexpr uint8_t mode_of(uint8_t opcode) { return opcode & 0xe0; }
inline constexpr uint8_t op_of(uint8_t opcode) { return opcode & 0xf0; }
inline constexpr uint8_t src_of(uint8_t opcode) { return opcode & 0x08; }
}  // namespace bpf

// Exactly the layout of the kernel's `struct bpf_insn` (little-endian bit-fields).
struct Insn {
  uint8_t opcode = 0;
  uint8_t dst : 4 = 0;
  uint8_t src : 4 = 0;
  int16_t off = 0;
  int32_t imm = 0;

  friend bool operator==(const Insn&, const Insn&) = default;
};
static_assert(sizeof(Insn) == 8, "Insn must match struct bpf_insn");

// An instruction from its raw fields, as in the kernel's BPF_RAW_INSN.
constexpr Insn make_insn(uint8_t opcode, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  Insn i;
  i.opcode = opcode;
  i.dst = dst & 0xf;
  i.src = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// Classes of raw instructions, for passes over Insn arrays that need no decoding.
constexpr bool is_ld_imm64(const Insn& i) { return i.opcode == (bpf::LD | bpf::IMM | bpf::DW); }
constexpr bool in_jump_class(const Insn& i) {
  return bpf::class_of(i.opcode) == bpf::JMP || bpf::class_of(i.opcode) == bpf::JMP32;
}
constexpr bool is_call_insn(const Insn& i) { return in_jump_class(i) && bpf::op_of(i.opcode) == bpf::CALL; }
constexpr bool is_exit_insn(const Insn& i) { return bpf::class_of(i.opcode) == bpf::JMP && bpf::op_of(i.opcode) == bpf::EXIT; }
// Jumps, gotos and may_goto: the instructions with a pc-relative target.
constexpr bool has_branch_offset(const Insn& i) {
  return in_jump_class(i) && bpf::op_of(i.opcode) != bpf::CALL && bpf::op_of(i.opcode) != bpf::EXIT;
}
constexpr bool is_goto(const Insn& i) { return has_branch_offset(i) && bpf::op_of(i.opcode) == bpf::JA; }
// `gotol` (BPF_JMP32 | BPF_JA) keeps its offset in imm.
constexpr bool is_gotol(const Insn& i) { return bpf::class_of(i.opcode) == bpf::JMP32 && bpf::op_of(i.opcode) == bpf::JA; }
constexpr int64_t branch_offset_of(const Insn& i) { return is_gotol(i) ? i.imm : i.off; }

using Reg = uint8_t;
inline constexpr Reg kFramePointer = 10;  // r10, read-only
inline constexpr Reg kMaxReg = 10;

// The right-hand operand of ALU and conditional jumps: a register or a 32-bit immediate.
struct Operand {
  bool is_reg = false;
  Reg reg = 0;
  int32_t imm = 0;

  static constexpr Operand r(Reg reg) { return {true, reg, 0}; }
  static constexpr Operand k(int32_t imm) { return {false, 0, imm}; }
  friend bool operator==(const Operand&, const Operand&) = default;
};

// Access width in bytes: 1, 2, 4 or 8.
enum class Width : uint8_t { B = 1, H = 2, W = 4, DW = 8 };
inline constexpr int bytes(Width w) { return static_cast<int>(w); }

enum class AluOp : uint8_t {
  Add, Sub, Mul, Div, SDiv, Or, And, Lsh, Rsh, Neg, Mod, SMod, Xor, Mov, MovSx8, MovSx16,
  MovSx32, Arsh,
};

// dst = dst OP src, on 64 bits or on the low 32 bits (then zero-extended). Neg ignores src
// (it is Operand::k(0)); MovSxN moves src sign-extended from N bits (register source only).
struct Alu {
  bool is64 = true;
  AluOp op = AluOp::Add;
  Reg dst = 0;
  Operand src;
  friend bool operator==(const Alu&, const Alu&) = default;
};

// ToLe/ToBe (BPF_ALU | BPF_END): convert to the byte order, truncating to `bits`.
// Swap (BPF_ALU64 | BPF_END, cpu v4 "bswap"): unconditional byte swap.
enum class ByteOrder : uint8_t { ToLe, ToBe, Swap };
struct Endian {
  ByteOrder order = ByteOrder::ToBe;
  Reg dst = 0;
  uint8_t bits = 64;  // 16, 32 or 64
  friend bool operator==(const Endian&, const Endian&) = default;
};

// dst = addr_space_cast(src, dst_as, src_as): arena pointer conversion (BPF_ALU64 | BPF_MOV | BPF_X,
// off = 1, imm = dst_as << 16 | src_as).
struct AddrSpaceCast {
  Reg dst = 0;
  Reg src = 0;
  uint16_t dst_as = 0;
  uint16_t src_as = 0;
  friend bool operator==(const AddrSpaceCast&, const AddrSpaceCast&) = default;
};

enum class Cond : uint8_t { Eq, Gt, Ge, Set, Ne, Sgt, Sge, Lt, Le, Slt, Sle };

// if dst COND src goto pc + 1 + off, comparing 64 bits or the low 32 bits.
struct Jmp {
  bool is64 = true;
  Cond cond = Cond::Eq;
  Reg dst = 0;
  Operand src;
  int16_t off = 0;
  friend bool operator==(const Jmp&, const Jmp&) = default;
};

// goto pc + 1 + off. `is_long` is `gotol` (BPF_JMP32 | BPF_JA, offset in imm).
struct Ja {
  int32_t off = 0;
  bool is_long = false;
  friend bool operator==(const Ja&, const Ja&) = default;
};

// may_goto pc + 1 + off (BPF_JMP | BPF_JCOND, src_reg = BPF_MAY_GOTO).
struct MayGoto {
  int16_t off = 0;
  friend bool operator==(const MayGoto&, const MayGoto&) = default;
};

// dst = *(width *)(base + off), zero- or sign-extended. `acquire` is load-acquire
// (BPF_STX | BPF_ATOMIC, imm = BPF_LOAD_ACQ), which never sign-extends.
struct Load {
  Width width = Width::DW;
  bool sign_extend = false;
  bool acquire = false;
  Reg dst = 0;
  Reg base = 0;
  int16_t off = 0;
  friend bool operator==(const Load&, const Load&) = default;
};

// *(width *)(base + off) = src: BPF_ST for an immediate, BPF_STX for a register.
// `release` is store-release (BPF_STX | BPF_ATOMIC, imm = BPF_STORE_REL), register source only.
struct Store {
  Width width = Width::DW;
  bool release = false;
  Reg base = 0;
  int16_t off = 0;
  Operand src;
  friend bool operator==(const Store&, const Store&) = default;
};

enum class AtomicOp : uint8_t { Add, Or, And, Xor, Xchg, CmpXchg };

// Read-modify-write on *(width *)(base + off) with register `src`, 32 or 64 bits. With `fetch`
// the old value is written to `src` (to r0 for CmpXchg, which compares against r0). Xchg and
// CmpXchg always fetch.
struct Atomic {
  Width width = Width::DW;
  AtomicOp op = AtomicOp::Add;
  bool fetch = false;
  Reg base = 0;
  Reg src = 0;
  int16_t off = 0;
  friend bool operator==(const Atomic&, const Atomic&) = default;
};

enum class CallKind : uint8_t { Helper, Local, Kfunc };

// Helper: imm is the helper id. Local (bpf-to-bpf): the callee starts at pc + 1 + imm.
// Kfunc: imm is the BTF id of the function, off the index of the module BTF fd (0 = vmlinux).
struct Call {
  CallKind kind = CallKind::Helper;
  int32_t imm = 0;
  int16_t off = 0;
  friend bool operator==(const Call&, const Call&) = default;
};

struct Exit {
  friend bool operator==(const Exit&, const Exit&) = default;
};

// dst = 64-bit immediate (two instruction slots). `pseudo` is src_reg: 0 for a plain constant,
// else one of bpf::PSEUDO_*; `lo` and `hi` are the two imm fields as in the file.
struct LdImm64 {
  Reg dst = 0;
  uint8_t pseudo = 0;
  int32_t lo = 0;
  int32_t hi = 0;
  uint64_t value() const { return (uint64_t(uint32_t(hi)) << 32) | uint32_t(lo); }
  friend bool operator==(const LdImm64&, const LdImm64&) = default;
};

// Legacy packet access of socket filters: r0 = ntoh(*(width *)(skb->data + imm [+ src])).
struct PacketLoad {
  bool indirect = false;  // LD_IND adds register src
  Width width = Width::W;
  Reg src = 0;
  int32_t imm = 0;
  friend bool operator==(const PacketLoad&, const PacketLoad&) = default;
};

using Decoded = std::variant<Alu, Endian, AddrSpaceCast, Jmp, Ja, MayGoto, Load, Store, Atomic,
                             Call, Exit, LdImm64, PacketLoad>;

// Number of 8-byte slots an instruction takes (2 for LD_IMM64).
inline std::size_t slots(const Decoded& d) { return std::holds_alternative<LdImm64>(d) ? 2 : 1; }

// The encoded form of one decoded instruction: one or two slots, no allocation.
struct Encoded {
  std::array<Insn, 2> insn{};
  uint8_t count = 1;
  std::span<const Insn> span() const { return {insn.data(), count}; }
};

// Encodes a decoded instruction. Every decoded value that decode() can produce encodes to the
// exact bytes it came from.
Encoded encode(const Decoded& d);

// Decoding one instruction either gives the view, or the kernel's reason for refusing it.
struct DecodeResult {
  std::variant<Decoded, std::string> value;
  bool ok() const { return value.index() == 0; }
  const Decoded& decoded() const { return std::get<0>(value); }
  const std::string& error() const { return std::get<1>(value); }
};

// Decodes the instruction at `index` (which may use `index + 1` for LD_IMM64), checking every
// field the way the Linux 6.18 verifier does before it looks at types: unknown opcodes, reserved
// fields, invalid registers, writes to r10, division by a zero constant, out-of-range shift
// constants, a split LD_IMM64. Jump targets are not checked here (see decode_program).
DecodeResult decode(std::span<const Insn> insns, std::size_t index);

// A decoded program: one entry per instruction start, with its slot index.
struct DecodedInsn {
  std::size_t pc = 0;  // slot index in the original instruction array
  Decoded insn;
};

// Decodes a whole instruction array and checks what needs the whole array: every jump and call
// target lies inside the program and not in the second slot of an LD_IMM64. Throws InputError
// naming the instruction index and the reason.
std::vector<DecodedInsn> decode_program(std::span<const Insn> insns);

// The slot a jump, may_goto or bpf-to-bpf call at `pc` goes to, or that an LD_IMM64 of a
// function pointer (PSEUDO_FUNC, e.g. a bpf_loop callback) names, if the instruction has one.
std::optional<std::int64_t> branch_target(const Decoded& d, std::size_t pc);

// The lowest -mcpu version (1 to 4) whose instruction set has this instruction, per LLVM's BPF
// backend: v2 adds JLT/JLE/JSLT/JSLE, v3 the 32-bit jumps (BPF_JMP32), v4 sign-extending moves
// and loads, signed division, unconditional byte swaps, gotol and the acquire/release atomics.
unsigned min_cpu_version(const Decoded& d);

// The condition that holds exactly when `c` does not (`==` and `!=`, `>` and `<=`, ...). JSET has
// no such condition among the eleven; it is returned unchanged.
Cond negate(Cond c);

}  // namespace tristate
