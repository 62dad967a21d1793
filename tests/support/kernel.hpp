// Test support: what a test that needs the running kernel does when it cannot have it. On the
// project's machines bpf() must work, so the test fails with the reason; with
// TRISTATE_ALLOW_NO_BPF=1 it warns loudly that it did NOT run instead. Never a silent pass.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "tests/support/process.hpp"

namespace tristate::test {

// True when the test may go on; `what` names the test in the warning.
inline bool kernel_test_may_run(bool available, const std::string& why, const std::string& what) {
  if (available) return true;
  if (env("TRISTATE_ALLOW_NO_BPF") == "1") {
    WARN("bpf() UNAVAILABLE (" << why << "): " << what << " did NOT run");
    return false;
  }
  FAIL("bpf() unavailable: " << why << " (set TRISTATE_ALLOW_NO_BPF=1 to skip on machines without it)");
  return false;
}

}  // namespace tristate::test
