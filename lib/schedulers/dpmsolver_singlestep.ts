/**
 * DPMSolverSinglestepScheduler: DPM-Solver(++) where each order-k update spans k timesteps and
 * starts from the sample at the beginning of its group (orders follow `order_list`).
 */
import { SchedulerBase } from './base.js';
import {
  alternativeSigmas, checkNumberList, checkSteps, clippedTimestepCount, intTimesteps, logSigmasF32, noiseSchedule,
  sigmaFromAlphaCumprod, sigmaSpacing, trainingSigmas,
} from './common.js';
import {
  betaOptions, checkOneSigmaSpacing, DYNAMIC_SHIFT_OPTIONS, FLOW_OPTIONS, invalid, opt, predictionType, resolveConfig,
  VARIANCE_TYPE, type ConfigSpec,
} from './config.js';
import {
  dpmConvertModelOutput, dpmFirstOrder, dpmSecondOrder, interval, scaledDiff, sdePlusNoiseScale, type DpmAlgorithm,
} from './dpmsolver_common.js';
import { expF32, f32 } from './npmath.js';
import { divScalar, lincomb, scale, sub, type SampleTerm } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' }),
  solver_order: opt.oneOf(2, [1, 2, 3]),
  prediction_type: predictionType('epsilon', ['epsilon', 'sample', 'v_prediction']),
  thresholding: opt.bool(false),
  dynamic_thresholding_ratio: opt.num(0.995),
  sample_max_value: opt.num(1.0),
  algorithm_type: opt.oneOf('dpmsolver++', ['dpmsolver', 'dpmsolver++', 'sde-dpmsolver++', 'deis']),
  solver_type: opt.oneOf('midpoint', ['midpoint', 'heun', 'logrho', 'bh1', 'bh2']),
  lower_order_final: opt.bool(false),
  use_karras_sigmas: opt.bool(false),
  use_exponential_sigmas: opt.bool(false),
  use_beta_sigmas: opt.bool(false),
  ...FLOW_OPTIONS,
  final_sigmas_type: opt.oneOf('zero', ['zero', 'sigma_min']),
  lambda_min_clipped: opt.extendedNum(-Infinity),
  variance_type: VARIANCE_TYPE,
  ...DYNAMIC_SHIFT_OPTIONS,
};

const NAME = 'DPMSolverSinglestepScheduler';

export class DPMSolverSinglestepScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly alphasCumprod: Float32Array;
  private readonly trainSigmas: Float32Array;
  private modelOutputs: (Sample | null)[] = [];
  private groupSample: Sample | null = null;
  private orderList: number[] = [];

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): DPMSolverSinglestepScheduler {
    return new DPMSolverSinglestepScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    checkOneSigmaSpacing(NAME, cfg);
    if (cfg.algorithm_type === 'deis') cfg.algorithm_type = 'dpmsolver++';
    if (['logrho', 'bh1', 'bh2'].includes(cfg.solver_type as string)) cfg.solver_type = 'midpoint';
    if (cfg.algorithm_type === 'dpmsolver' && cfg.final_sigmas_type === 'zero') {
      throw invalid(`${NAME}: final_sigmas_type "zero" is not supported for algorithm_type "dpmsolver"; use "sigma_min"`);
    }
    this.alphasCumprod = noiseSchedule(NAME, cfg).alphasCumprod;
    this.trainSigmas = trainingSigmas(this.alphasCumprod);
    const n = cfg.num_train_timesteps as number;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
    this.sigmas = this.trainSigmas.slice();
  }

  /** get_order_list: the solver order used at each step. */
  private orderListFor(steps: number): number[] {
    const order = this.cfg.solver_order as number;
    const repeat = (pattern: number[], times: number) => Array.from({ length: Math.max(times, 0) }, () => pattern).flat();
    let orders: number[];
    if (this.cfg.lower_order_final) {
      if (order === 3) {
        if (steps % 3 === 0) orders = [...repeat([1, 2, 3], Math.floor(steps / 3) - 1), 1, 2, 1];
        else if (steps % 3 === 1) orders = [...repeat([1, 2, 3], Math.floor(steps / 3)), 1];
        else orders = [...repeat([1, 2, 3], Math.floor(steps / 3)), 1, 2];
      } else if (order === 2) {
        orders = steps % 2 === 0 ? [...repeat([1, 2], steps / 2 - 1), 1, 1] : [...repeat([1, 2], Math.floor(steps / 2)), 1];
      } else {
        orders = repeat([1], steps);
      }
    } else {
      orders = order === 1 ? repeat([1], steps) : repeat(order === 3 ? [1, 2, 3] : [1, 2], Math.floor(steps / order));
    }
    if (this.cfg.final_sigmas_type === 'zero' && orders.length > 0) orders[orders.length - 1] = 1;
    return orders;
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    const cfg = this.cfg;
    if (opts.sigmas !== undefined) throw invalid(`${NAME}.setTimesteps: custom sigmas are not supported by this scheduler`);
    const custom = opts.timesteps;
    if ((numInferenceSteps === undefined) === (custom === undefined)) {
      throw invalid(`${NAME}.setTimesteps: pass exactly one of numInferenceSteps or opts.timesteps`);
    }
    const spacing = sigmaSpacing(cfg);
    if (custom !== undefined && spacing !== null) throw invalid(`${NAME}.setTimesteps: custom timesteps cannot be combined with use_${spacing}_sigmas`);
    const numTrain = cfg.num_train_timesteps as number;
    const n = custom !== undefined ? custom.length : checkSteps(NAME, numInferenceSteps);
    let timesteps: number[];
    let sigmas: number[];
    if (custom !== undefined) {
      timesteps = checkNumberList(NAME, 'timesteps', custom, true);
    } else {
      // Always linspace over the unclipped range (this class has no timestep_spacing option).
      const last = clippedTimestepCount(this.alphasCumprod, cfg.lambda_min_clipped as number);
      timesteps = intTimesteps('linspace', n, last, numTrain, 0);
    }
    if (spacing !== null && spacing !== 'lu') {
      ({ sigmas, timesteps } = alternativeSigmas(spacing, this.trainSigmas, logSigmasF32(this.trainSigmas), n, cfg, spacing === 'karras'));
    } else {
      sigmas = timesteps.map((t) => this.trainSigmas[Math.min(Math.max(t, 0), numTrain - 1)]);
    }
    const last = cfg.final_sigmas_type === 'sigma_min' ? sigmaFromAlphaCumprod(this.alphasCumprod[0]) : 0;
    this.sigmas = Float32Array.from([...sigmas, last]);
    this.timesteps = timesteps.map(Math.trunc);
    this.numInferenceSteps = n;
    this.modelOutputs = new Array(cfg.solver_order as number).fill(null);
    this.groupSample = null;
    // diffusers switches lower_order_final on (in its config) when the schedule needs it.
    if (!cfg.lower_order_final && (n % (cfg.solver_order as number) !== 0 || cfg.final_sigmas_type === 'zero')) {
      cfg.lower_order_final = true;
    }
    this.orderList = this.orderListFor(n);
    this.resetRun();
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample> {
    this.requireTimesteps();
    this.checkTensors(modelOutput, sample, this.modelOutputs.at(-1)?.length);
    const idx = this.ensureStepIndex(t, 'last');
    this.checkIndex(idx, this.timesteps.length);
    const algo = this.cfg.algorithm_type as DpmAlgorithm;
    const converted = dpmConvertModelOutput(this.cfg, this.sigmas[idx], modelOutput, sample, this.batchOf(sample.length, opts));
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);
    const noise = algo === 'sde-dpmsolver++' ? this.drawNoise(sample.length, opts) : null;
    let order = this.orderList[idx];
    while (this.modelOutputs[this.modelOutputs.length - order] === null) order--;
    if (order === 1) this.groupSample = sample;
    const x = this.groupSample!;
    let prevSample: Sample;
    if (order === 1) prevSample = dpmFirstOrder(algo, interval(this.sigmas[idx + 1], this.sigmas[idx]), x, converted, noise);
    else if (order === 2) prevSample = this.secondOrder(idx, x, noise);
    else prevSample = this.thirdOrder(idx, x, noise);
    this.stepIndex = idx + 1;
    return { prevSample };
  }

  /** singlestep_dpm_solver_second_order_update: from sigmas[idx-1] to sigmas[idx+1]. */
  private secondOrder(idx: number, x: Sample, noise: Float32Array | null): Sample {
    const iv = interval(this.sigmas[idx + 1], this.sigmas[idx - 1]);
    const h0 = interval(this.sigmas[idx], this.sigmas[idx - 1]).h;
    const m1 = this.modelOutputs.at(-2)!;
    const d1 = scaledDiff(f32(1 / f32(h0 / iv.h)), this.modelOutputs.at(-1)!, m1);
    return dpmSecondOrder(this.cfg.algorithm_type as DpmAlgorithm, this.cfg.solver_type === 'heun', iv, x, m1, d1, noise);
  }

  /** singlestep_dpm_solver_third_order_update: from sigmas[idx-2] to sigmas[idx+1]. */
  private thirdOrder(idx: number, x: Sample, noise: Float32Array | null): Sample {
    const algo = this.cfg.algorithm_type as DpmAlgorithm;
    const heun = this.cfg.solver_type === 'heun';
    const { alphaT, sigmaT, alphaS: alphaS2, sigmaS: sigmaS2, h } = interval(this.sigmas[idx + 1], this.sigmas[idx - 2]);
    const h0 = interval(this.sigmas[idx], this.sigmas[idx - 2]).h;
    const h1 = interval(this.sigmas[idx - 1], this.sigmas[idx - 2]).h;
    const [m0, m1, m2] = [this.modelOutputs.at(-1)!, this.modelOutputs.at(-2)!, this.modelOutputs.at(-3)!];
    const r0 = f32(h0 / h);
    const r1 = f32(h1 / h);
    const d10 = scaledDiff(f32(1 / r1), m1, m2);
    const d11 = scaledDiff(f32(1 / r0), m0, m2);
    const rd = f32(r0 - r1);
    // D1 = (r0 * D1_0 - r1 * D1_1) / (r0 - r1);  D2 = 2 * (D1_1 - D1_0) / (r0 - r1)
    const d1 = divScalar(lincomb([r0, d10], [-r1, d11]), rd);
    const d2 = divScalar(scale(2, sub(d11, d10)), rd);
    const hh = f32(h * h);
    if (algo === 'dpmsolver++') {
      const em1 = f32(expF32(-h) - 1);
      const terms = [[f32(sigmaT / sigmaS2), x], [-f32(alphaT * em1), m2]] as SampleTerm[];
      terms.push([f32(alphaT * f32(f32(em1 / h) + 1)), heun ? d1 : d11]);
      if (heun) terms.push([-f32(alphaT * f32(f32(f32(em1 + h) / hh) - 0.5)), d2]);
      return lincomb(...terms);
    }
    if (algo === 'dpmsolver') {
      const em1 = f32(expF32(h) - 1);
      const terms = [[f32(alphaT / alphaS2), x], [-f32(sigmaT * em1), m2]] as SampleTerm[];
      terms.push([-f32(sigmaT * f32(f32(em1 / h) - 1)), heun ? d1 : d11]);
      if (heun) terms.push([-f32(sigmaT * f32(f32(f32(em1 - h) / hh) - 0.5)), d2]);
      return lincomb(...terms);
    }
    const om = f32(1 - expF32(f32(-2 * h)));
    const m2h = f32(-2 * h);
    const terms = [[f32(f32(sigmaT / sigmaS2) * expF32(-h)), x], [f32(alphaT * om), m2]] as SampleTerm[];
    terms.push([f32(alphaT * f32(f32(om / m2h) + 1)), heun ? d1 : d11]);
    if (heun) terms.push([f32(alphaT * f32(f32(f32(om + m2h) / f32(m2h * m2h)) - 0.5)), d2]);
    terms.push([sdePlusNoiseScale(sigmaT, h), noise!]);
    return lincomb(...terms);
  }
}
