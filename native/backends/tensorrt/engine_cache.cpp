#include "engine_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <memory>

#include "../../core/status.h"
#include "json_util.h"
#include "sha256.h"

namespace pixart::trt {
namespace {

constexpr const char* kFormat = "pixart-tensorrt-engine-cache";
constexpr int64_t kVersion = 1;
constexpr const char* kTmpMarker = ".tmp.";

[[noreturn]] void sys_fail(const std::string& what) {
  fail(StatusCode::kInternal, what + ": " + std::strerror(errno));
}

std::string field_text(const EngineKey& k, bool with_environment) {
  // Each value JSON-quoted on its own named line, so no value can pass for another field.
  std::string s = "label=" + json_quote(k.model_label) + "\nprofiles=" + json_quote(k.profiles) +
                  "\noptions=" + json_quote(k.build_options) + "\n";
  if (with_environment) {
    s += "gpu=" + json_quote(k.gpu_name) + "\ncc=" + json_quote(k.compute_capability) +
         "\ntensorrt=" + json_quote(k.tensorrt_version) + "\nmodel=" + json_quote(k.model_hash) + "\n";
  }
  return s;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string short_hash(const std::string& h) { return h.substr(0, 12); }

// Holds an exclusive flock on <dir>/.lock: one writer of the manifest at a time, across processes.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    const std::string p = dir + "/.lock";
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) sys_fail("engine cache: cannot open " + p);
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        sys_fail("engine cache: cannot lock " + p);
      }
    }
  }
  ~DirLock() { ::close(fd_); }  // closing releases the lock
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

void make_dirs(const std::string& dir) {
  for (size_t at = 1; at <= dir.size(); at++) {
    if (at != dir.size() && dir[at] != '/') continue;
    const std::string part = dir.substr(0, at);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) sys_fail("engine cache: cannot create " + part);
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fail(StatusCode::kInvalidArgument, "engine cache: " + dir + " is not a folder");
  }
}

[[noreturn]] void corrupt(const EngineCache& c, const CacheEntry& e, const std::string& what) {
  fail(StatusCode::kModelLoad, "engine cache " + c.dir() + ": engine " + e.file + " (" + e.key.model_label + ", built " +
                                   e.created + ") " + what +
                                   "; it is not rebuilt on its own: delete the file and its manifest entry "
                                   "(or the whole folder), or ask the runner to rebuild corrupt engines");
}

}  // namespace

std::string BuildOptions::canonical() const {
  if (workspace_bytes < 0) fail(StatusCode::kInvalidArgument, "TensorRT build options: negative workspace size");
  if (optimization_level < 0 || optimization_level > 5) {
    fail(StatusCode::kInvalidArgument, "TensorRT build options: optimization level " +
                                           std::to_string(optimization_level) + " is outside 0..5");
  }
  return "opt_level=" + std::to_string(optimization_level) + ";workspace=" + std::to_string(workspace_bytes);
}

std::string EngineKey::slot() const { return sha256_hex(field_text(*this, false)); }
std::string EngineKey::digest() const { return sha256_hex(field_text(*this, true)); }

const char* cache_status_name(CacheStatus s) {
  switch (s) {
    case CacheStatus::kHit: return "hit";
    case CacheStatus::kMiss: return "miss";
    case CacheStatus::kStale: return "stale";
  }
  return "?";
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + kTmpMarker + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) sys_fail("cannot create " + tmp);
  const auto* p = static_cast<const uint8_t*>(data);
  size_t left = size;
  while (left) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      errno = e;
      sys_fail("cannot write " + tmp);
    }
    p += n, left -= size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    sys_fail("cannot flush " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    errno = e;
    sys_fail("cannot rename " + tmp + " to " + path);
  }
  // The rename itself must reach the disk too.
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

EngineCache::EngineCache(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  if (dir_.empty()) fail(StatusCode::kInvalidArgument, "engine cache: empty folder name");
  make_dirs(dir_);
  // Temporary files of writers that died mid-write: "<name>.tmp.<pid>.<n>" whose pid is gone.
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir_.c_str()), ::closedir);
  if (!d) sys_fail("engine cache: cannot list " + dir_);
  std::vector<std::string> dead;
  while (const dirent* e = ::readdir(d.get())) {
    const std::string name = e->d_name;
    const size_t at = name.rfind(kTmpMarker);
    if (at == std::string::npos) continue;
    const long pid = std::strtol(name.c_str() + at + std::strlen(kTmpMarker), nullptr, 10);
    if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) dead.push_back(dir_ + "/" + name);
  }
  for (const std::string& p : dead) ::unlink(p.c_str());
}

std::vector<CacheEntry> EngineCache::read_manifest() const {
  struct stat st;
  if (::stat(manifest_path().c_str(), &st) != 0 && errno == ENOENT) return {};
  const auto doc = JsonDoc::load(manifest_path(), StatusCode::kModelLoad);
  const JsonNode root = doc->root();
  if (root.at("format").str() != kFormat) root.at("format").bad(std::string("not ") + kFormat);
  if (root.at("version").i64() != kVersion) {
    root.at("version").bad("version " + std::to_string(root.at("version").i64()) + " is not " +
                           std::to_string(kVersion) + " (written by another pixart-node; use another cache folder)");
  }
  std::vector<CacheEntry> out;
  for (const JsonNode& n : root.at("entries").items()) {
    CacheEntry e;
    e.digest = n.at("digest").str();
    e.file = n.at("file").str();
    if (e.file.empty() || e.file.find('/') != std::string::npos) n.at("file").bad("not a file name in the cache folder");
    const int64_t size = n.at("size").i64();
    if (size < 0) n.at("size").bad("negative size");
    e.size = uint64_t(size);
    e.sha256 = n.at("sha256").str();
    if (!is_sha256_hex(e.sha256)) n.at("sha256").bad("not a sha256");
    e.created = n.at("created").str();
    e.key.gpu_name = n.at("gpu").str();
    e.key.compute_capability = n.at("compute_capability").str();
    e.key.tensorrt_version = n.at("tensorrt").str();
    e.key.model_hash = n.at("model_hash").str();
    e.key.model_label = n.at("model_label").str();
    e.key.profiles = n.at("profiles").str();
    e.key.build_options = n.at("build_options").str();
    if (e.key.digest() != e.digest) n.at("digest").bad("does not match the entry's fields (the manifest was edited)");
    out.push_back(std::move(e));
  }
  return out;
}

void EngineCache::write_manifest(const std::vector<CacheEntry>& entries) const {
  std::string s = "{\n  \"format\": " + json_quote(kFormat) + ",\n  \"version\": " + std::to_string(kVersion) +
                  ",\n  \"entries\": [";
  for (size_t i = 0; i < entries.size(); i++) {
    const CacheEntry& e = entries[i];
    s += std::string(i ? "," : "") + "\n    {\n";
    const std::pair<const char*, std::string> fields[] = {
        {"digest", e.digest},
        {"file", e.file},
        {"sha256", e.sha256},
        {"created", e.created},
        {"gpu", e.key.gpu_name},
        {"compute_capability", e.key.compute_capability},
        {"tensorrt", e.key.tensorrt_version},
        {"model_label", e.key.model_label},
        {"model_hash", e.key.model_hash},
        {"profiles", e.key.profiles},
        {"build_options", e.key.build_options}};
    for (const auto& [k, v] : fields) s += "      " + json_quote(k) + ": " + json_quote(v) + ",\n";
    s += "      \"size\": " + std::to_string(e.size) + "\n    }";
  }
  s += entries.empty() ? "]\n}\n" : "\n  ]\n}\n";
  write_file_atomic(manifest_path(), s.data(), s.size());
}

std::vector<CacheEntry> EngineCache::entries() const { return read_manifest(); }

CacheLookup EngineCache::lookup(const EngineKey& key) const {
  const std::vector<CacheEntry> all = read_manifest();
  const std::string digest = key.digest();
  CacheLookup r;
  for (const CacheEntry& e : all) {
    if (e.digest != digest) continue;
    r.status = CacheStatus::kHit;
    r.entry = e;
    r.engine_path = dir_ + "/" + e.file;
    struct stat st;
    if (::stat(r.engine_path.c_str(), &st) != 0) corrupt(*this, e, "is missing");
    if (uint64_t(st.st_size) != e.size) {
      corrupt(*this, e, "has " + std::to_string(st.st_size) + " bytes, the manifest recorded " + std::to_string(e.size) +
                            (uint64_t(st.st_size) < e.size ? " (truncated)" : ""));
    }
    return r;
  }
  const std::string slot = key.slot();
  for (const CacheEntry& e : all) {
    if (e.key.slot() != slot) continue;
    r.status = CacheStatus::kStale;
    r.entry = e;
    const EngineKey& o = e.key;
    auto add = [&](const std::string& what) { r.reason += (r.reason.empty() ? "" : ", ") + what; };
    if (o.gpu_name != key.gpu_name || o.compute_capability != key.compute_capability) {
      add("GPU " + o.gpu_name + " (" + o.compute_capability + ") -> " + key.gpu_name + " (" + key.compute_capability + ")");
    }
    if (o.tensorrt_version != key.tensorrt_version) add("TensorRT " + o.tensorrt_version + " -> " + key.tensorrt_version);
    if (o.model_hash != key.model_hash) {
      add("model hash " + short_hash(o.model_hash) + " -> " + short_hash(key.model_hash) + " (the ONNX changed)");
    }
    return r;
  }
  return r;
}

std::vector<uint8_t> EngineCache::read_engine(const CacheLookup& hit) const {
  if (hit.status != CacheStatus::kHit) fail(StatusCode::kInvalidArgument, "engine cache: read_engine needs a hit");
  const CacheEntry& e = hit.entry;
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(hit.engine_path.c_str(), "rb"), std::fclose);
  if (!f) corrupt(*this, e, "cannot be opened");
  std::vector<uint8_t> bytes(e.size);
  Sha256 h;
  const size_t chunk = 64 << 20;  // hash while reading, 64 MiB at a time
  size_t got = 0;
  while (got < bytes.size()) {
    const size_t n = std::fread(bytes.data() + got, 1, std::min(chunk, bytes.size() - got), f.get());
    if (n == 0) break;
    h.update(bytes.data() + got, n);
    got += n;
  }
  if (got != bytes.size()) corrupt(*this, e, "ended after " + std::to_string(got) + " of " + std::to_string(e.size) + " bytes");
  if (std::fgetc(f.get()) != EOF) corrupt(*this, e, "is longer than the manifest's " + std::to_string(e.size) + " bytes");
  const std::string actual = h.finish_hex();
  if (actual != e.sha256) corrupt(*this, e, "has sha256 " + actual + ", the manifest recorded " + e.sha256);
  return bytes;
}

CacheEntry EngineCache::store(const EngineKey& key, const void* data, size_t size) {
  CacheEntry e;
  e.key = key;
  e.digest = key.digest();
  e.file = e.digest + ".engine";
  e.size = size;
  e.sha256 = sha256_hex(data, size);
  e.created = utc_now();
  const DirLock lock(dir_);
  write_file_atomic(dir_ + "/" + e.file, data, size);
  std::vector<CacheEntry> keep, drop;
  const std::string slot = key.slot();
  for (CacheEntry& old : read_manifest()) (old.key.slot() == slot || old.digest == e.digest ? drop : keep).push_back(old);
  keep.push_back(e);
  write_manifest(keep);
  for (const CacheEntry& old : drop)
    if (old.file != e.file) ::unlink((dir_ + "/" + old.file).c_str());
  return e;
}

void EngineCache::forget(const std::string& digest) {
  const DirLock lock(dir_);
  std::vector<CacheEntry> keep;
  std::string file;
  for (CacheEntry& e : read_manifest()) {
    if (e.digest == digest) {
      file = e.file;
    } else {
      keep.push_back(e);
    }
  }
  if (file.empty()) return;
  write_manifest(keep);
  ::unlink((dir_ + "/" + file).c_str());
}

}  // namespace pixart::trt
