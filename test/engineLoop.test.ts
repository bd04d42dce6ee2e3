// The denoising loop with the scheduler steps on the engine (the default) against the host loop:
// the same bits for every scheduler, stochastic ones included, every per-step latent, and no
// engine tensor left behind after a run, a failed run or a cancelled one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../lib/engine/Engine.js';
import type { NativeStateTensor } from '../lib/native/AddonTypes.js';
import { PixArtAlphaPipeline } from '../lib/pipeline/PixArtAlphaPipeline.js';
import type { GenerateOptions, HostTensor } from '../lib/pipeline/types.js';
import { SCHEDULER_NAMES, type Sample, type Scheduler, type StepOptions } from '../lib/schedulers/index.js';
import { join } from 'node:path';
import { TINY_MODEL } from './helpers/fixtures.js';

let engine: Engine;
let pipe: PixArtAlphaPipeline;
beforeAll(async () => {
  engine = Engine.create({ threads: 2 });
  pipe = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine });
});
afterAll(() => {
  pipe?.dispose();
  engine?.dispose();
});

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

async function both(opts: GenerateOptions) {
  const runs: { latents: HostTensor; steps: number[][] }[] = [];
  for (const onEngine of [false, true]) {
    pipe.tensorsOnEngine = onEngine;
    const steps: number[][] = [];
    const r = await pipe.generate({ ...opts, outputType: 'latent', onStep: (s) => void steps.push(bits(s.latents.data)) });
    runs.push({ latents: r.tensor!, steps });
  }
  pipe.tensorsOnEngine = true;
  return runs;
}

/** Replaces obj[key] by wrap(original) until the returned function restores it. */
function patch<T extends object, K extends keyof T>(obj: T, key: K, wrap: (orig: T[K]) => T[K]): () => void {
  // An own property shadows the (read-only) prototype method of a native object.
  const orig = obj[key];
  Object.defineProperty(obj, key, { value: wrap((orig as unknown as (...a: unknown[]) => unknown).bind(obj) as T[K]), configurable: true, writable: true });
  return () => void delete obj[key];
}

/** Every state tensor the engine hands out during `fn`, to check they are all freed after it. */
async function trackTensors(fn: () => Promise<unknown>, made: NativeStateTensor[] = []): Promise<NativeStateTensor[]> {
  const native = engine.native;
  const dit = pipe.transformer!;
  const restore = [
    patch(native, 'uploadState', (orig) => async (d, s) => {
      const t = await orig(d, s);
      made.push(t);
      return t;
    }),
    patch(native, 'runStateProgram', (orig) => async (p) => {
      const ts = await orig(p);
      made.push(...ts);
      return ts;
    }),
    patch(dit, 'forwardToState', (orig) => async (a) => {
      const t = await orig(a);
      made.push(t);
      return t;
    }),
    patch(native, 'gatherState', (orig) => async (p, r) => {
      const t = await orig(p, r);
      made.push(t);
      return t;
    }),
    patch(pipe.textEncoder!, 'encodeToState', (orig) => async (i, m, b, l) => {
      const t = await orig(i, m, b, l);
      made.push(t);
      return t;
    }),
  ];
  try {
    await fn();
  } finally {
    restore.forEach((r) => r());
  }
  return made;
}

const base: GenerateOptions = { prompt: 'a red fox in the snow', seed: 7, height: 64, width: 64, useResolutionBinning: false };

describe('scheduler steps on the engine give the host loop\'s bits', () => {
  for (const name of SCHEDULER_NAMES) {
    it(name, async () => {
      const [host, dev] = await both({ ...base, scheduler: name, numInferenceSteps: 4, guidanceScale: 4.5, eta: 1 });
      expect(dev.steps.length).toBe(host.steps.length);
      expect(dev.steps).toEqual(host.steps);
      expect(bits(dev.latents.data)).toEqual(bits(host.latents.data));
    });
  }

  it('without guidance (the variance channels dropped on the engine), 2 images per prompt', async () => {
    const [host, dev] = await both({ ...base, numInferenceSteps: 3, guidanceScale: 1, numImagesPerPrompt: 2 });
    expect(dev.latents.shape).toEqual([2, 4, 8, 8]);
    expect(bits(dev.latents.data)).toEqual(bits(host.latents.data));
  });

  it('custom sigmas with Euler churn noise', async () => {
    const [host, dev] = await both({ ...base, scheduler: 'EulerDiscreteScheduler', sigmas: [14.6, 6.1, 2.3, 0.5, 0] });
    expect(bits(dev.latents.data)).toEqual(bits(host.latents.data));
  });

  it('images: decoded from the engine latents (z made there) equal the host path byte for byte', async () => {
    pipe.tensorsOnEngine = false;
    const host = await pipe.generate({ ...base, numInferenceSteps: 3 });
    pipe.tensorsOnEngine = true;
    const dev = await pipe.generate({ ...base, numInferenceSteps: 3 });
    expect(Buffer.compare(dev.images![0].data, host.images![0].data)).toBe(0);
  });

  it('a scheduler of one\'s own (the plain Scheduler interface) steps on the host', async () => {
    const { createScheduler } = await import('../lib/schedulers/index.js');
    const own = (inner = createScheduler('DDIMScheduler', { ...pipe.scheduler!.config })): Scheduler => ({
      className: 'MyDDIM', config: inner.config,
      get timesteps() { return inner.timesteps; }, get sigmas() { return inner.sigmas; },
      get initNoiseSigma() { return inner.initNoiseSigma; }, get order() { return inner.order; },
      get numInferenceSteps() { return inner.numInferenceSteps; },
      setTimesteps: (n, o) => inner.setTimesteps(n, o), setBeginIndex: (i) => inner.setBeginIndex(i),
      scaleModelInput: (x, t) => { expect(x).toBeInstanceOf(Float32Array); return inner.scaleModelInput(x, t); },
      step: (e, t, x, o) => inner.step(e, t, x, o), clone: () => own(),
    });
    let programs = 0;
    const restore = patch(engine.native, 'runStateProgram', (orig) => async (p) => { programs++; return orig(p); });
    try {
      const mine = await pipe.generate({ ...base, numInferenceSteps: 3, outputType: 'latent', scheduler: own() });
      expect(programs).toBe(0);
      pipe.tensorsOnEngine = false;
      const builtin = await pipe.generate({ ...base, numInferenceSteps: 3, outputType: 'latent', scheduler: 'DDIMScheduler' });
      expect(bits(mine.tensor!.data)).toEqual(bits(builtin.tensor!.data));
    } finally {
      pipe.tensorsOnEngine = true;
      restore();
    }
  });

  it('a step that returns host values on the engine path is uploaded, not mistaken for a recorded sample', async () => {
    const { DDIMScheduler } = await import('../lib/schedulers/index.js');
    class HostResult extends DDIMScheduler {
      protected override stepSample(m: Sample, t: number, x: Sample, o?: StepOptions) {
        super.stepSample(m, t, x, o);
        return { prevSample: new Float32Array(x.length).fill(0.25) };
      }
    }
    const mine = Object.setPrototypeOf(DDIMScheduler.fromConfig({ ...pipe.scheduler!.config }), HostResult.prototype) as HostResult;
    const r = await pipe.generate({ ...base, numInferenceSteps: 2, outputType: 'latent', scheduler: mine });
    expect(r.tensor!.data.every((v) => v === 0.25)).toBe(true);
  });

  it('dynamic thresholding steps on the host (it sorts the values) and still works', async () => {
    const sched = pipe.scheduler!;
    const r = await pipe.generate({
      ...base, numInferenceSteps: 2, outputType: 'latent',
      scheduler: (await import('../lib/schedulers/index.js')).createScheduler('DDIMScheduler', { ...sched.config, thresholding: true }),
    });
    expect(r.tensor!.data.every(Number.isFinite)).toBe(true);
  });
});

describe('concurrent loops on one engine', () => {
  it('two generations at once (interleaved steps on one engine thread) give what each gives alone', async () => {
    const a = { ...base, numInferenceSteps: 5, outputType: 'latent' as const, seed: 1 };
    const b = { ...base, numInferenceSteps: 4, outputType: 'latent' as const, seed: 2, scheduler: 'EulerAncestralDiscreteScheduler' };
    const [ra, rb] = await Promise.all([pipe.generate(a), pipe.generate(b)]);
    const sa = await pipe.generate(a), sb = await pipe.generate(b);
    expect(bits(ra.tensor!.data)).toEqual(bits(sa.tensor!.data));
    expect(bits(rb.tensor!.data)).toEqual(bits(sb.tensor!.data));
  });
});

describe('engine tensors of the loop are freed', () => {
  it('after a run: every tensor made during generate() is disposed', async () => {
    const made = await trackTensors(() => pipe.generate({ ...base, numInferenceSteps: 4, scheduler: 'UniPCMultistepScheduler' }));
    expect(made.length).toBeGreaterThan(8);
    expect(made.filter((t) => !t.disposed)).toEqual([]);
  });

  it('after a cancelled run and after a failing step callback', async () => {
    const ac = new AbortController();
    let made = await trackTensors(async () => {
      await expect(pipe.generate({ ...base, numInferenceSteps: 6, signal: ac.signal, onStep: (s) => { if (s.step === 2) ac.abort(new Error('stop')); } }))
        .rejects.toThrow('stop');
    });
    expect(made.length).toBeGreaterThan(0);
    expect(made.filter((t) => !t.disposed)).toEqual([]);
    made = await trackTensors(async () => {
      await expect(pipe.generate({ ...base, numInferenceSteps: 3, onStep: () => { throw new Error('callback failed'); } })).rejects.toThrow('callback failed');
    });
    expect(made.filter((t) => !t.disposed)).toEqual([]);
  });

  it('while running, the loop holds the latents and the solver history only', async () => {
    const made: NativeStateTensor[] = [];
    const counts: number[] = [];
    await trackTensors(() => pipe.generate({
      ...base, numInferenceSteps: 5, outputType: 'latent',
      onStep: () => void counts.push(made.filter((t) => !t.disposed).length),
    }), made);
    // The prompt embeddings' rows (until the run ends), the latents, and DPM-Solver++ 2M's last two
    // model outputs (one after the first step).
    expect(counts).toEqual([3, 4, 4, 4, 4]);
    expect(made.filter((t) => !t.disposed)).toEqual([]);
  });
});

describe('emptyCacheBetweenPhases', () => {
  it('gives the cached blocks back between the loop and the decode and after the decode, on a GPU engine only', async () => {
    const calls: string[] = [];
    const restore = [
      patch(engine, 'emptyCache', (orig) => async () => { calls.push('emptyCache'); return orig(); }),
      patch(pipe.vae!, 'decodeToRgb', (orig) => async (z) => { calls.push('decode'); return orig(z); }),
    ];
    try {
      pipe.emptyCacheBetweenPhases = true;
      await pipe.generate({ ...base, numInferenceSteps: 2 });
      expect(calls).toEqual(['decode']);  // the CPU engine has no cache to give back
      calls.length = 0;
      Object.defineProperty(engine, 'device', { value: 'cuda', configurable: true });  // as a GPU engine would say
      await pipe.generate({ ...base, numInferenceSteps: 2 });
      expect(calls).toEqual(['emptyCache', 'decode', 'emptyCache']);
      calls.length = 0;
      await pipe.generate({ ...base, numInferenceSteps: 2, outputType: 'latent' });  // no decode: nothing to separate
      expect(calls).toEqual([]);
      calls.length = 0;
      pipe.emptyCacheBetweenPhases = false;
      await pipe.generate({ ...base, numInferenceSteps: 2 });
      expect(calls).toEqual(['decode']);
    } finally {
      delete (engine as { device?: string }).device;
      pipe.emptyCacheBetweenPhases = false;
      restore.forEach((r) => r());
    }
  });
});

describe('callbackSteps (diffusers\' callback_steps)', () => {
  it('calls onStep at iterations i % callbackSteps == 0 only, with the latents of that step', async () => {
    const all: number[][] = [], some: { step: number; bits: number[] }[] = [];
    await pipe.generate({ ...base, numInferenceSteps: 5, outputType: 'latent', onStep: (s) => void all.push(bits(s.latents.data)) });
    await pipe.generate({ ...base, numInferenceSteps: 5, outputType: 'latent', callbackSteps: 2, onStep: (s) => void some.push({ step: s.step, bits: bits(s.latents.data) }) });
    expect(some.map((s) => s.step)).toEqual([0, 2, 4]);
    expect(some.map((s) => s.bits)).toEqual([all[0], all[2], all[4]]);
  });

  it('rejects what diffusers rejects, before any native work', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, '2']) {
      await expect(pipe.generate({ ...base, callbackSteps: bad as number })).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: expect.stringMatching(/callbackSteps/) });
    }
    await expect(pipe.generate({ ...base, onStep: 'x' as unknown as () => void })).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
  });
});

describe('prompt embeddings from T5 to the transformer on the engines', () => {
  it('T5 on another engine: rows gathered across engines give the same latents as one engine and as the host path', async () => {
    const textEngine = Engine.create({ threads: 2 });  // as the main engine: the same CPU partitioning, the same bits
    const { T5EncoderModel } = await import('../lib/models/T5EncoderModel.js');
    const te = await T5EncoderModel.fromPretrained(join(TINY_MODEL, 'text_encoder'), { engine: textEngine });
    const two = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine, textEncoder: te });
    try {
      expect(two.textEncoder!.engine).not.toBe(two.transformer!.engine);
      const opts = { ...base, prompt: ['a red fox', 'two cats'], negativePrompt: ['blurry', ''], numImagesPerPrompt: 2, numInferenceSteps: 3, outputType: 'latent' as const };
      const across = await two.generate(opts);
      const one = await pipe.generate(opts);
      pipe.tensorsOnEngine = false;
      const host = await pipe.generate(opts);
      pipe.tensorsOnEngine = true;
      expect(across.tensor!.shape).toEqual([4, 4, 8, 8]);
      expect(bits(across.tensor!.data)).toEqual(bits(one.tensor!.data));
      expect(bits(one.tensor!.data)).toEqual(bits(host.tensor!.data));
    } finally {
      two.dispose();
      te.dispose();
      textEngine.dispose();
    }
  });

  it('the T5 outputs and the gathered rows are freed after the run', async () => {
    const made = await trackTensors(() => pipe.generate({ ...base, numInferenceSteps: 2, numImagesPerPrompt: 3 }));
    expect(made.length).toBeGreaterThan(4);
    expect(made.filter((t) => !t.disposed)).toEqual([]);
  });

  it('gatherState rejects rows and parts that do not fit, with typed errors', async () => {
    const native = engine.native;
    const a = await native.uploadState(new Float32Array(6), [2, 3]);
    const b = await native.uploadState(new Float32Array(4), [2, 2]);
    await expect(native.gatherState([a], Int32Array.from([0, 2]))).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: expect.stringMatching(/row 2 of part 0/) });
    await expect(native.gatherState([a, b], Int32Array.from([0, 0]))).rejects.toMatchObject({ message: expect.stringMatching(/rows unlike part 0/) });
    expect(() => native.gatherState([a], Int32Array.from([0]))).toThrow(/pairs/);
    const g = await native.gatherState([a, a], Int32Array.from([1, 1, 0, 0, 0, 1]));
    expect(g.shape).toEqual([3, 3]);
    a.dispose();
    expect(() => native.gatherState([a], Int32Array.from([0, 0]))).toThrow(/disposed/);
    b.dispose();
    g.dispose();
  });
});

describe('recordSteps: the transformer step recorded and replayed (CUDA graphs on a GPU)', () => {
  async function withRecording(opts: GenerateOptions, record: boolean) {
    pipe.recordSteps = record;
    const stats: (object | null)[] = [];
    const dit = pipe.transformer!;
    const restore = [
      patch(dit, 'forwardToState', (orig) => async (a) => {
        const t = await orig(a);
        if ('conditioning' in a) stats.push(a.conditioning.stepStats);
        return t;
      }),
      patch(dit, 'forward', (orig) => async (a) => {
        const t = await orig(a);
        if ('conditioning' in a) stats.push(a.conditioning.stepStats);
        return t;
      }),
    ];
    const steps: number[][] = [];
    try {
      const r = await pipe.generate({ ...opts, outputType: 'latent', onStep: (s) => void steps.push(bits(s.latents.data)) });
      return { latents: bits(r.tensor!.data), steps, stats };
    } finally {
      restore.forEach((r) => r());
      pipe.recordSteps = false;
    }
  }

  for (const [label, opts] of [
    ['DPM-Solver++ with guidance', { ...base, numInferenceSteps: 5, guidanceScale: 4.5 }],
    ['Euler ancestral (noise every step), 2 images, no guidance', { ...base, scheduler: 'EulerAncestralDiscreteScheduler', numInferenceSteps: 4, guidanceScale: 1, numImagesPerPrompt: 2 }],
  ] as [string, GenerateOptions][]) {
    it(`${label}: the same bits as without, and the recording serves every step after the first`, async () => {
      const plain = await withRecording(opts, false);
      const rec = await withRecording(opts, true);
      expect(rec.latents).toEqual(plain.latents);
      expect(rec.steps).toEqual(plain.steps);
      expect(plain.stats.every((s) => s === null)).toBe(true);
      const n = opts.numInferenceSteps!;
      expect(rec.stats.length).toBe(n);
      // Step 1 runs plainly (warm-up), step 2 records, the rest replay; the CPU runs the ops each time.
      expect(rec.stats[0]).toEqual({ recorded: false, recordings: 0, runs: 0, plain: 1, reason: '' });
      expect(rec.stats[n - 1]).toMatchObject({ recorded: false, recordings: 1, runs: n - 1, plain: 1 });
      expect((rec.stats[n - 1] as { reason: string }).reason).toMatch(/does not record graphs/);
    });
  }

  it('the host loop records too and gives the same bits', async () => {
    pipe.tensorsOnEngine = false;
    try {
      const plain = await withRecording({ ...base, numInferenceSteps: 3 }, false);
      const rec = await withRecording({ ...base, numInferenceSteps: 3 }, true);
      expect(rec.latents).toEqual(plain.latents);
      expect(rec.stats[2]).toMatchObject({ recordings: 1, runs: 2, plain: 1 });
    } finally {
      pipe.tensorsOnEngine = true;
    }
  });

  it('prepareConditioning checks the option; stepStats is null without it and after dispose', async () => {
    const dit = pipe.transformer!;
    const text = new Float32Array(2 * 4 * dit.config.captionChannels);
    const args = {
      text, textShape: [2, 4, dit.config.captionChannels] as [number, number, number],
      resolution: new Float32Array([64, 64, 64, 64]), aspectRatio: new Float32Array([1, 1]),
    };
    await expect(dit.prepareConditioning({ ...args, recordSteps: 'yes' as unknown as boolean })).rejects.toThrow(/recordSteps must be a boolean/);
    const off = await dit.prepareConditioning(args);
    expect(off.stepStats).toBeNull();
    off.dispose();
    const on = await dit.prepareConditioning({ ...args, recordSteps: true });
    expect(on.stepStats).toEqual({ recorded: false, recordings: 0, runs: 0, plain: 0, reason: '' });
    on.dispose();
    expect(on.stepStats).toBeNull();
  });
});
