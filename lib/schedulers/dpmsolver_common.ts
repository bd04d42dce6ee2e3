/**
 * Pieces shared by the multistep and single-step DPM-Solver schedulers (arXiv 2206.00927,
 * 2211.01095): converting the network output to what the solver integrates (x0 for the "++"
 * variants, epsilon otherwise) and the first-order (DDIM-like) update.
 */
import { alphaSigma, lambdaOfSigma } from './common.js';
import { expF32, f32 } from './npmath.js';
import { divScalar, lincomb, scale, sub, thresholdSample } from './ops.js';
import type { Sample } from './sample.js';
import type { SchedulerConfig } from './types.js';

export type DpmAlgorithm = 'dpmsolver' | 'dpmsolver++' | 'sde-dpmsolver' | 'sde-dpmsolver++';

export function predictsX0(algo: DpmAlgorithm): boolean {
  return algo === 'dpmsolver++' || algo === 'sde-dpmsolver++';
}

/** f32(c * (a - b)) element-wise, e.g. diffusers' `1.0 / r0 * (m0 - m1)`. */
export function scaledDiff(c: number, a: Sample, b: Sample): Sample {
  return scale(c, sub(a, b));
}

function threshold(cfg: SchedulerConfig, x0: Sample, batch: number): Sample {
  return thresholdSample(x0, cfg.dynamic_thresholding_ratio as number, cfg.sample_max_value as number, batch);
}

/** convert_model_output of DPMSolverMultistep/Singlestep at noise level `sigma`. */
export function dpmConvertModelOutput(
  cfg: SchedulerConfig, sigma: number, modelOutput: Sample, sample: Sample, batch: number,
): Sample {
  const [alpha, sigmaT] = alphaSigma(sigma);
  const pred = cfg.prediction_type;
  if (predictsX0(cfg.algorithm_type as DpmAlgorithm)) {
    let x0: Sample;
    if (pred === 'epsilon') x0 = divScalar(lincomb([1, sample], [-sigmaT, modelOutput]), alpha);
    else if (pred === 'sample') x0 = modelOutput;
    else x0 = lincomb([alpha, sample], [-sigmaT, modelOutput]);
    return cfg.thresholding ? threshold(cfg, x0, batch) : x0;
  }
  let eps: Sample;
  if (pred === 'epsilon') eps = modelOutput;
  else if (pred === 'sample') eps = divScalar(lincomb([1, sample], [-alpha, modelOutput]), sigmaT);
  else eps = lincomb([alpha, modelOutput], [sigmaT, sample]);
  if (cfg.thresholding) {
    const x0 = threshold(cfg, divScalar(lincomb([1, sample], [-sigmaT, eps]), alpha), batch);
    eps = divScalar(lincomb([1, sample], [-alpha, x0]), sigmaT);
  }
  return eps;
}

/** Scalars every DPM-Solver update needs for the interval sigma_s -> sigma_t. */
export interface Interval {
  alphaT: number;
  sigmaT: number;
  alphaS: number;
  sigmaS: number;
  /** lambda_t - lambda_s (log-SNR step), float32. */
  h: number;
}

export function interval(sigmaTo: number, sigmaFrom: number): Interval {
  const [alphaT, sigmaT] = alphaSigma(sigmaTo);
  const [alphaS, sigmaS] = alphaSigma(sigmaFrom);
  return { alphaT, sigmaT, alphaS, sigmaS, h: f32(lambdaOfSigma(sigmaTo) - lambdaOfSigma(sigmaFrom)) };
}

/** sigma_t * sqrt(1 - exp(-2h)): the noise scale of the SDE++ updates. */
export function sdePlusNoiseScale(sigmaT: number, h: number): number {
  return f32(sigmaT * f32(Math.sqrt(f32(1 - expF32(f32(-2 * h))))));
}

/** sigma_t * sqrt(exp(2h) - 1): the noise scale of the (deprecated) SDE-DPMSolver updates. */
export function sdeNoiseScale(sigmaT: number, h: number): number {
  return f32(sigmaT * f32(Math.sqrt(f32(expF32(f32(2 * h)) - 1))));
}

/** dpm_solver_first_order_update. */
export function dpmFirstOrder(
  algo: DpmAlgorithm, iv: Interval, sample: Sample, m: Sample, noise: Float32Array | null,
): Sample {
  const { alphaT, sigmaT, alphaS, sigmaS, h } = iv;
  if (algo === 'dpmsolver++') {
    return lincomb([f32(sigmaT / sigmaS), sample], [-f32(alphaT * f32(expF32(-h) - 1)), m]);
  }
  if (algo === 'dpmsolver') {
    return lincomb([f32(alphaT / alphaS), sample], [-f32(sigmaT * f32(expF32(h) - 1)), m]);
  }
  if (algo === 'sde-dpmsolver++') {
    return lincomb(
      [f32(f32(sigmaT / sigmaS) * expF32(-h)), sample],
      [f32(alphaT * f32(1 - expF32(f32(-2 * h)))), m],
      [sdePlusNoiseScale(sigmaT, h), noise!],
    );
  }
  return lincomb(
    [f32(alphaT / alphaS), sample],
    [-f32(2 * f32(sigmaT * f32(expF32(h) - 1))), m],
    [sdeNoiseScale(sigmaT, h), noise!],
  );
}

/**
 * The second-order DPM-Solver update over the interval `iv`, from `sample` with the base model
 * output `m` and the first difference `d1` (midpoint or heun). Multistep uses the newest output
 * over one interval; singlestep the older one over two.
 */
export function dpmSecondOrder(
  algo: DpmAlgorithm, heun: boolean, iv: Interval, sample: Sample, m: Sample, d1: Sample,
  noise: Float32Array | null,
): Sample {
  const { alphaT, sigmaT, alphaS, sigmaS, h } = iv;
  if (algo === 'dpmsolver++') {
    const c = f32(alphaT * f32(expF32(-h) - 1));
    const c1 = heun ? -f32(alphaT * f32(f32(f32(expF32(-h) - 1) / h) + 1)) : f32(0.5 * c);
    return lincomb([f32(sigmaT / sigmaS), sample], [-c, m], [-c1, d1]);
  }
  if (algo === 'dpmsolver') {
    const c = f32(sigmaT * f32(expF32(h) - 1));
    const c1 = heun ? f32(sigmaT * f32(f32(f32(expF32(h) - 1) / h) - 1)) : f32(0.5 * c);
    return lincomb([f32(alphaT / alphaS), sample], [-c, m], [-c1, d1]);
  }
  if (algo === 'sde-dpmsolver++') {
    const e2 = expF32(f32(-2 * h));
    const c = f32(alphaT * f32(1 - e2));
    const c1 = heun ? f32(alphaT * f32(f32(f32(1 - e2) / f32(-2 * h)) + 1)) : f32(0.5 * c);
    return lincomb([f32(f32(sigmaT / sigmaS) * expF32(-h)), sample], [c, m], [c1, d1], [sdePlusNoiseScale(sigmaT, h), noise!]);
  }
  const c = f32(sigmaT * f32(expF32(h) - 1));
  const c1 = heun ? f32(2 * f32(sigmaT * f32(f32(f32(expF32(h) - 1) / h) - 1))) : c;
  return lincomb([f32(alphaT / alphaS), sample], [-f32(2 * c), m], [-c1, d1], [sdeNoiseScale(sigmaT, h), noise!]);
}
