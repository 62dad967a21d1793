// The helpers the analyzer knows: argument and return types as the Linux 6.18 helper prototypes
// give them (struct bpf_func_proto), which program types may call them, and which change packet
// data (after such a call every packet pointer is invalid). Facts from the kernel's prototypes;
// a helper missing here is refused by the analyzer as unsupported.
#pragma once

#include <array>
#include <cstdint>

namespace tristate {

enum class ArgType : uint8_t {
  None,
  Anything,        // any initialised value
  MapPtr,          // CONST_PTR_TO_MAP
  MapKey,          // pointer to key_size readable bytes
  MapValue,        // pointer to value_size readable bytes
  Mem,             // pointer to readable memory; the next argument is its size
  UninitMem,       // pointer to writable memory; the next argument is its size
  MemOrNull,       // Mem, or NULL with a zero size
  ConstSize,       // the size of the previous argument, > 0
  ConstSizeOrZero, // the size of the previous argument, >= 0
  Ctx,             // PTR_TO_CTX
};

enum class RetType : uint8_t { Integer, Void, MapValueOrNull };

// Program families helpers are offered to.
enum HelperFamily : uint8_t {
  kAll = 0xff,
  kXdp = 1,
  kTc = 2,
  kSocketFilter = 4,
  kTracing = 8,
};

struct HelperProto {
  int32_t id = 0;
  std::array<ArgType, 5> args{};
  RetType ret = RetType::Integer;
  uint8_t families = kAll;
  bool changes_packet = false;
  bool packet_args = false;  // memory arguments may point into the packet
};

// The prototype of helper `id`, or nullptr when the analyzer does not know it.
const HelperProto* helper_proto(int32_t id);

}  // namespace tristate
