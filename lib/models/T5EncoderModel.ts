import { PixArtError } from '../errors.js';
import type { Engine } from '../engine/Engine.js';
import { callNative } from '../native/binding.js';
import type { HostTensor, NativeStateTensor, NativeT5Encoder } from '../native/AddonTypes.js';
import { Component, engineFor, weightsFor, type ComponentLoadOptions } from './Component.js';
import { readT5Config, type T5Config } from './configs.js';
import { checkPositiveInt } from '../pipeline/validate.js';
import { optionsArg, show, stringArg } from '../util/args.js';

export type T5Quantization = 'none' | 'int8' | 'int4' | 'int4-mixed';
export const T5_QUANTIZATIONS: readonly T5Quantization[] = ['none', 'int8', 'int4', 'int4-mixed'];

export interface T5LoadOptions extends ComponentLoadOptions {
  /** Weight-only quantisation of the linear weights at load time (default 'none'). */
  quantization?: T5Quantization;
}

/** transformers' T5EncoderModel (T5 v1.1): token ids + mask -> last_hidden_state. */
export class T5EncoderModel extends Component<NativeT5Encoder> {
  readonly config: T5Config;
  /** The weight-only quantisation the linear weights were loaded with. */
  readonly quantization: T5Quantization;

  private constructor(engine: Engine, handle: NativeT5Encoder, folder: string, config: T5Config, quantization: T5Quantization) {
    super(engine, handle, folder);
    this.config = config;
    this.quantization = quantization;
  }

  /**
   * `folder` is a text_encoder/ directory: config.json plus (sharded) safetensors.
   * `quantization` quantises the blocks' linear weights at load: 'int8' (per output channel,
   * about half the memory of bf16), 'int4' (groups of 64 inputs, about a third) or 'int4-mixed'
   * (int4 with the linears where 4-bit rounding costs most kept in int8: v and o everywhere, the
   * first blocks; T5-XXL in 3.9 GB instead of 2.9, random-weight cosine vs float32 0.993 instead
   * of 0.91; see t5_linear_quant in native/models/t5/t5_encoder.h). On a CUDA
   * engine in float16/bfloat16 the packed weights are read by the GEMM kernel directly; on the
   * CPU (float32) the quantised values are stored densely, so results match the GPU's.
   */
  static async fromPretrained(folder: string, options: T5LoadOptions = {}): Promise<T5EncoderModel> {
    stringArg('T5EncoderModel.fromPretrained folder', folder);
    options = optionsArg('T5EncoderModel.fromPretrained options', options);
    const quantization = options.quantization ?? 'none';
    if (!T5_QUANTIZATIONS.includes(quantization)) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `quantization must be one of ${T5_QUANTIZATIONS.join(', ')}, got ${String(quantization)}`);
    }
    const config = await readT5Config(folder);
    // T5 overflows in float16: on a GPU its shared engine is bfloat16 unless a dtype is given.
    const engine = engineFor(options, 'bfloat16');
    const handle = await callNative(() => engine.native.loadT5(folder, weightsFor(folder, options.variant), quantization), `loading the text encoder from ${folder}`);
    return new T5EncoderModel(engine, handle, folder, config, quantization);
  }

  /** ids and mask are [batch, length] row-major; returns [batch, length, d_model]. */
  async encode(ids: Int32Array, mask: Int32Array, batch: number, length: number): Promise<HostTensor> {
    checkTokens(ids, mask, batch, length);
    const h = this.live('T5EncoderModel.encode');
    return callNative(() => h.encode(ids, mask, [batch, length]), 'text encoder');
  }

  /** encode() with the embeddings kept on the engine as a float32 state tensor [batch, length, d_model]. */
  async encodeToState(ids: Int32Array, mask: Int32Array, batch: number, length: number): Promise<NativeStateTensor> {
    checkTokens(ids, mask, batch, length);
    const h = this.live('T5EncoderModel.encodeToState');
    return callNative(() => h.encode(ids, mask, [batch, length], { output: 'state' }), 'text encoder');
  }
}

function checkTokens(ids: Int32Array, mask: Int32Array, batch: number, length: number): void {
  if (!(ids instanceof Int32Array) || !(mask instanceof Int32Array)) {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `ids and mask must be Int32Arrays, got ${show(ids)} and ${show(mask)}`);
  }
  checkPositiveInt('batch', batch);
  checkPositiveInt('length', length);
  if (ids.length !== batch * length || mask.length !== batch * length) {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `ids and mask must hold batch*length = ${batch * length} values`);
  }
}
