import { PixArtError } from '../errors.js';
import type { HostTensor } from '../native/AddonTypes.js';
import type { GenerateOptions } from './types.js';

/** Every argument check runs here, before any native work starts. One message format. */
export function invalid(message: string): PixArtError {
  return new PixArtError('ERR_PIXART_INVALID_ARGUMENT', message);
}

export function checkPositiveInt(name: string, v: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalid(`${name} must be an integer between 1 and ${max}, got ${String(v)}`);
  }
  return v;
}

export function checkFinite(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${name} must be a finite number, got ${String(v)}`);
  return v;
}

export function checkTensor(name: string, t: unknown, rank: number): HostTensor {
  const x = t as HostTensor;
  if (!x || !(x.data instanceof Float32Array) || !Array.isArray(x.shape) || x.shape.length !== rank) {
    throw invalid(`${name} must be { data: Float32Array, shape: number[${rank}] }`);
  }
  const n = x.shape.reduce((a, b) => a * b, 1);
  if (!x.shape.every((d) => Number.isInteger(d) && d > 0) || n !== x.data.length) {
    throw invalid(`${name}: shape [${x.shape.join(', ')}] does not match ${x.data.length} values`);
  }
  for (let i = 0; i < x.data.length; i++) {
    if (!Number.isFinite(x.data[i])) throw invalid(`${name} contains NaN or Infinity at index ${i}`);
  }
  return x;
}

export function checkPrompt(name: string, p: unknown): string[] | undefined {
  if (p === undefined || p === null) return undefined;
  if (typeof p === 'string') return [p];
  if (Array.isArray(p) && p.length > 0 && p.every((s) => typeof s === 'string')) return p as string[];
  throw invalid(`${name} must be a string or a non-empty array of strings`);
}

/** Embeddings/mask pairs given directly must agree with each other. */
export function checkEmbeds(opts: GenerateOptions): void {
  if (opts.prompt !== undefined && opts.promptEmbeds !== undefined) {
    throw invalid('pass either prompt or promptEmbeds, not both');
  }
  if (opts.prompt === undefined && opts.promptEmbeds === undefined) throw invalid('pass prompt or promptEmbeds');
  if (opts.prompt !== undefined && opts.negativePromptEmbeds !== undefined) {
    throw invalid('pass either prompt or negativePromptEmbeds, not both');
  }
  if (opts.negativePrompt !== undefined && opts.negativePromptEmbeds !== undefined) {
    throw invalid('pass either negativePrompt or negativePromptEmbeds, not both');
  }
  const pairs: [string, HostTensor | undefined, string, HostTensor | undefined][] = [
    ['promptEmbeds', opts.promptEmbeds, 'promptAttentionMask', opts.promptAttentionMask],
    ['negativePromptEmbeds', opts.negativePromptEmbeds, 'negativePromptAttentionMask', opts.negativePromptAttentionMask],
  ];
  for (const [en, e, mn, m] of pairs) {
    if (e === undefined) continue;
    if (m === undefined) throw invalid(`${mn} is required with ${en}`);
    checkTensor(en, e, 3);
    checkTensor(mn, m, 2);
    if (m.shape[0] !== e.shape[0] || m.shape[1] !== e.shape[1]) {
      throw invalid(`${mn} shape [${m.shape.join(', ')}] does not match ${en} [${e.shape.join(', ')}]`);
    }
  }
  if (opts.promptEmbeds && opts.negativePromptEmbeds) {
    if (opts.promptEmbeds.shape.join() !== opts.negativePromptEmbeds.shape.join()) {
      throw invalid(`promptEmbeds [${opts.promptEmbeds.shape.join(', ')}] and negativePromptEmbeds [${opts.negativePromptEmbeds.shape.join(', ')}] must have the same shape`);
    }
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason ?? new PixArtError('ERR_PIXART_CANCELLED', 'the operation was aborted');
  }
}
