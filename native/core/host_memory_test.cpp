// The host memory check (core/host_memory.h): parsing /proc/meminfo and the cgroup files, the
// refusal itself, and through the CPU backend: a tensor larger than the memory left is a typed
// out-of-memory error before anything is allocated, and the backend goes on working.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/host_memory.h"
#include "core/status.h"

using namespace pixart;

namespace {
const std::string kMeminfo =
    "MemTotal:       24683624 kB\nMemFree:        20391100 kB\nMemAvailable:   22459372 kB\nBuffers:  1 kB\n";

StatusCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const EngineError& e) {
    return e.code();
  }
  return StatusCode::kOk;
}
}  // namespace

TEST_CASE("host_available_from: MemAvailable, and a cgroup limit when there is one") {
  const int64_t mem = int64_t(22459372) * 1024;
  CHECK(host_available_from(kMeminfo, "", "") == mem);
  CHECK(host_available_from(kMeminfo, "max\n", "123\n") == mem);                 // cgroup v2 without a limit
  CHECK(host_available_from(kMeminfo, "4294967296\n", "1073741824\n") == (int64_t(3) << 30));  // 4 GiB limit, 1 GiB used
  CHECK(host_available_from(kMeminfo, "1000\n", "5000\n") == 0);                 // over the limit already
  CHECK(host_available_from(kMeminfo, "9223372036854771712\n", "1\n") == mem);   // cgroup v1's "no limit"
  CHECK(host_available_from("", "4294967296", "0") == (int64_t(4) << 30));       // no meminfo: the cgroup alone
  CHECK(host_available_from("", "", "") == -1);
  CHECK(host_available_from("MemTotal: 1 kB\n", "garbage", "1") == -1);
  CHECK(host_available_bytes() > 0);  // this machine has a /proc/meminfo
}

TEST_CASE("check_host_allocation: refuses what does not fit with the headroom, ignores small or unknown") {
  const Shape s{4, 1024, 1024};
  const int64_t big = int64_t(64) << 20;
  CHECK(code_of([&] { check_host_allocation(big, big + kHostHeadroomBytes, s); }) == StatusCode::kOk);
  CHECK(code_of([&] { check_host_allocation(big, big + kHostHeadroomBytes - 1, s); }) == StatusCode::kOutOfMemory);
  CHECK(code_of([&] { check_host_allocation(big, -1, s); }) == StatusCode::kOk);
  CHECK(code_of([&] { check_host_allocation(kHostCheckMinBytes - 4, 0, s); }) == StatusCode::kOk);
  try {
    check_host_allocation(big, int64_t(10) << 20, s);
    FAIL("no error");
  } catch (const EngineError& e) {
    const std::string m = e.what();
    CHECK(m.find("[4,1024,1024]") != std::string::npos);
    CHECK(m.find("0.07 GB") != std::string::npos);
    CHECK(m.find("enableTiling") != std::string::npos);
  }
}

TEST_CASE("cpu backend: a tensor beyond the memory left is a typed error, and the backend stays usable") {
  cpu::CpuBackend be(2);
  const int64_t avail = host_available_bytes();
  REQUIRE(avail > 0);
  // Just over what is available, as a [rows, 1024] float32 tensor: the kernel's overcommit would
  // usually grant it (and the first write would then be an OOM kill); the check refuses it.
  const int64_t rows = (avail + (int64_t(256) << 20)) / (1024 * 4) + 1;
  CHECK(code_of([&] { be.empty({rows, 1024}); }) == StatusCode::kOutOfMemory);
  const std::vector<float> in{1, 2, 3, 4, 5, 6};
  const Tensor t = be.scale(be.from_host(in.data(), {2, 3}), 2.f);
  std::vector<float> v(6);
  be.to_host(t, v.data());
  CHECK(v == std::vector<float>{2, 4, 6, 8, 10, 12});
}
