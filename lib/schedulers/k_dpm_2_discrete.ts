/**
 * KDPM2DiscreteScheduler (k-diffusion's DPM-Solver-2 sampler): each interval evaluates the
 * model at the start and at the log-midpoint sigma (geometric mean of the two sigmas), then
 * steps with the midpoint slope. 2n - 1 iterations for n steps.
 */
import { SchedulerBase } from './base.js';
import {
  checkSteps, floatTimesteps, interpSigmas, logSigmasF32, noiseSchedule, rampSigmas, sigmaSpacing, sigmaToT,
  trainingSigmas, type Spacing,
} from './common.js';
import { betaOptions, checkOneSigmaSpacing, invalid, opt, predictionType, resolveConfig, SPACINGS, unsupported, type ConfigSpec } from './config.js';
import { kInitNoiseSigma, scaleBySigma } from './euler_discrete.js';
import { kPredictX0 } from './heun_discrete.js';
import { expF32, f32, logF32, roundHalfEven } from './npmath.js';
import { add, divScalar, scale, sub } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'linear' }),
  use_karras_sigmas: opt.bool(false),
  use_exponential_sigmas: opt.bool(false),
  use_beta_sigmas: opt.bool(false),
  prediction_type: predictionType('epsilon', ['epsilon', 'v_prediction', 'sample']),
  timestep_spacing: opt.oneOf('linspace', SPACINGS),
  steps_offset: opt.int(0),
};

const NAME = 'KDPM2DiscreteScheduler';

/** [x0, x1, x1, ..., xn, xn, xn]: cat([x[:1], x[1:].repeat_interleave(2), x[-1:]]). */
function interleaveTail(x: Float32Array): Float32Array {
  const out = [x[0]];
  for (let i = 1; i < x.length; i++) out.push(x[i], x[i]);
  out.push(x[x.length - 1]);
  return Float32Array.from(out);
}

export class KDPM2DiscreteScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly trainSigmas: Float32Array;
  private sigmasInterpol: Float32Array = new Float32Array(0);
  private firstSample: Sample | null = null;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): KDPM2DiscreteScheduler {
    return new KDPM2DiscreteScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    checkOneSigmaSpacing(NAME, cfg);
    if (cfg.prediction_type === 'sample') throw unsupported(`${NAME}: prediction_type "sample" is not implemented (diffusers raises NotImplementedError)`);
    this.order = 2;
    this.trainSigmas = trainingSigmas(noiseSchedule(NAME, cfg).alphasCumprod);
    this.setTimesteps(cfg.num_train_timesteps as number);
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    if (opts.timesteps !== undefined || opts.sigmas !== undefined) {
      throw invalid(`${NAME}.setTimesteps: custom timesteps/sigmas are not supported by this scheduler`);
    }
    const cfg = this.cfg;
    const n = checkSteps(NAME, numInferenceSteps);
    let timesteps = floatTimesteps(cfg.timestep_spacing as Spacing, n, cfg.num_train_timesteps as number, cfg.steps_offset as number);
    const logSigmas = logSigmasF32(this.trainSigmas);
    let sigmas = interpSigmas(timesteps, this.trainSigmas);
    const spacing = sigmaSpacing(cfg);
    if (spacing !== null && spacing !== 'lu') {
      sigmas = rampSigmas(spacing, sigmas, n, cfg);
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
      // These stay float64 in diffusers (the default path is float32 from np.linspace).
      if (spacing === 'karras') timesteps = timesteps.map(roundHalfEven);
    }
    const s = Float32Array.from([...sigmas, 0]);
    // exp(lerp(log s_i, log s_{i-1}, 0.5)) in float32; index 0 pairs with the final 0 (unused).
    const logs = s.map(logF32);
    const interpol = s.map((_, i) => {
      const end = logs[(i - 1 + logs.length) % logs.length];
      return expF32(f32(end - f32(f32(end - logs[i]) * 0.5)));
    });
    this.sigmas = interleaveTail(s);
    this.sigmasInterpol = interleaveTail(interpol);
    const tInterpol = Array.from(interpol, (v) => sigmaToT(v, logSigmas, 'torch32'));
    const ts = [timesteps[0]];
    for (let i = 1; i < timesteps.length; i++) ts.push(tInterpol[i], timesteps[i]);
    this.timesteps = ts;
    this.numInferenceSteps = n;
    this.initNoiseSigma = kInitNoiseSigma(this.sigmas, cfg.timestep_spacing);
    this.firstSample = null;
    this.resetRun();
  }

  private get firstOrder(): boolean {
    return this.firstSample === null;
  }

  protected override scaleSample(sample: Sample, t: number): Sample {
    this.checkSample(sample);
    const idx = this.ensureStepIndex(t, 'throw');
    return scaleBySigma(sample, this.firstOrder ? this.sigmas[idx] : this.sigmasInterpol[idx]);
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, _opts?: StepOptions): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample, this.firstSample?.length);
    const idx = this.ensureStepIndex(t, 'throw');
    this.checkIndex(idx, this.sigmas.length - 1);
    const first = this.firstOrder;
    const sigma = first ? this.sigmas[idx] : this.sigmas[idx - 1];
    const sigmaInterpol = first ? this.sigmasInterpol[idx + 1] : this.sigmasInterpol[idx];
    const sigmaNext = first ? this.sigmas[idx + 1] : this.sigmas[idx];
    const x0 = kPredictX0(this.cfg.prediction_type, first ? sigma : sigmaInterpol, modelOutput, sample);
    let base: Sample;
    let dt: number;
    let denom: number;
    if (first) {
      denom = sigma;
      dt = f32(sigmaInterpol - sigma);
      base = sample;
      this.firstSample = sample;
    } else {
      denom = sigmaInterpol;
      dt = f32(sigmaNext - sigma);
      base = this.firstSample!;
      this.firstSample = null;
    }
    // prev = base + ((sample - x0) / denom) * dt
    const prevSample = add(base, scale(dt, divScalar(sub(sample, x0), denom)));
    this.stepIndex = idx + 1;
    return { prevSample, predOriginalSample: x0 };
  }
}
