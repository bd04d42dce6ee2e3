// The TensorRT engine cache: a folder of serialized engines and a manifest.json recording, for
// each, what it was built for (GPU, TensorRT version, model bytes, profiles, build options) and
// the sha256 of its file. No TensorRT or CUDA here; the runtime fills in the GPU and version.
//
// Layout:  <dir>/manifest.json      {"format": "pixart-tensorrt-engine-cache", "version": 1, "entries": [...]}
//          <dir>/<digest>.engine    one per entry (digest = the entry's key hash)
//          <dir>/.lock              flock'ed while the manifest is rewritten
// Writes go to a temporary file that is fsync'ed and renamed over the target, so a crash leaves
// the old manifest/engine or the new one, never half of one.
//
// An engine's *slot* is what it is for (model label, profiles, build options); its *key* adds
// what it was built with (GPU, TensorRT, model hash). lookup() gives
//   hit    an entry with this exact key (file present with the recorded size),
//   stale  an entry in the same slot with another key (TensorRT upgraded, other GPU, the ONNX
//          re-exported): the caller rebuilds and store() replaces it,
//   miss   nothing in the slot.
// A damaged cache is an error, not a silent rebuild: a missing or truncated engine file, a file
// whose sha256 differs from the manifest, or an unreadable manifest throws EngineError(kModelLoad).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pixart::trt {

struct EngineKey {
  // Built with (a change makes an existing engine stale).
  std::string gpu_name;            // e.g. "NVIDIA H100 80GB HBM3"
  std::string compute_capability;  // e.g. "9.0"
  std::string tensorrt_version;    // e.g. "11.1.0" (getInferLibVersion at run time)
  std::string model_hash;          // ExportedModel::model_hash(): the ONNX and data files' sha256
  // Built for (the slot).
  std::string model_label;    // which model, stable across re-exports, e.g. "<export dir>#transformer"
  std::string profiles;       // canonical_set() of the engine's optimisation profiles
  std::string build_options;  // BuildOptions::canonical()

  std::string slot() const;    // sha256 of the slot fields
  std::string digest() const;  // sha256 of every field: the cache key
};

// Builder settings that change the engine (part of the key).
struct BuildOptions {
  int64_t workspace_bytes = 0;  // TensorRT's kWORKSPACE pool limit; 0 leaves TensorRT's default (the device's memory)
  int optimization_level = 3;   // builder optimisation level 0..5; TensorRT's default is 3
  // "opt_level=3;workspace=0"; kInvalidArgument for a negative workspace or a level outside 0..5.
  std::string canonical() const;
};

struct CacheEntry {
  EngineKey key;
  std::string digest;   // key.digest() when the entry was written
  std::string file;     // name inside the cache folder
  uint64_t size = 0;    // bytes
  std::string sha256;   // of the file
  std::string created;  // UTC, ISO 8601
};

enum class CacheStatus { kHit, kMiss, kStale };
const char* cache_status_name(CacheStatus s);  // "hit", "miss", "stale"

struct CacheLookup {
  CacheStatus status = CacheStatus::kMiss;
  CacheEntry entry;         // the entry found (hit or stale)
  std::string engine_path;  // its file (hit)
  std::string reason;       // for stale: which components differ, e.g. "TensorRT 11.0.0 -> 11.1.0"
};

class EngineCache {
 public:
  // Creates the folder if needed and removes temporary files left by crashed writers.
  explicit EngineCache(std::string dir);

  const std::string& dir() const { return dir_; }
  CacheLookup lookup(const EngineKey& key) const;
  // The engine bytes of a hit, checked against the manifest's size and sha256 while reading.
  std::vector<uint8_t> read_engine(const CacheLookup& hit) const;
  // Writes the engine and its entry, replacing (and deleting the file of) any entry in the same
  // slot. Returns the new entry.
  CacheEntry store(const EngineKey& key, const void* data, size_t size);
  // Drops the entry with this digest and its file (no-op if absent): how a caller that chose to
  // rebuild a corrupt engine clears it first.
  void forget(const std::string& digest);
  // Every entry, manifest order (oldest first).
  std::vector<CacheEntry> entries() const;
  std::string manifest_path() const { return dir_ + "/manifest.json"; }

 private:
  std::vector<CacheEntry> read_manifest() const;
  void write_manifest(const std::vector<CacheEntry>& entries) const;
  std::string dir_;
};

// Writes data to path through a temporary file in the same folder: write, fsync, rename, fsync
// the folder. Fails with kInternal naming the path and the system error.
void write_file_atomic(const std::string& path, const void* data, size_t size);

}  // namespace pixart::trt
