// Fuzzes the input readers: bytes that start like an ELF file go to the ELF reader, everything
// else to the raw bytecode reader. Bad input must end in InputError, never in a crash, a leak or
// undefined behaviour (the target is built with ASan and UBSan).
#include <cstdint>
#include <cstring>
#include <span>

#include "compiler/bytecode.hpp"
#include "compiler/elf_reader.hpp"
#include "compiler/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> bytes(data, size);
  try {
    if (size >= 4 && std::memcmp(data, "\x7f" "ELF", 4) == 0) {
      tristate::read_elf_memory(bytes, "fuzz.o");
    } else {
      // The first byte picks a program type so each type's checks get exercised.
      static const char* kTypes[] = {"xdp", "sched_cls", "socket_filter", "tracepoint", "kprobe",
                                     "cgroup_skb"};
      const char* type = size ? kTypes[data[0] % 6] : "xdp";
      tristate::read_bytecode_memory(bytes, "fuzz.bin", type);
    }
  } catch (const tristate::InputError&) {
    // Expected for bad input.
  }
  return 0;
}
