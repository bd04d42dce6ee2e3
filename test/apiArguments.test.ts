// Every public function called from plain JavaScript with arguments of the wrong type (null
// options, symbols, bigints, numbers for paths, absurd sizes): the outcome is a result or a
// PixArtError with a code, never a TypeError/RangeError from inside the library.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as px from '../lib/index.js';
import type { NativeAutoencoderKL, NativePixArtDiT, NativeT5Encoder } from '../lib/native/AddonTypes.js';
import { TINY_MODEL } from './helpers/fixtures.js';

const BAD: unknown[] = [undefined, null, 42, -1, NaN, 1e12, 'x', '', {}, [], [1, 2], { data: new Float32Array(3), shape: [3] }, () => 1, Symbol('s'), 10n];
const NOT_OBJECTS: unknown[] = [null, 42, 'x', [], Symbol('s'), 10n, () => 1];
// Not a string that could be a Hub repo id (that would be a download attempt).
const NOT_PATHS: unknown[] = [undefined, null, 42, NaN, '', {}, [], Symbol('s'), 10n, () => 1];

let engine: px.Engine;
let pipe: px.PixArtAlphaPipeline;
let img: px.PixArtImage;
const dir = mkdtempSync(join(tmpdir(), 'pixart-args-'));
beforeAll(async () => {
  engine = px.Engine.create({ threads: 2 });
  pipe = await px.PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine });
  img = (await pipe.generate({ prompt: 'a', width: 64, height: 64, useResolutionBinning: false, numInferenceSteps: 1 })).images![0];
});
afterAll(() => {
  pipe?.dispose();
  engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** 'ok', a PixArtError code, or 'UNTYPED ...' for anything else thrown. */
async function outcome(f: () => unknown): Promise<string> {
  try {
    const r = await f();
    if (r instanceof px.Engine) r.dispose();
    if (r instanceof px.PixArtAlphaPipeline || r instanceof px.AutoencoderKL) r.dispose();
    return 'ok';
  } catch (e) {
    if (e instanceof px.PixArtError) return e.code;
    return `UNTYPED ${(e as Error)?.constructor?.name}: ${String((e as Error)?.message)}`;
  }
}

type Call = [string, (b: never) => unknown, unknown[]?];
const calls = (): Call[] => [
  ['cleanCaption', (b) => px.cleanCaption(b)],
  ['preprocessText', (b) => px.preprocessText(b, true)],
  ['new TorchGenerator', (b) => new px.TorchGenerator(b)],
  ['TorchGenerator.manualSeed', (b) => new px.TorchGenerator().manualSeed(b)],
  ['randnTensor shape', (b) => px.randnTensor(b, new px.TorchGenerator())],
  ['randnTensor generator', (b) => px.randnTensor([2, 2], b)],
  ['classifyHeightWidthBin', (b) => px.classifyHeightWidthBin(b, 64, px.ASPECT_RATIO_1024_BIN)],
  ['binTableForSampleSize', (b) => px.binTableForSampleSize(b)],
  ['resizeAndCropTensor data', (b) => px.resizeAndCropTensor(b, [1, 3, 4, 4], 2, 2)],
  ['resizeAndCropTensor shape', (b) => px.resizeAndCropTensor(new Float32Array(48), b, 2, 2)],
  ['resizeAndCropTensor width', (b) => px.resizeAndCropTensor(new Float32Array(48), [1, 3, 4, 4], b, 2)],
  ['createScheduler name', (b) => px.createScheduler(b, {})],
  ['createScheduler config', (b) => px.createScheduler('ddim', b)],
  ['resolveSchedulerName', (b) => px.resolveSchedulerName(b)],
  ['new DDIMScheduler', (b) => new px.DDIMScheduler(b)],
  ['DDIMScheduler.setTimesteps', (b) => new px.DDIMScheduler().setTimesteps(b)],
  ['DDIMScheduler.step sample', (b) => { const s = new px.DDIMScheduler(); s.setTimesteps(2); return s.step(b, 999, new Float32Array(4)); }],
  ['DDIMScheduler.step timestep', (b) => { const s = new px.DDIMScheduler(); s.setTimesteps(2); return s.step(new Float32Array(4), b, new Float32Array(4)); }],
  ['DPMSolverMultistepScheduler.scaleModelInput', (b) => { const s = new px.DPMSolverMultistepScheduler(); s.setTimesteps(2); return s.scaleModelInput(b, 999); }],
  ['Engine.create', (b) => px.Engine.create(b)],
  ['Engine.create threads', (b) => px.Engine.create({ threads: b })],
  ['Engine.shared', (b) => px.Engine.shared(b), NOT_OBJECTS],
  ['PixArtImage.encode format', (b) => img.encode(b)],
  ['PixArtImage.encode options', (b) => img.encode('png', b)],
  ['PixArtImage.save', (b) => img.save(b)],
  ['pipe.encodePrompt', (b) => pipe.encodePrompt(b)],
  ['pipe.encodePrompt options', (b) => pipe.encodePrompt('a', b)],
  ['pipe.generate', (b) => pipe.generate(b)],
  ['pipe.decodeLatents', (b) => pipe.decodeLatents(b)],
  ['pipe.decodeLatents options', (b) => pipe.decodeLatents({ data: new Float32Array(256), shape: [1, 4, 8, 8] }, b)],
  ['pipe.decodeLatentsRaw', (b) => pipe.decodeLatentsRaw(b)],
  ['pipe.setScheduler', (b) => pipe.setScheduler(b)],
  ['T5Tokenizer.encode', (b) => pipe.tokenizer!.encode(b)],
  ['T5Tokenizer.encode options', (b) => pipe.tokenizer!.encode(['a'], b)],
  ['T5Tokenizer.tokenize', (b) => pipe.tokenizer!.tokenize(b)],
  ['T5Tokenizer.fromPretrained', (b) => px.T5Tokenizer.fromPretrained(b)],
  ['T5EncoderModel.encode', (b) => pipe.textEncoder!.encode(b, new Int32Array(2), 1, 2)],
  ['T5EncoderModel.encode batch', (b) => pipe.textEncoder!.encode(new Int32Array(2), new Int32Array(2), b, 2)],
  ['AutoencoderKL.decode', (b) => pipe.vae!.decode(b)],
  ['AutoencoderKL.decodeToRgb', (b) => pipe.vae!.decodeToRgb(b)],
  ['AutoencoderKL.encode', (b) => pipe.vae!.encode(b)],
  ['PixArtTransformer2DModel.forward', (b) => pipe.transformer!.forward(b)],
  ['PixArtAlphaPipeline.fromPretrained', (b) => px.PixArtAlphaPipeline.fromPretrained(b, { engine }), NOT_PATHS],
  ['PixArtAlphaPipeline.fromPretrained options', (b) => px.PixArtAlphaPipeline.fromPretrained(TINY_MODEL, b), NOT_OBJECTS],
  ['AutoencoderKL.fromPretrained', (b) => px.AutoencoderKL.fromPretrained(b, { engine })],
  ['AutoencoderKL.fromPretrained options', (b) => px.AutoencoderKL.fromPretrained(`${TINY_MODEL}/vae`, b), NOT_OBJECTS],
  ['exportOnnx model folder', (b) => px.exportOnnx(b, join(dir, 'a'))],
  ['exportOnnx options', (b) => px.exportOnnx(TINY_MODEL, join(dir, 'b'), b), NOT_OBJECTS],
];

describe('public functions called with arguments of the wrong type', () => {
  for (const [name, f, values] of calls()) {
    it(`${name}: a result or a PixArtError, never an untyped error`, async () => {
      const untyped: string[] = [];
      for (const b of values ?? BAD) {
        const o = await outcome(() => f(b as never));
        if (o.startsWith('UNTYPED')) untyped.push(`${typeof b === 'symbol' ? b.toString() : typeof b === 'bigint' ? `${b}n` : JSON.stringify(b) ?? typeof b} -> ${o}`);
      }
      expect(untyped).toEqual([]);
    });
  }

  it('null or non-object options are ERR_PIXART_INVALID_ARGUMENT naming the argument', async () => {
    await expect(pipe.generate(null as never)).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: 'generate() options must be an options object, got null' });
    await expect(pipe.generate(undefined as never)).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: 'pass prompt or promptEmbeds' });
    await expect(pipe.encodePrompt('a', 42 as never)).rejects.toMatchObject({ message: /encodePrompt options must be an options object, got 42/ });
    expect(() => px.Engine.create([] as never)).toThrow(/Engine.create options must be an options object, got an array of 0/);
    await expect(img.save(7 as never)).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: /PixArtImage.save path must be a non-empty string, got 7/ });
    await expect(px.exportOnnx(TINY_MODEL, join(dir, 'c'), null as never)).rejects.toMatchObject({ message: /exportOnnx options must be an options object/ });
  });

  it('symbols and bigints are described in messages instead of breaking them', () => {
    expect(() => px.createScheduler(10n as never, {})).toThrow(/unknown scheduler 10n/);
    expect(() => px.Engine.create({ threads: Symbol('t') as never })).toThrow(/threads must be an integer between 0 and 1024, got Symbol\(t\)/);
    expect(() => px.binTableForSampleSize(Symbol('z') as never)).toThrow(/Invalid sample size: Symbol\(z\)/);
  });

  it('the engine calls under the API (engine.native, the components\' handles) check what they are given', async () => {
    const native = engine.native;
    // the components' native handles (protected: reached here through a cast)
    const handle = <N>(c: unknown) => (c as { live(what: string): N }).live('test');
    const dit = handle<NativePixArtDiT>(pipe.transformer);
    const vae = handle<NativeAutoencoderKL>(pipe.vae);
    const t5 = handle<NativeT5Encoder>(pipe.textEncoder);
    const st = await native.uploadState(new Float32Array(4), [4]);
    const values = [...BAD, new Float32Array(3), new Int32Array(2), [1e12, 1e12, 1e12, 1e12], [-1, 4, 8, 8]];
    const nativeCalls: [string, (b: never) => unknown][] = [
      ['uploadState data', (b) => native.uploadState(b, [4])],
      ['uploadState shape', (b) => native.uploadState(new Float32Array(4), b)],
      ['runStateProgram', (b) => native.runStateProgram(b)],
      ['runStateProgram code', (b) => native.runStateProgram({ code: b, scalars: new Float64Array(0), inputs: [st], shape: [4], numOutputs: 1 } as never)],
      ['gatherState parts', (b) => native.gatherState(b, new Int32Array([0, 0]))],
      ['gatherState rows', (b) => native.gatherState([st], b)],
      ['loadVAE', (b) => native.loadVAE(b)],
      ['dit.forward', (b) => dit.forward(b)],
      ['dit.forward latentShape', (b) => dit.forward({ latents: new Float32Array(256), latentShape: b, timesteps: new Float32Array([1]) } as never)],
      ['dit.prepareConditioning', (b) => dit.prepareConditioning(b)],
      ['vae.decode z', (b) => vae.decode(b, [1, 4, 8, 8])],
      ['vae.decode shape', (b) => vae.decode(new Float32Array(256), b)],
      ['vae.decode options', (b) => vae.decode(new Float32Array(256), [1, 4, 8, 8], b)],
      ['vae.encode shape', (b) => vae.encode(new Float32Array(3 * 64 * 64), b)],
      ['t5.encode ids', (b) => t5.encode(b, new Int32Array(2), [1, 2])],
      ['t5.encode batch and length', (b) => t5.encode(new Int32Array(2), new Int32Array(2), b)],
    ];
    const untyped: string[] = [];
    for (const [name, f] of nativeCalls) {
      for (const b of values) {
        let o: string;
        try {
          await f(b as never);
          o = 'ok';
        } catch (e) {
          o = (e as { code?: string }).code ?? `UNTYPED ${(e as Error)?.constructor?.name}: ${String((e as Error)?.message)}`;
        }
        if (o.startsWith('UNTYPED')) untyped.push(`${name} -> ${o}`);
      }
    }
    st.dispose();
    expect(untyped).toEqual([]);
    // and the engine still works
    expect((await native.uploadState(new Float32Array([1, 2]), [2]).then(async (s) => { const v = await s.read(); s.dispose(); return v; }))).toEqual(new Float32Array([1, 2]));
  });

  it('a resize larger than an array can hold is a typed error, not a RangeError', () => {
    expect(() => px.resizeAndCropTensor(new Float32Array(48), [1, 3, 4, 4], 1e12, 2)).toThrow(/more than an array can hold/);
  });
});
