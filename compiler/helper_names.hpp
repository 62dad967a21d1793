// Helper functions by the kernel's names (enum bpf_func_id of the Linux 6.18 UAPI).
#pragma once

#include <cstdint>
#include <string>

namespace tristate {

// The helper's name in the kernel's list ("bpf_map_lookup_elem"), or "helper #N".
std::string helper_name(int32_t id);

}  // namespace tristate
