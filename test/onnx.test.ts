// ONNX export (lib/export + native/export): the exported tiny models run in onnxruntime-node
// (CPU) and match the engine's CPU backend on the same inputs, in float32 and with the text
// encoder's int8/int4 weights; float16 graphs within float16 error; other sizes than the
// exporter traced (the axes are dynamic); typed errors and the CLI command.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EXIT, main } from '../lib/cli/main.js';
import { Engine } from '../lib/engine/Engine.js';
import { exportOnnx, type OnnxExportManifest } from '../lib/export/exportOnnx.js';
import { readSafetensorsFile } from '../lib/io/safetensorsFile.js';
import { AutoencoderKL } from '../lib/models/AutoencoderKL.js';
import { PixArtTransformer2DModel } from '../lib/models/PixArtTransformer2DModel.js';
import { T5EncoderModel } from '../lib/models/T5EncoderModel.js';
import { TorchGenerator } from '../lib/random/TorchGenerator.js';
import { floatToHalf } from '../lib/tools/randomModel.js';
import { randnTensor } from '../lib/random/randnTensor.js';
import { cosine, expectClose, fixtureCase, refF32, refInts, TINY_MODEL, TINY_MODEL_512 } from './helpers/fixtures.js';

const engine = Engine.create({ device: 'cpu', threads: 2 });
const dir = mkdtempSync(join(tmpdir(), 'pixart-onnx-'));
afterAll(() => {
  engine.dispose();
  rmSync(dir, { recursive: true, force: true });
});

// The fixtures' float32 bar, |a-b| <= 1e-4 + 1e-4*max|ref|.
const TOL = { atol: 1e-4, rtol: 1e-4, relToMax: true };

const sessions = new Map<string, ort.InferenceSession>();
// `exact`: basic graph optimisations only. onnxruntime's extended level fuses DequantizeLinear
// + MatMul into MatMulNBits, which by default also quantises the activations to int8 (its
// accuracy_level 4): a faster but different function (0.13 max abs on the tiny T5), so the
// quantised graphs are checked as written.
async function session(path: string, exact = false) {
  let s = sessions.get(path);
  if (!s) {
    s = await ort.InferenceSession.create(path, {
      executionProviders: ['cpu'], logSeverityLevel: 3, graphOptimizationLevel: exact ? 'basic' : 'all',
    });
    sessions.set(path, s);
  }
  return s;
}

// float32 <-> IEEE half, for the float16 graphs' inputs and outputs (floatToHalf rounds to nearest even).
function toHalf(v: Float32Array): Uint16Array {
  return Uint16Array.from(v, floatToHalf);
}
function fromHalf(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const s = h[i] & 0x8000 ? -1 : 1, e = (h[i] >> 10) & 0x1f, m = h[i] & 0x3ff;
    out[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

// The ONNX reference implementation (python's onnx.reference, after onnx.checker's full check):
// a second runtime, and the only one here that executes bfloat16. .ci/run installs onnx into
// .cache/pyonnx; elsewhere put it on PYTHONPATH.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
type RefInput = { name: string; dtype: string; shape: number[]; data: Float32Array | BigInt64Array };
function onnxReference(model: string, inputs?: RefInput[]): Float32Array {
  const work = mkdtempSync(join(dir, 'ref-'));
  const spec: Record<string, unknown> = { model };
  if (inputs) {
    spec.inputs = inputs.map((i, k) => {
      const file = join(work, `in${k}.bin`);
      writeFileSync(file, Buffer.from(i.data.buffer, i.data.byteOffset, i.data.byteLength));
      return { name: i.name, dtype: i.dtype, shape: i.shape, file };
    });
    spec.output = join(work, 'out.bin');
  }
  writeFileSync(join(work, 'spec.json'), JSON.stringify(spec));
  const PYTHONPATH = [join(ROOT, '.cache', 'pyonnx'), process.env.PYTHONPATH].filter(Boolean).join(':');
  const r = spawnSync('python3', [join(ROOT, 'test', 'helpers', 'onnx_reference.py'), join(work, 'spec.json')], {
    env: { ...process.env, PYTHONPATH }, encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`onnx reference failed (needs python3 with onnx: pip install --target .cache/pyonnx onnx): ${r.stderr || r.error}`);
  if (!inputs) return new Float32Array(0);
  const b = readFileSync(spec.output as string);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function randn(shape: number[], seed: number): Float32Array {
  return randnTensor(shape, new TorchGenerator().manualSeed(seed));
}

let manifest: OnnxExportManifest;
beforeAll(async () => {
  manifest = await exportOnnx(TINY_MODEL, join(dir, 'f32'), { dtype: 'float32' });
}, 120_000);

describe('exportOnnx', () => {
  it('writes the three models and a manifest with their hashes and dynamic axes', () => {
    expect(Object.keys(manifest.models).sort()).toEqual(['text_encoder', 'transformer', 'vae_decoder']);
    const onDisk = JSON.parse(readFileSync(join(dir, 'f32', 'export.json'), 'utf8'));
    expect(onDisk).toEqual(manifest);
    for (const m of Object.values(manifest.models)) {
      const bytes = readFileSync(join(dir, 'f32', m.file));
      expect(m.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(m.bytes).toBe(bytes.length);
      expect(m.opset).toBe(21);
      expect(m.dataFile).toBeUndefined();
    }
    const dit = manifest.models.transformer!;
    expect(dit.inputs.map((i) => `${i.name}:${i.dtype}[${i.shape.join(',')}]`)).toEqual([
      'hidden_states:float32[batch,4,height,width]',
      'timestep:float32[batch]',
      'encoder_hidden_states:float32[batch,sequence,64]',
      'encoder_attention_mask:float32[batch,sequence]',
      'resolution:float32[batch,2]',
      'aspect_ratio:float32[batch]',
    ]);
    expect(dit.outputs[0].shape).toEqual(['batch', 8, 'height', 'width']);
    expect(manifest.models.vae_decoder!.outputs[0].shape).toEqual(['batch', 3, '8*height', '8*width']);
    expect(manifest.models.text_encoder!.inputs.map((i) => i.shape)).toEqual([['batch', 'sequence'], ['batch', 'sequence']]);
    expect(readdirSync(join(dir, 'f32')).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('an AbortSignal stops the export with its reason and leaves no file', async () => {
    const out = join(dir, 'aborted');
    const ac = new AbortController();
    const reason = new Error('stop');
    const p = exportOnnx(TINY_MODEL, out, { components: ['transformer'], dtype: 'float32', signal: ac.signal });
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(readdirSync(out)).toEqual([]);
    // already aborted: nothing starts
    await expect(exportOnnx(TINY_MODEL, out, { signal: ac.signal })).rejects.toBe(reason);
    expect(readdirSync(out)).toEqual([]);
  });

  it('rejects bad options with typed errors and writes nothing', async () => {
    const out = join(dir, 'bad');
    await expect(exportOnnx(TINY_MODEL, out, { components: ['unet' as never] })).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
    await expect(exportOnnx(TINY_MODEL, out, { dtype: 'int8' as never })).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
    await expect(exportOnnx(TINY_MODEL, out, { textEncoderDtype: 'float16' as never })).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
    // an op the dtype cannot express is named
    await expect(exportOnnx(TINY_MODEL, out, { components: ['vae_decoder'], dtype: 'bfloat16' }))
      .rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: expect.stringContaining('op Conv has no bfloat16') });
    await expect(exportOnnx(TINY_MODEL, out, { textEncoderQuantization: 'int3' as never })).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
    await expect(exportOnnx(join(dir, 'no-such-model'), out)).rejects.toMatchObject({ code: 'ERR_PIXART_MODEL_LOAD' });
    expect(existsSync(join(out, 'export.json'))).toBe(false);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });
});

describe('text_encoder.onnx in onnxruntime-node', () => {
  const c = fixtureCase('text_encoder/batch');
  const [b, l] = c.inputs.input_ids.shape;
  const ids = refInts(c.inputs.input_ids), mask = refInts(c.inputs.attention_mask);
  const feeds = () => ({
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [b, l]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask, BigInt), [b, l]),
  });

  it('float32: matches the CPU backend and transformers', async () => {
    const s = await session(join(dir, 'f32', 'text_encoder.onnx'));
    const got = (await s.run(feeds())).last_hidden_state;
    expect(got.dims).toEqual([b, l, 64]);
    const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine });
    const ours = await t5.encode(Int32Array.from(ids), Int32Array.from(mask), b, l);
    t5.dispose();
    expectClose(got.data as Float32Array, ours.data, { ...TOL, label: 'onnx vs cpu' });
    expectClose(got.data as Float32Array, refF32(c.outputs.last_hidden_state), { ...TOL, label: 'onnx vs transformers' });
  });

  for (const quantization of ['int8', 'int4', 'int4-mixed'] as const) {
    it(`${quantization} weights (DequantizeLinear, external data): match the CPU backend's ${quantization}`, async () => {
      const out = join(dir, quantization);
      const m = await exportOnnx(TINY_MODEL, out, { components: ['text_encoder'], textEncoderQuantization: quantization, externalData: 'always' });
      const e = m.models.text_encoder!;
      expect(e.quantization).toBe(quantization);
      expect(e.dataFile).toBe('text_encoder.onnx.data');
      expect(e.dataSha256).toBe(createHash('sha256').update(readFileSync(join(out, e.dataFile!))).digest('hex'));
      const s = await session(join(out, 'text_encoder.onnx'), true);
      const got = (await s.run(feeds())).last_hidden_state.data as Float32Array;
      const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine, quantization });
      const ours = await t5.encode(Int32Array.from(ids), Int32Array.from(mask), b, l);
      t5.dispose();
      expectClose(got, ours.data, { ...TOL, label: `onnx ${quantization} vs cpu ${quantization}` });
      const graph = readFileSync(join(out, 'text_encoder.onnx')).toString('latin1');
      if (quantization !== 'int4-mixed') {
        expect(graph).toContain(`.weight.${quantization}`);
        expect(graph).not.toContain(`.weight.${quantization === 'int8' ? 'int4' : 'int8'}`);
      } else {
        // int4-mixed keeps some linears in int8 (the engine's t5_linear_quant): in the 2-block tiny
        // model, block 0's all but q/k and block 1's v/o; the graph says so in its weight names.
        const expected: [string, 'int8' | 'int4'][] = [
          ['0.layer.0.SelfAttention.q', 'int4'], ['0.layer.0.SelfAttention.v', 'int8'], ['0.layer.1.DenseReluDense.wi_0', 'int8'],
          ['0.layer.1.DenseReluDense.wo', 'int8'], ['1.layer.0.SelfAttention.k', 'int4'], ['1.layer.0.SelfAttention.o', 'int8'],
          ['1.layer.1.DenseReluDense.wi_1', 'int4'], ['1.layer.1.DenseReluDense.wo', 'int4'],
        ];
        for (const [name, q] of expected) {
          expect(graph).toContain(`encoder.block.${name}.weight.${q}`);
          expect(graph).not.toContain(`encoder.block.${name}.weight.${q === 'int8' ? 'int4' : 'int8'}`);
        }
      }
      // and really quantised: not the float32 result
      expect(() => expectClose(got, refF32(c.outputs.last_hidden_state), { ...TOL, label: 'vs float32' })).toThrow();
    });
  }

  it('other batch and sequence sizes than the exporter traced', async () => {
    const s = await session(join(dir, 'f32', 'text_encoder.onnx'));
    const B = 2, L = 37;
    const ids2 = Array.from({ length: B * L }, (_, i) => (i * 7919) % 32128);
    const mask2 = Array.from({ length: B * L }, (_, i) => (i % L < (i < L ? 30 : 37) ? 1 : 0));
    const got = (await s.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids2, BigInt), [B, L]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask2, BigInt), [B, L]),
    })).last_hidden_state.data as Float32Array;
    const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine });
    const ours = await t5.encode(Int32Array.from(ids2), Int32Array.from(mask2), B, L);
    t5.dispose();
    expectClose(got, ours.data, { ...TOL, label: 'B=2 L=37' });
  });
});

describe('transformer.onnx in onnxruntime-node', () => {
  let dit: PixArtTransformer2DModel;
  beforeAll(async () => {
    dit = await PixArtTransformer2DModel.fromPretrained(`${TINY_MODEL}/transformer`, { engine });
  });
  afterAll(() => dit.dispose());

  async function compare(B: number, H: number, W: number, L: number, seed: number, dtype: 'float32' | 'float16') {
    const latents = randn([B, 4, H, W], seed), text = randn([B, L, 64], seed + 1);
    const timesteps = Float32Array.from({ length: B }, (_, i) => 999 - 137 * i);
    const mask = Float32Array.from({ length: B * L }, (_, i) => (i % L < L - 2 * (i / L | 0) ? 1 : 0));
    const resolution = Float32Array.from({ length: 2 * B }, (_, i) => (i % 2 ? W : H) * 8);
    const aspectRatio = Float32Array.from({ length: B }, () => H / W);
    const ours = await dit.forward({ latents, latentShape: [B, 4, H, W], timesteps, text, textShape: [B, L, 64], textMask: mask, resolution, aspectRatio });
    const file = dtype === 'float32' ? join(dir, 'f32', 'transformer.onnx') : join(dir, 'f16', 'transformer.onnx');
    const s = await session(file);
    const act = (v: Float32Array, dims: number[]) => dtype === 'float32' ? new ort.Tensor('float32', v, dims) : new ort.Tensor('float16', toHalf(v), dims);
    const r = await s.run({
      hidden_states: act(latents, [B, 4, H, W]),
      timestep: new ort.Tensor('float32', timesteps, [B]),
      encoder_hidden_states: act(text, [B, L, 64]),
      encoder_attention_mask: new ort.Tensor('float32', mask, [B, L]),
      resolution: new ort.Tensor('float32', resolution, [B, 2]),
      aspect_ratio: new ort.Tensor('float32', aspectRatio, [B]),
    });
    expect(r.sample.dims).toEqual([B, 8, H, W]);
    const got = dtype === 'float32' ? (r.sample.data as Float32Array) : fromHalf(r.sample.data as Uint16Array);
    return { got, ours: ours.data };
  }

  it.each([
    ['the fixture case nonsquare_8x12', 'transformer/nonsquare_8x12'],
    ['the CFG batch', 'transformer/cfg_batch_neg_pos'],
  ])('float32: matches the CPU backend and diffusers on %s', async (_, id) => {
    const c = fixtureCase(id);
    const [B, , H, W] = c.inputs.hidden_states.shape;
    const L = c.inputs.encoder_hidden_states.shape[1];
    const s = await session(join(dir, 'f32', 'transformer.onnx'));
    const r = await s.run({
      hidden_states: new ort.Tensor('float32', refF32(c.inputs.hidden_states), [B, 4, H, W]),
      timestep: new ort.Tensor('float32', Float32Array.from(refInts(c.inputs.timestep)), [B]),
      encoder_hidden_states: new ort.Tensor('float32', refF32(c.inputs.encoder_hidden_states), [B, L, 64]),
      encoder_attention_mask: new ort.Tensor('float32', Float32Array.from(refInts(c.inputs.encoder_attention_mask)), [B, L]),
      resolution: new ort.Tensor('float32', refF32(c.inputs['added_cond_kwargs.resolution']), [B, 2]),
      aspect_ratio: new ort.Tensor('float32', refF32(c.inputs['added_cond_kwargs.aspect_ratio']), [B]),
    });
    expectClose(r.sample.data as Float32Array, refF32(c.outputs.sample), { ...TOL, label: `${id} onnx vs diffusers` });
    const ours = await dit.forward({
      latents: refF32(c.inputs.hidden_states), latentShape: [B, 4, H, W], timesteps: Float32Array.from(refInts(c.inputs.timestep)),
      text: refF32(c.inputs.encoder_hidden_states), textShape: [B, L, 64], textMask: Float32Array.from(refInts(c.inputs.encoder_attention_mask)),
      resolution: refF32(c.inputs['added_cond_kwargs.resolution']), aspectRatio: refF32(c.inputs['added_cond_kwargs.aspect_ratio']),
    });
    expectClose(r.sample.data as Float32Array, ours.data, { ...TOL, label: `${id} onnx vs cpu` });
  });

  it('a model without additional conditions (512 config) has no resolution inputs and matches diffusers', async () => {
    const m = await exportOnnx(TINY_MODEL_512, join(dir, 'f32-512'), { components: ['transformer'], dtype: 'float32' });
    expect(m.models.transformer!.inputs.map((i) => i.name)).toEqual(['hidden_states', 'timestep', 'encoder_hidden_states', 'encoder_attention_mask']);
    const c = fixtureCase('transformer512/nonsquare_8x12');
    const [B, , H, W] = c.inputs.hidden_states.shape;
    const L = c.inputs.encoder_hidden_states.shape[1];
    const s = await session(join(dir, 'f32-512', 'transformer.onnx'));
    const r = await s.run({
      hidden_states: new ort.Tensor('float32', refF32(c.inputs.hidden_states), [B, 4, H, W]),
      timestep: new ort.Tensor('float32', Float32Array.from(refInts(c.inputs.timestep)), [B]),
      encoder_hidden_states: new ort.Tensor('float32', refF32(c.inputs.encoder_hidden_states), [B, L, 64]),
      encoder_attention_mask: new ort.Tensor('float32', Float32Array.from(refInts(c.inputs.encoder_attention_mask)), [B, L]),
    });
    expectClose(r.sample.data as Float32Array, refF32(c.outputs.sample), { ...TOL, label: 'transformer512 onnx vs diffusers' });
  });

  it.each(['geglu', 'swiglu'])('a gated feed-forward (activation_fn %s) exports and matches diffusers', async (act) => {
    // make_dit_activations.py's model as the transformer of a folder (the projection's two halves
    // become two initializers)
    const folder = join(dir, `act-${act}`);
    mkdirSync(folder, { recursive: true });
    symlinkSync(join(TINY_MODEL, '..', 'dit-activations', act), join(folder, 'transformer'));
    copyFileSync(join(TINY_MODEL, 'model_index.json'), join(folder, 'model_index.json'));
    await exportOnnx(folder, join(folder, 'onnx'), { components: ['transformer'], dtype: 'float32' });
    const ref = readSafetensorsFile(join(TINY_MODEL, '..', 'generated', 'dit_activations.safetensors'));
    const num = (k: string) => Float32Array.from(ref.get(k)!.data as ArrayLike<number | bigint>, (v) => Number(v));
    const s = await session(join(folder, 'onnx', 'transformer.onnx'));
    const r = await s.run({
      hidden_states: new ort.Tensor('float32', ref.get('latents')!.data as Float32Array, [2, 4, 8, 8]),
      timestep: new ort.Tensor('float32', num('timestep'), [2]),
      encoder_hidden_states: new ort.Tensor('float32', ref.get('text')!.data as Float32Array, [2, 6, 24]),
      encoder_attention_mask: new ort.Tensor('float32', num('mask'), [2, 6]),
    });
    expectClose(r.sample.data as Float32Array, ref.get(act)!.data as Float32Array, { ...TOL, label: `${act} onnx vs diffusers` });
  });

  it('float32: other batch, grid and sequence sizes than the exporter traced', async () => {
    const { got, ours } = await compare(3, 16, 6, 11, 5, 'float32');
    expectClose(got, ours, { ...TOL, label: 'B=3 16x6 L=11' });
  });

  it('float16: close to the CPU backend (float16 rounding)', async () => {
    await exportOnnx(TINY_MODEL, join(dir, 'f16'), { components: ['transformer', 'vae_decoder'], dtype: 'float16' });
    const { got, ours } = await compare(2, 8, 12, 9, 9, 'float16');
    expectClose(got, ours, { atol: 5e-3, rtol: 5e-3, relToMax: true, label: 'float16 transformer' });
  });
});

describe('ReLU models (T5 relu feed-forward, VAE act_fn relu) export as Relu and match transformers / diffusers', () => {
  it('text_encoder and vae_decoder, float32', async () => {
    // A model folder of the ReLU fixtures (test/fixtures/generated/make_relu.py)
    const R = join(TINY_MODEL, '..', 'relu'), folder = join(dir, 'relu-model'), out = join(dir, 'relu-onnx');
    mkdirSync(folder);
    symlinkSync(join(R, 't5-relu'), join(folder, 'text_encoder'));
    symlinkSync(join(R, 'vae-relu'), join(folder, 'vae'));
    copyFileSync(join(TINY_MODEL, 'model_index.json'), join(folder, 'model_index.json'));
    await exportOnnx(folder, out, { components: ['text_encoder', 'vae_decoder'], dtype: 'float32' });
    const ref = readSafetensorsFile(join(TINY_MODEL, '..', 'generated', 'relu.safetensors'));
    const i64 = (k: string) => new ort.Tensor('int64', ref.get(k)!.data as BigInt64Array, [2, 9]);
    const t5 = await session(join(out, 'text_encoder.onnx'));
    const h = (await t5.run({ input_ids: i64('ids'), attention_mask: i64('mask') })).last_hidden_state;
    expectClose(h.data as Float32Array, ref.get('t5-relu')!.data as Float32Array, { ...TOL, label: 't5 relu onnx vs transformers' });
    const vae = await session(join(out, 'vae_decoder.onnx'));
    const z = ref.get('latents')!;
    const x = (await vae.run({ latent_sample: new ort.Tensor('float32', z.data as Float32Array, z.shape) })).sample;
    expectClose(x.data as Float32Array, ref.get('vae-relu')!.data as Float32Array, { ...TOL, label: 'vae relu onnx vs diffusers' });
    for (const f of ['text_encoder.onnx', 'vae_decoder.onnx']) expect(readFileSync(join(out, f)).includes('Relu')).toBe(true);
  });
});

describe('vae_decoder.onnx in onnxruntime-node', () => {
  it.each(['vae/decode_8x12', 'vae/decode_8x8'])('float32: matches the CPU backend and diffusers on %s', async (id) => {
    const c = fixtureCase(id);
    const shape = c.inputs.decoder_input.shape as [number, number, number, number];
    const z = refF32(c.inputs.decoder_input);
    const s = await session(join(dir, 'f32', 'vae_decoder.onnx'));
    const got = (await s.run({ latent_sample: new ort.Tensor('float32', z, shape) })).sample;
    expect(got.dims).toEqual([shape[0], 3, shape[2] * 8, shape[3] * 8]);
    expectClose(got.data as Float32Array, refF32(c.outputs.sample), { ...TOL, label: `${id} onnx vs diffusers` });
    const vae = await AutoencoderKL.fromPretrained(`${TINY_MODEL}/vae`, { engine });
    const ours = await vae.decode({ data: z, shape });
    vae.dispose();
    expectClose(got.data as Float32Array, ours.data, { ...TOL, label: `${id} onnx vs cpu` });
  });

  it('float16: batch 2 at 5x7 latents, close to the CPU backend', async () => {
    const shape: [number, number, number, number] = [2, 4, 5, 7];
    const z = randn(shape, 21);
    const vae = await AutoencoderKL.fromPretrained(`${TINY_MODEL}/vae`, { engine });
    const ours = await vae.decode({ data: z, shape });
    vae.dispose();
    const s = await session(join(dir, 'f16', 'vae_decoder.onnx'));
    const got = (await s.run({ latent_sample: new ort.Tensor('float16', toHalf(z), shape) })).sample;
    expect(got.dims).toEqual([2, 3, 40, 56]);
    expectClose(fromHalf(got.data as Uint16Array), ours.data, { atol: 5e-3, rtol: 5e-3, relToMax: true, label: 'float16 vae' });
  });
});

describe('the ONNX reference implementation (python onnx)', () => {
  const c = fixtureCase('text_encoder/batch');
  const [b, l] = c.inputs.input_ids.shape;
  const ids = refInts(c.inputs.input_ids), mask = refInts(c.inputs.attention_mask);
  const t5Inputs: RefInput[] = [
    { name: 'input_ids', dtype: 'int64', shape: [b, l], data: BigInt64Array.from(ids, BigInt) },
    { name: 'attention_mask', dtype: 'int64', shape: [b, l], data: BigInt64Array.from(mask, BigInt) },
  ];

  it('float32: the reference implementation computes what the CPU backend does (T5 and VAE)', async () => {
    const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine });
    const ours = await t5.encode(Int32Array.from(ids), Int32Array.from(mask), b, l);
    t5.dispose();
    expectClose(onnxReference(join(dir, 'f32', 'text_encoder.onnx'), t5Inputs), ours.data, { ...TOL, label: 'reference t5 vs cpu' });
    const vc = fixtureCase('vae/decode_8x12');
    const shape = vc.inputs.decoder_input.shape;
    const got = onnxReference(join(dir, 'f32', 'vae_decoder.onnx'), [{ name: 'latent_sample', dtype: 'float32', shape, data: refF32(vc.inputs.decoder_input) }]);
    expectClose(got, refF32(vc.outputs.sample), { ...TOL, label: 'reference vae vs diffusers' });
  });

  for (const quantization of ['none', 'int8'] as const) {
    it(`bfloat16 text encoder (${quantization} weights): close to the CPU backend within bfloat16 rounding`, async () => {
      const out = join(dir, `bf16-${quantization}`);
      const m = await exportOnnx(TINY_MODEL, out, { components: ['text_encoder'], textEncoderDtype: 'bfloat16', textEncoderQuantization: quantization });
      const e = m.models.text_encoder!;
      expect(e.dtype).toBe('bfloat16');
      expect(e.outputs[0]).toEqual({ name: 'last_hidden_state', dtype: 'bfloat16', shape: ['batch', 'sequence', 64] });
      const got = onnxReference(join(out, 'text_encoder.onnx'), t5Inputs);
      const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine, quantization });
      const ours = await t5.encode(Int32Array.from(ids), Int32Array.from(mask), b, l);
      t5.dispose();
      // transformers' own bfloat16 T5 against float32 on these inputs: max abs 0.113 (of 4.14),
      // cosine 0.99988; the exported graph shows the same size of rounding error.
      expect(cosine(got, ours.data)).toBeGreaterThan(0.9995);
      expectClose(got, ours.data, { atol: 4e-2, rtol: 4e-2, relToMax: true, label: `bf16 ${quantization} vs cpu` });
    });
  }

  it('bfloat16 transformer: close to the CPU backend', async () => {
    const out = join(dir, 'bf16-dit');
    await exportOnnx(TINY_MODEL, out, { components: ['transformer'], dtype: 'bfloat16' });
    const B = 2, H = 8, W = 6, L = 5;
    const latents = randn([B, 4, H, W], 31), text = randn([B, L, 64], 32);
    const timesteps = Float32Array.from([500, 20]), mask = Float32Array.from([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    const resolution = Float32Array.from([64, 48, 64, 48]), aspectRatio = Float32Array.from([H / W, H / W]);
    const dit = await PixArtTransformer2DModel.fromPretrained(`${TINY_MODEL}/transformer`, { engine });
    const ours = await dit.forward({ latents, latentShape: [B, 4, H, W], timesteps, text, textShape: [B, L, 64], textMask: mask, resolution, aspectRatio });
    dit.dispose();
    const got = onnxReference(join(out, 'transformer.onnx'), [
      { name: 'hidden_states', dtype: 'bfloat16', shape: [B, 4, H, W], data: latents },
      { name: 'timestep', dtype: 'float32', shape: [B], data: timesteps },
      { name: 'encoder_hidden_states', dtype: 'bfloat16', shape: [B, L, 64], data: text },
      { name: 'encoder_attention_mask', dtype: 'float32', shape: [B, L], data: mask },
      { name: 'resolution', dtype: 'float32', shape: [B, 2], data: resolution },
      { name: 'aspect_ratio', dtype: 'float32', shape: [B], data: aspectRatio },
    ]);
    expect(cosine(got, ours.data)).toBeGreaterThan(0.9995);
    expectClose(got, ours.data, { atol: 3e-2, rtol: 3e-2, relToMax: true, label: 'bf16 transformer vs cpu' });
  });

  it('every exported file passes onnx.checker\'s full check (types and shapes)', () => {
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.onnx'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) onnxReference(join(dir, f));
  });
});

describe('pixart export-onnx', () => {
  async function cli(...args: string[]) {
    const out: string[] = [], err: string[] = [];
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    try {
      return { code: await main(['node', 'pixart', ...args]), out: out.join(''), err: err.join('') };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

  it('exports the chosen components and exits 0', async () => {
    const out = join(dir, 'cli');
    const r = await cli('export-onnx', '--model', TINY_MODEL, '--out', out, '--components', 'vae_decoder,text_encoder', '--t5-quant', 'int8');
    expect(r.code).toBe(EXIT.ok);
    expect(r.out).toContain(`${out}/vae_decoder.onnx (vae_decoder, float16,`);
    expect(r.out).toContain(`${out}/text_encoder.onnx (text_encoder, float32, int8 weights,`);
    const m = JSON.parse(readFileSync(join(out, 'export.json'), 'utf8')) as OnnxExportManifest;
    expect(Object.keys(m.models).sort()).toEqual(['text_encoder', 'vae_decoder']);
  });

  it('exits with the usage code on an unknown component', async () => {
    const r = await cli('export-onnx', '--model', TINY_MODEL, '--out', join(dir, 'cli2'), '--components', 'unet');
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toContain('unknown component "unet"');
  });
});
