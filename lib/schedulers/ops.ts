/**
 * Element-wise float32 tensor arithmetic in the order torch evaluates diffusers' expressions:
 * every tensor op rounds to float32, scalar factors are combined first (Python evaluates
 * `a * b * x` as `(a * b) * x`), and `x - y` rounds like `x + (-y)`.
 */
import { f32 } from './npmath.js';

export type Term = readonly [number, Float32Array];

/** sum_k f32(c_k * x_k), accumulated left to right with float32 rounding after every op. */
export function lincomb(...terms: Term[]): Float32Array {
  const n = terms[0][1].length;
  const out = new Float32Array(n);
  const [c0, x0] = terms[0];
  for (let i = 0; i < n; i++) out[i] = c0 * x0[i];
  for (let k = 1; k < terms.length; k++) {
    const [c, x] = terms[k];
    for (let i = 0; i < n; i++) out[i] = out[i] + f32(c * x[i]);
  }
  return out;
}

/** x / d element-wise (true division, not a reciprocal multiply). */
export function divScalar(x: Float32Array, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] / d;
  return out;
}

/** a - b element-wise. */
export function sub(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] - b[i];
  return out;
}

export function clamp(x: Float32Array, lo: number, hi: number): Float32Array {
  return x.map((v) => Math.min(Math.max(v, lo), hi));
}

/**
 * diffusers' `_threshold_sample` (Imagen dynamic thresholding): per batch item, s = the
 * `ratio` quantile of |x| clamped to [1, maxValue]; x is clamped to [-s, s] and divided by s.
 * torch.quantile interpolates linearly between the two nearest order statistics in float32.
 */
export function thresholdSample(x: Float32Array, ratio: number, maxValue: number, batch: number): Float32Array {
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
