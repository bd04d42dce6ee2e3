// The three models through the whole stack (TS component -> N-API -> engine thread -> CPU
// backend) against the diffusers/transformers reference outputs.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { readSafetensorsFile } from '../lib/io/safetensorsFile.js';
import { AutoencoderKL } from '../lib/models/AutoencoderKL.js';
import { PixArtTransformer2DModel } from '../lib/models/PixArtTransformer2DModel.js';
import { T5EncoderModel } from '../lib/models/T5EncoderModel.js';
import { Engine } from '../lib/engine/Engine.js';
import { cosine, expectClose, fixtureCase, refF32, refInts, TINY_MODEL, TINY_MODEL_512 } from './helpers/fixtures.js';

const engine = Engine.create({ device: 'cpu', threads: 2 });
afterAll(() => engine.dispose());

// |a-b| <= 1e-4 + 1e-4*max|ref|: the fixtures README's fp32 tolerance
const TOL = { atol: 1e-4, rtol: 1e-4, relToMax: true };

describe('T5EncoderModel', () => {
  it('matches transformers on text_encoder/batch (3 prompts, one truncated)', async () => {
    const c = fixtureCase('text_encoder/batch');
    const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine });
    const [b, l] = c.inputs.input_ids.shape;
    const out = await t5.encode(Int32Array.from(refInts(c.inputs.input_ids)), Int32Array.from(refInts(c.inputs.attention_mask)), b, l);
    expect(out.shape).toEqual(c.outputs.last_hidden_state.shape);
    expectClose(out.data, refF32(c.outputs.last_hidden_state), { ...TOL, label: 'last_hidden_state' });
    t5.dispose();
    expect(t5.disposed).toBe(true);
    t5.dispose(); // idempotent
    await expect(t5.encode(new Int32Array(l), new Int32Array(l), 1, l)).rejects.toMatchObject({ code: 'ERR_PIXART_DISPOSED' });
  });
});

describe('T5EncoderModel weight-only quantisation', () => {
  // The tiny model is a harsh case for int4 (d_model 64: one group per row); the engine's own
  // test measured int8 0.99966, int4 0.9494 and int4-mixed 0.9677 against float32 (int4-mixed
  // keeps block 0's linears but q/k and block 1's v/o in int8: t5_linear_quant).
  for (const [quantization, minCosine] of [['int8', 0.999], ['int4', 0.93], ['int4-mixed', 0.96]] as const) {
    it(`${quantization}: close to float32, and really rounded`, async () => {
      const c = fixtureCase('text_encoder/batch');
      const t5 = await T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine, quantization });
      expect(t5.quantization).toBe(quantization);
      const [b, l] = c.inputs.input_ids.shape;
      const out = await t5.encode(Int32Array.from(refInts(c.inputs.input_ids)), Int32Array.from(refInts(c.inputs.attention_mask)), b, l);
      const ref = refF32(c.outputs.last_hidden_state);
      const cos = cosine(out.data, ref);
      expect(cos).toBeGreaterThanOrEqual(minCosine);
      expect(cos).toBeLessThan(0.999999);
      t5.dispose();
    });
  }
  it('rejects an unknown quantisation with a typed error before loading', async () => {
    await expect(T5EncoderModel.fromPretrained(`${TINY_MODEL}/text_encoder`, { engine, quantization: 'int3' as never }))
      .rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
  });
});

describe('PixArtTransformer2DModel', () => {
  const cases: [string, string][] = [
    ['transformer/square_batch2', `${TINY_MODEL}/transformer`],
    ['transformer/nonsquare_8x12', `${TINY_MODEL}/transformer`],
    ['transformer/native_grid_128x128', `${TINY_MODEL}/transformer`],
    ['transformer/cfg_batch_neg_pos', `${TINY_MODEL}/transformer`],
    ['transformer512/square_batch2', `${TINY_MODEL_512}/transformer`],
    ['transformer512/nonsquare_8x12', `${TINY_MODEL_512}/transformer`],
  ];
  for (const [id, folder] of cases) {
    it(`matches diffusers on ${id}`, async () => {
      const c = fixtureCase(id);
      const dit = await PixArtTransformer2DModel.fromPretrained(folder, { engine });
      const i = c.inputs;
      const shape = i.hidden_states.shape as [number, number, number, number];
      const res = i['added_cond_kwargs.resolution'];
      const out = await dit.forward({
        latents: refF32(i.hidden_states),
        latentShape: shape,
        timesteps: Float32Array.from(refInts(i.timestep)),
        text: refF32(i.encoder_hidden_states),
        textShape: i.encoder_hidden_states.shape,
        textMask: Float32Array.from(refInts(i.encoder_attention_mask)),
        resolution: res ? refF32(res) : undefined,
        aspectRatio: res ? refF32(i['added_cond_kwargs.aspect_ratio']) : undefined,
      });
      expect(out.shape).toEqual(c.outputs.sample.shape);
      expectClose(out.data, refF32(c.outputs.sample), { ...TOL, label: id });
      dit.dispose();
    });
  }

  it('guidance on the engine and prepared conditionings: eps = u + g (c - u) bit for bit', async () => {
    const c = fixtureCase('transformer/cfg_batch_neg_pos');
    const i = c.inputs;
    const [, C, H, W] = i.hidden_states.shape;
    const plane = C * H * W;
    const lat = refF32(i.hidden_states).slice(0, plane);
    const both = new Float32Array(2 * plane);
    both.set(lat, 0);
    both.set(lat, plane);
    const t = refInts(i.timestep)[0];
    const common = {
      timesteps: new Float32Array([t, t]),
      text: refF32(i.encoder_hidden_states),
      textShape: i.encoder_hidden_states.shape as [number, number, number],
      textMask: Float32Array.from(refInts(i.encoder_attention_mask)),
      resolution: refF32(i['added_cond_kwargs.resolution']),
      aspectRatio: refF32(i['added_cond_kwargs.aspect_ratio']),
    };
    const dit = await PixArtTransformer2DModel.fromPretrained(`${TINY_MODEL}/transformer`, { engine });
    const full = await dit.forward({ ...common, latents: both, latentShape: [2, C, H, W] });
    const g = Math.fround(4.5);
    const eps = await dit.forward({ ...common, latents: lat, latentShape: [1, C, H, W], guidance: { scale: g, epsChannels: C } });
    expect(eps.shape).toEqual([1, C, H, W]);
    const outPlane = full.shape[1] * H * W;
    const want = new Float32Array(plane);
    for (let j = 0; j < plane; j++) {
      const u = full.data[j], cc = full.data[outPlane + j];
      want[j] = Math.fround(u + Math.fround(g * Math.fround(cc - u)));
    }
    expect(eps.data).toEqual(want);
    // the same through a conditioning prepared once (text, mask, sizes kept on the engine)
    const cond = await dit.prepareConditioning(common);
    expect(cond.batch).toBe(2);
    const viaCond = await dit.forward({ latents: lat, latentShape: [1, C, H, W], timesteps: common.timesteps, conditioning: cond, guidance: { scale: g, epsChannels: C } });
    expect(viaCond.data).toEqual(want);
    expect((await dit.forward({ latents: both, latentShape: [2, C, H, W], timesteps: common.timesteps, conditioning: cond })).data).toEqual(full.data);
    // a conditioning's batch must fit; a disposed one or one from another transformer is refused
    await expect(dit.forward({ latents: lat, latentShape: [1, C, H, W], timesteps: new Float32Array([t]), conditioning: cond }))
      .rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
    const other = await PixArtTransformer2DModel.fromPretrained(`${TINY_MODEL}/transformer`, { engine });
    await expect(other.forward({ latents: both, latentShape: [2, C, H, W], timesteps: common.timesteps, conditioning: cond }))
      .rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: expect.stringContaining('another transformer') });
    other.dispose();
    cond.dispose();
    expect(cond.disposed).toBe(true);
    cond.dispose(); // idempotent
    await expect(dit.forward({ latents: both, latentShape: [2, C, H, W], timesteps: common.timesteps, conditioning: cond }))
      .rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: expect.stringContaining('disposed') });
    await expect(dit.prepareConditioning({ ...common, textMask: new Float32Array(3) })).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
    // with guidance the text must be the 2B model batch
    await expect(dit.forward({ ...common, latents: both, latentShape: [2, C, H, W], guidance: { scale: g, epsChannels: C } }))
      .rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
    dit.dispose();
  });

  it('rejects a latent size that is not a multiple of the patch size with a typed error', async () => {
    const dit = await PixArtTransformer2DModel.fromPretrained(`${TINY_MODEL_512}/transformer`, { engine });
    await expect(dit.forward({
      latents: new Float32Array(4 * 7 * 8), latentShape: [1, 4, 7, 8], timesteps: new Float32Array([1]),
      text: new Float32Array(120 * 64), textShape: [1, 120, 64],
    })).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
    dit.dispose();
  });
});

describe('AutoencoderKL tiled decoding', () => {
  // diffusers' enable_tiling() on the tiny VAE: 3x4 overlapping tiles of 8 latents, blended
  // (reference from test/fixtures/generated/make_vae_tiled.py).
  const ref = readSafetensorsFile(join(TINY_MODEL, '..', 'generated', 'vae_tiled.safetensors'));
  it('matches diffusers, and differs from the untiled decode as diffusers\' does', async () => {
    const vae = await AutoencoderKL.fromPretrained(`${TINY_MODEL}/vae`, { engine });
    const z = ref.get('z')!;
    expect(vae.useTiling).toBe(false);
    const plain = await vae.decode({ data: z.data as Float32Array, shape: z.shape });
    expectClose(plain.data, ref.get('plain')!.data as Float32Array, { ...TOL, label: 'untiled' });
    vae.enableTiling();
    const tiled = await vae.decode({ data: z.data as Float32Array, shape: z.shape });
    expect(tiled.shape).toEqual(ref.get('sample')!.shape);
    expectClose(tiled.data, ref.get('sample')!.data as Float32Array, { ...TOL, label: 'tiled' });
    // One tile or less: the plain decode, as diffusers does.
    const small = { data: (z.data as Float32Array).slice(0, 4 * 8 * 8), shape: [1, 4, 8, 8] };
    const one = await vae.decode(small);
    vae.disableTiling();
    expect((await vae.decode(small)).data).toEqual(one.data);
    vae.dispose();
  });
});

describe('ReLU activations (T5 v1.0 feed-forwards, VAE act_fn "relu")', () => {
  // Reference: test/fixtures/generated/make_relu.py (transformers / diffusers, float32)
  const RELU = join(TINY_MODEL, '..', 'relu');
  const ref = readSafetensorsFile(join(TINY_MODEL, '..', 'generated', 'relu.safetensors'));
  const ints = (k: string) => Int32Array.from(ref.get(k)!.data as ArrayLike<number | bigint>, (v) => Number(v));
  it.each(['relu', 'gated-relu'])('T5 feed_forward_proj %s matches transformers', async (proj) => {
    const t5 = await T5EncoderModel.fromPretrained(join(RELU, `t5-${proj}`), { engine });
    try {
      const want = ref.get(`t5-${proj}`)!;
      const out = await t5.encode(ints('ids'), ints('mask'), 2, 9);
      expect(out.shape).toEqual(want.shape);
      expectClose(out.data, want.data as Float32Array, { ...TOL, label: proj });
    } finally {
      t5.dispose();
    }
  });
  it('VAE act_fn relu decode matches diffusers', async () => {
    const vae = await AutoencoderKL.fromPretrained(join(RELU, 'vae-relu'), { engine });
    try {
      const z = ref.get('latents')!, want = ref.get('vae-relu')!;
      const out = await vae.decode({ data: z.data as Float32Array, shape: z.shape });
      expect(out.shape).toEqual(want.shape);
      expectClose(out.data, want.data as Float32Array, { ...TOL, label: 'vae relu' });
    } finally {
      vae.dispose();
    }
  });
});

describe('AutoencoderKL', () => {
  it.each(['vae/decode_8x8', 'vae/decode_8x12'])('decode matches diffusers on %s', async (id) => {
    const c = fixtureCase(id);
    const vae = await AutoencoderKL.fromPretrained(`${TINY_MODEL}/vae`, { engine });
    const out = await vae.decode({ data: refF32(c.inputs.decoder_input), shape: c.inputs.decoder_input.shape });
    expect(out.shape).toEqual(c.outputs.sample.shape);
    expectClose(out.data, refF32(c.outputs.sample), { ...TOL, label: id });
    vae.dispose();
  });

  it.each(['vae/encode_64x64', 'vae/encode_64x96'])('encode matches diffusers on %s', async (id) => {
    const c = fixtureCase(id);
    const vae = await AutoencoderKL.fromPretrained(`${TINY_MODEL}/vae`, { engine });
    const dist = await vae.encode({ data: refF32(c.inputs.image), shape: c.inputs.image.shape });
    for (const k of ['mean', 'logvar', 'std'] as const) {
      expect(dist[k].shape).toEqual(c.outputs[k].shape);
      expectClose(dist[k].data, refF32(c.outputs[k]), { ...TOL, label: `${id} ${k}` });
    }
    vae.dispose();
  });
});

describe('components loaded without an engine use the shared engine for all their engine options', () => {
  it('device, threads, dtype and allowTf32 reach Engine.shared; T5 defaults to bfloat16 (float16 overflows)', async () => {
    const seen: unknown[] = [];
    const shared = Engine.shared.bind(Engine);
    const spy = vi.spyOn(Engine, 'shared').mockImplementation((o) => (seen.push(o), shared(o)));
    try {
      const vae = await AutoencoderKL.fromPretrained(join(TINY_MODEL, 'vae'), { device: 'cpu', threads: 1, dtype: 'float32', allowTf32: false });
      const dit = await PixArtTransformer2DModel.fromPretrained(join(TINY_MODEL, 'transformer'), { device: 'cpu', threads: 1, dtype: 'bfloat16' });
      const t5 = await T5EncoderModel.fromPretrained(join(TINY_MODEL, 'text_encoder'), { device: 'cpu', threads: 1 });
      const t5f = await T5EncoderModel.fromPretrained(join(TINY_MODEL, 'text_encoder'), { device: 'cpu', threads: 1, dtype: 'float32' });
      for (const c of [vae, dit, t5, t5f]) c.dispose();
    } finally {
      spy.mockRestore();
    }
    expect(seen).toEqual([
      { device: 'cpu', threads: 1, dtype: 'float32', allowTf32: false },
      { device: 'cpu', threads: 1, dtype: 'bfloat16', allowTf32: undefined },
      { device: 'cpu', threads: 1, dtype: 'bfloat16', allowTf32: undefined },
      { device: 'cpu', threads: 1, dtype: 'float32', allowTf32: undefined },
    ]);
  });
});

describe('DiT feed-forward activations besides gelu-approximate (diffusers FeedForward)', () => {
  // Reference: test/fixtures/generated/make_dit_activations.py (diffusers, float32)
  const ref = readSafetensorsFile(join(TINY_MODEL, '..', 'generated', 'dit_activations.safetensors'));
  const f32 = (k: string) => ref.get(k)!.data as Float32Array;
  it.each(['geglu', 'swiglu', 'linear-silu'])('activation_fn %s matches diffusers', async (act) => {
    const dit = await PixArtTransformer2DModel.fromPretrained(join(TINY_MODEL, '..', 'dit-activations', act), { engine });
    try {
      const want = ref.get(act)!;
      const out = await dit.forward({
        latents: f32('latents'), latentShape: [2, 4, 8, 8],
        timesteps: Float32Array.from(ref.get('timestep')!.data as ArrayLike<number | bigint>, (v) => Number(v)),
        text: f32('text'), textShape: [2, 6, 24],
        textMask: Float32Array.from(ref.get('mask')!.data as ArrayLike<number | bigint>, (v) => Number(v)),
      });
      expect(out.shape).toEqual(want.shape);
      expectClose(out.data, want.data as Float32Array, { ...TOL, label: act });
    } finally {
      dit.dispose();
    }
  });
  it('geglu-approximate (diffusers ApproximateGELU) is refused by name at load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pixart-act-'));
    try {
      cpSync(join(TINY_MODEL, '..', 'dit-activations', 'geglu'), dir, { recursive: true });
      const cfgPath = join(dir, 'config.json');
      writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), activation_fn: 'geglu-approximate' }));
      await expect(PixArtTransformer2DModel.fromPretrained(dir, { engine }))
        .rejects.toMatchObject({ code: 'ERR_PIXART_UNSUPPORTED', message: /activation_fn "geglu-approximate" is not supported/ });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
