/**
 * LCMScheduler (latent consistency models, arXiv 2310.04378): each step predicts the clean
 * sample through the consistency boundary conditions and, except on the last step, re-noises
 * it to the next timestep with fresh noise.
 */
import { SchedulerBase } from './base.js';
import { checkNumberList, checkSteps, noiseSchedule } from './common.js';
import { betaOptions, invalid, opt, predictionType, resolveConfig, SPACINGS, type ConfigSpec } from './config.js';
import { f32, npLinspace } from './npmath.js';
import { clamp, divScalar, lincomb, thresholdSample } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';
import { show } from '../util/args.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' }),
  original_inference_steps: opt.int(50, 1),
  clip_sample: opt.bool(false),
  clip_sample_range: opt.num(1.0),
  set_alpha_to_one: opt.bool(true),
  steps_offset: opt.int(0),
  prediction_type: predictionType('epsilon', ['epsilon', 'sample', 'v_prediction']),
  thresholding: opt.bool(false),
  dynamic_thresholding_ratio: opt.num(0.995),
  sample_max_value: opt.num(1.0),
  // Accepted for config compatibility; LCM's schedule ignores it, as in diffusers.
  timestep_spacing: opt.oneOf('leading', SPACINGS),
  timestep_scaling: opt.num(10.0),
  rescale_betas_zero_snr: opt.bool(false),
};

const NAME = 'LCMScheduler';

export class LCMScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): LCMScheduler {
    return new LCMScheduler(resolveConfig(NAME, SPEC, config, overrides));
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
    const cfg = this.cfg;
    const numTrain = cfg.num_train_timesteps as number;
    const original = cfg.original_inference_steps as number;
    if (opts.sigmas !== undefined) throw invalid(`${NAME}.setTimesteps: custom sigmas are not supported by this scheduler`);
    const custom = opts.timesteps;
    if ((numInferenceSteps === undefined) === (custom === undefined)) {
      throw invalid(`${NAME}.setTimesteps: pass exactly one of numInferenceSteps or opts.timesteps`);
    }
    if (original > numTrain) throw invalid(`${NAME}: original_inference_steps ${original} exceeds num_train_timesteps ${numTrain}`);
    // The distillation schedule: every k-th training step, k = numTrain // original_steps.
    const k = Math.floor(numTrain / original);
    const origin = Array.from({ length: original }, (_, i) => (i + 1) * k - 1);
    if (custom !== undefined) {
      const ts = checkNumberList(NAME, 'timesteps', custom, true);
      for (let i = 1; i < ts.length; i++) {
        if (ts[i] >= ts[i - 1]) throw invalid(`${NAME}.setTimesteps: custom timesteps must be in descending order`);
      }
      if (ts[0] >= numTrain) throw invalid(`${NAME}.setTimesteps: timesteps must start below num_train_timesteps ${numTrain}`);
      this.timesteps = ts;
      this.numInferenceSteps = ts.length;
    } else {
      const n = checkSteps(NAME, numInferenceSteps, numTrain);
      if (Math.floor(origin.length / n) < 1 || n > original) {
        throw invalid(`${NAME}.setTimesteps: numInferenceSteps ${n} cannot exceed original_inference_steps ${original}`);
      }
      origin.reverse();
      this.timesteps = npLinspace(0, origin.length, n, false).map((v) => origin[Math.floor(v)]);
      this.numInferenceSteps = n;
    }
    this.resetRun();
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts: StepOptions = {}): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample);
    const cfg = this.cfg;
    const idx = this.ensureStepIndex(t, 'throw');
    this.checkIndex(idx, this.timesteps.length);
    if (!Number.isInteger(t) || t < 0 || t >= this.alphasCumprod.length) throw invalid(`${NAME}.step: timestep ${show(t)} is not a training timestep`);
    const prevT = idx + 1 < this.timesteps.length ? this.timesteps[idx + 1] : t;
    const aT = this.alphasCumprod[t];
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const sqrtA = f32(Math.sqrt(aT));
    const sqrtB = f32(Math.sqrt(f32(1 - aT)));
    // Boundary-condition scalings, computed on the float32 scaled timestep (sigma_data = 0.5).
    const scaled = f32(t * f32(cfg.timestep_scaling as number));
    const s2 = f32(f32(scaled * scaled) + 0.25);
    const cSkip = f32(0.25 / s2);
    const cOut = f32(scaled / f32(Math.sqrt(s2)));

    let x0: Sample;
    if (cfg.prediction_type === 'epsilon') x0 = divScalar(lincomb([1, sample], [-sqrtB, modelOutput]), sqrtA);
    else if (cfg.prediction_type === 'sample') x0 = modelOutput;
    else x0 = lincomb([sqrtA, sample], [-sqrtB, modelOutput]);
    if (cfg.thresholding) {
      x0 = thresholdSample(x0, cfg.dynamic_thresholding_ratio as number, cfg.sample_max_value as number, this.batchOf(sample.length, opts));
    } else if (cfg.clip_sample) {
      const r = cfg.clip_sample_range as number;
      x0 = clamp(x0, -r, r);
    }
    const denoised = lincomb([cOut, x0], [cSkip, sample]);
    let prevSample = denoised;
    if (idx !== this.numInferenceSteps! - 1) {
      const noise = this.drawNoise(sample.length, opts);
      prevSample = lincomb([f32(Math.sqrt(aPrev)), denoised], [f32(Math.sqrt(f32(1 - aPrev))), noise]);
    }
    this.stepIndex = idx + 1;
    return { prevSample, denoised };
  }
}
