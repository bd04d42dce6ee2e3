// The engine cache (engine_cache.h): the key and slot, hit/miss, stale for each of TensorRT
// version, GPU and model hash (rebuilt and replaced), corrupt engines (bytes flipped, truncated,
// grown, missing) and manifests as typed errors, atomic writes and crash leftovers.
#include <doctest/doctest.h>

#include <unistd.h>

#include "engine_cache.h"
#include "sha256.h"
#include "test_util.h"

using namespace pixart;
using namespace pixart::trt;

namespace {

EngineKey sample_key() {
  EngineKey k;
  k.gpu_name = "NVIDIA H100 80GB HBM3";
  k.compute_capability = "9.0";
  k.tensorrt_version = "11.1.0";
  k.model_hash = sha256_hex(std::string("model bytes"));
  k.model_label = "/exports/PixArt-XL-2-1024-MS#transformer";
  k.profiles = "timestep=1/2/16";
  k.build_options = "opt_level=3;workspace=0";
  return k;
}

std::string engine_bytes(size_t n = 3000, char seed = 'e') {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = char(seed + i * 7);
  return s;
}

size_t count_files(const std::string& dir, const std::string& fragment) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(fragment) != std::string::npos) n++;
  return n;
}

}  // namespace

TEST_CASE("key: the digest changes with every component; the slot only with label, profiles, options") {
  const EngineKey base = sample_key();
  CHECK(is_sha256_hex(base.digest()));
  CHECK(base.digest() == sample_key().digest());  // deterministic
  std::string EngineKey::*const environment[] = {&EngineKey::gpu_name, &EngineKey::compute_capability,
                                                 &EngineKey::tensorrt_version, &EngineKey::model_hash};
  std::string EngineKey::*const slot[] = {&EngineKey::model_label, &EngineKey::profiles, &EngineKey::build_options};
  for (auto field : environment) {
    EngineKey k = base;
    k.*field += "x";
    CHECK(k.digest() != base.digest());
    CHECK(k.slot() == base.slot());
  }
  for (auto field : slot) {
    EngineKey k = base;
    k.*field += "x";
    CHECK(k.digest() != base.digest());
    CHECK(k.slot() != base.slot());
  }
  // A value cannot pass for another field: moving text between fields changes the key.
  EngineKey a = base, b = base;
  a.profiles = "p\noptions=o";
  a.build_options = "";
  b.profiles = "p";
  b.build_options = "o";
  CHECK(a.digest() != b.digest());
}

TEST_CASE("build options: canonical text, validated") {
  BuildOptions o;
  CHECK(o.canonical() == "opt_level=3;workspace=0");
  o.workspace_bytes = int64_t(8) << 30;
  o.optimization_level = 5;
  CHECK(o.canonical() == "opt_level=5;workspace=8589934592");
  o.optimization_level = 6;
  test::check_fails([&] { o.canonical(); }, StatusCode::kInvalidArgument, "optimization level 6 is outside 0..5");
  o.optimization_level = 3;
  o.workspace_bytes = -1;
  test::check_fails([&] { o.canonical(); }, StatusCode::kInvalidArgument, "negative workspace");
}

TEST_CASE("cache: miss, store, hit; the engine reads back verified") {
  test::TempDir dir;
  EngineCache cache(dir / "engines/nested");  // created with its parents
  const EngineKey k = sample_key();
  CHECK(cache.lookup(k).status == CacheStatus::kMiss);
  const std::string bytes = engine_bytes();
  const CacheEntry e = cache.store(k, bytes.data(), bytes.size());
  CHECK(e.file == k.digest() + ".engine");
  CHECK(e.sha256 == sha256_hex(bytes));
  CHECK(e.size == bytes.size());
  CHECK(e.created.size() == 20);  // 2025-01-01T00:00:00Z

  const CacheLookup hit = cache.lookup(k);
  REQUIRE(hit.status == CacheStatus::kHit);
  CHECK(hit.engine_path == cache.dir() + "/" + e.file);
  const std::vector<uint8_t> back = cache.read_engine(hit);
  CHECK(std::string(back.begin(), back.end()) == bytes);

  // A fresh EngineCache on the same folder reads the manifest back.
  EngineCache again(cache.dir());
  const auto entries = again.entries();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].key.profiles == k.profiles);
  CHECK(entries[0].digest == k.digest());
  CHECK(count_files(cache.dir(), ".tmp.") == 0);  // no temporary file survives a write
}

TEST_CASE("cache: another profile set, label or build option is a miss, not stale") {
  test::TempDir dir;
  EngineCache cache(dir.path());
  const EngineKey k = sample_key();
  const std::string bytes = engine_bytes();
  cache.store(k, bytes.data(), bytes.size());
  EngineKey other = k;
  other.profiles = "timestep=1/1/8";
  CHECK(cache.lookup(other).status == CacheStatus::kMiss);
  other = k;
  other.model_label = "/exports/PixArt-XL-2-512x512#transformer";
  CHECK(cache.lookup(other).status == CacheStatus::kMiss);
  other = k;
  other.build_options = "opt_level=5;workspace=0";
  CHECK(cache.lookup(other).status == CacheStatus::kMiss);
  // Both live side by side once stored.
  cache.store(other, bytes.data(), bytes.size());
  CHECK(cache.entries().size() == 2);
  CHECK(cache.lookup(k).status == CacheStatus::kHit);
}

TEST_CASE("cache: stale for a new TensorRT, another GPU, or a re-exported model; the rebuild replaces it") {
  struct Case {
    const char* what;
    void (*change)(EngineKey&);
    const char* reason;
  };
  const Case cases[] = {
      {"TensorRT", [](EngineKey& k) { k.tensorrt_version = "11.2.0"; }, "TensorRT 11.1.0 -> 11.2.0"},
      {"GPU", [](EngineKey& k) { k.gpu_name = "NVIDIA L40S", k.compute_capability = "8.9"; },
       "GPU NVIDIA H100 80GB HBM3 (9.0) -> NVIDIA L40S (8.9)"},
      {"same GPU name, other compute capability", [](EngineKey& k) { k.compute_capability = "9.1"; },
       "GPU NVIDIA H100 80GB HBM3 (9.0) -> NVIDIA H100 80GB HBM3 (9.1)"},
      {"model", [](EngineKey& k) { k.model_hash = sha256_hex(std::string("re-exported")); }, "(the ONNX changed)"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    test::TempDir dir;
    EngineCache cache(dir.path());
    const EngineKey old_key = sample_key();
    const std::string old_bytes = engine_bytes(3000, 'o');
    const CacheEntry old_entry = cache.store(old_key, old_bytes.data(), old_bytes.size());

    EngineKey now = old_key;
    c.change(now);
    const CacheLookup r = cache.lookup(now);
    CHECK(r.status == CacheStatus::kStale);
    CHECK(r.reason.find(c.reason) != std::string::npos);
    CHECK(r.entry.digest == old_entry.digest);

    const std::string new_bytes = engine_bytes(2000, 'n');
    cache.store(now, new_bytes.data(), new_bytes.size());
    const auto entries = cache.entries();
    REQUIRE(entries.size() == 1);  // replaced, not added
    CHECK(entries[0].digest == now.digest());
    CHECK_FALSE(std::filesystem::exists(dir / old_entry.file));  // the old engine file is gone
    const CacheLookup hit = cache.lookup(now);
    REQUIRE(hit.status == CacheStatus::kHit);
    const auto back = cache.read_engine(hit);
    CHECK(std::string(back.begin(), back.end()) == new_bytes);
    // The old environment now finds the new entry stale in turn (e.g. a downgrade).
    CHECK(cache.lookup(old_key).status == CacheStatus::kStale);
  }
}

TEST_CASE("cache: a corrupt engine is a kModelLoad error, never a silent rebuild") {
  test::TempDir dir;
  EngineCache cache(dir.path());
  const EngineKey k = sample_key();
  const std::string bytes = engine_bytes();
  const CacheEntry e = cache.store(k, bytes.data(), bytes.size());
  const std::string path = dir / e.file;

  SUBCASE("bytes flipped: same size, sha256 differs, caught while reading") {
    std::string bad = bytes;
    bad[1234] ^= 0x20;
    test::write_file(path, bad);
    const CacheLookup hit = cache.lookup(k);  // the size still matches
    REQUIRE(hit.status == CacheStatus::kHit);
    test::check_fails([&] { cache.read_engine(hit); }, StatusCode::kModelLoad,
                      "has sha256 " + sha256_hex(bad) + ", the manifest recorded " + e.sha256);
  }
  SUBCASE("truncated") {
    test::write_file(path, bytes.substr(0, 1000));
    test::check_fails([&] { cache.lookup(k); }, StatusCode::kModelLoad, "has 1000 bytes, the manifest recorded 3000 (truncated)");
  }
  SUBCASE("grown") {
    test::write_file(path, bytes + "x");
    test::check_fails([&] { cache.lookup(k); }, StatusCode::kModelLoad, "has 3001 bytes, the manifest recorded 3000");
  }
  SUBCASE("missing") {
    std::filesystem::remove(path);
    test::check_fails([&] { cache.lookup(k); }, StatusCode::kModelLoad, "is missing");
  }
  SUBCASE("truncated between lookup and read") {
    const CacheLookup hit = cache.lookup(k);
    test::write_file(path, bytes.substr(0, 10));
    test::check_fails([&] { cache.read_engine(hit); }, StatusCode::kModelLoad, "ended after 10 of 3000 bytes");
  }
  SUBCASE("forget() clears the entry and its file so the caller can rebuild") {
    test::write_file(path, "garbage");
    cache.forget(e.digest);
    CHECK(cache.lookup(k).status == CacheStatus::kMiss);
    CHECK_FALSE(std::filesystem::exists(path));
    cache.store(k, bytes.data(), bytes.size());
    CHECK(cache.lookup(k).status == CacheStatus::kHit);
  }
}

TEST_CASE("cache: a damaged or foreign manifest is a kModelLoad error naming it") {
  test::TempDir dir;
  EngineCache cache(dir.path());
  const std::string bytes = engine_bytes();
  cache.store(sample_key(), bytes.data(), bytes.size());
  const std::string manifest = test::read_file(cache.manifest_path());

  test::write_file(cache.manifest_path(), manifest.substr(0, manifest.size() / 2));
  test::check_fails([&] { cache.lookup(sample_key()); }, StatusCode::kModelLoad, "manifest.json: invalid JSON");

  std::string edited = manifest;
  edited.replace(edited.find("11.1.0"), 6, "11.9.0");  // a field changed by hand, digest left alone
  test::write_file(cache.manifest_path(), edited);
  test::check_fails([&] { cache.lookup(sample_key()); }, StatusCode::kModelLoad,
                    "entries[0].digest: does not match the entry's fields");

  std::string future = manifest;
  future.replace(future.find("\"version\": 1"), 12, "\"version\": 2");
  test::write_file(cache.manifest_path(), future);
  test::check_fails([&] { cache.entries(); }, StatusCode::kModelLoad, "version 2 is not 1");
}

TEST_CASE("cache: temporary files of dead writers are removed, a live writer's are kept") {
  test::TempDir dir;
  // pid 2^22 + 1 is above Linux's pid_max limit, so no process has it.
  test::write_file(dir / "abc.engine.tmp.4194305.0", "half an engine");
  const std::string mine = dir / ("manifest.json.tmp." + std::to_string(::getpid()) + ".7");
  test::write_file(mine, "being written");
  EngineCache cache(dir.path());
  CHECK_FALSE(std::filesystem::exists(dir / "abc.engine.tmp.4194305.0"));
  CHECK(std::filesystem::exists(mine));
}

TEST_CASE("write_file_atomic replaces the whole file and leaves no temporary behind") {
  test::TempDir dir;
  write_file_atomic(dir / "f", "first version", 13);
  write_file_atomic(dir / "f", "2nd", 3);
  CHECK(test::read_file(dir / "f") == "2nd");
  CHECK(count_files(dir.path(), ".tmp.") == 0);
  test::check_fails([&] { write_file_atomic(dir / "no/such/dir/f", "x", 1); }, StatusCode::kInternal, "cannot create");
}
