// The engine's conversion of a decoded image to 8-bit RGB (Backend::to_host_rgb8, here the CPU
// backend's default: to_host + the host loop of native/core/rgb8.h) gives the bytes of today's
// host path, toImages(toFloatNHWC(decode)), byte for byte; and AutoencoderKL.decodeToRgb keeps
// decode()'s float16 overflow fallback.
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../lib/engine/Engine.js';
import { AutoencoderKL } from '../lib/models/AutoencoderKL.js';
import type { HostTensor } from '../lib/native/AddonTypes.js';
import { rgbToImages, toFloatNHWC, toImages } from '../lib/pipeline/images.js';
import { TorchGenerator } from '../lib/random/TorchGenerator.js';
import { randnTensor } from '../lib/random/randnTensor.js';
import { fixtureCase, refF32, TINY_MODEL } from './helpers/fixtures.js';

const engine = Engine.create({ device: 'cpu', threads: 2 });
afterAll(() => engine.dispose());
const VAE = `${TINY_MODEL}/vae`;

/** Today's host path: float decode -> NHWC floats in [0, 1] -> bytes, all images concatenated. */
function hostBytes(decoded: HostTensor): Uint8Array {
  const images = toImages(toFloatNHWC(decoded));
  const out = new Uint8Array(images.reduce((n, im) => n + im.data.length, 0));
  let o = 0;
  for (const im of images) {
    out.set(im.data, o);
    o += im.data.length;
  }
  return out;
}

function latents(shape: number[], seed: number, scale: number): HostTensor {
  const data = randnTensor(shape, new TorchGenerator(seed));
  for (let i = 0; i < data.length; i++) data[i] *= scale;
  return { data, shape };
}

function countOf(a: Uint8Array, v: number): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) n += a[i] === v ? 1 : 0;
  return n;
}

function f32(bits: number): number {
  return new Float32Array(new Uint32Array([bits]).buffer)[0];
}

describe('8-bit RGB from the engine', () => {
  // The table native/core/rgb8_test.cpp checks the engine's conversion against (float32 bits ->
  // byte): exact .5 products round half to even, the clamp at both ends, NaN and +-Inf.
  const table: [number, number][] = [
    [0x00000000, 128], [0x80000000, 128], [0xbe58d8d6, 100], [0xbe58d8d5, 101], [0xbe50d0ce, 102],
    [0x3c00807e, 128], [0xbc00807e, 126], [0x3f129292, 200], [0x3f7cfcfb, 254], [0x3f7efefe, 254],
    [0x3f800000, 255], [0x3f7fffff, 255], [0x3fc00000, 255], [0x42c80000, 255], [0x7f7fc99e, 255],
    [0xbf800000, 0], [0xbf7fffff, 0], [0xbfc00000, 0], [0xc2c80000, 0], [0xff7fc99e, 0], [0x0da24260, 128],
    [0x7fc00000, 0], [0x7f800000, 255], [0xff800000, 0],
  ];

  it('the native test table is what toImages(toFloatNHWC(...)) gives', () => {
    const n = table.length;
    // one channel plane per value: [n, 3, 1, 1] with the value in every channel
    const data = new Float32Array(n * 3);
    table.forEach(([bits], i) => data.fill(f32(bits), i * 3, i * 3 + 3));
    const bytes = hostBytes({ data, shape: [n, 3, 1, 1] });
    table.forEach(([bits, byte], i) => expect([bits.toString(16), bytes[i * 3]]).toEqual([bits.toString(16), byte]));
    // ten of them are exact halves, v * 255 = k + 0.5 in float32, with k odd and even
    const halves = table.filter(([bits]) => {
      const v = Math.min(Math.max(Math.fround(Math.fround(f32(bits) / 2) + 0.5), 0), 1);
      return Math.fround(v * 255) % 1 === 0.5;
    }).map(([, byte]) => byte);
    expect(halves).toEqual([128, 128, 100, 102, 128, 126, 200, 254, 254, 128]);
  });

  it('decode with output rgb8 equals the float decode through toImages(toFloatNHWC()), byte for byte', async () => {
    const native = await engine.native.loadVAE(VAE);
    try {
      const cases: HostTensor[] = [
        ...['vae/decode_8x8', 'vae/decode_8x12'].map((id) => {
          const c = fixtureCase(id);
          return { data: refF32(c.inputs.decoder_input), shape: c.inputs.decoder_input.shape as number[] };
        }),
        latents([2, 4, 8, 12], 7, 1),  // a batch of two
        latents([1, 4, 12, 8], 8, 40),  // large latents: much of the image clamps at 0 and 255
      ];
      let zeros = 0, full = 0, mid = 0;
      for (const z of cases) {
        const shape = z.shape as [number, number, number, number];
        const float = await native.decode(z.data as Float32Array, shape);
        const rgb = await native.decode(z.data as Float32Array, shape, { output: 'rgb8' });
        expect(rgb.data).toBeInstanceOf(Uint8Array);
        expect(rgb.shape).toEqual([shape[0], shape[2] * 8, shape[3] * 8, 3]);
        expect(rgb.nonFinite).toBe(false);
        expect(Buffer.from(rgb.data).equals(Buffer.from(hostBytes(float)))).toBe(true);
        zeros += countOf(rgb.data, 0);
        full += countOf(rgb.data, 255);
        mid += rgb.data.length - countOf(rgb.data, 0) - countOf(rgb.data, 255);
      }
      // the clamps were exercised, and so was the rounding in between
      expect(zeros).toBeGreaterThan(100);
      expect(full).toBeGreaterThan(100);
      expect(mid).toBeGreaterThan(1000);
      // tiled decoding takes the same option (one tile or more)
      const big = latents([1, 4, 12, 16], 9, 1);
      const bigShape = big.shape as [number, number, number, number];
      const tiledFloat = await native.decode(big.data as Float32Array, bigShape, { tiled: true });
      const tiledRgb = await native.decode(big.data as Float32Array, bigShape, { tiled: true, output: 'rgb8' });
      expect(Buffer.from(tiledRgb.data).equals(Buffer.from(hostBytes(tiledFloat)))).toBe(true);
      const plainRgb = await native.decode(big.data as Float32Array, bigShape, { output: 'rgb8' });
      expect(Buffer.from(plainRgb.data).equals(Buffer.from(tiledRgb.data))).toBe(false);  // tiling changed the image
      // explicit 'float' is the default
      expect((await native.decode(big.data as Float32Array, bigShape, { output: 'float' })).data)
        .toEqual((await native.decode(big.data as Float32Array, bigShape)).data);
    } finally {
      native.dispose();
    }
  });

  it('NaN in the decode: nonFinite, and the bytes the host path gives (NaN -> 0)', async () => {
    const native = await engine.native.loadVAE(VAE);
    try {
      const z = latents([1, 4, 8, 8], 10, 1);
      z.data[5] = NaN;
      const shape = z.shape as [number, number, number, number];
      const float = await native.decode(z.data as Float32Array, shape);
      expect(float.data.some((v) => Number.isNaN(v))).toBe(true);
      const rgb = await native.decode(z.data as Float32Array, shape, { output: 'rgb8' });
      expect(rgb.nonFinite).toBe(true);
      expect(Buffer.from(rgb.data).equals(Buffer.from(hostBytes(float)))).toBe(true);
    } finally {
      native.dispose();
    }
  });

  it('bad decode options are typed errors', async () => {
    const native = await engine.native.loadVAE(VAE);
    try {
      const z = new Float32Array(4 * 8 * 8);
      const shape: [number, number, number, number] = [1, 4, 8, 8];
      for (const bad of [{ output: 'png' }, { tiled: 1 }, true, 'rgb8']) {
        expect(() => native.decode(z, shape, bad as never)).toThrow(expect.objectContaining({ code: 'ERR_PIXART_INVALID_ARGUMENT' }));
      }
    } finally {
      native.dispose();
    }
  });

  it('AutoencoderKL.decodeToRgb: the images toImages(toFloatNHWC(decode())) gives', async () => {
    const vae = await AutoencoderKL.fromPretrained(VAE, { engine });
    try {
      for (const tiling of [false, true]) {
        if (tiling) vae.enableTiling();
        else vae.disableTiling();
        const z = latents([2, 4, 12, 16], 11, 3);
        const rgb = await vae.decodeToRgb(z);
        expect(rgb.shape).toEqual([2, 96, 128, 3]);
        expect(rgb.nonFinite).toBe(false);
        const want = toImages(toFloatNHWC(await vae.decode(z)));
        const got = rgbToImages(rgb);
        expect(got.map((im) => [im.width, im.height])).toEqual(want.map((im) => [im.width, im.height]));
        got.forEach((im, i) => expect(Buffer.from(im.data).equals(Buffer.from(want[i].data))).toBe(true));
      }
    } finally {
      vae.dispose();
    }
    await expect(vae.decodeToRgb(latents([1, 4, 8, 8], 1, 1))).rejects.toMatchObject({ code: 'ERR_PIXART_DISPOSED' });
  });

  it('decodeToRgb keeps the float16 fallback: a non-finite image is redone once on a bfloat16 engine', async () => {
    // The CPU computes in float32, so stand in a float16 engine: the fallback then runs on
    // Engine.shared({ device: 'cpu', dtype: 'bfloat16' }) (float32 too) and gives the same NaN image.
    const vae = await AutoencoderKL.fromPretrained(VAE, { engine });
    Object.defineProperty(vae, 'engine', { value: Object.create(engine, { dtype: { value: 'float16' } }) });
    const told: unknown[] = [];
    vae.onPrecisionFallback = (e) => told.push(e);
    try {
      const z = latents([1, 4, 8, 8], 12, 1);
      expect((await vae.decodeToRgb(z)).nonFinite).toBe(false);
      expect(told).toEqual([]);
      z.data[3] = Infinity;
      const rgb = await vae.decodeToRgb(z);
      expect(told).toEqual([{ from: 'float16', to: 'bfloat16' }]);
      expect(rgb.nonFinite).toBe(true);
      const float = await vae.decode(z);
      expect(told.length).toBe(2);
      expect(Buffer.from(rgb.data).equals(Buffer.from(hostBytes(float)))).toBe(true);
    } finally {
      vae.dispose();
      Engine.shared({ device: 'cpu', dtype: 'bfloat16' }).dispose();
    }
  });
});
