import { describe, expect, it } from 'vitest';
import { fixtureCase, refF32, type TensorRef } from '../../test/helpers/fixtures.js';
import { PixArtError } from '../errors.js';
import { TorchGenerator } from './TorchGenerator.js';
import { randnTensor } from './randnTensor.js';

function same(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('randnTensor (diffusers randn_tensor on CPU)', () => {
  for (const id of ['rng/randn_tensor_generator_list/2x4x8x8', 'rng/randn_tensor_generator_list/2x4x16x16']) {
    it(`${id}: a list of generators draws one (1,...) tensor per batch item`, () => {
      const c = fixtureCase(id);
      const ref = c.outputs.latents as TensorRef;
      const gens = (c.inputs.generator_seeds as number[]).map((s) => new TorchGenerator(s));
      const out = randnTensor(c.inputs.shape, gens);
      expect(ref.shape).toEqual(c.inputs.shape);
      expect(same(out, refF32(ref))).toBe(true);
      // equals the concatenation of per-generator draws
      const per = out.length / 2;
      expect(same(out.subarray(0, per), new TorchGenerator(0).randn([1, ...c.inputs.shape.slice(1)]))).toBe(true);
      expect(same(out.subarray(per), new TorchGenerator(1).randn([1, ...c.inputs.shape.slice(1)]))).toBe(true);
    });
  }

  it('rng/randn_tensor_single_generator/2x4x8x8: one generator draws the whole shape at once', () => {
    const c = fixtureCase('rng/randn_tensor_single_generator/2x4x8x8');
    const ref = refF32(c.outputs.latents);
    const out = randnTensor(c.inputs.shape, new TorchGenerator(c.inputs.generator_seed));
    expect(same(out, ref)).toBe(true);
    // ...which differs from the generator-list draw
    const list = refF32(fixtureCase('rng/randn_tensor_generator_list/2x4x8x8').outputs.latents);
    expect(same(out, list)).toBe(false);
    expect(same(out.subarray(0, 256), list.subarray(0, 256))).toBe(true);
  });

  it('a list of one generator acts like the generator itself', () => {
    const a = randnTensor([2, 4, 8, 8], [new TorchGenerator(0)]);
    const b = randnTensor([2, 4, 8, 8], new TorchGenerator(0));
    expect(same(a, b)).toBe(true);
  });

  it('advances each generator of a list', () => {
    const gens = [new TorchGenerator(3), new TorchGenerator(4)];
    randnTensor([2, 5], gens); // N=5 per item: scalar path
    const again = randnTensor([2, 5], gens);
    const g3 = new TorchGenerator(3);
    g3.randn([1, 5]);
    expect(same(again.subarray(0, 5), g3.randn([1, 5]))).toBe(true);
  });

  it('extra generators beyond the batch are unused', () => {
    const out = randnTensor([1, 4, 4], [new TorchGenerator(0), new TorchGenerator(1)]);
    expect(same(out, new TorchGenerator(0).randn([1, 4, 4]))).toBe(true);
  });

  it('rejects too few generators, empty lists, non-generators and bad shapes', () => {
    expect(() => randnTensor([3, 4], [new TorchGenerator(0), new TorchGenerator(1)])).toThrow(PixArtError);
    expect(() => randnTensor([2, 4], [])).toThrow(PixArtError);
    expect(() => randnTensor([2, 4], [{} as TorchGenerator, {} as TorchGenerator])).toThrow(PixArtError);
    expect(() => randnTensor([2, 4], {} as TorchGenerator)).toThrow(PixArtError);
    expect(() => randnTensor([], new TorchGenerator(0))).toThrow(PixArtError);
    expect(() => randnTensor([2, -4], new TorchGenerator(0))).toThrow(PixArtError);
    expect(() => randnTensor([2, 1.5], [new TorchGenerator(0), new TorchGenerator(1)])).toThrow(PixArtError);
  });

  it('zero-size shapes give empty tensors', () => {
    expect(randnTensor([0, 4, 8, 8], [new TorchGenerator(0), new TorchGenerator(1)]).length).toBe(0);
    expect(randnTensor([2, 0, 8], [new TorchGenerator(0), new TorchGenerator(1)]).length).toBe(0);
    expect(randnTensor([2, 0], new TorchGenerator(0)).length).toBe(0);
  });
});
