// Random generate() calls on the tiny fixture pipeline, valid and invalid arguments mixed: each
// call must resolve, or reject with a PixArtError (ERR_PIXART_*), the AbortSignal's reason, or
// the error the test's own onStep threw; and afterwards every engine tensor the call made must be
// disposed (nothing left behind by a failed or cancelled run). Anything else is printed as a
// DEFECT and the exit code is 1.
//
//   npx tsx bench/fuzz/generate_fuzz.ts [--cases 1500] [--seed 7]
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../../lib/engine/Engine.js';
import { PixArtAlphaPipeline } from '../../lib/pipeline/PixArtAlphaPipeline.js';
import { TorchGenerator } from '../../lib/random/TorchGenerator.js';

const { values: args } = parseArgs({ options: { cases: { type: 'string', default: '1500' }, seed: { type: 'string', default: '7' } } });
const TINY = resolve(import.meta.dirname, '../../test/fixtures/pixart-tiny');
let rng = Number(args.seed) >>> 0 || 7;
const rand = (n: number) => {
  rng ^= rng << 13; rng >>>= 0; rng ^= rng >>> 17; rng ^= rng << 5; rng >>>= 0;
  return rng % n;
};
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)];

class CallbackError extends Error {}
const tensor = (shape: number[], fill: (i: number) => number = (i) => Math.sin(i)) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => fill(i)), shape };
};

const engine = Engine.create({ device: 'cpu', threads: 2 });
const pipe = await PixArtAlphaPipeline.fromPretrained(TINY, { engine });
// Every state tensor handed out, wrapped as test/engineLoop.test.ts does (an own property
// shadows the native prototype method).
const made: { disposed: boolean }[] = [];
function track(obj: object, key: string): void {
  const orig = (obj as Record<string, (...a: unknown[]) => Promise<unknown>>)[key].bind(obj);
  Object.defineProperty(obj, key, {
    value: async (...a: unknown[]) => {
      const r = await orig(...a);
      for (const t of Array.isArray(r) ? r : [r]) made.push(t as { disposed: boolean });
      return r;
    },
    configurable: true, writable: true,
  });
}
for (const k of ['uploadState', 'runStateProgram', 'gatherState']) track(engine.native, k);
track(pipe.transformer!, 'forwardToState');
track(pipe.textEncoder!, 'encodeToState');
const D = 64; // the tiny T5's width = the transformer's caption_channels
const tally: Record<string, number> = {};
const defects: string[] = [];

for (let n = 1; n <= Number(args.cases); n++) {
  const ac = new AbortController();
  // Each argument: left out, a valid value, or (one time in forty) an invalid one.
  const arg = <T>(omit: number, valid: readonly T[], bad: readonly unknown[]): unknown => {
    if (rand(1000) < omit * 1000) return undefined;
    return bad.length && rand(40) === 0 ? pick(bad) : pick(valid);
  };
  const useEmbeds = rand(4) === 0;
  const L = pick([1, 5, 120]);
  const B = pick([1, 2]);
  const opts: Record<string, unknown> = {
    prompt: useEmbeds ? undefined : arg(0, ['a cat', ['a cat', 'two dogs'], '', 'x'.repeat(3000), '🐱 <b>cat</b> https://x.y @me #tag'], [[], 123, [null]]),
    negativePrompt: arg(0.6, ['', 'blurry', ['a', 'b']], [['a', 'b', 'c'], 5]),
    promptEmbeds: useEmbeds ? arg(0, [tensor([B, L, D])], [tensor([B, L, D + 1]), tensor([B, L, D], (i) => (i === 3 ? Number.NaN : 0.1))]) : undefined,
    promptAttentionMask: useEmbeds ? arg(0.05, [tensor([B, L], () => 1), tensor([B, L], (i) => (i % L < 2 ? 1 : 0))], [tensor([B + 1, L], () => 1), tensor([B, L + 1], () => 1)]) : undefined,
    negativePromptEmbeds: useEmbeds ? arg(0.5, [tensor([B, L, D], () => 0.2)], [tensor([B, L + 1, D])]) : undefined,
    numInferenceSteps: arg(0.1, [1, 2, 3, 5], [0, -1, 2.5, 1e9, Number.NaN, '2']),
    guidanceScale: arg(0.3, [1, 4.5, 0, 0.5, 20], [Number.NaN, Number.POSITIVE_INFINITY, '4']),
    numImagesPerPrompt: arg(0.6, [1, 2], [0, 1e9, 1.5]),
    height: arg(0.2, [64, 48, 80, 32, 16], [0, -16, 17, 100, 1e6, 2 ** 31, Number.NaN, 64.5, '64']),
    width: arg(0.2, [64, 48, 80, 32, 16], [0, -16, 17, 100, 1e6, 2 ** 31, Number.NaN, 64.5, '64']),
    useResolutionBinning: rand(25) === 0,
    eta: arg(0.8, [0, 0.5, 1], [-1, Number.NaN]),
    seed: arg(0.4, [1, 0, 2 ** 53 - 1, 123n, 2n ** 64n - 1n], [-1, 2 ** 64, 1.5, -5n, 2n ** 64n, 'x']),
    generator: rand(10) === 0 ? arg(0, [new TorchGenerator().manualSeed(3)], [[], 'g', [new TorchGenerator().manualSeed(1), new TorchGenerator().manualSeed(2), new TorchGenerator().manualSeed(3)]]) : undefined,
    latents: rand(8) === 0 ? arg(0, [tensor([1, 4, 8, 8])], [tensor([1, 4, 6, 10]), tensor([3, 4, 8, 8]), tensor([1, 4, 8, 8], () => Number.POSITIVE_INFINITY), { data: [1], shape: [1] }]) : undefined,
    outputType: arg(0.2, ['image', 'float', 'latent'], ['pil', 'np']),
    cleanCaption: arg(0.7, [true, false], ['yes']),
    maxSequenceLength: arg(0.7, [120, 1, 7, 300], [0, 1e9, 2.5]),
    timesteps: rand(12) === 0 ? arg(0, [[999, 500], [999, 500, 10]], [[], [1e9], [Number.NaN], [500, 999]]) : undefined,
    sigmas: rand(12) === 0 ? arg(0, [[14.6, 1.0], [14.6, 3, 0.5]], [[], [-1], [Number.NaN, 1]]) : undefined,
    scheduler: arg(0.6, ['ddim', 'euler_a', 'euler', 'heun', 'kdpm2', 'deis', 'DPMSolverSinglestepScheduler', 'sa-solver', 'unipc', 'lcm', 'dpm'], ['nope', 42, {}, { clone: 1 }]),
    callbackSteps: arg(0.8, [1, 2, 3], [0, -1, 1.5]),
    signal: rand(10) === 0 ? (() => {
      if (rand(2) === 0) ac.abort(new Error('fuzz-abort-before'));
      return ac.signal;
    })() : undefined,
  };
  const onStepKind = rand(6);
  if (onStepKind === 1) opts.onStep = () => { throw new CallbackError('fuzz-callback'); };
  if (onStepKind === 2) opts.onStep = async () => { await new Promise((r) => setTimeout(r, 1)); };
  if (onStepKind === 3) { opts.signal = ac.signal; opts.onStep = () => ac.abort(new Error('fuzz-abort-in-step')); }
  if (onStepKind === 4) opts.onStep = 'not a function';
  for (const k of Object.keys(opts)) if (opts[k] === undefined) delete opts[k];
  if (!('prompt' in opts) && !('promptEmbeds' in opts) && rand(2) === 0) opts.prompt = 'a cat';

  let outcome: string;
  try {
    const r = await pipe.generate(opts as never);
    outcome = r.images || r.tensor ? 'ok' : 'ok (empty)';
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (typeof err?.code === 'string' && err.code.startsWith('ERR_PIXART_')) outcome = err.code;
    else if (e instanceof CallbackError) outcome = 'callback error';
    else if (err?.message?.startsWith('fuzz-abort')) outcome = 'aborted (reason)';
    else {
      outcome = 'UNTYPED';
      defects.push(`case ${n} ${describe(opts)}: ${(e as Error)?.constructor?.name}: ${err?.message ?? String(e)}`);
    }
  }
  const live = made.filter((t) => !t.disposed).length;
  made.length = 0;
  if (live) {
    defects.push(`case ${n} ${describe(opts)}: ${live} engine tensor(s) left undisposed (${outcome})`);
    outcome += ' +LEAK';
  }
  tally[outcome] = (tally[outcome] ?? 0) + 1;
  if (n % 100 === 0) process.stderr.write(`${n} cases ${JSON.stringify(tally)}\n`);
}
pipe.dispose();
engine.dispose();
console.log(JSON.stringify({ cases: Number(args.cases), tally }, null, 1));
for (const d of defects) console.log('DEFECT', d);
process.exitCode = defects.length ? 1 : 0;

function describe(o: Record<string, unknown>): string {
  return JSON.stringify(o, (_k, v) => {
    if (v instanceof Float32Array) return `Float32Array(${v.length})`;
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'function') return 'fn';
    if (v instanceof AbortSignal) return `signal(${v.aborted ? 'aborted' : 'live'})`;
    if (typeof v === 'string' && v.length > 40) return `${v.slice(0, 20)}...(${v.length})`;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
}
