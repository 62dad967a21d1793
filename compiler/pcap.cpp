#include "compiler/pcap.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "compiler/elf.hpp"
#include "compiler/error.hpp"

namespace tristate {

namespace {

using Packets = std::vector<std::vector<uint8_t>>;

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr uint32_t kLinkEthernet = 1;
constexpr std::size_t kFileHeaderSize = 24;
constexpr std::size_t kRecordHeaderSize = 16;

// pcapng block types and the section header's byte-order magic.
constexpr uint32_t kSectionHeader = 0x0a0d0d0a;  // the same in both byte orders
constexpr uint32_t kInterfaceDescription = 1;
constexpr uint32_t kSimplePacket = 3;
constexpr uint32_t kEnhancedPacket = 6;
constexpr uint32_t kByteOrderMagic = 0x1a2b3c4d;
constexpr std::size_t kBlockOverhead = 12;  // type, leading and trailing total length

// An unsigned integer of `width` bytes at `at`, which the caller has checked is in range.
uint32_t load(std::span<const uint8_t> b, std::size_t at, std::size_t width, bool big_endian) {
  if (at > b.size() || width > b.size() - at) throw InternalError("pcap: read past the checked bounds");
  uint32_t v = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const uint8_t byte = b[at + (big_endian ? i : width - 1 - i)];
    v = (v << 8) | byte;
  }
  return v;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string packet_label(std::size_t n) { return "packet " + std::to_string(n) + ": "; }

// The checks a captured length must pass wherever it comes from; `snaplen` 0 means no limit.
void check_caplen(uint64_t caplen, uint32_t snaplen, std::size_t n, const Location& where) {
  if (caplen > kMaxPcapPacket)
    throw InputError(where, packet_label(n) + "captured length " + std::to_string(caplen) +
                                " exceeds the maximum of " + std::to_string(kMaxPcapPacket) + " bytes");
  if (snaplen != 0 && caplen > snaplen)
    throw InputError(where, packet_label(n) + "captured length " + std::to_string(caplen) +
                                " exceeds the snapshot length " + std::to_string(snaplen));
}

Packets read_classic(std::span<const uint8_t> bytes, bool big, const Location& where) {
  if (bytes.size() < kFileHeaderSize)
    throw InputError(where, "truncated pcap file header: " + std::to_string(bytes.size()) + " of " +
                                std::to_string(kFileHeaderSize) + " bytes");
  const uint32_t major = load(bytes, 4, 2, big), minor = load(bytes, 6, 2, big);
  if (major != 2)
    throw InputError(where, "pcap format version " + std::to_string(major) + "." + std::to_string(minor) +
                                "; only version 2.x is read");
  // libpcap treats a snapshot length of 0 as "unlimited"; so does this reader.
  const uint32_t snaplen = load(bytes, 16, 4, big);
  const uint32_t link = load(bytes, 20, 4, big);
  if (link != kLinkEthernet)
    throw InputError(where, "link type " + std::to_string(link) + "; only Ethernet captures (link type 1) are accepted");
  Packets packets;
  std::size_t at = kFileHeaderSize;
  for (std::size_t n = 1; at < bytes.size(); ++n) {
    const std::size_t left = bytes.size() - at;
    if (left < kRecordHeaderSize)
      throw InputError(where, packet_label(n) + "truncated record header: " + std::to_string(left) + " of " +
                                  std::to_string(kRecordHeaderSize) + " bytes");
    const uint32_t caplen = load(bytes, at + 8, 4, big);
    check_caplen(caplen, snaplen, n, where);
    if (caplen > left - kRecordHeaderSize)
      throw InputError(where, packet_label(n) + "truncated: captured length " + std::to_string(caplen) + " but only " +
                                  std::to_string(left - kRecordHeaderSize) + " bytes follow the record header");
    const auto data = bytes.subspan(at + kRecordHeaderSize, caplen);
    packets.emplace_back(data.begin(), data.end());
    at += kRecordHeaderSize + caplen;
  }
  return packets;
}

Packets read_pcapng(std::span<const uint8_t> bytes, const Location& where) {
  Packets packets;
  std::vector<uint32_t> snaplens;  // per interface of the current section; 0 = unlimited
  bool big = false;
  std::size_t at = 0;
  std::size_t n = 1;  // the number of the next packet
  while (at < bytes.size()) {
    const std::string block = "block at offset " + std::to_string(at) + ": ";
    const std::size_t left = bytes.size() - at;
    if (left < kBlockOverhead)
      throw InputError(where, block + "truncated block header: " + std::to_string(left) + " of " +
                                  std::to_string(kBlockOverhead) + " bytes");
    const uint32_t type_raw = load(bytes, at, 4, false);
    if (type_raw == kSectionHeader) {
      // A new section names its own byte order, which its length field is already written in.
      const uint32_t bom = load(bytes, at + 8, 4, false);
      if (bom == kByteOrderMagic)
        big = false;
      else if (load(bytes, at + 8, 4, true) == kByteOrderMagic)
        big = true;
      else
        throw InputError(where, block + "section header with byte-order magic " + hex32(bom) + "; expected " +
                                    hex32(kByteOrderMagic) + " in either byte order");
      snaplens.clear();
    }
    const uint32_t type = load(bytes, at, 4, big);
    const uint32_t length = load(bytes, at + 4, 4, big);
    if (length < kBlockOverhead || length % 4 != 0)
      throw InputError(where, block + "block length " + std::to_string(length) +
                                  " is not a multiple of 4 of at least " + std::to_string(kBlockOverhead));
    if (length > left)
      throw InputError(where, block + "truncated: block length " + std::to_string(length) + " but only " +
                                  std::to_string(left) + " bytes left in the file");
    const uint32_t trailing = load(bytes, at + length - 4, 4, big);
    if (trailing != length)
      throw InputError(where, block + "trailing block length " + std::to_string(trailing) +
                                  " differs from the leading block length " + std::to_string(length));
    const auto body = bytes.subspan(at + 8, length - kBlockOverhead);
    const auto too_short = [&](const std::string& what, std::size_t need) {
      return InputError(where, block + what + " of " + std::to_string(body.size()) + " bytes; at least " +
                                   std::to_string(need) + " are needed");
    };
    // The packet whose `caplen` bytes start at `offset` in the body.
    const auto take_packet = [&](std::size_t offset, uint32_t caplen, uint32_t snaplen) {
      check_caplen(caplen, snaplen, n, where);
      if (caplen > body.size() - offset)
        throw InputError(where, packet_label(n) + "captured length " + std::to_string(caplen) + " exceeds the " +
                                    std::to_string(body.size() - offset) + " bytes of packet data in its block");
      const auto data = body.subspan(offset, caplen);
      packets.emplace_back(data.begin(), data.end());
      ++n;
    };
    switch (type) {
      case kSectionHeader: {
        if (body.size() < 16) throw too_short("section header block", 16);
        const uint32_t major = load(body, 4, 2, big);
        if (major != 1)
          throw InputError(where, block + "pcapng version " + std::to_string(major) + "." +
                                      std::to_string(load(body, 6, 2, big)) + "; only version 1.x is read");
        break;
      }
      case kInterfaceDescription: {
        if (body.size() < 8) throw too_short("interface description block", 8);
        const uint32_t link = load(body, 0, 2, big);
        if (link != kLinkEthernet)
          throw InputError(where, block + "interface " + std::to_string(snaplens.size()) + " has link type " +
                                      std::to_string(link) + "; only Ethernet captures (link type 1) are accepted");
        snaplens.push_back(load(body, 4, 4, big));
        break;
      }
      case kEnhancedPacket: {
        if (body.size() < 20) throw too_short(packet_label(n) + "enhanced packet block", 20);
        const uint32_t iface = load(body, 0, 4, big);
        if (iface >= snaplens.size())
          throw InputError(where, packet_label(n) + "interface " + std::to_string(iface) +
                                      " is not described; the section describes " + std::to_string(snaplens.size()));
        take_packet(20, load(body, 12, 4, big), snaplens[iface]);
        break;
      }
      case kSimplePacket: {
        if (body.size() < 4) throw too_short(packet_label(n) + "simple packet block", 4);
        if (snaplens.empty())
          throw InputError(where, packet_label(n) + "simple packet block, but the section describes no interface");
        // The captured length is not stored: it is the original length cut to interface 0's snaplen.
        const uint32_t orig = load(body, 0, 4, big);
        take_packet(4, snaplens[0] == 0 ? orig : std::min(orig, snaplens[0]), 0);
        break;
      }
      default:
        break;  // statistics, name resolution, custom blocks...: nothing a program run needs
    }
    at += length;
  }
  return packets;
}

void store32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}

}  // namespace

Packets read_pcap_memory(std::span<const uint8_t> bytes, const std::string& name) {
  const Location where{name, {}, {}};
  if (bytes.size() < 4)
    throw InputError(where, "truncated file header: " + std::to_string(bytes.size()) +
                                " bytes; a pcap or pcapng file starts with a 4-byte magic number");
  const uint32_t magic = load(bytes, 0, 4, false);
  if (magic == kSectionHeader) return read_pcapng(bytes, where);
  if (magic == kMagicMicro || magic == kMagicNano) return read_classic(bytes, false, where);
  const uint32_t swapped = load(bytes, 0, 4, true);
  if (swapped == kMagicMicro || swapped == kMagicNano) return read_classic(bytes, true, where);
  throw InputError(where, "not a capture file: magic " + hex32(swapped) + "; expected pcap (" + hex32(kMagicMicro) +
                              " or " + hex32(kMagicNano) + ", either byte order) or pcapng (" + hex32(kSectionHeader) +
                              ")");
}

Packets read_pcap(const std::string& path) { return read_pcap_memory(read_file_bytes(path), path); }

std::vector<uint8_t> pcap_bytes(const Packets& packets) {
  std::vector<uint8_t> out;
  store32(out, kMagicMicro);
  store32(out, 2 | (4u << 16));  // version 2.4
  store32(out, 0);               // thiszone
  store32(out, 0);               // sigfigs
  store32(out, uint32_t(kMaxPcapPacket));
  store32(out, kLinkEthernet);
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const auto& p = packets[i];
    if (p.size() > kMaxPcapPacket)
      throw InputError("packet " + std::to_string(i + 1) + ": " + std::to_string(p.size()) +
                       " bytes; a pcap record holds at most " + std::to_string(kMaxPcapPacket));
    store32(out, uint32_t(i / 1000000));
    store32(out, uint32_t(i % 1000000));
    store32(out, uint32_t(p.size()));
    store32(out, uint32_t(p.size()));
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

void write_pcap(const std::string& path, const Packets& packets) {
  const Location where{path, {}, {}};
  std::vector<uint8_t> bytes;
  try {
    bytes = pcap_bytes(packets);
  } catch (const InputError& e) {
    throw e.within(where);
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(where, std::string("cannot open for writing: ") + std::strerror(errno));
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  out.close();
  if (!out) throw InputError(where, std::string("cannot write: ") + std::strerror(errno));
}

}  // namespace tristate
