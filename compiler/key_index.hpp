// A hash index from fixed-size byte keys to small values: what the maps' program-side lookups
// search (a hash map's key, a device map's slot, each prefix an LPM lookup tries). Open
// addressing with linear probing over a power-of-2 table kept at most half full; each slot keeps
// the key's full hash, so a probe compares key bytes only when the hashes agree; deletion moves
// the rest of the probe run back instead of leaving tombstones (Knuth, TAOCP vol. 3, 6.4,
// Algorithm R). Keys are not copied: the index points at key bytes that the caller keeps alive,
// at the same address, while they are indexed (the map's own entry nodes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace tristate {

// 8 bytes at p, read as two 4-byte loads. Keys are mostly written just before a lookup, often
// field by field (a u32 prefix length, then the address): one 8-byte load spanning two such
// stores cannot be forwarded from them and waits for both to reach the cache; 4-byte loads
// inside a wider store or matching a narrower one forward.
inline uint64_t load_u64_halves(const uint8_t* p) {
  uint32_t lo, hi;
  std::memcpy(&lo, p, 4);
  std::memcpy(&hi, p + 4, 4);
  // Left alone, the compiler joins the two loads into the one 8-byte load this avoids.
  asm("" : "+r"(lo));
  return uint64_t(lo) | uint64_t(hi) << 32;
}

// Whether `size` bytes at a and b are equal, read as load_u64_halves does.
inline bool equal_key_bytes(const uint8_t* a, const uint8_t* b, uint32_t size) {
  for (; size >= 4; a += 4, b += 4, size -= 4) {
    uint32_t x, y;
    std::memcpy(&x, a, 4);
    std::memcpy(&y, b, 4);
    if (x != y) return false;
  }
  return size == 0 || std::memcmp(a, b, size) == 0;
}

// A 64-bit hash of `size` bytes: 4- and 8-byte keys by one multiply (Fibonacci hashing) with the
// high bits folded down; other sizes by folding in 8-byte words with multiply and xor-shift, then
// mixing with the finalizer of MurmurHash3's fmix64 (its published constants), so that keys
// differing only in a few low bits still land far apart.
inline uint64_t hash_key_bytes(const uint8_t* p, uint32_t size) {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;  // 2^64 / golden ratio (Fibonacci hashing)
  if (size == 4 || size == 8) {
    // The common keys (an index, an address, an ifindex): one multiply, the high half folded
    // into the low bits the table indexes by.
    uint64_t w = 0;
    if (size == 4) {
      uint32_t v;
      std::memcpy(&v, p, 4);
      w = v;
    } else {
      w = load_u64_halves(p);
    }
    const uint64_t h = (w + size) * kMul;
    return h ^ (h >> 29) ^ (h >> 47);
  }
  uint64_t h = kMul * (uint64_t(size) + 1);
  const auto fold = [&](uint64_t w) {
    h = (h ^ w) * kMul;
    h ^= h >> 31;
  };
  for (; size >= 8; p += 8, size -= 8) fold(load_u64_halves(p));
  if (size >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    fold(w);
    p += 4;
    size -= 4;
  }
  if (size) {
    uint64_t w = 0;
    std::memcpy(&w, p, size);
    fold(w | uint64_t(size) << 56);
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

template <class T>
class KeyIndex {
 public:
  explicit KeyIndex(uint32_t key_size = 0) : key_size_(key_size) {}

  uint32_t key_size() const { return key_size_; }
  std::size_t size() const { return count_; }

  // The value indexed under the key_size() bytes at `key`, or nullptr.
  T* find(const uint8_t* key) { return value_at(slot_of(key, hash_key_bytes(key, key_size_), key_size_)); }
  // The same for a key_size() known when compiling (the hash and the comparison then inline).
  template <uint32_t Size>
  T* find_sized(const uint8_t* key) {
    return value_at(slot_of(key, hash_key_bytes(key, Size), Size));
  }

  // Indexes `value` under the bytes at `key`, which must not be indexed yet and must stay where
  // they are until erased.
  void insert(const uint8_t* key, T value) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    place(Slot{hash_key_bytes(key, key_size_), key, value});
    ++count_;
  }

  // Removes the key (which may lie elsewhere than the indexed bytes); false when it is absent.
  bool erase(const uint8_t* key) {
    std::size_t hole = slot_of(key, hash_key_bytes(key, key_size_), key_size_);
    if (hole == kAbsent) return false;
    // Move back every later slot of the run whose home is not between the hole and itself.
    for (std::size_t j = (hole + 1) & mask_; slots_[j].key; j = (j + 1) & mask_) {
      const std::size_t home = slots_[j].hash & mask_;
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = Slot{};
    --count_;
    return true;
  }

  void clear() {
    slots_.clear();
    mask_ = 0;
    count_ = 0;
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    const uint8_t* key = nullptr;  // nullptr: empty
    T value{};
  };

  static constexpr std::size_t kAbsent = ~std::size_t(0);

  // The slot holding the `size` (= key_size()) bytes at `key`, whose hash is `hash`, or kAbsent.
  std::size_t slot_of(const uint8_t* key, uint64_t hash, uint32_t size) const {
    if (count_ == 0) return kAbsent;
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.key) return kAbsent;
      if (s.hash == hash && equal_key_bytes(s.key, key, size)) return i;
    }
  }
  T* value_at(std::size_t slot) { return slot == kAbsent ? nullptr : &slots_[slot].value; }

  void place(const Slot& slot) {
    std::size_t i = slot.hash & mask_;
    while (slots_[i].key) i = (i + 1) & mask_;
    slots_[i] = slot;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.key) place(s);
  }

  uint32_t key_size_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t count_ = 0;
};

}  // namespace tristate
