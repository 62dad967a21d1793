// A packet pipeline around one stage (`tristate pipeline`): packets from a source run through an
// XDP program in a datapath::Stage, and the packets it passes or transmits go to sinks.
//
//   source ──▶ [checked] stage ──pass──▶ loopback ──▶ [checked] ──▶ pass sink
//                        │     ──tx────▶ loopback ──▶ [checked] ──▶ tx sink
//                        └── dropped, aborted, redirected (no route) ──▶ [checked] ──▶ recycled
//
// Every buffer lives in a registered region (a pool of frames of the driver's own for pcap and
// generated sources, the UMEM for an AF_XDP source), and every queue the driver talks through is
// wrapped in a CheckedQueue sharing one Ledger: the driver side must own a buffer to hand it on
// and may not receive one it still owns, so a buffer lost or handed on twice shows up as a
// violation in the statistics.
//
// Sources and sinks are written SCHEME:ARG:
//   sources  pcap:FILE        every packet of a pcap or pcapng capture, in order
//            gen:SPEC         generated packets (compiler/packet_gen.hpp); SPEC is N, or
//                             comma-separated key=value pairs: count=N (default 1000), seed=S
//                             (default 1); e.g. gen:500, gen:count=500,seed=7
//            afxdp:IFACE      an AF_XDP socket on queue 0 of IFACE, until stopped
//   sinks    pcap:FILE        a classic pcap file, written to a temporary file beside FILE and
//                             renamed over it at the end (FILE is the old file or the whole new one)
//            afxdp:IFACE      sent out of IFACE's AF_XDP socket (queue 0); the source's own
//                             socket when IFACE is the source's interface, without a copy
//            none             discarded (counted)
// Packets the kernel would not run an XDP program on (shorter than an Ethernet header, longer
// than a frame) are counted as aborted, with the reason, and never reach the program.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datapath/afxdp.hpp"
#include "datapath/stage.hpp"

namespace tristate::datapath {

struct Endpoint {
  enum class Kind { None, Pcap, Gen, AfXdp };
  Kind kind = Kind::None;
  std::string spec;   // as the user wrote it
  std::string arg;    // the file or the interface
  uint64_t count = 1000;  // gen: how many packets
  uint64_t seed = 1;      // gen: the generator's seed
};

// InputError naming the option for an unknown scheme, a missing argument or a bad gen SPEC.
Endpoint parse_source(const std::string& text);
Endpoint parse_sink(const std::string& text, const std::string& option = "--to");

struct PipelineOptions {
  Endpoint source;
  Endpoint pass;                // --to (default none)
  std::optional<Endpoint> tx;   // --tx; unset: back out of the source's socket for an AF_XDP source, else none
  uint64_t count = 0;           // stop after this many packets (0: no limit)
  double duration = 0;          // stop after this many seconds (0: no limit)
  XdpMode mode = XdpMode::Auto; // XDP mode of the AF_XDP sockets
  uint32_t frames = 4096;       // frames per pool (each AF_XDP UMEM, and the driver's own pool)
  // Files that must not be overwritten by a pcap sink (the program, the maps); the source's file
  // is always protected.
  std::vector<std::string> inputs;
  // Set (from a signal handler, say) to stop at the next batch.
  const std::atomic<bool>* stop = nullptr;
};

struct SinkStats {
  std::string spec;
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t dropped = 0;  // could not be sent (AF_XDP: no free frame, ring full at the end)
};

struct PipelineStats {
  uint64_t packets = 0;  // taken from the source (run, or refused before the program)
  uint64_t by_action[kXdpActions] = {};
  uint64_t faults = 0;   // runs that stopped early (counted as aborted too)
  std::string last_fault;  // why the latest of them stopped
  std::map<std::string, uint64_t> refused;  // packets not run, by reason (counted as aborted)
  double seconds = 0;
  uint64_t violations = 0;  // ownership violations seen by the checking layers
  std::string last_violation;
  SinkStats pass, tx, other;  // other: dropped, aborted and redirected packets, recycled
  std::optional<AfXdpStats> socket;  // the source's socket, when it is AF_XDP
  std::string stopped_by;  // "end of source", "count", "duration", "signal"
  double pps() const { return seconds > 0 ? static_cast<double>(packets) / seconds : 0; }
};

// Runs `program` on every packet of the source until the source ends or a limit or stop comes.
// InputError (before anything is written or attached) for a source or sink that cannot be
// opened: a missing capture, a pcap sink that would overwrite an input or the other sink's file,
// an interface that does not exist, an AF_XDP source as a sink of a non-AF_XDP pipeline... A pcap
// sink's file exists only once the run has ended well. `progress` is called about every
// `progress_interval` seconds from the calling thread.
PipelineStats run_pipeline(std::shared_ptr<PacketProgram> program, const PipelineOptions& options,
                           const std::function<void(const PipelineStats&)>& progress = {}, double progress_interval = 0.25);

}  // namespace tristate::datapath
