#include "compiler/packet_gen.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <random>
#include <stdexcept>
#include <tuple>

namespace tristate {

namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86dd, kEthArp = 0x0806, kEthVlan = 0x8100, kEthQinQ = 0x88a8;
constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17, kProtoIcmpv6 = 58;
constexpr uint8_t kExtHopByHop = 0, kExtRouting = 43, kExtFragment = 44, kExtDestOpts = 60;
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20;
constexpr std::size_t kEthHeader = 14, kMaxFrame = 1500, kMinFrame = 60;

// Uniform enough draws over one mt19937_64. The modulo keeps the results the same with every
// standard library, which std::uniform_int_distribution does not promise.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  uint64_t next() { return g_(); }
  uint64_t below(uint64_t n) { return n ? g_() % n : 0; }
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
  bool percent(unsigned p) { return below(100) < p; }
  template <class T, std::size_t N>
  T pick(const T (&options)[N]) {
    return options[below(N)];
  }

 private:
  std::mt19937_64 g_;
};

uint16_t get16(std::span<const uint8_t> b, std::size_t at) { return uint16_t(b[at] << 8 | b[at + 1]); }
void put16(Bytes& b, uint16_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, uint16_t(v >> 16));
  put16(b, uint16_t(v));
}
void set16(Bytes& b, std::size_t at, uint16_t v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}
void append(Bytes& b, std::span<const uint8_t> more) { b.insert(b.end(), more.begin(), more.end()); }

// RFC 1071: the one's-complement sum of big-endian 16-bit words (an odd last byte padded with
// zero), folded and complemented by `checksum`.
uint64_t word_sum(std::span<const uint8_t> b, uint64_t acc = 0) {
  for (std::size_t i = 0; i + 1 < b.size(); i += 2) acc += get16(b, i);
  if (b.size() % 2) acc += uint64_t(b.back()) << 8;
  return acc;
}
uint16_t checksum(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(~acc);
}

// The pseudo-header sum TCP, UDP and ICMPv6 checksums start from; `v6` picks the layout.
uint64_t pseudo_sum(std::span<const uint8_t> ip, bool v6, uint8_t proto, std::size_t l4_length) {
  const auto addrs = v6 ? ip.subspan(8, 32) : ip.subspan(12, 8);
  return word_sum(addrs) + proto + l4_length;
}

// ---------------------------------------------------------------------------------------------
// Well-formed frames.

enum class Net { Ipv4, Ipv6, Arp };
enum class Transport { Tcp, Udp, Icmp };

struct Recipe {
  int vlans = 0;  // 0, 1 (802.1Q), 2 (QinQ)
  Net net = Net::Ipv4;
  bool ip_options = false;
  Bytes ext;  // IPv6 extension headers, in order
  Transport transport = Transport::Tcp;
  int tcp_flags = -1;  // -1: drawn
  int icmp_type = -1;  // -1: drawn (echo request or reply; ICMPv6 also neighbour solicitation)
  bool dns = false;
  bool arp_reply = false;
};

struct Frame {
  Bytes bytes;
  std::vector<std::size_t> bounds;  // offsets at which a header (or a tag, options) ends
  std::size_t ethertype_at = 12;    // the ethertype naming the network header
  std::size_t l3 = 0, l4 = 0;       // header offsets; l4 is 0 for ARP
  std::string category;
};

const uint16_t kPoolPorts[] = {22, 53, 80, 443, 8080};

std::array<uint8_t, 6> pool_mac(Rng& rng) {
  if (rng.percent(10)) return {0x02, uint8_t(rng.next()), uint8_t(rng.next()), uint8_t(rng.next()), 0x42, 0x17};
  return {0x02, 0, 0, 0, 0, uint8_t(rng.range(1, 4))};
}

std::array<uint8_t, 4> pool_ipv4(Rng& rng) {
  switch (rng.below(3)) {
    case 0: return {10, 0, 0, uint8_t(rng.range(1, 8))};
    case 1: return {192, 168, 1, uint8_t(rng.range(1, 4))};
    default: return {172, 16, uint8_t(rng.next()), uint8_t(rng.next())};
  }
}

std::array<uint8_t, 16> pool_ipv6(Rng& rng) {
  std::array<uint8_t, 16> a{};
  if (rng.percent(60)) {
    a[0] = 0xfd;
    a[15] = uint8_t(rng.range(1, 8));
  } else {
    a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8;
    for (int i = 8; i < 16; ++i) a[i] = uint8_t(rng.next());
  }
  return a;
}

uint16_t pool_port(Rng& rng, unsigned pool_percent) {
  return rng.percent(pool_percent) ? rng.pick(kPoolPorts) : uint16_t(rng.range(1024, 65535));
}

// Source and destination port of a client/server exchange in either direction.
std::pair<uint16_t, uint16_t> ports(Rng& rng, std::optional<uint16_t> server = {}) {
  const uint16_t s = server ? *server : pool_port(rng, 85);
  const uint16_t c = pool_port(rng, 30);
  return rng.percent(60) ? std::pair{c, s} : std::pair{s, c};
}

Bytes random_bytes(Rng& rng, std::size_t n) {
  Bytes b(n);
  for (auto& x : b) x = uint8_t(rng.next());
  return b;
}

// A DNS query or response for one A/AAAA question (RFC 1035 layout).
Bytes dns_message(Rng& rng, bool response) {
  Bytes m;
  put16(m, uint16_t(rng.next()));
  put16(m, response ? 0x8180 : 0x0100);
  put16(m, 1);
  put16(m, response ? 1 : 0);
  put16(m, 0);
  put16(m, 0);
  static const char* const kNames[] = {"\7example\3com", "\3www\6kernel\3org", "\4ebpf\2io"};
  const std::string name = rng.pick(kNames);
  m.insert(m.end(), name.begin(), name.end());
  m.push_back(0);
  const uint16_t qtype = rng.percent(70) ? 1 : 28;
  put16(m, qtype);
  put16(m, 1);
  if (response) {
    put16(m, 0xc00c);  // the name at offset 12
    put16(m, qtype);
    put16(m, 1);
    put32(m, 300);
    const Bytes addr = random_bytes(rng, qtype == 1 ? 4 : 16);
    put16(m, uint16_t(addr.size()));
    append(m, addr);
  }
  return m;
}

// TCP options for a segment with `flags`: MSS (and often SACK-permitted, timestamps, window
// scale) on SYNs, sometimes timestamps otherwise; padded with NOP to a multiple of 4.
Bytes tcp_options(Rng& rng, uint8_t flags) {
  Bytes o;
  if (flags & kSyn) {
    o.insert(o.end(), {2, 4});
    put16(o, rng.pick({uint16_t(1460), uint16_t(1440), uint16_t(536), uint16_t(8960)}));
    if (rng.percent(70)) o.insert(o.end(), {4, 2});
  }
  if (rng.percent((flags & kSyn) ? 70 : 30)) {
    o.insert(o.end(), {1, 1, 8, 10});
    put32(o, uint32_t(rng.next()));
    put32(o, (flags & kAck) ? uint32_t(rng.next()) : 0);
  }
  if ((flags & kSyn) && rng.percent(60)) o.insert(o.end(), {1, 3, 3, uint8_t(rng.range(0, 14))});
  while (o.size() % 4) o.push_back(1);
  return o;
}

// The transport header with checksum 0 (and UDP length 8); `option_start` receives the offset of
// its options (its length when there are none).
Bytes transport_header(const Recipe& r, bool v6, Rng& rng, std::size_t& option_start) {
  Bytes t;
  switch (r.transport) {
    case Transport::Tcp: {
      static const uint8_t kFlags[] = {kSyn,       kSyn | kAck, kAck,        kPsh | kAck, kFin | kAck,
                                       kRst,       kRst | kAck, kAck | kUrg, kSyn | kFin, 0};
      const uint8_t flags = r.tcp_flags >= 0 ? uint8_t(r.tcp_flags) : rng.pick(kFlags);
      const auto [sport, dport] = ports(rng);
      const Bytes options = tcp_options(rng, flags);
      put16(t, sport);
      put16(t, dport);
      put32(t, uint32_t(rng.next()));
      put32(t, (flags & kAck) ? uint32_t(rng.next()) : 0);
      t.push_back(uint8_t((5 + options.size() / 4) << 4));
      t.push_back(flags);
      put16(t, rng.pick({uint16_t(65535), uint16_t(502), uint16_t(64240), uint16_t(0)}));
      put16(t, 0);
      put16(t, (flags & kUrg) ? uint16_t(rng.range(1, 100)) : 0);
      option_start = t.size();
      append(t, options);
      break;
    }
    case Transport::Udp: {
      auto [sport, dport] = r.dns ? ports(rng, 53) : ports(rng);
      if (!r.dns) {  // port 53 says DNS; other UDP goes to mDNS's port instead
        if (sport == 53) sport = 5353;
        if (dport == 53) dport = 5353;
      }
      put16(t, sport);
      put16(t, dport);
      put16(t, 8);
      put16(t, 0);
      option_start = t.size();
      break;
    }
    case Transport::Icmp: {
      const uint8_t request = v6 ? 128 : 8, reply = v6 ? 129 : 0;
      uint8_t type = rng.percent(50) ? request : reply;
      if (v6 && rng.percent(20)) type = 135;
      if (r.icmp_type >= 0) type = uint8_t(r.icmp_type);
      t.push_back(type);
      t.push_back(0);
      put16(t, 0);
      if (type == 135) {  // neighbour solicitation: reserved, target address
        put32(t, 0);
        append(t, pool_ipv6(rng));
      } else {
        put16(t, uint16_t(rng.next()));  // identifier
        put16(t, uint16_t(rng.range(1, 100)));  // sequence
      }
      option_start = t.size();
      break;
    }
  }
  return t;
}

Bytes ipv4_options(Rng& rng) {
  switch (rng.below(3)) {
    case 0: return {0x94, 4, 0, 0};                                  // router alert
    case 1: return {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};            // record route, EOL
    default: return {0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0};  // timestamp, NOP NOP NOP EOL
  }
}

// A well-formed frame built from `r`: `payload` bytes after the transport header (or, for ARP,
// zero padding after the ARP body); nullopt draws a natural size. Everything but the payload's
// length is drawn the same way whatever `payload` is, so sized() can rebuild the same headers.
Frame build(const Recipe& r, std::optional<std::size_t> payload, Rng& rng) {
  Rng content_rng(rng.next());
  const uint64_t natural_draw = rng.next();
  Frame f;
  Bytes& b = f.bytes;
  const bool arp_request = r.net == Net::Arp && !r.arp_reply;
  const auto dst_mac = pool_mac(rng), src_mac = pool_mac(rng);
  if (arp_request)
    b.insert(b.end(), 6, 0xff);
  else
    append(b, dst_mac);
  append(b, src_mac);
  f.bounds.push_back(b.size());
  f.category = "eth";
  if (r.vlans) f.category += r.vlans == 2 ? "/qinq/vlan" : "/vlan";
  for (int i = 0; i < r.vlans; ++i) {
    put16(b, i == 0 && r.vlans == 2 ? kEthQinQ : kEthVlan);
    put16(b, uint16_t(rng.below(8) << 13 | rng.range(1, 4094)));
    f.bounds.push_back(b.size());
  }
  f.ethertype_at = b.size();
  put16(b, r.net == Net::Ipv4 ? kEthIpv4 : r.net == Net::Ipv6 ? kEthIpv6 : kEthArp);
  f.l3 = b.size();
  f.bounds.push_back(b.size());

  if (r.net == Net::Arp) {
    f.category += "/arp";
    put16(b, 1);  // Ethernet
    put16(b, kEthIpv4);
    b.push_back(6);
    b.push_back(4);
    put16(b, r.arp_reply ? 2 : 1);
    append(b, src_mac);
    append(b, pool_ipv4(rng));
    if (arp_request)
      b.insert(b.end(), 6, 0);
    else
      append(b, dst_mac);
    append(b, pool_ipv4(rng));
    f.bounds.push_back(b.size());
    b.resize(b.size() + payload.value_or(0));
    return f;
  }

  const bool v6 = r.net == Net::Ipv6;
  const uint8_t proto = r.transport == Transport::Tcp ? kProtoTcp
                        : r.transport == Transport::Udp ? kProtoUdp
                        : v6                            ? kProtoIcmpv6
                                                        : kProtoIcmp;
  // The network header with its lengths and checksum left 0; filled in below.
  Bytes net;
  std::vector<std::size_t> net_bounds;
  if (!v6) {
    const Bytes options = r.ip_options ? ipv4_options(rng) : Bytes{};
    net.push_back(uint8_t(0x40 | (5 + options.size() / 4)));
    net.push_back(rng.pick({uint8_t(0), uint8_t(0x10), uint8_t(0xb8), uint8_t(0x02)}));
    put16(net, 0);
    put16(net, uint16_t(rng.next()));
    put16(net, rng.percent(50) ? 0x4000 : 0);  // DF
    net.push_back(rng.pick({uint8_t(64), uint8_t(128), uint8_t(255), uint8_t(1)}));
    net.push_back(proto);
    put16(net, 0);
    append(net, pool_ipv4(rng));
    append(net, pool_ipv4(rng));
    net_bounds.push_back(net.size());
    append(net, options);
    f.category += r.ip_options ? "/ipv4+opts" : "/ipv4";
  } else {
    put32(net, uint32_t(6u << 28 | rng.below(256) << 20 | rng.below(1 << 20)));
    put16(net, 0);
    net.push_back(r.ext.empty() ? proto : r.ext[0]);
    net.push_back(rng.pick({uint8_t(64), uint8_t(255), uint8_t(1)}));
    append(net, pool_ipv6(rng));
    append(net, pool_ipv6(rng));
    f.category += "/ipv6";
    for (std::size_t i = 0; i < r.ext.size(); ++i) {
      net_bounds.push_back(net.size());
      const uint8_t next = i + 1 < r.ext.size() ? r.ext[i + 1] : proto;
      if (r.ext[i] == kExtHopByHop) {  // router alert, PadN
        net.insert(net.end(), {next, 0, 5, 2, 0, 0, 1, 0});
        f.category += "+hbh";
      } else if (r.ext[i] == kExtRouting) {  // type 0, no segments left: the destination is final
        net.insert(net.end(), {next, 2, 0, 0, 0, 0, 0, 0});
        append(net, pool_ipv6(rng));
        f.category += "+rt";
      } else {  // an atomic fragment (offset 0, no more fragments: RFC 6946)
        net.insert(net.end(), {next, 0, 0, 0});
        put32(net, uint32_t(rng.next()));
        f.category += "+frag";
      }
    }
  }
  const Bytes content = r.dns ? dns_message(content_rng, rng.percent(40)) : random_bytes(content_rng, 1500);
  std::size_t natural = r.dns ? content.size() : std::size_t(natural_draw % 5 == 0 ? 0 : natural_draw % 300);
  if (natural_draw % 17 == 0) natural = 1000 + natural_draw % 400;
  std::size_t option_start = 0;
  Bytes l4 = transport_header(r, v6, rng, option_start);
  const std::size_t header = l4.size();
  const std::size_t headers = b.size() + net.size() + header;
  const std::size_t room = kMaxFrame > headers ? kMaxFrame - headers : 0;
  const std::size_t body = payload ? *payload : std::min(natural, room);
  append(l4, std::span(content).first(std::min(body, content.size())));
  l4.resize(header + body);
  if (r.transport == Transport::Udp) set16(l4, 4, uint16_t(l4.size()));
  f.category += r.transport == Transport::Tcp ? "/tcp" : r.transport == Transport::Udp ? (r.dns ? "/udp/dns" : "/udp")
                : v6                          ? "/icmpv6"
                                              : "/icmp";

  for (auto nb : net_bounds) f.bounds.push_back(f.l3 + nb);
  if (v6) {
    set16(net, 4, uint16_t(net.size() - 40 + l4.size()));
  } else {
    set16(net, 2, uint16_t(net.size() + l4.size()));
    set16(net, 10, checksum(word_sum(net)));
  }
  append(b, net);
  f.l4 = b.size();
  f.bounds.push_back(f.l4);
  if (option_start != header) f.bounds.push_back(f.l4 + option_start);
  f.bounds.push_back(f.l4 + header);
  const std::size_t csum_at = r.transport == Transport::Tcp ? 16 : r.transport == Transport::Udp ? 6 : 2;
  const uint64_t start = (r.transport == Transport::Icmp && !v6) ? 0 : pseudo_sum(net, v6, proto, l4.size());
  uint16_t sum = checksum(word_sum(l4, start));
  if (r.transport == Transport::Udp && sum == 0) sum = 0xffff;  // 0 would mean "no checksum"
  set16(l4, csum_at, sum);
  append(b, l4);
  return f;
}

// sized() relies on build drawing the same headers whatever the payload size; checked here so
// that a change that breaks it fails loudly.
void check_size(const Frame& f, std::size_t want) {
  if (f.bytes.size() != want) throw std::logic_error("packets: frame of " + std::to_string(f.bytes.size()) +
                                                     " bytes, wanted " + std::to_string(want));
}

Recipe random_recipe(Rng& rng) {
  Recipe r;
  const uint64_t v = rng.below(100);
  r.vlans = v < 70 ? 0 : v < 88 ? 1 : 2;
  const uint64_t n = rng.below(100);
  r.net = n < 48 ? Net::Ipv4 : n < 88 ? Net::Ipv6 : Net::Arp;
  r.arp_reply = rng.percent(50);
  r.ip_options = rng.percent(25);
  for (uint8_t e : {kExtHopByHop, kExtRouting, kExtFragment})
    if (rng.percent(20)) r.ext.push_back(e);
  const uint64_t t = rng.below(100);
  r.transport = t < 45 ? Transport::Tcp : t < 80 ? Transport::Udp : Transport::Icmp;
  r.dns = r.transport == Transport::Udp && rng.percent(40);
  return r;
}

Recipe ipv4_recipe(Rng& rng, Transport t) {
  Recipe r = random_recipe(rng);
  r.net = Net::Ipv4;
  r.transport = t;
  return r;
}

Recipe ipv6_recipe(Rng& rng, Transport t) {
  Recipe r = random_recipe(rng);
  r.net = Net::Ipv6;
  r.transport = t;
  return r;
}

TestPacket well_formed(const Frame& f) { return {f.bytes, f.category, true}; }
TestPacket malformed(Bytes bytes, std::string what) { return {std::move(bytes), std::move(what), false}; }

// A frame of exactly `length` bytes: `r`'s headers with the payload grown to fill it, or cut
// to `length` when the headers alone are longer.
TestPacket sized(const Recipe& r, std::size_t length, Rng& rng) {
  Rng again = rng;
  Frame f = build(r, 0, rng);
  const std::size_t header_size = f.bytes.size();
  if (header_size > length) {
    f.bytes.resize(length);
    return malformed(f.bytes, "truncated");
  }
  rng = again;
  f = build(r, length - header_size, rng);
  check_size(f, length);
  return well_formed(f);
}

// Cuts of `f` at each of its header boundaries and in the middle of each header.
std::vector<TestPacket> truncations(const Frame& f) {
  std::vector<std::size_t> cuts{0, 1, 6};
  std::size_t prev = 0;
  for (std::size_t b : f.bounds) {
    cuts.push_back(b);
    cuts.push_back(prev + (b - prev) / 2);
    prev = b;
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<TestPacket> out;
  for (std::size_t c : cuts)
    if (c < f.bytes.size()) out.push_back(malformed(Bytes(f.bytes.begin(), f.bytes.begin() + c), "truncated"));
  return out;
}

void fix_ipv4_checksum(Frame& f) {
  set16(f.bytes, f.l3 + 10, 0);
  set16(f.bytes, f.l3 + 10, checksum(word_sum(std::span(f.bytes).subspan(f.l3, 20))));
}

// Recomputes the TCP checksum after a header change, so that only the intended field is wrong.
void fix_tcp_checksum(Frame& f, bool v6) {
  std::span<uint8_t> seg = std::span(f.bytes).subspan(f.l4);
  set16(f.bytes, f.l4 + 16, 0);
  set16(f.bytes, f.l4 + 16, checksum(word_sum(seg, pseudo_sum(std::span(f.bytes).subspan(f.l3), v6, kProtoTcp, seg.size()))));
}

enum class Fault {
  Truncated,
  IhlShort,
  IhlLong,
  Ipv4LengthLong,
  Ipv4LengthShort,
  Ipv6Length,
  BogusEthertype,
  VersionMismatch,
  TcpDoffShort,
  TcpDoffLong,
  RandomBytes,
  RandomAfterEthernet,
  Count
};

TestPacket make_fault(Fault fault, Rng& rng) {
  switch (fault) {
    case Fault::Truncated: {
      const Frame f = build(random_recipe(rng), {}, rng);
      return malformed(Bytes(f.bytes.begin(), f.bytes.begin() + rng.below(f.bytes.size())), "truncated");
    }
    case Fault::IhlShort: {
      Frame f = build(ipv4_recipe(rng, Transport(rng.below(3))), {}, rng);
      f.bytes[f.l3] = uint8_t(0x40 | rng.below(5));
      fix_ipv4_checksum(f);
      return malformed(f.bytes, "ipv4-ihl-short");
    }
    case Fault::IhlLong: {
      Recipe r = ipv4_recipe(rng, Transport::Icmp);
      r.ip_options = false;
      Frame f = build(r, rng.below(9), rng);  // total length 28..36, below the claimed header
      f.bytes[f.l3] = uint8_t(0x40 | rng.range(10, 15));
      fix_ipv4_checksum(f);
      return malformed(f.bytes, "ipv4-ihl-long");
    }
    case Fault::Ipv4LengthLong: {
      Frame f = build(ipv4_recipe(rng, Transport(rng.below(3))), {}, rng);
      set16(f.bytes, f.l3 + 2, uint16_t(get16(f.bytes, f.l3 + 2) + rng.range(1, 600)));
      fix_ipv4_checksum(f);
      return malformed(f.bytes, "ipv4-length-long");
    }
    case Fault::Ipv4LengthShort: {  // TCP or UDP: the pseudo-header makes the change visible
      Frame f = build(ipv4_recipe(rng, Transport(rng.below(2))), {}, rng);
      set16(f.bytes, f.l3 + 2, uint16_t(rng.below(get16(f.bytes, f.l3 + 2))));
      fix_ipv4_checksum(f);
      return malformed(f.bytes, "ipv4-length-short");
    }
    case Fault::Ipv6Length: {
      Frame f = build(ipv6_recipe(rng, Transport(rng.below(3))), {}, rng);
      const uint16_t plen = get16(f.bytes, f.l3 + 4);
      set16(f.bytes, f.l3 + 4, rng.percent(50) ? uint16_t(plen + rng.range(1, 600)) : uint16_t(rng.below(plen)));
      return malformed(f.bytes, "ipv6-length");
    }
    case Fault::BogusEthertype: {
      Frame f = build(random_recipe(rng), {}, rng);
      const uint16_t kTypes[] = {0x0000, 0x05dc, 0x0600, 0x1234, 0x88cc, 0x8847, 0x9000, 0xffff};
      set16(f.bytes, f.ethertype_at, rng.pick(kTypes));
      return malformed(f.bytes, "bogus-ethertype");
    }
    case Fault::VersionMismatch: {
      Frame f = build(rng.percent(50) ? ipv4_recipe(rng, Transport(rng.below(3))) : ipv6_recipe(rng, Transport(rng.below(3))),
                      {}, rng);
      set16(f.bytes, f.ethertype_at, get16(f.bytes, f.ethertype_at) == kEthIpv4 ? kEthIpv6 : kEthIpv4);
      return malformed(f.bytes, "ip-version-mismatch");
    }
    case Fault::TcpDoffShort:
    case Fault::TcpDoffLong: {
      const bool v6 = rng.percent(50);
      const Recipe r = v6 ? ipv6_recipe(rng, Transport::Tcp) : ipv4_recipe(rng, Transport::Tcp);
      Frame f = build(r, fault == Fault::TcpDoffLong ? std::optional<std::size_t>(rng.below(8)) : std::nullopt, rng);
      // The longest TCP header built is 44 bytes, so with at most 7 bytes of payload the segment
      // is below 60 and a data offset up to 15 can claim more than there is.
      const std::size_t segment = f.bytes.size() - f.l4;
      const uint8_t doff = fault == Fault::TcpDoffShort ? uint8_t(rng.below(5))
                                                        : uint8_t(rng.range(std::min<std::size_t>(segment / 4 + 1, 15), 15));
      f.bytes[f.l4 + 12] = uint8_t(doff << 4);
      fix_tcp_checksum(f, v6);
      return malformed(f.bytes, fault == Fault::TcpDoffShort ? "tcp-doff-short" : "tcp-doff-long");
    }
    case Fault::RandomBytes:
      return malformed(random_bytes(rng, rng.percent(50) ? rng.below(80) : rng.below(kMaxFrame + 1)), "random");
    case Fault::RandomAfterEthernet: {
      Bytes b;
      append(b, pool_mac(rng));
      append(b, pool_mac(rng));
      put16(b, rng.pick({kEthIpv4, kEthIpv6, kEthArp, kEthVlan}));
      append(b, random_bytes(rng, rng.below(kMaxFrame - kEthHeader + 1)));
      return malformed(b, "random");
    }
    case Fault::Count:
      break;
  }
  throw std::logic_error("packets: unknown fault");
}

// Short frames are padded to the Ethernet minimum the way a NIC would, but not always: veth and
// loopback deliver them short.
TestPacket maybe_padded(const Frame& f, Rng& rng) {
  TestPacket p = well_formed(f);
  if (p.bytes.size() < kMinFrame && rng.percent(50)) p.bytes.resize(kMinFrame, 0);
  return p;
}

}  // namespace

std::vector<TestPacket> generate_test_packets(std::size_t count, uint64_t seed) {
  Rng rng(seed);
  std::vector<TestPacket> out;
  const auto add = [&](TestPacket p) {
    if (out.size() < count) out.push_back(std::move(p));
  };
  for (std::size_t length : {0, 1, 13, 14, 15, 33, 34, 54, 60, 64, 128, 512, 1024, 1499, 1500})
    add(sized(random_recipe(rng), length, rng));

  // One of every well-formed shape.
  const auto shape = [&](Net net, Transport t, int vlans, auto&& adjust) {
    Recipe r;
    r.net = net;
    r.transport = t;
    r.vlans = vlans;
    adjust(r);
    add(maybe_padded(build(r, {}, rng), rng));
  };
  const auto none = [](Recipe&) {};
  for (int flags : {kSyn + 0, kSyn | kAck, kAck + 0, kPsh | kAck, kRst + 0, kRst | kAck, kFin | kAck})
    shape(Net::Ipv4, Transport::Tcp, 0, [&](Recipe& r) { r.tcp_flags = flags; });
  shape(Net::Ipv4, Transport::Tcp, 0, [](Recipe& r) { r.ip_options = true; });
  shape(Net::Ipv4, Transport::Udp, 0, [](Recipe& r) { r.dns = true; });
  shape(Net::Ipv4, Transport::Udp, 0, none);
  shape(Net::Ipv4, Transport::Udp, 0, [](Recipe& r) { r.ip_options = true; });
  shape(Net::Ipv4, Transport::Icmp, 0, [](Recipe& r) { r.icmp_type = 8; });
  shape(Net::Ipv4, Transport::Icmp, 0, [](Recipe& r) { r.icmp_type = 0; });
  shape(Net::Ipv6, Transport::Tcp, 0, [](Recipe& r) { r.tcp_flags = kSyn; });
  shape(Net::Ipv6, Transport::Udp, 0, [](Recipe& r) { r.dns = true; });
  shape(Net::Ipv6, Transport::Udp, 0, [](Recipe& r) { r.ext = {kExtHopByHop}; });
  shape(Net::Ipv6, Transport::Tcp, 0, [](Recipe& r) { r.ext = {kExtRouting}; });
  shape(Net::Ipv6, Transport::Udp, 0, [](Recipe& r) { r.ext = {kExtFragment}; });
  shape(Net::Ipv6, Transport::Icmp, 0, [](Recipe& r) { r.ext = {kExtHopByHop, kExtRouting, kExtFragment}; });
  shape(Net::Ipv6, Transport::Icmp, 0, [](Recipe& r) { r.icmp_type = 128; });
  shape(Net::Ipv6, Transport::Icmp, 0, [](Recipe& r) { r.icmp_type = 129; });
  shape(Net::Ipv6, Transport::Icmp, 0, [](Recipe& r) { r.icmp_type = 135; });
  shape(Net::Ipv4, Transport::Tcp, 1, none);
  shape(Net::Ipv6, Transport::Udp, 1, none);
  shape(Net::Ipv4, Transport::Udp, 2, [](Recipe& r) { r.dns = true; });
  shape(Net::Ipv6, Transport::Tcp, 2, [](Recipe& r) { r.ext = {kExtHopByHop}; });
  shape(Net::Arp, Transport::Tcp, 0, none);
  shape(Net::Arp, Transport::Tcp, 0, [](Recipe& r) { r.arp_reply = true; });
  shape(Net::Arp, Transport::Tcp, 1, none);

  // Every malformation; truncation at every boundary of two frames with many headers.
  Recipe tcp4{.vlans = 1, .net = Net::Ipv4, .ip_options = true, .transport = Transport::Tcp, .tcp_flags = kSyn};
  Recipe udp6{.vlans = 2, .net = Net::Ipv6, .ext = {kExtHopByHop, kExtRouting, kExtFragment}, .transport = Transport::Udp};
  for (const Recipe& r : {tcp4, udp6})
    for (auto& p : truncations(build(r, 12, rng))) add(std::move(p));
  for (int fault = 0; fault < int(Fault::Count); ++fault) add(make_fault(Fault(fault), rng));

  while (out.size() < count) {
    if (rng.percent(65))
      add(maybe_padded(build(random_recipe(rng), {}, rng), rng));
    else
      add(make_fault(Fault(rng.below(std::size_t(Fault::Count))), rng));
  }
  return out;
}

std::vector<std::vector<uint8_t>> generate_packets(std::size_t count, uint64_t seed) {
  std::vector<std::vector<uint8_t>> out;
  for (auto& p : generate_test_packets(count, seed)) out.push_back(std::move(p.bytes));
  return out;
}

std::vector<std::vector<uint8_t>> packets_of_every_length(uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<uint8_t>> out;
  for (std::size_t length = 0; length <= kMaxFrame; ++length) {
    // Rotate through the network/transport pairs; the tags and extension headers are drawn.
    Recipe r = random_recipe(rng);
    static const std::pair<Net, Transport> kShapes[] = {
        {Net::Ipv4, Transport::Tcp}, {Net::Ipv6, Transport::Udp}, {Net::Ipv4, Transport::Udp},
        {Net::Ipv6, Transport::Tcp}, {Net::Ipv4, Transport::Icmp}, {Net::Ipv6, Transport::Icmp},
        {Net::Arp, Transport::Tcp}};
    std::tie(r.net, r.transport) = kShapes[length % std::size(kShapes)];
    out.push_back(sized(r, length, rng).bytes);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// describe

namespace {

class Describer {
 public:
  explicit Describer(std::span<const uint8_t> p) : p_(p) {}

  std::string run() {
    if (ethernet()) {
      std::size_t at = 12;
      uint16_t type = get16(p_, at);
      while (problem_.empty() && (type == kEthVlan || type == kEthQinQ)) {
        layer(type == kEthQinQ ? "qinq" : "vlan");
        if (p_.size() < at + 6) {
          problem_ = "truncated vlan tag";
          break;
        }
        at += 4;
        type = get16(p_, at);
      }
      if (problem_.empty()) network(type, at + 2);
    }
    std::string out = layers_.empty() ? "" : layers_ + " ";
    out += std::to_string(p_.size()) + "B";
    if (!problem_.empty()) out += " (" + problem_ + ")";
    return out;
  }

 private:
  void layer(const std::string& name) { layers_ += (layers_.empty() ? "" : "/") + name; }

  bool ethernet() {
    if (p_.size() < kEthHeader) {
      problem_ = "truncated ethernet header";
      return false;
    }
    layer("eth");
    return true;
  }

  void network(uint16_t type, std::size_t at) {
    const auto rest = p_.subspan(at);
    if (type == kEthIpv4) return ipv4(rest);
    if (type == kEthIpv6) return ipv6(rest);
    if (type == kEthArp) {
      layer("arp");
      if (rest.size() < 28) problem_ = "truncated arp";
      return;
    }
    char buf[40];
    std::snprintf(buf, sizeof buf, "unknown ethertype 0x%04x", type);
    problem_ = buf;
  }

  void ipv4(std::span<const uint8_t> ip) {
    layer("ipv4");
    if (ip.size() < 20) return fail("truncated ipv4 header");
    const unsigned version = ip[0] >> 4, ihl = ip[0] & 15, total = get16(ip, 2);
    if (version != 4) return fail("ipv4 version " + std::to_string(version));
    if (ihl < 5) return fail("ipv4 ihl " + std::to_string(ihl) + " < 5");
    if (ihl * 4 > ip.size()) return fail("ipv4 ihl " + std::to_string(ihl) + " beyond the frame");
    if (ihl > 5) layers_ += "+opts";
    if (total < ihl * 4) return fail("ipv4 total length " + std::to_string(total) + " < header length");
    if (total > ip.size())
      return fail("ipv4 total length " + std::to_string(total) + " > " + std::to_string(ip.size()) + " bytes left");
    if (checksum(word_sum(ip.first(ihl * 4))) != 0) return fail("bad ipv4 checksum");
    if ((get16(ip, 6) & 0x1fff) != 0) return layer("fragment");
    transport(ip[9], ip.subspan(ihl * 4, total - ihl * 4), ip, false);
  }

  void ipv6(std::span<const uint8_t> ip) {
    layer("ipv6");
    if (ip.size() < 40) return fail("truncated ipv6 header");
    const unsigned version = ip[0] >> 4, plen = get16(ip, 4);
    if (version != 6) return fail("ipv6 version " + std::to_string(version));
    if (plen > ip.size() - 40)
      return fail("ipv6 payload length " + std::to_string(plen) + " > " + std::to_string(ip.size() - 40) + " bytes left");
    uint8_t next = ip[6];
    std::span<const uint8_t> rest = ip.subspan(40, plen);
    while (next == kExtHopByHop || next == kExtRouting || next == kExtFragment || next == kExtDestOpts) {
      layers_ += next == kExtHopByHop ? "+hbh" : next == kExtRouting ? "+rt" : next == kExtFragment ? "+frag" : "+dst";
      if (rest.size() < 8) return fail("truncated ipv6 extension header");
      const std::size_t len = next == kExtFragment ? 8 : (rest[1] + 1u) * 8;
      if (len > rest.size()) return fail("truncated ipv6 extension header");
      if (next == kExtFragment && (get16(rest, 2) & 0xfff8) != 0) return;  // not the first fragment
      next = rest[0];
      rest = rest.subspan(len);
    }
    transport(next, rest, ip, true);
  }

  void transport(uint8_t proto, std::span<const uint8_t> seg, std::span<const uint8_t> ip, bool v6) {
    const auto verify = [&](const char* name, std::span<const uint8_t> covered, bool pseudo) {
      const uint64_t start = pseudo ? pseudo_sum(ip, v6, proto, covered.size()) : 0;
      if (checksum(word_sum(covered, start)) != 0) fail(std::string("bad ") + name + " checksum");
    };
    if (proto == kProtoTcp) {
      layer("tcp");
      if (seg.size() < 20) return fail("truncated tcp header");
      const unsigned doff = seg[12] >> 4;
      if (doff < 5) return fail("tcp data offset " + std::to_string(doff) + " < 5");
      if (doff * 4 > seg.size()) return fail("tcp data offset " + std::to_string(doff) + " beyond the segment");
      return verify("tcp", seg, true);
    }
    if (proto == kProtoUdp) {
      layer("udp");
      if (seg.size() < 8) return fail("truncated udp header");
      if (get16(seg, 0) == 53 || get16(seg, 2) == 53) layer("dns");
      const unsigned len = get16(seg, 4);
      if (len < 8 || len > seg.size()) return fail("udp length " + std::to_string(len) + " of " + std::to_string(seg.size()));
      if (get16(seg, 6) != 0 || v6) verify("udp", seg.first(len), true);
      return;
    }
    if (proto == kProtoIcmp && !v6) {
      layer("icmp");
      if (seg.size() < 4) return fail("truncated icmp header");
      return verify("icmp", seg, false);
    }
    if (proto == kProtoIcmpv6 && v6) {
      layer("icmpv6");
      if (seg.size() < 4) return fail("truncated icmpv6 header");
      return verify("icmpv6", seg, true);
    }
    layer("proto " + std::to_string(proto));
  }

  void fail(std::string what) {
    if (problem_.empty()) problem_ = std::move(what);
  }

  std::span<const uint8_t> p_;
  std::string layers_;
  std::string problem_;
};

}  // namespace

std::string describe(std::span<const uint8_t> packet) { return Describer(packet).run(); }

}  // namespace tristate
