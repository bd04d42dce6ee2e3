/**
 * Stepping DeviceSamples: every scheduler must record exactly the float32 arithmetic it does on
 * Float32Arrays, so a pipeline whose latents stay on the engine gets the same bits as the host
 * path. Each trajectory runs twice, on host arrays and on DeviceSamples that are materialized
 * after every step the way the pipeline does it (prevSample and stateSamples() evaluated and
 * bound to fresh tensors, everything else freed), and the two must agree bit for bit.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { casesJson, fixtureCase, refF32 } from '../../test/helpers/fixtures.js';
import { PixArtError } from '../errors.js';
import { SchedulerBase } from './base.js';
import {
  createScheduler, DeviceSample, DPMSolverMultistepScheduler, evaluateOnHost, SCHEDULER_NAMES,
  type DeviceScheduler, type Sample, type SampleTensor, type SchedulerConfig, type StepOptions, type StepResult,
} from './index.js';
import { add, clamp, divScalar, lincomb, scale, sub } from './ops.js';
import { applyOp } from './sample.js';

const f32 = Math.fround;

function pixartConfig(): Record<string, unknown> {
  return { ...casesJson().pixart_scheduler_config, lambda_min_clipped: -Infinity };
}

/** The scheduler of a fixture case, with the overrides the fixture passed to from_config. */
function build(cls: string, extra: SchedulerConfig = {}): DeviceScheduler {
  const c = fixtureCase(`scheduler/${cls}`);
  return createScheduler(cls, pixartConfig(), { ...(c.overrides_passed_to_from_config ?? {}), ...extra });
}

/** The fixtures' stand-in denoiser, in float32. */
function fakeModel(xin: Float32Array, t: number): Float32Array {
  const shift = f32(Math.sin(f32(f32(t) / 100)));
  return xin.map((v) => Math.tanh(f32(f32(0.7 * v) + shift)));
}

/** Deterministic "noise" for draw k: both runs of a trajectory get the same sequence. */
const syntheticNoise = (len: number) => (k: number) => Float32Array.from({ length: len }, (_, i) => f32(Math.sin(1.37 * i + 7.1 * k + 0.3)));

/**
 * An engine tensor stand-in. The pipeline frees every tensor that is neither the current latents
 * nor in stateSamples() after a step; `retired` marks those, and reading one fails the test, so
 * a scheduler field the stateSamples() walk missed shows up as a read of a freed tensor.
 */
class FakeTensor implements SampleTensor {
  readonly shape: number[];
  retired = false;
  constructor(readonly data: Float32Array) {
    this.shape = [data.length];
  }
}

function readLeaf(t: SampleTensor): Float32Array {
  const ft = t as FakeTensor;
  if (ft.retired) throw new Error('read a tensor the pipeline would have freed (a scheduler field missed by stateSamples()?)');
  return ft.data;
}

const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

function expectSameBits(got: Float32Array, want: Float32Array, label: string): void {
  expect(got.length, label).toBe(want.length);
  const a = bits(got);
  const b = bits(want);
  const i = a.findIndex((v, k) => v !== b[k]);
  expect(i, i < 0 ? label : `${label}: first difference at ${i}: ${got[i]} vs ${want[i]}`).toBe(-1);
}

interface Trace {
  inputs: Float32Array[];
  prev: Float32Array[];
  x0: (Float32Array | undefined)[];
  denoised: (Float32Array | undefined)[];
  draws: number;
}

interface Case {
  make: () => DeviceScheduler;
  steps: number;
  xInit: Float32Array;
  noise: (k: number) => Float32Array;
  opts: StepOptions;
}

function hostRun(c: Case): Trace {
  const s = c.make();
  s.setTimesteps(c.steps);
  s.setBeginIndex(0);
  const tr: Trace = { inputs: [], prev: [], x0: [], denoised: [], draws: 0 };
  const generator = { randn: () => c.noise(tr.draws++) };
  let x: Float32Array = c.xInit.map((v) => v * f32(s.initNoiseSigma));
  for (const t of s.timesteps) {
    const xin = s.scaleModelInput(x, t);
    const out: StepResult = s.step(fakeModel(xin, t), t, x, { ...c.opts, generator });
    expect(out.prevSample).toBeInstanceOf(Float32Array);
    tr.inputs.push(xin);
    tr.prev.push(out.prevSample);
    tr.x0.push(out.predOriginalSample);
    tr.denoised.push(out.denoised);
    x = out.prevSample;
  }
  return tr;
}

/** The same trajectory on DeviceSamples, materialized after each step like the pipeline. */
function deviceRun(c: Case): Trace {
  const s = c.make();
  expect(s.supportsDeviceSamples).toBe(true);
  s.setTimesteps(c.steps);
  s.setBeginIndex(0);
  const tr: Trace = { inputs: [], prev: [], x0: [], denoised: [], draws: 0 };
  const generator = { randn: () => c.noise(tr.draws++) };
  const tensors: FakeTensor[] = [];
  const leaf = (values: Float32Array): DeviceSample => {
    const t = new FakeTensor(values);
    tensors.push(t);
    return DeviceSample.leaf(t, values.length);
  };
  const evaluate = (x: Sample | undefined) => (x === undefined ? undefined : evaluateOnHost(x, readLeaf));
  let x: DeviceSample = leaf(c.xInit.map((v) => v * f32(s.initNoiseSigma)));
  for (const t of s.timesteps) {
    const xin = evaluate(s.scaleModelInput(x, t))!;
    const out = s.step(leaf(fakeModel(xin, t)), t, x, { ...c.opts, generator });
    expect(out.prevSample).toBeInstanceOf(DeviceSample);
    tr.inputs.push(xin);
    // Read the optional outputs before the materialization below retires what they may use.
    tr.x0.push(evaluate(out.predOriginalSample));
    tr.denoised.push(evaluate(out.denoised));
    // Materialize: evaluate the new latents and every recorded state sample, bind each to a new
    // tensor, then free all tensors no longer held.
    const keep = [out.prevSample as DeviceSample, ...s.stateSamples()];
    for (const d of keep) {
      if (!d.isLeaf) {
        const values = evaluateOnHost(d, readLeaf);
        const nt = new FakeTensor(values);
        tensors.push(nt);
        d.bind(nt);
      }
    }
    for (const d of s.stateSamples()) expect(d.isLeaf, 'state sample left unevaluated').toBe(true);
    const live = new Set(keep.map((d) => d.tensor));
    for (const ft of tensors) if (!live.has(ft)) ft.retired = true;
    x = out.prevSample as DeviceSample;
    tr.prev.push(readLeaf(x.tensor!));
  }
  return tr;
}

function expectSameTrajectory(c: Case): void {
  const host = hostRun(c);
  const device = deviceRun(c);
  expect(device.draws).toBe(host.draws);
  expect(host.prev.length).toBeGreaterThanOrEqual(c.steps);
  expect(device.prev.length).toBe(host.prev.length);
  host.prev.forEach((want, k) => {
    expectSameBits(device.inputs[k], host.inputs[k], `scaleModelInput[${k}]`);
    expectSameBits(device.prev[k], want, `prevSample[${k}]`);
    for (const key of ['x0', 'denoised'] as const) {
      const h = host[key][k];
      if (h === undefined) expect(device[key][k]).toBeUndefined();
      else expectSameBits(device[key][k]!, h, `${key}[${k}]`);
    }
  });
}

describe.each(SCHEDULER_NAMES)('%s on DeviceSamples (fixture trajectories)', (cls) => {
  const tr = fixtureCase(`scheduler/${cls}`).trajectories['20'];
  const xInit = refF32(tr.initial_noise);
  // The recorded step noise where the fixture has it, else synthetic draws for stochastic options.
  const recorded = tr.step_noise ? refF32(tr.step_noise) : undefined;
  const noise = recorded
    ? (k: number) => recorded.slice(k * xInit.length, (k + 1) * xInit.length)
    : syntheticNoise(xInit.length);
  it.each([20, 4])('%i steps: bit-identical to the host', (steps) => {
    expectSameTrajectory({ make: () => build(cls), steps, xInit, noise, opts: { shape: [1, 4, 8, 8] } });
  });
});

/** Stochastic and otherwise distinct paths the fixture configs do not take. */
const VARIANTS: [string, string, SchedulerConfig, StepOptions][] = [
  ['DDIM eta=1', 'DDIMScheduler', {}, { eta: 1 }],
  ['DDIM eta=0.5, clipped model output', 'DDIMScheduler', { prediction_type: 'v_prediction' }, { eta: 0.5, useClippedModelOutput: true }],
  ['Euler churn', 'EulerDiscreteScheduler', {}, { sChurn: 1, sNoise: 1.003 }],
  ['Euler v-prediction', 'EulerDiscreteScheduler', { prediction_type: 'v_prediction' }, {}],
  ['Euler ancestral v-prediction', 'EulerAncestralDiscreteScheduler', { prediction_type: 'v_prediction' }, {}],
  ['DPM++ SDE', 'DPMSolverMultistepScheduler', { algorithm_type: 'sde-dpmsolver++' }, {}],
  ['DPM++ SDE order 3 heun', 'DPMSolverMultistepScheduler', { algorithm_type: 'sde-dpmsolver++', solver_order: 3, solver_type: 'heun' }, {}],
  ['DPM SDE (sde-dpmsolver)', 'DPMSolverMultistepScheduler', { algorithm_type: 'sde-dpmsolver', final_sigmas_type: 'sigma_min' }, {}],
  ['DPM order 3 dpmsolver', 'DPMSolverMultistepScheduler', { algorithm_type: 'dpmsolver', solver_order: 3, final_sigmas_type: 'sigma_min' }, {}],
  ['DPM single order 3', 'DPMSolverSinglestepScheduler', { solver_order: 3 }, {}],
  ['DPM single order 3 heun SDE', 'DPMSolverSinglestepScheduler', { solver_order: 3, solver_type: 'heun', algorithm_type: 'sde-dpmsolver++' }, {}],
  ['DEIS order 3', 'DEISMultistepScheduler', { solver_order: 3 }, {}],
  ['UniPC order 3 bh1 eps', 'UniPCMultistepScheduler', { solver_order: 3, solver_type: 'bh1', predict_x0: false }, {}],
  ['SA-Solver order 3', 'SASolverScheduler', { predictor_order: 3, corrector_order: 3 }, {}],
  ['SA-Solver noise prediction', 'SASolverScheduler', { algorithm_type: 'noise_prediction' }, {}],
  ['Heun v-prediction clipped', 'HeunDiscreteScheduler', { prediction_type: 'v_prediction', clip_sample: true }, {}],
  ['LCM v-prediction clipped', 'LCMScheduler', { prediction_type: 'v_prediction', clip_sample: true }, {}],
];

describe.each(VARIANTS)('%s on DeviceSamples', (_label, cls, overrides, opts) => {
  const xInit = refF32(fixtureCase(`scheduler/${cls}`).trajectories['20'].initial_noise);
  it.each([20, 4])('%i steps: bit-identical to the host', (steps) => {
    expectSameTrajectory({
      make: () => build(cls, overrides), steps, xInit, noise: syntheticNoise(xInit.length), opts: { ...opts, shape: [1, 4, 8, 8] },
    });
  });
});

describe('the diffusers option cases on DeviceSamples', () => {
  const refs = JSON.parse(readFileSync(new URL('./testdata/diffusers_options.json', import.meta.url), 'utf8')) as {
    x_init: number[]; shape: number[]; noise: number[][];
    cases: { id: string; class: string; overrides: SchedulerConfig; n: number; step_kwargs: Record<string, number> }[];
  };
  const cases = refs.cases.filter((c) => c.overrides.thresholding !== true);
  it.each(cases.map((c) => [c.id, c] as const))('%s: bit-identical to the host', (_id, c) => {
    expectSameTrajectory({
      make: () => createScheduler(c.class, pixartConfig(), c.overrides),
      steps: c.n,
      xInit: Float32Array.from(refs.x_init),
      noise: (k) => Float32Array.from(refs.noise[k]),
      opts: { shape: refs.shape, eta: c.step_kwargs.eta, sChurn: c.step_kwargs.s_churn },
    });
  });
});

describe('scaleModelInput on DeviceSamples', () => {
  it('records the Euler family division and passes other samples through', () => {
    for (const cls of SCHEDULER_NAMES) {
      const s = build(cls);
      s.setTimesteps(4);
      const x = DeviceSample.leaf(new FakeTensor(new Float32Array(8).fill(1.5)), 8);
      const xin = s.scaleModelInput(x, s.timesteps[0]);
      const scales = ['EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler', 'HeunDiscreteScheduler', 'KDPM2DiscreteScheduler'].includes(cls);
      if (scales) {
        expect(xin).toBeInstanceOf(DeviceSample);
        expect((xin as DeviceSample).op).toBe('div');
        expectSameBits(evaluateOnHost(xin, readLeaf), s.scaleModelInput(new Float32Array(8).fill(1.5), s.timesteps[0]), cls);
      } else {
        expect(xin).toBe(x);
      }
    }
  });
});

describe('dynamic thresholding needs host samples', () => {
  const classes = ['DDIMScheduler', 'DPMSolverMultistepScheduler', 'DPMSolverSinglestepScheduler', 'DEISMultistepScheduler', 'LCMScheduler', 'SASolverScheduler', 'UniPCMultistepScheduler'];
  it.each(classes)('%s with thresholding: supportsDeviceSamples is false and a DeviceSample step throws', (cls) => {
    const s = build(cls, { thresholding: true });
    expect(s.supportsDeviceSamples).toBe(false);
    expect(build(cls).supportsDeviceSamples).toBe(true);
    s.setTimesteps(4);
    const t = s.timesteps[0];
    const x = new Float32Array(16).fill(0.25);
    const leaf = () => DeviceSample.leaf(new FakeTensor(x.slice()), 16);
    const noise = { noise: new Float32Array(16) };
    let err: unknown;
    try {
      s.step(leaf(), t, leaf(), noise);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PixArtError);
    expect((err as PixArtError).code).toBe('ERR_PIXART_INVALID_ARGUMENT');
    // A host sample with a device model output is refused too.
    expect(() => s.step(leaf(), t, x, noise)).toThrow(expect.objectContaining({ code: 'ERR_PIXART_INVALID_ARGUMENT' }));
    // The refused steps left no state behind: the host step matches a fresh scheduler's.
    expect(s.stateSamples()).toEqual([]);
    const fresh = build(cls, { thresholding: true });
    fresh.setTimesteps(4);
    const eps = fakeModel(x, t);
    expectSameBits(s.step(eps, t, x, noise).prevSample, fresh.step(eps, t, x, noise).prevSample, cls);
  });
  it('the schedulers without a thresholding option always support DeviceSamples', () => {
    for (const cls of ['EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler', 'HeunDiscreteScheduler', 'KDPM2DiscreteScheduler']) {
      expect(build(cls).supportsDeviceSamples).toBe(true);
    }
  });
});

describe('stateSamples()', () => {
  it('finds the DPM-Solver history, which materialization turns into leaves', () => {
    const s = DPMSolverMultistepScheduler.fromConfig(pixartConfig());
    s.setTimesteps(10);
    expect(s.stateSamples()).toEqual([]);
    const n = 16;
    const leaf = (v: number) => DeviceSample.leaf(new FakeTensor(new Float32Array(n).fill(v)), n);
    let x: Sample = leaf(0.5);
    const outputs: Sample[] = [];
    for (const t of s.timesteps.slice(0, 2)) {
      const r: StepResult<Sample> = s.step(leaf(0.1), t, x);
      x = r.prevSample;
      outputs.push(s.stateSamples().at(-1)!);
    }
    // solver_order 2: the converted (x0) outputs of both steps, recorded, not yet evaluated.
    const state = s.stateSamples();
    expect(state).toHaveLength(2);
    expect(state).toEqual(outputs);
    for (const d of state) expect(d.isLeaf).toBe(false);
    for (const d of state) d.bind(new FakeTensor(evaluateOnHost(d, readLeaf)));
    expect(s.stateSamples().every((d) => d.isLeaf)).toBe(true);
    // New timesteps clear the history.
    s.setTimesteps(10);
    expect(s.stateSamples()).toEqual([]);
  });

  it('walks nested arrays, Sets, Maps and plain objects, once per sample, skipping typed arrays and the config', () => {
    const leaf = () => DeviceSample.leaf(new FakeTensor(new Float32Array(2)), 2);
    const [a, b, c, d, e] = [leaf(), leaf(), leaf(), leaf(), leaf()];
    class Probe extends SchedulerBase {
      readonly className = 'Probe';
      single: Sample | null = a;
      nested: (Sample | null)[][] = [[b, null], [a]];
      record = { inner: { deep: [c] }, host: new Float32Array(2) };
      set = new Set([d]);
      map = new Map([['k', e]]);
      cycle: unknown[] = [];
      constructor() {
        super({ hidden: leaf() });
        this.cycle.push(this.cycle, this.nested);
      }
      setTimesteps(): void {}
      protected stepSample(): StepResult<Sample> {
        throw new Error('unused');
      }
    }
    const found = new Probe().stateSamples();
    expect(found).toHaveLength(5);
    expect(new Set(found)).toEqual(new Set([a, b, c, d, e]));
  });
});

describe('recorded operations round like the host ops', () => {
  const n = 4096;
  const rnd = (seed: number) => Float32Array.from({ length: n }, (_, i) => f32(Math.sin(i * 12.9898 + seed) * 43758.5453 % 7));
  const [x, y, z] = [rnd(1), rnd(2), rnd(3)];
  const leaf = (v: Float32Array) => DeviceSample.leaf(new FakeTensor(v), v.length);
  const onHost = (s: Sample) => evaluateOnHost(s, readLeaf);

  it('lincomb with non-float32 coefficients', () => {
    const host = lincomb([0.1, x], [-1 / 3, y], [Math.PI, z]);
    expectSameBits(onHost(lincomb([0.1, leaf(x)], [-1 / 3, y], [Math.PI, leaf(z)])), host, 'lincomb');
    // The double products really round differently from float32 coefficients, so this tests something.
    expect(bits(lincomb([f32(0.1), x], [f32(-1 / 3), y], [f32(Math.PI), z]))).not.toEqual(bits(host));
  });

  it('scale, add, sub, divScalar and clamp', () => {
    const [lx, ly] = [leaf(x), leaf(y)];
    expectSameBits(onHost(scale(0.1, lx)), scale(0.1, x), 'scale');
    expect(scale(1, lx)).toBe(lx);
    expectSameBits(onHost(add(lx, y)), add(x, y), 'add');
    expectSameBits(onHost(sub(x, ly)), sub(x, y), 'sub');
    expectSameBits(onHost(divScalar(lx, 3)), divScalar(x, 3), 'divScalar');
    expectSameBits(onHost(divScalar(lx, 0.1)), divScalar(x, 0.1), 'divScalar by a non-float32 double');
    expectSameBits(onHost(clamp(lx, -1.5, 2)), clamp(x, -1.5, 2), 'clamp');
  });

  it('applyOp per element: true division, NaN through clamp', () => {
    expect(applyOp('div', 1, 0, 3, 0)).toBe(f32(1 / 3));
    expect(applyOp('scale', f32(0.7), 0, 0.1, 0)).toBe(f32(0.1 * f32(0.7)));
    expect(Number.isNaN(applyOp('clamp', NaN, 0, -1, 1))).toBe(true);
    expect(applyOp('clamp', 5, 0, -1, 1)).toBe(1);
  });

  it('evaluates a shared operand once per evaluation and gives the same bits', () => {
    let reads = 0;
    const counted = DeviceSample.leaf(new FakeTensor(x), n);
    const shared = scale(0.3, counted);
    const out = add(shared, sub(shared, scale(-2, shared)));
    const values = evaluateOnHost(out, (t) => {
      reads++;
      return (t as FakeTensor).data;
    });
    const hs = scale(0.3, x);
    expectSameBits(values, add(hs, sub(hs, scale(-2, hs))), 'shared DAG');
    expect(reads).toBe(1);
  });
});
