/**
 * Public types shared by every scheduler. Tensors are flat Float32Arrays in the layout the
 * caller uses (NCHW for PixArt latents); schedulers act element-wise, so only thresholding and
 * generator draws need the shape, which callers may pass as `opts.shape`. They may also be
 * DeviceSamples (sample.ts): engine-resident latents whose step arithmetic is recorded and
 * evaluated by the engine.
 */
import type { DeviceSample, Sample } from './sample.js';

/** A torch-compatible random source (built elsewhere); `randn(shape)` returns prod(shape) N(0,1) floats. */
export interface NoiseSource {
  randn(shape: number[]): Float32Array;
}

/** A diffusers `scheduler_config.json` object, snake_case keys as written by diffusers. */
export type SchedulerConfig = Record<string, unknown>;

export interface SetTimestepsOptions {
  /** Custom integer (or, for the Euler family, float) timesteps, where the diffusers class accepts them. */
  timesteps?: number[];
  /** Custom sigmas (EulerDiscreteScheduler only, like diffusers). */
  sigmas?: number[];
}

export interface StepOptions {
  /** Noise used inside the step (stochastic schedulers). Takes precedence over `generator`. */
  noise?: Float32Array;
  /** Random source used when `noise` is not given. */
  generator?: NoiseSource;
  /** Shape of the sample, e.g. [1, 4, 128, 128]; defaults to [sample.length]. */
  shape?: number[];
  /** DDIM: weight of the added noise (0 = deterministic DDIM). */
  eta?: number;
  /** DDIM: recompute epsilon from the clipped x0. */
  useClippedModelOutput?: boolean;
  /** EulerDiscrete stochastic sampling ("churn") parameters, as in diffusers' step(). */
  sChurn?: number;
  sTmin?: number;
  sTmax?: number;
  sNoise?: number;
}

/** A step's outputs: Float32Arrays for host inputs, Samples (possibly recorded) for DeviceSample inputs. */
export interface StepResult<S extends Sample = Float32Array> {
  prevSample: S;
  predOriginalSample?: S;
  /** LCMScheduler only: the consistency-model denoised estimate. */
  denoised?: S;
}

export interface Scheduler {
  /** diffusers class name, e.g. 'DPMSolverMultistepScheduler'. */
  readonly className: string;
  /** Resolved init arguments, snake_case like diffusers' `scheduler.config`. */
  readonly config: Readonly<SchedulerConfig>;
  /** Timesteps to iterate, in order (integers for int64 schedulers, float32 values for the Euler family). */
  readonly timesteps: number[];
  /** Noise levels (float32). Empty for DDIM and LCM, which have none in diffusers either. */
  readonly sigmas: Float32Array;
  readonly initNoiseSigma: number;
  /** Model evaluations per `timesteps` entry group, as diffusers' `order` class attribute. */
  readonly order: number;
  readonly numInferenceSteps: number | null;
  setTimesteps(numInferenceSteps?: number, opts?: SetTimestepsOptions): void;
  setBeginIndex(beginIndex: number): void;
  scaleModelInput(sample: Float32Array, t: number): Float32Array;
  step(modelOutput: Float32Array, t: number, sample: Float32Array, opts?: StepOptions): StepResult;
  /** See DeviceScheduler (a scheduler of one's own may leave these out: it then steps on the host). */
  readonly supportsDeviceSamples?: boolean;
  stateSamples?(): DeviceSample[];
  /** Independent copy with the same config and fresh (un-set) state. */
  clone(): Scheduler;
}

/**
 * A scheduler that can also step DeviceSamples (every scheduler of this package): engine-resident
 * samples whose arithmetic it records for the engine to evaluate (sample.ts).
 */
export interface DeviceScheduler extends Scheduler {
  scaleModelInput(sample: Float32Array, t: number): Float32Array;
  scaleModelInput(sample: Sample, t: number): Sample;
  step(modelOutput: Float32Array, t: number, sample: Float32Array, opts?: StepOptions): StepResult;
  step(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample>;
  /**
   * Whether step() can take DeviceSamples in this configuration: false with dynamic
   * thresholding (`thresholding: true`), whose per-sample quantile needs the values on the host.
   */
  readonly supportsDeviceSamples: boolean;
  /**
   * Every DeviceSample the scheduler keeps between steps (solver history, last sample, ...).
   * A caller stepping DeviceSamples evaluates the non-leaf ones after each step (binding them
   * to engine tensors), so recorded operations never pile up across steps. Leaves are listed
   * too (e.g. Heun's first-stage sample, a raw model output kept as history): the caller must
   * keep their tensors alive until they drop out of this list.
   */
  stateSamples(): DeviceSample[];
  clone(): DeviceScheduler;
}

/** Whether `s` can step engine-resident samples in its current configuration. */
export function stepsOnEngine(s: Scheduler): s is DeviceScheduler {
  return s.supportsDeviceSamples === true && typeof s.stateSamples === 'function';
}
