// Printing of concrete tnums in the kernel verifier's two notations.
#include "analyzer/tnum.hpp"

#include <cstdio>
#include <ostream>

namespace tristate {

std::string_view tnum_mul_name(TnumMul variant) {
  switch (variant) {
    case TnumMul::KernelPre2021: return "kernel-pre2021";
    case TnumMul::Our: return "our";
    case TnumMul::Kernel618: return "kernel618";
    case TnumMul::Tristate: return "tristate";
  }
  return "kernel618";
}

std::string tnum_strn(const Tnum& a) {
  // The kernel's printf prints %#llx of 0 as 0x0 (libc would print a bare 0), so the prefix is
  // written here rather than left to '#'.
  char text[48];
  std::snprintf(text, sizeof text, "(0x%llx; 0x%llx)", static_cast<unsigned long long>(a.value),
                static_cast<unsigned long long>(a.mask));
  return text;
}

std::string tnum_sbin(const Tnum& a, unsigned width) {
  if (width > 64) width = 64;
  std::string text(width, '0');
  for (unsigned bit = 0; bit < width; ++bit) {
    const uint64_t m = uint64_t(1) << bit;
    text[width - 1 - bit] = (a.mask & m) ? 'x' : (a.value & m) ? '1' : '0';
  }
  return text;
}

std::ostream& operator<<(std::ostream& out, const Tnum& a) { return out << tnum_strn(a); }

}  // namespace tristate
