// Packets described layer by layer (compiler/packet_spec.hpp): the bytes of simple frames, and
// lengths and checksums of every layer kind checked by the test packets' independent parser
// (tests/support/packets.cpp `describe`, which names the first bad checksum or length).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "compiler/hex.hpp"
#include "compiler/packet_spec.hpp"
#include "compiler/packet_gen.hpp"

using namespace tristate;
using nlohmann::json;

namespace {
std::vector<uint8_t> build(const char* text) { return build_packet(json::parse(text)); }
}  // namespace

TEST_CASE("packet layers: an Ethernet/IPv4/UDP frame byte by byte", "[packet_spec]") {
  const auto p = build(R"([{"eth": {}}, {"ipv4": {"src": "10.0.0.3", "dst": "10.0.0.2", "proto": 17}},
                           {"udp": {"sport": 12345, "dport": 80}}, {"payload": "str:hi"}])");
  // IPv4 header checksum and UDP checksum worked out by hand for these fields.
  CHECK(to_hex(p) ==
        "020000000002" "020000000001" "0800"
        "4500001e00000000401166cb0a0000030a000002"
        "30390050000a52e3" "6869");
}

TEST_CASE("packet layers: every layer kind gives correct lengths and checksums", "[packet_spec]") {
  const char* frames[] = {
      R"([{"eth": {}}, {"ipv4": {"options": "01010101"}}, {"tcp": {"flags": "SA", "options": [{"mss": 1460}, {"sack_perm": true}, {"ts": [1, 2]}, {"nop": true}, {"ws": 7}]}}, {"payload": "str:hello"}])",
      R"([{"eth": {}}, {"vlan": {"id": 100}}, {"ipv4": {}}, {"udp": {}}, {"dns": {"qname": "www.example.org", "qtype": 255}}])",
      R"([{"eth": {}}, {"qinq": {"id": 10}}, {"vlan": {"id": 20}}, {"ipv6": {}}, {"tcp": {"dport": 443}}])",
      R"([{"eth": {}}, {"ipv6": {}}, {"hbh": {}}, {"routing": {"len": 2, "segments_left": 1}}, {"frag": {}}, {"udp": {"dport": 53}}, {"payload": "zero:11"}])",
      R"([{"eth": {}}, {"ipv4": {}}, {"icmp": {"type": 8}}, {"payload": "str:ping"}])",
      R"([{"eth": {}}, {"ipv6": {}}, {"icmpv6": {"type": 128}}, {"payload": "str:ping"}])",
      R"([{"eth": {}}, {"ipv4": {"src": "192.168.1.1"}}, {"ipv4": {"src": "10.1.1.1"}}, {"tcp": {}}])",
      R"([{"eth": {}}, {"ipv4": {}}, {"udp": {"dport": 4789}}, {"payload": "08000000 00000a00"}, {"eth": {}}, {"ipv4": {}}, {"tcp": {}}])",
  };
  for (const char* f : frames) {
    INFO(f);
    const auto p = build(f);
    const std::string d = describe(p);
    INFO(d);
    CHECK(d.find('(') == std::string::npos);  // describe() puts what is wrong in parentheses
  }
}

TEST_CASE("packet layers: explicit fields win, pad_to and truncate", "[packet_spec]") {
  auto p = build(R"([{"eth": {"type": "0x0800"}}, {"ipv4": {"csum": 4660, "ttl": 1}}, {"tcp": {}}, {"pad_to": 80}])");
  CHECK(p.size() == 80);
  CHECK(p[14 + 8] == 1);
  CHECK(p[14 + 10] == 0x12);
  CHECK(p[14 + 11] == 0x34);
  CHECK(p[14 + 2] == 0);  // the IPv4 length leaves the padding out
  CHECK(p[14 + 3] == 40);
  // The independent parser does catch a wrong checksum, so the test above can fail.
  p = build(R"([{"eth": {}}, {"ipv4": {}}, {"tcp": {"csum": 1}}])");
  CHECK(describe(p).find("bad tcp checksum") != std::string::npos);
  p = build(R"([{"eth": {}}, {"ipv4": {}}, {"tcp": {}}, {"truncate": 20}])");
  CHECK(p.size() == 20);
  CHECK(describe(p).find("truncated") != std::string::npos);
}

TEST_CASE("packet layers: malformed descriptions are errors naming the layer", "[packet_spec]") {
  const char* bad[] = {
      R"([{"eth": {"src": "02:00"}}])",  R"([{"ipv4": {"ttl": 256}}])",   R"([{"tcp": {"flags": "SX"}}])",
      R"([{"udp": {"bogus": 1}}])",       R"([{"warp": {}}])",             R"([{"eth": {}, "ipv4": {}}])",
      R"([{"truncate": 10}, {"eth": {}}])", R"({"eth": {}})",            R"([{"dns": {"qname": "a..b"}}])",
      R"([{"tcp": {"options": [{"mss": 70000}]}}])",
  };
  for (const char* b : bad) {
    INFO(b);
    CHECK_THROWS_AS(build(b), PacketSpecError);
  }
  try {
    build(R"([{"eth": {}}, {"ipv4": {"ttl": 300}}])");
  } catch (const PacketSpecError& e) {
    CHECK(std::string(e.what()).find("layer 1 (ipv4)") != std::string::npos);
  }
}
