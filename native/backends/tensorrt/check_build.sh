#!/usr/bin/env bash
# Proves the TensorRT backend compiles and links without TensorRT installed: configures a build
# folder against TensorRT's public headers, builds libpixart_tensorrt.so, and checks that it
# exports the C interface and does not depend on libnvinfer (which it dlopens at run time).
#
# Headers, first found: $PIXART_TENSORRT_ROOT or $TENSORRT_ROOT (a folder with include/NvInfer.h),
# .cache/tensorrt/include, or include/ extracted from a clone of github.com/NVIDIA/TensorRT given
# as $TENSORRT_GIT (a work tree or a bare repository):
#   git clone --depth 1 https://github.com/NVIDIA/TensorRT /tmp/TensorRT
#   TENSORRT_GIT=/tmp/TensorRT native/backends/tensorrt/check_build.sh
# The headers stay in .cache/ (git-ignored) and are never committed.
#
# Usage: native/backends/tensorrt/check_build.sh [build folder, default build-tensorrt-check]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
build="${1:-$root/build-tensorrt-check}"
trt_root="${PIXART_TENSORRT_ROOT:-${TENSORRT_ROOT:-}}"

if [ -z "$trt_root" ]; then
  trt_root="$root/.cache/tensorrt"
  if [ ! -f "$trt_root/include/NvInfer.h" ]; then
    if [ -z "${TENSORRT_GIT:-}" ]; then
      echo "check_build: no TensorRT headers; set TENSORRT_ROOT=<dir with include/NvInfer.h> or TENSORRT_GIT=<clone of NVIDIA/TensorRT>" >&2
      exit 2
    fi
    gitdir="$TENSORRT_GIT"
    [ -d "$TENSORRT_GIT/.git" ] && gitdir="$TENSORRT_GIT/.git"
    mkdir -p "$trt_root"
    git --git-dir="$gitdir" archive HEAD include | tar -x -C "$trt_root"
    echo "check_build: extracted include/ of $TENSORRT_GIT ($(git --git-dir="$gitdir" log -1 --format='%h %s')) into $trt_root"
  fi
fi
[ -f "$trt_root/include/NvOnnxParser.h" ] || { echo "check_build: $trt_root/include has no NvOnnxParser.h" >&2; exit 2; }
# TensorRT 11 defines NV_TENSORRT_MAJOR through TRT_MAJOR_ENTERPRISE; 10 defines it as a number.
version=$(sed -n 's/^#define TRT_\(MAJOR\|MINOR\|PATCH\)_ENTERPRISE \([0-9][0-9]*\).*/\2/p; s/^#define NV_TENSORRT_\(MAJOR\|MINOR\|PATCH\) \([0-9][0-9]*\).*/\2/p' \
  "$trt_root/include/NvInferVersion.h" | paste -sd.)
echo "check_build: TensorRT headers $version from $trt_root/include"

# CPU-only configure (the CUDA backend is not needed for this library; nvcc's runtime headers are).
cmake -S "$root" -B "$build" -DPIXART_CUDA=OFF -DPIXART_TENSORRT=ON -DPIXART_TENSORRT_ROOT="$trt_root" \
  -UTENSORRT_INCLUDE_DIR | grep -E "TensorRT|CUDA runtime" || true
cmake --build "$build" --target pixart_tensorrt -j"$(nproc)"

lib="$build/libpixart_tensorrt.so"
[ -f "$lib" ] || { echo "check_build: $lib was not produced" >&2; exit 1; }
echo "check_build: built $lib ($(du -h "$lib" | cut -f1))"
exports=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^pixart_trt_' | sort)
echo "check_build: exports:" $exports
for f in abi_version library_version runner_options_init create_runner destroy_runner prepare output_shapes run take_log; do
  echo "$exports" | grep -qx "pixart_trt_$f" || { echo "check_build: pixart_trt_$f is not exported" >&2; exit 1; }
done
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ')
echo "check_build: needs: $needed"
if echo "$needed" | grep -q -e nvinfer -e nvonnxparser -e libcudart; then
  echo "check_build: the library must not link TensorRT or the shared CUDA runtime" >&2
  exit 1
fi
# The C interface through dlopen: without TensorRT installed, the typed "not installed" error.
cmake --build "$build" --target pixart_tensorrt_abi_tests -j"$(nproc)"
(cd "$root" && "$build/pixart_tensorrt_abi_tests")
echo "check_build: OK (compiled and linked against TensorRT $version headers; no engine was built or run)"
