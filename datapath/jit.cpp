#include "datapath/jit.hpp"

#include <linux/bpf.h>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>

#include "analyzer/analyzer.hpp"
#include "compiler/error.hpp"
#include "compiler/helper_names.hpp"
#include "compiler/semantics.hpp"

namespace tristate::datapath {

namespace {

// ---- the shared semantics on IR values ---------------------------------------------------------

// A domain for compiler/semantics.hpp whose values are i64 IR values and whose truth values are
// i1. Division and remainder guard their divisor, because LLVM's are undefined where SMT-LIB's
// (and so the semantics') are total.
struct IrDomain {
  using Value = llvm::Value*;
  using Bool = llvm::Value*;
  llvm::IRBuilder<>& b;

  llvm::Type* i64() const { return b.getInt64Ty(); }
  Value constant(uint64_t v) const { return b.getInt64(v); }
  Value add(Value x, Value y) const { return b.CreateAdd(x, y); }
  Value sub(Value x, Value y) const { return b.CreateSub(x, y); }
  Value mul(Value x, Value y) const { return b.CreateMul(x, y); }
  Value safe_divisor(Value y) const { return b.CreateSelect(eq(y, constant(0)), constant(1), y); }
  Value udiv(Value x, Value y) const { return b.CreateSelect(eq(y, constant(0)), constant(~0ull), b.CreateUDiv(x, safe_divisor(y))); }
  Value urem(Value x, Value y) const { return b.CreateSelect(eq(y, constant(0)), x, b.CreateURem(x, safe_divisor(y))); }
  Value sdiv(Value x, Value y) const {
    // y = 0: SMT-LIB's 1 or -1 by the sign of x; y = -1: -x (wrapping); else LLVM's sdiv.
    Value minus_one = constant(~0ull);
    Value odd = b.CreateOr(eq(y, constant(0)), eq(y, minus_one));
    Value q = b.CreateSDiv(x, b.CreateSelect(odd, constant(1), y));
    Value by_zero = b.CreateSelect(slt(x, constant(0)), constant(1), minus_one);
    return b.CreateSelect(eq(y, constant(0)), by_zero, b.CreateSelect(eq(y, minus_one), neg(x), q));
  }
  Value srem(Value x, Value y) const {
    Value minus_one = constant(~0ull);
    Value odd = b.CreateOr(eq(y, constant(0)), eq(y, minus_one));
    Value r = b.CreateSRem(x, b.CreateSelect(odd, constant(1), y));
    return b.CreateSelect(eq(y, constant(0)), x, b.CreateSelect(eq(y, minus_one), constant(0), r));
  }
  Value band(Value x, Value y) const { return b.CreateAnd(x, y); }
  Value bor(Value x, Value y) const { return b.CreateOr(x, y); }
  Value bxor(Value x, Value y) const { return b.CreateXor(x, y); }
  Value shl(Value x, Value n) const { return b.CreateShl(x, b.CreateAnd(n, 63)); }
  Value lshr(Value x, Value n) const { return b.CreateLShr(x, b.CreateAnd(n, 63)); }
  Value ashr(Value x, Value n) const { return b.CreateAShr(x, b.CreateAnd(n, 63)); }
  Value neg(Value x) const { return b.CreateNeg(x); }
  Value zext(Value x, unsigned bits) const {
    if (bits >= 64) return x;
    return b.CreateZExt(b.CreateTrunc(x, b.getIntNTy(bits)), i64());
  }
  Value sext(Value x, unsigned bits) const {
    if (bits >= 64) return x;
    return b.CreateSExt(b.CreateTrunc(x, b.getIntNTy(bits)), i64());
  }
  Value bswap(Value x, unsigned bits) const {
    Value narrow = bits >= 64 ? x : b.CreateTrunc(x, b.getIntNTy(bits));
    Value swapped = b.CreateUnaryIntrinsic(llvm::Intrinsic::bswap, narrow);
    return bits >= 64 ? swapped : b.CreateZExt(swapped, i64());
  }
  Value ite(Bool c, Value x, Value y) const { return b.CreateSelect(c, x, y); }
  Bool eq(Value x, Value y) const { return b.CreateICmpEQ(x, y); }
  Bool ult(Value x, Value y) const { return b.CreateICmpULT(x, y); }
  Bool ule(Value x, Value y) const { return b.CreateICmpULE(x, y); }
  Bool slt(Value x, Value y) const { return b.CreateICmpSLT(x, y); }
  Bool sle(Value x, Value y) const { return b.CreateICmpSLE(x, y); }
  Bool lnot(Bool x) const { return b.CreateNot(x); }
};

// ---- helpers the compiled code calls -----------------------------------------------------------

// Every helper has the same native signature: r1..r5 and the frame.
using HelperFn = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, JitFrame*);

constexpr uint32_t kEthHeader = 14;
constexpr uint64_t kXdpFrameStruct = 40;  // the kernel keeps struct xdp_frame at the frame's start

uint64_t errno_result(int e) { return uint64_t(-int64_t(e)); }

MapInstance& map_at(uint64_t r) { return *reinterpret_cast<MapInstance*>(r); }
std::span<const uint8_t> bytes_at(uint64_t r, std::size_t n) { return {reinterpret_cast<const uint8_t*>(r), n}; }
int map_index(JitFrame* f, uint64_t r) {
  // The maps lie in one array (MapSet): the index is the distance from the first.
  if (f->maps->size() == 0) return -1;
  const uint64_t first = reinterpret_cast<uint64_t>(&(*f->maps)[0]);
  const uint64_t i = (r - first) / sizeof(MapInstance);
  return r >= first && i < f->maps->size() && reinterpret_cast<uint64_t>(&(*f->maps)[i]) == r ? static_cast<int>(i) : -1;
}

uint64_t h_map_lookup(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t, JitFrame* f) {
  MapInstance& m = map_at(map);
  return reinterpret_cast<uint64_t>(m.lookup(bytes_at(key, m.def().key_size), f->env->cpu));
}
// A lookup in the map the analyzer knows at the call (any type but an array, which is inlined):
// the key's size and the CPU were checked when the program was compiled.
uint64_t known_map_lookup(uint64_t map, uint64_t key, uint64_t cpu) {
  return reinterpret_cast<uint64_t>(map_at(map).lookup_unchecked(reinterpret_cast<const uint8_t*>(key), unsigned(cpu)));
}
uint64_t h_map_update(uint64_t map, uint64_t key, uint64_t value, uint64_t flags, uint64_t, JitFrame* f) {
  MapInstance& m = map_at(map);
  return uint64_t(m.update(bytes_at(key, m.def().key_size), bytes_at(value, m.def().value_size), flags, f->env->cpu));
}
uint64_t h_map_delete(uint64_t map, uint64_t key, uint64_t, uint64_t, uint64_t, JitFrame*) {
  MapInstance& m = map_at(map);
  return uint64_t(m.remove(bytes_at(key, m.def().key_size)));
}
uint64_t h_ringbuf_output(uint64_t map, uint64_t data, uint64_t size, uint64_t flags, uint64_t, JitFrame*) {
  return uint64_t(map_at(map).ringbuf_output(bytes_at(data, size), flags));
}
uint64_t h_ktime(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, JitFrame* f) {
  const uint64_t call = f->ktime_calls++;
  if (call < f->env->ktime_values.size()) return f->env->ktime_values[call];
  return f->env->ktime_ns + f->env->ktime_step_ns * call;
}
uint64_t h_cpu(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, JitFrame* f) { return f->env->cpu; }
uint64_t h_redirect(uint64_t ifindex, uint64_t flags, uint64_t, uint64_t, uint64_t, JitFrame* f) {
  if (flags) return XDP_ABORTED;
  set_redirect(*f, Redirect{uint32_t(ifindex), -1, 0, flags});
  return XDP_REDIRECT;
}
uint64_t h_redirect_map(uint64_t map, uint64_t key, uint64_t flags, uint64_t, uint64_t, JitFrame* f) {
  // As Linux 6.18 (and the interpreter): a missing key gives the action in the flags' low bits.
  constexpr uint64_t kActions = XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX;
  if (flags & ~(kActions | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)) return XDP_ABORTED;
  MapInstance& m = map_at(map);
  const uint32_t k = uint32_t(key);
  // Every map type bpf_redirect_map takes has 4-byte keys (the analyzer checked the type).
  if (!(flags & BPF_F_BROADCAST) && !m.lookup_unchecked(reinterpret_cast<const uint8_t*>(&k), f->env->cpu)) return flags & kActions;
  set_redirect(*f, Redirect{0, map_index(f, map), key, flags});
  return XDP_REDIRECT;
}
uint64_t h_adjust_head(uint64_t ctx, uint64_t delta, uint64_t, uint64_t, uint64_t, JitFrame*) {
  JitFrame& x = *reinterpret_cast<JitFrame*>(ctx);
  const int64_t offset = int32_t(delta);
  const uint64_t metalen = x.data - x.data_meta;
  const int64_t data = int64_t(x.data) + offset;
  if (data < int64_t(x.frame_start + kXdpFrameStruct + metalen) || data > int64_t(x.data_end) - kEthHeader) return errno_result(EINVAL);
  if (metalen) std::memmove(reinterpret_cast<uint8_t*>(x.data_meta + offset), reinterpret_cast<uint8_t*>(x.data_meta), metalen);
  x.data_meta = uint64_t(int64_t(x.data_meta) + offset);
  x.data = uint64_t(data);
  return 0;
}
uint64_t h_adjust_tail(uint64_t ctx, uint64_t delta, uint64_t, uint64_t, uint64_t, JitFrame*) {
  JitFrame& x = *reinterpret_cast<JitFrame*>(ctx);
  const int64_t offset = int32_t(delta);
  const int64_t end = int64_t(x.data_end) + offset;
  if (end > int64_t(x.frame_end) || end < int64_t(x.data) + kEthHeader) return errno_result(EINVAL);
  if (offset > 0) std::memset(reinterpret_cast<uint8_t*>(x.data_end), 0, std::size_t(offset));
  x.data_end = uint64_t(end);
  return 0;
}
uint64_t h_adjust_meta(uint64_t ctx, uint64_t delta, uint64_t, uint64_t, uint64_t, JitFrame*) {
  JitFrame& x = *reinterpret_cast<JitFrame*>(ctx);
  const int64_t meta = int64_t(x.data_meta) + int32_t(delta);
  if (meta < int64_t(x.frame_start + kXdpFrameStruct) || meta > int64_t(x.data)) return errno_result(EINVAL);
  const int64_t metalen = int64_t(x.data) - meta;
  if ((metalen & 3) || metalen > 255) return errno_result(EACCES);
  x.data_meta = uint64_t(meta);
  return 0;
}

HelperFn helper_for(int32_t id) {
  switch (id) {
    case BPF_FUNC_map_lookup_elem: return h_map_lookup;
    case BPF_FUNC_map_update_elem: return h_map_update;
    case BPF_FUNC_map_delete_elem: return h_map_delete;
    case BPF_FUNC_ringbuf_output: return h_ringbuf_output;
    case BPF_FUNC_ktime_get_ns: return h_ktime;
    case BPF_FUNC_get_smp_processor_id: return h_cpu;
    case BPF_FUNC_redirect: return h_redirect;
    case BPF_FUNC_redirect_map: return h_redirect_map;
    case BPF_FUNC_xdp_adjust_head: return h_adjust_head;
    case BPF_FUNC_xdp_adjust_tail: return h_adjust_tail;
    case BPF_FUNC_xdp_adjust_meta: return h_adjust_meta;
    default: return nullptr;
  }
}

// xdp_md's fields as the program reads them, mapped onto JitFrame (the data pointers widen to
// 64 bits, as the kernel's context rewriting makes them).
struct CtxField {
  std::size_t offset;
  unsigned bits;
};
std::optional<CtxField> ctx_field(int64_t off) {
  switch (off) {
    case offsetof(xdp_md, data): return CtxField{offsetof(JitFrame, data), 64};
    case offsetof(xdp_md, data_end): return CtxField{offsetof(JitFrame, data_end), 64};
    case offsetof(xdp_md, data_meta): return CtxField{offsetof(JitFrame, data_meta), 64};
    case offsetof(xdp_md, ingress_ifindex): return CtxField{offsetof(JitFrame, ingress_ifindex), 32};
    case offsetof(xdp_md, rx_queue_index): return CtxField{offsetof(JitFrame, rx_queue_index), 32};
    case offsetof(xdp_md, egress_ifindex): return CtxField{offsetof(JitFrame, egress_ifindex), 32};
    default: return std::nullopt;
  }
}

void init_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

std::string llvm_message(llvm::Error e) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << e;
  return text;
}

// ---- the translation --------------------------------------------------------------------------

class Translator {
 public:
  Translator(const Module& module, const Program& program, MapSet& maps, unsigned cpu, llvm::Module& out,
             const std::vector<std::optional<int64_t>>& ctx_offsets, const std::vector<std::optional<int>>& call_maps,
             const std::map<std::size_t, int>& stack_depths)
      : module_(module), program_(program), maps_(maps), cpu_(cpu), m_(out), ctx_(out.getContext()), b_(ctx_), d_{b_},
        ctx_offsets_(ctx_offsets), call_maps_(call_maps), stack_depths_(stack_depths), map_refs_(resolve_map_refs(module, program)) {}

  // Emits every function; the entry is named "entry".
  void emit() {
    llvm::Type* i64 = b_.getInt64Ty();
    llvm::Type* ptr = b_.getPtrTy();
    fn_type_ = llvm::FunctionType::get(i64, {i64, i64, i64, i64, i64, ptr}, false);
    const auto& fns = program_.functions;
    for (std::size_t i = 0; i < fns.size(); ++i) {
      auto* f = llvm::Function::Create(fn_type_, llvm::Function::ExternalLinkage, i == 0 ? "entry" : "f" + std::to_string(i), m_);
      if (i != 0) f->setLinkage(llvm::Function::InternalLinkage);
      functions_[fns[i].start] = f;
    }
    if (fns.empty()) {
      FunctionRange whole{program_.name(), 0, program_.image.size()};
      auto* f = llvm::Function::Create(fn_type_, llvm::Function::ExternalLinkage, "entry", m_);
      functions_[0] = f;
      emit_function(whole, f);
      return;
    }
    for (std::size_t i = 0; i < fns.size(); ++i) emit_function(fns[i], functions_[fns[i].start]);
  }

 private:
  [[noreturn]] void refuse(std::size_t pc, const std::string& why) const {
    throw InputError({module_.path, program_.name(), pc}, "the JIT cannot compile this: " + why + " (run it with the interpreter)");
  }

  llvm::Value* reg(unsigned r) { return b_.CreateLoad(b_.getInt64Ty(), regs_[r]); }
  void set(unsigned r, llvm::Value* v) { b_.CreateStore(v, regs_[r]); }
  llvm::Value* operand(const Operand& o) { return o.is_reg ? reg(o.reg) : imm_value(d_, o.imm); }
  llvm::Value* address(unsigned base, int64_t off) {
    return b_.CreateIntToPtr(b_.CreateAdd(reg(base), b_.getInt64(uint64_t(off))), b_.getPtrTy());
  }
  llvm::Value* load(llvm::Value* addr, unsigned bits, bool sign) {
    llvm::LoadInst* l = b_.CreateAlignedLoad(b_.getIntNTy(bits), addr, llvm::Align(1));
    if (bits == 64) return l;
    return sign ? b_.CreateSExt(l, b_.getInt64Ty()) : b_.CreateZExt(l, b_.getInt64Ty());
  }
  void store(llvm::Value* addr, unsigned bits, llvm::Value* v) {
    b_.CreateAlignedStore(bits == 64 ? v : b_.CreateTrunc(v, b_.getIntNTy(bits)), addr, llvm::Align(1));
  }

  void emit_function(const FunctionRange& fn, llvm::Function* f) {
    llvm::BasicBlock* entry = llvm::BasicBlock::Create(ctx_, "entry", f);
    b_.SetInsertPoint(entry);
    for (unsigned r = 0; r <= 10; ++r) regs_[r] = b_.CreateAlloca(b_.getInt64Ty(), nullptr, "r" + std::to_string(r));
    // Only the bytes the analyzer saw the function touch, on any path (below r10; at least 8).
    auto depth_it = stack_depths_.find(fn.start);
    const uint64_t depth = std::max<uint64_t>(8, (depth_it == stack_depths_.end() ? Interpreter::kStackSize : depth_it->second) + 7 & ~uint64_t(7));
    llvm::AllocaInst* stack = b_.CreateAlloca(llvm::ArrayType::get(b_.getInt8Ty(), depth), nullptr, "stack");
    stack->setAlignment(llvm::Align(8));
    // The analyzer, like the kernel for a privileged loader, lets a program read stack it never
    // wrote (padding read back by a wide load, say): such bytes must be some fixed value, never
    // LLVM's undef, on which a branch would be undefined. Zero them.
    b_.CreateMemSet(stack, b_.getInt8(0), depth, llvm::Align(8));
    for (unsigned r = 1; r <= 5; ++r) set(r, f->getArg(r - 1));
    frame_ = f->getArg(5);
    set(10, b_.CreateAdd(b_.CreatePtrToInt(stack, b_.getInt64Ty()), b_.getInt64(depth)));
    set(0, b_.getInt64(0));

    // One block per instruction (the optimiser merges them); LD_IMM64's second slot has none.
    std::vector<DecodedInsn> insns;
    blocks_.clear();
    for (std::size_t pc = fn.start; pc < fn.start + fn.size;) {
      DecodeResult r = decode(program_.image, pc);
      if (!r.ok()) refuse(pc, r.error());
      insns.push_back({pc, r.decoded()});
      blocks_[pc] = llvm::BasicBlock::Create(ctx_, "pc" + std::to_string(pc), f);
      pc += slots(r.decoded());
    }
    b_.CreateBr(blocks_.at(fn.start));
    for (const DecodedInsn& di : insns) {
      b_.SetInsertPoint(blocks_[di.pc]);
      emit_insn(di.pc, di.insn, fn);
    }
  }

  llvm::BasicBlock* block_at(std::size_t pc, int64_t target, const FunctionRange& fn) {
    auto it = target >= 0 ? blocks_.find(std::size_t(target)) : blocks_.end();
    if (it == blocks_.end()) refuse(pc, "a jump to " + std::to_string(target) + " leaves its function " + fn.name);
    return it->second;
  }
  void fall_through(std::size_t pc, const Decoded& insn, const FunctionRange& fn) {
    b_.CreateBr(block_at(pc, int64_t(pc + slots(insn)), fn));
  }

  // bpf_map_lookup_elem on an array whose map the analyzer knows at this call: the address
  // computed in place, as the kernel's verifier inlines it (array_map_gen_lookup), no call.
  bool inline_array_lookup(std::size_t pc) {
    if (!call_maps_[pc]) return false;
    std::optional<MapInstance::ArrayStorage> a = maps_[std::size_t(*call_maps_[pc])].array_storage();
    if (!a) return false;
    llvm::Value* index = b_.CreateZExt(b_.CreateAlignedLoad(b_.getInt32Ty(), b_.CreateIntToPtr(reg(2), b_.getPtrTy()), llvm::Align(1)), b_.getInt64Ty());
    llvm::Value* slot = b_.CreateAdd(b_.CreateMul(index, b_.getInt64(a->copies)), b_.getInt64(cpu_));
    llvm::Value* addr = b_.CreateAdd(b_.getInt64(reinterpret_cast<uint64_t>(a->base)), b_.CreateMul(slot, b_.getInt64(a->stride)));
    set(0, b_.CreateSelect(b_.CreateICmpULT(index, b_.getInt64(a->max_entries)), addr, b_.getInt64(0)));
    return true;
  }

  // bpf_map_lookup_elem on another map the analyzer knows at this call: a direct call of the
  // map's lookup, without the checks the generic helper makes on every call.
  bool known_map_lookup_call(std::size_t pc) {
    if (!call_maps_[pc]) return false;
    MapInstance& m = maps_[std::size_t(*call_maps_[pc])];
    if (m.def().type == BPF_MAP_TYPE_RINGBUF || cpu_ >= m.ncpus()) return false;
    llvm::Type* i64 = b_.getInt64Ty();
    llvm::FunctionType* type = llvm::FunctionType::get(i64, {i64, i64, i64}, false);
    llvm::Value* callee = b_.CreateIntToPtr(b_.getInt64(reinterpret_cast<uint64_t>(&known_map_lookup)), b_.getPtrTy());
    set(0, b_.CreateCall(type, callee, {b_.getInt64(reinterpret_cast<uint64_t>(&m)), reg(2), b_.getInt64(cpu_)}));
    return true;
  }

  void emit_insn(std::size_t pc, const Decoded& insn, const FunctionRange& fn) {
    if (const auto* a = std::get_if<Alu>(&insn)) {
      // Moves do not read dst (which may never have been written).
      const bool move = a->op == AluOp::Mov || a->op == AluOp::MovSx8 || a->op == AluOp::MovSx16 || a->op == AluOp::MovSx32;
      set(a->dst, alu_result(d_, a->op, a->is64, move ? d_.constant(0) : reg(a->dst), operand(a->src)));
      return fall_through(pc, insn, fn);
    }
    if (const auto* e = std::get_if<Endian>(&insn)) {
      set(e->dst, endian_result(d_, e->order, e->bits, reg(e->dst)));
      return fall_through(pc, insn, fn);
    }
    if (const auto* j = std::get_if<Jmp>(&insn)) {
      llvm::Value* taken = condition(d_, j->cond, j->is64, reg(j->dst), operand(j->src));
      b_.CreateCondBr(taken, block_at(pc, int64_t(pc) + 1 + j->off, fn), block_at(pc, int64_t(pc) + 1, fn));
      return;
    }
    if (const auto* ja = std::get_if<Ja>(&insn)) {
      b_.CreateBr(block_at(pc, int64_t(pc) + 1 + ja->off, fn));
      return;
    }
    if (const auto* l = std::get_if<Load>(&insn)) {
      const unsigned bits = 8 * unsigned(bytes(l->width));
      if (ctx_offsets_[pc]) {
        std::optional<CtxField> field = ctx_field(*ctx_offsets_[pc] + l->off);
        if (!field || bits != 32) refuse(pc, "a context access the JIT does not map");
        llvm::Value* at = b_.CreateIntToPtr(b_.CreateAdd(reg(l->base), b_.getInt64(field->offset)), b_.getPtrTy());
        set(l->dst, load(at, field->bits, false));
      } else {
        set(l->dst, load(address(l->base, l->off), bits, l->sign_extend));
      }
      return fall_through(pc, insn, fn);
    }
    if (const auto* s = std::get_if<Store>(&insn)) {
      if (ctx_offsets_[pc]) refuse(pc, "a store into the context");
      store(address(s->base, s->off), 8 * unsigned(bytes(s->width)), operand(s->src));
      return fall_through(pc, insn, fn);
    }
    if (const auto* at = std::get_if<Atomic>(&insn)) {
      // One stage runs one packet at a time, so a plain read-modify-write is the operation.
      const unsigned bits = 8 * unsigned(bytes(at->width));
      const bool is64 = bits == 64;
      llvm::Value* addr = address(at->base, at->off);
      llvm::Value* old = load(addr, bits, false);
      llvm::Value* src = reg(at->src);
      llvm::Value* r0 = at->op == AtomicOp::CmpXchg ? reg(0) : old;  // r0 is read only by CmpXchg
      store(addr, bits, atomic_result(d_, at->op, is64, old, src, r0));
      if (at->op == AtomicOp::CmpXchg)
        set(0, old);
      else if (at->fetch)
        set(at->src, old);
      return fall_through(pc, insn, fn);
    }
    if (const auto* c = std::get_if<Call>(&insn)) {
      llvm::Value* args[6] = {reg(1), reg(2), reg(3), reg(4), reg(5), frame_};
      if (c->kind == CallKind::Local) {
        auto it = functions_.find(std::size_t(int64_t(pc) + 1 + c->imm));
        if (it == functions_.end()) refuse(pc, "a call to a slot that starts no function");
        set(0, b_.CreateCall(fn_type_, it->second, args));
      } else if (c->kind == CallKind::Helper && c->imm == BPF_FUNC_map_lookup_elem &&
                 (inline_array_lookup(pc) || known_map_lookup_call(pc))) {
        // done
      } else if (c->kind == CallKind::Helper) {
        HelperFn h = helper_for(c->imm);
        if (!h) refuse(pc, "helper " + helper_name(c->imm) + " is not supported by the JIT");
        llvm::Value* callee = b_.CreateIntToPtr(b_.getInt64(reinterpret_cast<uint64_t>(h)), b_.getPtrTy());
        set(0, b_.CreateCall(fn_type_, callee, args));
      } else {
        refuse(pc, "kfunc calls are not supported by the JIT");
      }
      return fall_through(pc, insn, fn);
    }
    if (std::holds_alternative<Exit>(insn)) {
      b_.CreateRet(reg(0));
      return;
    }
    if (const auto* ld = std::get_if<LdImm64>(&insn)) {
      // Objects carry map loads as relocations (src_reg still 0 in the file): the resolved
      // references say which slots load a map or global data.
      uint64_t value = ld->value();
      const MapRef ref = pc < map_refs_.size() ? map_refs_[pc] : MapRef{};
      if (ref.map < 0 && ld->pseudo != 0) refuse(pc, "a 64-bit load of something other than a map or a constant");
      if (ref.map >= 0) {
        if (std::size_t(ref.map) >= maps_.size()) refuse(pc, "a load of a map the module lacks");
        MapInstance& m = maps_[std::size_t(ref.map)];
        if (ref.offset < 0) {
          value = reinterpret_cast<uint64_t>(&m);
        } else {
          // Global data: an array of one entry, whose value stays at one address.
          std::optional<MapInstance::ArrayStorage> a = m.array_storage();
          if (!a) refuse(pc, "global data whose map is not an array");
          value = reinterpret_cast<uint64_t>(a->base) + uint64_t(ref.offset);
        }
      }
      set(ld->dst, b_.getInt64(value));
      return fall_through(pc, insn, fn);
    }
    if (std::holds_alternative<MayGoto>(insn)) refuse(pc, "may_goto");
    if (std::holds_alternative<AddrSpaceCast>(insn)) refuse(pc, "arena pointers");
    refuse(pc, "legacy packet loads (LD_ABS/LD_IND)");
  }

  const Module& module_;
  const Program& program_;
  MapSet& maps_;
  unsigned cpu_;
  llvm::Module& m_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  IrDomain d_;
  const std::vector<std::optional<int64_t>>& ctx_offsets_;
  const std::vector<std::optional<int>>& call_maps_;
  const std::map<std::size_t, int>& stack_depths_;  // by function start: bytes of stack used
  std::vector<MapRef> map_refs_;
  llvm::FunctionType* fn_type_ = nullptr;
  std::map<std::size_t, llvm::Function*> functions_;  // by first slot
  std::map<std::size_t, llvm::BasicBlock*> blocks_;   // of the function being emitted
  llvm::AllocaInst* regs_[11] = {};
  llvm::Value* frame_ = nullptr;
};

void optimise(llvm::Module& m) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2).run(m, mam);
}

}  // namespace

struct JitProgram::Engine {
  std::unique_ptr<llvm::orc::LLJIT> jit;
};

JitProgram::JitProgram(const Module& module, const Program& program, MapSet& maps, unsigned cpu) : engine_(std::make_unique<Engine>()) {
  Location where{module.path, program.name(), std::nullopt};
  if (program.prog_type != BPF_PROG_TYPE_XDP) throw InputError(where, "the JIT compiles XDP programs; this one is " + program.prog_type_name);

  // Which loads read the context, and at what offset of it: the analyzer's state before each
  // instruction says what the base register points to on every path that reaches it.
  // And which map each map_lookup_elem call looks up, when it is the same on every path.
  std::vector<std::optional<int64_t>> ctx_offsets(program.image.size());
  std::vector<std::optional<int>> call_maps(program.image.size());
  std::vector<uint8_t> mixed(program.image.size(), 0), seen(program.image.size(), 0);
  std::vector<uint8_t> call_seen(program.image.size(), 0), call_mixed(program.image.size(), 0);
  // And how deep each function uses its stack: the most its frame ever touched, over every
  // state seen in it (a callee's accesses through a pointer into its caller's frame show in the
  // caller's states after the return).
  std::map<std::size_t, int> stack_depths;  // by the function's first slot
  const auto function_start = [&](std::size_t pc) -> std::size_t {
    std::size_t start = 0;
    for (const FunctionRange& fn : program.functions)
      if (fn.start <= pc) start = std::max(start, fn.start);
    return start;
  };
  AnalyzeOptions options;
  options.on_state = [&](std::size_t pc, const VerifierState& state) {
    if (pc >= program.image.size()) return;
    int& depth = stack_depths[function_start(pc)];
    depth = std::max(depth, state.cur().depth_used);
    DecodeResult r = decode(program.image, pc);
    if (!r.ok()) return;
    if (const auto* c = std::get_if<Call>(&r.decoded()); c && c->kind == CallKind::Helper && c->imm == BPF_FUNC_map_lookup_elem) {
      const RegState& m = state.cur().regs[1];
      std::optional<int> here = m.type == RegType::MapPtr && m.map >= 0 ? std::optional<int>(m.map) : std::nullopt;
      if (call_seen[pc] && call_maps[pc] != here) call_mixed[pc] = 1;
      call_seen[pc] = 1;
      call_maps[pc] = here;
      return;
    }
    std::optional<unsigned> base;
    if (const auto* l = std::get_if<Load>(&r.decoded())) base = l->base;
    if (const auto* s = std::get_if<Store>(&r.decoded())) base = s->base;
    if (const auto* a = std::get_if<Atomic>(&r.decoded())) base = a->base;
    if (!base) return;
    const RegState& reg = state.cur().regs[*base];
    std::optional<int64_t> here;
    if (reg.type == RegType::Ctx) here = reg.off;
    if (seen[pc] && ctx_offsets[pc] != here) mixed[pc] = 1;
    seen[pc] = 1;
    ctx_offsets[pc] = here;
  };
  AnalysisResult verdict = analyze(module, program, options);
  if (!verdict.accepted) throw InputError({module.path, program.name(), verdict.insn}, "the analyzer refuses the program: " + verdict.reason);
  for (std::size_t pc = 0; pc < call_mixed.size(); ++pc)
    if (call_mixed[pc]) call_maps[pc].reset();  // several maps reach this call: the helper decides
  for (std::size_t pc = 0; pc < mixed.size(); ++pc)
    if (mixed[pc]) throw InputError({module.path, program.name(), pc}, "the JIT cannot compile this: an access whose base is the context on some paths only");

  init_llvm();
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit) throw InternalError("cannot start LLVM's JIT: " + llvm_message(jit.takeError()));
  engine_->jit = std::move(*jit);

  auto context = std::make_unique<llvm::LLVMContext>();
  auto ir = std::make_unique<llvm::Module>(program.name(), *context);
  ir->setDataLayout(engine_->jit->getDataLayout());
  ir->setTargetTriple(engine_->jit->getTargetTriple().str());
  Translator(module, program, maps, cpu, *ir, ctx_offsets, call_maps, stack_depths).emit();
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(*ir, &os)) throw InternalError("the JIT built invalid IR for " + program.name() + ": " + problems);
  // TRISTATE_JIT_DUMP=1 prints the IR before and after optimisation (for debugging the JIT).
  const char* dump = std::getenv("TRISTATE_JIT_DUMP");
  if (dump && *dump == '1') ir->print(llvm::errs(), nullptr);
  optimise(*ir);
  if (dump && *dump == '1') ir->print(llvm::errs(), nullptr);

  if (llvm::Error e = engine_->jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(ir), std::move(context))))
    throw InternalError("LLVM's JIT refused the module: " + llvm_message(std::move(e)));
  auto symbol = engine_->jit->lookup("entry");
  if (!symbol) throw InternalError("LLVM's JIT lost the entry: " + llvm_message(symbol.takeError()));
  entry_ = symbol->toPtr<Entry>();
}

JitProgram::~JitProgram() = default;

}  // namespace tristate::datapath
