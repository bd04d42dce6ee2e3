/**
 * The whole native surface, as one type. The TS classes hold these typed handles and never
 * see `any`. Keep in sync with native/addon/*.cpp (the only code that sees napi.h).
 */

/** A tensor copied into JS memory: contiguous, row-major float32. */
export interface HostTensor {
  data: Float32Array;
  shape: number[];
}

/**
 * A decoded image as 8-bit NHWC bytes made on the engine (diffusers' postprocess to 'pil':
 * clamp(x / 2 + 0.5, 0, 1) * 255 rounded half to even, in float32; NaN -> 0).
 */
export interface HostRgb8 {
  data: Uint8Array;
  /** [B, H, W, 3] */
  shape: number[];
  /** Whether the decoded image held NaN or +-Inf (converted anyway: NaN and -Inf -> 0, +Inf -> 255). */
  nonFinite: boolean;
}

/** Options of NativeAutoencoderKL.decode. */
export interface NativeDecodeOptions {
  /** diffusers' tiled decode (enable_tiling()). */
  tiled?: boolean;
  /** 'float' (default): the raw image as float32; 'rgb8': 8-bit RGB bytes made by the backend. */
  output?: 'float' | 'rgb8';
}

/**
 * A float32 tensor kept on the engine between calls (the latents, model output and scheduler
 * history of a denoising loop): made by Engine.uploadState / runStateProgram or a forward() with
 * `output: 'state'`; copying it into JS is explicit (read()). dispose() frees it (a call still
 * using it keeps its own reference).
 */
export interface NativeStateTensor {
  readonly shape: number[];
  readonly disposed: boolean;
  read(): Promise<Float32Array>;
  dispose(): void;
}

/**
 * An element-wise float32 program over state tensors of one shape (native/core/state_program.h):
 * per instruction `code` holds (op, dst, a, b) and `scalars` (c, d); ops 0 load, 1 store,
 * 2 scale, 3 add, 4 sub, 5 div, 6 clamp. Float32Array inputs are uploaded with the call.
 */
export interface NativeStateProgram {
  shape: number[];
  code: Int32Array;
  scalars: Float64Array;
  inputs: (NativeStateTensor | Float32Array)[];
  outputs: number;
}

export interface NativeT5Encoder {
  /** ids/mask: [batch*length] row-major. Resolves to last_hidden_state [batch, length, d_model]. */
  encode(ids: Int32Array, mask: Int32Array, batchLength: [number, number], options?: { output?: 'host' }): Promise<HostTensor>;
  /** The embeddings kept on the engine as a float32 state tensor [batch, length, d_model]. */
  encode(ids: Int32Array, mask: Int32Array, batchLength: [number, number], options: { output: 'state' }): Promise<NativeStateTensor>;
  dispose(): void;
  readonly disposed: boolean;
}

/** The text side of a transformer call: fixed through a denoising loop. */
export interface NativeDiTTextArgs {
  text: Float32Array;
  textShape: [number, number, number];
  textMask?: Float32Array;
  resolution?: Float32Array;
  aspectRatio?: Float32Array;
}

/**
 * A NativeDiTTextArgs prepared on the engine (caption projection run once, tensors kept on the
 * device): pass it as `conditioning` so each step only sends latents and timesteps.
 */
/** What a conditioning prepared with `recordSteps` did with its steps (native DiTStepRecording). */
export interface NativeStepStats {
  /** The current recording replays on the device (a CUDA graph); false where every step runs its ops (the CPU, or a capture that failed: see reason). */
  readonly recorded: boolean;
  /** Recordings made: one per latent shape and guidance (the first call of each runs plainly as a warm-up). */
  readonly recordings: number;
  /** forward() calls served by a recording. */
  readonly runs: number;
  /** forward() calls that ran the ops plainly (each recording's warm-up call). */
  readonly plain: number;
  /** Why the steps are not replayed on the device; '' when they are. */
  readonly reason: string;
}

export interface NativeDiTConditioning {
  /** Rows (the model batch: 2B with guidance). */
  readonly batch: number;
  readonly disposed: boolean;
  /** With `recordSteps`: what the recording did so far; null otherwise (or once disposed). */
  readonly stepStats: NativeStepStats | null;
  dispose(): void;
}

export type NativeDiTForwardArgs = {
  /** The B samples: in JS memory, or a state tensor of this engine (rounded to the compute dtype there). */
  latents: Float32Array | NativeStateTensor;
  latentShape: [number, number, number, number];
  /** Without guidance: keep only the first `channels` output channels (e.g. eps without the learned variance). */
  channels?: number;
  /** 'host' (default): the result comes back as a HostTensor; 'state': it stays on the engine as float32. */
  output?: 'host' | 'state';
  timesteps: Float32Array;
  /**
   * Classifier-free guidance on the engine: `latents` are the B samples, every other input the
   * model batch 2B ([uncond; cond] rows); resolves to eps = u + scale * (c - u) over the first
   * `epsChannels` output channels, [B, epsChannels, H, W]. Only that leaves the device.
   */
  guidance?: { scale: number; epsChannels: number };
} & (NativeDiTTextArgs | { conditioning: NativeDiTConditioning });

export type NativeConditioningArgs = Omit<NativeDiTTextArgs, 'text'> & {
  text: Float32Array | NativeStateTensor;
  /**
   * forward() calls with this conditioning record their step (model and guidance) at the second
   * call of a latent shape and guidance and replay the recording after: a CUDA graph on a GPU,
   * so the host launches the step's kernels once instead of every step. Results are unchanged.
   */
  recordSteps?: boolean;
};

export interface NativePixArtDiT {
  /** Resolves to the model output [B, out_channels, H, W] (eps and, if learned, variance channels), or with `guidance` the guided eps. */
  forward(args: NativeDiTForwardArgs & { output?: 'host' }): Promise<HostTensor>;
  /** The same result kept on the engine as a float32 state tensor. */
  forward(args: NativeDiTForwardArgs & { output: 'state' }): Promise<NativeStateTensor>;
  /**
   * Prepares the text side once for many forward() calls (rejects what forward() would); `text`
   * may be a state tensor of this engine (e.g. gathered from the text encoder's with gatherState).
   */
  prepareConditioning(args: NativeConditioningArgs): Promise<NativeDiTConditioning>;
  dispose(): void;
  readonly disposed: boolean;
}

export interface NativeAutoencoderKL {
  /** z = latents / scaling_factor, [B, C, h, w] -> raw decode [B, 3, 8h, 8w]. */
  decode(z: Float32Array | NativeStateTensor, shape: [number, number, number, number], options?: NativeDecodeOptions & { output?: 'float' }): Promise<HostTensor>;
  /** z = latents / scaling_factor, [B, C, h, w] -> the decode as 8-bit RGB [B, 8h, 8w, 3] (on a GPU made on the device). */
  decode(z: Float32Array | NativeStateTensor, shape: [number, number, number, number], options: NativeDecodeOptions & { output: 'rgb8' }): Promise<HostRgb8>;
  /** image in [-1, 1], [B, 3, H, W] -> moments [B, 2*C, H/8, W/8] (mean, logvar). */
  encode(x: Float32Array, shape: [number, number, number, number]): Promise<HostTensor>;
  dispose(): void;
  readonly disposed: boolean;
}

export interface NativeEngine {
  readonly device: string;
  readonly threads: number;
  /** `weights`: a specific weights file or index in the folder (e.g. a variant); default: the standard names. */
  /** `quantization`: weight-only quantisation of the linear weights at load ('int8' per channel, 'int4' per group of 64, 'int4-mixed' int4 with the most sensitive linears in int8). */
  loadT5(folder: string, weights?: string, quantization?: 'none' | 'int8' | 'int4' | 'int4-mixed'): Promise<NativeT5Encoder>;
  loadDiT(folder: string, weights?: string): Promise<NativePixArtDiT>;
  /** Returns the backend's cached device memory (GPU pool) to the device, after queued work. */
  emptyCache(): Promise<void>;
  loadVAE(folder: string, weights?: string): Promise<NativeAutoencoderKL>;
  /** The backend's device memory now (read at once, not queued); null on the CPU backend. */
  memoryStats(): NativeMemoryStats | null;
  /** Starts a new peak (peakInUseBytes) at the current in-use figure. */
  resetPeakMemory(): void;
  /** A float32 state tensor made from `data` (numel(shape) values). */
  uploadState(data: Float32Array, shape: number[]): Promise<NativeStateTensor>;
  /** Runs a state program (one fused pass over its tensors); resolves to its `outputs` new tensors. */
  runStateProgram(program: NativeStateProgram): Promise<NativeStateTensor[]>;
  /**
   * Rows of state tensors (of this or another engine, e.g. the text encoder's) gathered into a new
   * state tensor on this engine: `rows` holds (part index, row index) pairs; device to device
   * between CUDA engines on one GPU.
   */
  gatherState(parts: NativeStateTensor[], rows: Int32Array): Promise<NativeStateTensor>;
  /** Jobs queued or running on this engine's thread. */
  pending(): number;
  dispose(): void;
}

export interface NativeMemoryStats {
  /** Bytes held by live tensors and weights (the engine's memory pool). */
  inUseBytes: number;
  /** High-water mark of inUseBytes since the engine was created or resetPeakMemory(). */
  peakInUseBytes: number;
  /** Bytes the pool has obtained from the device: in use plus cached free blocks (emptyCache() returns those). */
  reservedBytes: number;
  /** The whole device's free and total memory, every process included (from the driver). */
  deviceFreeBytes: number;
  deviceTotalBytes: number;
}

export interface CudaProbe {
  libraryFound: boolean;
  libraryPath: string;
  error: string;
  deviceCount: number;
  devices: string;
}

/** One graph input or output of an exported ONNX model; a string dim is a named dynamic axis. */
export interface NativeOnnxValue {
  name: string;
  dtype: 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int8' | 'int4' | 'uint8' | 'bool';
  shape: (number | string)[];
}

export interface NativeOnnxExportOptions {
  model: 'text_encoder' | 'transformer' | 'vae_decoder';
  /** The component's folder (config.json + safetensors). */
  folder: string;
  weights?: string;
  /** The .onnx file to write (external data goes beside it as `<out>.data`). */
  out: string;
  dtype?: 'float32' | 'float16' | 'bfloat16';
  quantization?: 'none' | 'int8' | 'int4' | 'int4-mixed';
  externalData?: 'auto' | 'always' | 'never';
}

export interface NativeOnnxExportSummary {
  model: 'text_encoder' | 'transformer' | 'vae_decoder';
  dtype: 'float32' | 'float16' | 'bfloat16';
  quantization: 'none' | 'int8' | 'int4' | 'int4-mixed';
  inputs: NativeOnnxValue[];
  outputs: NativeOnnxValue[];
  nodes: number;
  initializers: number;
  opset: number;
  modelBytes: number;
  dataBytes: number;
  /** File name of the external data beside the model; '' when the weights are inline. */
  dataFile: string;
}

export interface NativeAddon {
  /** ONNX export of one component from the engine's own model code (runs off the event loop); cancel() stops it at its next step (ERR_PIXART_CANCELLED, no file left). */
  exportOnnx(options: NativeOnnxExportOptions): { promise: Promise<NativeOnnxExportSummary>; cancel(): void };
  Engine: new (options: { device: string; threads?: number; dtype?: 'float16' | 'bfloat16' | 'float32'; allowTf32?: boolean }) => NativeEngine;
  probeCuda(libraryDir?: string): CudaProbe;
  abiVersion: number;
}
