import { PixArtError } from '../errors.js';
import type { Engine } from '../engine/Engine.js';
import { callNative } from '../native/binding.js';
import type { HostTensor, NativeT5Encoder } from '../native/AddonTypes.js';
import { Component, engineFor, weightsFor, type ComponentLoadOptions } from './Component.js';
import { readT5Config, type T5Config } from './configs.js';

/** transformers' T5EncoderModel (T5 v1.1): token ids + mask -> last_hidden_state. */
export class T5EncoderModel extends Component<NativeT5Encoder> {
  readonly config: T5Config;

  private constructor(engine: Engine, handle: NativeT5Encoder, folder: string, config: T5Config) {
    super(engine, handle, folder);
    this.config = config;
  }

  /** `folder` is a text_encoder/ directory: config.json plus (sharded) safetensors. */
  static async fromPretrained(folder: string, options: ComponentLoadOptions = {}): Promise<T5EncoderModel> {
    const config = await readT5Config(folder);
    const engine = engineFor(options);
    const handle = await callNative(() => engine.native.loadT5(folder, weightsFor(folder, options.variant)), `loading the text encoder from ${folder}`);
    return new T5EncoderModel(engine, handle, folder, config);
  }

  /** ids and mask are [batch, length] row-major; returns [batch, length, d_model]. */
  async encode(ids: Int32Array, mask: Int32Array, batch: number, length: number): Promise<HostTensor> {
    if (ids.length !== batch * length || mask.length !== batch * length) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `ids and mask must hold batch*length = ${batch * length} values`);
    }
    const h = this.live('T5EncoderModel.encode');
    return callNative(() => h.encode(ids, mask, [batch, length]), 'text encoder');
  }
}
