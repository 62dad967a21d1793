#include "datapath/afxdp.hpp"

#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "compiler/error.hpp"

namespace tristate::datapath {

struct AfXdpSocket::Rings {
  xsk_ring_prod fill{};
  xsk_ring_cons completion{};
  xsk_ring_cons rx{};
  xsk_ring_prod tx{};
};

namespace {

// A frame's descriptor from an address the kernel gives (an RX descriptor's or a completion's).
Buffer frame_of(RegionId region, uint64_t addr, uint32_t frame_size, uint32_t len) {
  uint64_t base = addr & ~static_cast<uint64_t>(frame_size - 1);
  return Buffer{.region = region, .offset = base, .length = frame_size,
                .valid_offset = static_cast<uint32_t>(addr - base), .valid_length = len};
}

// libxdp reports on stderr what it falls back to (no dispatcher without a BPF filesystem, say);
// real failures come back as errors and become InputErrors here.
int quiet_libxdp(enum libxdp_print_level, const char*, va_list) { return 0; }

// Reserves up to `n` slots of a producer ring (libxdp's reserve is all or nothing): how many.
uint32_t reserve_up_to(xsk_ring_prod* ring, uint32_t n, uint32_t* idx) {
  if (n == 0) return 0;
  if (xsk_ring_prod__reserve(ring, n, idx) == n) return n;
  n = std::min<uint32_t>(n, xsk_prod_nb_free(ring, n));  // it may report more free than asked
  return n && xsk_ring_prod__reserve(ring, n, idx) == n ? n : 0;
}

}  // namespace

// What a socket's two queues share: a UMEM that takes no new region, and single-descriptor
// operations as batches of one.
class AfXdpSocket::UmemQueue : public Queue {
 public:
  explicit UmemQueue(AfXdpSocket& s) : s_(s) {}
  Registered register_region(std::span<uint8_t>) override { return {Status::Unsupported, 0}; }
  Status deregister_region(RegionId) override { return Status::Unsupported; }
  Status enqueue(const Buffer& b) override { return enqueue_batch({&b, 1}).done == 1 ? Status::Ok : Status::Full; }
  Dequeued dequeue() override {
    Dequeued d;
    d.status = dequeue_batch({&d.buffer, 1}).done == 1 ? Status::Ok : Status::Empty;
    return d;
  }
  const RegionTable& regions() const override { return s_.regions_; }

 protected:
  AfXdpSocket& s_;
};

// The RX side: enqueue = the fill ring, dequeue = the RX ring.
class AfXdpSocket::Rx final : public UmemQueue {
 public:
  using UmemQueue::UmemQueue;
  Batch enqueue_batch(std::span<const Buffer> buffers) override {
    uint32_t idx = 0;
    const uint32_t n = reserve_up_to(&s_.rings_->fill, static_cast<uint32_t>(buffers.size()), &idx);
    for (uint32_t i = 0; i < n; ++i) *xsk_ring_prod__fill_addr(&s_.rings_->fill, idx + i) = buffers[i].offset;
    if (n) xsk_ring_prod__submit(&s_.rings_->fill, n);
    return {n, n == buffers.size() ? Status::Ok : Status::Full};
  }
  Batch dequeue_batch(std::span<Buffer> out) override {
    uint32_t idx = 0;
    const uint32_t n = xsk_ring_cons__peek(&s_.rings_->rx, static_cast<uint32_t>(out.size()), &idx);
    for (uint32_t i = 0; i < n; ++i) {
      const xdp_desc* d = xsk_ring_cons__rx_desc(&s_.rings_->rx, idx + i);
      out[i] = frame_of(s_.umem_region_, d->addr, s_.options_.frame_size, d->len);
    }
    if (n) xsk_ring_cons__release(&s_.rings_->rx, n);
    return {n, n == out.size() ? Status::Ok : Status::Empty};
  }
};

// The TX side: enqueue = the TX ring (and a wakeup), dequeue = the completion ring.
class AfXdpSocket::Tx final : public UmemQueue {
 public:
  using UmemQueue::UmemQueue;
  Batch enqueue_batch(std::span<const Buffer> buffers) override {
    uint32_t idx = 0;
    const uint32_t n = reserve_up_to(&s_.rings_->tx, static_cast<uint32_t>(buffers.size()), &idx);
    for (uint32_t i = 0; i < n; ++i) {
      xdp_desc* d = xsk_ring_prod__tx_desc(&s_.rings_->tx, idx + i);
      d->addr = buffers[i].offset + buffers[i].valid_offset;
      d->len = buffers[i].valid_length;
      d->options = 0;
    }
    if (n) xsk_ring_prod__submit(&s_.rings_->tx, n);
    if (n || !buffers.empty()) kick();  // sends what was submitted, or lets the kernel drain a full ring
    return {n, n == buffers.size() ? Status::Ok : Status::Full};
  }
  Batch dequeue_batch(std::span<Buffer> out) override {
    uint32_t idx = 0;
    const uint32_t n = xsk_ring_cons__peek(&s_.rings_->completion, static_cast<uint32_t>(out.size()), &idx);
    for (uint32_t i = 0; i < n; ++i)
      out[i] = frame_of(s_.umem_region_, *xsk_ring_cons__comp_addr(&s_.rings_->completion, idx + i), s_.options_.frame_size, 0);
    if (n) xsk_ring_cons__release(&s_.rings_->completion, n);
    return {n, n == out.size() ? Status::Ok : Status::Empty};
  }

 private:
  // Copy mode sends only from a system call.
  void kick() { sendto(xsk_socket__fd(s_.xsk_), nullptr, 0, MSG_DONTWAIT, nullptr, 0); }
};

AfXdpSocket::AfXdpSocket(const AfXdpOptions& options, RegionTable& regions)
    : options_(options), regions_(regions), rings_(std::make_unique<Rings>()) {
  Location where{options.ifname, "", std::nullopt};
  auto fail = [&](const std::string& what, int err) {
    throw InputError(where, what + ": " + std::strerror(err < 0 ? -err : err));
  };
  if (if_nametoindex(options.ifname.c_str()) == 0) throw InputError(where, "no such network interface");
  if (!std::has_single_bit(options.frame_size) || options.frame_size < 2048 || options.frame_size > 4096)
    throw InputError(where, "the frame size must be 2048 or 4096");
  if (!std::has_single_bit(options.ring_size) || !std::has_single_bit(options.frames))
    throw InputError(where, "ring sizes and the frame count must be powers of two");

  area_size_ = static_cast<std::size_t>(options.frames) * options.frame_size;
  void* area = mmap(nullptr, area_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) fail("cannot map the UMEM", errno);
  area_ = static_cast<uint8_t*>(area);

  xsk_umem_config ucfg{};
  ucfg.fill_size = options.ring_size;
  ucfg.comp_size = options.ring_size;
  ucfg.frame_size = options.frame_size;
  ucfg.frame_headroom = 0;
  if (int err = xsk_umem__create(&umem_, area_, area_size_, &rings_->fill, &rings_->completion, &ucfg)) {
    munmap(area_, area_size_);
    fail("cannot create the UMEM", err);
  }
  xsk_socket_config scfg{};
  scfg.rx_size = options.ring_size;
  scfg.tx_size = options.ring_size;
  scfg.xdp_flags = options.mode == XdpMode::Native    ? XDP_FLAGS_DRV_MODE
                   : options.mode == XdpMode::Generic ? XDP_FLAGS_SKB_MODE
                                                      : 0;
  scfg.bind_flags = options.zero_copy ? XDP_ZEROCOPY : XDP_COPY;
  if (!options.receive) scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
  libxdp_set_print(quiet_libxdp);
  if (int err = xsk_socket__create(&xsk_, options.ifname.c_str(), options.queue_id, umem_, &rings_->rx, &rings_->tx, &scfg)) {
    xsk_umem__delete(umem_);
    munmap(area_, area_size_);
    fail("cannot create the AF_XDP socket on queue " + std::to_string(options.queue_id), err);
  }
  Registered r = regions_.add({area_, area_size_});
  if (r.status != Status::Ok) {
    xsk_socket__delete(xsk_);
    xsk_umem__delete(umem_);
    munmap(area_, area_size_);
    throw InputError(where, "cannot register the UMEM: " + std::string(describe(r.status)));
  }
  umem_region_ = r.id;
  rx_ = std::make_unique<Rx>(*this);
  tx_ = std::make_unique<Tx>(*this);
}

AfXdpSocket::~AfXdpSocket() {
  regions_.remove(umem_region_);
  xsk_socket__delete(xsk_);
  xsk_umem__delete(umem_);
  munmap(area_, area_size_);
}

Queue& AfXdpSocket::rx() { return *rx_; }
Queue& AfXdpSocket::tx() { return *tx_; }
int AfXdpSocket::fd() const { return xsk_socket__fd(xsk_); }

std::vector<Buffer> AfXdpSocket::frames() const {
  std::vector<Buffer> out;
  out.reserve(options_.frames);
  for (uint64_t i = 0; i < options_.frames; ++i)
    out.push_back(Buffer{.region = umem_region_, .offset = i * options_.frame_size, .length = options_.frame_size});
  return out;
}

AfXdpStats AfXdpSocket::stats() const {
  xdp_statistics s{};
  socklen_t len = sizeof s;
  AfXdpStats out;
  if (getsockopt(fd(), SOL_XDP, XDP_STATISTICS, &s, &len) != 0) return out;
  out.rx_dropped = s.rx_dropped;
  out.rx_invalid = s.rx_invalid_descs;
  out.tx_invalid = s.tx_invalid_descs;
  out.rx_ring_full = s.rx_ring_full;
  out.fill_ring_empty = s.rx_fill_ring_empty_descs;
  out.tx_ring_empty = s.tx_ring_empty_descs;
  return out;
}

}  // namespace tristate::datapath
