/**
 * Construction, validation and state handling of the scheduler API: typed errors for bad input,
 * name lookup, config handling like diffusers' from_config, and clone() independence.
 */
import { describe, expect, it } from 'vitest';
import { casesJson } from '../../test/helpers/fixtures.js';
import { PixArtError } from '../errors.js';
import * as schedulers from './index.js';
import {
  createScheduler, DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
  LCMScheduler, resolveSchedulerName, SCHEDULER_NAMES, UniPCMultistepScheduler, type Scheduler,
} from './index.js';
import { MAX_CONFIG_INT } from './config.js';

function pixart(): Record<string, unknown> {
  return { ...casesJson().pixart_scheduler_config, lambda_min_clipped: -Infinity };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PixArtError);
    return (e as PixArtError).code;
  }
  throw new Error('expected a PixArtError');
}

const sample = () => Float32Array.from({ length: 16 }, (_, i) => Math.sin(i));
const eps = (x: Float32Array, t: number) => x.map((v) => Math.tanh(0.7 * v + Math.sin(t / 100)));

/** Runs a full denoising loop with a deterministic fake model; returns the final sample. */
function run(s: Scheduler, steps: number, noiseSeed = 0): Float32Array {
  s.setTimesteps(steps);
  let x: Float32Array = sample().map((v) => v * s.initNoiseSigma);
  let k = noiseSeed;
  const generator = { randn: (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.cos(k++)) };
  for (const t of s.timesteps) x = s.step(eps(s.scaleModelInput(x, t), t), t, x, { generator }).prevSample;
  return x;
}

describe('constructors take options by name, as diffusers\' do', () => {
  const classes = SCHEDULER_NAMES.map((name) => [name, (schedulers as unknown as Record<string, new (o?: object) => Scheduler>)[name]] as const);
  it('every class is exported under its name', () => {
    for (const [name, Ctor] of classes) expect(new Ctor().className).toBe(name);
  });
  it('no options: the defaults, the same config as fromConfig({})', () => {
    for (const [name, Ctor] of classes) expect(new Ctor().config).toEqual(createScheduler(name, {}).config);
  });
  it('named options override the defaults and are checked like fromConfig overrides', () => {
    for (const [name, Ctor] of classes) {
      const s = new Ctor({ beta_end: 0.03, num_train_timesteps: 500 });
      expect(s.config).toEqual(createScheduler(name, {}, { beta_end: 0.03, num_train_timesteps: 500 }).config);
      expect(s.config.beta_end).toBe(0.03);
      // and it runs: the same loop as the one fromConfig built
      expect(run(s, 4)).toEqual(run(createScheduler(name, {}, { beta_end: 0.03, num_train_timesteps: 500 }), 4));
    }
    expect(new DPMSolverMultistepScheduler({ solver_order: 3 }).config.solver_order).toBe(3);
  });
  it('unknown options, bad values and non-objects are typed errors (were a RangeError)', () => {
    for (const [, Ctor] of classes) {
      expect(code(() => new Ctor({ beta_ned: 0.5 }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
      expect(code(() => new Ctor({ beta_end: 'x' }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
      expect(code(() => new Ctor({ num_train_timesteps: 1e9 }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
      expect(code(() => new Ctor(42 as never))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    }
    expect(() => new DDIMScheduler({ beta_ned: 0.5 })).toThrow(/DDIMScheduler: unknown option "beta_ned"/);
  });
});

describe('bad input raises PixArtError with a code', () => {
  it('unknown override key', () => {
    expect(code(() => DPMSolverMultistepScheduler.fromConfig(pixart(), { solver_ordr: 3 }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
  });
  it('invalid option values', () => {
    expect(code(() => DPMSolverMultistepScheduler.fromConfig(pixart(), { solver_order: 4 }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => DPMSolverMultistepScheduler.fromConfig({ ...pixart(), timestep_spacing: 'cosine' }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => DPMSolverMultistepScheduler.fromConfig({ ...pixart(), num_train_timesteps: 0 }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => DPMSolverMultistepScheduler.fromConfig(pixart(), { use_karras_sigmas: true, use_beta_sigmas: true }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => DPMSolverMultistepScheduler.fromConfig(pixart(), { algorithm_type: 'dpmsolver' }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => DPMSolverMultistepScheduler.fromConfig('nope' as never))).toBe('ERR_PIXART_INVALID_ARGUMENT');
  });
  it('integer options past MAX_CONFIG_INT (a 1e9-step noise schedule would exhaust the heap)', () => {
    for (const name of SCHEDULER_NAMES) {
      for (const v of [1e9, 2 ** 31, MAX_CONFIG_INT + 1]) {
        expect(() => createScheduler(name, { ...pixart(), num_train_timesteps: v })).toThrow(/num_train_timesteps must be an integer between 1 and 100000/);
      }
    }
    expect(code(() => DDIMScheduler.fromConfig({ ...pixart(), steps_offset: 1e12 }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => LCMScheduler.fromConfig({ ...pixart(), original_inference_steps: 1e9 }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    // the bound itself is accepted
    expect(createScheduler('DDIMScheduler', { ...pixart(), num_train_timesteps: MAX_CONFIG_INT }).config.num_train_timesteps).toBe(MAX_CONFIG_INT);
  });
  it('betas outside [0, 1] (diffusers: NaN latents or an IndexError)', () => {
    for (const name of SCHEDULER_NAMES) {
      for (const cfg of [{ beta_end: 2 }, { beta_start: -1 }, { beta_end: 1.5, beta_schedule: 'scaled_linear' }, { trained_betas: [0.1, -0.2, 0.3] }]) {
        expect(() => createScheduler(name, { ...pixart(), ...cfg })).toThrow(/every beta must lie in \[0, 1\]/);
      }
      // extreme but not NaN by construction: built as diffusers builds it
      expect(() => createScheduler(name, { ...pixart(), beta_end: 0.5 })).not.toThrow();
    }
  });
  it('diffusers options this port does not implement', () => {
    expect(code(() => DPMSolverMultistepScheduler.fromConfig(pixart(), { use_flow_sigmas: true }))).toBe('ERR_PIXART_UNSUPPORTED');
    expect(code(() => DPMSolverMultistepScheduler.fromConfig(pixart(), { variance_type: 'learned_range' }))).toBe('ERR_PIXART_UNSUPPORTED');
    expect(code(() => DPMSolverMultistepScheduler.fromConfig(pixart(), { prediction_type: 'flow_prediction' }))).toBe('ERR_PIXART_UNSUPPORTED');
    expect(code(() => UniPCMultistepScheduler.fromConfig(pixart(), { solver_p: {} }))).toBe('ERR_PIXART_UNSUPPORTED');
  });
  it('numInferenceSteps < 1 or not an integer', () => {
    for (const name of SCHEDULER_NAMES) {
      const s = createScheduler(name, pixart());
      expect(code(() => s.setTimesteps(0))).toBe('ERR_PIXART_INVALID_ARGUMENT');
      expect(code(() => s.setTimesteps(2.5))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    }
  });
  it('wrong-length sample or model output', () => {
    for (const name of SCHEDULER_NAMES) {
      const s = createScheduler(name, pixart());
      s.setTimesteps(4);
      const t = s.timesteps[0];
      expect(code(() => s.step(new Float32Array(16), t, new Float32Array(15), { noise: new Float32Array(15) }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
      expect(code(() => s.step(new Float32Array(0), t, new Float32Array(0)))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    }
  });
  it('stochastic steps need noise or a generator', () => {
    const s = EulerAncestralDiscreteScheduler.fromConfig(pixart());
    s.setTimesteps(4);
    const x = sample();
    expect(code(() => s.step(eps(x, 999), s.timesteps[0], x))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => s.step(eps(x, 999), s.timesteps[0], x, { noise: new Float32Array(3) }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
  });
  it('step before setTimesteps, and custom timesteps where diffusers has none', () => {
    const s = DPMSolverMultistepScheduler.fromConfig(pixart());
    const x = sample();
    expect(code(() => s.step(x, 999, x))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => DDIMScheduler.fromConfig(pixart()).setTimesteps(undefined, { timesteps: [999, 500] }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
    expect(code(() => s.setTimesteps(4, { timesteps: [999, 500] }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
  });
  it('stepping past the end of the schedule', () => {
    const s = DPMSolverMultistepScheduler.fromConfig(pixart());
    s.setTimesteps(1);
    const x = sample();
    s.step(eps(x, 999), 999, x);
    expect(code(() => s.step(eps(x, 999), 999, x))).toBe('ERR_PIXART_INVALID_ARGUMENT');
  });
  it('unknown scheduler name', () => {
    expect(code(() => createScheduler('plms', pixart()))).toBe('ERR_PIXART_INVALID_ARGUMENT');
  });
});

describe('config handling follows diffusers from_config', () => {
  it('ignores keys of other scheduler classes and bookkeeping keys', () => {
    const s = DDIMScheduler.fromConfig({ ...pixart(), _diffusers_version: '0.22.0', some_future_key: 1 });
    expect(s.config).not.toHaveProperty('solver_order');
    expect(s.config).not.toHaveProperty('some_future_key');
    expect(s.config.clip_sample).toBe(true);
    expect(s.config.timestep_spacing).toBe('linspace');
  });
  it('falls back to class defaults for keys in _use_default_values', () => {
    const s = DDIMScheduler.fromConfig({ ...pixart(), _use_default_values: ['timestep_spacing'] });
    expect(s.config.timestep_spacing).toBe('leading');
  });
  it('accepts the JSON spelling "-Infinity" and overrides win over the config', () => {
    const s = DPMSolverMultistepScheduler.fromConfig({ ...pixart(), lambda_min_clipped: '-Infinity' }, { solver_order: 3 });
    expect(s.config.lambda_min_clipped).toBe(-Infinity);
    expect(s.config.solver_order).toBe(3);
  });
  it('re-registers foreign algorithm names like diffusers', () => {
    expect(DPMSolverMultistepScheduler.fromConfig(pixart(), { algorithm_type: 'deis', solver_type: 'bh2', final_sigmas_type: 'sigma_min' }).config)
      .toMatchObject({ algorithm_type: 'dpmsolver++', solver_type: 'midpoint' });
    // diffusers checks final_sigmas_type against the name given: 'deis' with the default "zero" is a ValueError there
    expect(() => DPMSolverMultistepScheduler.fromConfig(pixart(), { algorithm_type: 'deis' }))
      .toThrow(expect.objectContaining({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: expect.stringContaining('"deis"') }));
    expect(createScheduler('deis', pixart()).config).toMatchObject({ algorithm_type: 'deis', solver_type: 'logrho' });
    expect(createScheduler('unipc', pixart()).config.solver_type).toBe('bh2');
  });
  it('config is a read-only snapshot', () => {
    const s = DPMSolverMultistepScheduler.fromConfig(pixart());
    expect(Object.isFrozen(s.config)).toBe(true);
    expect(s.config).toEqual(DPMSolverMultistepScheduler.fromConfig(s.config as Record<string, unknown>).config);
  });
});

describe('names and cloning', () => {
  it('resolves class names and aliases', () => {
    expect(SCHEDULER_NAMES).toHaveLength(11);
    const aliases: Record<string, string> = {
      'dpm++2m': 'DPMSolverMultistepScheduler', ddim: 'DDIMScheduler', euler: 'EulerDiscreteScheduler',
      euler_a: 'EulerAncestralDiscreteScheduler', unipc: 'UniPCMultistepScheduler', lcm: 'LCMScheduler',
      'sa-solver': 'SASolverScheduler', heun: 'HeunDiscreteScheduler', 'dpm-single': 'DPMSolverSinglestepScheduler',
      deis: 'DEISMultistepScheduler', kdpm2: 'KDPM2DiscreteScheduler',
    };
    for (const [alias, cls] of Object.entries(aliases)) {
      expect(resolveSchedulerName(alias)).toBe(cls);
      expect(createScheduler(alias, pixart()).className).toBe(cls);
    }
    expect(resolveSchedulerName('eulerdiscretescheduler')).toBe('EulerDiscreteScheduler');
  });
  it('clones are independent: interleaved runs equal separate runs', () => {
    for (const name of SCHEDULER_NAMES) {
      const proto = createScheduler(name, pixart());
      const expected = run(proto.clone(), 6);
      const a = proto.clone();
      const b = proto.clone();
      expect(a).not.toBe(b);
      a.setTimesteps(6);
      b.setTimesteps(3);
      // Interleave a with a differently configured run of b; a must be unaffected.
      let xa: Float32Array = sample().map((v) => v * a.initNoiseSigma);
      let k = 0;
      const gen = { randn: (shape: number[]) => Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => Math.cos(k++)) };
      let xb: Float32Array = sample();
      a.timesteps.forEach((t, i) => {
        xa = a.step(eps(a.scaleModelInput(xa, t), t), t, xa, { generator: gen }).prevSample;
        const tb = b.timesteps[i];
        if (tb !== undefined) xb = b.step(eps(b.scaleModelInput(xb, tb), tb), tb, xb, { noise: new Float32Array(16) }).prevSample;
      });
      expect(Array.from(xa), name).toEqual(Array.from(expected));
    }
  });
  it('setTimesteps resets the solver state, so a scheduler can be reused', () => {
    for (const name of SCHEDULER_NAMES) {
      const s = createScheduler(name, pixart());
      const first = run(s, 5);
      expect(Array.from(run(s, 5)), name).toEqual(Array.from(first));
    }
  });
});

describe('options outside the PixArt fixture', () => {
  it('DPM-Solver++ with Karras sigmas: decreasing integer timesteps and sigmas ending at 0', () => {
    const s = DPMSolverMultistepScheduler.fromConfig(pixart(), { use_karras_sigmas: true });
    s.setTimesteps(10);
    expect(s.timesteps).toHaveLength(10);
    expect(s.timesteps[0]).toBe(999);
    s.timesteps.forEach((t, i) => {
      expect(Number.isInteger(t)).toBe(true);
      if (i > 0) expect(t).toBeLessThan(s.timesteps[i - 1]);
    });
    expect(s.sigmas[0]).toBeCloseTo(157.4072723388672, 3);
    expect(s.sigmas[9]).toBeCloseTo(0.010001329705119133, 6);
    expect(s.sigmas[10]).toBe(0);
  });
  it('DDIM with eta > 0 uses the given noise and reports x0', () => {
    const s = DDIMScheduler.fromConfig(pixart());
    s.setTimesteps(10);
    const x = sample();
    const e = eps(x, s.timesteps[0]);
    const a = s.step(e, s.timesteps[0], x, { eta: 1, noise: new Float32Array(16).fill(1) });
    const b = s.step(e, s.timesteps[0], x, { eta: 1, noise: new Float32Array(16).fill(-1) });
    expect(a.predOriginalSample).toEqual(b.predOriginalSample);
    expect(a.prevSample[0]).toBeGreaterThan(b.prevSample[0]);
  });
  it('LCM accepts custom timesteps and rejects non-descending ones', () => {
    const s = LCMScheduler.fromConfig(pixart());
    s.setTimesteps(undefined, { timesteps: [999, 759, 499, 259] });
    expect(s.timesteps).toEqual([999, 759, 499, 259]);
    expect(code(() => s.setTimesteps(undefined, { timesteps: [500, 700] }))).toBe('ERR_PIXART_INVALID_ARGUMENT');
  });
  it('Euler accepts custom sigmas and maps them back to fractional timesteps', () => {
    const s = EulerDiscreteScheduler.fromConfig(pixart());
    s.setTimesteps(undefined, { sigmas: [157.4072723388672, 3.442967414855957, 0] });
    expect(Array.from(s.sigmas)).toEqual([Math.fround(157.4072723388672), Math.fround(3.442967414855957), 0]);
    expect(s.timesteps[0]).toBeCloseTo(999, 3);
    expect(s.timesteps[1]).toBeCloseTo(500, 2);
  });
});
