import { PixArtError } from '../errors.js';
import type { DiTConfig } from '../models/configs.js';
import type { PixArtTransformer2DModel } from '../models/PixArtTransformer2DModel.js';
import type { Engine } from '../engine/Engine.js';
import type { EngineLatents } from '../models/AutoencoderKL.js';
import type { HostTensor, NativeStateTensor } from '../native/AddonTypes.js';
import { randnTensor } from '../random/randnTensor.js';
import { TorchGenerator } from '../random/TorchGenerator.js';
import { divScalar } from '../schedulers/ops.js';
import { DeviceSample, type Sample } from '../schedulers/sample.js';
import { stepsOnEngine, type DeviceScheduler, type NoiseSource, type Scheduler, type StepResult } from '../schedulers/types.js';
import { binTableForSampleSize, classifyHeightWidthBin } from '../sizes/resolutionBins.js';
import { DeviceSampler } from './deviceSampler.js';
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

/**
 * Prompt embeddings that stay on the transformer's engine: the model batch's rows ([negative;
 * positive] with CFG, each prompt's rows repeated per image) as one state tensor, and the
 * matching attention mask.
 */
export interface EngineTextEmbeddings {
  text: NativeStateTensor;
  mask: HostTensor;
}

export interface DenoiseArgs {
  transformer: PixArtTransformer2DModel;
  scheduler: Scheduler;
  embeddings: PromptEmbeddings | EngineTextEmbeddings;
  latents: HostTensor;
  guidanceScale: number;
  size: ResolvedSize;
  noise: NoiseSource;
  options: GenerateOptions;
  /**
   * Run the scheduler steps on the engine (default true): the latents, model outputs and solver
   * history stay there as float32 and each step is one fused engine call with the host step's
   * exact arithmetic. Falls back to the host loop for schedulers that cannot (dynamic thresholding).
   */
  onEngine?: boolean;
  /**
   * Record the transformer step at the second step and replay it after (a CUDA graph on a GPU:
   * the step's kernels are launched once, not every step). Results are unchanged. Default false.
   */
  recordSteps?: boolean;
}

/**
 * The final latents of a denoising loop: on the engine (the default loop) or in JS memory. The
 * caller disposes it; an engine copy is freed then.
 */
export class DenoisedLatents {
  readonly shape: number[];
  #host: HostTensor | undefined;
  #device: { sampler: DeviceSampler; x: DeviceSample } | undefined;

  constructor(shape: number[], host: HostTensor | undefined, device?: { sampler: DeviceSampler; x: DeviceSample }) {
    this.shape = shape;
    this.#host = host;
    this.#device = device;
  }

  /** The latents in JS memory (read from the engine once). */
  async toHost(): Promise<HostTensor> {
    if (!this.#host) this.#host = { data: await this.#device!.sampler.read(this.#device!.x), shape: [...this.shape] };
    return this.#host;
  }

  /**
   * z = latents / scalingFactor, what the VAE decodes (float32 division): computed on the engine
   * and left there when the latents live on the VAE's engine, else in JS memory.
   */
  async scaled(scalingFactor: number, vaeEngine: Engine): Promise<HostTensor | EngineLatents> {
    const sf = Math.fround(scalingFactor);
    if (this.#device && this.#device.sampler.engine === vaeEngine) {
      const z = divScalar(this.#device.x, sf) as DeviceSample;
      await this.#device.sampler.evaluate([z]);
      return { state: this.#device.sampler.tensorOf(z), shape: [...this.shape] };
    }
    const host = await this.toHost();
    return { data: divScalar(host.data, sf), shape: [...this.shape] };
  }

  dispose(): void {
    this.#device?.sampler.dispose();
    this.#device = undefined;
  }
}

/**
 * What a step leaves as the latents. With a single inference step diffusers' PixArtAlphaPipeline
 * keeps the step's second output (`step(...)[1]`: pred_original_sample, LCM's denoised, e.g. for
 * one-step distilled models); the solvers that return only prev_sample (DPM-Solver, UniPC, DEIS,
 * SA-Solver) make it fail there with IndexError, and give their prev_sample here.
 */
function stepOutput<S extends Sample>(res: StepResult<S>, single: boolean): S {
  return single ? (res.denoised ?? res.predOriginalSample ?? res.prevSample) : res.prevSample;
}

/**
 * The denoising loop, as diffusers runs it: CFG batch [negative; positive], the transformer,
 * guidance, the learned-variance channels dropped, the scheduler step. Progress and cancellation
 * reach JS every step. By default the latents never leave the engine: the transformer takes and
 * gives engine tensors and the scheduler's recorded step runs there (DeviceSampler); the host loop
 * (onEngine: false) sends the latents and brings the guided eps back each step instead.
 */
export async function denoise(args: DenoiseArgs): Promise<DenoisedLatents> {
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
  const callbackSteps = options.callbackSteps ?? 1;  // checked by generate()
  const eta = options.eta ?? 0;
  if (!Number.isFinite(eta) || eta < 0) throw invalid(`eta must be a finite number >= 0, got ${String(eta)}`);

  let text: Float32Array | NativeStateTensor, textShape: number[], mask: HostTensor;
  if ('text' in embeddings) {
    ({ text, mask } = embeddings);
    textShape = embeddings.text.shape;
  } else {
    let t = embeddings.promptEmbeds;
    mask = embeddings.promptAttentionMask;
    if (cfg) {
      t = concatRows(embeddings.negativePromptEmbeds!, t);
      mask = concatRows(embeddings.negativePromptAttentionMask!, mask);
    }
    text = t.data;
    textShape = t.shape;
  }
  const modelBatch = textShape[0];
  if (modelBatch !== (cfg ? 2 : 1) * B) {
    throw invalid(`prompt embeddings give a batch of ${modelBatch} but there are ${B} latents`);
  }
  if (textShape[2] !== dit.captionChannels) {
    throw invalid(`prompt embeddings have width ${textShape[2]}, the transformer expects ${dit.captionChannels}`);
  }
  let resolution: Float32Array | undefined, aspectRatio: Float32Array | undefined;
  if (dit.useAdditionalConditions) {
    resolution = new Float32Array(modelBatch * 2);
    aspectRatio = new Float32Array(modelBatch).fill(size.height / size.width);
    for (let i = 0; i < modelBatch; i++) resolution.set([size.height, size.width], 2 * i);
  }
  const stepNoise = args.noise;
  const single = numSteps === 1;
  const shape = [B, C, h, w];
  const latentShape = shape as [number, number, number, number];

  const x0 = new Float32Array(args.latents.data.length);
  const sigma0 = Math.fround(scheduler.initNoiseSigma);
  for (let i = 0; i < x0.length; i++) x0[i] = args.latents.data[i] * sigma0;
  scheduler.setBeginIndex(0);
  const order = scheduler.order;
  const warmup = Math.max(timesteps.length - numSteps * order, 0);
  const g = Math.fround(guidanceScale);
  const outC = dit.outChannels;
  const dropVariance = Math.floor(outC / 2) === C;
  if (!dropVariance && outC !== C) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `transformer has ${outC} output channels for ${C} latent channels`);
  }
  // With CFG the engine duplicates the latents, runs the [uncond; cond] batch and applies the
  // guidance on every output channel before dropping the variance (diffusers' order, float32 ops
  // as torch rounds them), so only the guided eps [B, C, h, w] is produced. Without CFG the
  // engine keeps the first C channels.
  const heads = cfg ? { guidance: { scale: g, epsChannels: C } } : dropVariance ? { channels: C } : {};
  // A scheduler of one's own (the Scheduler interface without the two optional members) steps on the host.
  const engineScheduler: DeviceScheduler | undefined = (args.onEngine ?? true) && stepsOnEngine(scheduler) ? scheduler : undefined;
  const sampler = engineScheduler ? new DeviceSampler(transformer.engine, shape) : undefined;

  // The text side goes to the engine once (caption projection included) and stays there.
  const conditioning = await transformer.prepareConditioning({
    text, textShape: textShape as [number, number, number], textMask: mask.data, resolution, aspectRatio,
    recordSteps: args.recordSteps ?? false,
  });
  let done = false;
  try {
    let x: Sample = sampler ? await sampler.upload(x0) : x0;
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(options.signal);
      const t = timesteps[i];
      const timestepsIn = new Float32Array(modelBatch).fill(t);
      const stepOpts = { generator: stepNoise, eta, shape };
      if (sampler && engineScheduler) {
        const xin = engineScheduler.scaleModelInput(x, t) as DeviceSample;
        await sampler.evaluate([xin]);
        const eps = sampler.adopt(await transformer.forwardToState({
          latents: sampler.tensorOf(xin), latentShape, timesteps: timestepsIn, conditioning, ...heads,
        }));
        x = stepOutput(engineScheduler.step(eps, t, x, stepOpts), single);
        if (!(x instanceof DeviceSample)) x = await sampler.upload(x);  // a step made of host values alone
        // The new latents and the solver's history become engine tensors in one call; every
        // other tensor of the loop (this step's eps, the old latents) is freed.
        const keep = [x, ...engineScheduler.stateSamples()];
        await sampler.evaluate(keep);
        sampler.release(keep);
      } else {
        const eps = (await transformer.forward({
          latents: scheduler.scaleModelInput(x as Float32Array, t), latentShape, timesteps: timestepsIn, conditioning, ...heads,
        })).data;
        x = stepOutput(scheduler.step(eps, t, x as Float32Array, stepOpts), single);
      }
      if (i === timesteps.length - 1 || (i + 1 > warmup && (i + 1) % order === 0)) {
        if (options.onStep && i % callbackSteps === 0) {
          const latents = sampler ? await sampler.read(x) : (x as Float32Array).slice();
          await options.onStep({
            step: Math.floor(i / order),
            iteration: i,
            totalSteps: numSteps,
            timestep: t,
            latents: { data: latents, shape: [...shape] },
          });
        }
      }
    }
    done = true;
    if (!sampler) return new DenoisedLatents(shape, { data: x as Float32Array, shape });
    sampler.release([x as DeviceSample]);
    return new DenoisedLatents(shape, undefined, { sampler, x: x as DeviceSample });
  } finally {
    conditioning.dispose();
    if (!done) sampler?.dispose();
  }
}
