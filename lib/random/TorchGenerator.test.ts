import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fixtureCase, refF32, REFERENCE_DIR, type TensorRef } from '../../test/helpers/fixtures.js';
import { readSafetensorsFile } from '../io/safetensorsFile.js';
import { PixArtError } from '../errors.js';
import { normalizeSeed, TorchGenerator } from './TorchGenerator.js';

const SEEDS = [0, 1, 42, 1234567890123];
const SIZES = [1, 7, 16, 17, 100, 4096];

/** The same keys drawn with torch's non-AVX2 ("default") CPU kernel. */
const defaultKernel = readSafetensorsFile(join(REFERENCE_DIR, 'torch_rng_default_cpu_kernel.safetensors'));
function defaultRef(ref: TensorRef): Float32Array {
  const t = defaultKernel.get(ref.key);
  if (!t || !(t.data instanceof Float32Array)) throw new Error(`no ${ref.key} in default-kernel file`);
  return t.data;
}

function expectBitExact(actual: Float32Array, ref: Float32Array, label: string): void {
  expect(actual.length, label).toBe(ref.length);
  let mismatches = 0;
  let first = -1;
  for (let i = 0; i < ref.length; i++) {
    if (!Object.is(actual[i] + 0, ref[i] + 0)) {
      mismatches++;
      if (first < 0) first = i;
    }
  }
  expect(mismatches, `${label}: ${mismatches} mismatches, first at ${first}: ${actual[first]} vs ${ref[first]}`).toBe(0);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('TorchGenerator: torch.manual_seed(s); torch.randn(N)', () => {
  for (const seed of SEEDS) {
    const c = fixtureCase(`rng/seed${seed}`);
    for (const n of SIZES) {
      const ref = c.outputs[`manual_seed_randn_${n}`] as TensorRef;
      it(`seed ${seed}, N=${n} matches the AVX2 kernel bit for bit`, () => {
        const g = new TorchGenerator(seed);
        expectBitExact(g.randn([n]), refF32(ref), `seed ${seed} N ${n}`);
      });
      it(`seed ${seed}, N=${n} vs the default kernel: ${n < 16 ? 'exact' : 'within 2e-6'}`, () => {
        const out = new TorchGenerator(seed).randn([n]);
        const want = defaultRef(ref);
        if (n < 16) expectBitExact(out, want, `default seed ${seed} N ${n}`);
        else expect(maxAbsDiff(out, want)).toBeLessThanOrEqual(2e-6);
      });
    }
  }
});

describe('TorchGenerator: torch.randn((1,4,128,128), generator=Generator().manual_seed(s))', () => {
  it('seed 0: all 65536 values match the AVX2 kernel; default kernel within 2e-6', () => {
    const c = fixtureCase('rng/seed0');
    const ref = c.outputs.generator_randn_1x4x128x128 as TensorRef;
    const out = new TorchGenerator(0).randn([1, 4, 128, 128]);
    expectBitExact(out, refF32(ref), 'seed 0 1x4x128x128');
    const d = maxAbsDiff(out, defaultRef(ref));
    expect(d).toBeGreaterThan(0); // the two torch kernels really differ
    expect(d).toBeLessThanOrEqual(2e-6);
  });

  for (const seed of SEEDS) {
    it(`seed ${seed}: first/last 64 exact, float64 sums match`, () => {
      const c = fixtureCase(`rng/seed${seed}`);
      const out = new TorchGenerator(seed).randn([1, 4, 128, 128]);
      expectBitExact(out.subarray(0, 64), refF32(c.outputs.generator_randn_1x4x128x128_first64), 'first64');
      expectBitExact(out.subarray(out.length - 64), refF32(c.outputs.generator_randn_1x4x128x128_last64), 'last64');
      let sum = 0;
      let sumAbs = 0;
      for (const v of out) {
        sum += v;
        sumAbs += Math.abs(v);
      }
      // Summation order differs from torch's; float64 sums of identical values agree to ~1e-12.
      expect(Math.abs(sum - c.generator_randn_1x4x128x128_sum_float64)).toBeLessThan(1e-9);
      expect(Math.abs(sumAbs - c.generator_randn_1x4x128x128_sum_abs_float64)).toBeLessThan(1e-8);
    });
  }

  it('draws 1x4x128x128 quickly', () => {
    const g = new TorchGenerator(3);
    g.randn([1, 4, 128, 128]); // warm up
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) g.randn([1, 4, 128, 128]);
    const ms = (performance.now() - t0) / 5;
    expect(ms).toBeLessThan(100);
  });
});

describe('TorchGenerator: pipeline draw', () => {
  it('Generator().manual_seed(42) draws the (1,4,8,8) latents of pipeline/n5_g4.5_np_generator42', () => {
    const c = fixtureCase('pipeline/n5_g4.5_np_generator42');
    const ref = c.inputs.latents_drawn_from_generator as TensorRef;
    expect(ref.shape).toEqual([1, 4, 8, 8]);
    expectBitExact(new TorchGenerator(c.inputs.generator_seed).randn(ref.shape), refF32(ref), 'latents_drawn');
  });
});

describe('TorchGenerator: state', () => {
  it('successive draws continue the stream (vector path uses one uint32 per element)', () => {
    const g = new TorchGenerator(7);
    const a = g.randn([32]);
    const b = g.randn([32]);
    expect(Array.from(a)).toEqual(Array.from(new TorchGenerator(7).randn([32])));
    const skipped = new TorchGenerator(7);
    for (let i = 0; i < 32; i++) skipped.nextUint32();
    expect(Array.from(skipped.randn([32]))).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  it('the scalar path caches the second Box-Muller value across calls, like torch', () => {
    const g = new TorchGenerator(0);
    const seven = g.randn([7]);
    const one = g.randn([1]); // the cached 8th value of the 4th pair
    const h = new TorchGenerator(0);
    const eight = h.randn([8]);
    expect(Array.from(seven)).toEqual(Array.from(eight.subarray(0, 7)));
    expect(one[0]).toBe(eight[7]);
    expect(g.getState().nextDoubleNormal).toBeNull();
    // The vector path neither uses nor clears the cache.
    const k = new TorchGenerator(0);
    k.randn([3]);
    expect(k.getState().nextDoubleNormal).not.toBeNull();
    k.randn([16]);
    expect(k.getState().nextDoubleNormal).not.toBeNull();
  });

  it('manualSeed resets the stream and the cache', () => {
    const g = new TorchGenerator(5);
    const first = g.randn([3]);
    g.randn([100]);
    g.manualSeed(5);
    expect(g.getState().nextDoubleNormal).toBeNull();
    expect(Array.from(g.randn([3]))).toEqual(Array.from(first));
  });

  it('getState/setState round-trip through JSON and restore the exact stream', () => {
    const g = new TorchGenerator(1234567890123);
    g.randn([5]);
    const saved = JSON.parse(JSON.stringify(g.getState()));
    expect(saved.state).toHaveLength(624);
    const a = g.randn([3]);
    const b = g.randn([40]);
    const h = new TorchGenerator(0).setState(saved);
    expect(h.initialSeed).toBe(1234567890123n);
    expect(Array.from(h.randn([3]))).toEqual(Array.from(a));
    expect(Array.from(h.randn([40]))).toEqual(Array.from(b));
    // getState is a copy
    const st = h.getState();
    st.state[0] ^= 1;
    expect(h.getState().state[0]).not.toBe(st.state[0]);
    const c = g.clone();
    expect(Array.from(c.randn([20]))).toEqual(Array.from(g.randn([20])));
  });

  it('setState rejects malformed states', () => {
    const good = new TorchGenerator(1).getState();
    const bad = [
      { ...good, state: good.state.slice(1) },
      { ...good, state: [...good.state.slice(1), -1] },
      { ...good, left: 0 },
      { ...good, next: 625 },
      { ...good, seed: 'x' },
      { ...good, seed: '-1' },
      { ...good, nextDoubleNormal: 'a' as unknown as number },
    ];
    for (const s of bad) expect(() => new TorchGenerator(0).setState(s)).toThrow(PixArtError);
  });
});

describe('TorchGenerator: seeds', () => {
  it('initialSeed reports the uint64 seed', () => {
    expect(new TorchGenerator(42).initialSeed).toBe(42n);
    expect(new TorchGenerator(2n ** 64n - 1n).initialSeed).toBe(2n ** 64n - 1n);
    expect(new TorchGenerator(0).manualSeed(7).initialSeed).toBe(7n);
    expect(new TorchGenerator().initialSeed).toBe(67280421310721n); // torch.Generator() default
  });

  it('number and bigint seeds are the same seed', () => {
    expect(Array.from(new TorchGenerator(1234567890123n).randn([20])))
      .toEqual(Array.from(new TorchGenerator(1234567890123).randn([20])));
  });

  it('only the low 32 bits seed mt19937 (torch semantics)', () => {
    const big = 1234567890123n;
    const low = big & 0xffffffffn;
    expect(Array.from(new TorchGenerator(big).randn([5])))
      .toEqual(Array.from(new TorchGenerator(low).randn([5])));
  });

  it('negative seeds wrap to uint64 as torch.manual_seed does', () => {
    expect(normalizeSeed(-1)).toBe(2n ** 64n - 1n);
    expect(normalizeSeed(-(2n ** 63n))).toBe(2n ** 63n);
    expect(new TorchGenerator(-1).initialSeed).toBe(2n ** 64n - 1n);
    expect(Array.from(new TorchGenerator(-1).randn([4])))
      .toEqual(Array.from(new TorchGenerator(0xffffffff).randn([4])));
  });

  it('rejects NaN, fractional, unsafe and out-of-range seeds with a typed error', () => {
    for (const s of [NaN, Infinity, -Infinity, 1.5, 2 ** 60, 2n ** 64n, -(2n ** 63n) - 1n]) {
      let err: unknown;
      try {
        new TorchGenerator(s);
      } catch (e) {
        err = e;
      }
      expect(err, String(s)).toBeInstanceOf(PixArtError);
      expect((err as PixArtError).code).toBe('ERR_PIXART_INVALID_ARGUMENT');
    }
    expect(() => new TorchGenerator('3' as unknown as number)).toThrow(PixArtError);
    expect(() => new TorchGenerator(1).manualSeed(NaN)).toThrow(PixArtError);
  });
});

describe('TorchGenerator: shapes', () => {
  it('zero-size shapes give empty tensors and draw nothing', () => {
    const g = new TorchGenerator(9);
    expect(g.randn([0]).length).toBe(0);
    expect(g.randn([2, 0, 3]).length).toBe(0);
    expect(Array.from(g.randn([4]))).toEqual(Array.from(new TorchGenerator(9).randn([4])));
  });

  it('a 0-d shape draws one value', () => {
    expect(new TorchGenerator(0).randn([])[0]).toBe(new TorchGenerator(0).randn([1])[0]);
  });

  it('rejects negative, fractional and non-numeric dimensions', () => {
    const g = new TorchGenerator(0);
    for (const shape of [[-1], [2, 1.5], [NaN], [Infinity], ['4' as unknown as number], [2 ** 31, 2]]) {
      expect(() => g.randn(shape)).toThrow(PixArtError);
    }
    expect(() => g.randn(undefined as unknown as number[])).toThrow(PixArtError);
  });

  it('is deterministic and shape-independent for the same element count', () => {
    expect(Array.from(new TorchGenerator(11).randn([2, 3, 5]))).toEqual(Array.from(new TorchGenerator(11).randn([30])));
  });
});
