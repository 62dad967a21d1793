// Deterministic packets for differential tests and the optimizer's test cases of XDP, TC and socket-filter
// programs (interpreter against kernel, original against optimised program).
//
// Well-formed frames: Ethernet with no tag, an 802.1Q tag or QinQ (88a8 + 8100) tags, carrying
// ARP, IPv4 (with and without options) or IPv6 (with hop-by-hop, routing and atomic-fragment
// extension headers), then TCP (MSS/SACK/timestamp/window-scale options, SYN/ACK/RST/FIN mixes),
// UDP (DNS on port 53 and other ports), ICMP echo or ICMPv6 (echo, neighbour solicitation). Every
// IPv4 header checksum and L4 checksum is correct, so a program that rewrites a header and
// updates the checksum can be checked. Addresses and ports come mostly from small pools so that
// map lookups keyed by them hit: IPv4 10.0.0.1-8, 192.168.1.1-4 and random 172.16.0.0/16; IPv6
// fd00::1-8 and random 2001:db8::/64; ports 22, 53, 80, 443, 8080 and random ones; MACs
// 02:00:00:00:00:01-4. Frames below 60 bytes are sometimes padded with zeros as on the wire.
//
// Malformed ones: truncated at every header boundary and in the middle of headers, IPv4 IHL < 5
// and beyond the packet, IPv4 total length above and below the frame's, wrong IPv6 payload
// length, unknown ethertypes, IP version not matching the ethertype, TCP data offset < 5 and
// beyond the segment, random bytes.
//
// Randomness is one std::mt19937_64 seeded by the caller, reduced with modulo rather than
// std::uniform_int_distribution, so a seed gives the same packets with every standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tristate {

struct TestPacket {
  std::vector<uint8_t> bytes;
  // Well-formed: the layers, e.g. "eth/vlan/ipv4+opts/tcp", "eth/qinq/vlan/ipv6+hbh+rt+frag/udp/dns".
  // Malformed: what is wrong, e.g. "truncated", "ipv4-ihl-short", "random".
  std::string category;
  bool well_formed = true;
};

// `count` packets (200 is a good size). The first ones have the lengths 0, 1, 13, 14, 15, 33,
// 34, 54, 60, 64, 128, 512, 1024, 1499 and 1500; then one of every well-formed shape and every
// malformation (including truncation at every boundary of two frames); then random draws. A
// smaller count gives a prefix of a larger one's list. No frame is longer than 1500 bytes.
std::vector<TestPacket> generate_test_packets(std::size_t count, uint64_t seed);
std::vector<std::vector<uint8_t>> generate_packets(std::size_t count, uint64_t seed);

// 1501 packets, packet i of length i: a frame of a rotating shape whose payload is grown to fill
// i bytes, or, when its headers alone are longer than that, the frame truncated to i bytes.
std::vector<std::vector<uint8_t>> packets_of_every_length(uint64_t seed);

// A one-line summary for failure messages: the layers found and the length, then in parentheses
// the first thing wrong, if any: "eth/ipv4/tcp 74B", "eth/ipv4 20B (truncated ipv4 header)",
// "eth/vlan/ipv4/tcp 70B (bad tcp checksum)".
std::string describe(std::span<const uint8_t> packet);

}  // namespace tristate
