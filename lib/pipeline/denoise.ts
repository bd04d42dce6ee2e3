import { PixArtError } from '../errors.js';
import type { DiTConfig } from '../models/configs.js';
import type { PixArtTransformer2DModel } from '../models/PixArtTransformer2DModel.js';
import type { HostTensor } from '../native/AddonTypes.js';
import { randnTensor } from '../random/randnTensor.js';
import { TorchGenerator } from '../random/TorchGenerator.js';
import type { NoiseSource, Scheduler } from '../schedulers/types.js';
import { binTableForSampleSize, classifyHeightWidthBin } from '../sizes/resolutionBins.js';
import { concatRows } from './tensors.js';
import type { GenerateOptions, PromptEmbeddings } from './types.js';
import { checkTensor, invalid, throwIfAborted } from './validate.js';

export interface ResolvedSize {
  height: number;
  width: number;
  origHeight: number;
  origWidth: number;
  binned: boolean;
}

/** Default size, resolution binning, and the multiple-of-(VAE factor x patch) rule. */
export function resolveSize(options: GenerateOptions, dit: DiTConfig, vaeScale: number): ResolvedSize {
  const def = dit.sampleSize * vaeScale;
  const h0 = options.height ?? def, w0 = options.width ?? def;
  for (const [name, v] of [['height', h0], ['width', w0]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 16384) {
      throw invalid(`${name} must be an integer between 1 and 16384, got ${String(v)}`);
    }
  }
  const binned = options.useResolutionBinning ?? true;
  let height = h0, width = w0;
  if (binned) {
    const table = binTableForSampleSize(dit.sampleSize);
    [height, width] = classifyHeightWidthBin(h0, w0, table);
  }
  const multiple = vaeScale * dit.patchSize;
  if (height % multiple !== 0 || width % multiple !== 0) {
    throw invalid(`height and width must be multiples of ${multiple} (VAE factor ${vaeScale} x patch ${dit.patchSize}) without resolution binning, got ${height}x${width}`);
  }
  return { height, width, origHeight: h0, origWidth: w0, binned };
}

/** Initial latents: given, or drawn like diffusers' randn_tensor from the seed / generator(s). */
export function prepareLatents(
  options: GenerateOptions, batch: number, channels: number, size: ResolvedSize, vaeScale: number,
  gens: TorchGenerator | TorchGenerator[],
): HostTensor {
  const shape = [batch, channels, size.height / vaeScale, size.width / vaeScale];
  if (options.latents !== undefined) {
    const l = checkTensor('latents', options.latents, 4);
    if (l.shape.join() !== shape.join()) {
      throw invalid(`latents have shape [${l.shape.join(', ')}], expected [${shape.join(', ')}] for ${batch} image(s) at ${size.height}x${size.width}`);
    }
    return l;
  }
  if (Array.isArray(gens) && gens.length !== batch) {
    throw invalid(`you passed ${gens.length} generators for an effective batch of ${batch}; pass one per image`);
  }
  return { data: randnTensor(shape, gens), shape };
}

/** The generator(s) a run draws from: latents first, then any noise the scheduler needs. */
export function generatorsFor(options: GenerateOptions): TorchGenerator | TorchGenerator[] {
  if (options.generator !== undefined) return options.generator;
  if (options.seed !== undefined) return new TorchGenerator(options.seed);
  // No seed: a random one, like torch's global generator in the Python pipeline.
  return new TorchGenerator(BigInt(Math.floor(Math.random() * 2 ** 52)));
}

/** diffusers' randn_tensor over the run's generator(s), for noise drawn inside scheduler steps. */
export function noiseSource(gens: TorchGenerator | TorchGenerator[]): NoiseSource {
  return { randn: (shape: number[]) => randnTensor(shape, gens) };
}

export interface DenoiseArgs {
  transformer: PixArtTransformer2DModel;
  scheduler: Scheduler;
  embeddings: PromptEmbeddings;
  latents: HostTensor;
  guidanceScale: number;
  size: ResolvedSize;
  noise: NoiseSource;
  options: GenerateOptions;
}

/**
 * The denoising loop, as diffusers runs it: CFG batch [negative; positive], the transformer,
 * guidance, the learned-variance channels dropped, the scheduler step. The transformer call is
 * the one native round trip per step; progress and cancellation reach JS every step.
 */
export async function denoise(args: DenoiseArgs): Promise<HostTensor> {
  const { transformer, scheduler, embeddings, guidanceScale, size, options } = args;
  const cfg = guidanceScale > 1;
  const dit = transformer.config;
  const [B, C, h, w] = args.latents.shape;
  if (options.timesteps !== undefined && options.sigmas !== undefined) throw invalid('pass either timesteps or sigmas, not both');
  if (options.timesteps !== undefined || options.sigmas !== undefined) {
    scheduler.setTimesteps(undefined, { timesteps: options.timesteps, sigmas: options.sigmas });
  } else {
    const steps = options.numInferenceSteps ?? 20;
    if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > 10000) {
      throw invalid(`numInferenceSteps must be an integer between 1 and 10000, got ${String(steps)}`);
    }
    scheduler.setTimesteps(steps);
  }
  const timesteps = scheduler.timesteps;
  const numSteps = options.timesteps || options.sigmas ? timesteps.length : (options.numInferenceSteps ?? 20);
  const eta = options.eta ?? 0;
  if (!Number.isFinite(eta) || eta < 0) throw invalid(`eta must be a finite number >= 0, got ${String(eta)}`);

  let text = embeddings.promptEmbeds, mask = embeddings.promptAttentionMask;
  if (cfg) {
    text = concatRows(embeddings.negativePromptEmbeds!, text);
    mask = concatRows(embeddings.negativePromptAttentionMask!, mask);
  }
  const modelBatch = text.shape[0];
  if (modelBatch !== (cfg ? 2 : 1) * B) {
    throw invalid(`prompt embeddings give a batch of ${text.shape[0]} but there are ${B} latents`);
  }
  if (text.shape[2] !== dit.captionChannels) {
    throw invalid(`prompt embeddings have width ${text.shape[2]}, the transformer expects ${dit.captionChannels}`);
  }
  let resolution: Float32Array | undefined, aspectRatio: Float32Array | undefined;
  if (dit.useAdditionalConditions) {
    resolution = new Float32Array(modelBatch * 2);
    aspectRatio = new Float32Array(modelBatch).fill(size.height / size.width);
    for (let i = 0; i < modelBatch; i++) resolution.set([size.height, size.width], 2 * i);
  }
  const stepNoise = args.noise;

  let x: Float32Array = new Float32Array(args.latents.data.length);
  const sigma0 = Math.fround(scheduler.initNoiseSigma);
  for (let i = 0; i < x.length; i++) x[i] = args.latents.data[i] * sigma0;
  scheduler.setBeginIndex(0);
  const order = scheduler.order;
  const warmup = Math.max(timesteps.length - numSteps * order, 0);
  const g = Math.fround(guidanceScale);
  const plane = C * h * w;
  const outC = dit.outChannels;
  const dropVariance = Math.floor(outC / 2) === C;
  if (!dropVariance && outC !== C) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `transformer has ${outC} output channels for ${C} latent channels`);
  }

  // The text side goes to the engine once (caption projection included) and stays there.
  const conditioning = await transformer.prepareConditioning({
    text: text.data, textShape: text.shape as [number, number, number], textMask: mask.data, resolution, aspectRatio,
  });
  try {
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(options.signal);
      const t = timesteps[i];
      // With CFG the engine duplicates the latents, runs the [uncond; cond] batch and applies the
      // guidance on every output channel before dropping the variance (diffusers' order, float32
      // ops as torch rounds them), so only the guided eps [B, C, h, w] comes back.
      const out = await transformer.forward({
        latents: scheduler.scaleModelInput(x, t),
        latentShape: [B, C, h, w],
        timesteps: new Float32Array(modelBatch).fill(t),
        conditioning,
        guidance: cfg ? { scale: g, epsChannels: C } : undefined,
      });
      let eps = out.data;
      if (!cfg && dropVariance) {
        const outPlane = outC * h * w;
        eps = new Float32Array(B * plane);
        for (let b = 0; b < B; b++) eps.set(out.data.subarray(b * outPlane, b * outPlane + plane), b * plane);
      }
      x = scheduler.step(eps, t, x, { generator: stepNoise, eta, shape: [B, C, h, w] }).prevSample;
      if (i === timesteps.length - 1 || (i + 1 > warmup && (i + 1) % order === 0)) {
        if (options.onStep) {
          await options.onStep({
            step: Math.floor(i / order),
            iteration: i,
            totalSteps: numSteps,
            timestep: t,
            latents: { data: x.slice(), shape: [B, C, h, w] },
          });
        }
      }
    }
  } finally {
    conditioning.dispose();
  }
  return { data: x, shape: [B, C, h, w] };
}
