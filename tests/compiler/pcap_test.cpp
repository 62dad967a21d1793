#include "compiler/pcap.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/error.hpp"
#include "tests/support/process.hpp"

using namespace tristate;

namespace {

using Bytes = std::vector<uint8_t>;
using Packets = std::vector<Bytes>;

// Appends `v` as `width` bytes in the chosen byte order.
void put(Bytes& out, uint64_t v, int width, bool big) {
  for (int i = 0; i < width; ++i) out.push_back(uint8_t(v >> (8 * (big ? width - 1 - i : i))));
}

const Packets kSample = {Bytes{}, Bytes{0x01}, Bytes(14, 0xee), Bytes(60, 0x42), Bytes(1500, 0x99)};

// A classic pcap file written independently of pcap_bytes: any magic, either byte order.
struct Classic {
  uint32_t magic = 0xa1b2c3d4;
  bool big = false;
  uint32_t major = 2;
  uint32_t snaplen = 65535;
  uint32_t link = 1;
  Bytes bytes;

  Bytes header() const {
    Bytes h;
    put(h, magic, 4, big);
    put(h, major, 2, big);
    put(h, 4, 2, big);
    put(h, 0, 4, big);
    put(h, 0, 4, big);
    put(h, snaplen, 4, big);
    put(h, link, 4, big);
    return h;
  }
  // A record whose header claims `caplen` but which carries `data`.
  Classic& record(const Bytes& data, std::optional<uint32_t> caplen = {}) {
    put(bytes, 1700000000, 4, big);
    put(bytes, 123456, 4, big);
    put(bytes, caplen.value_or(uint32_t(data.size())), 4, big);
    put(bytes, data.size() + 4, 4, big);
    bytes.insert(bytes.end(), data.begin(), data.end());
    return *this;
  }
  Bytes file() const {
    Bytes f = header();
    f.insert(f.end(), bytes.begin(), bytes.end());
    return f;
  }
};

// A pcapng file built block by block.
struct Ng {
  bool big = false;
  Bytes bytes;

  // A block of `type` around `body`, padded to 4 bytes; `length`/`trailing` override the lengths.
  Ng& block(uint32_t type, Bytes body, std::optional<uint32_t> length = {}, std::optional<uint32_t> trailing = {}) {
    while (body.size() % 4) body.push_back(0);
    const uint32_t len = uint32_t(body.size() + 12);
    put(bytes, type, 4, big);
    put(bytes, length.value_or(len), 4, big);
    bytes.insert(bytes.end(), body.begin(), body.end());
    put(bytes, trailing.value_or(length.value_or(len)), 4, big);
    return *this;
  }
  Ng& section(bool big_endian, uint32_t bom = 0x1a2b3c4d) {
    big = big_endian;
    Bytes b;
    put(b, bom, 4, big);
    put(b, 1, 2, big);
    put(b, 0, 2, big);
    put(b, ~uint64_t(0), 8, big);  // section length unknown
    return block(0x0a0d0d0a, b);
  }
  Ng& interface(uint32_t link = 1, uint32_t snaplen = 0, bool with_options = false) {
    Bytes b;
    put(b, link, 2, big);
    put(b, 0, 2, big);
    put(b, snaplen, 4, big);
    if (with_options) {  // if_name "eth0", opt_endofopt
      put(b, 2, 2, big);
      put(b, 4, 2, big);
      b.insert(b.end(), {'e', 't', 'h', '0'});
      put(b, 0, 4, big);
    }
    return block(1, b);
  }
  Ng& enhanced(uint32_t iface, const Bytes& data, std::optional<uint32_t> caplen = {}, bool with_comment = false) {
    Bytes b;
    put(b, iface, 4, big);
    put(b, 0x5f5e1, 4, big);
    put(b, 0x12345678, 4, big);
    put(b, caplen.value_or(uint32_t(data.size())), 4, big);
    put(b, data.size(), 4, big);
    b.insert(b.end(), data.begin(), data.end());
    if (with_comment) {
      while (b.size() % 4) b.push_back(0);
      put(b, 1, 2, big);  // opt_comment "hi"
      put(b, 2, 2, big);
      b.insert(b.end(), {'h', 'i', 0, 0});
      put(b, 0, 4, big);
    }
    return block(6, b);
  }
  Ng& simple(const Bytes& data, std::optional<uint32_t> orig = {}) {
    Bytes b;
    put(b, orig.value_or(uint32_t(data.size())), 4, big);
    b.insert(b.end(), data.begin(), data.end());
    return block(3, b);
  }
};

Bytes iota_bytes(std::size_t n, uint8_t start) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = uint8_t(start + i);
  return b;
}

// The reason of the InputError reading `bytes` raises; fails the test when there is none.
std::string error_of(const Bytes& bytes) {
  try {
    read_pcap_memory(bytes, "cap.pcap");
  } catch (const InputError& e) {
    CHECK(e.where().file == "cap.pcap");
    return e.reason();
  }
  FAIL("no InputError");
  return {};
}

}  // namespace

TEST_CASE("write_pcap and read_pcap round trip", "[pcap]") {
  test::TempDir dir;
  const std::string path = dir.file("sample.pcap");
  write_pcap(path, kSample);
  CHECK(read_pcap(path) == kSample);
  write_pcap(path, {});
  CHECK(read_pcap(path).empty());
  // The in-memory form is the file: 24 header bytes and 16 per record.
  const Bytes bytes = pcap_bytes(kSample);
  std::size_t data = 0;
  for (const auto& p : kSample) data += p.size();
  CHECK(bytes.size() == 24 + 16 * kSample.size() + data);
  CHECK(read_pcap_memory(bytes, "m") == kSample);
  CHECK(read_pcap_memory(pcap_bytes({Bytes(kMaxPcapPacket, 7)}), "m").at(0).size() == kMaxPcapPacket);
}

TEST_CASE("write_pcap reports what it cannot write", "[pcap]") {
  test::TempDir dir;
  CHECK_THROWS_AS(write_pcap(dir.file("no/such/dir.pcap"), kSample), InputError);
  try {
    write_pcap(dir.file("big.pcap"), {Bytes(4), Bytes(kMaxPcapPacket + 1)});
    FAIL("no InputError");
  } catch (const InputError& e) {
    CHECK(e.where().file == dir.file("big.pcap"));
    CHECK_THAT(e.reason(), Catch::Contains("packet 2"));
  }
  CHECK_THROWS_AS(read_pcap(dir.file("missing.pcap")), InputError);
}

TEST_CASE("classic pcap in both timestamp resolutions and byte orders", "[pcap]") {
  for (uint32_t magic : {0xa1b2c3d4u, 0xa1b23c4du}) {
    for (bool big : {false, true}) {
      DYNAMIC_SECTION("magic " << std::hex << magic << (big ? " big-endian" : " little-endian")) {
        Classic c;
        c.magic = magic;
        c.big = big;
        for (const auto& p : kSample) c.record(p);
        c.record(iota_bytes(300, 3));
        Packets want = kSample;
        want.push_back(iota_bytes(300, 3));
        CHECK(read_pcap_memory(c.file(), "c.pcap") == want);
        // Snapshot length 0 means "no limit", as in libpcap.
        c.snaplen = 0;
        CHECK(read_pcap_memory(c.file(), "c.pcap") == want);
      }
    }
  }
}

TEST_CASE("pcapng: sections in both byte orders, interfaces, enhanced and simple packets", "[pcap]") {
  Ng ng;
  ng.section(false).interface(1, 0, true).interface(1, 64);
  ng.enhanced(0, iota_bytes(60, 0), {}, true);
  ng.block(5, Bytes(20, 0xab));                 // interface statistics: skipped
  ng.block(0x40000bad, Bytes{1, 2, 3});         // custom block: skipped
  ng.enhanced(1, iota_bytes(61, 1));            // 61 bytes of data, padded in the block
  ng.simple(iota_bytes(42, 2));                 // interface 0, no snaplen
  ng.section(true).interface(1, 16);            // a big-endian section; interfaces start again
  ng.simple(iota_bytes(40, 3), 40);             // cut to interface 0's snaplen of 16
  ng.enhanced(0, iota_bytes(0, 0));
  ng.enhanced(0, iota_bytes(16, 4));
  const Packets got = read_pcap_memory(ng.bytes, "x.pcapng");
  const Packets want = {iota_bytes(60, 0), iota_bytes(61, 1), iota_bytes(42, 2), iota_bytes(16, 3), Bytes{},
                        iota_bytes(16, 4)};
  CHECK(got == want);
  // A file holding only a section header has no packets.
  CHECK(read_pcap_memory(Ng{}.section(true).bytes, "empty.pcapng").empty());
}

TEST_CASE("classic pcap errors", "[pcap]") {
  CHECK_THAT(error_of({}), Catch::Contains("truncated file header: 0 bytes"));
  CHECK_THAT(error_of({0xd4, 0xc3}), Catch::Contains("truncated file header: 2 bytes"));
  CHECK_THAT(error_of({0x7f, 'E', 'L', 'F', 0, 0, 0, 0}), Catch::Contains("magic 0x7f454c46"));
  Classic c;
  c.record(Bytes(20, 1)).record(Bytes(30, 2));
  const Bytes good = c.file();
  CHECK_THAT(error_of(Bytes(good.begin(), good.begin() + 10)), Catch::Contains("truncated pcap file header: 10 of 24"));
  // The second record's header cut short, then its data.
  const std::size_t second = 24 + 16 + 20;
  CHECK_THAT(error_of(Bytes(good.begin(), good.begin() + second + 7)),
             Catch::Contains("packet 2: truncated record header: 7 of 16"));
  CHECK_THAT(error_of(Bytes(good.begin(), good.begin() + second + 16 + 29)),
             Catch::Contains("packet 2: truncated: captured length 30 but only 29 bytes"));
  Classic v = c;
  v.major = 1;
  CHECK_THAT(error_of(v.file()), Catch::Contains("version 1.4"));
  Classic l = c;
  l.link = 113;  // Linux cooked capture
  CHECK_THAT(error_of(l.file()), Catch::Contains("link type 113") && Catch::Contains("Ethernet"));
  Classic s = c;
  s.snaplen = 25;
  CHECK_THAT(error_of(s.file()), Catch::Contains("packet 2: captured length 30 exceeds the snapshot length 25"));
  Classic m;
  m.snaplen = 0;
  m.record(Bytes(8), uint32_t(kMaxPcapPacket + 1));
  CHECK_THAT(error_of(m.file()), Catch::Contains("packet 1: captured length 262145 exceeds the maximum of 262144"));
  Classic huge;
  huge.record(Bytes(8), 0xffffffffu);
  CHECK_THAT(error_of(huge.file()), Catch::Contains("packet 1: captured length 4294967295"));
}

TEST_CASE("pcapng errors", "[pcap]") {
  const auto with = [](auto build) {
    Ng ng;
    ng.section(false).interface();
    build(ng);
    return ng.bytes;
  };
  CHECK_THAT(error_of(Ng{}.section(false, 0x11223344).bytes), Catch::Contains("byte-order magic 0x11223344"));
  const Bytes shb = Ng{}.section(false).bytes;
  CHECK_THAT(error_of(Bytes(shb.begin(), shb.begin() + 8)), Catch::Contains("truncated block header: 8 of 12"));
  CHECK_THAT(error_of(Bytes(shb.begin(), shb.end() - 4)), Catch::Contains("truncated: block length 28 but only 24"));
  CHECK_THAT(error_of(Ng{}.block(0x0a0d0d0a, {0x4d, 0x3c, 0x2b, 0x1a}).bytes),
             Catch::Contains("section header block of 4 bytes"));
  CHECK_THAT(error_of(with([](Ng& n) { n.block(9, Bytes(8), 18, 18); })), Catch::Contains("block length 18"));
  CHECK_THAT(error_of(with([](Ng& n) { n.block(9, Bytes(8), 8, 8); })), Catch::Contains("block length 8"));
  CHECK_THAT(error_of(with([](Ng& n) { n.block(9, Bytes(8), {}, 24); })),
             Catch::Contains("trailing block length 24 differs from the leading block length 20"));
  CHECK_THAT(error_of(with([](Ng& n) { n.interface(101); })),
             Catch::Contains("interface 1 has link type 101") && Catch::Contains("Ethernet"));
  CHECK_THAT(error_of(with([](Ng& n) { n.block(1, Bytes(4)); })), Catch::Contains("interface description block of 4"));
  CHECK_THAT(error_of(with([](Ng& n) { n.enhanced(0, Bytes(4)).enhanced(1, Bytes(4)); })),
             Catch::Contains("packet 2: interface 1 is not described"));
  CHECK_THAT(error_of(with([](Ng& n) { n.enhanced(0, Bytes(8), 9); })),
             Catch::Contains("packet 1: captured length 9 exceeds the 8 bytes"));
  CHECK_THAT(error_of(with([](Ng& n) { n.enhanced(0, Bytes(8), uint32_t(kMaxPcapPacket + 1)); })),
             Catch::Contains("packet 1: captured length 262145 exceeds the maximum"));
  CHECK_THAT(error_of(with([](Ng& n) { n.interface(1, 10).enhanced(1, Bytes(12)); })),
             Catch::Contains("packet 1: captured length 12 exceeds the snapshot length 10"));
  CHECK_THAT(error_of(with([](Ng& n) { n.block(6, Bytes(16)); })), Catch::Contains("packet 1: enhanced packet block of 16"));
  CHECK_THAT(error_of(with([](Ng& n) { n.simple(Bytes(8), 12); })),
             Catch::Contains("packet 1: captured length 12 exceeds the 8 bytes"));
  CHECK_THAT(error_of(with([](Ng& n) { n.block(3, {}); })), Catch::Contains("packet 1: simple packet block of 0"));
  CHECK_THAT(error_of(Ng{}.section(true).simple(Bytes(4)).bytes),
             Catch::Contains("packet 1: simple packet block, but the section describes no interface"));
  // Interfaces belong to their section: a second section must describe its own.
  CHECK_THAT(error_of(with([](Ng& n) { n.section(true).enhanced(0, Bytes(4)); })),
             Catch::Contains("packet 1: interface 0 is not described"));
}

TEST_CASE("every prefix of a capture file reads or raises InputError", "[pcap]") {
  Ng ng;
  ng.section(true).interface(1, 0, true).enhanced(0, iota_bytes(33, 0), {}, true).simple(iota_bytes(7, 1));
  Classic c;
  c.record(iota_bytes(33, 0)).record(iota_bytes(7, 1));
  for (const Bytes& file : {ng.bytes, c.file()}) {
    std::size_t complete = 0;
    for (std::size_t n = 0; n <= file.size(); ++n) {
      try {
        complete += read_pcap_memory(std::span(file.data(), n), "p").size() == 2;
      } catch (const InputError&) {
      }
    }
    CHECK(complete == 1);  // only the whole file holds both packets
  }
}
