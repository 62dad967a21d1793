// Internet checksum arithmetic (RFC 1071, RFC 1624) with the conventions of Linux's csum_*
// helpers, which BPF's checksum helpers expose: a 32-bit partial sum (__wsum) that folds to the
// 16-bit one's-complement checksum (__sum16). Values are in network byte order as they sit in
// memory, read as little-endian host words, as on x86-64.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

namespace tristate::csum {

// 32-bit one's-complement addition (end-around carry).
inline uint32_t add(uint32_t a, uint32_t b) {
  const uint32_t r = a + b;
  return r + (r < b);
}
inline uint32_t sub(uint32_t a, uint32_t b) { return add(a, ~b); }

// 16-bit one's-complement addition.
inline uint16_t add16(uint16_t a, uint16_t b) {
  const uint16_t r = uint16_t(a + b);
  return uint16_t(r + (r < b));
}
inline uint16_t sub16(uint16_t a, uint16_t b) { return add16(a, uint16_t(~b)); }

// The 16-bit checksum of a partial sum: folded, then complemented.
inline uint16_t fold(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

// A partial sum folded to 16 bits, not complemented.
inline uint16_t from32to16(uint32_t sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

// The partial sum of `bytes` added to `seed`, as x86-64's csum_partial computes it: 64-bit words
// with end-around carry, then the tail, folded to 32 bits; memory at an odd address is summed from
// the next byte and the result's bytes swapped. (Correct one's-complement sums agree modulo 0xffff;
// following its order also gives the same representative.)
inline uint32_t partial(std::span<const uint8_t> bytes, uint32_t seed) {
  uint64_t acc = seed;
  const auto add64 = [&acc](uint64_t v) {
    acc += v;
    acc += acc < v;
  };
  const bool odd = reinterpret_cast<uintptr_t>(bytes.data()) & 1;
  if (odd) {
    if (bytes.empty()) return seed;
    acc = (seed >> 8) | (seed << 24);  // ror32(seed, 8)
    acc += uint64_t(bytes[0]) << 8;
    bytes = bytes.subspan(1);
  }
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, &bytes[i], 8);
    add64(w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  if (bytes.size() > i) add64(tail);
  uint32_t result = add(uint32_t(acc >> 32), uint32_t(acc));
  if (odd) {
    result = from32to16(result);
    result = ((result >> 8) & 0xff) | ((result & 0xff) << 8);
  }
  return result;
}

// Replace `from` by `to` in the data a checksum field covers (csum_replace2 / csum_replace4 /
// csum_replace_by_diff).
inline uint16_t replace2(uint16_t check, uint16_t from, uint16_t to) {
  return uint16_t(~add16(sub16(uint16_t(~check), from), to));
}
inline uint16_t replace4(uint16_t check, uint32_t from, uint32_t to) {
  return fold(add(sub(~uint32_t(check), from), to));
}
inline uint16_t replace_by_diff(uint16_t check, uint32_t diff) { return fold(add(diff, ~uint32_t(check))); }

}  // namespace tristate::csum
