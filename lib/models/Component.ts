import { PixArtError } from '../errors.js';
import { Engine, type EngineOptions } from '../engine/Engine.js';
import { findWeights } from '../hub/select.js';

export interface ComponentLoadOptions extends EngineOptions {
  /** Run on this engine instead of the shared one for `device`. */
  engine?: Engine;
  /** diffusers' weights variant, e.g. 'fp16' (diffusion_pytorch_model.fp16.safetensors). */
  variant?: string;
}

/** The weights file the engine should load for `variant` (undefined: the standard names). */
export function weightsFor(folder: string, variant: string | undefined): string | undefined {
  if (!variant) return undefined;
  const w = findWeights(folder, variant);
  if (!w) throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${folder}: no safetensors weights for variant "${variant}" (or the standard names)`);
  return w;
}

interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
}

/**
 * What the three model classes share: the engine they run on, their native handle, and an
 * idempotent dispose(). A call still running when dispose() is called finishes; its native
 * side holds its own reference to the weights.
 */
export abstract class Component<N extends Disposable> {
  readonly engine: Engine;
  protected readonly handle: N;
  readonly folder: string;

  protected constructor(engine: Engine, handle: N, folder: string) {
    this.engine = engine;
    this.handle = handle;
    this.folder = folder;
  }

  get disposed(): boolean {
    return this.handle.disposed;
  }

  protected live(what: string): N {
    if (this.handle.disposed) throw new PixArtError('ERR_PIXART_DISPOSED', `${what}: this model was disposed`);
    return this.handle;
  }

  dispose(): void {
    if (!this.handle.disposed) this.handle.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/**
 * options.engine, or the shared engine for the options' device, threads, dtype and allowTf32
 * (dtype, where not given, is `defaultDtype`, else the engine's default: float16 on a GPU).
 */
export function engineFor(options: ComponentLoadOptions, defaultDtype?: EngineOptions['dtype']): Engine {
  if (options.engine) {
    options.engine.assertLive();
    return options.engine;
  }
  return Engine.shared({ device: options.device, threads: options.threads, dtype: options.dtype ?? defaultDtype, allowTf32: options.allowTf32 });
}
