#include "datapath/pipeline.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>

#include "compiler/error.hpp"
#include "compiler/packet_gen.hpp"
#include "compiler/pcap.hpp"
#include "datapath/checked.hpp"
#include "datapath/loopback.hpp"

namespace tristate::datapath {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kFrameSize = 4096;
constexpr uint32_t kHeadroom = 256;  // XDP_PACKET_HEADROOM: where the kernel puts a packet in its frame
constexpr uint32_t kEthHeader = 14;
// The longest packet an XDP program runs on in a frame: headroom before it, the kernel's
// skb_shared_info after it (as BPF_PROG_TEST_RUN, the interpreter and the JIT have it).
constexpr uint32_t kMaxPacket = kFrameSize - kHeadroom - Interpreter::kXdpTailroom;
// Generated packets are made up front; more than this would take gigabytes.
constexpr uint64_t kMaxGenerated = 1'000'000;
constexpr std::size_t kBatch = 64;

std::string errno_text(int e) { return std::string(std::strerror(e)); }

uint64_t parse_number(const std::string& text, const std::string& what, const std::string& spec) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19)
    throw InputError(Location{spec, {}, std::nullopt}, what + " must be a non-negative integer, not '" + text + "'");
  return std::stoull(text);
}

// gen:SPEC's count=N,seed=S form, in any order.
void parse_gen_settings(Endpoint& e) {
  std::size_t start = 0;
  while (start <= e.arg.size()) {
    std::size_t comma = e.arg.find(',', start);
    if (comma == std::string::npos) comma = e.arg.size();
    const std::string item = e.arg.substr(start, comma - start);
    const std::size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "count") e.count = parse_number(value, "count", e.spec);
    else if (key == "seed") e.seed = parse_number(value, "seed", e.spec);
    else
      throw InputError(Location{e.spec, {}, std::nullopt},
                       "unknown generator setting '" + key + "'; gen:SPEC is N or count=N,seed=S");
    start = comma + 1;
  }
}

// gen:SPEC: N, or count=N,seed=S.
void parse_gen(Endpoint& e) {
  if (e.arg.empty()) return;
  if (e.arg.find('=') == std::string::npos) {
    e.count = parse_number(e.arg, "the packet count", e.spec);
  } else {
    parse_gen_settings(e);
  }
  if (e.count > kMaxGenerated)
    throw InputError(Location{e.spec, {}, std::nullopt}, "at most " + std::to_string(kMaxGenerated) + " generated packets (they are made up front)");
}

Endpoint split(const std::string& text, const char* option) {
  Endpoint e;
  e.spec = text;
  const std::size_t colon = text.find(':');
  const std::string scheme = text.substr(0, colon);
  e.arg = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (scheme == "none" && colon == std::string::npos) e.kind = Endpoint::Kind::None;
  else if (scheme == "pcap") e.kind = Endpoint::Kind::Pcap;
  else if (scheme == "gen") e.kind = Endpoint::Kind::Gen;
  else if (scheme == "afxdp") e.kind = Endpoint::Kind::AfXdp;
  else
    throw InputError(std::string(option) + " " + text + ": unknown scheme '" + scheme +
                     "'; expected pcap:FILE, gen:SPEC, afxdp:IFACE or none");
  if ((e.kind == Endpoint::Kind::Pcap || e.kind == Endpoint::Kind::AfXdp) && e.arg.empty())
    throw InputError(std::string(option) + " " + text + ": " + scheme + ": needs a " +
                     (e.kind == Endpoint::Kind::Pcap ? "file" : "network interface") + " after the colon");
  return e;
}

// A pcap sink: records are streamed to a temporary file beside the target, renamed over it by
// commit(); without commit the temporary file goes. Timestamps as write_pcap stamps them (packet
// i at i microseconds), so the file equals pcap_bytes() of the same packets.
class PcapWriter {
 public:
  explicit PcapWriter(const std::string& path) : target_(path) {
    const fs::path target(path);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    temp_ = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
    const int fd = mkstemp(temp_.data());
    if (fd < 0) throw InputError(Location{path, {}, std::nullopt}, "cannot create the output beside it: " + errno_text(errno));
    fchmod(fd, 0644);
    file_ = fdopen(fd, "wb");
    if (!file_) {
      close(fd);
      unlink(temp_.c_str());
      throw InputError(Location{path, {}, std::nullopt}, "cannot write the output: " + errno_text(errno));
    }
    const uint32_t header[6] = {0xa1b2c3d4u, 2u | (4u << 16), 0, 0, static_cast<uint32_t>(kMaxPcapPacket), 1};
    put(header, sizeof header);
  }
  ~PcapWriter() {
    if (file_) std::fclose(file_);
    if (!committed_) unlink(temp_.c_str());
  }
  PcapWriter(const PcapWriter&) = delete;

  void write(std::span<const uint8_t> packet) {
    const uint32_t size = static_cast<uint32_t>(packet.size());
    const uint32_t record[4] = {static_cast<uint32_t>(count_ / 1000000), static_cast<uint32_t>(count_ % 1000000), size, size};
    put(record, sizeof record);
    put(packet.data(), packet.size());
    ++count_;
  }
  void commit() {
    const bool ok = !failed_ && std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
    const int closed = std::fclose(file_);
    file_ = nullptr;
    if (!ok || closed != 0 || std::rename(temp_.c_str(), target_.c_str()) != 0)
      throw InputError(Location{target_, {}, std::nullopt}, "cannot write the output: " + errno_text(errno ? errno : EIO));
    committed_ = true;
  }

 private:
  void put(const void* data, std::size_t size) {
    if (size && std::fwrite(data, 1, size, file_) != size) failed_ = true;
  }
  std::string target_, temp_;
  std::FILE* file_ = nullptr;
  uint64_t count_ = 0;
  bool failed_ = false, committed_ = false;
};

// One AF_XDP socket (queue 0 of an interface) with the checking layer on both of its queues.
struct Port {
  Port(const std::string& ifname, const PipelineOptions& o, RegionTable& table, Ledger& ledger, bool source)
      : socket(AfXdpOptions{.ifname = ifname, .frames = o.frames, .frame_size = kFrameSize, .ring_size = o.frames, .mode = o.mode,
                            .receive = source},
               table),
        rx(socket.rx(), &ledger),
        tx(socket.tx(), &ledger),
        is_source(source) {
    ledger.add_region(socket.umem_region(), static_cast<uint64_t>(o.frames) * kFrameSize);
    std::vector<Buffer> frames = socket.frames();
    if (source) {
      Batch b = rx.enqueue_batch(frames);
      free.assign(frames.begin() + static_cast<std::ptrdiff_t>(b.done), frames.end());
    } else {
      free = std::move(frames);
    }
  }
  AfXdpSocket socket;
  CheckedQueue rx, tx;
  bool is_source = false;
  std::vector<Buffer> free;  // frames the driver owns and has no use for yet
  uint64_t in_flight = 0;    // frames on the TX ring not yet completed
};

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

class Driver {
 public:
  Driver(std::shared_ptr<PacketProgram> program, const PipelineOptions& options)
      : options_(options),
        pool_(static_cast<std::size_t>(options.frames) * kFrameSize),
        pass_q_(8192, &table_),
        tx_q_(8192, &table_),
        stage_(std::move(program), Routes{.pass = &pass_q_, .tx = &tx_q_, .redirect = {}}, table_),
        stage_in_(stage_, &ledger_),
        pass_out_(pass_q_, &ledger_),
        tx_out_(tx_q_, &ledger_) {
    stats_.pass.spec = options.pass.spec;
    tx_spec_ = options.tx ? *options.tx : options.source.kind == Endpoint::Kind::AfXdp
                                              ? Endpoint{Endpoint::Kind::AfXdp, "afxdp:" + options.source.arg, options.source.arg}
                                              : Endpoint{Endpoint::Kind::None, "none", ""};
    stats_.tx.spec = tx_spec_.spec;
    stats_.other.spec = "recycled";
    check_outputs();

    // The driver's own frames, for packets from a capture or the generator.
    Registered r = table_.add(pool_);
    if (r.status != Status::Ok) throw InternalError("cannot register the frame pool: " + std::string(describe(r.status)));
    pool_region_ = r.id;
    ledger_.add_region(pool_region_, pool_.size());
    for (uint64_t i = 0; i < options.frames; ++i)
      pool_free_.push_back(Buffer{.region = pool_region_, .offset = i * kFrameSize, .length = kFrameSize});

    // Sources first: a capture is read whole before anything is opened for writing.
    switch (options.source.kind) {
      case Endpoint::Kind::Pcap: packets_ = read_pcap(options.source.arg); break;
      case Endpoint::Kind::Gen: packets_ = generate_packets(options.source.count, options.source.seed); break;
      case Endpoint::Kind::AfXdp: source_port_ = port(options.source.arg, true); break;
      case Endpoint::Kind::None: throw InputError("--from: none is not a source");
    }
    pass_port_ = options.pass.kind == Endpoint::Kind::AfXdp ? port(options.pass.arg, false) : nullptr;
    tx_port_ = tx_spec_.kind == Endpoint::Kind::AfXdp ? port(tx_spec_.arg, false) : nullptr;
    // Files last, so that a failure above leaves none behind.
    if (options.pass.kind == Endpoint::Kind::Pcap) pass_file_ = std::make_unique<PcapWriter>(options.pass.arg);
    if (tx_spec_.kind == Endpoint::Kind::Pcap) tx_file_ = std::make_unique<PcapWriter>(tx_spec_.arg);
  }

  PipelineStats run(const std::function<void(const PipelineStats&)>& progress, double interval) {
    start_ = last_progress_ = Clock::now();
    if (source_port_) run_socket(progress, interval);
    else run_packets(progress, interval);
    finish();
    if (pass_file_) pass_file_->commit();
    if (tx_file_) tx_file_->commit();
    return snapshot();
  }

 private:
  // The sinks must not overwrite an input, nor each other.
  void check_outputs() {
    std::vector<std::string> inputs = options_.inputs;
    if (options_.source.kind == Endpoint::Kind::Pcap) inputs.push_back(options_.source.arg);
    const auto check = [&](const Endpoint& sink, const char* option) {
      if (sink.kind != Endpoint::Kind::Pcap) return;
      for (const std::string& in : inputs)
        if (same_file(sink.arg, in))
          throw InputError(Location{sink.arg, {}, std::nullopt}, std::string(option) + " would overwrite an input file; give another");
      std::error_code ec;
      if (fs::is_directory(sink.arg, ec)) throw InputError(Location{sink.arg, {}, std::nullopt}, std::string(option) + " names a directory");
    };
    check(options_.pass, "--to");
    check(tx_spec_, "--tx");
    if (options_.pass.kind == Endpoint::Kind::Pcap && tx_spec_.kind == Endpoint::Kind::Pcap && same_file(options_.pass.arg, tx_spec_.arg))
      throw InputError(Location{tx_spec_.arg, {}, std::nullopt}, "--to and --tx name the same file");
  }

  Port* port(const std::string& ifname, bool source) {
    for (auto& p : ports_)
      if (p.first == ifname) return p.second.get();
    ports_.emplace_back(ifname, std::make_unique<Port>(ifname, options_, table_, ledger_, source));
    return ports_.back().second.get();
  }

  bool limit_reached() {
    if (options_.stop && options_.stop->load(std::memory_order_relaxed)) {
      stats_.stopped_by = "signal";
      return true;
    }
    if (options_.count && stats_.packets >= options_.count) {
      stats_.stopped_by = "count";
      return true;
    }
    if (options_.duration > 0 && seconds() >= options_.duration) {
      stats_.stopped_by = "duration";
      return true;
    }
    return false;
  }

  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void maybe_progress(const std::function<void(const PipelineStats&)>& progress, double interval) {
    if (!progress) return;
    const Clock::time_point now = Clock::now();
    if (std::chrono::duration<double>(now - last_progress_).count() < interval) return;
    last_progress_ = now;
    progress(snapshot());
  }

  void refuse(const std::string& reason) {
    ++refused_[reason];
    ++refused_total_;
  }

  void run_packets(const std::function<void(const PipelineStats&)>& progress, double interval) {
    Buffer pending[kBatch];
    std::size_t filled = 0;
    for (std::size_t i = 0; i < packets_.size(); ++i) {
      if (limit_reached()) break;
      const std::vector<uint8_t>& p = packets_[i];
      ++stats_.packets;
      if (p.size() < kEthHeader) {
        refuse("shorter than an Ethernet header (14 bytes)");
        continue;
      }
      if (p.size() > kMaxPacket) {
        refuse("longer than an XDP frame holds (" + std::to_string(kMaxPacket) + " bytes)");
        continue;
      }
      if (pool_free_.empty()) {
        submit({pending, filled});
        filled = 0;
        drain();
      }
      if (pool_free_.empty()) throw InternalError("the pipeline lost its frames: none came back from the stage");
      Buffer b = pool_free_.back();
      pool_free_.pop_back();
      std::span<uint8_t> frame = table_.bytes(b);
      std::copy(p.begin(), p.end(), frame.begin() + kHeadroom);
      b.valid_offset = kHeadroom;
      b.valid_length = static_cast<uint32_t>(p.size());
      pending[filled++] = b;
      if (filled == kBatch) {
        submit({pending, filled});
        filled = 0;
        drain();
        maybe_progress(progress, interval);
      }
    }
    submit({pending, filled});
    if (stats_.stopped_by.empty()) stats_.stopped_by = "end of source";
  }

  void run_socket(const std::function<void(const PipelineStats&)>& progress, double interval) {
    Buffer batch[kBatch];
    Port& src = *source_port_;
    while (!limit_reached()) {
      std::size_t want = kBatch;
      if (options_.count) want = std::min<uint64_t>(want, options_.count - stats_.packets);
      Batch got = src.rx.dequeue_batch(std::span<Buffer>(batch, want));
      stats_.packets += got.done;
      submit({batch, got.done});
      drain();
      maybe_progress(progress, interval);
      if (got.done == 0) {
        pollfd p{src.socket.fd(), POLLIN, 0};
        poll(&p, 1, 20);  // EINTR (a signal) just ends the wait
      }
    }
  }

  // Hands buffers to the stage in one batch, draining the routes while it is full.
  void submit(std::span<const Buffer> buffers) {
    while (!buffers.empty()) {
      Batch b = stage_in_.enqueue_batch(buffers);
      buffers = buffers.subspan(b.done);
      if (buffers.empty()) return;
      if (b.status != Status::Full) {  // an ownership violation: the buffer stays ours
        recycle(buffers.front());
        buffers = buffers.subspan(1);
        continue;
      }
      stage_.flush();
      drain();
    }
  }

  // Moves everything that has come out of the stage and the sockets' completion rings on.
  void drain() {
    Buffer batch[kBatch];
    for (bool more = true; more;) {
      more = false;
      Batch got = stage_in_.dequeue_batch(batch);
      for (std::size_t i = 0; i < got.done; ++i) {
        ++stats_.other.packets;
        stats_.other.bytes += batch[i].valid_length;
        recycle(batch[i]);
      }
      more |= got.done == kBatch;
      got = pass_out_.dequeue_batch(batch);
      for (std::size_t i = 0; i < got.done; ++i) deliver(batch[i], options_.pass, pass_port_, pass_file_.get(), stats_.pass);
      more |= got.done == kBatch;
      got = tx_out_.dequeue_batch(batch);
      for (std::size_t i = 0; i < got.done; ++i) deliver(batch[i], tx_spec_, tx_port_, tx_file_.get(), stats_.tx);
      more |= got.done == kBatch;
    }
    for (auto& [name, port] : ports_) reap(*port);
  }

  // Takes back what a socket has sent.
  void reap(Port& port) {
    Buffer batch[kBatch];
    for (;;) {
      Batch got = port.tx.dequeue_batch(batch);
      for (std::size_t i = 0; i < got.done; ++i) {
        --port.in_flight;
        recycle(batch[i]);
      }
      if (got.done < kBatch) return;
    }
  }

  void deliver(const Buffer& b, const Endpoint& sink, Port* port, PcapWriter* file, SinkStats& stats) {
    std::span<const uint8_t> data = table_.bytes(b).subspan(b.valid_offset, b.valid_length);
    switch (sink.kind) {
      case Endpoint::Kind::Pcap: file->write(data); break;
      case Endpoint::Kind::AfXdp:
        if (!send(*port, b, data)) {
          ++stats.dropped;
          return;
        }
        ++stats.packets;
        stats.bytes += data.size();
        return;  // the frame comes back through the completion ring
      default: break;
    }
    ++stats.packets;
    stats.bytes += data.size();
    recycle(b);
  }

  // Sends a packet out of a socket: the very frame when it is in the socket's UMEM, else a copy
  // in a free frame of its own. False (and the buffer recycled) when it could not be sent.
  bool send(Port& port, const Buffer& b, std::span<const uint8_t> data) {
    Buffer out = b;
    const bool own = b.region == port.socket.umem_region();
    if (!own) {
      if (port.free.empty()) reap(port);
      if (port.free.empty() || data.size() > kFrameSize) {
        recycle(b);
        return false;
      }
      out = port.free.back();
      port.free.pop_back();
      std::span<uint8_t> frame = table_.bytes(out);
      std::copy(data.begin(), data.end(), frame.begin());
      out.valid_offset = 0;
      out.valid_length = static_cast<uint32_t>(data.size());
      recycle(b);
    }
    for (int attempt = 0; attempt < 1000; ++attempt) {
      Status s = port.tx.enqueue(out);
      if (s == Status::Ok) {
        ++port.in_flight;
        return true;
      }
      if (s != Status::Full) break;
      reap(port);
    }
    recycle(out);
    return false;
  }

  // Gives a buffer the driver owns back to where empty frames live.
  void recycle(Buffer b) {
    b.valid_offset = 0;
    b.valid_length = 0;
    if (b.region == pool_region_) {
      pool_free_.push_back(b);
      return;
    }
    for (auto& [name, port] : ports_) {
      if (b.region != port->socket.umem_region()) continue;
      if (port->is_source && port->rx.enqueue(b) == Status::Ok) return;
      port->free.push_back(b);
      return;
    }
    throw InternalError("a buffer of an unknown region came back: " + describe(b));
  }

  // Drains the stage and waits a little for the sockets to complete what they were sending.
  void finish() {
    drain();
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(500);
    for (;;) {
      stage_.flush();
      drain();
      bool busy = false;
      for (auto& [name, port] : ports_) busy |= port->in_flight > 0;
      if (!busy || Clock::now() > deadline) break;
      for (auto& [name, port] : ports_)
        if (port->in_flight) sendto(port->socket.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
      usleep(1000);
    }
  }

  PipelineStats snapshot() {
    PipelineStats s = stats_;
    const StageStats& st = stage_.stats();
    for (std::size_t a = 0; a < kXdpActions; ++a) s.by_action[a] = st.by_action[a];
    s.by_action[static_cast<std::size_t>(XdpAction::Aborted)] += refused_total_;
    s.faults = st.faults;
    s.last_fault = st.last_fault;
    s.refused = refused_;
    s.seconds = seconds();
    const CheckedQueue* checked[] = {&stage_in_, &pass_out_, &tx_out_};
    for (const CheckedQueue* q : checked) {
      s.violations += q->violation_count();
      if (q->last_violation()) s.last_violation = q->last_violation()->message();
    }
    for (auto& [name, port] : ports_) {
      for (const CheckedQueue* q : {&port->rx, &port->tx}) {
        s.violations += q->violation_count();
        if (q->last_violation()) s.last_violation = q->last_violation()->message();
      }
    }
    if (source_port_) s.socket = source_port_->socket.stats();
    return s;
  }

  PipelineOptions options_;
  Endpoint tx_spec_;
  RegionTable table_;
  Ledger ledger_;
  std::vector<uint8_t> pool_;
  RegionId pool_region_ = 0;
  std::vector<Buffer> pool_free_;
  LoopbackQueue pass_q_, tx_q_;
  Stage stage_;
  CheckedQueue stage_in_, pass_out_, tx_out_;
  std::vector<std::pair<std::string, std::unique_ptr<Port>>> ports_;
  Port* source_port_ = nullptr;
  Port* pass_port_ = nullptr;
  Port* tx_port_ = nullptr;
  std::unique_ptr<PcapWriter> pass_file_, tx_file_;
  std::vector<std::vector<uint8_t>> packets_;
  std::map<std::string, uint64_t> refused_;
  uint64_t refused_total_ = 0;
  PipelineStats stats_;
  Clock::time_point start_, last_progress_;
};

}  // namespace

Endpoint parse_source(const std::string& text) {
  Endpoint e = split(text, "--from");
  if (e.kind == Endpoint::Kind::None) throw InputError("--from none: a source is pcap:FILE, gen:SPEC or afxdp:IFACE");
  if (e.kind == Endpoint::Kind::Gen) parse_gen(e);
  return e;
}

Endpoint parse_sink(const std::string& text, const std::string& option) {
  Endpoint e = split(text, option.c_str());
  if (e.kind == Endpoint::Kind::Gen)
    throw InputError(option + " " + text + ": gen: is a source; a sink is pcap:FILE, afxdp:IFACE or none");
  return e;
}

PipelineStats run_pipeline(std::shared_ptr<PacketProgram> program, const PipelineOptions& options,
                           const std::function<void(const PipelineStats&)>& progress, double progress_interval) {
  Driver driver(std::move(program), options);
  return driver.run(progress, progress_interval);
}

}  // namespace tristate::datapath
