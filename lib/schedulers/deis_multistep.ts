/**
 * DEISMultistepScheduler (arXiv 2204.13902, "log-rho" variant): multistep exponential
 * integrator on epsilon, with polynomial extrapolation in log(sigma/alpha).
 */
import { SchedulerBase } from './base.js';
import {
  alternativeSigmas, alphaSigma, checkSteps, intTimesteps, logSigmasF32, noiseSchedule, sigmaFromAlphaCumprod,
  sigmaSpacing, trainingSigmas, type Spacing,
} from './common.js';
import {
  betaOptions, checkOneSigmaSpacing, DYNAMIC_SHIFT_OPTIONS, FLOW_OPTIONS, invalid, opt, predictionType, resolveConfig,
  SPACINGS, type ConfigSpec,
} from './config.js';
import { interval } from './dpmsolver_common.js';
import { expF32, f32, logF32 } from './npmath.js';
import { divScalar, lincomb, scale, thresholdSample } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' }),
  solver_order: opt.oneOf(2, [1, 2, 3]),
  prediction_type: predictionType('epsilon', ['epsilon', 'sample', 'v_prediction']),
  thresholding: opt.bool(false),
  dynamic_thresholding_ratio: opt.num(0.995),
  sample_max_value: opt.num(1.0),
  algorithm_type: opt.oneOf('deis', ['deis', 'dpmsolver', 'dpmsolver++']),
  solver_type: opt.oneOf('logrho', ['logrho', 'midpoint', 'heun', 'bh1', 'bh2']),
  lower_order_final: opt.bool(true),
  use_karras_sigmas: opt.bool(false),
  use_exponential_sigmas: opt.bool(false),
  use_beta_sigmas: opt.bool(false),
  ...FLOW_OPTIONS,
  timestep_spacing: opt.oneOf('linspace', SPACINGS),
  steps_offset: opt.int(0),
  ...DYNAMIC_SHIFT_OPTIONS,
};

const NAME = 'DEISMultistepScheduler';

/** rho = sigma_t / alpha_t for a table sigma (float32). */
function rho(sigma: number): number {
  const [a, s] = alphaSigma(sigma);
  return f32(s / a);
}

/** Second-order DEIS integral of the Lagrange basis in log-rho (diffusers' ind_fn, 2 nodes). */
function ind2(t: number, b: number, c: number): number {
  const lt = logF32(t);
  const lb = logF32(b);
  const lc = logF32(c);
  return f32(f32(t * f32(f32(-lc + lt) - 1)) / f32(lb - lc));
}

/** Third-order DEIS integral (3 nodes). */
function ind3(t: number, b: number, c: number, d: number): number {
  const [lt, lb, lc, ld] = [t, b, c, d].map(logF32);
  let num = f32(lc * f32(f32(ld - lt) + 1));
  num = f32(num - f32(ld * lt));
  num = f32(num + ld);
  num = f32(num + f32(lt * lt));
  num = f32(num - f32(2 * lt));
  num = f32(num + 2);
  return f32(f32(t * num) / f32(f32(lb - lc) * f32(lb - ld)));
}

export class DEISMultistepScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly alphasCumprod: Float32Array;
  private readonly trainSigmas: Float32Array;
  private modelOutputs: (Sample | null)[] = [];
  private lowerOrderNums = 0;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): DEISMultistepScheduler {
    return new DEISMultistepScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    checkOneSigmaSpacing(NAME, cfg);
    // diffusers re-registers DPM-Solver/UniPC names to DEIS's own.
    cfg.algorithm_type = 'deis';
    cfg.solver_type = 'logrho';
    this.alphasCumprod = noiseSchedule(NAME, cfg).alphasCumprod;
    this.trainSigmas = trainingSigmas(this.alphasCumprod);
    const n = cfg.num_train_timesteps as number;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
    this.sigmas = this.trainSigmas.slice();
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    if (opts.timesteps !== undefined || opts.sigmas !== undefined) {
      throw invalid(`${NAME}.setTimesteps: custom timesteps/sigmas are not supported by this scheduler`);
    }
    const cfg = this.cfg;
    const n = checkSteps(NAME, numInferenceSteps);
    const numTrain = cfg.num_train_timesteps as number;
    let timesteps = intTimesteps(cfg.timestep_spacing as Spacing, n, numTrain, numTrain, cfg.steps_offset as number);
    const spacing = sigmaSpacing(cfg);
    let sigmas: number[];
    if (spacing !== null && spacing !== 'lu') {
      ({ sigmas, timesteps } = alternativeSigmas(spacing, this.trainSigmas, logSigmasF32(this.trainSigmas), n, cfg, spacing === 'karras'));
      sigmas.push(sigmas[sigmas.length - 1]);
    } else {
      sigmas = timesteps.map((t) => this.trainSigmas[Math.min(Math.max(t, 0), numTrain - 1)]);
      sigmas.push(sigmaFromAlphaCumprod(this.alphasCumprod[0]));
    }
    this.sigmas = Float32Array.from(sigmas);
    this.timesteps = timesteps.map(Math.trunc);
    this.numInferenceSteps = this.timesteps.length;
    this.modelOutputs = new Array(cfg.solver_order as number).fill(null);
    this.lowerOrderNums = 0;
    this.resetRun();
  }

  /** convert_model_output: x0 first (for thresholding), then back to epsilon. */
  private convert(modelOutput: Sample, sample: Sample, idx: number, batch: number): Sample {
    const cfg = this.cfg;
    const [alpha, sigma] = alphaSigma(this.sigmas[idx]);
    let x0: Sample;
    if (cfg.prediction_type === 'epsilon') x0 = divScalar(lincomb([1, sample], [-sigma, modelOutput]), alpha);
    else if (cfg.prediction_type === 'sample') x0 = modelOutput;
    else x0 = lincomb([alpha, sample], [-sigma, modelOutput]);
    if (cfg.thresholding) x0 = thresholdSample(x0, cfg.dynamic_thresholding_ratio as number, cfg.sample_max_value as number, batch);
    return divScalar(lincomb([1, sample], [-alpha, x0]), sigma);
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample, this.modelOutputs.at(-1)?.length);
    const cfg = this.cfg;
    const idx = this.ensureStepIndex(t, 'last');
    this.checkIndex(idx, this.timesteps.length);
    const n = this.timesteps.length;
    const order = cfg.solver_order as number;
    const lowerFinal = idx === n - 1 && cfg.lower_order_final === true && n < 15;
    const lowerSecond = idx === n - 2 && cfg.lower_order_final === true && n < 15;
    const converted = this.convert(modelOutput, sample, idx, this.batchOf(sample.length, opts));
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);
    let prevSample: Sample;
    if (order === 1 || this.lowerOrderNums < 1 || lowerFinal) {
      const { alphaT, sigmaT, alphaS, h } = interval(this.sigmas[idx + 1], this.sigmas[idx]);
      prevSample = lincomb([f32(alphaT / alphaS), sample], [-f32(sigmaT * f32(expF32(h) - 1)), converted]);
    } else if (order === 2 || this.lowerOrderNums < 2 || lowerSecond) {
      prevSample = this.secondOrder(idx, sample);
    } else {
      prevSample = this.thirdOrder(idx, sample);
    }
    if (this.lowerOrderNums < order) this.lowerOrderNums++;
    this.stepIndex = idx + 1;
    return { prevSample };
  }

  /** alpha_t * (sample / alpha_s0 + sum_k coef_k * m_k). */
  private combine(idx: number, sample: Sample, coefs: number[]): Sample {
    const [alphaT] = alphaSigma(this.sigmas[idx + 1]);
    const [alphaS0] = alphaSigma(this.sigmas[idx]);
    const inner = lincomb([1, divScalar(sample, alphaS0)], ...coefs.map((c, k) => [c, this.modelOutputs.at(-1 - k)!] as const));
    return scale(alphaT, inner);
  }

  private secondOrder(idx: number, sample: Sample): Sample {
    const [rt, r0, r1] = [this.sigmas[idx + 1], this.sigmas[idx], this.sigmas[idx - 1]].map(rho);
    const coef1 = f32(ind2(rt, r0, r1) - ind2(r0, r0, r1));
    const coef2 = f32(ind2(rt, r1, r0) - ind2(r0, r1, r0));
    return this.combine(idx, sample, [coef1, coef2]);
  }

  private thirdOrder(idx: number, sample: Sample): Sample {
    const [rt, r0, r1, r2] = [this.sigmas[idx + 1], this.sigmas[idx], this.sigmas[idx - 1], this.sigmas[idx - 2]].map(rho);
    const coef1 = f32(ind3(rt, r0, r1, r2) - ind3(r0, r0, r1, r2));
    const coef2 = f32(ind3(rt, r1, r2, r0) - ind3(r0, r1, r2, r0));
    const coef3 = f32(ind3(rt, r2, r0, r1) - ind3(r0, r2, r0, r1));
    return this.combine(idx, sample, [coef1, coef2, coef3]);
  }
}
