#!/usr/bin/env bash
# The whole GPU session in one command, for the device tool (a GPU machine with PyTorch and
# CUDA 13, no node, no internet). Prepare here first:
#
#   native/backends/cuda/gpu_check.sh pack     # test + bench binaries and libpixart_cuda.so -> .gpu-check/
#   tar -C bench/.diffusers -cJf .gpu-check/diffusers.tar.xz --exclude=__pycache__ diffusers
#   bench/gpu/pack_node.sh                      # node + the bundled TS pipeline + the addon (step 5)
#
# then: run(command="bash bench/gpu/run.sh", carry=[".gpu-check"], timeout_s=...).
# Steps (each with its own time limit, each logged under $OUT even if a later one fails):
#   1. diffusers: a random full-size PixArt-XL-2-1024-MS transformer saved as a diffusers folder,
#      inputs, fp32 reference outputs, fp16 SDPA timings (bench/gpu/dit_reference.py)
#   2. the CUDA conformance tests (ops and tiny fixture models vs the CPU backend)
#   4. a random full-size T5-XXL and VAE with fp32 references, and diffusers' whole pipeline
#      timed (bench/gpu/models_reference.py)
#   3. pixart_cuda_bench on the same weights: micro (ops), bench (forward, 20-step loop), check
#      (CPU fp32 vs diffusers fp32; CUDA f16/bf16/f32 vs CPU fp32), t5 (bf16/int8/int4 vs fp32),
#      vae (f16/bf16/f32 decode vs fp32, PSNR), memory (device peak of a 1024x1024 generation),
#      graph (the 20-step device loop with the step as a CUDA graph vs plain, 1024/512/256: times, bits)
#   5. the TypeScript pipeline through N-API on the same weights (bench/gpu/pipeline_gpu.ts):
#      fixture cases, async behaviour, end-to-end timings and memory, the low-memory workflow
# Steps run in the order PIXART_GPU_STEPS lists them (default 1,4,2,3,5); PIXART_GPU_SECTIONS picks
# pixart_cuda_bench's sections.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/pixart-gpu-out}
mkdir -p "$out"
steps=${PIXART_GPU_STEPS:-1,4,2,3,5}
work=/tmp/pixart-gpu-work
mkdir -p "$work/site" "$work/bin"
t_start=$(date +%s)
stamp() { echo "== $(($(date +%s) - t_start)) s: $*"; }

stamp "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 | tee "$out/gpu.txt"
echo "nproc $(nproc); python $(python3 --version 2>&1); node: $(command -v node || echo none)" | tee -a "$out/gpu.txt"

tar -C "$work" -xJf .gpu-check/pixart_cuda.tar.xz && tar -C "$work/site" -xJf .gpu-check/diffusers.tar.xz || { echo "unpack failed"; exit 1; }
lt=$(python3 -c 'import nvidia.cu13, os; print(os.path.join(nvidia.cu13.__path__[0], "lib"))' 2>/dev/null || true)
[ -e "$lt/libcublasLt.so.13" ] || lt=$(dirname "$(find /opt /usr /root /home -name 'libcublasLt.so.13*' 2>/dev/null | head -1)")
echo "cuBLASLt from: $lt"
# cuDNN (optional; the CUDA backend dlopens libcudnn.so.9 for its f16/bf16 convolutions): PyTorch's.
dnn=$(python3 -c 'import nvidia.cudnn, os; print(os.path.join(nvidia.cudnn.__path__[0], "lib"))' 2>/dev/null || true)
echo "cuDNN from: ${dnn:-(none)}"
export LD_LIBRARY_PATH="$work/bin:$lt${dnn:+:$dnn}:${LD_LIBRARY_PATH:-}" PIXART_SOURCE_DIR="$PWD" PYTHONUNBUFFERED=1 PIXART_CUDA_VERBOSE=1

model_cfg=test/fixtures/configs/PixArt-XL-2-1024-MS
status=0
step_1() {
  stamp "1. diffusers reference and timings"
  PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}" timeout "${PIXART_GPU_T1:-150}" python3 bench/gpu/dit_reference.py \
    --config $model_cfg/transformer/config.json --scheduler $model_cfg/scheduler/scheduler_config.json \
    --work "$work" --sections "${PIXART_GPU_PY_SECTIONS:-save,ref,bench,micro}" \
    > "$out/diffusers.jsonl" 2> "$out/diffusers.err" || { status=1; echo "step 1 failed:"; tail -20 "$out/diffusers.err"; }
  cat "$out/diffusers.jsonl"
}
step_4() {
  stamp "4. T5-XXL and VAE references, diffusers' whole pipeline"
  PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}" timeout "${PIXART_GPU_T4:-200}" python3 bench/gpu/models_reference.py \
    --configs $model_cfg --tokenizer test/fixtures/pixart-tiny/tokenizer --work "$work" \
    --sections "${PIXART_GPU_MODELS_SECTIONS:-t5,vae,pipeline}" \
    > "$out/models.jsonl" 2> "$out/models.err" || { status=1; echo "step 4 failed:"; tail -20 "$out/models.err"; }
  cat "$out/models.jsonl"
}
step_2() {
  stamp "2. CUDA conformance tests"
  timeout "${PIXART_GPU_T2:-100}" "$work/bin/pixart_cuda_tests" -s --duration=true > "$out/cuda_tests.log" 2>&1 || status=1
  grep -E "ERROR|FAILED|test cases|Status|no CUDA" "$out/cuda_tests.log" | tail -n 40
}
step_3() {
  stamp "3. pixart_cuda_bench"
  : > "$out/ours.jsonl"
  for sec in $(echo "${PIXART_GPU_SECTIONS:-micro,bench,graph,check,t5,vae,memory}" | tr , ' '); do  # one process each: a fault stays in its section
    timeout "${PIXART_GPU_T3:-90}" "$work/bin/pixart_cuda_bench" --model "$work/transformer" --inputs "$work/inputs" \
      --t5 "$work/text_encoder" --t5-inputs "$work/t5_inputs" --vae "$work/vae" --vae-inputs "$work/vae_inputs" \
      --threads "$(nproc)" --no-cpu "${PIXART_GPU_NO_CPU:-0}" --sections "$sec" >> "$out/ours.jsonl" 2>> "$out/ours.err" || { rc=$?; status=1; echo "section $sec: exit $rc"; }
  done
  cat "$out/ours.jsonl"
  tail -5 "$out/ours.err"
}
step_5() {
  stamp "5. the TypeScript pipeline through N-API (node)"
  pipe="$work/pipeline"
  mkdir -p "$work/node" "$pipe"
  if tar -C "$work/node" -xJf .gpu-check/node.tar.xz && cp "$work/bin/libpixart_cuda.so" "$work/node/pkg/build-cmake/Release/"; then
    # A diffusers folder: the random weights saved by steps 1 and 4, the real configs, the T5 tokenizer.
    cp "$model_cfg/model_index.json" "$pipe/"
    ln -sfn "$PWD/$model_cfg/scheduler" "$pipe/scheduler"
    ln -sfn "$PWD/test/fixtures/pixart-tiny/tokenizer" "$pipe/tokenizer"
    for c in transformer text_encoder vae; do ln -sfn "$work/$c" "$pipe/$c"; done
    timeout "${PIXART_GPU_T5:-300}" "$work/node/bin/node" "$work/node/pkg/dist/gpu/pipeline_gpu.mjs" --pipeline "$pipe" \
      --tiny "$PWD/test/fixtures/pixart-tiny" --sections "${PIXART_NODE_SECTIONS:-tiny,async,e2e,engineloop,lowmem}" \
      > "$out/node.jsonl" 2> "$out/node.err" || { status=1; echo "step 5 failed"; }
    cat "$out/node.jsonl"
    tail -5 "$out/node.err"
  else
    status=1
    echo "step 5: unpack failed"
  fi
}
for s in ${steps//,/ }; do
  if declare -F "step_$s" >/dev/null; then "step_$s"; else echo "no step $s"; status=1; fi
done
stamp "done, status $status"
exit $status
