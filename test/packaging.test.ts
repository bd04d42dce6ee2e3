// The npm package as users get it: `npm pack`, then install that tarball into a fresh folder
// with no compiler on PATH. The prebuilt addon (prebuilds/) must load without compiling and
// run a CPU call; the bin must answer --help.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TINY_MODEL } from './helpers/fixtures.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'pixart-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

describe('packaged tarball', () => {
  it('installs without a compiler and runs the prebuilt addon', () => {
    // The prebuild and dist/ are part of the package; make them if this checkout lacks them.
    if (!existsSync(join(root, 'prebuilds', `${process.platform}-${process.arch}`))) sh('npm', ['run', 'prebuild'], root);
    sh('npm', ['run', 'compile:ts'], root);
    const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', work], root)) as { filename: string; files: { path: string }[] }[];
    const files = packed[0].files.map((f) => f.path);
    expect(files.some((f) => f.startsWith('prebuilds/linux-x64/') && f.endsWith('.node'))).toBe(true);
    expect(files).toContain('binding.gyp');
    expect(files.some((f) => f.startsWith('test/'))).toBe(false);

    // PATH with node and npm only: no cc, c++, make, cmake, python
    const bin = join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh')); // npm runs install scripts through sh
    const npmCli = realpathSync(sh('/bin/sh', ['-c', 'command -v npm'], root).trim());
    writeFileSync(join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
    const env = { ...process.env, PATH: bin, npm_config_build_from_source: '' };
    for (const tool of ['cc', 'gcc', 'g++', 'make', 'cmake', 'python3']) {
      expect(() => execFileSync('/bin/sh', ['-c', `command -v ${tool}`], { env })).toThrow();
    }

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }));
    sh(join(bin, 'npm'), ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed[0].filename)], app, env);
    expect(readdirSync(join(app, 'node_modules', 'pixart-node'))).not.toContain('build');

    writeFileSync(join(app, 'check.mjs'), `
      import { Engine, T5EncoderModel, nativeAddonPath } from 'pixart-node';
      const engine = Engine.create({ threads: 1 });
      const t5 = await T5EncoderModel.fromPretrained(${JSON.stringify(join(TINY_MODEL, 'text_encoder'))}, { engine });
      const out = await t5.encode(new Int32Array([8774, 296, 1]), new Int32Array([1, 1, 1]), 1, 3);
      console.log(JSON.stringify({ path: nativeAddonPath(), shape: out.shape, finite: out.data.every(Number.isFinite) }));
      t5.dispose(); engine.dispose();
    `);
    const res = JSON.parse(sh(join(bin, 'node'), ['check.mjs'], app, env).trim());
    expect(res.path).toContain(join('node_modules', 'pixart-node', 'prebuilds', 'linux-x64'));
    expect(res.shape).toEqual([1, 3, 64]);
    expect(res.finite).toBe(true);

    const help = sh(join(bin, 'node'), [join(app, 'node_modules', '.bin', 'pixart'), 'generate', '--help'], app, env);
    expect(help).toContain('--model');
  }, 600_000);
});
