// Tests of the test-packet generator (tests/support/packets.hpp). The well-formed packets are
// re-parsed here by an independent parser with its own checksum routine.
#include "compiler/packet_gen.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using namespace tristate;

namespace {

using Bytes = std::vector<uint8_t>;

unsigned be16(const Bytes& p, std::size_t at) { return p.at(at) * 256u + p.at(at + 1); }

// The Internet checksum written differently from the generator's: the sum of the even-offset
// bytes times 256 plus the sum of the odd-offset ones, folded. `extra` carries a pseudo-header.
bool checksum_ok(const Bytes& p, std::size_t from, std::size_t to, uint64_t extra = 0) {
  uint64_t high = 0, low = 0;
  for (std::size_t i = from; i < to; ++i) ((i - from) % 2 == 0 ? high : low) += p.at(i);
  uint64_t sum = high * 256 + low + extra;
  while (sum > 0xffff) sum = (sum >> 16) + (sum & 0xffff);
  return sum == 0xffff;
}

uint64_t address_words(const Bytes& p, std::size_t at, std::size_t n) {
  uint64_t s = 0;
  for (std::size_t i = 0; i < n; i += 2) s += be16(p, at + i);
  return s;
}

// Parses a packet the generator calls well-formed and collects what it carries. Returns what
// is wrong with it, or nullopt. Reads past the end throw std::out_of_range (Bytes::at).
std::optional<std::string> parse(const Bytes& p, std::set<std::string>& seen) {
  if (p.size() < 14) return "short ethernet";
  std::size_t at = 12;
  if (be16(p, at) == 0x88a8) {
    seen.insert("qinq");
    at += 4;
    if (be16(p, at) != 0x8100) return "qinq without inner tag";
  } else if (be16(p, at) == 0x8100) {
    seen.insert("vlan");
  }
  if (be16(p, at) == 0x8100) at += 4;
  const unsigned type = be16(p, at);
  const std::size_t l3 = at + 2;
  std::size_t l4 = 0, end = 0;
  unsigned proto = 0;
  uint64_t pseudo = 0;
  bool v6 = false;
  if (type == 0x0806) {
    if (p.size() < l3 + 28) return "short arp";
    if (be16(p, l3) != 1 || be16(p, l3 + 2) != 0x0800 || p[l3 + 4] != 6 || p[l3 + 5] != 4) return "arp fields";
    const unsigned op = be16(p, l3 + 6);
    if (op != 1 && op != 2) return "arp op";
    seen.insert(op == 1 ? "arp-request" : "arp-reply");
    return {};
  } else if (type == 0x0800) {
    seen.insert("ipv4");
    if (p.size() < l3 + 20 || p[l3] >> 4 != 4) return "ipv4 header";
    const std::size_t ihl = (p[l3] & 15u) * 4;
    if (ihl < 20) return "ihl";
    if (ihl > 20) seen.insert("ipv4-options");
    end = l3 + be16(p, l3 + 2);
    if (end > p.size() || end < l3 + ihl) return "ipv4 total length";
    if (!checksum_ok(p, l3, l3 + ihl)) return "ipv4 checksum";
    for (std::size_t a : {l3 + 12, l3 + 16}) {
      if (p[a] == 10 && p[a + 1] == 0 && p[a + 2] == 0 && p[a + 3] >= 1 && p[a + 3] <= 8) seen.insert("pool-10");
      if (p[a] == 192 && p[a + 1] == 168 && p[a + 2] == 1 && p[a + 3] >= 1 && p[a + 3] <= 4) seen.insert("pool-192");
      if (p[a] == 172 && p[a + 1] == 16) seen.insert("pool-172");
    }
    proto = p[l3 + 9];
    l4 = l3 + ihl;
    pseudo = address_words(p, l3 + 12, 8) + proto + (end - l4);
  } else if (type == 0x86dd) {
    seen.insert("ipv6");
    v6 = true;
    if (p.size() < l3 + 40 || p[l3] >> 4 != 6) return "ipv6 header";
    end = l3 + 40 + be16(p, l3 + 4);
    if (end > p.size()) return "ipv6 payload length";
    proto = p[l3 + 6];
    l4 = l3 + 40;
    for (;;) {
      if (proto == 0 || proto == 43) {
        seen.insert(proto == 0 ? "hbh" : "routing");
        if (l4 + 8 > end) return "ipv6 extension";
        if (proto == 43 && p[l4 + 3] != 0) return "routing segments left";
        proto = p[l4];
        l4 += (p[l4 + 1] + 1u) * 8;
      } else if (proto == 44) {
        seen.insert("fragment");
        if (l4 + 8 > end || (be16(p, l4 + 2) & 0xfff9) != 0) return "not an atomic fragment";
        proto = p[l4];
        l4 += 8;
      } else {
        break;
      }
    }
    if (l4 > end) return "ipv6 extension";
    pseudo = address_words(p, l3 + 8, 32) + proto + (end - l4);
  } else {
    return "ethertype";
  }
  const std::size_t len = end - l4;
  const std::set<unsigned> pool_ports{22, 53, 80, 443, 8080};
  if (proto == 6) {
    seen.insert("tcp");
    if (len < 20 || p[l4 + 12] >> 4 < 5 || (p[l4 + 12] >> 4) * 4u > len) return "tcp data offset";
    if (!checksum_ok(p, l4, end, pseudo)) return "tcp checksum";
    const unsigned flags = p[l4 + 13] & 0x3f;
    if (flags == 0x02) seen.insert("syn");
    if (flags == 0x12) seen.insert("syn-ack");
    if (flags & 0x04) seen.insert("rst");
    if (flags == 0x10 || flags == 0x18) seen.insert("ack");
    for (std::size_t o = l4 + 20; o < l4 + (p[l4 + 12] >> 4) * 4u;) {
      if (p[o] == 0) break;
      if (p[o] == 1) {
        ++o;
        continue;
      }
      if (p[o] == 2 && p[o + 1] == 4) seen.insert("tcp-mss");
      if (p[o + 1] < 2) return "tcp option length";
      o += p[o + 1];
    }
  } else if (proto == 17) {
    seen.insert("udp");
    if (len < 8 || be16(p, l4 + 4) != len) return "udp length";
    if (!checksum_ok(p, l4, end, pseudo)) return "udp checksum";
    if (be16(p, l4) == 53 || be16(p, l4 + 2) == 53) seen.insert("dns");
  } else if (proto == 1 && !v6) {
    if (len < 8 || !checksum_ok(p, l4, end)) return "icmp checksum";
    if (p[l4] == 8) seen.insert("icmp-echo-request");
    if (p[l4] == 0) seen.insert("icmp-echo-reply");
    return {};
  } else if (proto == 58 && v6) {
    if (len < 8 || !checksum_ok(p, l4, end, pseudo)) return "icmpv6 checksum";
    seen.insert(p[l4] == 128 ? "icmpv6-echo-request" : p[l4] == 129 ? "icmpv6-echo-reply" : "icmpv6-other");
    return {};
  } else {
    return "protocol";
  }
  if (pool_ports.count(be16(p, l4)) || pool_ports.count(be16(p, l4 + 2))) seen.insert("pool-port");
  return {};
}

std::optional<std::string> check(const Bytes& p, std::set<std::string>& seen) {
  try {
    return parse(p, seen);
  } catch (const std::out_of_range&) {
    return "truncated";
  }
}

const uint64_t kSeeds[] = {1, 2, 42, 0xdeadbeef};

}  // namespace

TEST_CASE("generated packets are the same for the same seed", "[packets]") {
  CHECK(generate_packets(200, 7) == generate_packets(200, 7));
  CHECK(generate_packets(200, 7) != generate_packets(200, 8));
  const auto longer = generate_packets(250, 7), shorter = generate_packets(60, 7);
  CHECK(std::vector<Bytes>(longer.begin(), longer.begin() + 60) == shorter);
  CHECK(packets_of_every_length(3) == packets_of_every_length(3));
  CHECK(packets_of_every_length(3) != packets_of_every_length(4));
  CHECK(generate_packets(0, 7).empty());
}

TEST_CASE("generated packets cover the lengths that matter", "[packets]") {
  for (uint64_t seed : kSeeds) {
    const auto packets = generate_packets(200, seed);
    REQUIRE(packets.size() == 200);
    std::set<std::size_t> lengths;
    for (const auto& p : packets) {
      CHECK(p.size() <= 1500);
      lengths.insert(p.size());
    }
    for (std::size_t want : {0, 1, 13, 14, 15, 33, 34, 54, 60, 64, 128, 512, 1024, 1499, 1500})
      CHECK(lengths.count(want));
    CHECK(lengths.size() > 60);
  }
  const auto every = packets_of_every_length(5);
  REQUIRE(every.size() == 1501);
  for (std::size_t i = 0; i < every.size(); ++i) CHECK(every[i].size() == i);
}

TEST_CASE("well-formed packets parse, with correct checksums; malformed ones do not", "[packets]") {
  for (uint64_t seed : kSeeds) {
    std::size_t good = 0, bad = 0;
    for (const auto& tp : generate_test_packets(200, seed)) {
      std::set<std::string> seen;
      const auto problem = check(tp.bytes, seen);
      const std::string summary = describe(tp.bytes);
      INFO("seed " << seed << ": " << tp.category << ": " << summary);
      if (tp.well_formed) {
        ++good;
        CHECK(!problem);
        CHECK(summary == tp.category + " " + std::to_string(tp.bytes.size()) + "B");
      } else if (tp.category != "random") {
        ++bad;
        CHECK(problem);
        CHECK(summary.find(" (") != std::string::npos);
      }
    }
    CHECK(good > 100);
    CHECK(bad > 40);
  }
}

TEST_CASE("every category of packet appears", "[packets]") {
  for (uint64_t seed : kSeeds) {
    INFO("seed " << seed);
    std::set<std::string> seen, faults;
    for (const auto& tp : generate_test_packets(200, seed)) {
      if (tp.well_formed)
        check(tp.bytes, seen);
      else
        faults.insert(tp.category);
    }
    for (const char* want :
         {"vlan", "qinq", "arp-request", "arp-reply", "ipv4", "ipv4-options", "ipv6", "hbh", "routing", "fragment", "tcp",
          "tcp-mss", "syn", "syn-ack", "rst", "ack", "udp", "dns", "icmp-echo-request", "icmp-echo-reply",
          "icmpv6-echo-request", "icmpv6-echo-reply", "icmpv6-other", "pool-10", "pool-192", "pool-172", "pool-port"}) {
      INFO(want);
      CHECK(seen.count(want));
    }
    for (const char* want : {"truncated", "ipv4-ihl-short", "ipv4-ihl-long", "ipv4-length-long", "ipv4-length-short",
                             "ipv6-length", "bogus-ethertype", "ip-version-mismatch", "tcp-doff-short", "tcp-doff-long",
                             "random"}) {
      INFO(want);
      CHECK(faults.count(want));
    }
  }
}

TEST_CASE("packets of every length are well-formed once their headers fit, and mix protocols", "[packets]") {
  std::set<std::string> seen;
  const auto every = packets_of_every_length(11);
  for (std::size_t i = 0; i < every.size(); ++i) {
    const auto problem = check(every[i], seen);
    INFO(i << ": " << describe(every[i]) << ": " << problem.value_or(""));
    // The longest headers built (QinQ, IPv6 with three extension headers, TCP with options) end
    // below 170 bytes; shorter packets may be truncated frames.
    if (i >= 170) CHECK(!problem);
    if (i < 14) CHECK(problem);
  }
  for (const char* want : {"ipv4", "ipv6", "arp-request", "tcp", "udp", "icmp-echo-request", "vlan"}) CHECK(seen.count(want));
}

TEST_CASE("describe names the layers and the first problem", "[packets]") {
  CHECK(describe(Bytes{}) == "0B (truncated ethernet header)");
  Bytes eth(14, 0);
  eth[12] = 0x12, eth[13] = 0x34;
  CHECK(describe(eth) == "eth 14B (unknown ethertype 0x1234)");
  eth[12] = 0x08, eth[13] = 0x00;
  CHECK(describe(eth) == "eth/ipv4 14B (truncated ipv4 header)");
  eth[12] = 0x81;
  CHECK(describe(eth) == "eth/vlan 14B (truncated vlan tag)");
}
