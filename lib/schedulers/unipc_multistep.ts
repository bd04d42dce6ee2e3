/**
 * UniPCMultistepScheduler (arXiv 2302.04867): a multistep predictor (UniP) plus a corrector
 * (UniC) that refines the previous step's result with the new model output at no extra cost.
 */
import { SchedulerBase } from './base.js';
import {
  alternativeSigmas, checkSteps, intTimesteps, lambdaOfSigma, logSigmasF32, noiseSchedule,
  sigmaFromAlphaCumprod, sigmaSpacing, trainingSigmas, alphaSigma, type Spacing,
} from './common.js';
import {
  betaOptions, checkOneSigmaSpacing, DYNAMIC_SHIFT_OPTIONS, FLOW_OPTIONS, invalid, opt, predictionType,
  resolveConfig, SPACINGS, unsupported, type ConfigSpec,
} from './config.js';
import { f32 } from './npmath.js';
import { divScalar, lincomb, sub, thresholdSample } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' }),
  solver_order: opt.int(2, 1),
  prediction_type: predictionType('epsilon', ['epsilon', 'sample', 'v_prediction']),
  thresholding: opt.bool(false),
  dynamic_thresholding_ratio: opt.num(0.995),
  sample_max_value: opt.num(1.0),
  predict_x0: opt.bool(true),
  solver_type: opt.oneOf('bh2', ['bh1', 'bh2', 'midpoint', 'heun', 'logrho']),
  lower_order_final: opt.bool(true),
  disable_corrector: opt.intList([]),
  solver_p: opt.limited(null, [null], 'a nested predictor scheduler cannot come from a JSON config'),
  use_karras_sigmas: opt.bool(false),
  use_exponential_sigmas: opt.bool(false),
  use_beta_sigmas: opt.bool(false),
  ...FLOW_OPTIONS,
  timestep_spacing: opt.oneOf('linspace', SPACINGS),
  steps_offset: opt.int(0),
  final_sigmas_type: opt.oneOf('zero', ['zero', 'sigma_min']),
  rescale_betas_zero_snr: opt.bool(false),
  ...DYNAMIC_SHIFT_OPTIONS,
  sigma_min: opt.num(null, true),
  sigma_max: opt.num(null, true),
  shift_terminal: opt.num(null, true),
};

const NAME = 'UniPCMultistepScheduler';

/** Solves the small dense system R x = b (Gaussian elimination with partial pivoting), float32 result. */
function solve(R: number[][], b: number[]): number[] {
  const n = b.length;
  const a = R.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = c + 1; r < n; r++) {
      const f = a[r][c] / a[c][c];
      for (let k = c; k <= n; k++) a[r][k] -= f * a[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r][n];
    for (let k = r + 1; k < n; k++) s -= a[r][k] * x[k];
    x[r] = f32(s / a[r][r]);
  }
  return x;
}

export class UniPCMultistepScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly alphasCumprod: Float32Array;
  private readonly trainSigmas: Float32Array;
  private modelOutputs: (Sample | null)[] = [];
  private lowerOrderNums = 0;
  private lastSample: Sample | null = null;
  private thisOrder = 1;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): UniPCMultistepScheduler {
    return new UniPCMultistepScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    checkOneSigmaSpacing(NAME, cfg);
    if (cfg.shift_terminal !== null) throw invalid(`${NAME}: shift_terminal is only supported with use_flow_sigmas`);
    if (['midpoint', 'heun', 'logrho'].includes(cfg.solver_type as string)) cfg.solver_type = 'bh2';
    this.alphasCumprod = noiseSchedule(NAME, cfg, true).alphasCumprod;
    this.trainSigmas = trainingSigmas(this.alphasCumprod);
    const n = cfg.num_train_timesteps as number;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
    this.sigmas = this.trainSigmas.slice();
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    const cfg = this.cfg;
    if (opts.timesteps !== undefined) throw invalid(`${NAME}.setTimesteps: custom timesteps are not supported by this scheduler`);
    if (opts.sigmas !== undefined) throw unsupported(`${NAME}.setTimesteps: custom sigmas need use_flow_sigmas, which is not supported`);
    const n = checkSteps(NAME, numInferenceSteps);
    const numTrain = cfg.num_train_timesteps as number;
    let timesteps = intTimesteps(cfg.timestep_spacing as Spacing, n, numTrain, numTrain, cfg.steps_offset as number);
    const spacing = sigmaSpacing(cfg);
    let sigmas: number[];
    let last: number;
    if (spacing !== null && spacing !== 'lu') {
      ({ sigmas, timesteps } = alternativeSigmas(spacing, this.trainSigmas, logSigmasF32(this.trainSigmas), n, cfg, spacing === 'karras'));
      last = cfg.final_sigmas_type === 'sigma_min' ? sigmas[sigmas.length - 1] : 0;
    } else {
      sigmas = timesteps.map((t) => this.trainSigmas[Math.min(Math.max(t, 0), numTrain - 1)]);
      last = cfg.final_sigmas_type === 'sigma_min' ? sigmaFromAlphaCumprod(this.alphasCumprod[0]) : 0;
    }
    this.sigmas = Float32Array.from([...sigmas, last]);
    this.timesteps = timesteps.map(Math.trunc);
    this.numInferenceSteps = this.timesteps.length;
    this.modelOutputs = new Array(cfg.solver_order as number).fill(null);
    this.lowerOrderNums = 0;
    this.lastSample = null;
    this.resetRun();
  }

  private convert(modelOutput: Sample, sample: Sample, idx: number, batch: number): Sample {
    const cfg = this.cfg;
    const [alpha, sigma] = alphaSigma(this.sigmas[idx]);
    if (cfg.predict_x0) {
      let x0: Sample;
      if (cfg.prediction_type === 'epsilon') x0 = divScalar(lincomb([1, sample], [-sigma, modelOutput]), alpha);
      else if (cfg.prediction_type === 'sample') x0 = modelOutput;
      else x0 = lincomb([alpha, sample], [-sigma, modelOutput]);
      return cfg.thresholding
        ? thresholdSample(x0, cfg.dynamic_thresholding_ratio as number, cfg.sample_max_value as number, batch)
        : x0;
    }
    if (cfg.prediction_type === 'epsilon') return modelOutput;
    if (cfg.prediction_type === 'sample') return divScalar(lincomb([1, sample], [-alpha, modelOutput]), sigma);
    return lincomb([alpha, modelOutput], [sigma, sample]);
  }

  /**
   * The shared part of UniP and UniC for the interval sigmas[s0] -> sigmas[t]: the ratios r_k of
   * earlier log-SNR steps, the differences D1_k = (m_k - m0) / r_k, and the phi-function terms.
   */
  private coefficients(tIdx: number, s0Idx: number, order: number, historyIdx: (i: number) => number) {
    const [alphaT, sigmaT] = alphaSigma(this.sigmas[tIdx]);
    const [alphaS0, sigmaS0] = alphaSigma(this.sigmas[s0Idx]);
    const lambdaS0 = lambdaOfSigma(this.sigmas[s0Idx]);
    const h = f32(lambdaOfSigma(this.sigmas[tIdx]) - lambdaS0);
    const m0 = this.modelOutputs.at(-1)!;
    const rks: number[] = [];
    const d1s: Sample[] = [];
    for (let i = 1; i < order; i++) {
      const mi = this.modelOutputs.at(-(i + 1))!;
      const rk = f32(f32(lambdaOfSigma(this.sigmas[historyIdx(i)]) - lambdaS0) / h);
      rks.push(rk);
      d1s.push(divScalar(sub(mi, m0), rk));
    }
    rks.push(1);
    const predictX0 = this.cfg.predict_x0 === true;
    const hh = predictX0 ? -h : h;
    const hPhi1 = f32(Math.expm1(hh));
    let hPhiK = f32(f32(hPhi1 / hh) - 1);
    let factorial = 1;
    const bH = this.cfg.solver_type === 'bh1' ? hh : hPhi1;
    const R: number[][] = [];
    const b: number[] = [];
    for (let i = 1; i <= order; i++) {
      R.push(rks.map((r) => f32(r ** (i - 1))));
      b.push(f32(f32(hPhiK * factorial) / bH));
      factorial *= i + 1;
      hPhiK = f32(f32(hPhiK / hh) - f32(1 / factorial));
    }
    return { alphaT, sigmaT, alphaS0, sigmaS0, hPhi1, bH, R, b, d1s, m0, predictX0 };
  }

  /** sum_k rhos[k] * D1s[k] (torch.einsum over the history axis), float32. */
  private static weighted(rhos: number[], d1s: Sample[]): Sample | null {
    if (d1s.length === 0) return null;
    return lincomb(...d1s.map((d, k) => [rhos[k], d] as const));
  }

  /** multistep_uni_p_bh_update: the predictor. */
  private predictor(idx: number, x: Sample, order: number): Sample {
    const c = this.coefficients(idx + 1, idx, order, (i) => idx - i);
    const rhos = c.d1s.length === 0 ? [] : order === 2 ? [0.5] : solve(c.R.slice(0, -1).map((r) => r.slice(0, -1)), c.b.slice(0, -1));
    const res = UniPCMultistepScheduler.weighted(rhos, c.d1s);
    const [scale, coef] = c.predictX0 ? [f32(c.sigmaT / c.sigmaS0), c.alphaT] : [f32(c.alphaT / c.alphaS0), c.sigmaT];
    const xt = lincomb([scale, x], [-f32(coef * c.hPhi1), c.m0]);
    // With no history diffusers subtracts a zero term, which leaves x_t_ unchanged.
    return res === null ? xt : lincomb([1, xt], [-f32(coef * c.bH), res]);
  }

  /** multistep_uni_c_bh_update: the corrector, applied to the previous step's output. */
  private corrector(idx: number, modelT: Sample, lastSample: Sample, order: number): Sample {
    const c = this.coefficients(idx, idx - 1, order, (i) => idx - (i + 1));
    const rhos = order === 1 ? [0.5] : solve(c.R, c.b);
    const res = UniPCMultistepScheduler.weighted(rhos.slice(0, -1), c.d1s);
    const [scale, coef] = c.predictX0 ? [f32(c.sigmaT / c.sigmaS0), c.alphaT] : [f32(c.alphaT / c.alphaS0), c.sigmaT];
    const xt = lincomb([scale, lastSample], [-f32(coef * c.hPhi1), c.m0]);
    const d1t = sub(modelT, c.m0);
    const corr = res === null ? lincomb([rhos.at(-1)!, d1t]) : lincomb([1, res], [rhos.at(-1)!, d1t]);
    return lincomb([1, xt], [-f32(coef * c.bH), corr]);
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample, this.modelOutputs.at(-1)?.length);
    const cfg = this.cfg;
    const idx = this.ensureStepIndex(t, 'last');
    this.checkIndex(idx, this.timesteps.length);
    const useCorrector = idx > 0 && !(cfg.disable_corrector as number[]).includes(idx - 1) && this.lastSample !== null;
    const converted = this.convert(modelOutput, sample, idx, this.batchOf(sample.length, opts));
    let x = sample;
    if (useCorrector) x = this.corrector(idx, converted, this.lastSample!, this.thisOrder);
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);
    const solverOrder = cfg.solver_order as number;
    const order = cfg.lower_order_final ? Math.min(solverOrder, this.timesteps.length - idx) : solverOrder;
    this.thisOrder = Math.min(order, this.lowerOrderNums + 1);
    this.lastSample = x;
    const prevSample = this.predictor(idx, x, this.thisOrder);
    if (this.lowerOrderNums < solverOrder) this.lowerOrderNums++;
    this.stepIndex = idx + 1;
    return { prevSample };
  }
}
