// Fuzzes the capture-file reader (classic pcap and pcapng). Bad input must end in InputError,
// never in a crash, a leak or undefined behaviour (the target is built with ASan and UBSan).
// What is read must also round-trip through the writer and never hold more packet bytes than
// the input had (the reader's memory stays linear in its input).
#include <cstdint>
#include <cstdlib>
#include <span>

#include "compiler/error.hpp"
#include "compiler/pcap.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto packets = tristate::read_pcap_memory(std::span<const uint8_t>(data, size), "fuzz.pcap");
    size_t total = 0;
    for (const auto& p : packets) total += p.size();
    if (total > size) std::abort();
    if (tristate::read_pcap_memory(tristate::pcap_bytes(packets), "again.pcap") != packets) std::abort();
  } catch (const tristate::InputError&) {
    // Expected for bad input.
  }
  return 0;
}
