// End-to-end parity with diffusers' PixArtAlphaPipeline (fixture case 7), encode_prompt
// (case 3), the low-memory workflow, and argument checking.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Engine } from '../lib/engine/Engine.js';
import { readSafetensorsFile } from '../lib/io/safetensorsFile.js';
import { PixArtTransformer2DModel } from '../lib/models/PixArtTransformer2DModel.js';
import { toImages } from '../lib/pipeline/images.js';
import { PixArtAlphaPipeline } from '../lib/pipeline/PixArtAlphaPipeline.js';
import { DPMSolverMultistepScheduler } from '../lib/schedulers/index.js';
import type { GenerateOptions, HostTensor } from '../lib/pipeline/types.js';
import { expectClose, fixtureCase, refF32, refInts, TINY_MODEL } from './helpers/fixtures.js';

let engine: Engine;
let pipe: PixArtAlphaPipeline;
beforeAll(async () => {
  engine = Engine.create({ threads: 2 });
  pipe = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine });
});
afterAll(() => {
  pipe?.dispose();
  engine?.dispose();
});

function optionsFor(id: string): { opts: GenerateOptions; c: any } {
  const c = fixtureCase(id);
  const i = c.inputs;
  const opts: GenerateOptions = {
    prompt: i.prompt,
    negativePrompt: i.negative_prompt,
    numInferenceSteps: i.num_inference_steps,
    guidanceScale: i.guidance_scale,
    height: i.height,
    width: i.width,
    useResolutionBinning: i.use_resolution_binning,
    outputType: i.output_type === 'np' ? 'float' : 'latent',
    numImagesPerPrompt: i.num_images_per_prompt,
    cleanCaption: i.clean_caption,
    maxSequenceLength: i.max_sequence_length,
    eta: i.eta,
  };
  if (i.latents) opts.latents = { data: refF32(i.latents), shape: i.latents.shape };
  if (i.generator_seed !== undefined) opts.seed = i.generator_seed;
  return { opts, c };
}

async function run(id: string, tol: number) {
  const { opts, c } = optionsFor(id);
  const steps: HostTensor[] = [];
  const result = await pipe.generate({ ...opts, onStep: (s) => void steps.push(s.latents) });
  // latents grow to O(1000) with a random denoiser: compare them relative to max|ref|
  const perStep = refF32(c.outputs.latents_after_each_step);
  expect(steps.length).toBe(c.outputs.latents_after_each_step.shape[0]);
  const n = steps[0].data.length;
  steps.forEach((s, k) => expectClose(s.data, perStep.subarray(k * n, (k + 1) * n), { atol: tol, rtol: tol, relToMax: true, label: `${id} step ${k}` }));
  const images = result.tensor!;
  expect(images.shape).toEqual(c.outputs.images.shape);
  if (opts.outputType === 'latent') {
    expectClose(images.data, refF32(c.outputs.images), { atol: tol, rtol: tol, relToMax: true, label: `${id} latents` });
  } else {
    expectClose(images.data, refF32(c.outputs.images), { atol: tol, rtol: tol, label: `${id} images` });
  }
  return result;
}

describe('generate() matches diffusers (pipeline fixtures)', () => {
  it('5 steps, CFG 4.5, latent output', () => run('pipeline/n5_g4.5_latent', 1e-4));
  it('5 steps, CFG 4.5, float output', () => run('pipeline/n5_g4.5_np', 1e-4));
  it('20 steps, CFG 4.5, float output', () => run('pipeline/n20_g4.5_np', 1e-4));
  it('4 steps, no CFG (guidance 1.0)', () => run('pipeline/n4_g1.0_np', 1e-4));
  it('seed 42 gives the latents torch.Generator().manual_seed(42) gives', () => run('pipeline/n5_g4.5_np_generator42', 1e-4));
  it('resolution binning: 64x96 -> 832x1216 and back', async () => {
    const r = await run('pipeline/binning_64x96_n2_g4.5_np', 5e-4);
    expect([r.generatedHeight, r.generatedWidth]).toEqual(fixtureCase('pipeline/binning_64x96_n2_g4.5_np').inputs.binned_height_width);
  });

  it('image output is the float output rounded to 8-bit RGB', async () => {
    const { opts, c } = optionsFor('pipeline/n5_g4.5_np');
    const rgb = vi.spyOn(pipe.vae!, 'decodeToRgb'), floats = vi.spyOn(pipe.vae!, 'decode');
    const r = await pipe.generate({ ...opts, outputType: 'image' });
    // the bytes came from the engine (no resize after decoding: no binning here)
    expect([rgb.mock.calls.length, floats.mock.calls.length]).toEqual([1, 0]);
    rgb.mockRestore();
    floats.mockRestore();
    const ref = refF32(c.outputs.images);
    const img = r.images![0];
    expect([img.width, img.height]).toEqual([64, 64]);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(img.data[i] - Math.round(ref[i] * 255)));
    expect(worst).toBeLessThanOrEqual(1);
    // and byte for byte what the host path makes of the float output
    const host = toImages((await pipe.generate({ ...opts, outputType: 'float' })).tensor!);
    expect(Buffer.from(img.data).equals(Buffer.from(host[0].data))).toBe(true);
    const png = await img.toPNG();
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  });

  it('image output of a batch (2 prompts x 2 images) equals the host path byte for byte', async () => {
    const { opts } = optionsFor('pipeline/n4_g1.0_np');
    const batch = { ...opts, prompt: [String(opts.prompt), 'a second prompt'], numImagesPerPrompt: 2, seed: 3, latents: undefined };
    const images = (await pipe.generate({ ...batch, outputType: 'image' })).images!;
    const host = toImages((await pipe.generate({ ...batch, outputType: 'float' })).tensor!);
    expect(images.length).toBe(4);
    images.forEach((im, i) => expect(Buffer.from(im.data).equals(Buffer.from(host[i].data))).toBe(true));
    // decodeLatents gives the same images
    const latents = (await pipe.generate({ ...batch, outputType: 'latent' })).tensor!;
    const decoded = (await pipe.decodeLatents(latents)).images!;
    decoded.forEach((im, i) => expect(Buffer.from(im.data).equals(Buffer.from(host[i].data))).toBe(true));
  });

  it('with resolution binning, the RGB path only when the request is its own bin (else the float image is resized first)', async () => {
    // The VAE is stubbed (a 1024-pixel decode of the tiny VAE takes ~20 s here): only which path ran is checked.
    const vae = pipe.vae!;
    const rgb = vi.spyOn(vae, 'decodeToRgb').mockImplementation(async (z) => ({
      data: new Uint8Array(z.shape[0] * z.shape[2] * 8 * z.shape[3] * 8 * 3), shape: [z.shape[0], z.shape[2] * 8, z.shape[3] * 8, 3], nonFinite: false,
    }));
    const floats = vi.spyOn(vae, 'decode').mockImplementation(async (z) => ({
      data: new Float32Array(z.shape[0] * 3 * z.shape[2] * 8 * z.shape[3] * 8), shape: [z.shape[0], 3, z.shape[2] * 8, z.shape[3] * 8],
    }));
    try {
      const base = { prompt: 'x', numInferenceSteps: 1, seed: 1, useResolutionBinning: true, outputType: 'image' as const };
      const own = await pipe.generate({ ...base, height: 1024, width: 1024 });  // 1024x1024 is a bin
      expect([rgb.mock.calls.length, floats.mock.calls.length]).toEqual([1, 0]);
      expect([own.images![0].width, own.images![0].height, own.generatedWidth]).toEqual([1024, 1024, 1024]);
      const other = await pipe.generate({ ...base, height: 64, width: 96 });  // generated at 832x1216 (h x w), resized back
      expect([rgb.mock.calls.length, floats.mock.calls.length]).toEqual([1, 1]);
      expect([other.images![0].width, other.images![0].height, other.generatedWidth]).toEqual([96, 64, 1216]);
    } finally {
      rgb.mockRestore();
      floats.mockRestore();
    }
  });
});

describe('a transformer without a caption projection (caption_channels null)', () => {
  // Reference: test/fixtures/generated/make_no_caption_projection.py (diffusers takes the T5
  // output directly as the cross-attention input; the tiny T5's width 64 is the inner width).
  it.each([['cfg', 4.5], ['nocfg', 1.0]] as const)('matches diffusers (%s)', async (key, guidanceScale) => {
    const ref = readSafetensorsFile(join(TINY_MODEL, '..', 'generated', 'no_caption_projection.safetensors')).get(key)!;
    const transformer = await PixArtTransformer2DModel.fromPretrained(join(TINY_MODEL, '..', 'pixart-tiny-nocap', 'transformer'), { engine });
    const nocap = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine, transformer });
    try {
      expect(transformer.config.captionChannels).toBe(64);  // cross_attention_dim stands in
      const out = await nocap.generate({
        prompt: 'a red fox in the snow', negativePrompt: '', numInferenceSteps: 4, guidanceScale, height: 64, width: 64,
        seed: 3, cleanCaption: false, useResolutionBinning: false, outputType: 'latent',
      });
      expect(out.tensor!.shape).toEqual(ref.shape);
      expectClose(out.tensor!.data, ref.data as Float32Array, { atol: 1e-4, rtol: 1e-4, relToMax: true, label: key });
    } finally {
      nocap.dispose();
    }
  });
});

describe('encodePrompt() matches diffusers', () => {
  it.each(['encode_prompt/two_prompts', 'encode_prompt/num_images_per_prompt_2'])('%s', async (id) => {
    const c = fixtureCase(id);
    const i = c.inputs;
    const e = await pipe.encodePrompt(i.prompt, {
      negativePrompt: i.negative_prompt,
      doClassifierFreeGuidance: i.do_classifier_free_guidance,
      numImagesPerPrompt: i.num_images_per_prompt,
      maxSequenceLength: i.max_sequence_length,
      cleanCaption: i.clean_caption,
    });
    const tol = { atol: 1e-4, rtol: 1e-4, relToMax: true };
    expectClose(e.promptEmbeds.data, refF32(c.outputs.prompt_embeds), { ...tol, label: 'prompt_embeds' });
    expectClose(e.negativePromptEmbeds!.data, refF32(c.outputs.negative_prompt_embeds), { ...tol, label: 'negative_prompt_embeds' });
    expect(Array.from(e.promptAttentionMask.data)).toEqual(refInts(c.outputs.prompt_attention_mask));
    expect(Array.from(e.negativePromptAttentionMask!.data)).toEqual(refInts(c.outputs.negative_prompt_attention_mask));
    expect(e.promptEmbeds.shape).toEqual(c.outputs.prompt_embeds.shape);
  });
});

describe('the low-memory workflow: encode, free T5, denoise, decode', () => {
  it('gives the same image as the one-shot pipeline', async () => {
    const { opts, c } = optionsFor('pipeline/n5_g4.5_np');
    const textOnly = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine, transformer: null, vae: null });
    expect(textOnly.transformer).toBeNull();
    const emb = await textOnly.encodePrompt(opts.prompt, { negativePrompt: '', maxSequenceLength: 120 });
    textOnly.dispose();
    expect(textOnly.textEncoder).toBeNull();

    const denoiser = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine, tokenizer: null, textEncoder: null, vae: null });
    const { prompt: _p, negativePrompt: _n, ...rest } = opts;
    const latents = await denoiser.generate({ ...rest, ...emb, negativePromptEmbeds: emb.negativePromptEmbeds!, negativePromptAttentionMask: emb.negativePromptAttentionMask!, outputType: 'latent' });
    denoiser.dispose();

    const decoder = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine, tokenizer: null, textEncoder: null, transformer: null });
    const out = await decoder.decodeLatents(latents.tensor!, { outputType: 'float' });
    decoder.dispose();
    expectClose(out.tensor!.data, refF32(c.outputs.images), { atol: 1e-4, rtol: 1e-4, label: 'low-memory images' });
  });

  it('a pipeline without a text encoder says so when given a prompt', async () => {
    const p = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine, textEncoder: null, vae: null });
    await expect(p.generate({ prompt: 'x', outputType: 'latent', width: 64, height: 64, useResolutionBinning: false }))
      .rejects.toMatchObject({ code: 'ERR_PIXART_MISSING_COMPONENT' });
    p.dispose();
  });
});

describe('nonFinite says when the output is not an image', () => {
  const base: GenerateOptions = { prompt: 'a cat', width: 64, height: 64, useResolutionBinning: false, numInferenceSteps: 2, seed: 1 };
  it('false for a normal run, in every output type and through decodeLatents', async () => {
    for (const outputType of ['image', 'float', 'latent'] as const) {
      const r = await pipe.generate({ ...base, outputType });
      expect(r.nonFinite).toBe(false);
      if (outputType === 'float') expect(r.tensor!.data.every(Number.isFinite)).toBe(true);
      if (outputType === 'latent') {
        expect((await pipe.decodeLatents(r.tensor!)).nonFinite).toBe(false);
        expect((await pipe.decodeLatents(r.tensor!, { outputType: 'float' })).nonFinite).toBe(false);
      }
    }
  });
  it('true when the denoising diverges (an extreme but legal beta schedule, NaN in diffusers too)', async () => {
    // beta_end 0.5: alphas_cumprod underflows to 0, DPM-Solver++'s log-SNR is -inf, the latents NaN
    const scheduler = new DPMSolverMultistepScheduler({ beta_end: 0.5 });
    const latent = await pipe.generate({ ...base, scheduler, outputType: 'latent' });
    expect(latent.nonFinite).toBe(true);
    expect(latent.tensor!.data.some((v) => !Number.isFinite(v))).toBe(true);
    const float = await pipe.generate({ ...base, scheduler, outputType: 'float' });
    expect(float.nonFinite).toBe(true);
    expect(float.tensor!.data.some((v) => !Number.isFinite(v))).toBe(true);
    const image = await pipe.generate({ ...base, scheduler });
    expect(image.nonFinite).toBe(true);
    expect(image.images).toHaveLength(1);  // returned, as diffusers returns it
  });
  it('decodeLatents of latents the VAE cannot decode to finite values', async () => {
    // finite latents that overflow float32 inside the decoder
    const huge = { data: new Float32Array(4 * 8 * 8).fill(3e38), shape: [1, 4, 8, 8] };
    const rgb = await pipe.decodeLatents(huge);
    const raw = await pipe.decodeLatentsRaw(huge);
    expect(raw.data.some((v) => !Number.isFinite(v))).toBe(true);
    expect(rgb.nonFinite).toBe(true);
    expect((await pipe.decodeLatents(huge, { outputType: 'float' })).nonFinite).toBe(true);
  });
});

describe('bad input is rejected with a typed error before any native work', () => {
  const base: GenerateOptions = { prompt: 'a cat', width: 64, height: 64, useResolutionBinning: false, numInferenceSteps: 2 };
  const bad: [string, GenerateOptions][] = [
    ['size not a multiple of 16', { ...base, width: 72 }],
    ['zero size', { ...base, height: 0 }],
    ['absurd size', { ...base, width: 1e6 }],
    ['steps < 1', { ...base, numInferenceSteps: 0 }],
    ['guidance NaN', { ...base, guidanceScale: NaN }],
    ['prompt and promptEmbeds', { ...base, promptEmbeds: { data: new Float32Array(120 * 64), shape: [1, 120, 64] }, promptAttentionMask: { data: new Float32Array(120), shape: [1, 120] } }],
    ['embeds/mask mismatch', { ...base, prompt: undefined, promptEmbeds: { data: new Float32Array(120 * 64), shape: [1, 120, 64] }, promptAttentionMask: { data: new Float32Array(100), shape: [1, 100] } }],
    ['latents of the wrong shape', { ...base, latents: { data: new Float32Array(4 * 4 * 4), shape: [1, 4, 4, 4] } }],
    ['unknown scheduler', { ...base, scheduler: 'no-such-scheduler' }],
    ['a scheduler that is neither a name nor a scheduler', { ...base, scheduler: 42 as never }],
    ['an object without the scheduler methods', { ...base, scheduler: { clone: () => ({}) } as never }],
    ['seed and generator', { ...base, seed: 1, generator: [] as never }],
    ['NaN in latents', { ...base, latents: { data: new Float32Array(4 * 8 * 8).fill(NaN), shape: [1, 4, 8, 8] } }],
    ['bad outputType', { ...base, outputType: 'jpeg' as never }],
  ];
  for (const [what, opts] of bad) {
    it(what, async () => {
      const forward = pipe.transformer!.forward.bind(pipe.transformer!);
      let calls = 0;
      pipe.transformer!.forward = (a) => { calls++; return forward(a); };
      try {
        await expect(pipe.generate(opts)).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT' });
      } finally {
        pipe.transformer!.forward = forward;
      }
      expect(calls).toBe(0);
    });
  }

  it('setScheduler refuses an object that is not a scheduler', async () => {
    await expect(pipe.setScheduler({} as never)).rejects.toMatchObject({ code: 'ERR_PIXART_INVALID_ARGUMENT', message: /setScheduler must be a scheduler name .* without clone, setTimesteps, step, scaleModelInput/ });
  });

  it('an aborted signal stops the run with its reason', async () => {
    const ac = new AbortController();
    const reason = new Error('stop');
    let steps = 0;
    const p = pipe.generate({ ...base, numInferenceSteps: 5, signal: ac.signal, outputType: 'latent', onStep: () => { if (++steps === 2) ac.abort(reason); } });
    await expect(p).rejects.toBe(reason);
    expect(steps).toBe(2);
  });
});
