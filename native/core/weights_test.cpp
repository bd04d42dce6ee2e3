// Safetensors reader: valid files, sharded indexes, and every kind of corrupt input.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <functional>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/status.h"
#include "core/weights.h"

namespace fs = std::filesystem;
using namespace pixart;

namespace {
fs::path tmpdir() {
  static fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("pixart_weights_test_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

// Writes a safetensors file: an 8-byte little-endian header length, the header, the data.
void write_st(const fs::path& p, const std::string& header, const std::string& data, int64_t force_len = -1) {
  std::ofstream f(p, std::ios::binary);
  uint64_t n = force_len >= 0 ? uint64_t(force_len) : header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header << data;
}

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.begin(), s.size());
  return s;
}

StatusCode code_of(const std::function<void()>& fn) {
  return guarded(fn).code();
}
std::string message_of(const std::function<void()>& fn) { return guarded(fn).message(); }
}  // namespace

TEST_CASE("reads f32, f16 and bf16 tensors") {
  auto p = tmpdir() / "ok.safetensors";
  std::string data = floats({1.f, -2.f, 0.5f, 3.f});
  uint16_t h[2] = {0x3c00, 0xc000};        // 1.0, -2.0 in fp16
  uint16_t bf[2] = {0x3f80, 0x4040};       // 1.0, 3.0 in bf16
  data.append(reinterpret_cast<char*>(h), 4).append(reinterpret_cast<char*>(bf), 4);
  write_st(p,
           R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
           R"("h":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]}})",
           data);
  auto store = WeightStore::open(p.string());
  CHECK(store.names().size() == 3);
  CHECK(store.total_bytes() == 24);
  float out[4];
  convert_to_f32(store.require("a", {2, 2}), out);
  CHECK(out[1] == -2.f);
  convert_to_f32(store.get("h"), out);
  CHECK(out[0] == 1.f);
  CHECK(out[1] == -2.f);
  convert_to_f32(store.get("b"), out);
  CHECK(out[1] == 3.f);
}

TEST_CASE("rejects corrupt, truncated and oversized headers with the file named") {
  auto p = tmpdir() / "bad.safetensors";
  write_st(p, "{", "");
  CHECK(code_of([&] { WeightStore::open(p.string()); }) == StatusCode::kModelLoad);

  write_st(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "", 1000);
  auto m = message_of([&] { WeightStore::open(p.string()); });
  CHECK(m.find("runs past the end") != std::string::npos);
  CHECK(m.find(p.string()) != std::string::npos);

  write_st(p, "{}", "", int64_t(1) << 40);
  CHECK(message_of([&] { WeightStore::open(p.string()); }).find("exceeds") != std::string::npos);

  {
    std::ofstream f(p, std::ios::binary);
    f << "abc";
  }
  CHECK(message_of([&] { WeightStore::open(p.string()); }).find("truncated") != std::string::npos);

  write_st(p, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", floats({1.f, 2.f}));
  CHECK(message_of([&] { WeightStore::open(p.string()); }).find("tensor a") != std::string::npos);

  write_st(p, R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", floats({1.f}));
  CHECK(message_of([&] { WeightStore::open(p.string()); }).find("unknown dtype") != std::string::npos);

  write_st(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
           floats({1.f, 2.f, 3.f}));
  CHECK(message_of([&] { WeightStore::open(p.string()); }).find("overlap") != std::string::npos);

  write_st(p, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floats({1.f, 2.f}));
  CHECK(message_of([&] { WeightStore::open(p.string()); }).find("do not hold") != std::string::npos);
}

TEST_CASE("missing tensors and shape mismatches name the tensor") {
  auto p = tmpdir() / "shape.safetensors";
  write_st(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floats({1.f, 2.f}));
  auto store = WeightStore::open(p.string());
  auto m = message_of([&] { store.get("missing.weight"); });
  CHECK(m.find("missing.weight") != std::string::npos);
  m = message_of([&] { store.require("w", {3}); });
  CHECK(m.find("tensor w has shape [2], the config implies [3]") != std::string::npos);
}

TEST_CASE("sharded index: loads shards, refuses paths outside the folder") {
  auto d = tmpdir() / "sharded";
  fs::create_directories(d);
  write_st(d / "m-1.safetensors", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({7.f}));
  write_st(d / "m-2.safetensors", R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({8.f}));
  {
    std::ofstream f(d / "model.safetensors.index.json");
    f << R"({"metadata":{},"weight_map":{"x":"m-1.safetensors","y":"m-2.safetensors"}})";
  }
  auto store = WeightStore::open(d.string());
  float v;
  convert_to_f32(store.get("y"), &v);
  CHECK(v == 8.f);
  {
    std::ofstream f(d / "model.safetensors.index.json");
    f << R"({"weight_map":{"x":"../../etc/passwd"}})";
  }
  auto m = message_of([&] { WeightStore::open(d.string()); });
  CHECK(m.find("outside the model folder") != std::string::npos);
  {
    std::ofstream f(d / "model.safetensors.index.json");
    f << R"({"weight_map":{"z":"m-1.safetensors"}})";
  }
  CHECK(message_of([&] { WeightStore::open(d.string()); }).find("tensor z") != std::string::npos);
}

TEST_CASE("sharded index through symlinks (the Hugging Face cache layout) loads") {
  auto blobs = tmpdir() / "cache" / "blobs";
  auto snap = tmpdir() / "cache" / "snapshots" / "abc" / "text_encoder";
  fs::create_directories(blobs);
  fs::create_directories(snap);
  write_st(blobs / "sha-1", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({3.f}));
  {
    std::ofstream f(blobs / "sha-idx");
    f << R"({"weight_map":{"x":"m-1.safetensors"}})";
  }
  fs::remove(snap / "m-1.safetensors");
  fs::remove(snap / "model.safetensors.index.json");
  fs::create_symlink("../../../blobs/sha-1", snap / "m-1.safetensors");
  fs::create_symlink("../../../blobs/sha-idx", snap / "model.safetensors.index.json");
  auto store = WeightStore::open(snap.string());
  float v;
  convert_to_f32(store.get("x"), &v);
  CHECK(v == 3.f);
}

TEST_CASE("empty folder says which files it looked for") {
  auto d = tmpdir() / "empty";
  fs::create_directories(d);
  CHECK(message_of([&] { WeightStore::open(d.string()); }).find("diffusion_pytorch_model.safetensors") != std::string::npos);
}
