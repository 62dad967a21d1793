// Typed bytes (compiler/byte_spec.hpp): every token type, masks, errors.
#include <catch2/catch.hpp>

#include "compiler/byte_spec.hpp"
#include "compiler/hex.hpp"

using namespace tristate;

TEST_CASE("typed bytes: plain hex is taken as it is", "[byte_spec]") {
  CHECK(to_hex(parse_byte_spec("0a 00 00 01").bytes) == "0a000001");
  CHECK(parse_byte_spec("").bytes.empty());
  CHECK_THROWS_AS(parse_byte_spec("0a0"), ByteSpecError);
  CHECK_THROWS_AS(parse_byte_spec("zz"), ByteSpecError);
}

TEST_CASE("typed bytes: every token type", "[byte_spec]") {
  CHECK(to_hex(parse_byte_spec("u8:255 u16:0x1234 u32:1 u64:-1").bytes) == "ff341201000000ffffffffffffffff");
  CHECK(to_hex(parse_byte_spec("be16:80 be32:0x0a000001 be64:1").bytes) == "00500a0000010000000000000001");
  CHECK(to_hex(parse_byte_spec("ip4:10.0.0.1 mac:02:00:00:00:00:0a").bytes) == "0a00000102000000000a");
  CHECK(to_hex(parse_byte_spec("ip6:fd00::1").bytes) == "fd000000000000000000000000000001");
  CHECK(to_hex(parse_byte_spec("zero:3 str:ab 01").bytes) == "0000006162" "01");
  CHECK(to_hex(parse_byte_spec("u16:-1").bytes) == "ffff");
}

TEST_CASE("typed bytes: any:N is not compared", "[byte_spec]") {
  const ByteSpec s = parse_byte_spec("u8:1 any:2 u8:4");
  CHECK(s.bytes.size() == 4);
  CHECK(s.matches({1, 9, 9, 4}));
  CHECK(!s.matches({2, 9, 9, 4}));
  CHECK(!s.matches({1, 9, 9}));
}

TEST_CASE("typed bytes: trigger tokens need a triggering process", "[byte_spec]") {
  CHECK_THROWS_AS(parse_byte_spec("tgid:trigger"), ByteSpecError);
  const ByteSpecContext c{uint64_t(0x1234) << 32 | 0x99};
  CHECK(to_hex(parse_byte_spec("tgid:trigger", c).bytes) == "34120000");
  CHECK(to_hex(parse_byte_spec("pid_tgid:trigger", c).bytes) == "9900000034120000");
}

TEST_CASE("typed bytes: errors name the token", "[byte_spec]") {
  for (const char* bad : {"u8:256", "u16:65536", "u8:-129", "ip4:10.0.0", "ip6:fd00:::1:::", "mac:02:00", "zero:-1",
                          "foo:1", "u32:x", "tgid:self"}) {
    INFO(bad);
    try {
      parse_byte_spec(bad);
      FAIL("accepted");
    } catch (const ByteSpecError& e) {
      CHECK(std::string(e.what()).find(std::string(bad).substr(0, 3)) != std::string::npos);
    }
  }
}
