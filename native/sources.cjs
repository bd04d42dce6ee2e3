#!/usr/bin/env node
// Prints native source lists for the build systems: `node native/sources.cjs <sep> group...`.
// <sep> is "space" (binding.gyp) or "semicolon" (CMake). The special group "simdjson" resolves
// the simdjson amalgamation from node_modules wherever npm placed it.
'use strict';
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const lists = require('./sources.json');
const [sep, ...groups] = process.argv.slice(2);
const out = [];
for (const g of groups) {
  if (g === 'simdjson-dir') {
    out.push(path.join(path.dirname(require.resolve('@nozbe/simdjson/package.json', { paths: [root] })), 'src'));
  } else if (g === 'simdjson') {
    const file = path.join(path.dirname(require.resolve('@nozbe/simdjson/package.json', { paths: [root] })), 'src', 'simdjson.cpp');
    // gyp wants sources relative to binding.gyp (it derives object paths from them)
    out.push(sep === 'semicolon' ? file : path.relative(root, file));
  } else if (g === 'napi-dir') {
    out.push(path.dirname(require.resolve('node-addon-api/package.json', { paths: [root] })));
  } else if (Array.isArray(lists[g])) {
    out.push(...lists[g]);
  } else {
    console.error(`sources.cjs: unknown group ${g}`);
    process.exit(1);
  }
}
process.stdout.write(out.join(sep === 'semicolon' ? ';' : ' '));
