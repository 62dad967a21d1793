// Reads and writes packet capture files, the packets `tristate run --pcap` feeds a program.
// Accepted: classic libpcap files (magic a1b2c3d4 with microsecond and a1b23c4d with nanosecond
// timestamps, either byte order) and pcapng files (Section Header, Interface Description,
// Enhanced Packet and Simple Packet blocks; other blocks are skipped; each section in its own byte
// order). Only Ethernet (link type 1) captures are accepted. Timestamps are not kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tristate {

// The largest captured length accepted (libpcap's limit for Ethernet, MAXIMUM_SNAPLEN).
inline constexpr std::size_t kMaxPcapPacket = 262144;

// Every captured packet in file order: the captured bytes, which may be fewer than were on the
// wire. InputError naming the file says what is wrong, and for a record which one ("packet N",
// counted from 1 as tcpdump and Wireshark count): truncated headers or records, a bad magic, a
// link type other than Ethernet, a captured length above the snapshot length or kMaxPcapPacket,
// inconsistent pcapng block lengths. Memory stays linear in the input size.
std::vector<std::vector<uint8_t>> read_pcap(const std::string& path);
std::vector<std::vector<uint8_t>> read_pcap_memory(std::span<const uint8_t> bytes, const std::string& name);

// A classic pcap file (little-endian, microsecond timestamps, snapshot length kMaxPcapPacket,
// Ethernet) holding `packets`, packet i stamped i microseconds after the epoch. InputError for a
// packet longer than kMaxPcapPacket; write_pcap also when the file cannot be written.
std::vector<uint8_t> pcap_bytes(const std::vector<std::vector<uint8_t>>& packets);
void write_pcap(const std::string& path, const std::vector<std::vector<uint8_t>>& packets);

}  // namespace tristate
