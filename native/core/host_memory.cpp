#include "host_memory.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "status.h"

namespace pixart {

namespace {

std::string read_small_file(const char* path) {
  std::ifstream f(path);
  if (!f) return {};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// A whole non-negative decimal number (trailing whitespace allowed); -1 otherwise ("max", "").
int64_t parse_count(const std::string& s) {
  size_t i = 0;
  int64_t v = 0;
  bool any = false;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (v > (INT64_MAX - 9) / 10) return -1;
    v = v * 10 + (s[i] - '0');
    i++;
    any = true;
  }
  while (i < s.size() && (s[i] == '\n' || s[i] == ' ' || s[i] == '\t')) i++;
  return any && i == s.size() ? v : -1;
}

std::string gigabytes(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB", double(bytes) / 1e9);
  return buf;
}

}  // namespace

int64_t host_available_from(const std::string& meminfo, const std::string& cg_max, const std::string& cg_current) {
  int64_t avail = -1;
  const std::string key = "MemAvailable:";
  const size_t at = meminfo.find(key);
  if (at != std::string::npos) {
    long long kb = -1;
    if (std::sscanf(meminfo.c_str() + at + key.size(), "%lld", &kb) == 1 && kb >= 0) avail = int64_t(kb) * 1024;
  }
  const int64_t limit = parse_count(cg_max), used = parse_count(cg_current);
  // cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages): beyond 2^60 means none.
  if (limit >= 0 && limit < (int64_t(1) << 60) && used >= 0) {
    const int64_t left = limit > used ? limit - used : 0;
    avail = avail < 0 ? left : std::min(avail, left);
  }
  return avail;
}

int64_t host_available_bytes() {
  std::string cg_max = read_small_file("/sys/fs/cgroup/memory.max");
  std::string cg_cur;
  if (!cg_max.empty()) {
    cg_cur = read_small_file("/sys/fs/cgroup/memory.current");
  } else {
    cg_max = read_small_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    cg_cur = read_small_file("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  }
  return host_available_from(read_small_file("/proc/meminfo"), cg_max, cg_cur);
}

void check_host_allocation(int64_t bytes, int64_t available, const Shape& shape) {
  if (available < 0 || bytes < kHostCheckMinBytes || bytes + kHostHeadroomBytes <= available) return;
  fail(StatusCode::kOutOfMemory,
       "out of host memory: a float32 tensor " + shape_str(shape) + " needs " + gigabytes(bytes) + " and only " +
           gigabytes(available) +
           " is available to this process; use a smaller image size or batch, or tiled VAE decoding "
           "(vae.enableTiling(), --vae-tiling) for large images (PIXART_HOST_MEMORY_CHECK=0 turns this check off)");
}

bool host_memory_check_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("PIXART_HOST_MEMORY_CHECK");
    return !(v && std::string(v) == "0");
  }();
  return on;
}

}  // namespace pixart
