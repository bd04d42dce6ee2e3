import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensorsFile, type HostTensor } from '../../lib/io/safetensorsFile.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Tiny random-weight PixArt model (diffusers layout) plus reference outputs, copied into the project. */
export const TINY_MODEL = join(here, '..', 'fixtures', 'pixart-tiny');
export const TINY_MODEL_512 = join(here, '..', 'fixtures', 'pixart-tiny-512');
export const REFERENCE_DIR = join(TINY_MODEL, 'reference');
export const REAL_CONFIGS = join(here, '..', 'fixtures', 'configs');

export interface TensorRef { file: string; key: string; dtype: string; shape: number[] }
export interface FixtureCase { id: string; kind: string; inputs: any; outputs: any; [k: string]: any }

let casesCache: any;
export function casesJson(): any {
  casesCache ??= JSON.parse(readFileSync(join(REFERENCE_DIR, 'cases.json'), 'utf8'));
  return casesCache;
}

export function fixtureCase(id: string): FixtureCase {
  const c = casesJson().cases.find((x: FixtureCase) => x.id === id);
  if (!c) throw new Error(`no fixture case ${id}`);
  return c;
}

const fileCache = new Map<string, Map<string, HostTensor>>();
export function loadRef(ref: TensorRef, dir = REFERENCE_DIR): HostTensor {
  let f = fileCache.get(ref.file);
  if (!f) {
    f = readSafetensorsFile(join(dir, ref.file));
    fileCache.set(ref.file, f);
  }
  const t = f.get(ref.key);
  if (!t) throw new Error(`tensor ${ref.key} not in ${ref.file}`);
  return t;
}

/** Float reference as Float32Array. */
export function refF32(ref: TensorRef): Float32Array {
  const t = loadRef(ref);
  if (!(t.data instanceof Float32Array)) throw new Error(`${ref.key} is ${t.dtype}, not float`);
  return t.data;
}

/** Integer reference as plain numbers. */
export function refInts(ref: TensorRef): number[] {
  const t = loadRef(ref);
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/**
 * Asserts |a-b| <= atol + rtol*scale element-wise, where scale is max|ref| when `relToMax`
 * (latents, per the fixtures README), else |ref| per element. Returns the worst excess for messages.
 */
export function expectClose(
  actual: ArrayLike<number>, ref: ArrayLike<number>,
  { atol = 1e-4, rtol = 1e-4, relToMax = false, label = '' } = {},
): { maxAbs: number } {
  if (actual.length !== ref.length) throw new Error(`${label}: length ${actual.length} != ${ref.length}`);
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) maxRef = Math.max(maxRef, Math.abs(ref[i]));
  let maxAbs = 0, worst = -1;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(actual[i] - ref[i]);
    const tol = atol + rtol * (relToMax ? maxRef : Math.abs(ref[i]));
    if (!(d <= tol) && worst < 0) worst = i;
    if (!(d <= maxAbs)) maxAbs = d;
  }
  if (worst >= 0) {
    throw new Error(`${label}: mismatch at ${worst}: got ${actual[worst]}, want ${ref[worst]} (max abs diff ${maxAbs}, max|ref| ${maxRef})`);
  }
  return { maxAbs };
}

/** Cosine similarity of two equally long vectors. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}
