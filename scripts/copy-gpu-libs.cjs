#!/usr/bin/env node
// After prebuildify: puts the CUDA backend library (built by cmake-js into build-cmake/Release)
// next to the prebuilt addon, where the addon looks for it at run time.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const lib = path.join(root, 'build-cmake', 'Release', 'libpixart_cuda.so');
const dest = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (!fs.existsSync(lib)) {
  console.log('copy-gpu-libs: no CUDA backend library was built; the prebuild is CPU-only');
  process.exit(0);
}
fs.mkdirSync(dest, { recursive: true });
fs.copyFileSync(lib, path.join(dest, 'libpixart_cuda.so'));
console.log(`copy-gpu-libs: ${path.relative(root, lib)} -> ${path.relative(root, dest)}/`);
