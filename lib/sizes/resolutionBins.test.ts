import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expectClose, fixtureCase, REFERENCE_DIR, refF32, type TensorRef } from '../../test/helpers/fixtures.js';
import { PixArtError } from '../errors.js';
import {
  ASPECT_RATIO_1024_BIN,
  ASPECT_RATIO_256_BIN,
  ASPECT_RATIO_512_BIN,
  binTableForSampleSize,
  classifyHeightWidthBin,
  interpolateBilinear,
  resizeAndCropTensor,
  type AspectRatioBinTable,
} from './resolutionBins.js';

const TABLES: Record<string, AspectRatioBinTable> = { ASPECT_RATIO_1024_BIN, ASPECT_RATIO_512_BIN, ASPECT_RATIO_256_BIN };
const refTables = JSON.parse(readFileSync(join(REFERENCE_DIR, 'aspect_ratio_bins.json'), 'utf8')) as
  Record<string, Record<string, [number, number]>>;

describe('aspect-ratio tables', () => {
  for (const name of Object.keys(TABLES)) {
    it(`${name} equals the reference table, keys in dict order`, () => {
      const mine = TABLES[name];
      const ref = refTables[name];
      expect(Object.keys(mine)).toEqual(Object.keys(ref));
      for (const k of Object.keys(ref)) expect([...mine[k]]).toEqual(ref[k]);
    });
  }
  it('covers exactly the three reference tables', () => {
    expect(Object.keys(refTables).sort()).toEqual(Object.keys(TABLES).sort());
  });
});

describe('classifyHeightWidthBin', () => {
  const c = fixtureCase('binning/classify_height_width_bin');
  const results = c.results as Array<Record<string, any>>;
  it('has the 22 reference pairs', () => {
    expect(results).toHaveLength(22);
  });
  for (const r of results) {
    for (const name of Object.keys(TABLES)) {
      it(`${r.height}x${r.width} with ${name} -> ${r[name].join('x')}`, () => {
        expect(classifyHeightWidthBin(r.height, r.width, TABLES[name])).toEqual(r[name]);
      });
    }
  }

  it('takes the first key in table order on ties', () => {
    const table = { '1.0': [1, 1], '2.0': [2, 2], '3.0': [3, 3] } as const;
    expect(classifyHeightWidthBin(3, 2, table)).toEqual([1, 1]); // 1.5 is equally far from 1.0 and 2.0
    const reversed = new Map<string, readonly [number, number]>([['2.0', [2, 2]], ['1.0', [1, 1]]]);
    expect(classifyHeightWidthBin(3, 2, reversed)).toEqual([2, 2]);
  });

  it('rejects zero, negative and non-finite sizes and empty tables', () => {
    for (const [h, w] of [[0, 64], [64, 0], [-64, 64], [NaN, 64], [64, Infinity]]) {
      expect(() => classifyHeightWidthBin(h, w, ASPECT_RATIO_1024_BIN)).toThrow(PixArtError);
    }
    expect(() => classifyHeightWidthBin(64, 64, {})).toThrow(PixArtError);
  });
});

describe('binTableForSampleSize', () => {
  it('maps 128/64/32 to the 1024/512/256 tables', () => {
    expect(binTableForSampleSize(128)).toBe(ASPECT_RATIO_1024_BIN);
    expect(binTableForSampleSize(64)).toBe(ASPECT_RATIO_512_BIN);
    expect(binTableForSampleSize(32)).toBe(ASPECT_RATIO_256_BIN);
  });
  it('rejects other sizes with "Invalid sample size"', () => {
    for (const s of [16, 8, 256, 0, -128, NaN]) {
      let err: unknown;
      try {
        binTableForSampleSize(s);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PixArtError);
      expect((err as PixArtError).code).toBe('ERR_PIXART_INVALID_ARGUMENT');
      expect((err as Error).message).toMatch(/Invalid sample size/);
    }
  });
  it('the binning pipeline case: 64x96 with the 1024 table -> 832x1216 (latents 104x152)', () => {
    expect(classifyHeightWidthBin(64, 96, binTableForSampleSize(128))).toEqual([832, 1216]);
  });
});

describe('resizeAndCropTensor', () => {
  for (const id of ['binning/resize_and_crop_tensor/0', 'binning/resize_and_crop_tensor/1']) {
    it(`${id} matches diffusers within 1e-5 (bit-exact)`, () => {
      const c = fixtureCase(id);
      const inRef = c.inputs.samples as TensorRef;
      const outRef = c.outputs.result as TensorRef;
      const res = resizeAndCropTensor(refF32(inRef), inRef.shape as [number, number, number, number],
        c.inputs.new_width, c.inputs.new_height);
      expect(res.shape).toEqual(outRef.shape);
      const want = refF32(outRef);
      expectClose(res.data, want, { atol: 1e-5, rtol: 0, label: id });
      // In fact torch's float32 arithmetic is reproduced exactly.
      expect(Array.from(res.data)).toEqual(Array.from(want));
    });
  }

  it('returns an unchanged copy when the size already matches', () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i * 0.5);
    const res = resizeAndCropTensor(data, [2, 3, 4, 5], 5, 4);
    expect(res.shape).toEqual([2, 3, 4, 5]);
    expect(Array.from(res.data)).toEqual(Array.from(data));
    expect(res.data).not.toBe(data);
  });

  it('an integer 2x downscale averages 2x2 blocks; upscaling a constant keeps it (to float32 rounding)', () => {
    const data = Float32Array.from([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]);
    const down = interpolateBilinear(data, [1, 1, 4, 4], 2, 2);
    expect(Array.from(down)).toEqual([(1 + 3 + 9 + 11) / 4, (5 + 7 + 13 + 15) / 4, (17 + 19 + 25 + 27) / 4, (21 + 23 + 29 + 31) / 4]);
    const up = interpolateBilinear(new Float32Array(6).fill(2.5), [1, 1, 2, 3], 5, 7);
    // float32 weight products make this exact only to a few ulp, as in torch
    expect(up.every((v) => Math.abs(v - 2.5) <= 1e-6)).toBe(true);
  });

  it('center-crops the longer side after resizing', () => {
    // 4x8 -> new 4x4: ratio max(1, 0.5) = 1, no resize along H and W (same size), crop columns 2..6
    const data = Float32Array.from({ length: 32 }, (_, i) => i);
    const res = resizeAndCropTensor(data, [1, 1, 4, 8], 4, 4);
    expect(res.shape).toEqual([1, 1, 4, 4]);
    expect(Array.from(res.data)).toEqual([2, 3, 4, 5, 10, 11, 12, 13, 18, 19, 20, 21, 26, 27, 28, 29]);
  });

  it('rejects bad shapes, data lengths and target sizes', () => {
    const data = new Float32Array(12);
    expect(() => resizeAndCropTensor(data, [1, 3, 2] as unknown as [number, number, number, number], 2, 2)).toThrow(PixArtError);
    expect(() => resizeAndCropTensor(data, [1, 3, 2, 3], 2, 2)).toThrow(PixArtError);
    expect(() => resizeAndCropTensor(data, [1, 3, 2, -2], 2, 2)).toThrow(PixArtError);
    expect(() => resizeAndCropTensor(data, [1, 3, 2, 2], 0, 2)).toThrow(PixArtError);
    expect(() => resizeAndCropTensor(data, [1, 3, 2, 2], 2, 1.5)).toThrow(PixArtError);
    expect(() => resizeAndCropTensor(data, [1, 3, 2, 2], 2, NaN)).toThrow(PixArtError);
    expect(() => resizeAndCropTensor(new Float32Array(0), [1, 3, 0, 2], 2, 2)).toThrow(PixArtError);
    expect(() => resizeAndCropTensor([1, 2] as unknown as Float32Array, [1, 1, 1, 2], 2, 2)).toThrow(PixArtError);
    expect(() => interpolateBilinear(data, [1, 3, 2, 2], 0, 2)).toThrow(PixArtError);
    expect(() => interpolateBilinear(data, [1, 3, 2, 2], 2, -1)).toThrow(PixArtError);
    expect(() => interpolateBilinear(data, [1, 3, 4, 2], 2, 2)).toThrow(PixArtError);
  });
});
