import type { HostTensor } from '../native/AddonTypes.js';
import type { TorchGenerator } from '../random/TorchGenerator.js';
import type { Scheduler } from '../schedulers/types.js';
import type { PixArtImage } from './images.js';

export type { HostTensor };

/** Prompt embeddings and masks, as diffusers' encode_prompt returns them. */
export interface PromptEmbeddings {
  /** [B*numImagesPerPrompt, L, D] */
  promptEmbeds: HostTensor;
  /** [B*numImagesPerPrompt, L], 0/1 */
  promptAttentionMask: HostTensor;
  /** null when classifier-free guidance is off */
  negativePromptEmbeds: HostTensor | null;
  negativePromptAttentionMask: HostTensor | null;
}

export interface EncodePromptOptions {
  negativePrompt?: string | string[];
  doClassifierFreeGuidance?: boolean;
  numImagesPerPrompt?: number;
  cleanCaption?: boolean;
  maxSequenceLength?: number;
  /** Pre-computed embeddings are passed through (repeated per image), as diffusers does. */
  promptEmbeds?: HostTensor;
  promptAttentionMask?: HostTensor;
  negativePromptEmbeds?: HostTensor;
  negativePromptAttentionMask?: HostTensor;
  signal?: AbortSignal;
}

export type OutputType = 'image' | 'float' | 'latent';

export interface StepInfo {
  /** diffusers' step_idx: i // scheduler.order */
  step: number;
  /** loop iteration i (Heun/KDPM2 iterate 2n-1 times) */
  iteration: number;
  totalSteps: number;
  timestep: number;
  /** the latents after this step (a copy) */
  latents: HostTensor;
}

export interface GenerateOptions {
  prompt?: string | string[];
  negativePrompt?: string | string[];
  numInferenceSteps?: number;
  timesteps?: number[];
  sigmas?: number[];
  guidanceScale?: number;
  numImagesPerPrompt?: number;
  height?: number;
  width?: number;
  eta?: number;
  /** The same as torch.Generator().manual_seed(seed) in the Python pipeline. */
  seed?: number | bigint;
  /** A generator or one per image (diffusers' list of generators). Mutually exclusive with seed. */
  generator?: TorchGenerator | TorchGenerator[];
  /** Initial latents [B*numImagesPerPrompt, C, H/8, W/8], unscaled (the scheduler's init sigma is applied). */
  latents?: HostTensor;
  promptEmbeds?: HostTensor;
  promptAttentionMask?: HostTensor;
  negativePromptEmbeds?: HostTensor;
  negativePromptAttentionMask?: HostTensor;
  outputType?: OutputType;
  cleanCaption?: boolean;
  useResolutionBinning?: boolean;
  maxSequenceLength?: number;
  /** A scheduler instance or a name (see SCHEDULER_NAMES) built from the model's scheduler config. */
  scheduler?: Scheduler | string;
  /** Called after each step with a copy of the latents; may be async (awaited). */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /**
   * diffusers' callback_steps: onStep runs only at loop iterations i with i % callbackSteps == 0
   * (default 1: every step). With the latents on the engine, steps without a callback never wait
   * for the device.
   */
  callbackSteps?: number;
  signal?: AbortSignal;
}

export interface GenerateResult {
  /** outputType 'image' */
  images?: PixArtImage[];
  /** outputType 'float': NHWC in [0, 1] (diffusers' 'np'); 'latent': the final latents */
  tensor?: HostTensor;
  /** the size actually generated (after resolution binning) */
  generatedHeight: number;
  generatedWidth: number;
  /**
   * The output held NaN or Infinity before it was converted (the decoded image, or the latents
   * for outputType 'latent'): the denoising diverged, e.g. under an extreme beta schedule, or a
   * float16 decode overflowed and its bfloat16 retry did too. The values are returned as
   * diffusers returns them (NaN pixels become 0 in 8-bit images); this says they are not an image.
   */
  nonFinite: boolean;
}
