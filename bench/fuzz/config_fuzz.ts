// Config and checkpoint fuzzing of the whole stack (TS config reading -> N-API -> engine): each
// case copies the tiny fixture pipeline with one mutation (a config value, a safetensors header
// byte, a truncated shard, an index entry), loads it and generates 2 steps. Every case must end
// in a result or a typed PixArtError (code ERR_PIXART_*); anything else is a defect, and so is
// a crash (the log names the last case started). Run it under the sanitizers by building the
// addon with -fsanitize=address,undefined (see bench/fuzz/README.md).
//
//   npx tsx bench/fuzz/config_fuzz.ts [--seed 1] [--bytes 300] [--only transformer,vae,text_encoder,scheduler]
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, readdirSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import JSON5 from 'json5';
import { Engine } from '../../lib/engine/Engine.js';
import { PixArtAlphaPipeline } from '../../lib/pipeline/PixArtAlphaPipeline.js';

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    bytes: { type: 'string', default: '300' },
    only: { type: 'string', default: 'transformer,vae,text_encoder,scheduler,weights' },
    from: { type: 'string', default: '1' },
  },
});
const TINY = resolve(import.meta.dirname, '../../test/fixtures/pixart-tiny');
const only = new Set(args.only!.split(','));
let rng = Number(args.seed) >>> 0 || 1;
const rand = (n: number) => {
  rng ^= rng << 13; rng >>>= 0; rng ^= rng >>> 17; rng ^= rng << 5; rng >>>= 0;
  return rng % n;
};

type Json = Record<string, unknown>;
const VALUES: unknown[] = [0, -1, 1, 2, 3, 5, 7, 8, 16, 33, 1e9, 2 ** 31, 2 ** 53, -(2 ** 31), 0.5, 1.5, 1e-30,
  1e308, 'x', '', null, true, false, [], {}, [1], [0, 0], [-1, 2]];

interface Case { name: string; mutate: (dir: string) => void }
const cases: Case[] = [];

function configCases(component: string, file: string) {
  const base = JSON5.parse(readFileSync(join(TINY, component, file), 'utf8')) as Json;
  for (const key of Object.keys(base)) {
    if (key.startsWith('_')) continue;
    const orig = base[key];
    const values: unknown[] = [...VALUES, undefined];
    if (Array.isArray(orig)) {
      values.push(orig.slice(1), [...orig, orig[orig.length - 1]], orig.map(() => 0), orig.map((v) => (typeof v === 'number' ? v + 1 : v)));
    }
    for (const v of values) {
      cases.push({
        name: `${component}/${file} ${key}=${v === undefined ? '(absent)' : JSON.stringify(v)}`,
        mutate: (dir) => {
          const c = { ...base };
          if (v === undefined) delete c[key]; else c[key] = v;
          writeFileSync(join(dir, component, file), JSON5.stringify(c, null, 1));
        },
      });
    }
  }
}
if (only.has('transformer')) configCases('transformer', 'config.json');
if (only.has('vae')) configCases('vae', 'config.json');
if (only.has('text_encoder')) configCases('text_encoder', 'config.json');
if (only.has('scheduler')) configCases('scheduler', 'scheduler_config.json');

if (only.has('weights')) {
  const files = ['transformer/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.safetensors',
    'text_encoder/model-00001-of-00002.safetensors', 'text_encoder/model-00002-of-00002.safetensors'];
  for (let i = 0; i < Number(args.bytes); i++) {
    const f = files[i % files.length];
    const buf = readFileSync(join(TINY, f));
    const hlen = Number(buf.readBigUInt64LE(0));
    const kind = rand(4);
    const pos = kind === 0 ? rand(8) : 8 + rand(hlen);
    const val = kind === 1 ? '"{}[],:0123456789e-.'.charCodeAt(rand(20)) : rand(256);
    cases.push({
      name: `${f} byte ${pos} = ${val}`,
      mutate: (dir) => {
        const b = Buffer.from(buf);
        b[pos] = val;
        writeFileSync(join(dir, f), b);
      },
    });
  }
  for (const f of files) {
    const size = statSync(join(TINY, f)).size;
    for (const cut of [0, 7, 8, 9, 100, Math.floor(size / 2), size - 1]) {
      cases.push({ name: `${f} truncated to ${cut}`, mutate: (dir) => { cpSync(join(TINY, f), join(dir, f)); truncateSync(join(dir, f), cut); } });
    }
  }
  const idx = JSON.parse(readFileSync(join(TINY, 'text_encoder/model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const keys = Object.keys(idx.weight_map);
  for (const target of ['model-00003-of-00002.safetensors', '../transformer/diffusion_pytorch_model.safetensors', '/etc/passwd', '', 'model.safetensors.index.json']) {
    cases.push({
      name: `text_encoder index ${keys[0]} -> ${JSON.stringify(target)}`,
      mutate: (dir) => {
        const m = { ...idx, weight_map: { ...idx.weight_map, [keys[0]]: target } };
        writeFileSync(join(dir, 'text_encoder/model.safetensors.index.json'), JSON.stringify(m));
      },
    });
  }
}

// A case folder: every file a symlink into the fixture except the mutated one (written fresh).
function caseDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pixart-fuzz-'));
  for (const entry of readdirSync(TINY)) {
    if (entry === 'reference') continue;
    const src = join(TINY, entry);
    if (statSync(src).isDirectory()) {
      cpSync(src, join(dir, entry), { recursive: true });
    } else {
      symlinkSync(src, join(dir, entry));
    }
  }
  return dir;
}

const engine = Engine.create({ device: 'cpu', threads: 2 });
const tally: Record<string, number> = {};
const defects: string[] = [];
let n = 0;
for (const c of cases) {
  n++;
  if (n < Number(args.from)) continue;
  process.stderr.write(`case ${n}/${cases.length}: ${c.name}\n`);
  const dir = caseDir();
  const t0 = performance.now();
  let outcome: string;
  try {
    c.mutate(dir);
    const pipe = await PixArtAlphaPipeline.fromPretrained(dir, { engine });
    try {
      const r = await pipe.generate({ prompt: 'a cat', numInferenceSteps: 2, height: 64, width: 64, useResolutionBinning: false, seed: 1, outputType: 'float' });
      const data = r.tensor!.data;
      outcome = data.every(Number.isFinite) ? 'ok' : 'ok (non-finite output)';
    } finally {
      pipe.dispose();
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PIXART_')) outcome = code;
    else {
      outcome = 'UNTYPED';
      defects.push(`${c.name}: ${(e as Error)?.constructor?.name} ${(e as Error)?.message ?? e}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  tally[outcome] = (tally[outcome] ?? 0) + 1;
  const ms = performance.now() - t0;
  if (ms > 1000) process.stderr.write(`  slow: ${ms.toFixed(0)} ms\n`);
  if (outcome !== 'ok' && !outcome.startsWith('ERR_')) process.stderr.write(`  -> ${outcome}\n`);
}
engine.dispose();
console.log(JSON.stringify({ cases: cases.length, tally }, null, 1));
for (const d of defects) console.log('DEFECT', d);
process.exitCode = defects.length ? 1 : 0;
