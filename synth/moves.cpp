#include "synth/moves.hpp"

#include <algorithm>

#include "compiler/rewrite.hpp"

namespace tristate {

namespace {

constexpr std::array<uint32_t, kMoveKinds> kWeights = {30, 10, 15, 5, 20, 10, 10, 5, 5};

template <class T>
const T& pick(const std::vector<T>& v, std::mt19937_64& rng) {
  return v[std::size_t(rng() % v.size())];
}

constexpr std::array<uint8_t, 11> kAluOps = {bpf::ADD, bpf::SUB, bpf::MUL, bpf::OR,  bpf::AND, bpf::LSH,
                                            bpf::RSH, bpf::ARSH, bpf::XOR, bpf::MOV, bpf::NEG};
constexpr std::array<uint8_t, 4> kSizes = {bpf::B, bpf::H, bpf::W, bpf::DW};

}  // namespace

const char* move_name(MoveKind k) {
  switch (k) {
    case MoveKind::Operand: return "operand";
    case MoveKind::Opcode: return "opcode";
    case MoveKind::Instruction: return "instruction";
    case MoveKind::Pair: return "pair";
    case MoveKind::Delete: return "delete";
    case MoveKind::Insert: return "insert";
    case MoveKind::Swap: return "swap";
    case MoveKind::Widen: return "widen";
    case MoveKind::Copy: return "copy";
  }
  return "?";
}

bool is_nop(const Insn& insn) { return insn == kNop; }

Proposer::Proposer(std::span<const Insn> window, RegSet live_in, RegSet live_out, std::span<const int32_t> constants,
                   unsigned cpu)
    : cpu_(cpu) {
  RegSet regs = live_in | live_out;
  for (const Insn& i : window) {
    regs |= reg_bit(i.dst) | reg_bit(i.src);
    if (bpf::class_of(i.opcode) == bpf::LDX || bpf::class_of(i.opcode) == bpf::ST || bpf::class_of(i.opcode) == bpf::STX)
      offsets_.push_back(i.off);
    constants_.push_back(i.imm);
  }
  for (Reg r = 0; r <= kMaxReg; ++r)
    if (regs & reg_bit(r)) {
      regs_.push_back(r);
      if (r != kFramePointer) dsts_.push_back(r);
    }
  if (dsts_.empty()) dsts_.push_back(0);
  constants_.insert(constants_.end(), constants.begin(), constants.end());
  for (int32_t k : {0, 1, -1, 2, 3, 4, 8, 16, 24, 32, 48, 56, 63, 0xff, 0xffff}) constants_.push_back(k);
  std::sort(constants_.begin(), constants_.end());
  constants_.erase(std::unique(constants_.begin(), constants_.end()), constants_.end());
  const std::vector<int16_t> used = offsets_;
  for (int16_t o : used)  // neighbours of the offsets used: wider or split accesses
    for (int d : {-8, -4, -2, -1, 1, 2, 4, 8}) offsets_.push_back(int16_t(o + d));
  offsets_.push_back(0);
  std::sort(offsets_.begin(), offsets_.end());
  offsets_.erase(std::unique(offsets_.begin(), offsets_.end()), offsets_.end());
}

Reg Proposer::any_reg(std::mt19937_64& rng) const { return pick(regs_, rng); }
Reg Proposer::dst_reg(std::mt19937_64& rng) const { return pick(dsts_, rng); }
int32_t Proposer::constant(std::mt19937_64& rng) const { return pick(constants_, rng); }
int16_t Proposer::offset(std::mt19937_64& rng) const { return pick(offsets_, rng); }

Insn Proposer::random_insn(std::mt19937_64& rng) const {
  const unsigned kind = unsigned(rng() % 10);
  if (kind < 5) {  // ALU, 64 or 32 bits, register or immediate operand
    const uint8_t cls = rng() % 2 ? bpf::ALU64 : bpf::ALU;
    const uint8_t op = kAluOps[rng() % kAluOps.size()];
    if (op == bpf::NEG) return make_insn(cls | op, dst_reg(rng), 0, 0, 0);
    if (rng() % 2) return make_insn(cls | op | bpf::X, dst_reg(rng), any_reg(rng), 0, 0);
    int32_t k = constant(rng);
    if (op == bpf::LSH || op == bpf::RSH || op == bpf::ARSH) k &= cls == bpf::ALU64 ? 63 : 31;
    return make_insn(cls | op | bpf::K, dst_reg(rng), 0, 0, k);
  }
  if (kind == 5) {  // byte order
    static constexpr std::array<int32_t, 3> bits = {16, 32, 64};
    const int32_t b = bits[rng() % 3];
    if (cpu_ >= 4 && rng() % 3 == 0) return make_insn(bpf::ALU64 | bpf::END, dst_reg(rng), 0, 0, b);
    return make_insn(bpf::ALU | bpf::END | (rng() % 2 ? bpf::TO_BE : bpf::TO_LE), dst_reg(rng), 0, 0, b);
  }
  const uint8_t size = kSizes[rng() % kSizes.size()];
  if (kind == 6 || kind == 7) {  // load (sign-extending from cpu v4)
    const uint8_t mode = cpu_ >= 4 && size != bpf::DW && rng() % 4 == 0 ? bpf::MEMSX : bpf::MEM;
    return make_insn(bpf::LDX | mode | size, dst_reg(rng), any_reg(rng), offset(rng), 0);
  }
  if (kind == 8) return make_insn(bpf::STX | bpf::MEM | size, any_reg(rng), any_reg(rng), offset(rng), 0);
  return make_insn(bpf::ST | bpf::MEM | size, any_reg(rng), 0, offset(rng), constant(rng));
}

void Proposer::mutate_operand(Insn& insn, std::mt19937_64& rng) const {
  const uint8_t cls = bpf::class_of(insn.opcode);
  const bool mem = cls == bpf::LDX || cls == bpf::ST || cls == bpf::STX;
  switch (rng() % 4) {
    case 0: insn.dst = cls == bpf::ST || cls == bpf::STX ? any_reg(rng) : dst_reg(rng); break;
    case 1: insn.src = any_reg(rng); break;
    case 2:
      if (mem) insn.off = offset(rng);
      else insn.imm = constant(rng);
      break;
    default: insn.imm = constant(rng); break;
  }
}

void Proposer::mutate_opcode(Insn& insn, std::mt19937_64& rng) const {
  const uint8_t cls = bpf::class_of(insn.opcode);
  if (cls == bpf::ALU || cls == bpf::ALU64) {
    if (bpf::op_of(insn.opcode) == bpf::END) return;
    if (rng() % 4 == 0) {  // the other width
      insn.opcode ^= bpf::ALU ^ bpf::ALU64;
      return;
    }
    insn.opcode = uint8_t((insn.opcode & 0x0f) | kAluOps[rng() % kAluOps.size()]);
    return;
  }
  if (cls == bpf::LDX || cls == bpf::ST || cls == bpf::STX) {
    insn.opcode = uint8_t((insn.opcode & ~0x18) | kSizes[rng() % kSizes.size()]);
    return;
  }
}

bool Proposer::widen(std::vector<Insn>& w, std::size_t start, bool keep_low) {
  // lo = *(size *)(base + o); hi = *(size *)(base + o + size); hi <<= 8 * size; hi |= lo
  //   ->  hi = *(2 * size *)(base + o), at the or's place, the other three deleted.
  // Little-endian: the byte at o is the low one. Whether the rewrite holds where it is found
  // (base unchanged in between, lo dead afterwards) is for the test cases and the proofs to say.
  const std::size_t n = w.size();
  auto load_of = [&](std::size_t i, uint8_t size) {
    return w[i].opcode == (bpf::LDX | bpf::MEM | size);
  };
  for (std::size_t d = 0; d < n; ++d) {
    const std::size_t a = (start + d) % n;
    for (uint8_t size : {bpf::B, bpf::H}) {
      if (!load_of(a, size)) continue;
      const int width = size == bpf::B ? 1 : 2;
      const Reg lo = w[a].dst, base = w[a].src;
      if (lo == base) continue;
      for (std::size_t b = 0; b < n; ++b) {
        if (b == a || !load_of(b, size) || w[b].src != base || w[b].dst == lo || w[b].dst == base ||
            w[b].off != w[a].off + width)
          continue;
        const Reg hi = w[b].dst;
        std::size_t shift = n, join = n;
        for (std::size_t i = b + 1; i < n && shift == n; ++i) {
          const uint8_t op = w[i].opcode & ~uint8_t(bpf::ALU ^ bpf::ALU64);
          if ((op == (bpf::ALU | bpf::LSH | bpf::K)) && w[i].dst == hi && w[i].imm == 8 * width) shift = i;
        }
        for (std::size_t i = std::max(a, shift) + 1; i < n && shift < n && join == n; ++i) {
          const uint8_t op = w[i].opcode & ~uint8_t(bpf::ALU ^ bpf::ALU64);
          if (op == (bpf::ALU | bpf::OR | bpf::X) && w[i].dst == hi && w[i].src == lo) join = i;
        }
        if (join == n) continue;
        const uint8_t wide = size == bpf::B ? bpf::H : bpf::W;
        w[join] = make_insn(bpf::LDX | bpf::MEM | wide, hi, base, w[a].off, 0);
        w[b] = w[shift] = kNop;
        if (!keep_low) w[a] = kNop;
        return true;
      }
    }
  }
  return false;
}

bool Proposer::join_copies(std::vector<Insn>& w, std::size_t start) {
  // r = *(size *)(src + o); *(size *)(dst + p) = r   and   r' = *(size *)(src + o'); *(size *)(dst + p') = r'
  // with o' - o == p' - p == +-size  ->  one copy of 2 * size bytes from min(o, o') to min(p, p'),
  // in the earlier copy's two slots. Whether nothing in between reads or writes those bytes, and
  // whether r' is dead afterwards, is for the test cases and the proofs to say.
  const std::size_t n = w.size();
  const auto copy_at = [&](std::size_t i, uint8_t size) {
    return i + 1 < n && w[i].opcode == (bpf::LDX | bpf::MEM | size) && w[i + 1].opcode == (bpf::STX | bpf::MEM | size) &&
           w[i + 1].src == w[i].dst && w[i].src != w[i].dst && w[i + 1].dst != w[i].dst;
  };
  for (std::size_t d = 0; d < n; ++d) {
    const std::size_t a = (start + d) % n;
    for (uint8_t size : {bpf::B, bpf::H, bpf::W}) {
      if (!copy_at(a, size)) continue;
      const int width = size == bpf::B ? 1 : size == bpf::H ? 2 : 4;
      for (std::size_t b = a + 2; b + 1 < n; ++b) {
        if (!copy_at(b, size) || w[b].src != w[a].src || w[b + 1].dst != w[a + 1].dst) continue;
        const int delta = w[b].off - w[a].off;
        if ((delta != width && delta != -width) || w[b + 1].off - w[a + 1].off != delta) continue;
        const uint8_t wide = size == bpf::B ? bpf::H : size == bpf::H ? bpf::W : bpf::DW;
        const int16_t from = int16_t(std::min(w[a].off, w[b].off)), to = int16_t(std::min(w[a + 1].off, w[b + 1].off));
        const Reg r = w[a].dst, src = w[a].src, dst = w[a + 1].dst;
        w[a] = make_insn(bpf::LDX | bpf::MEM | wide, r, src, from, 0);
        w[a + 1] = make_insn(bpf::STX | bpf::MEM | wide, dst, r, to, 0);
        w[b] = w[b + 1] = kNop;
        return true;
      }
    }
  }
  return false;
}

MoveInfo Proposer::apply_rules(std::vector<Insn>& w) {
  MoveInfo info;
  info.before = w;
  info.kind = MoveKind::Widen;
  for (std::size_t round = 0; round < 2 * w.size(); ++round) {
    if (join_copies(w, 0)) {
      info.kind = MoveKind::Copy;
      continue;
    }
    if (!widen(w, 0)) break;
  }
  ++counts[std::size_t(info.kind)].proposed;
  for (std::size_t i = 0; i < w.size(); ++i)
    if (!(w[i] == info.before[i])) info.changed.push_back(i);
  return info;
}

MoveInfo Proposer::propose(std::vector<Insn>& w, std::mt19937_64& rng) {
  MoveInfo info;
  info.before = w;
  uint32_t total = 0;
  for (uint32_t x : kWeights) total += x;
  uint32_t r = uint32_t(rng() % total);
  std::size_t k = 0;
  while (r >= kWeights[k]) r -= kWeights[k++];
  info.kind = MoveKind(k);
  ++counts[k].proposed;
  const std::size_t n = w.size();
  const std::size_t at = std::size_t(rng() % n);
  switch (info.kind) {
    case MoveKind::Operand:
      if (!is_nop(w[at])) mutate_operand(w[at], rng);
      break;
    case MoveKind::Opcode:
      if (!is_nop(w[at])) mutate_opcode(w[at], rng);
      break;
    case MoveKind::Instruction: w[at] = random_insn(rng); break;
    case MoveKind::Pair:
      w[at] = random_insn(rng);
      if (n > 1) w[(at + 1) % n] = random_insn(rng);
      break;
    case MoveKind::Delete: w[at] = kNop; break;
    case MoveKind::Insert: {  // a new instruction at `at`, the rest moving up into a nop after it
      std::size_t hole = at;
      while (hole < n && !is_nop(w[hole])) ++hole;
      if (hole == n) break;
      for (std::size_t i = hole; i > at; --i) w[i] = w[i - 1];
      w[at] = random_insn(rng);
      break;
    }
    case MoveKind::Swap: std::swap(w[at], w[std::size_t(rng() % n)]); break;
    case MoveKind::Widen: widen(w, at, rng() % 2 == 0); break;
    case MoveKind::Copy: join_copies(w, at); break;
  }
  for (std::size_t i = 0; i < n; ++i)
    if (!(w[i] == info.before[i])) info.changed.push_back(i);
  return info;
}

void Proposer::undo(std::vector<Insn>& window, const MoveInfo& info) {
  for (std::size_t i : info.changed) window[i] = info.before[i];
}

}  // namespace tristate
