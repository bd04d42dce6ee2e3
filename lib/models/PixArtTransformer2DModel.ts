import type { Engine } from '../engine/Engine.js';
import { callNative } from '../native/binding.js';
import type {
  HostTensor, NativeConditioningArgs, NativeDiTConditioning, NativeDiTForwardArgs, NativePixArtDiT, NativeStateTensor,
} from '../native/AddonTypes.js';
import { Component, engineFor, weightsFor, type ComponentLoadOptions } from './Component.js';
import { readDiTConfig, type DiTConfig } from './configs.js';
import { optionsArg, stringArg } from '../util/args.js';

/** diffusers' PixArtTransformer2DModel (also loads legacy Transformer2DModel configs). */
export class PixArtTransformer2DModel extends Component<NativePixArtDiT> {
  readonly config: DiTConfig;

  private constructor(engine: Engine, handle: NativePixArtDiT, folder: string, config: DiTConfig) {
    super(engine, handle, folder);
    this.config = config;
  }

  /** `folder` is a transformer/ directory. */
  static async fromPretrained(folder: string, options: ComponentLoadOptions = {}): Promise<PixArtTransformer2DModel> {
    stringArg('PixArtTransformer2DModel.fromPretrained folder', folder);
    options = optionsArg('PixArtTransformer2DModel.fromPretrained options', options);
    const config = await readDiTConfig(folder);
    const engine = engineFor(options);
    const handle = await callNative(() => engine.native.loadDiT(folder, weightsFor(folder, options.variant)), `loading the transformer from ${folder}`);
    return new PixArtTransformer2DModel(engine, handle, folder, config);
  }

  /** One forward pass; resolves to [B, out_channels, H, W] (with `guidance`, the guided eps). */
  async forward(args: NativeDiTForwardArgs & { output?: 'host' }): Promise<HostTensor> {
    const h = this.live('PixArtTransformer2DModel.forward');
    return callNative(() => h.forward(args), 'transformer');
  }

  /** forward() with the result kept on the engine as a float32 state tensor (latents may be one too). */
  async forwardToState(args: NativeDiTForwardArgs): Promise<NativeStateTensor> {
    const h = this.live('PixArtTransformer2DModel.forwardToState');
    return callNative(() => h.forward({ ...args, output: 'state' }), 'transformer');
  }

  /**
   * The text side (embeddings, mask, size conditions) prepared once on the engine, caption
   * projection included; pass it to forward() as `conditioning` for every step of a loop, then
   * dispose() it. With `recordSteps` the loop's step is recorded and replayed (a CUDA graph on a
   * GPU; `stepStats` says what happened).
   */
  async prepareConditioning(args: NativeConditioningArgs): Promise<NativeDiTConditioning> {
    const h = this.live('PixArtTransformer2DModel.prepareConditioning');
    return callNative(() => h.prepareConditioning(args), 'transformer conditioning');
  }
}
