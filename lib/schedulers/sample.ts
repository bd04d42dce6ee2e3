/**
 * Samples a scheduler can step: host Float32Arrays (computed at once) or DeviceSamples, which
 * record the element-wise float32 arithmetic of a step instead of doing it. A pipeline whose
 * latents live on the engine hands the scheduler DeviceSamples over its tensors, lets the
 * scheduler run its (unchanged) math, and has the engine evaluate the recorded operations in one
 * fused pass per step (lib/pipeline/deviceSampler.ts), so latents never come back to JS.
 *
 * Every recorded operation rounds exactly as its host counterpart in ops.ts, which is the
 * contract the engine's evaluator (native/core/state_program.h) implements:
 *   scale  r = f32(c * a)          c a double, as `c * x[i]` stored into a Float32Array
 *   add    r = f32(a + b)
 *   sub    r = f32(a - b)
 *   div    r = f32(a / c)          true division by the double c
 *   clamp  r = f32(min(max(a, c), d))   JS Math.max/Math.min semantics (NaN stays NaN)
 * `evaluateOnHost` is that contract in TypeScript: the reference the engine is tested against.
 */

export type SampleOp = 'scale' | 'add' | 'sub' | 'div' | 'clamp';

/** An engine tensor a DeviceSample stands for (opaque to the schedulers). */
export interface SampleTensor {
  readonly shape: readonly number[];
}

/**
 * A float32 tensor of `length` values that lives on the engine (a leaf, `tensor` set) or is a
 * recorded operation on other samples (`op` set) until the pipeline has it evaluated, which
 * turns it into a leaf in place. Immutable as a value: operations always make new samples.
 */
export class DeviceSample {
  readonly length: number;
  /** The engine tensor once this sample is a leaf. */
  tensor: SampleTensor | undefined;
  /** The recorded operation, its operands (host arrays among them, e.g. drawn noise) and scalars. */
  op: SampleOp | undefined;
  args: Sample[] = [];
  c = 0;
  d = 0;

  private constructor(length: number) {
    this.length = length;
  }

  static leaf(tensor: SampleTensor, length: number): DeviceSample {
    const s = new DeviceSample(length);
    s.tensor = tensor;
    return s;
  }

  static record(op: SampleOp, args: Sample[], c = 0, d = 0): DeviceSample {
    const s = new DeviceSample(args[0].length);
    s.op = op;
    s.args = args;
    s.c = c;
    s.d = d;
    return s;
  }

  get isLeaf(): boolean {
    return this.tensor !== undefined;
  }

  /** Makes this sample the leaf `tensor` (after the engine evaluated it) and drops its operands. */
  bind(tensor: SampleTensor): void {
    this.tensor = tensor;
    this.op = undefined;
    this.args = [];
  }
}

export type Sample = Float32Array | DeviceSample;

export function isDeviceSample(x: unknown): x is DeviceSample {
  return x instanceof DeviceSample;
}

/** One element of `op` on its operands, rounded as the host ops round. */
export function applyOp(op: SampleOp, a: number, b: number, c: number, d: number): number {
  switch (op) {
    case 'scale': return Math.fround(c * a);
    case 'add': return Math.fround(a + b);
    case 'sub': return Math.fround(a - b);
    case 'div': return Math.fround(a / c);
    case 'clamp': return Math.fround(Math.min(Math.max(a, c), d));
  }
}

/**
 * The reference evaluation of a recorded sample: `leaf` reads a leaf's values. Evaluates each
 * node once (a DAG may share operands).
 */
export function evaluateOnHost(x: Sample, leaf: (t: SampleTensor) => Float32Array): Float32Array {
  const memo = new Map<DeviceSample, Float32Array>();
  const run = (s: Sample): Float32Array => {
    if (s instanceof Float32Array) return s;
    if (s.tensor !== undefined) return leaf(s.tensor);
    const hit = memo.get(s);
    if (hit) return hit;
    const a = run(s.args[0]);
    const b = s.args.length > 1 ? run(s.args[1]) : a;
    const out = new Float32Array(s.length);
    for (let i = 0; i < out.length; i++) out[i] = applyOp(s.op!, a[i], b[i], s.c, s.d);
    memo.set(s, out);
    return out;
  };
  return run(x);
}
