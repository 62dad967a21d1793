// The helpers the interpreter models, with the behaviour of Linux 6.18's implementations
// (net/core/filter.c, kernel/bpf/helpers.c, kernel/trace/bpf_trace.c) as far as a program can
// observe it from a test run: return values, memory written, packet changes. Facts are from the
// kernel's helper documentation (include/uapi/linux/bpf.h) and checked against the running kernel
// by tests/verifier/interpreter_kernel_test.cpp.
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "compiler/checksum.hpp"
#include "compiler/machine.hpp"

namespace tristate {

namespace {

#define TRISTATE_HELPER_NAME(x) "bpf_" #x
constexpr const char* kHelperNames[] = {__BPF_FUNC_MAPPER(TRISTATE_HELPER_NAME)};
#undef TRISTATE_HELPER_NAME

constexpr uint64_t err(int e) { return uint64_t(-int64_t(e)); }
constexpr uint32_t kEthHeader = 14;
constexpr uint32_t kXdpFrameStruct = 40;  // sizeof(struct xdp_frame), kept at the frame's start

template <class T>
T read_as(std::span<const uint8_t> bytes, std::size_t at = 0) {
  T v{};
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

uint64_t map_lookup(Executor& x) {
  MapInstance& m = x.map_arg(1);
  const MapDef& d = m.def();
  if (d.type == BPF_MAP_TYPE_PROG_ARRAY || d.type == BPF_MAP_TYPE_RINGBUF)
    throw Stop{"bpf_map_lookup_elem is not allowed on a " + d.type_name + " map"};
  const auto key = x.mem_arg(2, d.key_size, false, "key");
  uint8_t* value = m.lookup(key, x.env.cpu);
  if (!value) return 0;
  const bool writable = !(d.flags & BPF_F_RDONLY_PROG) && d.type != BPF_MAP_TYPE_DEVMAP &&
                        d.type != BPF_MAP_TYPE_DEVMAP_HASH && d.type != BPF_MAP_TYPE_CPUMAP && d.type != BPF_MAP_TYPE_XSKMAP;
  x.r[0] = {Kind::MapValue, x.region_for(value, d.value_size, writable), 0};
  return x.r[0].value;
}

uint64_t map_update(Executor& x) {
  int index = -1;
  MapInstance& m = x.map_arg(1, &index);
  const auto key = x.mem_arg(2, m.def().key_size, false, "key");
  const auto value = x.mem_arg(3, m.def().value_size, false, "value");
  x.note_map_call(BPF_FUNC_map_update_elem, index, key, value);
  return uint64_t(m.update(key, value, x.scalar_arg(4), x.env.cpu));
}

uint64_t map_delete(Executor& x) {
  int index = -1;
  MapInstance& m = x.map_arg(1, &index);
  const auto key = x.mem_arg(2, m.def().key_size, false, "key");
  x.note_map_call(BPF_FUNC_map_delete_elem, index, key);
  return uint64_t(m.remove(key));
}

uint64_t ringbuf_output(Executor& x) {
  int index = -1;
  MapInstance& m = x.map_arg(1, &index);
  if (m.def().type != BPF_MAP_TYPE_RINGBUF) throw Stop{"bpf_ringbuf_output needs a ringbuf map"};
  const auto data = x.mem_arg(2, x.scalar_arg(3), false, "data");
  x.note_map_call(BPF_FUNC_ringbuf_output, index, data);
  return uint64_t(m.ringbuf_output(data, x.scalar_arg(4)));
}

uint64_t ktime(Executor& x) {
  const uint64_t call = x.ktime_calls++;
  if (call < x.env.ktime_values.size()) return x.env.ktime_values[call];
  return x.env.ktime_ns + x.env.ktime_step_ns * call;
}

uint64_t prandom(Executor& x) {
  if (x.prandom_calls < x.env.prandom_values.size()) return x.env.prandom_values[x.prandom_calls++];
  ++x.prandom_calls;
  // SplitMix64 (Steele, Lea, Flood 2014): deterministic for a seed, which is all tests need.
  uint64_t z = (x.prandom_state += 0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return uint32_t(z ^ (z >> 31));
}

uint64_t current_comm(Executor& x) {
  const uint64_t size = x.scalar_arg(2);
  auto buf = x.mem_arg(1, size, true, "buf");
  std::fill(buf.begin(), buf.end(), 0);
  if (size == 0) return err(EINVAL);
  std::memcpy(buf.data(), x.env.comm.data(), std::min<std::size_t>(x.env.comm.size(), size - 1));
  return 0;
}

// The probe_read family reads kernel or user memory by address; the interpreter has none to
// offer, so every read faults as an unmapped address would: -EFAULT with the buffer zeroed.
uint64_t probe_read(Executor& x) {
  auto buf = x.mem_arg(1, x.scalar_arg(2), true, "dst");
  std::fill(buf.begin(), buf.end(), 0);
  return err(EFAULT);
}

// bpf_trace_printk(fmt, fmt_size, a, b, c): the conversions the kernel accepts (%d %i %u %x %X
// %c %s %p with h/l/ll modifiers, %%); the formatted line is recorded in the run's trace.
uint64_t trace_printk(Executor& x) {
  const auto fmt = x.mem_arg(1, x.scalar_arg(2), false, "fmt");
  if (fmt.empty() || fmt.back() != 0) return err(EINVAL);
  std::string line;
  int next_arg = 3;
  for (std::size_t i = 0; fmt[i] != 0; ++i) {
    if (fmt[i] != '%') {
      line += char(fmt[i]);
      continue;
    }
    ++i;
    if (fmt[i] == '%') {
      line += '%';
      continue;
    }
    int longs = 0;
    while (fmt[i] == 'l' || fmt[i] == 'h') longs += fmt[i++] == 'l';
    if (next_arg > 5) return err(EINVAL);
    const int reg = next_arg++;
    const char conv = char(fmt[i]);
    char buf[64];
    if (conv == 's') {
      if (x.r[reg].kind == Kind::Scalar) {
        line += "(efault)";
        continue;
      }
      for (std::size_t n = 1;; ++n) {
        const auto s = x.mem_arg(reg, n, false, "%s");
        if (s.back() == 0 || n == 256) {
          line.append(reinterpret_cast<const char*>(s.data()), n - (s.back() == 0));
          break;
        }
      }
      continue;
    }
    uint64_t v = x.r[reg].kind == Kind::Scalar ? x.r[reg].value : 0;
    if (longs == 0 && conv != 'p') v = conv == 'd' || conv == 'i' ? uint64_t(int64_t(int32_t(v))) : uint32_t(v);
    switch (conv) {
      case 'd':
      case 'i': std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v)); break;
      case 'u': std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v)); break;
      case 'x': std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v)); break;
      case 'X': std::snprintf(buf, sizeof buf, "%llX", static_cast<unsigned long long>(v)); break;
      case 'c': std::snprintf(buf, sizeof buf, "%c", int(char(v))); break;
      case 'p': std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v)); break;
      default: return err(EINVAL);
    }
    line += buf;
  }
  x.out.trace.push_back(line);
  return line.size();
}

// --- packets ---------------------------------------------------------------------------------

uint64_t skb_load_bytes(Executor& x) {
  const auto data = x.skb_data();
  const uint64_t offset = uint32_t(x.scalar_arg(2));
  auto to = x.mem_arg(3, x.scalar_arg(4), true, "to");
  if (offset > INT32_MAX || offset + to.size() > data.size()) {
    std::fill(to.begin(), to.end(), 0);
    return err(EFAULT);
  }
  std::memcpy(to.data(), data.data() + offset, to.size());
  return 0;
}

uint64_t skb_store_bytes(Executor& x) {
  const auto data = x.skb_data();
  const uint64_t offset = uint32_t(x.scalar_arg(2));
  const auto from = x.mem_arg(3, x.scalar_arg(4), false, "from");
  const uint64_t flags = x.scalar_arg(5);
  if (flags & ~uint64_t(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) return err(EINVAL);
  if (offset > INT32_MAX || offset + from.size() > data.size()) return err(EFAULT);
  std::memmove(data.data() + offset, from.data(), from.size());
  if (flags & BPF_F_INVALIDATE_HASH) std::memset(x.ctx->data() + offsetof(__sk_buff, hash), 0, 4);
  return 0;
}

// The __sum16 field `offset` bytes into the skb data, or nullptr (-EFAULT) when it is odd or
// past the data.
uint8_t* csum_field(Executor& x, uint64_t offset) {
  const auto data = x.skb_data();
  if (offset > 0xffff || (offset & 1) || offset + 2 > data.size()) return nullptr;
  return data.data() + offset;
}

// The checksum `check` after `from` became `to` in the data it covers; `size` is the flags'
// BPF_F_HDR_FIELD_MASK part: 2 or 4 bytes changed, or 0 when `to` is a precomputed difference.
// nullopt (-EINVAL) for other sizes, or a difference given with a `from`. The L3 helper replaces
// a 2-byte field with csum_replace2; the L4 one widens it to 4 bytes first (inet_proto_csum_replace2).
std::optional<uint16_t> replaced_checksum(uint16_t check, uint64_t size, uint64_t from, uint64_t to, bool widen2) {
  switch (size) {
    case 0:
      if (from != 0) return std::nullopt;
      return csum::replace_by_diff(check, uint32_t(to));
    case 2:
      return widen2 ? csum::replace4(check, uint16_t(from), uint16_t(to)) : csum::replace2(check, uint16_t(from), uint16_t(to));
    case 4: return csum::replace4(check, uint32_t(from), uint32_t(to));
    default: return std::nullopt;
  }
}

uint64_t l3_csum_replace(Executor& x) {
  const uint64_t offset = uint32_t(x.scalar_arg(2)), from = x.scalar_arg(3), to = x.scalar_arg(4), flags = x.scalar_arg(5);
  if (flags & ~uint64_t(BPF_F_HDR_FIELD_MASK)) return err(EINVAL);
  uint8_t* field = csum_field(x, offset);
  if (!field) return err(EFAULT);
  const auto check = replaced_checksum(read_as<uint16_t>({field, 2}), flags & BPF_F_HDR_FIELD_MASK, from, to, false);
  if (!check) return err(EINVAL);
  std::memcpy(field, &*check, 2);
  return 0;
}

// The test run's skb has ip_summed == CHECKSUM_NONE, so the pseudo-header flag changes nothing
// observable: the field is updated like an L3 checksum, with the "mangled zero" rules of UDP.
uint64_t l4_csum_replace(Executor& x) {
  const uint64_t offset = uint32_t(x.scalar_arg(2)), from = x.scalar_arg(3), to = x.scalar_arg(4), flags = x.scalar_arg(5);
  constexpr uint64_t kIpv6 = 1 << 7;  // BPF_F_IPV6 (newer than this machine's UAPI header)
  if (flags & ~uint64_t(BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | kIpv6))
    return err(EINVAL);
  uint8_t* field = csum_field(x, offset);
  if (!field) return err(EFAULT);
  const bool mangled0 = flags & BPF_F_MARK_MANGLED_0, enforce = flags & BPF_F_MARK_ENFORCE;
  const uint16_t old = read_as<uint16_t>({field, 2});
  if (mangled0 && !enforce && old == 0) return 0;
  auto check = replaced_checksum(old, flags & BPF_F_HDR_FIELD_MASK, from, to, true);
  if (!check) return err(EINVAL);
  if (mangled0 && *check == 0) check = 0xffff;  // CSUM_MANGLED_0
  std::memcpy(field, &*check, 2);
  return 0;
}

// The one's-complement sum of `to` minus that of `from`, plus `seed`, folded to 16 bits (but
// not complemented): Linux 6.18 returns the folded form on every architecture and takes any
// sizes (seen here: results below 0x10000, no EINVAL for sizes that are not multiples of 4).
uint64_t csum_diff(Executor& x) {
  const uint64_t from_size = x.scalar_arg(2), to_size = x.scalar_arg(4);
  const uint32_t seed = uint32_t(x.scalar_arg(5));
  const auto from = x.mem_arg(1, from_size, false, "from");
  const auto to = x.mem_arg(3, to_size, false, "to");
  uint32_t sum = seed;
  if (!from.empty() && !to.empty())
    sum = csum::sub(csum::partial(to, seed), csum::partial(from, 0));
  else if (!to.empty())
    sum = csum::partial(to, seed);
  else if (!from.empty())
    sum = ~csum::partial(from, ~seed);
  return csum::from32to16(sum);
}

uint64_t xdp_adjust_head(Executor& x) {
  const int64_t offset = int32_t(x.scalar_arg(2));
  const uint32_t metalen = x.data - x.meta;
  const int64_t data = int64_t(x.data) + offset;
  if (data < int64_t(kXdpFrameStruct + metalen) || data > int64_t(x.data_end) - kEthHeader) return err(EINVAL);
  if (metalen) std::memmove(x.packet->data() + x.meta + offset, x.packet->data() + x.meta, metalen);
  x.meta = uint32_t(int64_t(x.meta) + offset);
  x.data = uint32_t(data);
  return 0;
}

uint64_t xdp_adjust_meta(Executor& x) {
  const int64_t meta = int64_t(x.meta) + int32_t(x.scalar_arg(2));
  if (meta < int64_t(kXdpFrameStruct) || meta > int64_t(x.data)) return err(EINVAL);
  const int64_t metalen = int64_t(x.data) - meta;
  if ((metalen & 3) || metalen > 255) return err(EACCES);  // metadata is at most 255 bytes (u8), in 4-byte units
  x.meta = uint32_t(meta);
  return 0;
}

uint64_t xdp_adjust_tail(Executor& x) {
  const int64_t offset = int32_t(x.scalar_arg(2));
  const int64_t end = int64_t(x.data_end) + offset;
  if (end > int64_t(x.frame_end) || end < int64_t(x.data) + kEthHeader) return err(EINVAL);
  if (std::size_t(end) > x.packet->size()) x.packet->resize(std::size_t(end), 0);
  if (offset > 0) std::memset(x.packet->data() + x.data_end, 0, std::size_t(offset));
  x.data_end = uint32_t(end);
  return 0;
}

uint64_t redirect(Executor& x) {
  const uint64_t ifindex = uint32_t(x.scalar_arg(1)), flags = x.scalar_arg(2);
  if (x.model == CtxModel::Xdp) {
    if (flags) return XDP_ABORTED;
    x.out.redirect = Redirect{uint32_t(ifindex), -1, 0, flags};
    return XDP_REDIRECT;
  }
  if (x.model != CtxModel::Tc) throw Stop{"bpf_redirect needs an XDP or tc program"};
  if (flags & ~uint64_t(BPF_F_INGRESS)) return 2;  // TC_ACT_SHOT
  x.out.redirect = Redirect{uint32_t(ifindex), -1, 0, flags};
  return 7;  // TC_ACT_REDIRECT
}

uint64_t redirect_map(Executor& x) {
  int index = -1;
  MapInstance& m = x.map_arg(1, &index);
  const uint64_t key = x.scalar_arg(2), flags = x.scalar_arg(3);
  const uint32_t t = m.def().type;
  if (t != BPF_MAP_TYPE_DEVMAP && t != BPF_MAP_TYPE_DEVMAP_HASH && t != BPF_MAP_TYPE_CPUMAP && t != BPF_MAP_TYPE_XSKMAP)
    throw Stop{"bpf_redirect_map needs a devmap, cpumap or xskmap"};
  constexpr uint64_t kActions = XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX;
  if (flags & ~(kActions | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)) return XDP_ABORTED;
  const uint32_t k = uint32_t(key);
  if (!(flags & BPF_F_BROADCAST) && !m.lookup({reinterpret_cast<const uint8_t*>(&k), 4}, x.env.cpu))
    return flags & kActions;
  x.out.redirect = Redirect{0, index, key, flags};
  return XDP_REDIRECT;
}

// bpf_fib_lookup against Environment::fib: IPv4 only (IPv6 lookups report no route).
uint64_t fib_lookup(Executor& x) {
  const uint64_t plen = x.scalar_arg(3), flags = x.scalar_arg(4);
  if (plen < sizeof(bpf_fib_lookup)) return err(EINVAL);
  if (flags & ~uint64_t(BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_OUTPUT)) return err(EINVAL);
  auto p = x.mem_arg(2, sizeof(bpf_fib_lookup), true, "params");
  bpf_fib_lookup params;
  std::memcpy(&params, p.data(), sizeof params);
  if (params.family == 10 /*AF_INET6*/) return BPF_FIB_LKUP_RET_NOT_FWDED;
  if (params.family != 2 /*AF_INET*/) return err(EAFNOSUPPORT);
  const FibRoute* best = nullptr;
  for (const FibRoute& r : x.env.fib) {
    if (r.prefix_len > 32) throw Stop{"a route of the fib table has a prefix longer than 32 bits"};
    const uint32_t mask = r.prefix_len == 0 ? 0 : __builtin_bswap32(~uint32_t(0) << (32 - r.prefix_len));
    if ((params.ipv4_dst & mask) == (r.prefix & mask) && (!best || r.prefix_len > best->prefix_len)) best = &r;
  }
  if (!best) return BPF_FIB_LKUP_RET_NOT_FWDED;
  if (params.tot_len > best->mtu) {
    params.mtu_result = best->mtu;
    std::memcpy(p.data(), &params, sizeof params);
    return BPF_FIB_LKUP_RET_FRAG_NEEDED;
  }
  params.ifindex = best->ifindex;
  if (best->gateway) params.ipv4_dst = best->gateway;
  std::memcpy(params.smac, best->smac.data(), 6);
  std::memcpy(params.dmac, best->dmac.data(), 6);
  std::memcpy(p.data(), &params, sizeof params);
  return BPF_FIB_LKUP_RET_SUCCESS;
}

using HelperFn = uint64_t (*)(Executor&);

HelperFn helper(int32_t id) {
  switch (id) {
    case BPF_FUNC_map_lookup_elem: return map_lookup;
    case BPF_FUNC_map_update_elem: return map_update;
    case BPF_FUNC_map_delete_elem: return map_delete;
    case BPF_FUNC_ktime_get_ns:
    case BPF_FUNC_ktime_get_boot_ns:
    case BPF_FUNC_ktime_get_coarse_ns: return ktime;
    case BPF_FUNC_trace_printk: return trace_printk;
    case BPF_FUNC_get_prandom_u32: return prandom;
    case BPF_FUNC_get_smp_processor_id: return [](Executor& x) -> uint64_t { return x.env.cpu; };
    case BPF_FUNC_get_current_pid_tgid: return [](Executor& x) -> uint64_t { return x.env.pid_tgid; };
    case BPF_FUNC_get_current_comm: return current_comm;
    case BPF_FUNC_probe_read_user:
    case BPF_FUNC_probe_read_kernel:
    case BPF_FUNC_probe_read_user_str:
    case BPF_FUNC_probe_read_kernel_str: return probe_read;
    case BPF_FUNC_skb_load_bytes: return skb_load_bytes;
    case BPF_FUNC_skb_store_bytes: return skb_store_bytes;
    case BPF_FUNC_l3_csum_replace: return l3_csum_replace;
    case BPF_FUNC_l4_csum_replace: return l4_csum_replace;
    case BPF_FUNC_csum_diff: return csum_diff;
    case BPF_FUNC_redirect: return redirect;
    case BPF_FUNC_redirect_map: return redirect_map;
    case BPF_FUNC_xdp_adjust_head: return xdp_adjust_head;
    case BPF_FUNC_xdp_adjust_meta: return xdp_adjust_meta;
    case BPF_FUNC_xdp_adjust_tail: return xdp_adjust_tail;
    case BPF_FUNC_fib_lookup: return fib_lookup;
    case BPF_FUNC_ringbuf_output: return ringbuf_output;
    default: return nullptr;
  }
}

}  // namespace

std::string helper_name(int32_t id) {
  if (id >= 0 && std::size_t(id) < std::size(kHelperNames)) return kHelperNames[id];
  return "helper #" + std::to_string(id);
}

void call_helper(Executor& x, int32_t id) {
  const HelperFn fn = helper(id);
  if (!fn) throw Stop{"the interpreter does not model " + helper_name(id) + " (helper " + std::to_string(id) + ")"};
  x.r[0] = {Kind::Scalar, 0, 0};
  uint64_t r0;
  try {
    r0 = fn(x);
  } catch (const Stop& s) {
    throw Stop{helper_name(id) + ": " + s.reason};
  }
  if (x.r[0].kind == Kind::Scalar) x.r[0].value = r0;  // map lookups set a pointer themselves
  for (int i = 1; i <= 5; ++i) x.r[i] = {Kind::Uninit, 0, 0};
}

}  // namespace tristate
