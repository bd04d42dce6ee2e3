#!/usr/bin/env bash
# Packs the TypeScript pipeline for the GPU machine (which has no node and no npm registry):
# bench/gpu/pipeline_gpu.ts bundled with lib/ by esbuild (sharp stubbed: raw RGB only), the
# addon from build-cmake (stripped) and this machine's node binary, into
# .gpu-check/node.tar.xz. bench/gpu/run.sh step 5 unpacks it and puts libpixart_cuda.so from
# .gpu-check/pixart_cuda.tar.xz next to the addon. Run after `npm run compile:native` and
# native/backends/cuda/gpu_check.sh pack (which empties .gpu-check).
set -euo pipefail
cd "$(dirname "$0")/../.."
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/pkg/dist/gpu" "$stage/pkg/build-cmake/Release" "$stage/bin"
npx esbuild bench/gpu/pipeline_gpu.ts --bundle --platform=node --format=esm --target=node20 \
  --alias:sharp=./bench/gpu/no-sharp.ts --outfile="$stage/pkg/dist/gpu/pipeline_gpu.mjs" --log-level=warning
cp build-cmake/Release/pixart.node "$stage/pkg/build-cmake/Release/"
strip --strip-unneeded "$stage/pkg/build-cmake/Release/pixart.node"
cp "$(command -v node)" "$stage/bin/node"
mkdir -p .gpu-check
tar -C "$stage" -cf - pkg bin | xz -T2 -6 > "${PIXART_NODE_PACK:-.gpu-check/node.tar.xz}"
ls -la .gpu-check/
