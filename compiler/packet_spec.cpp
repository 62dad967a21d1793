#include "compiler/packet_spec.hpp"

#include <nlohmann/json.hpp>
#include <string>

namespace tristate {

namespace {

using Bytes = std::vector<uint8_t>;
using nlohmann::json;

// One layer while the frame is built: its header lies at [offset, offset + size).
struct Layer {
  std::string kind;
  const json* fields = nullptr;
  std::size_t index = 0;  // in the description, for messages
  std::size_t offset = 0, size = 0;
};

[[noreturn]] void fail(const Layer& l, const std::string& why) {
  throw PacketSpecError("layer " + std::to_string(l.index) + " (" + l.kind + "): " + why);
}

class Fields {
 public:
  Fields(const Layer& l, std::initializer_list<const char*> known) : layer_(l) {
    if (l.fields->is_null()) return;
    if (!l.fields->is_object()) fail(l, "expected an object of fields");
    for (const auto& [k, v] : l.fields->items()) {
      bool ok = false;
      for (const char* f : known) ok = ok || k == f;
      if (!ok) {
        std::string list;
        for (const char* f : known) list += (list.empty() ? "" : ", ") + std::string(f);
        fail(l, "unknown field '" + k + "' (known: " + list + ")");
      }
    }
  }

  bool has(const char* name) const { return layer_.fields->is_object() && layer_.fields->contains(name); }
  const json& at(const char* name) const { return layer_.fields->at(name); }

  uint64_t number(const char* name, uint64_t fallback, uint64_t max) const {
    if (!has(name)) return fallback;
    const json& v = at(name);
    std::optional<int64_t> n;
    if (v.is_number_integer()) n = v.get<int64_t>();
    if (v.is_number_unsigned()) n = int64_t(v.get<uint64_t>());
    if (v.is_string()) n = parse_spec_number(v.get<std::string>());
    if (!n || *n < 0 || uint64_t(*n) > max)
      fail(layer_, "'" + std::string(name) + "' must be a number from 0 to " + std::to_string(max));
    return uint64_t(*n);
  }
  std::optional<uint64_t> given(const char* name, uint64_t max) const {
    if (!has(name)) return std::nullopt;
    return number(name, 0, max);
  }
  bool flag(const char* name, bool fallback) const {
    if (!has(name)) return fallback;
    if (!at(name).is_boolean()) fail(layer_, "'" + std::string(name) + "' must be true or false");
    return at(name).get<bool>();
  }
  std::string text(const char* name, const std::string& fallback) const {
    if (!has(name)) return fallback;
    if (!at(name).is_string()) fail(layer_, "'" + std::string(name) + "' must be a string");
    return at(name).get<std::string>();
  }
  Bytes address(const char* name, const std::string& fallback, int family) const {
    const std::string t = text(name, fallback);
    const auto a = family == 4 ? parse_ip4(t) : family == 6 ? parse_ip6(t) : parse_mac(t);
    if (!a) fail(layer_, "'" + std::string(name) + "': \"" + t + "\" is not " + (family == 4 ? "an IPv4" : family == 6 ? "an IPv6" : "a MAC") + " address");
    return *a;
  }
  Bytes bytes(const char* name, const ByteSpecContext& context) const {
    if (!has(name)) return {};
    if (!at(name).is_string()) fail(layer_, "'" + std::string(name) + "' must be a string of typed bytes");
    try {
      return parse_byte_spec(at(name).get<std::string>(), context).bytes;
    } catch (const ByteSpecError& e) {
      fail(layer_, "'" + std::string(name) + "': " + e.what());
    }
  }

 private:
  const Layer& layer_;
};

void put16(Bytes& b, std::size_t at, uint64_t v) {
  b[at] = uint8_t(v >> 8);
  b[at + 1] = uint8_t(v);
}
void append16(Bytes& b, uint64_t v) {
  b.push_back(uint8_t(v >> 8));
  b.push_back(uint8_t(v));
}
void append32(Bytes& b, uint64_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (24 - 8 * i)));
}
void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

// RFC 1071: the one's-complement sum of big-endian 16-bit words, starting from `seed`.
uint32_t sum16(const uint8_t* p, std::size_t n, uint32_t seed) {
  uint64_t s = seed;
  for (std::size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) s += uint32_t(p[n - 1]) << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint32_t(s);
}
uint16_t finish(uint32_t sum) { return uint16_t(~sum & 0xffff); }

// The ethertype, IP protocol or IPv6 next header that announces a layer of this kind.
std::optional<uint64_t> ethertype_of(const std::string& kind) {
  if (kind == "ipv4") return 0x0800;
  if (kind == "ipv6") return 0x86dd;
  if (kind == "arp") return 0x0806;
  if (kind == "vlan") return 0x8100;
  if (kind == "qinq") return 0x88a8;
  if (kind == "eth") return 0x6558;  // transparent Ethernet bridging (GRE and the like)
  return std::nullopt;
}
std::optional<uint64_t> ip_proto_of(const std::string& kind) {
  if (kind == "tcp") return 6;
  if (kind == "udp") return 17;
  if (kind == "icmp") return 1;
  if (kind == "icmpv6") return 58;
  if (kind == "ipv4") return 4;
  if (kind == "ipv6") return 41;
  if (kind == "hbh") return 0;
  if (kind == "routing") return 43;
  if (kind == "frag") return 44;
  if (kind == "dstopts") return 60;
  return std::nullopt;
}

bool is_ip(const std::string& k) { return k == "ipv4" || k == "ipv6"; }

// Header bytes of one layer, with lengths, next-protocol fields and checksums the description
// leaves out still zero (they are filled in afterwards).
Bytes header(const Layer& l, const ByteSpecContext& context) {
  Bytes b;
  const std::string& k = l.kind;
  if (k == "eth") {
    Fields f(l, {"src", "dst", "type"});
    append(b, f.address("dst", "02:00:00:00:00:02", 0));
    append(b, f.address("src", "02:00:00:00:00:01", 0));
    append16(b, f.number("type", 0, 0xffff));
  } else if (k == "vlan" || k == "qinq") {
    Fields f(l, {"id", "pcp", "dei", "type"});
    append16(b, f.number("pcp", 0, 7) << 13 | uint64_t(f.flag("dei", false)) << 12 | f.number("id", 1, 4095));
    append16(b, f.number("type", 0, 0xffff));
  } else if (k == "arp") {
    Fields f(l, {"op", "sha", "spa", "tha", "tpa"});
    append16(b, 1);
    append16(b, 0x0800);
    b.push_back(6);
    b.push_back(4);
    append16(b, f.number("op", 1, 0xffff));
    append(b, f.address("sha", "02:00:00:00:00:01", 0));
    append(b, f.address("spa", "10.0.0.1", 4));
    append(b, f.address("tha", "00:00:00:00:00:00", 0));
    append(b, f.address("tpa", "10.0.0.2", 4));
  } else if (k == "ipv4") {
    Fields f(l, {"src", "dst", "ttl", "tos", "id", "df", "mf", "frag", "proto", "options", "len", "ihl", "csum"});
    Bytes options = f.bytes("options", context);
    while (options.size() % 4) options.push_back(0);
    if (options.size() > 40) fail(l, "at most 40 bytes of options");
    b.push_back(uint8_t(0x40 | f.number("ihl", 5 + options.size() / 4, 15)));
    b.push_back(uint8_t(f.number("tos", 0, 255)));
    append16(b, f.number("len", 0, 0xffff));
    append16(b, f.number("id", 0, 0xffff));
    append16(b, uint64_t(f.flag("df", false)) << 14 | uint64_t(f.flag("mf", false)) << 13 | f.number("frag", 0, 0x1fff));
    b.push_back(uint8_t(f.number("ttl", 64, 255)));
    b.push_back(uint8_t(f.number("proto", 0, 255)));
    append16(b, f.number("csum", 0, 0xffff));
    append(b, f.address("src", "10.0.0.1", 4));
    append(b, f.address("dst", "10.0.0.2", 4));
    append(b, options);
  } else if (k == "ipv6") {
    Fields f(l, {"src", "dst", "hop_limit", "tc", "flow", "next", "plen"});
    append32(b, uint64_t(6) << 28 | f.number("tc", 0, 255) << 20 | f.number("flow", 0, 0xfffff));
    append16(b, f.number("plen", 0, 0xffff));
    b.push_back(uint8_t(f.number("next", 0, 255)));
    b.push_back(uint8_t(f.number("hop_limit", 64, 255)));
    append(b, f.address("src", "fd00::1", 6));
    append(b, f.address("dst", "fd00::2", 6));
  } else if (k == "hbh" || k == "dstopts") {
    Fields f(l, {"len", "next"});
    const uint64_t len = f.number("len", 0, 255);
    b.push_back(uint8_t(f.number("next", 0, 255)));
    b.push_back(uint8_t(len));
    // One PadN option fills the rest (RFC 8200 section 4.2).
    const std::size_t pad = 6 + 8 * len;
    b.push_back(1);
    b.push_back(uint8_t(pad - 2));
    b.resize(b.size() + pad - 2, 0);
  } else if (k == "routing") {
    Fields f(l, {"len", "next", "type", "segments_left"});
    const uint64_t len = f.number("len", 0, 255);
    b.push_back(uint8_t(f.number("next", 0, 255)));
    b.push_back(uint8_t(len));
    b.push_back(uint8_t(f.number("type", 0, 255)));
    b.push_back(uint8_t(f.number("segments_left", 0, 255)));
    b.resize(b.size() + 4 + 8 * len, 0);
  } else if (k == "frag") {
    Fields f(l, {"offset", "more", "id", "next"});
    b.push_back(uint8_t(f.number("next", 0, 255)));
    b.push_back(0);
    append16(b, f.number("offset", 0, 0x1fff) << 3 | uint64_t(f.flag("more", false)));
    append32(b, f.number("id", 0, 0xffffffff));
  } else if (k == "tcp") {
    Fields f(l, {"sport", "dport", "seq", "ack", "flags", "window", "urg", "options", "doff", "csum"});
    Bytes options;
    if (f.has("options") && f.at("options").is_array()) {
      for (const json& o : f.at("options")) {
        if (!o.is_object() || o.size() != 1) fail(l, "each TCP option is an object with one key");
        const std::string name = o.begin().key();
        const json& v = o.begin().value();
        const auto num = [&](uint64_t max) {
          if (!v.is_number_unsigned() || v.get<uint64_t>() > max) fail(l, "option '" + name + "' takes a number up to " + std::to_string(max));
          return v.get<uint64_t>();
        };
        if (name == "mss") {
          options.insert(options.end(), {2, 4});
          append16(options, num(0xffff));
        } else if (name == "ws") {
          options.insert(options.end(), {3, 3, uint8_t(num(255))});
        } else if (name == "sack_perm") {
          options.insert(options.end(), {4, 2});
        } else if (name == "ts") {
          if (!v.is_array() || v.size() != 2 || !v[0].is_number_unsigned() || !v[1].is_number_unsigned())
            fail(l, "option 'ts' takes [value, echo]");
          options.insert(options.end(), {8, 10});
          append32(options, v[0].get<uint64_t>());
          append32(options, v[1].get<uint64_t>());
        } else if (name == "nop") {
          options.push_back(1);
        } else if (name == "eol") {
          options.push_back(0);
        } else {
          fail(l, "unknown TCP option '" + name + "' (mss, ws, sack_perm, ts, nop, eol)");
        }
      }
    } else {
      options = f.bytes("options", context);
    }
    while (options.size() % 4) options.push_back(0);
    if (options.size() > 40) fail(l, "at most 40 bytes of options");
    append16(b, f.number("sport", 12345, 0xffff));
    append16(b, f.number("dport", 80, 0xffff));
    append32(b, f.number("seq", 0, 0xffffffff));
    append32(b, f.number("ack", 0, 0xffffffff));
    uint64_t flags = 0;
    if (f.has("flags") && f.at("flags").is_string()) {
      for (char c : f.at("flags").get<std::string>()) {
        const std::string letters = "FSRPAUEC";
        const auto bit = letters.find(c);
        if (bit == std::string::npos) fail(l, std::string("unknown TCP flag '") + c + "' (letters of FSRPAUEC)");
        flags |= uint64_t(1) << bit;
      }
    } else {
      flags = f.number("flags", 0x02, 0xff);
    }
    b.push_back(uint8_t(f.number("doff", 5 + options.size() / 4, 15) << 4));
    b.push_back(uint8_t(flags));
    append16(b, f.number("window", 65535, 0xffff));
    append16(b, f.number("csum", 0, 0xffff));
    append16(b, f.number("urg", 0, 0xffff));
    append(b, options);
  } else if (k == "udp") {
    Fields f(l, {"sport", "dport", "len", "csum"});
    append16(b, f.number("sport", 12345, 0xffff));
    append16(b, f.number("dport", 53, 0xffff));
    append16(b, f.number("len", 0, 0xffff));
    append16(b, f.number("csum", 0, 0xffff));
  } else if (k == "icmp" || k == "icmpv6") {
    Fields f(l, {"type", "code", "id", "seq", "csum"});
    b.push_back(uint8_t(f.number("type", k == "icmp" ? 8 : 128, 255)));
    b.push_back(uint8_t(f.number("code", 0, 255)));
    append16(b, f.number("csum", 0, 0xffff));
    append16(b, f.number("id", 1, 0xffff));
    append16(b, f.number("seq", 1, 0xffff));
  } else if (k == "dns") {
    Fields f(l, {"id", "flags", "qname", "qtype", "qclass"});
    append16(b, f.number("id", 1, 0xffff));
    append16(b, f.number("flags", 0x0100, 0xffff));
    append16(b, 1);
    append16(b, 0);
    append16(b, 0);
    append16(b, 0);
    const std::string name = f.text("qname", "example.com");
    std::size_t start = 0;
    while (start < name.size()) {
      std::size_t dot = name.find('.', start);
      if (dot == std::string::npos) dot = name.size();
      const std::size_t len = dot - start;
      if (len == 0 || len > 63) fail(l, "qname \"" + name + "\" has an empty or over-long (>63) label");
      b.push_back(uint8_t(len));
      b.insert(b.end(), name.begin() + long(start), name.begin() + long(dot));
      start = dot + 1;
    }
    b.push_back(0);
    append16(b, f.number("qtype", 1, 0xffff));
    append16(b, f.number("qclass", 1, 0xffff));
  } else if (k == "payload") {
    if (!l.fields->is_string()) fail(l, "a payload is a string of typed bytes");
    try {
      b = parse_byte_spec(l.fields->get<std::string>(), context).bytes;
    } catch (const ByteSpecError& e) {
      fail(l, e.what());
    }
  } else {
    fail(l, "unknown layer (eth, vlan, qinq, arp, ipv4, ipv6, hbh, dstopts, routing, frag, tcp, udp, icmp, icmpv6, dns, payload, pad_to, truncate)");
  }
  return b;
}

bool given(const Layer& l, const char* field) { return l.fields->is_object() && l.fields->contains(field); }

}  // namespace

Bytes build_packet(const json& description, const ByteSpecContext& context) {
  if (description.is_string()) {
    try {
      return parse_byte_spec(description.get<std::string>(), context).bytes;
    } catch (const ByteSpecError& e) {
      throw PacketSpecError(std::string("packet: ") + e.what());
    }
  }
  if (!description.is_array()) throw PacketSpecError("a packet is a list of layers or a string of typed bytes");

  std::vector<Layer> layers;
  std::optional<std::size_t> pad_to, truncate;
  for (std::size_t i = 0; i < description.size(); ++i) {
    const json& item = description[i];
    if (!item.is_object() || item.size() != 1)
      throw PacketSpecError("layer " + std::to_string(i) + ": each layer is an object with one key, its kind");
    const std::string kind = item.begin().key();
    const json& fields = item.begin().value();
    if (kind == "pad_to" || kind == "truncate") {
      if (!fields.is_number_unsigned() || fields.get<uint64_t>() > 65535)
        throw PacketSpecError("layer " + std::to_string(i) + " (" + kind + "): a length from 0 to 65535");
      (kind == "pad_to" ? pad_to : truncate) = std::size_t(fields.get<uint64_t>());
      continue;
    }
    if (pad_to || truncate)
      throw PacketSpecError("layer " + std::to_string(i) + " (" + kind + "): pad_to and truncate come after every other layer");
    layers.push_back(Layer{kind, &fields, i});
  }

  Bytes frame;
  for (Layer& l : layers) {
    const Bytes h = header(l, context);
    l.offset = frame.size();
    l.size = h.size();
    append(frame, h);
  }
  const std::size_t end = frame.size();

  // Innermost first: an outer checksum (UDP around VXLAN, say) covers the inner one.
  for (std::size_t i = layers.size(); i-- > 0;) {
    const Layer& l = layers[i];
    const std::string next = i + 1 < layers.size() ? layers[i + 1].kind : "";
    const std::size_t o = l.offset;
    const auto set_next = [&](std::size_t at, bool ip, const char* field) {
      if (given(l, field) || next.empty()) return;
      const auto v = ip ? ip_proto_of(next) : ethertype_of(next);
      if (v) {
        if (ip)
          frame[at] = uint8_t(*v);
        else
          put16(frame, at, *v);
      } else if (ip && l.kind != "ipv4") {
        frame[at] = 59;  // IPv6 "no next header"
      }
    };
    // The nearest IP layer before this one, for the pseudo-header.
    const Layer* ip = nullptr;
    for (std::size_t j = i; j-- > 0;)
      if (is_ip(layers[j].kind)) {
        ip = &layers[j];
        break;
      }
    const auto l4_checksum = [&](std::size_t csum_at, uint8_t proto, bool zero_means_none) {
      if (given(l, "csum")) return;
      const std::size_t len = end - o;
      uint32_t s = 0;
      if (ip && ip->kind == "ipv4") {
        s = sum16(&frame[ip->offset + 12], 8, 0);
      } else if (ip) {
        s = sum16(&frame[ip->offset + 8], 32, 0);
      }
      if (ip) {
        s = sum16(nullptr, 0, s + uint32_t(proto) + uint32_t(len & 0xffff) + uint32_t(len >> 16));
      }
      uint16_t c = finish(sum16(&frame[o], len, s));
      if (zero_means_none && c == 0) c = 0xffff;
      put16(frame, csum_at, c);
    };

    if (l.kind == "eth") {
      set_next(o + 12, false, "type");
    } else if (l.kind == "vlan" || l.kind == "qinq") {
      set_next(o + 2, false, "type");
    } else if (l.kind == "ipv4") {
      set_next(o + 9, true, "proto");
      if (!given(l, "len")) put16(frame, o + 2, end - o);
      if (!given(l, "csum")) put16(frame, o + 10, finish(sum16(&frame[o], l.size, 0)));
    } else if (l.kind == "ipv6") {
      set_next(o + 6, true, "next");
      if (!given(l, "plen")) put16(frame, o + 4, end - o - 40);
    } else if (l.kind == "hbh" || l.kind == "dstopts" || l.kind == "routing" || l.kind == "frag") {
      set_next(o, true, "next");
    } else if (l.kind == "tcp") {
      l4_checksum(o + 16, 6, false);
    } else if (l.kind == "udp") {
      if (!given(l, "len")) put16(frame, o + 4, end - o);
      l4_checksum(o + 6, 17, true);
    } else if (l.kind == "icmpv6") {
      l4_checksum(o + 2, 58, false);
    } else if (l.kind == "icmp") {
      if (!given(l, "csum")) put16(frame, o + 2, finish(sum16(&frame[o], end - o, 0)));
    }
  }
  if (pad_to && frame.size() < *pad_to) frame.resize(*pad_to, 0);
  if (truncate && frame.size() > *truncate) frame.resize(*truncate);
  return frame;
}

}  // namespace tristate
