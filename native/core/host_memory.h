// Host memory left to this process, and the check the CPU backend runs before a large tensor.
//
// Linux overcommits: an allocation far beyond the free memory usually succeeds and the process
// is killed by the OOM killer when the pages are first written, which for a server is a crash
// instead of an error. So before a tensor of kHostCheckMinBytes or more, the CPU backend asks
// how much memory is still available (the kernel's MemAvailable, and the cgroup's limit minus its
// usage when the process runs in a memory-limited container) and refuses with kOutOfMemory when
// the tensor would not fit with kHostHeadroomBytes to spare. The engine stays usable: nothing
// was allocated. PIXART_HOST_MEMORY_CHECK=0 switches the check off.
#pragma once
#include <cstdint>
#include <string>

#include "tensor.h"

namespace pixart {

constexpr int64_t kHostCheckMinBytes = int64_t(16) << 20;
constexpr int64_t kHostHeadroomBytes = int64_t(128) << 20;

// Bytes this process can still allocate: min(MemAvailable, cgroup limit - usage); -1 if unknown.
int64_t host_available_bytes();

// The parsing behind host_available_bytes, separated for tests: `meminfo` is /proc/meminfo's
// text, `cg_max` / `cg_current` the cgroup v2 memory.max / memory.current (or v1
// limit_in_bytes / usage_in_bytes) file contents, empty when absent. -1 if nothing is known.
int64_t host_available_from(const std::string& meminfo, const std::string& cg_max, const std::string& cg_current);

// Throws EngineError(kOutOfMemory) when a tensor of `bytes` would not fit in `available` (as
// returned above; -1 = unknown, no check) with the headroom. `shape` is for the message.
void check_host_allocation(int64_t bytes, int64_t available, const Shape& shape);

// Whether the CPU backend checks (PIXART_HOST_MEMORY_CHECK is not "0"); read once.
bool host_memory_check_enabled();

}  // namespace pixart
