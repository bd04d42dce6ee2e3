/**
 * HeunDiscreteScheduler (Karras et al. 2022, Algorithm 1 without churn): each interval takes an
 * Euler step, then a second model evaluation at its end averages the two slopes. Every inner
 * timestep appears twice in `timesteps`, so n steps iterate 2n - 1 times.
 */
import { SchedulerBase } from './base.js';
import {
  checkNumberList, checkSteps, floatTimesteps, interpSigmas, logSigmasF32, noiseSchedule, rampSigmas,
  sigmaSpacing, sigmaToT, trainingSigmas, type Spacing,
} from './common.js';
import { betaOptions, checkOneSigmaSpacing, invalid, opt, predictionType, resolveConfig, SPACINGS, type ConfigSpec } from './config.js';
import { kInitNoiseSigma, scaleBySigma } from './euler_discrete.js';
import { f32 } from './npmath.js';
import { add, clamp, divScalar, lincomb, scale, sub } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'linear' }, ['exp']),
  prediction_type: predictionType('epsilon', ['epsilon', 'v_prediction', 'sample']),
  use_karras_sigmas: opt.bool(false),
  use_exponential_sigmas: opt.bool(false),
  use_beta_sigmas: opt.bool(false),
  clip_sample: opt.bool(false),
  clip_sample_range: opt.num(1.0),
  timestep_spacing: opt.oneOf('linspace', SPACINGS),
  steps_offset: opt.int(0),
};

const NAME = 'HeunDiscreteScheduler';

/** [x0, x1, x1, x2, x2, ...]: diffusers' cat([x[:1], x[1:].repeat_interleave(2)]). */
export function repeatInner(x: number[]): number[] {
  return [x[0], ...x.slice(1).flatMap((v) => [v, v])];
}

/** x0 prediction of the k-diffusion schedulers at noise level `sigma` (float32). */
export function kPredictX0(pred: unknown, sigma: number, modelOutput: Sample, sample: Sample): Sample {
  if (pred === 'epsilon') return lincomb([1, sample], [-sigma, modelOutput]);
  if (pred === 'sample') return modelOutput;
  const s2p1 = f32(f32(sigma * sigma) + 1);
  return lincomb([f32(-sigma / f32(Math.sqrt(s2p1))), modelOutput], [1, divScalar(sample, s2p1)]);
}

export class HeunDiscreteScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly trainSigmas: Float32Array;
  private prevDerivative: Sample | null = null;
  private dt: number | null = null;
  private firstSample: Sample | null = null;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): HeunDiscreteScheduler {
    return new HeunDiscreteScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    checkOneSigmaSpacing(NAME, cfg);
    this.order = 2;
    this.trainSigmas = trainingSigmas(noiseSchedule(NAME, cfg).alphasCumprod);
    // diffusers' constructor runs set_timesteps(num_train_timesteps).
    this.setTimesteps(cfg.num_train_timesteps as number);
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    const cfg = this.cfg;
    const custom = opts.timesteps;
    if (opts.sigmas !== undefined) throw invalid(`${NAME}.setTimesteps: custom sigmas are not supported by this scheduler`);
    if ((numInferenceSteps === undefined) === (custom === undefined)) {
      throw invalid(`${NAME}.setTimesteps: pass exactly one of numInferenceSteps or opts.timesteps`);
    }
    const spacing = sigmaSpacing(cfg);
    if (custom !== undefined && spacing !== null) throw invalid(`${NAME}.setTimesteps: custom timesteps cannot be combined with use_${spacing}_sigmas`);
    const n = custom !== undefined ? custom.length : checkSteps(NAME, numInferenceSteps);
    let timesteps = custom !== undefined
      ? checkNumberList(NAME, 'timesteps', custom, false).map(f32)
      : floatTimesteps(cfg.timestep_spacing as Spacing, n, cfg.num_train_timesteps as number, cfg.steps_offset as number);
    let sigmas = interpSigmas(timesteps, this.trainSigmas);
    if (spacing !== null && spacing !== 'lu') {
      const logSigmas = logSigmasF32(this.trainSigmas);
      sigmas = rampSigmas(spacing, sigmas, n, cfg);
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
    }
    const s = Array.from(Float32Array.from([...sigmas, 0]));
    this.sigmas = Float32Array.from([s[0], ...s.slice(1, -1).flatMap((v) => [v, v]), s[s.length - 1]]);
    this.timesteps = repeatInner(timesteps.map(f32));
    this.numInferenceSteps = n;
    this.initNoiseSigma = kInitNoiseSigma(this.sigmas, cfg.timestep_spacing);
    this.prevDerivative = null;
    this.dt = null;
    this.firstSample = null;
    this.resetRun();
  }

  protected override scaleSample(sample: Sample, t: number): Sample {
    this.checkSample(sample);
    return scaleBySigma(sample, this.sigmas[this.ensureStepIndex(t, 'throw')]);
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, _opts?: StepOptions): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample, this.firstSample?.length);
    const idx = this.ensureStepIndex(t, 'throw');
    this.checkIndex(idx, this.sigmas.length - 1);
    const first = this.dt === null;
    const sigma = first ? this.sigmas[idx] : this.sigmas[idx - 1];
    const sigmaNext = first ? this.sigmas[idx + 1] : this.sigmas[idx];
    let x0 = kPredictX0(this.cfg.prediction_type, first ? sigma : sigmaNext, modelOutput, sample);
    if (this.cfg.clip_sample) {
      const r = this.cfg.clip_sample_range as number;
      x0 = clamp(x0, -r, r);
    }
    let derivative: Sample;
    let base: Sample;
    let dt: number;
    if (first) {
      derivative = divScalar(sub(sample, x0), sigma);
      dt = f32(sigmaNext - sigma);
      this.prevDerivative = derivative;
      this.dt = dt;
      this.firstSample = sample;
      base = sample;
    } else {
      // The average of the two slopes: (d_prev + (sample - x0) / sigma_next) / 2.
      derivative = divScalar(add(this.prevDerivative!, divScalar(sub(sample, x0), sigmaNext)), 2);
      dt = this.dt!;
      base = this.firstSample!;
      this.prevDerivative = null;
      this.dt = null;
      this.firstSample = null;
    }
    const prevSample = add(base, scale(dt, derivative));
    this.stepIndex = idx + 1;
    return { prevSample, predOriginalSample: x0 };
  }
}
