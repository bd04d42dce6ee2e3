/**
 * EulerAncestralDiscreteScheduler: an Euler step down to sigma_down followed by fresh noise of
 * size sigma_up, so that the marginal noise level lands on the next sigma. One noise draw per step.
 */
import { SchedulerBase } from './base.js';
import { checkSteps, floatTimesteps, interpSigmas, noiseSchedule, trainingSigmas, type Spacing } from './common.js';
import { betaOptions, invalid, opt, predictionType, resolveConfig, SPACINGS, unsupported, type ConfigSpec } from './config.js';
import { kInitNoiseSigma, scaleBySigma } from './euler_discrete.js';
import { f32 } from './npmath.js';
import { add, divScalar, lincomb, scale, sub } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' }),
  prediction_type: predictionType('epsilon', ['epsilon', 'v_prediction', 'sample']),
  timestep_spacing: opt.oneOf('linspace', SPACINGS),
  steps_offset: opt.int(0),
  rescale_betas_zero_snr: opt.bool(false),
};

const NAME = 'EulerAncestralDiscreteScheduler';

export class EulerAncestralDiscreteScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly trainSigmas: Float32Array;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): EulerAncestralDiscreteScheduler {
    return new EulerAncestralDiscreteScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    if (cfg.prediction_type === 'sample') throw unsupported(`${NAME}: prediction_type "sample" is not implemented (diffusers raises NotImplementedError)`);
    this.trainSigmas = trainingSigmas(noiseSchedule(NAME, cfg, true).alphasCumprod);
    const n = this.trainSigmas.length;
    this.sigmas = Float32Array.from([...this.trainSigmas].reverse().concat([0]));
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
    this.initNoiseSigma = kInitNoiseSigma(this.sigmas, cfg.timestep_spacing);
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    if (opts.timesteps !== undefined || opts.sigmas !== undefined) {
      throw invalid(`${NAME}.setTimesteps: custom timesteps/sigmas are not supported by this scheduler`);
    }
    const n = checkSteps(NAME, numInferenceSteps);
    const cfg = this.cfg;
    this.timesteps = floatTimesteps(cfg.timestep_spacing as Spacing, n, cfg.num_train_timesteps as number, cfg.steps_offset as number);
    this.sigmas = Float32Array.from([...interpSigmas(this.timesteps, this.trainSigmas), 0]);
    this.numInferenceSteps = n;
    this.initNoiseSigma = kInitNoiseSigma(this.sigmas, cfg.timestep_spacing);
    this.resetRun();
  }

  protected override scaleSample(sample: Sample, t: number): Sample {
    this.checkSample(sample);
    return scaleBySigma(sample, this.sigmas[this.ensureStepIndex(t, 'throw')]);
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts: StepOptions = {}): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample);
    const idx = this.ensureStepIndex(t, 'throw');
    this.checkIndex(idx, this.sigmas.length - 1);
    const sigma = this.sigmas[idx];
    const s2 = f32(sigma * sigma);
    let x0: Sample;
    if (this.cfg.prediction_type === 'epsilon') {
      x0 = lincomb([1, sample], [-sigma, modelOutput]);
    } else {
      const s2p1 = f32(s2 + 1);
      x0 = lincomb([f32(-sigma / f32(Math.sqrt(s2p1))), modelOutput], [1, divScalar(sample, s2p1)]);
    }
    const sigmaTo = this.sigmas[idx + 1];
    const to2 = f32(sigmaTo * sigmaTo);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(s2 - to2)) / s2)));
    const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigma);
    const noise = this.drawNoise(sample.length, opts);
    // derivative = (sample - x0) / sigma; prev = (sample + derivative * dt) + noise * sigma_up.
    const derivative = divScalar(sub(sample, x0), sigma);
    const prevSample = add(add(sample, scale(dt, derivative)), scale(sigmaUp, noise));
    this.stepIndex = idx + 1;
    return { prevSample, predOriginalSample: x0 };
  }
}
