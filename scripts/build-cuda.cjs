#!/usr/bin/env node
// Builds the CUDA backend library (and its GPU tests) after the CPU engine and addon. They are
// outside CMake's default target so that a failed CUDA compile never breaks the CPU build:
// here a failure is reported in one line and the build goes on, CPU-only.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const dir = path.resolve(__dirname, '..', 'build-cmake');
const cache = path.join(dir, 'CMakeCache.txt');
if (!fs.existsSync(cache) || !/^CMAKE_CUDA_COMPILER:\w+=.+$/m.test(fs.readFileSync(cache, 'utf8')) ||
    !/^CUBLASLT_LIB:\w+=.*libcublasLt/m.test(fs.readFileSync(cache, 'utf8'))) {
  console.log('pixart-node: CUDA backend not built (nvcc or cuBLAS not found); the CPU engine is complete');
  process.exit(0);
}
const r = spawnSync('cmake', ['--build', dir, '--target', 'pixart_cuda', 'pixart_cuda_tests'], { stdio: 'inherit' });
if (r.status !== 0) {
  console.warn('pixart-node: WARNING: the CUDA backend failed to build (see above); the CPU engine and addon are built and work');
  process.exit(process.env.PIXART_REQUIRE_CUDA === '1' ? 1 : 0);
}
