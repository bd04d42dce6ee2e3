/**
 * Element-wise float32 tensor arithmetic in the order torch evaluates diffusers' expressions:
 * every tensor op rounds to float32, scalar factors are combined first (Python evaluates
 * `a * b * x` as `(a * b) * x`), and `x - y` rounds like `x + (-y)`.
 */
import { invalid } from './config.js';
import { f32 } from './npmath.js';
import { DeviceSample, type Sample } from './sample.js';

export type Term = readonly [number, Float32Array];
export type SampleTerm = readonly [number, Sample];

/**
 * Each op computes on Float32Arrays at once, or records itself when an operand is a
 * DeviceSample (sample.ts: the same rounding, evaluated on the engine).
 */
const recorded = (...xs: Sample[]): boolean => xs.some((x) => x instanceof DeviceSample);

/** f32(c * x) element-wise (c a double, as `c * x[i]` stored into a Float32Array). */
export function scale(c: number, x: Float32Array): Float32Array;
export function scale(c: number, x: Sample): Sample;
export function scale(c: number, x: Sample): Sample {
  if (x instanceof DeviceSample) return c === 1 ? x : DeviceSample.record('scale', [x], c);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = c * x[i];
  return out;
}

/** a (op) b element-wise for the two-operand ops, recorded or computed with `f`. */
function binary(op: 'add' | 'sub', a: Sample, b: Sample, f: (x: number, y: number) => number): Sample {
  if (recorded(a, b)) return DeviceSample.record(op, [a, b]);
  const x = a as Float32Array, y = b as Float32Array;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i], y[i]);
  return out;
}

/** a + b element-wise. */
export function add(a: Float32Array, b: Float32Array): Float32Array;
export function add(a: Sample, b: Sample): Sample;
export function add(a: Sample, b: Sample): Sample {
  return binary('add', a, b, (x, y) => x + y);
}

/** sum_k f32(c_k * x_k), accumulated left to right with float32 rounding after every op. */
export function lincomb(...terms: Term[]): Float32Array;
export function lincomb(...terms: SampleTerm[]): Sample;
export function lincomb(...terms: SampleTerm[]): Sample {
  if (recorded(...terms.map((t) => t[1]))) {
    let acc = scale(terms[0][0], terms[0][1]);
    for (let k = 1; k < terms.length; k++) acc = add(acc, scale(terms[k][0], terms[k][1]));
    return acc;
  }
  const n = terms[0][1].length;
  const out = new Float32Array(n);
  const [c0, x0] = terms[0] as Term;
  for (let i = 0; i < n; i++) out[i] = c0 * x0[i];
  for (let k = 1; k < terms.length; k++) {
    const [c, x] = terms[k] as Term;
    for (let i = 0; i < n; i++) out[i] = out[i] + f32(c * x[i]);
  }
  return out;
}

/** x / d element-wise (true division, not a reciprocal multiply). */
export function divScalar(x: Float32Array, d: number): Float32Array;
export function divScalar(x: Sample, d: number): Sample;
export function divScalar(x: Sample, d: number): Sample {
  if (x instanceof DeviceSample) return DeviceSample.record('div', [x], d);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] / d;
  return out;
}

/** a - b element-wise. */
export function sub(a: Float32Array, b: Float32Array): Float32Array;
export function sub(a: Sample, b: Sample): Sample;
export function sub(a: Sample, b: Sample): Sample {
  return binary('sub', a, b, (x, y) => x - y);
}

export function clamp(x: Float32Array, lo: number, hi: number): Float32Array;
export function clamp(x: Sample, lo: number, hi: number): Sample;
export function clamp(x: Sample, lo: number, hi: number): Sample {
  if (x instanceof DeviceSample) return DeviceSample.record('clamp', [x], lo, hi);
  return x.map((v) => Math.min(Math.max(v, lo), hi));
}

/** A copy a scheduler may keep (a DeviceSample is immutable, so it is its own copy). */
export function copy(x: Float32Array): Float32Array;
export function copy(x: Sample): Sample;
export function copy(x: Sample): Sample {
  return x instanceof DeviceSample ? x : x.slice();
}

/**
 * diffusers' `_threshold_sample` (Imagen dynamic thresholding): per batch item, s = the
 * `ratio` quantile of |x| clamped to [1, maxValue]; x is clamped to [-s, s] and divided by s.
 * torch.quantile interpolates linearly between the two nearest order statistics in float32.
 */
export function thresholdSample(x: Float32Array, ratio: number, maxValue: number, batch: number): Float32Array;
export function thresholdSample(x: Sample, ratio: number, maxValue: number, batch: number): Sample;
export function thresholdSample(x: Sample, ratio: number, maxValue: number, batch: number): Sample {
  if (x instanceof DeviceSample) {
    throw invalid('dynamic thresholding (thresholding: true) sorts each sample on the host; it cannot run on engine-resident samples');
  }
  const per = x.length / batch;
  const out = new Float32Array(x.length);
  for (let b = 0; b < batch; b++) {
    const row = x.subarray(b * per, (b + 1) * per);
    const sorted = Float32Array.from(row, Math.abs).sort();
    const rank = f32(f32(ratio) * (per - 1));
    const below = Math.trunc(rank);
    const above = Math.ceil(rank);
    const w = f32(rank - below);
    const lo = sorted[below];
    const hi = sorted[above];
    const diff = f32(hi - lo);
    // torch.lerp: start + w*(end-start) for w < 0.5, else end - (1-w)*(end-start); fused multiply-add.
    const q = w < 0.5 ? f32(w * diff + lo) : f32(hi - f32(1 - w) * diff);
    const s = Math.min(Math.max(q, 1), maxValue);
    for (let i = 0; i < per; i++) out[b * per + i] = Math.min(Math.max(row[i], -s), s) / s;
  }
  return out;
}
