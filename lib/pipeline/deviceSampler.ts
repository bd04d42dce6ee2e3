/**
 * Scheduler steps on the engine. The schedulers record their arithmetic on DeviceSamples
 * (lib/schedulers/sample.ts); this compiles what a step recorded into one state program
 * (native/core/state_program.h: loads, element-wise float32 ops, stores, in a few registers),
 * has the engine run it, and turns the evaluated samples into leaves over the new engine
 * tensors. It also owns every engine tensor of the loop and frees those no sample needs any more,
 * so a run holds the latents, the model output and the scheduler's history, nothing else.
 */
import { PixArtError } from '../errors.js';
import type { Engine } from '../engine/Engine.js';
import { callNative } from '../native/binding.js';
import type { NativeStateTensor } from '../native/AddonTypes.js';
import { DeviceSample, type Sample, type SampleOp } from '../schedulers/sample.js';

/** Opcodes of native/core/state_program.h. */
const OP = { load: 0, store: 1, scale: 2, add: 3, sub: 4, div: 5, clamp: 6 } as const satisfies Record<'load' | 'store' | SampleOp, number>;
const MAX_REGISTERS = 32;
const MAX_CODE = 1024;
const MAX_TENSORS = 64;

/** A compiled program: the addon's arguments, and which samples its outputs become. */
export interface CompiledProgram {
  code: Int32Array;
  scalars: Float64Array;
  inputs: (NativeStateTensor | Float32Array)[];
  /** outputs[k] is the sample the program's k-th output evaluates. */
  outputs: DeviceSample[];
  registers: number;
}

/**
 * Compiles the recorded (non-leaf) samples among `roots` and everything they depend on that is
 * not yet evaluated. Operands are evaluated in post-order; registers are reused once a value's
 * last reader has run. Returns null when every root is already a leaf.
 */
export function compileSamples(roots: DeviceSample[]): CompiledProgram | null {
  const outputs = [...new Set(roots.filter((r) => !r.isLeaf))];
  if (outputs.length === 0) return null;
  type Value = DeviceSample | Float32Array;
  // Post-order over the unevaluated DAG; leaves and host arrays are values that get loaded.
  const order: Value[] = [];
  const placed = new Set<Value>();
  const visit = (v: Value): void => {
    if (placed.has(v)) return;
    if (v instanceof DeviceSample && !v.isLeaf) {
      for (const a of v.args) visit(a);
    }
    placed.add(v);
    order.push(v);
  };
  for (const r of outputs) visit(r);
  const lastUse = new Map<Value, number>();
  order.forEach((v, i) => {
    if (v instanceof DeviceSample && !v.isLeaf) for (const a of v.args) lastUse.set(a, Math.max(lastUse.get(a) ?? -1, i));
  });
  const outputIndex = new Map<DeviceSample, number>(outputs.map((o, k) => [o, k]));

  const inputs: (NativeStateTensor | Float32Array)[] = [];
  const inputOf = new Map<unknown, number>();
  const code: number[] = [];
  const scalars: number[] = [];
  const emit = (op: number, dst: number, a: number, b: number, c = 0, d = 0) => {
    code.push(op, dst, a, b);
    scalars.push(c, d);
  };
  const free: number[] = [];
  let registers = 0;
  const reg = new Map<Value, number>();
  const take = (): number => {
    if (free.length > 0) return free.pop()!;
    if (registers === MAX_REGISTERS) throw internal(`a scheduler step needs more than ${MAX_REGISTERS} live values`);
    return registers++;
  };
  order.forEach((v, i) => {
    const r = take();
    if (v instanceof DeviceSample && !v.isLeaf) {
      const a = reg.get(v.args[0])!;
      const b = v.args.length > 1 ? reg.get(v.args[1])! : a;
      emit(OP[v.op!], r, a, b, v.c, v.d);
      // Operands whose last reader this was give their registers back (after the write, so an
      // operand register may be the destination of the next value, never of this one).
      for (const x of new Set(v.args)) if (lastUse.get(x) === i) free.push(reg.get(x)!);
    } else {
      const key = v instanceof DeviceSample ? v.tensor! : v;
      let k = inputOf.get(key);
      if (k === undefined) {
        k = inputs.length;
        inputs.push(v instanceof DeviceSample ? (v.tensor as NativeStateTensor) : v);
        inputOf.set(key, k);
      }
      emit(OP.load, r, k, 0);
    }
    reg.set(v, r);
    const out = v instanceof DeviceSample ? outputIndex.get(v) : undefined;
    if (out !== undefined) emit(OP.store, out, r, 0);
    // Nothing reads it later (an output only): its register is free again.
    if (!lastUse.has(v)) free.push(r);
  });
  if (code.length / 4 > MAX_CODE) throw internal(`a scheduler step compiled to ${code.length / 4} instructions (at most ${MAX_CODE})`);
  if (inputs.length > MAX_TENSORS || outputs.length > MAX_TENSORS) throw internal(`a scheduler step uses more than ${MAX_TENSORS} tensors`);
  return { code: Int32Array.from(code), scalars: Float64Array.from(scalars), inputs, outputs, registers };
}

function internal(message: string): PixArtError {
  return new PixArtError('ERR_PIXART_INTERNAL', message);
}

/** The engine tensors of one denoising loop and the evaluation of its recorded steps. */
export class DeviceSampler {
  readonly shape: number[];
  readonly engine: Engine;
  /** Every tensor this loop made and has not freed. */
  readonly #owned = new Set<NativeStateTensor>();

  constructor(engine: Engine, shape: number[]) {
    this.engine = engine;
    this.shape = shape;
  }

  get length(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Takes ownership of an engine tensor (e.g. a model output) and wraps it as a leaf sample. */
  adopt(t: NativeStateTensor): DeviceSample {
    this.#owned.add(t);
    return DeviceSample.leaf(t, this.length);
  }

  async upload(data: Float32Array): Promise<DeviceSample> {
    const native = this.engine.native;
    return this.adopt(await callNative(() => native.uploadState(data, this.shape), 'uploading latents'));
  }

  /** Evaluates the recorded samples among `roots` in one engine call; they become leaves. */
  async evaluate(roots: DeviceSample[]): Promise<void> {
    const p = compileSamples(roots);
    if (!p) return;
    const native = this.engine.native;
    const out = await callNative(
      () => native.runStateProgram({ shape: this.shape, code: p.code, scalars: p.scalars, inputs: p.inputs, outputs: p.outputs.length }),
      'scheduler step',
    );
    out.forEach((t, k) => {
      this.#owned.add(t);
      p.outputs[k].bind(t);
    });
  }

  /** The engine tensor of an evaluated sample. */
  tensorOf(s: Sample): NativeStateTensor {
    if (!(s instanceof DeviceSample) || !s.isLeaf) throw internal('the sample was not evaluated on the engine');
    return s.tensor as NativeStateTensor;
  }

  /** The values of an evaluated sample, copied into JS memory. */
  async read(s: Sample): Promise<Float32Array> {
    const t = this.tensorOf(s);
    return callNative(() => t.read(), 'reading latents');
  }

  /** Frees every tensor of this loop that none of the (evaluated) `keep` samples stands for. */
  release(keep: DeviceSample[]): void {
    const live = new Set(keep.map((s) => s.tensor));
    for (const t of this.#owned) {
      if (!live.has(t)) {
        t.dispose();
        this.#owned.delete(t);
      }
    }
  }

  /** Frees every tensor the loop still owns. Safe to call twice. */
  dispose(): void {
    for (const t of this.#owned) t.dispose();
    this.#owned.clear();
  }
}
