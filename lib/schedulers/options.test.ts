/**
 * Scheduler options the PixArt fixture does not exercise (Karras/Lu/exponential/beta sigmas,
 * SDE and first-generation DPM-Solver, orders 1-3, heun/bh1 variants, spacings, thresholding,
 * v-prediction, zero-terminal-SNR, churn, ...), against references produced by running the
 * diffusers scheduler modules (same commit as the fixtures) on torch 1.13 / numpy 1.24 / scipy
 * 1.10 with a 16-value sample shaped [1, 4, 2, 2] and the same stand-in model as the fixtures.
 * See testdata/README.md.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { casesJson, expectClose } from '../../test/helpers/fixtures.js';
import { createScheduler } from './index.js';

interface OptionCase {
  id: string; class: string; overrides: Record<string, unknown>; n: number; step_kwargs: Record<string, number>;
  timesteps: number[]; timesteps_dtype: string; init_noise_sigma: number; sigmas?: number[];
  x_after_step: number[][]; denoised?: number[][]; num_noise_draws: number;
}
const refs = JSON.parse(readFileSync(new URL('./testdata/diffusers_options.json', import.meta.url), 'utf8')) as {
  x_init: number[]; shape: number[]; noise: number[][]; cases: OptionCase[];
};
const f32 = Math.fround;

function pixart(): Record<string, unknown> {
  return { ...casesJson().pixart_scheduler_config, lambda_min_clipped: -Infinity };
}

const relDiff = (a: number, b: number) => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(b), 1e-30));

describe.each(refs.cases.map((c) => [c.id, c] as const))('%s', (_id, c) => {
  it('matches diffusers: timesteps, sigmas and the trajectory', () => {
    const s = createScheduler(c.class, pixart(), c.overrides);
    s.setTimesteps(c.n);
    const integer = c.timesteps_dtype === 'torch.int64';
    expect(s.timesteps.length).toBe(c.timesteps.length);
    s.timesteps.forEach((t, i) => {
      // Integer schedules and grid points are exact; fractional timesteps come through logs
      // and interpolation, where numpy's/torch's float32 log differs in the last bits.
      if (integer || Number.isInteger(c.timesteps[i])) expect(t, `timestep ${i}`).toBe(c.timesteps[i]);
      else expect(relDiff(t, c.timesteps[i]), `timestep ${i}: ${t} vs ${c.timesteps[i]}`).toBeLessThan(2e-6);
    });
    if (c.sigmas) {
      expect(s.sigmas.length).toBe(c.sigmas.length);
      c.sigmas.forEach((w, i) => expect(relDiff(s.sigmas[i], w), `sigma ${i}`).toBeLessThan(1e-6));
    }
    expect(relDiff(s.initNoiseSigma, c.init_noise_sigma)).toBeLessThan(1e-6);

    s.setBeginIndex(0);
    let draws = 0;
    const generator = { randn: () => Float32Array.from(refs.noise[draws++]) };
    let x: Float32Array = Float32Array.from(refs.x_init, (v) => v * f32(s.initNoiseSigma));
    const opts = { generator, shape: refs.shape, eta: c.step_kwargs.eta, sChurn: c.step_kwargs.s_churn };
    s.timesteps.forEach((t, k) => {
      const xin = s.scaleModelInput(x, t);
      const shift = f32(Math.sin(f32(f32(t) / 100)));
      const eps = xin.map((v) => Math.tanh(f32(f32(0.7 * v) + shift)));
      const out = s.step(eps, t, x, opts);
      x = out.prevSample;
      expectClose(x, c.x_after_step[k], { atol: 1e-6, rtol: 2e-5, relToMax: true, label: `${c.id} x_after_step[${k}]` });
      if (c.denoised) expectClose(out.denoised!, c.denoised[k], { atol: 1e-6, rtol: 2e-5, relToMax: true, label: `${c.id} denoised[${k}]` });
    });
    expect(draws).toBe(c.num_noise_draws);
  });
});
