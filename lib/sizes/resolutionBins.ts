/**
 * Resolution binning of diffusers' PixArtAlphaPipeline: the aspect-ratio tables,
 * `classify_height_width_bin`, the sample-size -> table choice, and `resize_and_crop_tensor`
 * (bilinear F.interpolate with align_corners=False and no antialias, then a center crop).
 */
import { PixArtError } from '../errors.js';
import { fmaf } from '../util/float32.js';
import {
  ASPECT_RATIO_1024_BIN,
  ASPECT_RATIO_256_BIN,
  ASPECT_RATIO_512_BIN,
  type AspectRatioBinTable,
} from './aspectRatioBins.js';
import { show } from '../util/args.js';

export { ASPECT_RATIO_1024_BIN, ASPECT_RATIO_512_BIN, ASPECT_RATIO_256_BIN, type AspectRatioBinTable };

function invalid(message: string): PixArtError {
  return new PixArtError('ERR_PIXART_INVALID_ARGUMENT', message);
}

/** A table as a plain object (key order = insertion order) or a Map. */
export type AspectRatioBins = AspectRatioBinTable | ReadonlyMap<string, readonly [number, number]>;

/**
 * `classify_height_width_bin`: ar = height / width; the key whose float value is closest to ar
 * (the first in table order on ties) gives the binned [height, width] (truncated to integers).
 */
export function classifyHeightWidthBin(height: number, width: number, table: AspectRatioBins): [number, number] {
  if (typeof height !== 'number' || typeof width !== 'number' || !Number.isFinite(height) || !Number.isFinite(width)
    || height <= 0 || width <= 0) {
    throw invalid(`height and width must be positive numbers, got ${show(height)} x ${show(width)}`);
  }
  const entries = table instanceof Map ? [...table.entries()] : Object.entries(table as AspectRatioBinTable);
  if (entries.length === 0) throw invalid('aspect-ratio table is empty');
  const ar = height / width;
  let best: readonly [number, number] | undefined;
  let bestDiff = Infinity;
  for (const [key, hw] of entries) {
    const diff = Math.abs(Number(key) - ar);
    if (Number.isNaN(diff)) throw invalid(`aspect-ratio key "${key}" is not a number`);
    if (diff < bestDiff) {
      bestDiff = diff;
      best = hw;
    }
  }
  const [h, w] = best as readonly [number, number];
  return [Math.trunc(h), Math.trunc(w)];
}

/** The table the pipeline bins with for a transformer sample_size (128, 64 or 32). */
export function binTableForSampleSize(sampleSize: number): AspectRatioBinTable {
  switch (sampleSize) {
    case 128: return ASPECT_RATIO_1024_BIN;
    case 64: return ASPECT_RATIO_512_BIN;
    case 32: return ASPECT_RATIO_256_BIN;
    default: throw invalid(`Invalid sample size: ${show(sampleSize)} (resolution binning supports 128, 64 and 32)`);
  }
}

const fr = Math.fround;

/** A Float32Array of n values, or a typed error when n is more than an array can hold. */
function allocFloats(n: number, what: string): Float32Array {
  try {
    return new Float32Array(n);
  } catch (e) {
    if (e instanceof RangeError) throw invalid(`${what} needs ${n} float32 values, more than an array can hold`);
    throw e;
  }
}

interface LinearTaps { i0: Int32Array; i1: Int32Array; w0: Float32Array; w1: Float32Array }

/**
 * Source indices and weights of torch's CPU bilinear upsampling along one axis
 * (align_corners=False, output size given, so scale = in/out in float32).
 */
function linearTaps(inSize: number, outSize: number): LinearTaps {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w0 = new Float32Array(outSize);
  const w1 = new Float32Array(outSize);
  const scale = fr(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (inSize === outSize) {
      i0[o] = o;
      i1[o] = o;
      w0[o] = 1;
      w1[o] = 0;
      continue;
    }
    // scale * (o + 0.5) - 0.5 in float32, one fused multiply-add in torch's AVX2 build.
    let src = fmaf(scale, o + 0.5, -0.5);
    if (src < 0) src = 0;
    const idx = Math.min(Math.floor(src), inSize - 1);
    const lambda = Math.min(Math.max(fr(src - idx), 0), 1);
    i0[o] = idx;
    i1[o] = idx < inSize - 1 ? idx + 1 : idx;
    w1[o] = lambda;
    w0[o] = fr(1 - lambda);
  }
  return { i0, i1, w0, w1 };
}


/**
 * F.interpolate(x, size=(outH, outW), mode='bilinear', align_corners=False) on NCHW float32.
 *
 * Evaluated as torch's CPU float kernel for 3-channel images does (the channels-last kernel,
 * which torch also picks for C == 3): per output pixel the four weights h_i * w_j are formed in
 * float32 and accumulated as w00*x00 + w01*x01 + w10*x10 + w11*x11 with fused multiply-adds.
 * This reproduces the reference bit for bit; other channel counts use the same arithmetic.
 */
export function interpolateBilinear(
  data: Float32Array, shape: readonly [number, number, number, number], outH: number, outW: number,
): Float32Array {
  checkTensor(data, shape);
  for (const [name, v] of [['outH', outH], ['outW', outW]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw invalid(`${name} must be a positive integer, got ${show(v)}`);
    }
  }
  const [b, c, inH, inW] = shape;
  if (inH <= 0 || inW <= 0) throw invalid(`cannot resize an empty image of ${inH}x${inW}`);
  const planes = b * c;
  const out = allocFloats(planes * outH * outW, `resizing to ${outH}x${outW}`);
  const th = linearTaps(inH, outH);
  const tw = linearTaps(inW, outW);
  for (let p = 0; p < planes; p++) {
    const src = p * inH * inW;
    const dst = p * outH * outW;
    for (let y = 0; y < outH; y++) {
      const r0 = src + th.i0[y] * inW;
      const r1 = src + th.i1[y] * inW;
      const h0 = th.w0[y];
      const h1 = th.w1[y];
      for (let x = 0; x < outW; x++) {
        const x0 = tw.i0[x];
        const x1 = tw.i1[x];
        const w00 = fr(h0 * tw.w0[x]);
        const w01 = fr(h0 * tw.w1[x]);
        const w10 = fr(h1 * tw.w0[x]);
        const w11 = fr(h1 * tw.w1[x]);
        let acc = fmaf(w00, data[r0 + x0], fr(w01 * data[r0 + x1]));
        acc = fmaf(w10, data[r1 + x0], acc);
        out[dst + y * outW + x] = fmaf(w11, data[r1 + x1], acc);
      }
    }
  }
  return out;
}

function checkTensor(data: Float32Array, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.length !== 4
    || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw invalid(`shape must be [B, C, H, W] of non-negative integers, got [${String(shape)}]`);
  }
  const n = shape[0] * shape[1] * shape[2] * shape[3];
  if (!(data instanceof Float32Array) || data.length !== n) {
    throw invalid(`data must be a Float32Array of ${n} elements for shape [${shape.join(', ')}]`);
  }
}

/** Python slice bounds [start:end] on a length. */
function pySlice(start: number, end: number, len: number): [number, number] {
  const norm = (i: number) => (i < 0 ? Math.max(i + len, 0) : Math.min(i, len));
  const s = norm(start);
  const e = norm(end);
  return [s, Math.max(s, e)];
}

/** Python's floor division for integers. */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/**
 * diffusers' `resize_and_crop_tensor(samples, new_width, new_height)` on an NCHW float32 tensor:
 * if the size differs, scale by ratio = max(new_h/h, new_w/w) to (int(h*ratio), int(w*ratio)) with
 * bilinear interpolation, then take the center crop of new_height x new_width.
 */
export function resizeAndCropTensor(
  data: Float32Array,
  shape: readonly [number, number, number, number],
  newWidth: number,
  newHeight: number,
): { data: Float32Array; shape: [number, number, number, number] } {
  checkTensor(data, shape);
  const [b, c, h, w] = shape;
  for (const [name, v] of [['newWidth', newWidth], ['newHeight', newHeight]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw invalid(`${name} must be a positive integer, got ${show(v)}`);
    }
  }
  if (h === newHeight && w === newWidth) {
    return { data: data.slice(), shape: [b, c, h, w] };
  }
  if (h <= 0 || w <= 0) throw invalid(`cannot resize an empty image of ${h}x${w}`);
  const ratio = Math.max(newHeight / h, newWidth / w);
  const resizedW = Math.trunc(w * ratio);
  const resizedH = Math.trunc(h * ratio);
  if (resizedW <= 0 || resizedH <= 0) throw invalid(`resize to ${resizedH}x${resizedW} is empty`);
  const resized = interpolateBilinear(data, [b, c, h, w], resizedH, resizedW);
  const startX = floorDiv(resizedW - newWidth, 2);
  const startY = floorDiv(resizedH - newHeight, 2);
  const [x0, x1] = pySlice(startX, startX + newWidth, resizedW);
  const [y0, y1] = pySlice(startY, startY + newHeight, resizedH);
  const ow = x1 - x0;
  const oh = y1 - y0;
  const out = allocFloats(b * c * oh * ow, `cropping to ${oh}x${ow}`);
  for (let p = 0; p < b * c; p++) {
    for (let y = 0; y < oh; y++) {
      const from = p * resizedH * resizedW + (y0 + y) * resizedW + x0;
      out.set(resized.subarray(from, from + ow), (p * oh + y) * ow);
    }
  }
  return { data: out, shape: [b, c, oh, ow] };
}
