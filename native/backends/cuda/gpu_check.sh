#!/usr/bin/env bash
# GPU check of the CUDA backend, in two halves:
#
#   native/backends/cuda/gpu_check.sh pack   # here (no GPU needed): build, strip and pack the
#                                            # test binary + libpixart_cuda.so into .gpu-check/
#   native/backends/cuda/gpu_check.sh run    # on the GPU machine, from the repository root:
#                                            # unpack, find cuBLASLt, run the conformance tests
#
# The device machine has nvcc, cuBLAS (pip's nvidia-cublas) and a driver, but no node, OpenBLAS
# or doctest, so the tests are built here and carried (about 3.5 MB packed). With the device
# tool: run(command="native/backends/cuda/gpu_check.sh run", carry=[".gpu-check"]).
# The log goes to $OUT/cuda_tests.log when $OUT is set. PIXART_GPU_SANITIZE=1 adds a
# compute-sanitizer memcheck pass over the op tests ($OUT/sanitizer.log).
set -euo pipefail
cd "$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
mode=${1:-}
build=${PIXART_CUDA_BUILD_DIR:-build-cudadev}

case "$mode" in
  pack)
    cublas=${PIXART_CUBLAS_ROOT:-$PWD/.cache/nvidia/nvidia/cu13}
    mkdir -p "$build"
    # Hopper only by default (the device tool lends H100/H200): a third of the library's size.
    (cd "$build" && cmake .. -DPIXART_CUBLAS_ROOT="$cublas" -DPIXART_CUDA_ARCHS="${PIXART_CUDA_ARCHS:-90}" >/dev/null &&
      cmake --build . -j2 --target pixart_cuda_tests pixart_cuda_bench)
    rm -rf .gpu-check && mkdir -p .gpu-check/bin
    cp "$build/pixart_cuda_tests" "$build/pixart_cuda_bench" "$build/libpixart_cuda.so" .gpu-check/bin/
    strip --strip-unneeded .gpu-check/bin/*
    tar -C .gpu-check -cJf .gpu-check/pixart_cuda.tar.xz bin && rm -rf .gpu-check/bin
    grep -qx '/.gpu-check/' .git/info/exclude 2>/dev/null || echo '/.gpu-check/' >> .git/info/exclude
    ls -la .gpu-check/
    ;;
  run)
    out=${OUT:-/tmp/pixart-gpu-check}
    mkdir -p "$out" /tmp/pixart-gpu-check/unpacked
    tar -C /tmp/pixart-gpu-check/unpacked -xJf .gpu-check/pixart_cuda.tar.xz
    bin=/tmp/pixart-gpu-check/unpacked/bin
    # cuBLASLt 13: $PIXART_CUBLAS_LIB, else pip's nvidia-cublas beside the image's python, else a search.
    lt=${PIXART_CUBLAS_LIB:-}
    if [ -z "$lt" ]; then
      lt=$(python3 -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null || true)
    fi
    if [ -z "$lt" ] || [ ! -e "$lt/libcublasLt.so.13" ]; then
      f=$(find /opt /usr /root /work -name 'libcublasLt.so.13*' 2>/dev/null | head -1 || true)
      lt=${f:+$(dirname "$f")}
    fi
    echo "cuBLASLt from: ${lt:-(not found)}"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    export LD_LIBRARY_PATH="$bin:$lt:${LD_LIBRARY_PATH:-}" PIXART_SOURCE_DIR="$PWD"
    status=0
    timeout "${PIXART_GPU_TEST_TIMEOUT:-400}" "$bin/pixart_cuda_tests" -s --duration=true >"$out/cuda_tests.log" 2>&1 || status=$?
    grep -E "ERROR|FAILED|CHECK|rel |test cases|Status|no CUDA|OOM message|pool:|bad device" "$out/cuda_tests.log" || true
    echo "pixart_cuda_tests exit status: $status (full log: $out/cuda_tests.log)"
    # PIXART_GPU_SANITIZE=1: the op tests again under compute-sanitizer memcheck (works on the
    # Firecracker machines, not under gVisor; see the device tool's KINDS.md).
    if [ "${PIXART_GPU_SANITIZE:-0}" = 1 ]; then
      cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
      sstatus=0
      timeout "${PIXART_GPU_SANITIZE_TIMEOUT:-300}" "$cs" --tool memcheck --error-exitcode 9 "$bin/pixart_cuda_tests" \
        -tc='*attention*,*layout*,*norm*,*conv2d*,*activations*,*modulate*,*add*,*state programs*,*crop*,*gather_state_rows*,*recorded steps*' >"$out/sanitizer.log" 2>&1 || sstatus=$?
      tail -n 15 "$out/sanitizer.log"
      echo "compute-sanitizer exit status: $sstatus (log: $out/sanitizer.log)"
      [ "$status" = 0 ] && status=$sstatus
    fi
    exit "$status"
    ;;
  *)
    echo "usage: $0 pack|run" >&2
    exit 2
    ;;
esac
