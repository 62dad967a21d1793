// The context a program's r1 points to, per program type: its layout (the kernel's UAPI structs
// `xdp_md` and `__sk_buff`, or an opaque block for tracing programs), which fields a program may
// read and write, and which loads give packet pointers instead of numbers. Field access rules
// follow what the Linux 6.18 verifier accepts for each program type (xdp_is_valid_access,
// tc_cls_act_is_valid_access, sk_filter_is_valid_access), checked offset by offset and size by
// size against the running kernel by tests/verifier/helper_kernel_test.cpp. The interpreter refuses
// the rest, and also the fields it does not model: __sk_buff's sk (a socket pointer) and
// flow_keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tristate {

enum class CtxModel : uint8_t {
  None,          // no context type (raw bytecode): r1 is whatever the caller gives
  Xdp,           // struct xdp_md
  Tc,            // struct __sk_buff of sched_cls / sched_act: skb->data at the Ethernet header
  SocketFilter,  // struct __sk_buff of socket filters: skb->data past the Ethernet header
  Tracing,       // tracepoints, kprobes, raw tracepoints, perf events: a read-only block
};

CtxModel ctx_model_for(uint32_t prog_type);
const char* ctx_model_name(CtxModel m);
// Whether programs of this model run on a packet.
inline bool takes_packet(CtxModel m) { return m == CtxModel::Xdp || m == CtxModel::Tc || m == CtxModel::SocketFilter; }

// What a load from a context field gives.
enum class CtxValue : uint8_t { Scalar, Data, DataEnd, DataMeta };

struct CtxField {
  const char* name;
  uint32_t offset;
  uint32_t size;        // bytes of the field (an array such as cb[5] is one entry per element)
  CtxValue value;       // pointer fields must be loaded whole, with a 4-byte load
  bool writable;        // the program may store to it
  bool user_settable;   // BPF_PROG_TEST_RUN's ctx_in may set it (all other bytes must be zero)
  bool block = false;   // part of plain memory (__sk_buff's cb[]): any aligned access within the
                        // block reads or writes its bytes, across element boundaries
  // The width of the kernel's own field behind it (sk_buff's pkt_type is 1 byte, protocol 2,
  // ...). The verifier rewrites a load narrower than that into a load of the real field, shifted;
  // a load at least as wide reads the whole real field, whatever byte of the UAPI field it names.
  uint32_t target = 4;
  bool narrow = true;   // loads narrower than `size` allowed (not for tstamp and hwtstamp)
};

// The context's size in bytes (0 for None; for Tracing the caller's block decides).
std::size_t ctx_size(CtxModel m);
// The model's fields, in layout order (empty for None and Tracing).
const std::vector<CtxField>& ctx_fields(CtxModel m);
// The field an access of `size` bytes at `offset` falls in, when the access lies within one
// field (or within one block of fields, then the block's first field it touches); nullptr
// otherwise.
const CtxField* ctx_field_at(CtxModel m, int64_t offset, int size);
// The field an access of `n` bytes at `at` reaches, when the verifier allows that access (aligned
// to its size, within one field, a whole read of pointer and non-narrow fields, a write only to a
// writable field, and whole); nullptr otherwise, with the reason in `why`.
const CtxField* ctx_access(CtxModel m, int64_t at, std::size_t n, bool write, std::string& why);
// The field named `name` ("cb[2]" names one element of cb), or nullptr.
const CtxField* ctx_field_named(CtxModel m, const std::string& name);

}  // namespace tristate
