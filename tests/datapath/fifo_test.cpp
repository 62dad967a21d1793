// The stage's FIFO: order kept through growth and wrap-around, batches popped in order.
#include "datapath/fifo.hpp"

#include <catch2/catch.hpp>
#include <deque>
#include <random>

using namespace tristate::datapath;

TEST_CASE("fifo: agrees with std::deque through growth and wrap-around", "[fifo]") {
  std::mt19937_64 rng(3);
  Fifo<uint64_t> fifo;
  std::deque<uint64_t> expected;
  uint64_t next = 0;
  for (int step = 0; step < 20000; ++step) {
    switch (rng() % 4) {
      case 0: fifo.push_back(next), expected.push_back(next++); break;
      case 1: {
        std::vector<uint64_t> items(rng() % 40);
        for (uint64_t& i : items) expected.push_back(i = next++);
        fifo.append(items);
        break;
      }
      case 2:
        if (!expected.empty()) {
          REQUIRE(fifo.front() == expected.front());
          fifo.pop_front();
          expected.pop_front();
        }
        break;
      default: {
        std::vector<uint64_t> out(rng() % 50);
        const std::size_t n = fifo.pop_into(out);
        REQUIRE(n == std::min(out.size(), expected.size()));
        for (std::size_t i = 0; i < n; ++i) {
          REQUIRE(out[i] == expected.front());
          expected.pop_front();
        }
      }
    }
    REQUIRE(fifo.size() == expected.size());
    REQUIRE(fifo.empty() == expected.empty());
  }
}
