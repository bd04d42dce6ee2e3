/**
 * State and bookkeeping common to all schedulers: the resolved config, the step counter that
 * diffusers keeps in `_step_index` / `_begin_index`, argument checks and noise sourcing, and the
 * public step()/scaleModelInput() overloads over Float32Arrays and DeviceSamples.
 */
import { invalid } from './config.js';
import { f32 } from './npmath.js';
import { DeviceSample, isDeviceSample, type Sample } from './sample.js';
import type { DeviceScheduler, SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult } from './types.js';
import { show } from '../util/args.js';

const isSample = (x: unknown): x is Sample => x instanceof Float32Array || x instanceof DeviceSample;

/** Objects whose own values stateSamples() searches: arrays and plain `{}` records. */
function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export abstract class SchedulerBase implements DeviceScheduler {
  abstract readonly className: string;
  timesteps: number[] = [];
  sigmas: Float32Array = new Float32Array(0);
  initNoiseSigma = 1.0;
  order = 1;
  numInferenceSteps: number | null = null;
  protected cfg: SchedulerConfig;
  protected stepIndex: number | null = null;
  protected beginIndex: number | null = null;

  constructor(cfg: SchedulerConfig) {
    this.cfg = cfg;
  }

  get config(): Readonly<SchedulerConfig> {
    return Object.freeze(structuredClone(this.cfg));
  }

  abstract setTimesteps(numInferenceSteps?: number, opts?: SetTimestepsOptions): void;

  /**
   * One solver step. All-Float32Array inputs give Float32Arrays; with a DeviceSample among the
   * inputs the results are recorded DeviceSamples (the same float32 arithmetic, see ops.ts).
   */
  step(modelOutput: Float32Array, t: number, sample: Float32Array, opts?: StepOptions): StepResult;
  step(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample>;
  step(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample> {
    // Checked before the subclass touches its history, so a refused step leaves no trace.
    if (!this.supportsDeviceSamples && (isDeviceSample(modelOutput) || isDeviceSample(sample))) {
      throw invalid(`${this.className}.step: dynamic thresholding (thresholding: true) needs the sample values on the host; pass Float32Arrays, not DeviceSamples`);
    }
    return this.stepSample(modelOutput, t, sample, opts);
  }

  /** The scheduler's step on Float32Arrays or DeviceSamples, written with the ops.ts operations. */
  protected abstract stepSample(modelOutput: Sample, t: number, sample: Sample, opts?: StepOptions): StepResult<Sample>;

  scaleModelInput(sample: Float32Array, t: number): Float32Array;
  scaleModelInput(sample: Sample, t: number): Sample;
  scaleModelInput(sample: Sample, t: number): Sample {
    return this.scaleSample(sample, t);
  }

  /** Identity for the schedulers that need no input scaling: returns `sample` itself, like diffusers. */
  protected scaleSample(sample: Sample, _t: number): Sample {
    return sample;
  }

  /**
   * False when the config turns on dynamic thresholding: its per-item quantile sorts the
   * values, which the recorded element-wise operations cannot express.
   */
  get supportsDeviceSamples(): boolean {
    return this.cfg.thresholding !== true;
  }

  /**
   * Every DeviceSample held in this scheduler's fields (solver history, last sample, previous
   * derivative, ...), found by walking its own fields rather than a per-class list, so that
   * new state cannot be forgotten: arrays, Sets, Maps and plain objects are searched at any
   * depth; typed arrays and the config are not. (A JS `#private` field would be invisible to
   * this walk; the schedulers use TypeScript `private` fields, which are ordinary properties.)
   */
  stateSamples(): DeviceSample[] {
    const found = new Set<DeviceSample>();
    const seen = new Set<object>();
    const visit = (v: unknown): void => {
      if (v instanceof DeviceSample) {
        found.add(v);
        return;
      }
      if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || v === this.cfg || seen.has(v)) return;
      seen.add(v);
      if (Array.isArray(v) || v instanceof Set) for (const x of v) visit(x);
      else if (v instanceof Map) for (const x of v.values()) visit(x);
      else if (isPlainObject(v)) for (const x of Object.values(v)) visit(x);
    };
    for (const v of Object.values(this)) visit(v);
    return [...found];
  }

  setBeginIndex(beginIndex: number): void {
    if (!Number.isInteger(beginIndex) || beginIndex < 0) {
      throw invalid(`${this.className}.setBeginIndex: index must be an integer >= 0, got ${String(beginIndex)}`);
    }
    this.beginIndex = beginIndex;
  }

  clone(): this {
    const Ctor = this.constructor as new (cfg: SchedulerConfig) => this;
    return new Ctor(structuredClone(this.cfg));
  }

  /** Clears the per-run state after new timesteps; subclasses add their solver history. */
  protected resetRun(): void {
    this.stepIndex = null;
    this.beginIndex = null;
  }

  /**
   * diffusers' `_init_step_index`: the begin index if one was set, else the position of `t`
   * in the timesteps (the second match when t repeats, as in the Heun/KDPM2 schedules).
   * Comparison happens in float32, like a float32 or int64 tensor == Python scalar.
   * `notFound`: multistep schedulers fall back to the last index; the Euler family raises.
   */
  protected ensureStepIndex(t: number, notFound: 'last' | 'throw'): number {
    if (this.stepIndex === null) {
      if (this.beginIndex !== null) {
        this.stepIndex = this.beginIndex;
      } else {
        const target = f32(t);
        const hits: number[] = [];
        this.timesteps.forEach((ts, i) => {
          if (f32(ts) === target) hits.push(i);
        });
        if (hits.length === 0) {
          if (notFound === 'throw') throw invalid(`${this.className}: timestep ${show(t)} is not in the schedule`);
          this.stepIndex = this.timesteps.length - 1;
        } else {
          this.stepIndex = hits.length > 1 ? hits[1] : hits[0];
        }
      }
    }
    return this.stepIndex;
  }

  protected requireTimesteps(): void {
    if (this.numInferenceSteps === null) {
      throw invalid(`${this.className}: call setTimesteps() before step()`);
    }
  }

  /** Step index guard: stepping past the end of the schedule would read undefined sigmas. */
  protected checkIndex(i: number, maxExclusive: number): void {
    if (i >= maxExclusive) {
      throw invalid(`${this.className}.step: called more times than the schedule has steps (index ${i})`);
    }
  }

  protected checkTensors(modelOutput: unknown, sample: unknown, expectedLength?: number): void {
    if (!isSample(modelOutput) || !isSample(sample)) {
      throw invalid(`${this.className}.step: modelOutput and sample must be Float32Arrays or DeviceSamples`);
    }
    if (sample.length === 0 || modelOutput.length !== sample.length) {
      throw invalid(`${this.className}.step: modelOutput has ${modelOutput.length} values but sample has ${sample.length}`);
    }
    if (expectedLength !== undefined && sample.length !== expectedLength) {
      throw invalid(`${this.className}.step: sample has ${sample.length} values but earlier steps had ${expectedLength}`);
    }
  }

  protected checkSample(sample: unknown): asserts sample is Sample {
    if (!isSample(sample) || sample.length === 0) {
      throw invalid(`${this.className}: sample must be a non-empty Float32Array or DeviceSample`);
    }
  }

  /** Noise for a stochastic step: opts.noise if given, else drawn from opts.generator. */
  protected drawNoise(n: number, opts: StepOptions | undefined): Float32Array {
    if (opts?.noise !== undefined) {
      if (!(opts.noise instanceof Float32Array) || opts.noise.length !== n) {
        throw invalid(`${this.className}.step: noise must be a Float32Array of ${n} values`);
      }
      return opts.noise;
    }
    if (opts?.generator !== undefined) {
      const shape = opts.shape ?? [n];
      const drawn = opts.generator.randn(shape);
      if (!(drawn instanceof Float32Array) || drawn.length !== n) {
        throw invalid(`${this.className}.step: generator.randn returned ${drawn?.length} values, expected ${n}`);
      }
      return drawn;
    }
    throw invalid(`${this.className}.step: this step is stochastic; pass opts.noise or opts.generator`);
  }

  /** Batch size for per-item operations (dynamic thresholding). */
  protected batchOf(n: number, opts: StepOptions | undefined): number {
    const shape = opts?.shape;
    if (!shape) return 1;
    if (shape.reduce((a, b) => a * b, 1) !== n) {
      throw invalid(`${this.className}.step: shape [${shape.join(', ')}] does not match ${n} values`);
    }
    return shape[0];
  }
}
