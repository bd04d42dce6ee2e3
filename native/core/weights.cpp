#include "weights.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "json.h"
#include "simdjson.h"
#include "status.h"

namespace fs = std::filesystem;

namespace pixart {

namespace {
bool parse_dtype(std::string_view s, DType* out) {
  static const std::pair<const char*, DType> table[] = {
      {"F32", DType::kF32}, {"F16", DType::kF16}, {"BF16", DType::kBF16}, {"F64", DType::kF64},
      {"I64", DType::kI64}, {"I32", DType::kI32}, {"I16", DType::kI16},   {"I8", DType::kI8},
      {"U8", DType::kU8},   {"BOOL", DType::kBool}};
  for (auto& [name, d] : table) {
    if (s == name) {
      *out = d;
      return true;
    }
  }
  return false;
}

// The largest header we accept; real checkpoints have headers of a few hundred KB.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
}  // namespace

class MappedFile {
 public:
  explicit MappedFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) fail(StatusCode::kModelLoad, path + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st {};
    if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail(StatusCode::kModelLoad, path + ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
      if (p == MAP_FAILED) {
        ::close(fd_);
        fail(StatusCode::kModelLoad, path + ": mmap failed (" + std::strerror(errno) + ")");
      }
      data_ = static_cast<const uint8_t*>(p);
    }
  }
  ~MappedFile() {
    if (data_) munmap(const_cast<uint8_t*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::string path_;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

size_t SafetensorsFile::file_size() const { return mapping_->size(); }

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::make_shared<SafetensorsFile>();
  f->path_ = path;
  f->mapping_ = std::make_shared<MappedFile>(path);
  const size_t size = f->mapping_->size();
  const uint8_t* base = f->mapping_->data();
  if (size < 8) fail(StatusCode::kModelLoad, path + ": truncated safetensors file (" + std::to_string(size) + " bytes)");
  uint64_t n = 0;
  std::memcpy(&n, base, 8);
  if (n > kMaxHeaderBytes) fail(StatusCode::kModelLoad, path + ": header size " + std::to_string(n) + " exceeds the 100 MiB limit");
  if (n > size - 8) fail(StatusCode::kModelLoad, path + ": header size " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) + " bytes): truncated or corrupt");
  const size_t data_start = 8 + n;
  const size_t data_size = size - data_start;

  simdjson::dom::parser parser;
  simdjson::padded_string text(reinterpret_cast<const char*>(base + 8), n);
  simdjson::dom::object root;
  if (parser.parse(text).get_object().get(root)) fail(StatusCode::kModelLoad, path + ": header is not a JSON object");

  struct Range { size_t b, e; std::string name; };
  std::vector<Range> ranges;
  for (auto field : root) {
    std::string name(field.key);
    if (name == "__metadata__") continue;
    auto where = path + ": tensor " + name;
    simdjson::dom::object info;
    if (field.value.get_object().get(info)) fail(StatusCode::kModelLoad, where + ": entry is not an object");
    std::string_view dtype_s;
    simdjson::dom::array shape_a, offs_a;
    if (info["dtype"].get_string().get(dtype_s) || info["shape"].get_array().get(shape_a) ||
        info["data_offsets"].get_array().get(offs_a)) {
      fail(StatusCode::kModelLoad, where + ": entry needs dtype, shape and data_offsets");
    }
    WeightView w;
    w.name = name;
    w.file = path;
    w.mapping = f->mapping_;
    if (!parse_dtype(dtype_s, &w.dtype)) fail(StatusCode::kModelLoad, where + ": unknown dtype " + std::string(dtype_s));
    uint64_t count = 1;
    for (auto d : shape_a) {
      int64_t v;
      if (d.get_int64().get(v) || v < 0 || v > (int64_t(1) << 40)) fail(StatusCode::kModelLoad, where + ": bad shape");
      w.shape.push_back(v);
      if (v != 0 && count > (uint64_t(1) << 62) / uint64_t(v)) fail(StatusCode::kModelLoad, where + ": shape too large");
      count *= uint64_t(v);
    }
    std::vector<uint64_t> offs;
    for (auto d : offs_a) {
      uint64_t v;
      if (d.get_uint64().get(v)) fail(StatusCode::kModelLoad, where + ": bad data_offsets");
      offs.push_back(v);
    }
    if (offs.size() != 2 || offs[0] > offs[1] || offs[1] > data_size) {
      fail(StatusCode::kModelLoad, where + ": data_offsets lie outside the file's data section (truncated or corrupt file)");
    }
    w.bytes = offs[1] - offs[0];
    if (w.bytes != count * dtype_size(w.dtype)) {
      fail(StatusCode::kModelLoad, where + ": " + std::to_string(w.bytes) + " bytes do not hold " + dtype_name(w.dtype) + shape_str(w.shape));
    }
    w.data = base + data_start + offs[0];
    ranges.push_back({offs[0], offs[1], name});
    f->tensors_.emplace(name, std::move(w));
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.b < b.b; });
  for (size_t i = 1; i < ranges.size(); i++) {
    if (ranges[i].b < ranges[i - 1].e) {
      fail(StatusCode::kModelLoad, path + ": tensors " + ranges[i - 1].name + " and " + ranges[i].name + " overlap");
    }
  }
  return f;
}

WeightStore WeightStore::open(const std::string& path) {
  WeightStore store;
  std::string p = path;
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    const char* candidates[] = {"model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json",
                                "model.safetensors", "diffusion_pytorch_model.safetensors"};
    std::string found;
    for (const char* c : candidates) {
      if (fs::exists(fs::path(p) / c, ec)) {
        found = (fs::path(p) / c).string();
        break;
      }
    }
    if (found.empty()) fail(StatusCode::kModelLoad, p + ": no model.safetensors, diffusion_pytorch_model.safetensors or *.safetensors.index.json in this folder");
    p = found;
  }
  store.location_ = p;
  const std::string suffix = ".index.json";
  if (p.size() > suffix.size() && p.compare(p.size() - suffix.size(), suffix.size(), suffix) == 0) {
    JsonConfig index = JsonConfig::load(p);
    auto map = index.get_string_map("weight_map");
    fs::path dir = fs::path(p).parent_path();
    std::map<std::string, std::shared_ptr<SafetensorsFile>> by_file;
    for (auto& [tensor, file] : map) {
      // Judge the path as written: in the Hugging Face cache every file is a symlink into
      // blobs/, so canonical paths always leave the folder; "../" and absolute paths must not.
      fs::path rel = fs::path(file).lexically_normal();
      if (rel.is_absolute() || rel.empty() || *rel.begin() == ".." || file.find('\\') != std::string::npos) {
        fail(StatusCode::kModelLoad, p + ": tensor " + tensor + " points at " + file + ", outside the model folder");
      }
      fs::path target = dir / rel;
      auto& f = by_file[file];
      if (!f) {
        f = SafetensorsFile::open(target.string());
        store.files_.push_back(f);
      }
      auto it = f->tensors().find(tensor);
      if (it == f->tensors().end()) fail(StatusCode::kModelLoad, target.string() + ": tensor " + tensor + " listed in the index is missing from the file");
    }
    for (auto& f : store.files_) {
      for (auto& [name, w] : f->tensors()) store.tensors_[name] = &w;
    }
  } else {
    auto f = SafetensorsFile::open(p);
    store.files_.push_back(f);
    for (auto& [name, w] : f->tensors()) store.tensors_[name] = &w;
  }
  return store;
}

const WeightView& WeightStore::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(StatusCode::kModelLoad, location_ + ": tensor " + name + " is missing");
  return *it->second;
}

const WeightView& WeightStore::require(const std::string& name, const Shape& expected) const {
  const WeightView& w = get(name);
  if (w.shape != expected) {
    fail(StatusCode::kModelLoad, w.file + ": tensor " + name + " has shape " + shape_str(w.shape) + ", the config implies " + shape_str(expected));
  }
  if (w.dtype != DType::kF32 && w.dtype != DType::kF16 && w.dtype != DType::kBF16) {
    fail(StatusCode::kModelLoad, w.file + ": tensor " + name + " has dtype " + dtype_name(w.dtype) + "; weights must be F32, F16 or BF16");
  }
  return w;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (auto& [n, _] : tensors_) out.push_back(n);
  return out;
}

size_t WeightStore::total_bytes() const {
  size_t s = 0;
  for (auto& [_, w] : tensors_) s += w->bytes;
  return s;
}

}  // namespace pixart
