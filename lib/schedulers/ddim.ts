/**
 * DDIMScheduler (arXiv 2010.02502): deterministic for eta = 0, adds scaled noise for eta > 0.
 * Works on alphas_cumprod directly; it has no sigma table.
 */
import { SchedulerBase } from './base.js';
import { checkSteps, noiseSchedule, type Spacing } from './common.js';
import { betaOptions, invalid, opt, predictionType, resolveConfig, SPACINGS, type ConfigSpec } from './config.js';
import { npArange, npLinspace, f32, roundHalfEven } from './npmath.js';
import { clamp, divScalar, lincomb, thresholdSample } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';
import { show } from '../util/args.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' }),
  clip_sample: opt.bool(true),
  set_alpha_to_one: opt.bool(true),
  steps_offset: opt.int(0),
  prediction_type: predictionType('epsilon', ['epsilon', 'sample', 'v_prediction']),
  thresholding: opt.bool(false),
  dynamic_thresholding_ratio: opt.num(0.995),
  clip_sample_range: opt.num(1.0),
  sample_max_value: opt.num(1.0),
  timestep_spacing: opt.oneOf('leading', SPACINGS),
  rescale_betas_zero_snr: opt.bool(false),
};

const NAME = 'DDIMScheduler';

/** DDIM timesteps: n of the training steps, by spacing (numpy float64, rounded half to even). */
export function ddimTimesteps(spacing: Spacing, n: number, numTrain: number, stepsOffset: number): number[] {
  if (spacing === 'linspace') return npLinspace(0, numTrain - 1, n).map(roundHalfEven).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / n);
    return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
  }
  return npArange(numTrain, 0, -(numTrain / n)).map((t) => Math.trunc(roundHalfEven(t)) - 1);
}

export class DDIMScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): DDIMScheduler {
    return new DDIMScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    this.alphasCumprod = noiseSchedule(NAME, cfg).alphasCumprod;
    this.finalAlphaCumprod = cfg.set_alpha_to_one ? 1.0 : this.alphasCumprod[0];
    const n = cfg.num_train_timesteps as number;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    if (opts.timesteps !== undefined || opts.sigmas !== undefined) {
      throw invalid(`${NAME}.setTimesteps: custom timesteps/sigmas are not supported by this scheduler`);
    }
    const n = checkSteps(NAME, numInferenceSteps, this.cfg.num_train_timesteps as number);
    this.timesteps = ddimTimesteps(this.cfg.timestep_spacing as Spacing, n, this.cfg.num_train_timesteps as number, this.cfg.steps_offset as number);
    this.numInferenceSteps = n;
    this.resetRun();
  }

  private alphaProd(t: number): number {
    // Python indexing: negative indices count from the end (only reachable through odd custom use).
    const ac = this.alphasCumprod;
    return ac[t < 0 ? ac.length + t : t];
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts: StepOptions = {}): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample);
    const cfg = this.cfg;
    if (!Number.isInteger(t) || t < 0 || t >= this.alphasCumprod.length) throw invalid(`${NAME}.step: timestep ${show(t)} is not a training timestep`);
    const eta = opts.eta ?? 0;
    const prevT = t - Math.floor((cfg.num_train_timesteps as number) / this.numInferenceSteps!);
    const aT = this.alphaProd(t);
    const aPrev = prevT >= 0 ? this.alphaProd(prevT) : this.finalAlphaCumprod;
    const bT = f32(1 - aT);
    const sqrtA = f32(Math.sqrt(aT));
    const sqrtB = f32(Math.sqrt(bT));

    let x0: Sample;
    let eps: Sample;
    if (cfg.prediction_type === 'epsilon') {
      x0 = divScalar(lincomb([1, sample], [-sqrtB, modelOutput]), sqrtA);
      eps = modelOutput;
    } else if (cfg.prediction_type === 'sample') {
      x0 = modelOutput;
      eps = divScalar(lincomb([1, sample], [-sqrtA, x0]), sqrtB);
    } else {
      x0 = lincomb([sqrtA, sample], [-sqrtB, modelOutput]);
      eps = lincomb([sqrtA, modelOutput], [sqrtB, sample]);
    }
    if (cfg.thresholding) {
      x0 = thresholdSample(x0, cfg.dynamic_thresholding_ratio as number, cfg.sample_max_value as number, this.batchOf(sample.length, opts));
    } else if (cfg.clip_sample) {
      const r = cfg.clip_sample_range as number;
      x0 = clamp(x0, -r, r);
    }
    // _get_variance: (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev), all float32.
    const variance = f32(f32(f32(1 - aPrev) / bT) * f32(1 - f32(aT / aPrev)));
    const std = f32(f32(eta) * f32(Math.sqrt(variance)));
    if (opts.useClippedModelOutput) eps = divScalar(lincomb([1, sample], [-sqrtA, x0]), sqrtB);
    const dirCoef = f32(Math.sqrt(f32(f32(1 - aPrev) - f32(std * std))));
    let prevSample = lincomb([f32(Math.sqrt(aPrev)), x0], [dirCoef, eps]);
    if (eta > 0) prevSample = lincomb([1, prevSample], [std, this.drawNoise(sample.length, opts)]);
    return { prevSample, predOriginalSample: x0 };
  }
}
