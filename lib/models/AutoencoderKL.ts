import { PixArtError } from '../errors.js';
import { Engine } from '../engine/Engine.js';
import { callNative } from '../native/binding.js';
import type { HostRgb8, HostTensor, NativeAutoencoderKL, NativeStateTensor } from '../native/AddonTypes.js';
import { allFinite } from '../pipeline/tensors.js';
import { Component, engineFor, weightsFor, type ComponentLoadOptions } from './Component.js';
import { readVAEConfig, type VAEConfig } from './configs.js';
import { optionsArg, show, stringArg } from '../util/args.js';

export interface LatentDistribution {
  mean: HostTensor;
  /** clamped to [-30, 20] as diffusers does */
  logvar: HostTensor;
  std: HostTensor;
}

/** Latents that live on the engine (a float32 state tensor of the VAE's engine) with their shape. */
export interface EngineLatents {
  state: NativeStateTensor;
  shape: number[];
}

/** z is a host tensor or engine latents with a [B, C, H, W] shape (the engine checks the rest). */
function checkLatents(what: string, z: unknown): void {
  const t = z as Partial<HostTensor & EngineLatents> | null;
  const ok = typeof t === 'object' && t !== null && Array.isArray(t.shape) && t.shape.length === 4
    && (t.data instanceof Float32Array || (typeof t.state === 'object' && t.state !== null));
  if (!ok) throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `${what}: z must be { data: Float32Array, shape: [B, C, H, W] } or engine latents, got ${show(z)}`);
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
    stringArg('AutoencoderKL.fromPretrained folder', folder);
    options = optionsArg('AutoencoderKL.fromPretrained options', options);
    const config = await readVAEConfig(folder);
    const engine = engineFor(options);
    const handle = await callNative(() => engine.native.loadVAE(folder, weightsFor(folder, options.variant)), `loading the VAE from ${folder}`);
    return new AutoencoderKL(engine, handle, folder, config);
  }

  /**
   * Tiled decoding (diffusers' enable_tiling()): latents larger than one tile (config
   * sample_size / 8 latents) are decoded in overlapping tiles blended together, so memory
   * follows the tile size rather than the image size. Off by default, as in diffusers.
   */
  useTiling = false;
  enableTiling(): void {
    this.useTiling = true;
  }
  disableTiling(): void {
    this.useTiling = false;
  }

  /**
   * z = latents / scaling_factor (what diffusers' vae.decode takes) -> raw image [B, 3, H, W], unclamped.
   * On a float16 GPU engine an overflow (NaN/Inf in the image) is not returned: the decode is
   * redone once on a bfloat16 engine on the same device (same range as float32), and
   * `onPrecisionFallback` (if set) is told.
   */
  async decode(z: HostTensor | EngineLatents): Promise<HostTensor> {
    checkLatents('AutoencoderKL.decode', z);
    const shape = z.shape as [number, number, number, number];
    return this.#withFallback(
      'AutoencoderKL.decode', z, (h, zz) => h.decode(zz, shape, { tiled: this.useTiling }), (out) => allFinite(out.data),
    );
  }

  /**
   * decode() then diffusers' postprocess to 8-bit RGB, done by the engine: on a GPU the image is
   * converted on the device and only the bytes [B, H, W, 3] come back (a quarter of decode()'s
   * floats). The bytes are the ones toImages(toFloatNHWC(decode(z))) gives, and the same
   * float16 overflow fallback applies. `nonFinite` says the image returned still held NaN/Inf.
   */
  async decodeToRgb(z: HostTensor | EngineLatents): Promise<HostRgb8> {
    checkLatents('AutoencoderKL.decodeToRgb', z);
    const shape = z.shape as [number, number, number, number];
    return this.#withFallback(
      'AutoencoderKL.decodeToRgb', z, (h, zz) => h.decode(zz, shape, { tiled: this.useTiling, output: 'rgb8' }), (out) => !out.nonFinite,
    );
  }

  /**
   * Runs a decode; on a float16 engine a non-finite result is redone once on a bfloat16 engine
   * (engine-resident latents are read back for it: they belong to this engine).
   */
  async #withFallback<T>(
    what: string, z: HostTensor | EngineLatents, run: (h: NativeAutoencoderKL, z: Float32Array | NativeStateTensor) => Promise<T>,
    finite: (out: T) => boolean,
  ): Promise<T> {
    const h = this.live(what);
    const out = await callNative(() => run(h, 'state' in z ? z.state : z.data), 'VAE decode');
    if (this.engine.dtype !== 'float16' || finite(out)) return out;
    this.onPrecisionFallback?.({ from: 'float16', to: 'bfloat16' });
    const data = 'state' in z ? await callNative(() => z.state.read(), 'reading the latents') : z.data;
    const wide = await AutoencoderKL.fromPretrained(this.folder, { engine: Engine.shared({ device: this.engine.device, dtype: 'bfloat16' }) });
    try {
      return await callNative(() => run(wide.live(what), data), 'VAE decode (bfloat16)');
    } finally {
      wide.dispose();
    }
  }

  /** Called when a float16 decode overflowed and was redone in bfloat16. */
  onPrecisionFallback?: (e: { from: 'float16'; to: 'bfloat16' }) => void;

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
