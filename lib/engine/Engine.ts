import { PixArtError } from '../errors.js';
import { callNative, loadAddon, nativeError } from '../native/binding.js';
import type { CudaProbe, NativeEngine, NativeMemoryStats } from '../native/AddonTypes.js';
import { optionsArg, show } from '../util/args.js';

export type MemoryStats = NativeMemoryStats;

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

export interface EngineOptions {
  /** 'cpu' (default) or 'cuda' / 'cuda:N'. */
  device?: Device;
  /** CPU threads (CPU device only). Default: all hardware threads. */
  threads?: number;
  /** GPU compute dtype (default 'float16'); the CPU backend is always float32. */
  dtype?: 'float16' | 'bfloat16' | 'float32';
  /** GPU float32 mode: allow TF32 GEMMs (faster, ~1e-3 relative error). Default false. */
  allowTf32?: boolean;
}

const DEVICE_RE = /^(cpu|cuda|cuda:\d+)$/;

/**
 * A compute engine: one backend (CPU, or a GPU loaded at run time) and the engine thread its
 * jobs run on. Jobs on one engine run one at a time, in order, off the event loop; models
 * loaded from the same engine share it. `Engine.shared()` gives the process-wide engine for a
 * device, which is what pipelines use unless given one.
 */
export class Engine {
  readonly native: NativeEngine;
  readonly device: Device;
  /** The compute dtype: always 'float32' on the CPU; on a GPU the one asked for (default 'float16'). */
  readonly dtype: 'float16' | 'bfloat16' | 'float32';
  #disposed = false;
  static #shared = new Map<string, Engine>();

  private constructor(native: NativeEngine, device: Device, dtype: 'float16' | 'bfloat16' | 'float32') {
    this.native = native;
    this.device = device;
    this.dtype = dtype;
  }

  static create(options: EngineOptions = {}): Engine {
    options = optionsArg('Engine.create options', options);
    const device = options.device ?? 'cpu';
    if (typeof device !== 'string' || !DEVICE_RE.test(device)) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `device must be 'cpu', 'cuda' or 'cuda:N', got ${show(device)}`);
    }
    const threads = options.threads ?? 0;
    if (!Number.isInteger(threads) || threads < 0 || threads > 1024) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `threads must be an integer between 0 and 1024, got ${show(threads)}`);
    }
    if (options.dtype !== undefined && !['float16', 'bfloat16', 'float32'].includes(options.dtype)) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `dtype must be 'float16', 'bfloat16' or 'float32', got ${show(options.dtype)}`);
    }
    const addon = loadAddon();
    try {
      const native = new addon.Engine({ device, threads, dtype: options.dtype, allowTf32: options.allowTf32 });
      return new Engine(native, device, device === 'cpu' ? 'float32' : options.dtype ?? 'float16');
    } catch (e) {
      const err = e as { code?: string; message?: string };
      throw new PixArtError(err.code ?? 'ERR_PIXART_INTERNAL', err.message ?? String(e), { cause: e });
    }
  }

  /** The process-wide engine for these options (created on first use). */
  static shared(options: EngineOptions = {}): Engine {
    options = optionsArg('Engine.shared options', options);
    // Options that mean the same engine give the same key (the GPU dtype defaults to float16; the CPU is always float32).
    const device = options.device ?? 'cpu';
    const dtype = device === 'cpu' ? 'float32' : options.dtype ?? 'float16';
    const key = `${device}/${options.threads ?? 0}/${dtype}/${options.allowTf32 ?? false}`;
    let e = Engine.#shared.get(key);
    if (!e || e.#disposed) {
      e = Engine.create(options);
      Engine.#shared.set(key, e);
    }
    return e;
  }

  /** What the CUDA backend library reports on this machine (never throws for a missing GPU). */
  static probeCuda(): CudaProbe {
    return loadAddon().probeCuda();
  }

  get threads(): number {
    return this.native.threads;
  }

  /** Jobs queued or running. */
  get pending(): number {
    return this.#disposed ? 0 : this.native.pending();
  }

  /**
   * Returns the memory the engine keeps cached for reuse (the GPU pool's freed blocks) to the
   * device, once the work queued before it has run. A no-op on the CPU.
   */
  async emptyCache(): Promise<void> {
    this.assertLive();
    await callNative(() => this.native.emptyCache(), 'emptyCache');
  }

  /**
   * Device memory of a GPU engine, read at once (not queued behind running jobs): bytes in use by
   * tensors and weights, their peak, bytes reserved by the pool, and the device's free/total.
   * null on the CPU (tensors live in host memory).
   */
  memoryStats(): MemoryStats | null {
    this.assertLive();
    try {
      return this.native.memoryStats();
    } catch (e) {
      throw nativeError(e, 'memoryStats');
    }
  }

  /** Starts a new peak (memoryStats().peakInUseBytes) at the current in-use figure. */
  resetPeakMemory(): void {
    this.assertLive();
    this.native.resetPeakMemory();
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Stops the engine thread after its queued jobs. Safe to call twice. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.native.dispose();
  }

  assertLive(): void {
    if (this.#disposed) throw new PixArtError('ERR_PIXART_DISPOSED', 'this engine was disposed');
  }
}
