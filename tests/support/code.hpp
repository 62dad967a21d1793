// Test support: build an instruction array from decoded instructions with encode(), so tests of
// the layers above the ISA need not depend on the assembler.
#pragma once

#include <vector>

#include "compiler/isa.hpp"

namespace tristate::test {

struct Code {
  std::vector<Insn> insns;
  Code& operator<<(const Decoded& d) {
    const Encoded e = encode(d);
    insns.insert(insns.end(), e.span().begin(), e.span().end());
    return *this;
  }
};

}  // namespace tristate::test
