#!/usr/bin/env node
// Prints the OpenBLAS library binding.gyp should link: the static archive when present (so a
// prebuilt addon carries no runtime dependency), else -lopenblas. Exits 1 with a one-line
// message naming the package to install when OpenBLAS is missing.
'use strict';
const fs = require('node:fs');
const what = process.argv[2] || 'lib';
const dirs = ['/usr/lib/x86_64-linux-gnu/openblas-pthread', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
const incs = ['/usr/include/x86_64-linux-gnu/openblas-pthread', '/usr/include/openblas', '/usr/include/x86_64-linux-gnu', '/usr/include', '/usr/local/include'];
if (what === 'include') {
  const inc = incs.find((d) => fs.existsSync(`${d}/cblas.h`));
  if (!inc) {
    console.error('pixart-node: OpenBLAS headers (cblas.h) not found; install them (Debian/Ubuntu: apt-get install libopenblas-dev)');
    process.exit(1);
  }
  process.stdout.write(inc);
} else {
  const stat = dirs.map((d) => `${d}/libopenblas.a`).find((f) => fs.existsSync(f));
  const dyn = dirs.some((d) => fs.existsSync(`${d}/libopenblas.so`));
  if (!stat && !dyn) {
    console.error('pixart-node: OpenBLAS not found; install it (Debian/Ubuntu: apt-get install libopenblas-dev)');
    process.exit(1);
  }
  process.stdout.write(stat ?? '-lopenblas');
}
