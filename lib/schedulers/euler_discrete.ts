/**
 * EulerDiscreteScheduler (Karras et al. 2022, Algorithm 2): Euler steps in sigma space, with
 * optional "churn" noise. Timesteps are float32 and the input is scaled by 1/sqrt(sigma^2+1).
 */
import { SchedulerBase } from './base.js';
import {
  checkNumberList, checkSteps, floatTimesteps, interpSigmas, logSigmasF32, noiseSchedule, rampSigmas,
  sigmaFromAlphaCumprod, sigmaSpacing, sigmaToT, trainingSigmas, type Spacing,
} from './common.js';
import { betaOptions, checkOneSigmaSpacing, invalid, opt, predictionType, resolveConfig, SPACINGS, type ConfigSpec } from './config.js';
import { f32, logF32, torchLinspaceF32 } from './npmath.js';
import { add, divScalar, lincomb, scale, sub } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' }),
  prediction_type: predictionType('epsilon', ['epsilon', 'sample', 'original_sample', 'v_prediction']),
  interpolation_type: opt.oneOf('linear', ['linear', 'log_linear']),
  use_karras_sigmas: opt.bool(false),
  use_exponential_sigmas: opt.bool(false),
  use_beta_sigmas: opt.bool(false),
  sigma_min: opt.num(null, true),
  sigma_max: opt.num(null, true),
  timestep_spacing: opt.oneOf('linspace', SPACINGS),
  timestep_type: opt.oneOf('discrete', ['discrete', 'continuous']),
  steps_offset: opt.int(0),
  rescale_betas_zero_snr: opt.bool(false),
  final_sigmas_type: opt.oneOf('zero', ['zero', 'sigma_min']),
};

const NAME = 'EulerDiscreteScheduler';

/** sample / sqrt(sigma^2 + 1) in float32: the input scaling of the k-diffusion schedulers. */
export function scaleBySigma(sample: Sample, sigma: number): Sample {
  return divScalar(sample, f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
}

/** init_noise_sigma of the k-diffusion schedulers: max sigma, or sqrt(max^2+1) for 'leading'. */
export function kInitNoiseSigma(sigmas: Float32Array, spacing: unknown): number {
  let max = -Infinity;
  for (const s of sigmas) max = Math.max(max, s);
  return spacing === 'linspace' || spacing === 'trailing' ? max : f32(Math.sqrt(f32(f32(max * max) + 1)));
}

export class EulerDiscreteScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly alphasCumprod: Float32Array;
  private readonly trainSigmas: Float32Array;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): EulerDiscreteScheduler {
    return new EulerDiscreteScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    checkOneSigmaSpacing(NAME, cfg);
    this.alphasCumprod = noiseSchedule(NAME, cfg, true).alphasCumprod;
    this.trainSigmas = trainingSigmas(this.alphasCumprod);
    const n = this.trainSigmas.length;
    // Initial state as diffusers' constructor leaves it: all training steps, descending.
    this.sigmas = Float32Array.from([...this.trainSigmas].reverse().concat([0]));
    this.timesteps = this.continuousV()
      ? Array.from(this.sigmas.subarray(0, n), (s) => f32(0.25 * logF32(s)))
      : Array.from({ length: n }, (_, i) => n - 1 - i);
    this.initNoiseSigma = kInitNoiseSigma(this.sigmas, cfg.timestep_spacing);
  }

  private continuousV(): boolean {
    return this.cfg.timestep_type === 'continuous' && this.cfg.prediction_type === 'v_prediction';
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    const cfg = this.cfg;
    const { timesteps: customT, sigmas: customS } = opts;
    if (customT !== undefined && customS !== undefined) throw invalid(`${NAME}.setTimesteps: pass only one of opts.timesteps or opts.sigmas`);
    const given = [numInferenceSteps, customT, customS].filter((v) => v !== undefined).length;
    if (given !== 1) throw invalid(`${NAME}.setTimesteps: pass exactly one of numInferenceSteps, opts.timesteps or opts.sigmas`);
    const spacing = sigmaSpacing(cfg);
    if (customT !== undefined && spacing !== null) throw invalid(`${NAME}.setTimesteps: custom timesteps cannot be combined with use_${spacing}_sigmas`);
    if (customT !== undefined && this.continuousV()) throw invalid(`${NAME}.setTimesteps: custom timesteps cannot be used with continuous v-prediction timesteps`);
    const logSigmas = logSigmasF32(this.trainSigmas);

    let timesteps: number[];
    let sigmas: number[];
    if (customS !== undefined) {
      sigmas = checkNumberList(NAME, 'sigmas', customS, false).map(f32);
      timesteps = sigmas.slice(0, -1).map((s) => sigmaToT(s, logSigmas, 'np32'));
      this.numInferenceSteps = sigmas.length - 1;
    } else {
      const n = customT !== undefined ? customT.length : checkSteps(NAME, numInferenceSteps);
      this.numInferenceSteps = n;
      timesteps = customT !== undefined
        ? checkNumberList(NAME, 'timesteps', customT, false).map(f32)
        : floatTimesteps(cfg.timestep_spacing as Spacing, n, cfg.num_train_timesteps as number, cfg.steps_offset as number);
      if (cfg.interpolation_type === 'log_linear') {
        // diffusers: torch.linspace(log(sigmas[-1]), log(sigmas[0]), n + 1).exp() over the training table.
        const t = this.trainSigmas;
        sigmas = Array.from(torchLinspaceF32(logF32(t[t.length - 1]), logF32(t[0]), n + 1), (v) => f32(Math.exp(v)));
      } else {
        sigmas = interpSigmas(timesteps, this.trainSigmas);
      }
      if (spacing !== null && spacing !== 'lu') {
        sigmas = rampSigmas(spacing, sigmas, n, cfg);
        timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
      }
      sigmas.push(cfg.final_sigmas_type === 'sigma_min' ? sigmaFromAlphaCumprod(this.alphasCumprod[0]) : 0);
    }
    this.sigmas = Float32Array.from(sigmas);
    this.timesteps = this.continuousV()
      ? Array.from(this.sigmas.subarray(0, this.sigmas.length - 1), (s) => f32(0.25 * logF32(s)))
      : timesteps.map(f32);
    this.initNoiseSigma = kInitNoiseSigma(this.sigmas, cfg.timestep_spacing);
    this.resetRun();
  }

  protected override scaleSample(sample: Sample, t: number): Sample {
    this.checkSample(sample);
    const idx = this.ensureStepIndex(t, 'throw');
    return scaleBySigma(sample, this.sigmas[idx]);
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts: StepOptions = {}): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample);
    const idx = this.ensureStepIndex(t, 'throw');
    this.checkIndex(idx, this.sigmas.length - 1);
    const { sChurn = 0, sTmin = 0, sTmax = Infinity, sNoise = 1 } = opts;
    const sigma = this.sigmas[idx];
    const gamma = sTmin <= sigma && sigma <= sTmax ? Math.min(sChurn / (this.sigmas.length - 1), 2 ** 0.5 - 1) : 0;
    // A Python float multiplying a float32 tensor is first rounded to float32.
    const sigmaHat = f32(sigma * f32(gamma + 1));
    let x = sample;
    if (gamma > 0) {
      const eps = scale(f32(sNoise), this.drawNoise(sample.length, opts));
      x = lincomb([1, x], [f32(Math.sqrt(f32(f32(sigmaHat * sigmaHat) - f32(sigma * sigma)))), eps]);
    }
    let x0: Sample;
    const pred = this.cfg.prediction_type;
    if (pred === 'sample' || pred === 'original_sample') {
      x0 = modelOutput;
    } else if (pred === 'epsilon') {
      x0 = lincomb([1, x], [-sigmaHat, modelOutput]);
    } else {
      const s2p1 = f32(f32(sigma * sigma) + 1);
      x0 = lincomb([f32(-sigma / f32(Math.sqrt(s2p1))), modelOutput], [1, divScalar(x, s2p1)]);
    }
    const dt = f32(this.sigmas[idx + 1] - sigmaHat);
    // derivative = (x - x0) / sigma_hat; prev = x + derivative * dt.
    const prevSample = add(x, scale(dt, divScalar(sub(x, x0), sigmaHat)));
    this.stepIndex = idx + 1;
    return { prevSample, predOriginalSample: x0 };
  }
}
