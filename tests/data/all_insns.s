# Every BPF instruction class that llvm-mc-19 can assemble, in the syntax that both llvm-mc-19
# (-triple bpfel -mcpu=v4) and tristate's assembler accept. The golden test
# (tests/compiler/objdump_golden_test.cpp) assembles it with llvm-mc-19, checks that
# tristate's assemble() gives the same bytes, and compares format_insn with llvm-objdump-19 -d
# on every instruction.
#
# Not here because llvm-mc-19 cannot write them (disasm_test.cpp covers their printed forms):
# load-acquire and store-release, kfunc calls (src_reg 2), ld_pseudo with a non-zero second
# immediate, LD_IND with a non-zero immediate.

entry:
# ALU64: every operation with a register and with an immediate source
  r1 += r2
  r3 += -7
  r1 -= r2
  r3 -= 13
  r1 *= r2
  r3 *= 13
  r1 /= r2
  r3 /= 13
  r1 s/= r2
  r3 s/= 13
  r1 |= r2
  r3 |= 13
  r1 &= r2
  r3 &= -7
  r1 <<= r2
  r3 <<= 7
  r1 >>= r2
  r3 >>= 31
  r1 %= r2
  r3 %= 13
  r1 s%= r2
  r3 s%= 13
  r1 ^= r2
  r3 ^= 13
  r1 = r2
  r3 = -7
  r1 s>>= r2
  r3 s>>= 3
  r4 = -r4
  r5 = (s8)r6
  r5 = (s16)r6
# ALU (32-bit): every operation with a register and with an immediate source
  w1 += w2
  w3 += -7
  w1 -= w2
  w3 -= 13
  w1 *= w2
  w3 *= 13
  w1 /= w2
  w3 /= 13
  w1 s/= w2
  w3 s/= 13
  w1 |= w2
  w3 |= 13
  w1 &= w2
  w3 &= -7
  w1 <<= w2
  w3 <<= 7
  w1 >>= w2
  w3 >>= 31
  w1 %= w2
  w3 %= 13
  w1 s%= w2
  w3 s%= 13
  w1 ^= w2
  w3 ^= 13
  w1 = w2
  w3 = -7
  w1 s>>= w2
  w3 s>>= 3
  w4 = -w4
  w5 = (s8)w6
  w5 = (s16)w6
  r5 = (s32)r6
# immediates at the edges of their ranges
  r1 = -2147483648
  r1 = 2147483647
  w1 = 4294967295
  r1 <<= 63
  w1 s>>= 31
# byte order (ALU | END) and byte swap (ALU64 | END)
  r7 = le16 r7
  r7 = le32 r7
  r7 = le64 r7
  r7 = be16 r7
  r7 = be32 r7
  r7 = be64 r7
  r7 = bswap16 r7
  r7 = bswap32 r7
  r7 = bswap64 r7
# 64-bit immediates (LD_IMM64), plain and pseudo
  r1 = 0 ll
  r2 = 0x100000000 ll
  r3 = -1 ll
  r4 = 0x7fffffffffffffff ll
  r5 = -9223372036854775808 ll
  r6 = 0xffffffff ll
  ld_pseudo r1, 1, 3
  ld_pseudo r2, 2, 6
  ld_pseudo r3, 3, 9
  ld_pseudo r4, 4, 12
  ld_pseudo r5, 5, 15
  ld_pseudo r6, 6, 18
# conditional jumps, 64-bit and 32-bit, register and immediate
  if r1 == r2 goto entry
  if r3 == -5 goto fwd
  if r1 > r2 goto entry
  if r3 > -5 goto fwd
  if r1 >= r2 goto entry
  if r3 >= -5 goto fwd
  if r1 & r2 goto entry
  if r3 & -5 goto fwd
  if r1 != r2 goto entry
  if r3 != -5 goto fwd
  if r1 s> r2 goto entry
  if r3 s> -5 goto fwd
  if r1 s>= r2 goto entry
  if r3 s>= -5 goto fwd
  if r1 < r2 goto entry
  if r3 < -5 goto fwd
  if r1 <= r2 goto entry
  if r3 <= -5 goto fwd
  if r1 s< r2 goto entry
  if r3 s< -5 goto fwd
  if r1 s<= r2 goto entry
  if r3 s<= -5 goto fwd
  if w1 == w2 goto entry
  if w3 == -5 goto fwd
  if w1 > w2 goto entry
  if w3 > -5 goto fwd
  if w1 >= w2 goto entry
  if w3 >= -5 goto fwd
  if w1 & w2 goto entry
  if w3 & -5 goto fwd
  if w1 != w2 goto entry
  if w3 != -5 goto fwd
  if w1 s> w2 goto entry
  if w3 s> -5 goto fwd
  if w1 s>= w2 goto entry
  if w3 s>= -5 goto fwd
  if w1 < w2 goto entry
  if w3 < -5 goto fwd
  if w1 <= w2 goto entry
  if w3 <= -5 goto fwd
  if w1 s< w2 goto entry
  if w3 s< -5 goto fwd
  if w1 s<= w2 goto entry
  if w3 s<= -5 goto fwd
  if r9 == -2147483648 goto +0
  if w9 != 4294967295 goto -1
fwd:
  goto fwd
  goto +0
  goto -32768
  gotol entry
  gotol +70
  may_goto fwd
  may_goto +3
# calls: helper ids and a bpf-to-bpf call
  call 1
  call 212
  call -1
  call sub
# loads, sign-extending loads, stores of registers and immediates
  r1 = *(u8 *)(r10 - 8)
  *(u8 *)(r10 - 16) = r2
  *(u8 *)(r1 + 32767) = -3
  r1 = *(u16 *)(r10 - 8)
  *(u16 *)(r10 - 16) = r2
  *(u16 *)(r1 + 32767) = -3
  r1 = *(u32 *)(r10 - 8)
  *(u32 *)(r10 - 16) = r2
  *(u32 *)(r1 + 32767) = -3
  r1 = *(u64 *)(r10 - 8)
  *(u64 *)(r10 - 16) = r2
  *(u64 *)(r1 + 32767) = -3
  r3 = *(s8 *)(r1 - 32768)
  r3 = *(s16 *)(r1 - 32768)
  r3 = *(s32 *)(r1 - 32768)
  r0 = *(u64 *)(r1 + 0)
  *(u32 *)(r10 - 4) = 2147483647
# legacy packet loads (LD_ABS, LD_IND)
  r0 = *(u8 *)skb[12]
  r0 = *(u8 *)skb[r6]
  r0 = *(u16 *)skb[12]
  r0 = *(u16 *)skb[r6]
  r0 = *(u32 *)skb[12]
  r0 = *(u32 *)skb[r6]
  r0 = *(u32 *)skb[-2097152]
# atomics, 64-bit and 32-bit
  lock *(u64 *)(r1 + 8) += r2
  lock *(u32 *)(r1 - 8) += w2
  r3 = atomic_fetch_add((u64 *)(r1 + 16), r3)
  w3 = atomic_fetch_add((u32 *)(r1 - 16), w3)
  lock *(u64 *)(r1 + 8) |= r2
  lock *(u32 *)(r1 - 8) |= w2
  r3 = atomic_fetch_or((u64 *)(r1 + 16), r3)
  w3 = atomic_fetch_or((u32 *)(r1 - 16), w3)
  lock *(u64 *)(r1 + 8) &= r2
  lock *(u32 *)(r1 - 8) &= w2
  r3 = atomic_fetch_and((u64 *)(r1 + 16), r3)
  w3 = atomic_fetch_and((u32 *)(r1 - 16), w3)
  lock *(u64 *)(r1 + 8) ^= r2
  lock *(u32 *)(r1 - 8) ^= w2
  r3 = atomic_fetch_xor((u64 *)(r1 + 16), r3)
  w3 = atomic_fetch_xor((u32 *)(r1 - 16), w3)
  r4 = xchg_64(r1 + 0, r4)
  w4 = xchg32_32(r1 + 4, w4)
  r0 = cmpxchg_64(r1 + 8, r0, r5)
  w0 = cmpxchg32_32(r1 - 4, w0, w5)
# arena pointers
  r1 = addr_space_cast(r2, 0, 1)
  r1 = addr_space_cast(r2, 1, 0)
  exit

sub:
  r0 = r1
  exit
