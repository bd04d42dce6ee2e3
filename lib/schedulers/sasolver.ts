/**
 * SASolverScheduler (arXiv 2309.05019): stochastic Adams-Bashforth predictor plus Adams-Moulton
 * corrector; tau (the stochasticity) is 1 for 200 <= t <= 800 and 0 elsewhere, as in diffusers'
 * default tau_func. Draws one noise tensor per step.
 */
import { SchedulerBase } from './base.js';
import {
  alternativeSigmas, alphaSigma, checkSteps, clippedTimestepCount, intTimesteps, lambdaOfSigma, logSigmasF32,
  noiseSchedule, sigmaFromAlphaCumprod, sigmaSpacing, trainingSigmas, type Spacing,
} from './common.js';
import {
  betaOptions, checkOneSigmaSpacing, FLOW_OPTIONS, invalid, opt, predictionType, resolveConfig, SPACINGS,
  VARIANCE_TYPE, type ConfigSpec,
} from './config.js';
import { expF32, f32 } from './npmath.js';
import { divScalar, lincomb, thresholdSample } from './ops.js';
import { saCoefficients } from './sasolver_coefficients.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' }),
  predictor_order: opt.oneOf(2, [1, 2, 3, 4]),
  corrector_order: opt.oneOf(2, [1, 2, 3, 4]),
  prediction_type: predictionType('epsilon', ['epsilon', 'sample', 'v_prediction']),
  tau_func: opt.limited(null, [null], 'only the default tau schedule is available from a config'),
  thresholding: opt.bool(false),
  dynamic_thresholding_ratio: opt.num(0.995),
  sample_max_value: opt.num(1.0),
  algorithm_type: opt.limited('data_prediction', ['data_prediction', 'noise_prediction'],
    'diffusers raises NotImplementedError; SA-Solver takes "data_prediction" or "noise_prediction"'),
  lower_order_final: opt.bool(true),
  use_karras_sigmas: opt.bool(false),
  use_exponential_sigmas: opt.bool(false),
  use_beta_sigmas: opt.bool(false),
  ...FLOW_OPTIONS,
  lambda_min_clipped: opt.extendedNum(-Infinity),
  variance_type: VARIANCE_TYPE,
  timestep_spacing: opt.oneOf('linspace', SPACINGS),
  steps_offset: opt.int(0),
};

const NAME = 'SASolverScheduler';

const tauOf = (t: number): number => (t >= 200 && t <= 800 ? 1 : 0);

export class SASolverScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly alphasCumprod: Float32Array;
  private readonly trainSigmas: Float32Array;
  private modelOutputs: (Sample | null)[] = [];
  private timestepList: (number | null)[] = [];
  private lowerOrderNums = 0;
  private lastSample: Sample | null = null;
  private lastNoise: Float32Array | null = null;
  private correctorOrder = 1;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): SASolverScheduler {
    return new SASolverScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    checkOneSigmaSpacing(NAME, cfg);
    this.alphasCumprod = noiseSchedule(NAME, cfg).alphasCumprod;
    this.trainSigmas = trainingSigmas(this.alphasCumprod);
    const n = cfg.num_train_timesteps as number;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
    this.sigmas = this.trainSigmas.slice();
    this.timestepList = new Array(this.historyLength()).fill(null);
  }

  private historyLength(): number {
    return Math.max(this.cfg.predictor_order as number, (this.cfg.corrector_order as number) - 1);
  }

  private get predictX0(): boolean {
    return this.cfg.algorithm_type === 'data_prediction';
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    if (opts.timesteps !== undefined || opts.sigmas !== undefined) {
      throw invalid(`${NAME}.setTimesteps: custom timesteps/sigmas are not supported by this scheduler`);
    }
    const cfg = this.cfg;
    const n = checkSteps(NAME, numInferenceSteps);
    const last = clippedTimestepCount(this.alphasCumprod, cfg.lambda_min_clipped as number);
    let timesteps = intTimesteps(cfg.timestep_spacing as Spacing, n, last, cfg.num_train_timesteps as number, cfg.steps_offset as number);
    const spacing = sigmaSpacing(cfg);
    let sigmas: number[];
    if (spacing !== null && spacing !== 'lu') {
      ({ sigmas, timesteps } = alternativeSigmas(spacing, this.trainSigmas, logSigmasF32(this.trainSigmas), n, cfg, spacing === 'karras'));
      sigmas.push(sigmas[sigmas.length - 1]);
    } else {
      sigmas = timesteps.map((t) => this.trainSigmas[Math.min(Math.max(t, 0), this.trainSigmas.length - 1)]);
      sigmas.push(sigmaFromAlphaCumprod(this.alphasCumprod[0]));
    }
    this.sigmas = Float32Array.from(sigmas);
    this.timesteps = timesteps.map(Math.trunc);
    this.numInferenceSteps = this.timesteps.length;
    this.modelOutputs = new Array(this.historyLength()).fill(null);
    this.lowerOrderNums = 0;
    this.lastSample = null;
    this.resetRun();
  }

  private convert(modelOutput: Sample, sample: Sample, idx: number, batch: number): Sample {
    const cfg = this.cfg;
    const [alpha, sigma] = alphaSigma(this.sigmas[idx]);
    const thr = (x: Sample) => thresholdSample(x, cfg.dynamic_thresholding_ratio as number, cfg.sample_max_value as number, batch);
    if (this.predictX0) {
      let x0: Sample;
      if (cfg.prediction_type === 'epsilon') x0 = divScalar(lincomb([1, sample], [-sigma, modelOutput]), alpha);
      else if (cfg.prediction_type === 'sample') x0 = modelOutput;
      else x0 = lincomb([alpha, sample], [-sigma, modelOutput]);
      return cfg.thresholding ? thr(x0) : x0;
    }
    let eps: Sample;
    if (cfg.prediction_type === 'epsilon') eps = modelOutput;
    else if (cfg.prediction_type === 'sample') eps = divScalar(lincomb([1, sample], [-alpha, modelOutput]), sigma);
    else eps = lincomb([alpha, modelOutput], [sigma, sample]);
    if (cfg.thresholding) {
      const x0 = thr(divScalar(lincomb([1, sample], [-sigma, eps]), alpha));
      eps = divScalar(lincomb([1, sample], [-alpha, x0]), sigma);
    }
    return eps;
  }

  /**
   * One stochastic Adams update from sigmas[fromIdx] to sigmas[toIdx] using `outputs` (newest
   * last). `predictor` selects the Bashforth (explicit) or Moulton (implicit) order-2 correction.
   */
  private update(toIdx: number, fromIdx: number, x: Sample, outputs: Sample[], noise: Float32Array, order: number, tau: number, predictor: boolean): Sample {
    const [alphaT, sigmaT] = alphaSigma(this.sigmas[toIdx]);
    const [alphaS0, sigmaS0] = alphaSigma(this.sigmas[fromIdx]);
    const lambdaT = lambdaOfSigma(this.sigmas[toIdx]);
    const lambdaS0 = lambdaOfSigma(this.sigmas[fromIdx]);
    const h = f32(lambdaT - lambdaS0);
    const base = predictor ? fromIdx : toIdx;
    const lambdas = Array.from({ length: order }, (_, i) => lambdaOfSigma(this.sigmas[base - i]));
    const coef = saCoefficients(lambdas, lambdaS0, lambdaT, tau, this.predictX0);
    const tau2 = tau * tau;
    const T = 1 + tau2;
    if (this.predictX0 && order === 2) {
      const a = expF32(f32(T * lambdaT));
      const core = f32(f32(f32(h * T) - 1) + expF32(f32(T * -h)));
      let term: number;
      if (predictor) {
        const inner = f32(f32(f32(h * h) / 2) - f32(core / (T * T)));
        term = f32(f32(a * inner) / f32(lambdaS0 - lambdaOfSigma(this.sigmas[fromIdx - 1])));
      } else {
        term = f32(a * f32(f32(h / 2) - f32(core / f32(T * T * h))));
      }
      coef[0] = f32(coef[0] + term);
      coef[1] = f32(coef[1] - term);
    }
    const terms = coef.map((c, i) => {
      const w = this.predictX0
        ? f32(f32(f32(T * sigmaT) * expF32(f32(-tau2 * lambdaT))) * c)
        : f32(f32(-T * alphaT) * c);
      return [w, outputs[outputs.length - 1 - i]] as const;
    });
    const noiseScale = this.predictX0
      ? f32(sigmaT * f32(Math.sqrt(f32(1 - expF32(f32(-2 * tau2 * h))))))
      : f32(f32(tau * sigmaT) * f32(Math.sqrt(f32(expF32(f32(2 * h)) - 1))));
    const scale = this.predictX0 ? f32(expF32(f32(-tau2 * h)) * f32(sigmaT / sigmaS0)) : f32(alphaT / alphaS0);
    const gradient = lincomb(...terms);
    return lincomb([scale, x], [1, gradient], [noiseScale, noise]);
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample, this.lastSample?.length);
    const cfg = this.cfg;
    const idx = this.ensureStepIndex(t, 'last');
    this.checkIndex(idx, this.timesteps.length);
    const converted = this.convert(modelOutput, sample, idx, this.batchOf(sample.length, opts));
    let x = sample;
    if (idx > 0 && this.lastSample !== null) {
      const history = [...(this.modelOutputs.filter((m) => m !== null) as Sample[]), converted];
      x = this.update(idx, idx - 1, this.lastSample, history, this.lastNoise!, this.correctorOrder, tauOf(this.timestepList.at(-1)!), false);
    }
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);
    this.timestepList.shift();
    this.timestepList.push(t);
    const noise = this.drawNoise(sample.length, opts);
    const n = this.timesteps.length;
    const p = cfg.predictor_order as number;
    const c = cfg.corrector_order as number;
    const predictorOrder = Math.min(cfg.lower_order_final ? Math.min(p, n - idx) : p, this.lowerOrderNums + 1);
    this.correctorOrder = Math.min(cfg.lower_order_final ? Math.min(c, n - idx + 1) : c, this.lowerOrderNums + 2);
    this.lastSample = x;
    this.lastNoise = noise;
    const outputs = this.modelOutputs.filter((m) => m !== null) as Sample[];
    const prevSample = this.update(idx + 1, idx, x, outputs, noise, predictorOrder, tauOf(t), true);
    if (this.lowerOrderNums < this.historyLength()) this.lowerOrderNums++;
    this.stepIndex = idx + 1;
    return { prevSample };
  }
}
