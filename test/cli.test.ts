// The `pixart` CLI, run in-process through main(): output files and exit codes.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { EXIT, main } from '../lib/cli/main.js';
import { PixArtAlphaPipeline } from '../lib/pipeline/PixArtAlphaPipeline.js';
import { DPMSolverMultistepScheduler } from '../lib/schedulers/index.js';
import { TINY_MODEL } from './helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'pixart-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...args: string[]) {
  const out: string[] = [], err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const code = await main(['node', 'pixart', ...args]);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('pixart generate', () => {
  it('writes a PNG and exits 0', async () => {
    const file = join(dir, 'cactus.png');
    const r = await cli('generate', 'A small cactus', '--model', TINY_MODEL, '--out', file, '-W', '64', '-H', '64',
      '--no-binning', '--steps', '3', '--seed', '7', '--threads', '2', '--quiet');
    expect(r.err).toBe('');
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain('(64x64)');
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
  });

  it('numbers several images and honours --scheduler', async () => {
    const file = join(dir, 'many.webp');
    const r = await cli('generate', 'two cats', '--model', TINY_MODEL, '--out', file, '-W', '64', '-H', '64', '--no-binning',
      '--steps', '2', '--num-images', '2', '--scheduler', 'euler_a', '--seed', '1', '--quiet');
    expect(r.code).toBe(EXIT.ok);
    expect(existsSync(join(dir, 'many-1.webp')) && existsSync(join(dir, 'many-2.webp'))).toBe(true);
  });

  it('--t5-quant int8 generates; an unknown mode is a usage error', async () => {
    const file = join(dir, 'quant.png');
    const r = await cli('generate', 'A small cactus', '--model', TINY_MODEL, '--out', file, '-W', '64', '-H', '64',
      '--no-binning', '--steps', '2', '--seed', '7', '--t5-quant', 'int8', '--quiet');
    expect(r.code).toBe(EXIT.ok);
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
    expect((await cli('generate', 'x', '--model', TINY_MODEL, '--t5-quant', 'int2', '--quiet')).code).toBe(EXIT.usage);
  });

  it('--record-steps and --empty-cache-between-phases give the same image', async () => {
    const args = ['--model', TINY_MODEL, '-W', '64', '-H', '64', '--no-binning', '--steps', '3', '--seed', '7', '--quiet'];
    const plain = join(dir, 'plain.png'), rec = join(dir, 'rec.png');
    expect((await cli('generate', 'A small cactus', ...args, '--out', plain)).code).toBe(EXIT.ok);
    const seen: [boolean, boolean][] = [];
    const orig = PixArtAlphaPipeline.prototype.generate;
    const spy = vi.spyOn(PixArtAlphaPipeline.prototype, 'generate').mockImplementation(function (this: PixArtAlphaPipeline, o) {
      seen.push([this.recordSteps, this.emptyCacheBetweenPhases]);
      return orig.call(this, o);
    });
    try {
      expect((await cli('generate', 'A small cactus', ...args, '--out', rec, '--record-steps', '--empty-cache-between-phases')).code).toBe(EXIT.ok);
    } finally {
      spy.mockRestore();
    }
    expect(seen).toEqual([[true, true]]);
    expect(Buffer.compare(readFileSync(rec), readFileSync(plain))).toBe(0);
  });

  it('warns when the image is not finite (a diverging scheduler) and still writes it', async () => {
    const file = join(dir, 'nan.png');
    const orig = PixArtAlphaPipeline.prototype.generate;
    const spy = vi.spyOn(PixArtAlphaPipeline.prototype, 'generate').mockImplementation(function (this: PixArtAlphaPipeline, o) {
      return orig.call(this, { ...o, scheduler: new DPMSolverMultistepScheduler({ beta_end: 0.5 }) });
    });
    try {
      const r = await cli('generate', 'A small cactus', '--model', TINY_MODEL, '--out', file, '-W', '64', '-H', '64',
        '--no-binning', '--steps', '2', '--seed', '7', '--quiet');
      expect(r.code).toBe(EXIT.ok);
      expect(r.err).toContain('warning: the decoded image holds NaN/Infinity values');
      expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
    } finally {
      spy.mockRestore();
    }
  });

  it('exit codes: usage 2, model 3, device 4', async () => {
    expect((await cli('generate', 'x')).code).toBe(EXIT.usage); // --model missing
    expect((await cli('generate', 'x', '--model', TINY_MODEL, '--steps', 'abc')).code).toBe(EXIT.usage);
    const bad = await cli('generate', 'x', '--model', TINY_MODEL, '-W', '72', '-H', '64', '--no-binning', '--quiet');
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toContain('multiples of 16');
    expect((await cli('generate', 'x', '--model', join(dir, 'nope'), '--quiet')).code).toBe(EXIT.modelLoad);
    const gpu = await cli('generate', 'x', '--model', TINY_MODEL, '--device', 'cuda', '--quiet');
    expect(gpu.code).toBe(EXIT.noDevice);
    expect(gpu.err).toMatch(/ERR_PIXART_(NO_DEVICE|UNSUPPORTED)/);
  });

  it('--help exits 0', async () => {
    const r = await cli('generate', '--help');
    expect(r.code).toBe(EXIT.ok);
    expect(r.out + r.err).toContain('--negative-prompt');
  });
});
