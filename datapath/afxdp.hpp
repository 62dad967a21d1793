// An AF_XDP socket as two CleanQ queues over one UMEM region (through libxdp's xsk API).
//
// The UMEM is one region of `frames` frames; the user side owns every frame at first. The kernel
// is the other side of two queues:
//  - rx(): enqueue gives the kernel an empty frame to receive into (the fill ring); dequeue
//    takes a received packet (the RX ring), its data where the kernel put it in the frame.
//  - tx(): enqueue sends a packet (the TX ring, then a wakeup); dequeue takes back a frame the
//    kernel has sent (the completion ring).
// A frame thus goes fill -> RX -> (stage) -> TX -> completion -> fill, or RX -> fill when
// dropped. CheckedQueues on rx() and tx() sharing one Ledger (which add_region()s the UMEM)
// catch the classic AF_XDP bugs: a frame on the fill ring twice, or sent while the kernel may
// still fill it. Regions cannot be added to a UMEM once it exists: register_region
// answers Unsupported.
//
// The socket is bound to one queue of an interface; libxdp attaches its default XDP program,
// which redirects every packet of that queue to the socket, and detaches it when the socket goes
// (unless the socket only sends). libxdp's own messages are silenced: what fails becomes the
// InputError of the constructor.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datapath/queue.hpp"

struct xsk_umem;
struct xsk_socket;

namespace tristate::datapath {

enum class XdpMode { Auto, Native, Generic };

struct AfXdpOptions {
  std::string ifname;
  uint32_t queue_id = 0;
  uint32_t frames = 4096;
  uint32_t frame_size = 4096;  // a power of two, 2048 or 4096
  uint32_t ring_size = 2048;   // descriptors in each of the four rings (a power of two)
  XdpMode mode = XdpMode::Auto;
  bool zero_copy = false;      // copy mode works on every driver (veth included)
  // Attach libxdp's redirect program to the interface, so that received packets reach the
  // socket. False for a socket that only sends: the interface's traffic is left alone.
  bool receive = true;
};

// The socket's counters (XDP_STATISTICS).
struct AfXdpStats {
  uint64_t rx_dropped = 0;
  uint64_t rx_invalid = 0;
  uint64_t tx_invalid = 0;
  uint64_t rx_ring_full = 0;
  uint64_t fill_ring_empty = 0;
  uint64_t tx_ring_empty = 0;
};

class AfXdpSocket {
 public:
  // InputError naming the interface when the socket cannot be made (no such interface, no
  // permission, the driver refuses the mode); `regions` receives the UMEM and must outlive it.
  AfXdpSocket(const AfXdpOptions& options, RegionTable& regions);
  ~AfXdpSocket();
  AfXdpSocket(const AfXdpSocket&) = delete;

  Queue& rx();
  Queue& tx();
  RegionId umem_region() const { return umem_region_; }
  uint32_t frame_size() const { return options_.frame_size; }
  // Every frame as a buffer, in address order (all owned by the user when the socket is new).
  std::vector<Buffer> frames() const;
  AfXdpStats stats() const;
  int fd() const;

 private:
  class UmemQueue;
  class Rx;
  class Tx;
  struct Rings;

  AfXdpOptions options_;
  RegionTable& regions_;
  uint8_t* area_ = nullptr;
  std::size_t area_size_ = 0;
  RegionId umem_region_ = 0;
  std::unique_ptr<Rings> rings_;
  xsk_umem* umem_ = nullptr;
  xsk_socket* xsk_ = nullptr;
  std::unique_ptr<Rx> rx_;
  std::unique_ptr<Tx> tx_;
};

}  // namespace tristate::datapath
