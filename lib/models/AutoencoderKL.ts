import type { Engine } from '../engine/Engine.js';
import { callNative } from '../native/binding.js';
import type { HostTensor, NativeAutoencoderKL } from '../native/AddonTypes.js';
import { Component, engineFor, weightsFor, type ComponentLoadOptions } from './Component.js';
import { readVAEConfig, type VAEConfig } from './configs.js';

export interface LatentDistribution {
  mean: HostTensor;
  /** clamped to [-30, 20] as diffusers does */
  logvar: HostTensor;
  std: HostTensor;
}

/** diffusers' AutoencoderKL: decode latents to images, encode images to a latent distribution. */
export class AutoencoderKL extends Component<NativeAutoencoderKL> {
  readonly config: VAEConfig;

  private constructor(engine: Engine, handle: NativeAutoencoderKL, folder: string, config: VAEConfig) {
    super(engine, handle, folder);
    this.config = config;
  }

  /** `folder` is a vae/ directory. */
  static async fromPretrained(folder: string, options: ComponentLoadOptions = {}): Promise<AutoencoderKL> {
    const config = await readVAEConfig(folder);
    const engine = engineFor(options);
    const handle = await callNative(() => engine.native.loadVAE(folder, weightsFor(folder, options.variant)), `loading the VAE from ${folder}`);
    return new AutoencoderKL(engine, handle, folder, config);
  }

  /** z = latents / scaling_factor (what diffusers' vae.decode takes) -> raw image [B, 3, H, W], unclamped. */
  async decode(z: HostTensor): Promise<HostTensor> {
    const h = this.live('AutoencoderKL.decode');
    return callNative(() => h.decode(z.data, z.shape as [number, number, number, number]), 'VAE decode');
  }

  /** image in [-1, 1], [B, 3, H, W] -> the diagonal Gaussian the encoder predicts. */
  async encode(image: HostTensor): Promise<LatentDistribution> {
    const h = this.live('AutoencoderKL.encode');
    const moments = await callNative(() => h.encode(image.data, image.shape as [number, number, number, number]), 'VAE encode');
    const [b, c2, hh, ww] = moments.shape;
    const c = c2 / 2, plane = c * hh * ww;
    const shape = [b, c, hh, ww];
    const mean = new Float32Array(b * plane), logvar = new Float32Array(b * plane), std = new Float32Array(b * plane);
    for (let i = 0; i < b; i++) {
      mean.set(moments.data.subarray(i * 2 * plane, i * 2 * plane + plane), i * plane);
      for (let j = 0; j < plane; j++) {
        const lv = Math.min(Math.max(moments.data[i * 2 * plane + plane + j], -30), 20);
        logvar[i * plane + j] = lv;
        std[i * plane + j] = Math.exp(0.5 * lv);
      }
    }
    return { mean: { data: mean, shape }, logvar: { data: logvar, shape: [...shape] }, std: { data: std, shape: [...shape] } };
  }
}
