import { join } from 'node:path';
import { PixArtError } from '../errors.js';
import { Engine, type Device } from '../engine/Engine.js';
import { AutoencoderKL } from '../models/AutoencoderKL.js';
import { readConfig } from '../models/configs.js';
import { resolveModel, type ProgressEvent } from '../hub/index.js';
import { PixArtTransformer2DModel } from '../models/PixArtTransformer2DModel.js';
import { T5EncoderModel, type T5Quantization } from '../models/T5EncoderModel.js';
import { callNative } from '../native/binding.js';
import type { HostTensor, NativeStateTensor } from '../native/AddonTypes.js';
import { TorchGenerator } from '../random/TorchGenerator.js';
import { createScheduler } from '../schedulers/index.js';
import { divScalar } from '../schedulers/ops.js';
import type { Scheduler } from '../schedulers/types.js';
import { preprocessText } from '../text/cleanCaption.js';
import { T5Tokenizer } from '../text/T5Tokenizer.js';
import { rgbToImages, toFloatNHWC, toImages, type PixArtImage } from './images.js';
import {
  denoise, generatorsFor, noiseSource, prepareLatents, resolveSize, type DenoisedLatents, type EngineTextEmbeddings, type ResolvedSize,
} from './denoise.js';
import { allFinite, concatRows, repeatRows, tokenizeBatch } from './tensors.js';
import type { EncodePromptOptions, GenerateOptions, GenerateResult, OutputType, PromptEmbeddings } from './types.js';
import { checkEmbeds, checkPositiveInt, checkPrompt, checkTensor, invalid, throwIfAborted } from './validate.js';
import { resizeAndCropTensor } from '../sizes/resolutionBins.js';
import { optionsArg } from '../util/args.js';

export interface PipelineLoadOptions {
  device?: Device;
  /** CPU threads (0 = all). */
  threads?: number;
  /** GPU compute dtype (default 'float16'); the CPU backend always computes in float32. */
  dtype?: 'float16' | 'bfloat16' | 'float32';
  /** Run every component on this engine. */
  engine?: Engine;
  /**
   * Weight-only quantisation of the T5 text encoder's linear weights: 'int8' (per channel),
   * 'int4' (groups of 64) or 'int4-mixed' (int4 with the most sensitive linears in int8); default
   * 'none'. T5-XXL's linears on a GPU: 9.3 GB (bf16) -> 4.7 / 2.6 / 3.7 GB; random-weight cosine
   * against float32: int8 0.9992, int4 0.911, int4-mixed 0.993.
   */
  textEncoderQuantization?: T5Quantization;
  /**
   * GPU compute dtype of the text encoder (default 'bfloat16': T5 overflows in float16). Used
   * when no `engine` is given; on the CPU everything computes in float32.
   */
  textEncoderDtype?: 'float16' | 'bfloat16' | 'float32';
  /** Pass a loaded component to share it, or null to leave it out (the low-memory workflow). */
  tokenizer?: T5Tokenizer | null;
  textEncoder?: T5EncoderModel | null;
  transformer?: PixArtTransformer2DModel | null;
  vae?: AutoencoderKL | null;
  /** A scheduler instance, or a name built from the folder's scheduler config (e.g. 'euler_a'). */
  scheduler?: Scheduler | string;
  /** Hugging Face Hub: branch, tag or commit (default 'main'). */
  revision?: string;
  /** diffusers' weights variant, e.g. 'fp16'. */
  variant?: string;
  /** Hub cache folder (default $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub, shared with Python). */
  cacheDir?: string;
  /** Hub token (default $HF_TOKEN). */
  token?: string;
  /** Hub URL (default $HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Use the cache only (default $HF_HUB_OFFLINE). */
  offline?: boolean;
  onDownloadProgress?: (e: ProgressEvent) => void;
  /** Aborts a download in progress (the partial file is kept and resumed next time). */
  signal?: AbortSignal;
}

type ComponentName = 'textEncoder' | 'transformer' | 'vae';

/**
 * diffusers' PixArtAlphaPipeline: T5 text encoder -> PixArt DiT denoising loop -> VAE decoder.
 * Reads top to bottom as diffusers does: check inputs, encode prompt, prepare latents,
 * denoise, decode.
 */
export class PixArtAlphaPipeline {
  tokenizer: T5Tokenizer | null;
  textEncoder: T5EncoderModel | null;
  transformer: PixArtTransformer2DModel | null;
  vae: AutoencoderKL | null;
  scheduler: Scheduler | null;
  readonly folder: string | null;
  #owned = new Set<ComponentName | 'tokenizer'>();

  constructor(parts: {
    tokenizer?: T5Tokenizer | null;
    textEncoder?: T5EncoderModel | null;
    transformer?: PixArtTransformer2DModel | null;
    vae?: AutoencoderKL | null;
    scheduler?: Scheduler | null;
    folder?: string | null;
  }) {
    this.tokenizer = parts.tokenizer ?? null;
    this.textEncoder = parts.textEncoder ?? null;
    this.transformer = parts.transformer ?? null;
    this.vae = parts.vae ?? null;
    this.scheduler = parts.scheduler ?? null;
    this.folder = parts.folder ?? null;
  }

  /**
   * Loads a pipeline from a diffusers folder (model_index.json, tokenizer/, text_encoder/,
   * transformer/, vae/, scheduler/). Components given in `options` are used as they are;
   * components given as null are not loaded.
   */
  static async fromPretrained(pathOrRepoId: string, options: PipelineLoadOptions = {}): Promise<PixArtAlphaPipeline> {
    if (typeof pathOrRepoId !== 'string' || pathOrRepoId.length === 0) throw invalid('fromPretrained needs a model folder or a Hub repo id');
    options = optionsArg('PixArtAlphaPipeline.fromPretrained options', options);
    // Only the components this call will load are downloaded.
    const components = [
      options.tokenizer === undefined && 'tokenizer',
      options.textEncoder === undefined && 'text_encoder',
      options.transformer === undefined && 'transformer',
      options.vae === undefined && 'vae',
      (typeof options.scheduler !== 'object' || options.scheduler === null) && 'scheduler',
    ].filter((c): c is string => typeof c === 'string');
    const folder = await resolveModel(pathOrRepoId, {
      components, revision: options.revision, variant: options.variant, cacheDir: options.cacheDir,
      token: options.token, endpoint: options.endpoint, offline: options.offline,
      onProgress: options.onDownloadProgress, signal: options.signal,
    });
    const index = await readConfig(join(folder, 'model_index.json'));
    const engine = options.engine ?? Engine.shared({ device: options.device, threads: options.threads, dtype: options.dtype });
    const load = { engine, variant: options.variant };
    const onGpu = (options.device ?? 'cpu') !== 'cpu';
    const textEngine = options.engine || !onGpu
      ? engine
      : Engine.shared({ device: options.device, threads: options.threads, dtype: options.textEncoderDtype ?? 'bfloat16' });
    const pipe = new PixArtAlphaPipeline({ folder });
    try {
      if (options.tokenizer !== undefined) pipe.tokenizer = options.tokenizer;
      else if (index.tokenizer) {
        pipe.tokenizer = await T5Tokenizer.fromPretrained(join(folder, 'tokenizer'));
        pipe.#owned.add('tokenizer');
      }
      if (options.textEncoder !== undefined) pipe.textEncoder = options.textEncoder;
      else if (index.text_encoder) {
        pipe.textEncoder = await T5EncoderModel.fromPretrained(join(folder, 'text_encoder'), {
          engine: textEngine, variant: options.variant, quantization: options.textEncoderQuantization,
        });
        pipe.#owned.add('textEncoder');
      }
      if (options.transformer !== undefined) pipe.transformer = options.transformer;
      else if (index.transformer) {
        pipe.transformer = await PixArtTransformer2DModel.fromPretrained(join(folder, 'transformer'), load);
        pipe.#owned.add('transformer');
      }
      if (options.vae !== undefined) pipe.vae = options.vae;
      else if (index.vae) {
        pipe.vae = await AutoencoderKL.fromPretrained(join(folder, 'vae'), load);
        pipe.#owned.add('vae');
      }
      if (typeof options.scheduler === 'object' && options.scheduler !== null) {
        pipe.scheduler = checkScheduler('fromPretrained: scheduler', options.scheduler);
      } else if (index.scheduler || options.scheduler) {
        const cfg = await readConfig(join(folder, 'scheduler', 'scheduler_config.json'));
        const name = options.scheduler ?? (Array.isArray(index.scheduler) ? String(index.scheduler[1]) : String(cfg._class_name));
        pipe.scheduler = createScheduler(name, cfg);
      }
    } catch (e) {
      pipe.dispose();
      throw e;
    }
    return pipe;
  }

  /** Replaces the scheduler by name (built from the folder's scheduler config) or instance. */
  async setScheduler(scheduler: Scheduler | string): Promise<void> {
    if (typeof scheduler !== 'string') {
      this.scheduler = checkScheduler('setScheduler', scheduler);
      return;
    }
    const cfg = this.scheduler?.config ?? (this.folder ? await readConfig(join(this.folder, 'scheduler', 'scheduler_config.json')) : null);
    if (!cfg) throw invalid('no scheduler config to build from; pass a scheduler instance');
    this.scheduler = createScheduler(scheduler, { ...cfg });
  }

  /** diffusers' encode_prompt: the four tensors it returns. */
  async encodePrompt(prompt: string | string[] | undefined, options: EncodePromptOptions = {}): Promise<PromptEmbeddings> {
    options = optionsArg('encodePrompt options', options);
    const { n, maxLength, cfg, cleanCaption } = encodeSettings(options);
    const prompts = checkPrompt('prompt', prompt);
    let embeds: HostTensor, mask: HostTensor;
    if (options.promptEmbeds) {
      if (prompts) throw invalid('pass either prompt or promptEmbeds, not both');
      embeds = checkTensor('promptEmbeds', options.promptEmbeds, 3);
      if (!options.promptAttentionMask) throw invalid('promptAttentionMask is required with promptEmbeds');
      mask = checkTensor('promptAttentionMask', options.promptAttentionMask, 2);
    } else {
      if (!prompts) throw invalid('pass prompt or promptEmbeds');
      ({ embeds, mask } = await this.#encodeTexts(prompts, maxLength, cleanCaption, options.signal));
    }
    const bs = embeds.shape[0];
    let negEmbeds: HostTensor | null = null, negMask: HostTensor | null = null;
    if (cfg) {
      if (options.negativePromptEmbeds) {
        negEmbeds = checkTensor('negativePromptEmbeds', options.negativePromptEmbeds, 3);
        if (!options.negativePromptAttentionMask) throw invalid('negativePromptAttentionMask is required with negativePromptEmbeds');
        negMask = checkTensor('negativePromptAttentionMask', options.negativePromptAttentionMask, 2);
      } else {
        const negs = negativePrompts(options.negativePrompt, bs);
        ({ embeds: negEmbeds, mask: negMask } = await this.#encodeTexts(negs, embeds.shape[1], cleanCaption, options.signal));
      }
    }
    await this.#releaseTextEncoderCache();
    return {
      promptEmbeds: repeatRows(embeds, n),
      promptAttentionMask: repeatRows(mask, n),
      negativePromptEmbeds: negEmbeds && repeatRows(negEmbeds, n),
      negativePromptAttentionMask: negMask && repeatRows(negMask, n),
    };
  }

  /** A text encoder on its own GPU engine (bfloat16 by default) keeps its activations cached; they go back to the device. */
  async #releaseTextEncoderCache(): Promise<void> {
    const te = this.textEncoder;
    if (te && !te.disposed && te.engine.device !== 'cpu' && te.engine !== this.transformer?.engine) await te.engine.emptyCache();
  }

  #tokenize(texts: string[], maxLength: number, cleanCaption: boolean, signal?: AbortSignal) {
    if (!this.tokenizer) throw new PixArtError('ERR_PIXART_MISSING_COMPONENT', 'this pipeline has no tokenizer; pass promptEmbeds instead');
    if (!this.textEncoder) throw new PixArtError('ERR_PIXART_MISSING_COMPONENT', 'this pipeline has no text encoder (it was left out or unloaded); pass promptEmbeds instead');
    throwIfAborted(signal);
    const processed = texts.map((t) => preprocessText(t, cleanCaption));
    const { ids, mask } = tokenizeBatch(this.tokenizer, processed, maxLength);
    return { ids, mask, maskTensor: { data: Float32Array.from(mask), shape: [texts.length, maxLength] } };
  }

  async #encodeTexts(texts: string[], maxLength: number, cleanCaption: boolean, signal?: AbortSignal) {
    const { ids, mask, maskTensor } = this.#tokenize(texts, maxLength, cleanCaption, signal);
    const out = await this.textEncoder!.encode(ids, mask, texts.length, maxLength);
    return { embeds: out, mask: maskTensor };
  }

  /**
   * encodePrompt() for generate() with the embeddings kept on the engines: T5's output stays on
   * its engine and its rows are gathered onto the transformer's, [negative x n; positive x n]
   * (diffusers' order and repeats), device to device between CUDA engines on one GPU. Only the
   * attention masks (host data) are made here.
   */
  async #encodeOnEngine(prompts: string[], options: EncodePromptOptions, transformer: PixArtTransformer2DModel): Promise<EngineTextEmbeddings> {
    const { n, maxLength, cfg, cleanCaption } = encodeSettings(options);
    const bs = prompts.length;
    const negs = cfg ? negativePrompts(options.negativePrompt, bs) : [];
    const te = this.textEncoder!;
    const parts: NativeStateTensor[] = [];
    try {
      const masks: HostTensor[] = [];
      for (const texts of cfg ? [negs, prompts] : [prompts]) {
        const { ids, mask, maskTensor } = this.#tokenize(texts, maxLength, cleanCaption, options.signal);
        parts.push(await te.encodeToState(ids, mask, bs, maxLength));
        masks.push(repeatRows(maskTensor, n));
      }
      // (part, row) pairs: each prompt's row n times, the negative part first.
      const rows: number[] = [];
      parts.forEach((_, p) => { for (let b = 0; b < bs; b++) for (let r = 0; r < n; r++) rows.push(p, b); });
      const native = transformer.engine.native;
      const text = await callNative(() => native.gatherState(parts, Int32Array.from(rows)), 'prompt embeddings');
      await this.#releaseTextEncoderCache();
      return { text, mask: masks.length === 2 ? concatRows(masks[0], masks[1]) : masks[0] };
    } finally {
      for (const p of parts) p.dispose();
    }
  }

  /** Text to image: diffusers' __call__ with every parameter, in camelCase. */
  async generate(options: GenerateOptions): Promise<GenerateResult> {
    options = optionsArg('generate() options', options);
    const transformer = this.#need('transformer', this.transformer);
    const scheduler = (typeof options.scheduler === 'string'
      ? createScheduler(options.scheduler, { ...this.#need('scheduler', this.scheduler).config })
      : options.scheduler !== undefined
        ? checkScheduler('generate: scheduler', options.scheduler)
        : this.#need('scheduler', this.scheduler)).clone();
    const outputType: OutputType = options.outputType ?? 'image';
    if (!['image', 'float', 'latent'].includes(outputType)) throw invalid(`outputType must be 'image', 'float' or 'latent', got ${String(outputType)}`);
    if (outputType !== 'latent') this.#need('vae', this.vae);
    if (options.onStep !== undefined && typeof options.onStep !== 'function') throw invalid('onStep must be a function');
    const callbackSteps = options.callbackSteps ?? 1;
    if (typeof callbackSteps !== 'number' || !Number.isInteger(callbackSteps) || callbackSteps < 1) {
      throw invalid(`callbackSteps must be a positive integer, got ${String(callbackSteps)}`);
    }
    checkEmbeds(options);
    const prompts = checkPrompt('prompt', options.prompt);
    const n = checkPositiveInt('numImagesPerPrompt', options.numImagesPerPrompt ?? 1, 64);
    const guidanceScale = options.guidanceScale ?? 4.5;
    if (typeof guidanceScale !== 'number' || !Number.isFinite(guidanceScale)) throw invalid(`guidanceScale must be a finite number, got ${String(guidanceScale)}`);
    const vaeScale = this.vae?.config.scaleFactor ?? 8;
    const size = resolveSize(options, transformer.config, vaeScale);
    const batch = prompts ? prompts.length : options.promptEmbeds!.shape[0];
    const cfg = guidanceScale > 1;
    if (options.seed !== undefined && options.generator !== undefined) throw invalid('pass either seed or generator, not both');
    const gens = generatorsFor(options);
    const latents0 = prepareLatents(options, batch * n, transformer.config.inChannels, size, vaeScale, gens);
    throwIfAborted(options.signal);

    const encodeOptions: EncodePromptOptions = {
      negativePrompt: options.negativePrompt,
      doClassifierFreeGuidance: cfg,
      numImagesPerPrompt: n,
      cleanCaption: options.cleanCaption ?? true,
      maxSequenceLength: options.maxSequenceLength ?? 120,
      promptEmbeds: options.promptEmbeds,
      promptAttentionMask: options.promptAttentionMask,
      negativePromptEmbeds: options.negativePromptEmbeds,
      negativePromptAttentionMask: options.negativePromptAttentionMask,
      signal: options.signal,
    };
    // From prompts (no embeddings given), the embeddings go from T5 to the transformer on the engines.
    const onEngine = this.tensorsOnEngine && prompts !== undefined && !options.negativePromptEmbeds && this.tokenizer !== null && this.textEncoder !== null;
    const emb = onEngine ? await this.#encodeOnEngine(prompts, encodeOptions, transformer) : await this.encodePrompt(prompts, encodeOptions);
    let latents: DenoisedLatents;
    try {
      latents = await denoise({
        transformer,
        scheduler,
        embeddings: emb,
        latents: latents0,
        guidanceScale,
        size,
        noise: noiseSource(gens),
        options,
        onEngine: this.tensorsOnEngine,
        recordSteps: this.recordSteps,
      });
    } finally {
      if ('text' in emb) emb.text.dispose();
    }
    try {
      if (outputType === 'latent') {
        const tensor = await latents.toHost();
        return { tensor, generatedHeight: size.height, generatedWidth: size.width, nonFinite: !allFinite(tensor.data) };
      }
      const vae = this.vae!;
      throwIfAborted(options.signal);
      const gpu = this.emptyCacheBetweenPhases && vae.engine.device !== 'cpu';
      if (gpu) await vae.engine.emptyCache();  // the loop's cached blocks, before the decode's working set
      const out = await this.#decodeOutput(latents, size, outputType);
      if (gpu) await vae.engine.emptyCache();  // the decode's, before the next generation's loop
      return out;
    } finally {
      latents.dispose();
    }
  }

  async #decodeOutput(latents: DenoisedLatents, size: ResolvedSize, outputType: 'image' | 'float'): Promise<GenerateResult> {
    const vae = this.vae!;
    // z = latents / scaling_factor, made on the engine when the latents are there (the same engine as the VAE).
    const z = await latents.scaled(vae.config.scalingFactor, vae.engine);
    // Images at the generated size (no binning, or a request that is its own bin): the engine
    // makes the RGB bytes (on a GPU on the device), the bytes toImages(toFloatNHWC(...)) gives.
    // Otherwise the float image is resized first, as diffusers does, and converted here.
    if (outputType === 'image' && (!size.binned || (size.height === size.origHeight && size.width === size.origWidth))) {
      const rgb = await vae.decodeToRgb(z);
      return { images: rgbToImages(rgb), generatedHeight: size.height, generatedWidth: size.width, nonFinite: rgb.nonFinite };
    }
    const decodedRaw = await vae.decode(z);
    const nonFinite = !allFinite(decodedRaw.data);
    const decoded = size.binned ? resizeAndCropTensor(decodedRaw.data, decodedRaw.shape as [number, number, number, number], size.origWidth, size.origHeight) : decodedRaw;
    const nhwc = toFloatNHWC(decoded);
    if (outputType === 'float') return { tensor: nhwc, generatedHeight: size.height, generatedWidth: size.width, nonFinite };
    return { images: toImages(nhwc), generatedHeight: size.height, generatedWidth: size.width, nonFinite };
  }

  /**
   * Whether generate() runs the scheduler steps on the engine (default): the latents, model
   * outputs and solver history stay on the device between steps and each step is one fused
   * engine call, with the host step's exact float32 arithmetic (the results are the same bits).
   * false: the host loop, which sends the latents up and brings the guided eps back every step.
   * Schedulers with dynamic thresholding always step on the host.
   */
  tensorsOnEngine = true;

  /**
   * On a GPU, give the engine's cached blocks back to the device (Engine.emptyCache()) between
   * the denoising loop and the VAE decode, and again after the decode, so the pool never holds
   * the transformer's and the VAE's working sets at once (not within a generation, and not the
   * last decode's through the next loop): a lower peak for two device syncs per generation and
   * the first allocations of each phase. Off by default.
   */
  emptyCacheBetweenPhases = false;

  /**
   * Record the transformer's step (the model and the guidance) at the second denoising step and
   * replay the recording for the rest: on a GPU a CUDA graph, so the host launches the step's
   * several hundred kernels once instead of every step (what bounds small images). The results
   * are the same; on the CPU every step runs its ops as before. Off by default until measured on
   * a GPU (bench/gpu). PIXART_CUDA_GRAPHS=0 turns the graphs off in the engine.
   */
  recordSteps = false;

  /** The VAE decode of final latents, unclamped [B, 3, H, W] (diffusers' vae.decode(latents / scaling_factor)). */
  async decodeLatentsRaw(latents: HostTensor, signal?: AbortSignal): Promise<HostTensor> {
    return this.#need('vae', this.vae).decode(this.#scaledLatents(latents, signal));
  }

  /**
   * The last step of the low-memory workflow: latents from generate({ outputType: 'latent' })
   * to images (or NHWC floats in [0, 1]). Images are converted to RGB by the engine.
   */
  async decodeLatents(
    latents: HostTensor, options: { outputType?: 'image' | 'float'; signal?: AbortSignal } = {},
  ): Promise<{ images?: PixArtImage[]; tensor?: HostTensor; nonFinite: boolean }> {
    options = optionsArg('decodeLatents options', options);
    if (options.outputType === 'float') {
      const raw = await this.decodeLatentsRaw(latents, options.signal);
      return { tensor: toFloatNHWC(raw), nonFinite: !allFinite(raw.data) };
    }
    const vae = this.#need('vae', this.vae);
    const rgb = await vae.decodeToRgb(this.#scaledLatents(latents, options.signal));
    return { images: rgbToImages(rgb), nonFinite: rgb.nonFinite };
  }

  /** z = latents / scaling_factor, what diffusers' vae.decode takes (float32 division). */
  #scaledLatents(latents: HostTensor, signal?: AbortSignal): HostTensor {
    const vae = this.#need('vae', this.vae);
    checkTensor('latents', latents, 4);
    throwIfAborted(signal);
    return { data: divScalar(latents.data, Math.fround(vae.config.scalingFactor)), shape: latents.shape };
  }

  /** Frees one component (e.g. the T5 encoder once prompts are encoded). */
  unload(component: ComponentName): void {
    const c = this[component];
    if (c && this.#owned.has(component)) c.dispose();
    this[component] = null;
  }

  /** Frees every component this pipeline loaded itself. Safe to call twice. */
  dispose(): void {
    for (const c of ['textEncoder', 'transformer', 'vae'] as const) this.unload(c);
    if (this.tokenizer && this.#owned.has('tokenizer')) this.tokenizer.dispose?.();
    this.tokenizer = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  #need<T>(name: string, c: T | null): T {
    if (!c) throw new PixArtError('ERR_PIXART_MISSING_COMPONENT', `this pipeline has no ${name}; load it or pass it to fromPretrained`);
    return c;
  }
}

/** encode_prompt's settings with diffusers' defaults, checked. */
function encodeSettings(options: EncodePromptOptions) {
  return {
    n: checkPositiveInt('numImagesPerPrompt', options.numImagesPerPrompt ?? 1, 64),
    maxLength: checkPositiveInt('maxSequenceLength', options.maxSequenceLength ?? 120, 4096),
    cfg: options.doClassifierFreeGuidance ?? true,
    cleanCaption: options.cleanCaption ?? false,
  };
}

/** The negative prompt per prompt ('' by default, as diffusers), checked against the batch. */
function negativePrompts(neg: string | string[] | undefined, bs: number): string[] {
  const negs = typeof (neg ?? '') === 'string' ? new Array<string>(bs).fill((neg as string | undefined) ?? '') : checkPrompt('negativePrompt', neg)!;
  if (negs.length !== bs) throw invalid(`negativePrompt has ${negs.length} entries but there are ${bs} prompts`);
  return negs;
}

export { TorchGenerator };

/**
 * A scheduler passed as an object must be one (this package's classes, or anything with their
 * methods): otherwise generate() would fail mid-way with a TypeError instead of saying so.
 */
function checkScheduler(where: string, s: unknown): Scheduler {
  const o = s as Record<string, unknown> | null;
  const missing = ['clone', 'setTimesteps', 'step', 'scaleModelInput'].filter((m) => typeof o?.[m] !== 'function');
  if (typeof o !== 'object' || o === null || missing.length || typeof o.config !== 'object' || o.config === null) {
    throw invalid(`${where} must be a scheduler name (see SCHEDULER_NAMES) or a scheduler instance, got ${typeof o === 'object' && o !== null ? `an object without ${missing.length ? missing.join(', ') : 'config'}` : String(s)}`);
  }
  return o as unknown as Scheduler;
}
