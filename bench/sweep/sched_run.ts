/**
 * Scheduler-alone sweep, SDK side: replays /tmp/sweep/sched/cases.json (bench/sweep/sched_gen.py)
 * through createScheduler(class, PixArt DPM config + overrides) on the host, with the same
 * stand-in model and the same torch generators, and compares timesteps, sigmas,
 * init_noise_sigma and the trajectory (relative to max|ref|, 1e-4 + 1e-4*max|ref|).
 *
 *   npx tsx bench/sweep/sched_run.ts [--verbose]
 */
import { readFileSync } from 'node:fs';
import JSON5 from 'json5';
import { readSafetensorsFile } from '../../lib/io/safetensorsFile.js';
import { randnTensor } from '../../lib/random/randnTensor.js';
import { TorchGenerator } from '../../lib/random/TorchGenerator.js';
import { createScheduler } from '../../lib/schedulers/index.js';

const DIR = '/tmp/sweep/sched';
const f32 = Math.fround;
const { cases } = JSON5.parse(readFileSync(`${DIR}/cases.json`, 'utf8'));
const refs = readSafetensorsFile(`${DIR}/refs.safetensors`);
const shape = [1, 4, 6, 5];
let pass = 0, fail = 0, other = 0;

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>) {
  let m = 0, mr = 0, at = -1;
  // identical non-finite values (both NaN, or the same infinity) count as equal: diffusers itself
  // degenerates for some configs, and matching it there is what is asked
  const same = (x: number, y: number) => (Number.isNaN(x) && Number.isNaN(y)) || (!Number.isFinite(y) && x === y);
  for (let i = 0; i < b.length; i++) if (Number.isFinite(b[i])) mr = Math.max(mr, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) { if (same(a[i], b[i])) continue; const d = Math.abs(a[i] - b[i]); if (!(d <= m)) { m = d; at = i; } }
  return { maxAbs: m, maxRef: mr, at, ok: m <= 1e-4 + 1e-4 * mr };
}

for (const [k, c] of (cases as any[]).entries()) {
  const idx = Number(c.id.slice(1, 3));
  let s;
  const tag = `${c.id.padEnd(34)} ${JSON.stringify(c.overrides).slice(0, 90)} n=${JSON.stringify(c.n)} ${JSON.stringify(c.step_kwargs)}`;
  try {
    s = createScheduler(c.class, { ...c.config, lambda_min_clipped: c.config.lambda_min_clipped ?? -Infinity });
    if (typeof c.n === 'number') s.setTimesteps(c.n);
    else s.setTimesteps(undefined, c.n);
  } catch (e: any) {
    if (c.error) { other++; console.log(`ERR-BOTH    ${tag}\n            sdk: ${e.message}\n            diffusers: ${c.error}`); }
    else { fail++; console.log(`SDK-REJECTS ${tag}\n            ${e.code} ${e.message}`); }
    continue;
  }
  if (c.error) { other++; console.log(`SDK-ACCEPTS ${tag}\n            diffusers: ${c.error}`); continue; }
  const problems: string[] = [];
  if (s.timesteps.length !== c.timesteps.length) problems.push(`timesteps length ${s.timesteps.length} vs ${c.timesteps.length}: ${s.timesteps} vs ${c.timesteps}`);
  else {
    const bad = s.timesteps.findIndex((t: number, i: number) => Math.abs(t - c.timesteps[i]) > 1e-5 * Math.max(1, Math.abs(c.timesteps[i])));
    if (bad >= 0) problems.push(`timestep[${bad}] ${s.timesteps[bad]} vs ${c.timesteps[bad]} (all: ${s.timesteps.join(',')} vs ${c.timesteps.join(',')})`);
  }
  if (c.sigmas && s.sigmas.length) {
    if (s.sigmas.length !== c.sigmas.length) problems.push(`sigmas length ${s.sigmas.length} vs ${c.sigmas.length}`);
    else {
      const bad = c.sigmas.findIndex((w: number, i: number) => Math.abs(s.sigmas[i] - w) > 2e-6 * Math.max(Math.abs(w), 1e-30));
      if (bad >= 0) problems.push(`sigma[${bad}] ${s.sigmas[bad]} vs ${c.sigmas[bad]}`);
    }
  }
  if (Math.abs(s.initNoiseSigma - c.init_noise_sigma) > 1e-6 * Math.max(1, c.init_noise_sigma)) problems.push(`init_noise_sigma ${s.initNoiseSigma} vs ${c.init_noise_sigma}`);
  if (s.order !== c.order) problems.push(`order ${s.order} vs ${c.order}`);
  s.setBeginIndex(0);
  const g0 = new TorchGenerator(1000 + idx);
  const gen = new TorchGenerator(2000 + idx);
  const noise = { randn: (sh: number[]) => randnTensor(sh, gen) };
  const init = randnTensor(shape, g0);
  let x: Float32Array<ArrayBufferLike> = Float32Array.from(init, (v) => v * f32(s.initNoiseSigma));
  const xs = refs.get(`${c.id}/x`)!.data as Float32Array;
  const n = 120;
  let firstBad = '';
  let worst = 0;
  let last1: Float32Array | undefined;
  try {
    s.timesteps.forEach((t: number, j: number) => {
      const xin = s.scaleModelInput(x, t);
      const shift = f32(Math.sin(f32(f32(t) / 100)));
      const eps = xin.map((v) => Math.tanh(f32(f32(0.7 * v) + shift)));
      const out = s.step(eps, t, x, {
        generator: noise, shape, eta: c.step_kwargs.eta, useClippedModelOutput: c.step_kwargs.use_clipped_model_output,
        sChurn: c.step_kwargs.s_churn, sTmin: c.step_kwargs.s_tmin, sTmax: c.step_kwargs.s_tmax, sNoise: c.step_kwargs.s_noise,
      });
      x = out.prevSample;
      last1 = out.denoised ?? out.predOriginalSample;
      if (j < xs.length / n) {
        const r = maxRel(x, xs.subarray(j * n, (j + 1) * n));
        worst = Math.max(worst, r.maxAbs / (1e-4 + 1e-4 * r.maxRef));
        if (!r.ok && !firstBad) firstBad = `step ${j} (t=${t}): maxAbs ${r.maxAbs.toExponential(3)} max|ref| ${r.maxRef.toPrecision(5)} at ${r.at}: ${x[r.at]} vs ${xs[j * n + r.at]}`;
      }
    });
  } catch (e: any) {
    problems.push(`step threw ${e.message}`);
  }
  if (firstBad) problems.push(firstBad);
  const l1 = refs.get(`${c.id}/last1`);
  if (l1 && last1) {
    const r = maxRel(last1, l1.data as Float32Array);
    if (!r.ok) problems.push(`step()[1] of the last step: maxAbs ${r.maxAbs.toExponential(3)} max|ref| ${r.maxRef.toPrecision(5)}`);
  }
  if (problems.length) { fail++; console.log(`FAIL        ${tag}\n            ${problems.join('\n            ')}`); }
  else { pass++; console.log(`PASS        ${tag} (worst/tol ${worst.toFixed(3)}, ${s.timesteps.length} its${c.finite === false ? ', NON-FINITE ref' : ''})`); }
}
console.log(`\n${cases.length} scheduler cases: ${pass} pass, ${fail} fail/sdk-rejects, ${other} error-related`);
