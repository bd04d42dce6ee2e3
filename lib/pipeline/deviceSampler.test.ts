/**
 * The compiler and tensor bookkeeping of DeviceSampler against an in-JS engine that runs the
 * compiled programs instruction by instruction (so the register allocation is what is tested),
 * and, through the real addon on the CPU backend, the native evaluator against the reference
 * evaluation (sample.ts) bit for bit on random programs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine/Engine.js';
import type { NativeStateProgram, NativeStateTensor } from '../native/AddonTypes.js';
import { add, clamp, divScalar, lincomb, scale, sub } from '../schedulers/ops.js';
import { applyOp, DeviceSample, evaluateOnHost, type Sample, type SampleOp } from '../schedulers/sample.js';
import { compileSamples, DeviceSampler } from './deviceSampler.js';

const OPS: SampleOp[] = ['scale', 'add', 'sub', 'div', 'clamp'];

class FakeTensor implements NativeStateTensor {
  disposed = false;
  constructor(readonly data: Float32Array, readonly shape: number[], private readonly live: Set<FakeTensor>) {
    live.add(this);
  }
  async read() {
    if (this.disposed) throw new Error('read after dispose');
    return this.data.slice();
  }
  dispose() {
    this.disposed = true;
    this.live.delete(this);
  }
}

/** Runs programs the way native/core/state_program.h specifies, register by register. */
function fakeEngine() {
  const live = new Set<FakeTensor>();
  const programs: NativeStateProgram[] = [];
  const native = {
    async uploadState(data: Float32Array, shape: number[]) {
      return new FakeTensor(data.slice(), shape, live);
    },
    async runStateProgram(p: NativeStateProgram) {
      programs.push(p);
      const n = p.shape.reduce((a, b) => a * b, 1);
      const ins = p.inputs.map((x) => {
        if (x instanceof Float32Array) return x;
        const t = x as FakeTensor;
        if (t.disposed) throw new Error('a program read a disposed tensor');
        return t.data;
      });
      const outs = Array.from({ length: p.outputs }, () => new Float32Array(n));
      const stored = new Array<number>(p.outputs).fill(0);
      for (let i = 0; i < n; i++) {
        const r = new Float32Array(32).fill(NaN);
        for (let k = 0; k < p.code.length / 4; k++) {
          const [op, dst, a, b] = p.code.subarray(4 * k, 4 * k + 4);
          const [c, d] = p.scalars.subarray(2 * k, 2 * k + 2);
          if (op === 0) r[dst] = ins[a][i];
          else if (op === 1) {
            outs[dst][i] = r[a];
            if (i === 0) stored[dst]++;
          } else r[dst] = applyOp(OPS[op - 2], r[a], r[b], c, d);
        }
      }
      expect(stored.every((s) => s === 1)).toBe(true);
      return outs.map((o) => new FakeTensor(o, p.shape, live));
    },
  };
  return { engine: { native } as unknown as Engine, live, programs };
}

function randn(n: number, seed: number): Float32Array {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 4 - 2;
  return Float32Array.from({ length: n }, next);
}

const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

describe('DeviceSampler with an in-JS engine', () => {
  it('evaluates a DPM-Solver++-like step with shared operands bit for bit, in few registers', async () => {
    const { engine, live, programs } = fakeEngine();
    const sampler = new DeviceSampler(engine, [2, 3]);
    const xh = randn(6, 1), eh = randn(6, 2), hh = randn(6, 3), noise = randn(6, 4);
    const x = await sampler.upload(xh), e = await sampler.upload(eh), hist = await sampler.upload(hh);
    const x0 = divScalar(lincomb([1, x], [-0.7, e]), 0.3);
    const prev = lincomb([0.61, x], [-0.1, x0], [1 / 3, sub(x0, hist)], [0.05, noise]);
    const kept = clamp(x0, -1, 1);
    await sampler.evaluate([prev as DeviceSample, kept as DeviceSample, x0 as DeviceSample]);
    expect(programs).toHaveLength(1);
    expect(programs[0].outputs).toBe(3);
    // the host ops on the same data
    const hx0 = divScalar(lincomb([1, xh], [-0.7, eh]), 0.3);
    const hprev = lincomb([0.61, xh], [-0.1, hx0], [1 / 3, sub(hx0, hh)], [0.05, noise]);
    expect(bits(await sampler.read(prev))).toEqual(bits(hprev));
    expect(bits(await sampler.read(kept))).toEqual(bits(clamp(hx0, -1, 1)));
    expect(bits(await sampler.read(x0))).toEqual(bits(hx0));
    // the loop keeps only what it is told to keep
    sampler.release([prev as DeviceSample, x0 as DeviceSample]);
    expect(live.size).toBe(2);
    sampler.dispose();
    expect(live.size).toBe(0);
    sampler.dispose();
  });

  it('register allocation stays small on long chains and reuses freed registers', () => {
    let acc: Sample = DeviceSample.leaf({ shape: [4] }, 4);
    const leaves = Array.from({ length: 40 }, () => DeviceSample.leaf({ shape: [4] }, 4));
    for (const l of leaves) acc = add(acc, scale(0.5, l));
    const p = compileSamples([acc as DeviceSample])!;
    expect(p.inputs).toHaveLength(41);
    expect(p.registers).toBeLessThanOrEqual(3);
  });

  it('random DAGs: the in-JS engine (the native contract) equals evaluateOnHost', async () => {
    for (let trial = 0; trial < 25; trial++) {
      const { engine } = fakeEngine();
      const sampler = new DeviceSampler(engine, [5]);
      const pool: Sample[] = [await sampler.upload(randn(5, trial)), randn(5, trial + 100), await sampler.upload(randn(5, trial + 200))];
      let seed = trial + 1;
      const pick = () => pool[(seed = (seed * 7919 + 17) % 104729) % pool.length];
      for (let k = 0; k < 20; k++) {
        const op = OPS[(seed = (seed * 31 + 7) % 9973) % OPS.length];
        const c = ((seed % 17) - 8) / 3 || 0.1;
        const node = op === 'add' ? add(pick(), pick()) : op === 'sub' ? sub(pick(), pick()) : op === 'scale' ? scale(c, pick())
          : op === 'div' ? divScalar(pick(), c) : clamp(pick(), -Math.abs(c), Math.abs(c));
        pool.push(node);
      }
      const roots = pool.slice(-4).filter((s): s is DeviceSample => s instanceof DeviceSample);
      const want = roots.map((r) => evaluateOnHost(r, (t) => (t as FakeTensor).data));
      await sampler.evaluate(roots);
      for (let k = 0; k < roots.length; k++) expect(bits(await sampler.read(roots[k]))).toEqual(bits(want[k]));
    }
  });

  it('an unevaluated sample cannot be read or handed to the engine', () => {
    const { engine } = fakeEngine();
    const sampler = new DeviceSampler(engine, [2]);
    const s = scale(2, DeviceSample.leaf({ shape: [2] }, 2));
    expect(() => sampler.tensorOf(s)).toThrow(expect.objectContaining({ code: 'ERR_PIXART_INTERNAL' }));
  });
});

describe('state programs on the CPU engine (the addon)', () => {
  const engine = Engine.create({ threads: 1 });
  afterAll(() => engine.dispose());

  it('run a recorded step bit for bit like the host ops, leaves read back exactly', async () => {
    const sampler = new DeviceSampler(engine, [3, 37]);
    const n = 3 * 37;
    const xh = randn(n, 11), eh = randn(n, 12), noise = randn(n, 13);
    const x = await sampler.upload(xh), e = await sampler.upload(eh);
    expect(bits(await sampler.read(x))).toEqual(bits(xh));
    const x0 = divScalar(lincomb([1, x], [-0.8134, e]), 0.5817);
    const prev = lincomb([0.1, x], [-Math.PI, clamp(x0, -1.5, 1.5)], [0.25, noise]);
    await sampler.evaluate([prev as DeviceSample, x0 as DeviceSample]);
    const hx0 = divScalar(lincomb([1, xh], [-0.8134, eh]), 0.5817);
    expect(bits(await sampler.read(x0))).toEqual(bits(hx0));
    expect(bits(await sampler.read(prev))).toEqual(bits(lincomb([0.1, xh], [-Math.PI, clamp(hx0, -1.5, 1.5)], [0.25, noise])));
    sampler.dispose();
  });

  it('rejects malformed programs and foreign or disposed tensors with typed errors', async () => {
    const native = engine.native;
    const t = await native.uploadState(new Float32Array([1, 2, 3]), [3]);
    const prog = (code: number[], inputs: (NativeStateTensor | Float32Array)[], outputs = 1) => ({
      shape: [3], code: Int32Array.from(code), scalars: new Float64Array(code.length / 2), inputs, outputs,
    });
    await expect(native.runStateProgram(prog([1, 0, 5, 0], [t]))).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: expect.stringMatching(/before it is written/) });
    expect(() => native.runStateProgram(prog([0, 0, 0, 0, 1, 0, 0, 0], [new Float32Array(2)]))).toThrow(
      expect.objectContaining({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: 'inputs[0] has 2 elements, expected 3' }),
    );
    await expect(native.runStateProgram(prog([0, 0, 0, 0, 1, 1, 0, 0], [t]))).rejects.toMatchObject({ message: expect.stringMatching(/stores output 1 of 1/) });
    expect(() => native.runStateProgram(prog([0, 0, 0], [t]))).toThrow(/4 integers/);
    const other = Engine.create({ threads: 1 });
    try {
      const foreign = await other.native.uploadState(new Float32Array(3), [3]);
      expect(() => native.runStateProgram(prog([0, 0, 0, 0, 1, 0, 0, 0], [foreign]))).toThrow(/another engine/);
    } finally {
      other.dispose();
    }
    const out = await native.runStateProgram(prog([0, 0, 0, 0, 2, 1, 0, 0, 1, 0, 1, 0], [t]));
    expect(Array.from(await out[0].read())).toEqual([0, 0, 0]);  // scale by the scalar 0
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(t.shape).toEqual([3]);
    expect(() => t.read()).toThrow(/disposed/);
    expect(() => native.runStateProgram(prog([0, 0, 0, 0, 1, 0, 0, 0], [t]))).toThrow(/disposed/);
  });
});
