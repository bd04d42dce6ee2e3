/**
 * Noise-schedule math shared by the schedulers: betas, alphas_cumprod, the sigma tables and
 * the alternative sigma spacings (Karras, exponential, beta, Lu), timestep spacings, and
 * sigma -> timestep interpolation. Each function notes where diffusers computes in float32
 * (torch tensors) and where in float64 (numpy / Python floats), because that decides how the
 * results round.
 */
import { invalid } from './config.js';
import {
  betaPpf, f32, logF32, npArange, npInterpGrid, npLinspace, roundHalfEven, torchLinspaceF32,
} from './npmath.js';
import type { SchedulerConfig } from './types.js';

export type Spacing = 'linspace' | 'leading' | 'trailing';

/** diffusers' betas_for_alpha_bar: Python floats, then one float32 tensor. */
function betasForAlphaBar(n: number, kind: 'cosine' | 'exp', maxBeta = 0.999): Float32Array {
  const alphaBar = kind === 'cosine'
    ? (t: number) => Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2) ** 2
    : (t: number) => Math.exp(t * -12.0);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  return out;
}

/** torch.cumprod on float32 accumulates in double on CPU and stores each prefix as float32. */
export function cumprodF32(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  let acc = 1;
  for (let i = 0; i < x.length; i++) {
    acc *= x[i];
    out[i] = acc;
  }
  return out;
}

/** rescale_zero_terminal_snr (arXiv 2305.08891, Algorithm 1) in float32 tensor ops. */
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const alphas = betas.map((b) => f32(1 - b));
  const sqrtBar = cumprodF32(alphas).map((a) => Math.sqrt(a));
  const first = sqrtBar[0];
  const last = sqrtBar[n - 1];
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((s) => {
    const shifted = f32(f32(s - last) * scale);
    return f32(shifted * shifted);
  });
  const out = new Float32Array(n);
  out[0] = f32(1 - bar[0]);
  for (let i = 1; i < n; i++) out[i] = f32(1 - f32(bar[i] / bar[i - 1]));
  return out;
}

export interface NoiseSchedule {
  betas: Float32Array;
  alphasCumprod: Float32Array;
}

/**
 * betas and alphas_cumprod from the config, as the diffusers constructors build them.
 * `tinyTerminal`: classes that, with rescale_betas_zero_snr, replace the final alphas_cumprod 0
 * by 2**-24 so that the last sigma stays finite.
 */
export function noiseSchedule(cls: string, cfg: SchedulerConfig, tinyTerminal = false): NoiseSchedule {
  const n = cfg.num_train_timesteps as number;
  let betas: Float32Array;
  if (cfg.trained_betas) {
    betas = Float32Array.from(cfg.trained_betas as number[]);
  } else if (cfg.beta_schedule === 'linear') {
    betas = torchLinspaceF32(cfg.beta_start as number, cfg.beta_end as number, n);
  } else if (cfg.beta_schedule === 'scaled_linear') {
    // linspace of the square roots in float32, squared in float32.
    betas = torchLinspaceF32(Math.sqrt(cfg.beta_start as number), Math.sqrt(cfg.beta_end as number), n).map((b) => f32(b * b));
  } else if (cfg.beta_schedule === 'squaredcos_cap_v2') {
    betas = betasForAlphaBar(n, 'cosine');
  } else {
    betas = betasForAlphaBar(n, 'exp');
  }
  checkNoiseSchedule(cls, cfg, betas);
  if (cfg.rescale_betas_zero_snr === true) betas = rescaleZeroTerminalSnr(betas);
  const alphasCumprod = cumprodF32(betas.map((b) => f32(1 - b)));
  if (cfg.rescale_betas_zero_snr === true && tinyTerminal) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  return { betas, alphasCumprod };
}

/**
 * Refuses betas outside [0, 1]: alpha = 1 - beta would be negative or above 1, so 1 - alphas_cumprod
 * or alphas_cumprod goes negative and every sigma (and diffusers' result: NaN latents, or an
 * IndexError) is NaN. Schedules that are merely extreme (alphas_cumprod underflowing to 0, e.g.
 * linear betas up to 0.5) are left as diffusers runs them: DDIM with clip_sample still returns
 * finite latents there.
 */
function checkNoiseSchedule(cls: string, cfg: SchedulerConfig, betas: Float32Array): void {
  const bad = betas.findIndex((b) => !(b >= 0 && b <= 1));
  if (bad < 0) return;
  const source = cfg.trained_betas
    ? 'trained_betas'
    : `beta_schedule ${JSON.stringify(cfg.beta_schedule)} with beta_start ${String(cfg.beta_start)} and beta_end ${String(cfg.beta_end)}`;
  throw invalid(`${cls}: ${source} gives beta[${bad}] = ${betas[bad]}; every beta must lie in [0, 1] (the noise schedule would be NaN)`);
}

/** ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5, element-wise in float32. */
export function sigmaFromAlphaCumprod(ac: number): number {
  return f32(Math.sqrt(f32(f32(1 - ac) / ac)));
}

export function trainingSigmas(ac: Float32Array): Float32Array {
  return ac.map(sigmaFromAlphaCumprod);
}

/** np.log of the float32 training sigmas (a float32 array in numpy). */
export function logSigmasF32(sigmas: Float32Array): Float32Array {
  return sigmas.map(logF32);
}

/** _sigma_to_alpha_sigma_t for the VP (non-flow) case: alpha = 1/sqrt(sigma^2+1), sigma_t = sigma*alpha, float32. */
export function alphaSigma(sigma: number): [number, number] {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  return [alpha, f32(sigma * alpha)];
}

/** lambda = log(alpha_t) - log(sigma_t) in float32 (0-dim tensors). */
export function lambdaOfSigma(sigma: number): number {
  const [a, s] = alphaSigma(sigma);
  return f32(logF32(a) - logF32(s));
}

/**
 * num_train_timesteps - searchsorted(flip(lambda_t), lambda_min_clipped): the number of
 * training timesteps whose log-SNR stays above the clip (all of them for -inf).
 */
export function clippedTimestepCount(ac: Float32Array, lambdaMinClipped: number): number {
  const n = ac.length;
  let idx = 0;
  // flip(lambda_t) is ascending; searchsorted (left) = number of entries < the value.
  for (let i = n - 1; i >= 0; i--) {
    const alpha = f32(Math.sqrt(ac[i]));
    const sigma = f32(Math.sqrt(f32(1 - ac[i])));
    const lambda = f32(logF32(alpha) - logF32(sigma));
    if (lambda < lambdaMinClipped) idx++;
    else break;
  }
  return n - idx;
}

/**
 * Integer timesteps of the multistep schedulers (DPM-Solver, UniPC, DEIS, SA-Solver): n values
 * from `last` training steps (float64 numpy, round half to even, truncated to int64).
 */
export function intTimesteps(spacing: Spacing, n: number, last: number, numTrain: number, stepsOffset: number): number[] {
  if (spacing === 'linspace') {
    return npLinspace(0, last - 1, n + 1).map(roundHalfEven).reverse().slice(0, -1).map(Math.trunc);
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(last / (n + 1));
    const ts: number[] = [];
    for (let i = n; i >= 1; i--) ts.push(i * ratio + stepsOffset);
    return ts;
  }
  return npArange(last, 0, -(numTrain / n)).map((t) => Math.trunc(roundHalfEven(t)) - 1);
}

/** Float32 timesteps of the Euler family (Euler, Euler-ancestral, Heun, KDPM2). */
export function floatTimesteps(spacing: Spacing, n: number, numTrain: number, stepsOffset: number): number[] {
  if (spacing === 'linspace') return npLinspace(0, numTrain - 1, n).map(f32).reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(numTrain / n);
    const ts: number[] = [];
    for (let i = n - 1; i >= 0; i--) ts.push(f32(f32(i * ratio) + stepsOffset));
    return ts;
  }
  return npArange(numTrain, 0, -(numTrain / n)).map((t) => f32(f32(roundHalfEven(t)) - 1));
}

/** sigmas at (possibly fractional) timesteps by linear interpolation of the training table (float64). */
export function interpSigmas(timesteps: number[], trainSigmas: Float32Array): number[] {
  return timesteps.map((t) => npInterpGrid(t, trainSigmas));
}

/**
 * _sigma_to_t: fractional timestep whose log-sigma matches, interpolating the float32 table
 * `logSigmas`. `mode` follows the dtype diffusers ends up in: 'f64' for numpy float64 sigmas,
 * 'np32' for numpy float32 sigmas (custom Euler sigmas), 'torch32' for float32 torch tensors
 * (KDPM2's interpolated sigmas).
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array, mode: 'f64' | 'np32' | 'torch32' = 'f64'): number {
  const n = logSigmas.length;
  const logSigma = mode === 'f64' ? Math.log(Math.max(sigma, 1e-10)) : logF32(Math.max(f32(sigma), f32(1e-10)));
  if (Number.isNaN(logSigma)) return NaN;
  // argmax of cumsum(dists >= 0): the last index whose log-sigma is <= ours (0 if none).
  let low = 0;
  for (let i = 0; i < n; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, n - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  let w = mode === 'f64' ? (lo - logSigma) / f32(lo - hi) : f32(f32(lo - logSigma) / f32(lo - hi));
  w = Math.min(Math.max(w, 0), 1);
  if (mode === 'f64') return (1 - w) * low + w * (low + 1);
  if (mode === 'np32') return f32(1 - w) * low + w * (low + 1);
  return f32(f32(f32(1 - w) * low) + f32(w * (low + 1)));
}

export type SigmaSpacing = 'karras' | 'exponential' | 'beta' | 'lu' | null;

export function sigmaSpacing(cfg: SchedulerConfig): SigmaSpacing {
  if (cfg.use_karras_sigmas === true) return 'karras';
  if (cfg.use_exponential_sigmas === true) return 'exponential';
  if (cfg.use_beta_sigmas === true) return 'beta';
  if (cfg.use_lu_lambdas === true) return 'lu';
  return null;
}

/**
 * Karras / exponential / beta sigma ramps from sigma_max down to sigma_min (float64, numpy).
 * sigma_min / sigma_max default to the ends of `inSigmas` (descending) unless the config sets them.
 */
export function rampSigmas(kind: 'karras' | 'exponential' | 'beta', inSigmas: ArrayLike<number>, n: number, cfg: SchedulerConfig): number[] {
  const sigmaMin = typeof cfg.sigma_min === 'number' ? cfg.sigma_min : inSigmas[inSigmas.length - 1];
  const sigmaMax = typeof cfg.sigma_max === 'number' ? cfg.sigma_max : inSigmas[0];
  const ramp = npLinspace(0, 1, n);
  if (kind === 'karras') {
    const rho = 7.0;
    const minInv = sigmaMin ** (1 / rho);
    const maxInv = sigmaMax ** (1 / rho);
    return ramp.map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
  }
  if (kind === 'exponential') return npLinspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map(Math.exp);
  return ramp.map((r) => sigmaMin + betaPpf(1 - r, 0.6, 0.6) * (sigmaMax - sigmaMin));
}

/** Lu et al.'s uniform log-SNR steps: linear in lambda from lambda_max to lambda_min, then exp. */
export function luSigmas(flippedLogSigmas: ArrayLike<number>, n: number): number[] {
  const lambdaMin = flippedLogSigmas[flippedLogSigmas.length - 1];
  const lambdaMax = flippedLogSigmas[0];
  return npLinspace(0, 1, n).map((r) => Math.exp(lambdaMax + r * (lambdaMin - lambdaMax)));
}

/** Checks the numInferenceSteps argument of setTimesteps. */
export function checkSteps(cls: string, n: unknown, max?: number): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw invalid(`${cls}.setTimesteps: numInferenceSteps must be an integer >= 1, got ${String(n)}`);
  }
  if (max !== undefined && n > max) {
    throw invalid(`${cls}.setTimesteps: numInferenceSteps ${n} cannot exceed num_train_timesteps ${max}`);
  }
  return n;
}

/** Checks a custom timesteps/sigmas list. */
export function checkNumberList(cls: string, name: string, v: unknown, integers: boolean): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || (integers && !Number.isInteger(x)))) {
    throw invalid(`${cls}.setTimesteps: ${name} must be a non-empty array of ${integers ? 'integers' : 'finite numbers'}`);
  }
  return [...v];
}

/**
 * The DPM-Solver-family alternative schedules: sigmas from a ramp over the training sigmas
 * (descending), and the (fractional) timesteps they correspond to, rounded where diffusers rounds.
 */
export function alternativeSigmas(
  kind: Exclude<SigmaSpacing, null>, train: Float32Array, logSigmas: Float32Array, n: number,
  cfg: SchedulerConfig, roundTimesteps: boolean,
): { sigmas: number[]; timesteps: number[] } {
  const sigmas = kind === 'lu'
    ? luSigmas([...logSigmas].reverse(), n)
    : rampSigmas(kind, [...train].reverse(), n, cfg);
  const timesteps = sigmas.map((s) => {
    const t = sigmaToT(s, logSigmas);
    return roundTimesteps ? roundHalfEven(t) : t;
  });
  return { sigmas, timesteps };
}
