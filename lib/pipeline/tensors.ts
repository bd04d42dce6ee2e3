import type { HostTensor } from '../native/AddonTypes.js';
import type { T5Tokenizer } from '../text/T5Tokenizer.js';

/** Each row (leading index) repeated n times consecutively: diffusers' repeat(1, n, ...).view(B*n, ...). */
/** Whether every value is finite (no NaN, no +-Infinity). */
export function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

export function repeatRows(t: HostTensor, n: number): HostTensor {
  if (n === 1) return t;
  const [b, ...rest] = t.shape;
  const row = rest.reduce((a, c) => a * c, 1);
  const out = new Float32Array(b * n * row);
  for (let i = 0; i < b; i++)
    for (let j = 0; j < n; j++) out.set(t.data.subarray(i * row, (i + 1) * row), (i * n + j) * row);
  return { data: out, shape: [b * n, ...rest] };
}

/** Concatenation along the leading dim. */
export function concatRows(a: HostTensor, b: HostTensor): HostTensor {
  const out = new Float32Array(a.data.length + b.data.length);
  out.set(a.data, 0);
  out.set(b.data, a.data.length);
  return { data: out, shape: [a.shape[0] + b.shape[0], ...a.shape.slice(1)] };
}

/** Tokenizes to [B, maxLength] ids and mask, padded and truncated the way the pipeline asks. */
export function tokenizeBatch(tokenizer: T5Tokenizer, texts: string[], maxLength: number): { ids: Int32Array; mask: Int32Array } {
  const enc = tokenizer.encode(texts, { maxLength, padding: 'max_length', truncation: true, addSpecialTokens: true });
  const ids = new Int32Array(texts.length * maxLength);
  const mask = new Int32Array(texts.length * maxLength);
  for (let i = 0; i < texts.length; i++) {
    ids.set(enc.inputIds[i], i * maxLength);
    mask.set(enc.attentionMask[i], i * maxLength);
  }
  return { ids, mask };
}
