/**
 * DPMSolverMultistepScheduler: DPM-Solver / DPM-Solver++ (ODE and SDE variants), orders 1-3,
 * reusing the model outputs of previous steps. This is PixArt-alpha's own scheduler.
 */
import { SchedulerBase } from './base.js';
import {
  alternativeSigmas, checkNumberList, checkSteps, clippedTimestepCount, intTimesteps, logSigmasF32,
  noiseSchedule, sigmaFromAlphaCumprod, sigmaSpacing, trainingSigmas, type Spacing,
} from './common.js';
import {
  betaOptions, checkOneSigmaSpacing, DYNAMIC_SHIFT_OPTIONS, FLOW_OPTIONS, invalid, opt, predictionType,
  resolveConfig, SPACINGS, unsupported, VARIANCE_TYPE, type ConfigSpec,
} from './config.js';
import {
  dpmConvertModelOutput, dpmFirstOrder, dpmSecondOrder, interval, scaledDiff, sdePlusNoiseScale,
  type DpmAlgorithm,
} from './dpmsolver_common.js';
import { expF32, f32 } from './npmath.js';
import { lincomb } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';

const SPEC: ConfigSpec = {
  ...betaOptions({ beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear' }),
  solver_order: opt.oneOf(2, [1, 2, 3]),
  prediction_type: predictionType('epsilon', ['epsilon', 'sample', 'v_prediction']),
  thresholding: opt.bool(false),
  dynamic_thresholding_ratio: opt.num(0.995),
  sample_max_value: opt.num(1.0),
  algorithm_type: opt.oneOf('dpmsolver++', ['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++', 'deis']),
  solver_type: opt.oneOf('midpoint', ['midpoint', 'heun', 'logrho', 'bh1', 'bh2']),
  lower_order_final: opt.bool(true),
  euler_at_final: opt.bool(false),
  use_karras_sigmas: opt.bool(false),
  use_exponential_sigmas: opt.bool(false),
  use_beta_sigmas: opt.bool(false),
  use_lu_lambdas: opt.bool(false),
  ...FLOW_OPTIONS,
  final_sigmas_type: opt.oneOf('zero', ['zero', 'sigma_min']),
  lambda_min_clipped: opt.extendedNum(-Infinity),
  variance_type: VARIANCE_TYPE,
  timestep_spacing: opt.oneOf('linspace', SPACINGS),
  steps_offset: opt.int(0),
  rescale_betas_zero_snr: opt.bool(false),
  ...DYNAMIC_SHIFT_OPTIONS,
};

const NAME = 'DPMSolverMultistepScheduler';

export class DPMSolverMultistepScheduler extends SchedulerBase {
  readonly className = NAME;
  private readonly alphasCumprod: Float32Array;
  private readonly trainSigmas: Float32Array;
  private modelOutputs: (Sample | null)[] = [];
  private lowerOrderNums = 0;

  static fromConfig(config: SchedulerConfig, overrides?: SchedulerConfig): DPMSolverMultistepScheduler {
    return new DPMSolverMultistepScheduler(resolveConfig(NAME, SPEC, config, overrides));
  }

  /** Options by name (diffusers' keyword arguments), the rest at their defaults; fromConfig() reads a saved config. */
  constructor(options: SchedulerConfig = {}) {
    const cfg = resolveConfig(NAME, SPEC, {}, options);
    super(cfg);
    checkOneSigmaSpacing(NAME, cfg);
    // diffusers checks final_sigmas_type against the name given (so 'deis' with "zero" fails
    // there too), then re-registers DEIS/UniPC names to their DPM-Solver equivalents.
    const given = cfg.algorithm_type as string;
    if (given !== 'dpmsolver++' && given !== 'sde-dpmsolver++' && cfg.final_sigmas_type === 'zero') {
      throw invalid(`${NAME}: final_sigmas_type "zero" is not supported for algorithm_type "${given}"; use "sigma_min"`);
    }
    if (cfg.algorithm_type === 'deis') cfg.algorithm_type = 'dpmsolver++';
    if (['logrho', 'bh1', 'bh2'].includes(cfg.solver_type as string)) cfg.solver_type = 'midpoint';
    const algo = cfg.algorithm_type as DpmAlgorithm;
    if (algo === 'sde-dpmsolver' && cfg.solver_order === 3) {
      throw unsupported(`${NAME}: sde-dpmsolver has no third-order update (diffusers fails the same way)`);
    }
    this.alphasCumprod = noiseSchedule(NAME, cfg, true).alphasCumprod;
    this.trainSigmas = trainingSigmas(this.alphasCumprod);
    const n = cfg.num_train_timesteps as number;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
    this.sigmas = this.trainSigmas.slice();
  }

  setTimesteps(numInferenceSteps?: number, opts: SetTimestepsOptions = {}): void {
    const cfg = this.cfg;
    if (opts.sigmas !== undefined) throw invalid(`${NAME}.setTimesteps: custom sigmas are not supported by this scheduler`);
    const custom = opts.timesteps;
    if ((numInferenceSteps === undefined) === (custom === undefined)) {
      throw invalid(`${NAME}.setTimesteps: pass exactly one of numInferenceSteps or opts.timesteps`);
    }
    const spacing = sigmaSpacing(cfg);
    if (custom !== undefined && spacing !== null) {
      throw invalid(`${NAME}.setTimesteps: custom timesteps cannot be combined with use_${spacing === 'lu' ? 'lu_lambdas' : `${spacing}_sigmas`}`);
    }
    let timesteps: number[];
    let sigmas: number[];
    if (custom !== undefined) {
      timesteps = checkNumberList(NAME, 'timesteps', custom, true);
    } else {
      const n = checkSteps(NAME, numInferenceSteps);
      const last = clippedTimestepCount(this.alphasCumprod, cfg.lambda_min_clipped as number);
      timesteps = intTimesteps(cfg.timestep_spacing as Spacing, n, last, cfg.num_train_timesteps as number, cfg.steps_offset as number);
    }
    if (spacing !== null) {
      const round = (spacing === 'karras' || spacing === 'lu') && cfg.beta_schedule !== 'squaredcos_cap_v2';
      ({ sigmas, timesteps } = alternativeSigmas(spacing, this.trainSigmas, logSigmasF32(this.trainSigmas), numInferenceSteps!, cfg, round));
    } else {
      sigmas = timesteps.map((t) => this.trainSigmaAt(t));
    }
    const last = cfg.final_sigmas_type === 'sigma_min' ? sigmaFromAlphaCumprod(this.alphasCumprod[0]) : 0;
    this.sigmas = Float32Array.from([...sigmas, last]);
    this.timesteps = timesteps.map(Math.trunc);
    this.numInferenceSteps = this.timesteps.length;
    this.modelOutputs = new Array(cfg.solver_order as number).fill(null);
    this.lowerOrderNums = 0;
    this.resetRun();
  }

  /** np.interp at an integer timestep: the training sigma (clamped to the table like numpy). */
  private trainSigmaAt(t: number): number {
    const n = this.trainSigmas.length;
    return this.trainSigmas[Math.min(Math.max(t, 0), n - 1)];
  }

  protected stepSample(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample> {
    this.requireTimesteps();
    const prev = this.modelOutputs[this.modelOutputs.length - 1];
    this.checkTensors(modelOutput, sample, prev?.length);
    const cfg = this.cfg;
    const idx = this.ensureStepIndex(t, 'last');
    this.checkIndex(idx, this.timesteps.length);
    const n = this.timesteps.length;
    const order = cfg.solver_order as number;
    const lowerOrderFinal = idx === n - 1
      && (cfg.euler_at_final === true || (cfg.lower_order_final === true && n < 15) || cfg.final_sigmas_type === 'zero');
    const lowerOrderSecond = idx === n - 2 && cfg.lower_order_final === true && n < 15;

    const converted = dpmConvertModelOutput(cfg, this.sigmas[idx], modelOutput, sample, this.batchOf(sample.length, opts));
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);

    const algo = cfg.algorithm_type as DpmAlgorithm;
    const noise = algo.startsWith('sde') ? this.drawNoise(sample.length, opts) : null;
    let prevSample: Sample;
    if (order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) {
      prevSample = dpmFirstOrder(algo, interval(this.sigmas[idx + 1], this.sigmas[idx]), sample, converted, noise);
    } else if (order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) {
      prevSample = this.secondOrder(idx, sample, noise);
    } else {
      prevSample = this.thirdOrder(idx, sample, noise);
    }
    if (this.lowerOrderNums < order) this.lowerOrderNums++;
    this.stepIndex = idx + 1;
    return { prevSample };
  }

  /** multistep_dpm_solver_second_order_update. */
  private secondOrder(idx: number, sample: Sample, noise: Float32Array | null): Sample {
    const iv = interval(this.sigmas[idx + 1], this.sigmas[idx]);
    const h0 = interval(this.sigmas[idx], this.sigmas[idx - 1]).h;
    const m0 = this.modelOutputs.at(-1)!;
    const d1 = scaledDiff(f32(1 / f32(h0 / iv.h)), m0, this.modelOutputs.at(-2)!);
    return dpmSecondOrder(this.cfg.algorithm_type as DpmAlgorithm, this.cfg.solver_type === 'heun', iv, sample, m0, d1, noise);
  }

  /** multistep_dpm_solver_third_order_update. */
  private thirdOrder(idx: number, sample: Sample, noise: Float32Array | null): Sample {
    const algo = this.cfg.algorithm_type as DpmAlgorithm;
    const { alphaT, sigmaT, alphaS, sigmaS, h } = interval(this.sigmas[idx + 1], this.sigmas[idx]);
    const h0 = interval(this.sigmas[idx], this.sigmas[idx - 1]).h;
    const h1 = interval(this.sigmas[idx - 1], this.sigmas[idx - 2]).h;
    const [m0, m1, m2] = [this.modelOutputs.at(-1)!, this.modelOutputs.at(-2)!, this.modelOutputs.at(-3)!];
    const r0 = f32(h0 / h);
    const r1 = f32(h1 / h);
    const d10 = scaledDiff(f32(1 / r0), m0, m1);
    const d11 = scaledDiff(f32(1 / r1), m1, m2);
    const r01 = f32(r0 + r1);
    const dd = scaledDiff(1, d10, d11);
    const d1 = lincomb([1, d10], [f32(r0 / r01), dd]);
    const d2 = scaledDiff(f32(1 / r01), d10, d11);
    const hh = f32(h * h);
    if (algo === 'dpmsolver++') {
      const em1 = f32(expF32(-h) - 1);
      return lincomb(
        [f32(sigmaT / sigmaS), sample],
        [-f32(alphaT * em1), m0],
        [f32(alphaT * f32(f32(em1 / h) + 1)), d1],
        [-f32(alphaT * f32(f32(f32(em1 + h) / hh) - 0.5)), d2],
      );
    }
    if (algo === 'dpmsolver') {
      const em1 = f32(expF32(h) - 1);
      return lincomb(
        [f32(alphaT / alphaS), sample],
        [-f32(sigmaT * em1), m0],
        [-f32(sigmaT * f32(f32(em1 / h) - 1)), d1],
        [-f32(sigmaT * f32(f32(f32(em1 - h) / hh) - 0.5)), d2],
      );
    }
    const om = f32(1 - expF32(f32(-2 * h)));
    const h2 = f32(2 * h);
    return lincomb(
      [f32(f32(sigmaT / sigmaS) * expF32(-h)), sample],
      [f32(alphaT * om), m0],
      [f32(alphaT * f32(f32(om / f32(-2 * h)) + 1)), d1],
      [f32(alphaT * f32(f32(f32(om - h2) / f32(h2 * h2)) - 0.5)), d2],
      [sdePlusNoiseScale(sigmaT, h), noise!],
    );
  }
}
