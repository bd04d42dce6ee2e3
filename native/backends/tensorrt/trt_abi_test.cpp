// The C interface of libpixart_tensorrt.so (trt_abi.h), loaded with dlopen the way the addon
// would. Runs on any machine: where TensorRT is not installed (every machine this project's CI
// has), it checks that the library still loads and that asking for TensorRT gives a typed
// kUnsupported error saying so, and that bad options fail with kInvalidArgument / kModelLoad
// before TensorRT is needed. Where TensorRT is installed it checks the version it reports.
// No engine is built or run here.
#include <doctest/doctest.h>

#include <dlfcn.h>

#include <string>

#include "../../core/status.h"
#include "test_util.h"
#include "trt_abi.h"

using namespace pixart;
using namespace pixart::trt;

namespace {

// The library under test, resolved like the addon resolves GPU backends.
struct Lib {
  void* handle = nullptr;
  int (*abi_version)() = nullptr;
  int (*library_version)(int*, char*, size_t) = nullptr;
  void (*options_init)(PixartTrtRunnerOptions*) = nullptr;
  PixartTrtRunner* (*create)(const PixartTrtRunnerOptions*, int*, char*, size_t) = nullptr;
  void (*destroy)(PixartTrtRunner*) = nullptr;
  size_t (*take_log)(PixartTrtRunner*, char*, size_t) = nullptr;

  Lib() {
    handle = dlopen(PIXART_TENSORRT_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    REQUIRE_MESSAGE(handle, dlerror());
    abi_version = reinterpret_cast<int (*)()>(sym("pixart_trt_abi_version"));
    library_version = reinterpret_cast<int (*)(int*, char*, size_t)>(sym("pixart_trt_library_version"));
    options_init = reinterpret_cast<void (*)(PixartTrtRunnerOptions*)>(sym("pixart_trt_runner_options_init"));
    create = reinterpret_cast<PixartTrtRunner* (*)(const PixartTrtRunnerOptions*, int*, char*, size_t)>(
        sym("pixart_trt_create_runner"));
    destroy = reinterpret_cast<void (*)(PixartTrtRunner*)>(sym("pixart_trt_destroy_runner"));
    take_log = reinterpret_cast<size_t (*)(PixartTrtRunner*, char*, size_t)>(sym("pixart_trt_take_log"));
    for (const char* f : {"pixart_trt_prepare", "pixart_trt_output_shapes", "pixart_trt_run"}) sym(f);
  }
  void* sym(const char* name) {
    void* p = dlsym(handle, name);
    REQUIRE_MESSAGE(p, name);
    return p;
  }
  bool tensorrt_installed() {
    int code = -1;
    char err[2048];
    return library_version(&code, err, sizeof err) > 0;
  }
};

Lib& lib() {
  static Lib l;
  return l;
}

// Creating a runner must fail; returns (code, message).
std::pair<int, std::string> create_fails(const PixartTrtRunnerOptions* o) {
  int code = -1;
  char err[4096] = "";
  PixartTrtRunner* r = lib().create(o, &code, err, sizeof err);
  CHECK(r == nullptr);
  lib().destroy(r);
  return {code, err};
}

}  // namespace

TEST_CASE("trt abi: the library loads without TensorRT and reports its ABI version") {
  CHECK(lib().abi_version() == PIXART_TRT_ABI_VERSION);
  lib().destroy(nullptr);                           // ignored
  CHECK(lib().take_log(nullptr, nullptr, 0) == 0);  // ignored
}

TEST_CASE("trt abi: TensorRT missing is a typed kUnsupported error that says what to install") {
  int code = -1;
  char err[2048] = "";
  const int v = lib().library_version(&code, err, sizeof err);
  if (v > 0) {
    MESSAGE("TensorRT is installed here (version " << v << "): the missing-library checks do not apply");
    CHECK(code == int(StatusCode::kOk));
    CHECK(v / 10000 >= 10);
    return;
  }
  CHECK(v == -1);
  CHECK(code == int(StatusCode::kUnsupported));
  const std::string msg = err;
  INFO(msg);
  CHECK(msg.find("TensorRT is not installed") != std::string::npos);
  CHECK(msg.find("libnvinfer.so.") != std::string::npos);
  CHECK(msg.find("LD_LIBRARY_PATH") != std::string::npos);
  // Asked again, the same answer (the failed load is remembered, not retried half-way).
  code = -1;
  CHECK(lib().library_version(&code, err, sizeof err) == -1);
  CHECK(code == int(StatusCode::kUnsupported));
}

TEST_CASE("trt abi: options are checked before TensorRT is needed") {
  PixartTrtRunnerOptions o;
  lib().options_init(&o);
  CHECK(o.device == 0);
  CHECK(o.optimization_level == 3);
  CHECK(o.workspace_bytes == 0);
  CHECK(o.build_missing == 1);
  CHECK(o.rebuild_corrupt == 0);
  CHECK(o.export_dir == nullptr);

  auto [code, msg] = create_fails(nullptr);
  CHECK(code == int(StatusCode::kInvalidArgument));
  CHECK(msg == "TensorRT runner: no options");

  std::tie(code, msg) = create_fails(&o);
  CHECK(code == int(StatusCode::kInvalidArgument));
  CHECK(msg == "TensorRT runner: export_dir is required");

  test::TempDir dir;
  const std::string profiles = test::source_path("engines/profiles.json");
  o.export_dir = dir.path().c_str();
  o.model_kind = "transformer";
  o.cache_dir = nullptr;
  o.profiles_path = profiles.c_str();
  o.recipe = "1024";
  std::tie(code, msg) = create_fails(&o);
  CHECK(code == int(StatusCode::kInvalidArgument));
  CHECK(msg == "TensorRT runner: cache_dir is required");

  const std::string cache = dir / "engines";
  o.cache_dir = cache.c_str();
  o.optimization_level = 9;
  std::tie(code, msg) = create_fails(&o);
  CHECK(code == int(StatusCode::kInvalidArgument));
  CHECK(msg.find("optimization level 9 is outside 0..5") != std::string::npos);

  o.optimization_level = 3;
  std::tie(code, msg) = create_fails(&o);  // no export.json in the folder
  CHECK(code == int(StatusCode::kModelLoad));
  CHECK(msg.find("export.json: cannot open file") != std::string::npos);
}

TEST_CASE("trt abi: a valid export and recipe get as far as loading TensorRT") {
  if (lib().tensorrt_installed()) {
    MESSAGE("TensorRT is installed here: this case only checks machines without it");
    return;
  }
  test::TempDir dir;
  test::write_file(dir / "transformer.onnx", "placeholder: never parsed, TensorRT is missing");
  test::write_file(dir / "export.json", R"({"format": "pixart-node-onnx", "version": 1, "models": {"transformer": {"file": "transformer.onnx", "dtype": "float16",
    "inputs": [{"name": "hidden_states", "dtype": "float16", "shape": ["batch", 4, "height", "width"]},
               {"name": "timestep", "dtype": "float32", "shape": ["batch"]},
               {"name": "encoder_hidden_states", "dtype": "float16", "shape": ["batch", "sequence", 4096]},
               {"name": "encoder_attention_mask", "dtype": "float32", "shape": ["batch", "sequence"]}],
    "outputs": [{"name": "sample", "dtype": "float16", "shape": ["batch", 8, "height", "width"]}]}}})");
  const std::string profiles = test::source_path("engines/profiles.json"), cache = dir / "engines";
  PixartTrtRunnerOptions o;
  lib().options_init(&o);
  o.export_dir = dir.path().c_str();
  o.model_kind = "transformer";
  o.cache_dir = cache.c_str();
  o.profiles_path = profiles.c_str();
  o.recipe = "1024";
  auto [code, msg] = create_fails(&o);
  CHECK(code == int(StatusCode::kUnsupported));
  CHECK(msg.find("TensorRT is not installed") != std::string::npos);

  o.recipe = "4096";  // an unknown recipe is caught first
  std::tie(code, msg) = create_fails(&o);
  CHECK(code == int(StatusCode::kInvalidArgument));
  CHECK(msg.find("no recipe \"4096\"") != std::string::npos);
}
