// The engine seen from JS: off the event loop, typed errors, disposal, devices.
import { describe, expect, it } from 'vitest';
import { Engine } from '../lib/engine/Engine.js';
import { PixArtTransformer2DModel } from '../lib/models/PixArtTransformer2DModel.js';
import { T5EncoderModel } from '../lib/models/T5EncoderModel.js';
import { TINY_MODEL } from './helpers/fixtures.js';

describe('Engine', () => {
  it('reports its dtype; emptyCache runs in queue order and is a no-op on the CPU', async () => {
    const engine = Engine.create({ threads: 1 });
    expect(engine.dtype).toBe('float32');
    const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine });
    const ids = new Int32Array(8).fill(5), mask = new Int32Array(8).fill(1);
    const before = await t5.encode(ids, mask, 1, 8);
    await engine.emptyCache();
    expect((await t5.encode(ids, mask, 1, 8)).data).toEqual(before.data);
    t5.dispose();
    engine.dispose();
    await expect(engine.emptyCache()).rejects.toMatchObject({ code: 'ERR_PIXART_DISPOSED' });
  });

  it('shared(): options that mean the same engine give the same engine', () => {
    const a = Engine.shared({ threads: 1 });
    expect(Engine.shared({ threads: 1, dtype: 'float32' })).toBe(a);
    expect(Engine.shared({ threads: 1, dtype: 'bfloat16' })).toBe(a);  // the CPU always computes in float32
    expect(Engine.shared({ threads: 2 })).not.toBe(a);
    a.dispose();
    expect(Engine.shared({ threads: 1 })).not.toBe(a);  // a disposed engine is replaced
    Engine.shared({ threads: 1 }).dispose();
    Engine.shared({ threads: 2 }).dispose();
  });

  it('has no device memory figures on the CPU; memoryStats on a disposed engine is a typed error', () => {
    const engine = Engine.create({ threads: 1 });
    expect(engine.memoryStats()).toBeNull();
    engine.resetPeakMemory();
    expect(engine.memoryStats()).toBeNull();
    engine.dispose();
    expect(() => engine.memoryStats()).toThrow(expect.objectContaining({ code: 'ERR_PIXART_DISPOSED' }));
    expect(() => engine.resetPeakMemory()).toThrow(expect.objectContaining({ code: 'ERR_PIXART_DISPOSED' }));
  });

  it('keeps the event loop turning while a model loads and runs', async () => {
    const engine = Engine.create({ threads: 2 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const dit = await PixArtTransformer2DModel.fromPretrained(`${TINY_MODEL}/transformer`, { engine });
    // a 64x64-latent forward is long enough to see the loop turn many times
    const n = 4 * 64 * 64;
    const pending = dit.forward({
      latents: new Float32Array(n).fill(0.1), latentShape: [1, 4, 64, 64], timesteps: new Float32Array([500]),
      text: new Float32Array(120 * 64).fill(0.01), textShape: [1, 120, 64],
      resolution: new Float32Array([512, 512]), aspectRatio: new Float32Array([1]),
    });
    expect(engine.pending).toBe(1);
    const out = await pending;
    clearInterval(timer);
    expect(out.shape).toEqual([1, 8, 64, 64]);
    expect(ticks).toBeGreaterThan(2);
    expect(engine.pending).toBe(0);
    dit.dispose();
    engine.dispose();
    engine.dispose();
    expect(engine.disposed).toBe(true);
  });

  it('runs jobs from several models in order on one engine thread', async () => {
    const engine = Engine.create({ threads: 1 });
    const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine });
    const ids = new Int32Array(8).fill(5), mask = new Int32Array(8).fill(1);
    const results = await Promise.all([1, 2, 3].map(() => t5.encode(ids, mask, 1, 8)));
    expect(results[0].data).toEqual(results[2].data);
    t5.dispose();
    engine.dispose();
  });

  it('reports a missing model folder as ERR_PIXART_MODEL_LOAD naming the file', async () => {
    await expect(T5EncoderModel.fromPretrained('/nonexistent/text_encoder')).rejects.toMatchObject({
      code: 'ERR_PIXART_MODEL_LOAD',
      message: expect.stringContaining('/nonexistent/text_encoder/config.json'),
    });
  });

  it("says clearly that device 'cuda' has no GPU on this machine", () => {
    const probe = Engine.probeCuda();
    if (probe.deviceCount > 0) {
      // a GPU machine: the device exists, so creating an engine must not report NO_DEVICE
      expect(probe.error).toBe('');
      return;
    }
    let err: any;
    try {
      Engine.create({ device: 'cuda' });
    } catch (e) {
      err = e;
    }
    expect(err?.code).toMatch(/^ERR_PIXART_(NO_DEVICE|UNSUPPORTED)$/);
    expect(err.message).toMatch(/CUDA|GPU|driver/);
  });

  it('rejects unknown devices and bad thread counts before any native work', () => {
    expect(() => Engine.create({ device: 'tpu' as never })).toThrow(expect.objectContaining({ code: 'ERR_PIXART_INVALID_ARGUMENT' }));
    expect(() => Engine.create({ threads: -1 })).toThrow(expect.objectContaining({ code: 'ERR_PIXART_INVALID_ARGUMENT' }));
  });
});
