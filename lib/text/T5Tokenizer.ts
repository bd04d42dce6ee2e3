/**
 * T5 tokenizer matching transformers' `T5Tokenizer` (transformers 5.x, the `tokenizers`
 * backend converted from `spiece.model`; also the 4.x slow tokenizer except where noted).
 *
 * Pipeline for one text, as transformers does it:
 * 1. The text is split on added/special tokens (`<pad>`, `</s>`, `<unk>`, `<extra_id_N>`, any
 *    additional special tokens), matched literally, leftmost-longest. Those become their ids.
 * 2. Every other segment is tokenized with the SentencePiece unigram model (Google's
 *    SentencePiece compiled to WASM, `@sctg/sentencepiece-js`). transformers 5 normalizes
 *    with the model's charsmap and then splits on Unicode whitespace (Rust
 *    `char::is_whitespace`); SentencePiece only splits on U+0020 after the same
 *    normalization. A sweep of every code point c over "a" + c + "b" shows the two differ
 *    only for U+0085 (NEL), which the charsmap keeps and SentencePiece then treats as an
 *    unknown character, so U+0085 is turned into a space first.
 * 3. `</s>` is appended (`addSpecialTokens`), after truncating to `maxLength - 1` tokens.
 *    Like transformers 5 (and unlike the 4.x slow tokenizer), `</s>` is appended even when
 *    the text already ends with a literal `</s>`.
 * 4. Padding with `<pad>` (id 0) on the right; attention mask 1 for tokens, 0 for padding.
 *
 * Lone UTF-16 surrogates (which Python cannot even pass to the tokenizer) are replaced by
 * U+FFFD before tokenization.
 *
 * Known divergence: when two segmentations of a word have the same unigram score (in
 * practice: runs of one repeated character such as "zzz", "????", "!!!!!!", "#99999999"),
 * the winner depends on floating-point rounding inside each implementation. This WASM
 * SentencePiece, Python's sentencepiece 0.2.2 (transformers 4.x slow tokenizer) and the
 * `tokenizers` library (transformers 5) each break such ties their own way; here the WASM
 * SentencePiece result is used. On 30,000 random concatenations of vocabulary pieces the
 * ids equal transformers 5's exactly; on runs of 2-15 repeated characters about 10% differ
 * (transformers 4.x vs 5 differ on about 5% of those).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SentencePieceProcessor } from '@sctg/sentencepiece-js';
import { PixArtError } from '../errors.js';
import { readSentencePieceVocab, type SentencePieceEntry } from './spieceModel.js';
import { toWellFormed } from './pyCompat.js';

export type PaddingStrategy = 'max_length' | 'longest' | 'none';

export interface T5EncodeOptions {
  /** Maximum sequence length including `</s>` (default 120, PixArt's max_sequence_length). */
  maxLength?: number;
  /** Truncate to `maxLength` (default true). */
  truncation?: boolean;
  /** 'max_length' (default, as the pipeline does): pad every row to `maxLength`; 'longest': to the longest row; 'none': no padding. */
  padding?: PaddingStrategy;
  /** Append `</s>` (default true). */
  addSpecialTokens?: boolean;
}

/**
 * Result of {@link T5Tokenizer.encode}: one row per input text. With padding 'max_length'
 * (and truncation) or 'longest', every row has the same length; see {@link flattenEncoding}
 * for a contiguous `[batch * seqLength]` layout.
 */
export interface T5BatchEncoding {
  /** Token ids per row (padded with the pad id). */
  inputIds: Int32Array[];
  /** 1 for real tokens (including `</s>`), 0 for padding. */
  attentionMask: Uint8Array[];
  /** Token count before truncation (including `</s>` when `addSpecialTokens`). */
  numTokensUntruncated: number[];
  /** Whether the row was truncated. */
  truncated: boolean[];
}

/** Row-major `[batchSize, seqLength]` view of a batch whose rows all have the same length. */
export interface FlatT5Encoding {
  inputIds: Int32Array;
  attentionMask: Uint8Array;
  batchSize: number;
  seqLength: number;
}

/** Copies equal-length rows into contiguous `[batchSize * seqLength]` arrays. */
export function flattenEncoding(enc: T5BatchEncoding): FlatT5Encoding {
  const batchSize = enc.inputIds.length;
  const seqLength = batchSize > 0 ? enc.inputIds[0].length : 0;
  const inputIds = new Int32Array(batchSize * seqLength);
  const attentionMask = new Uint8Array(batchSize * seqLength);
  for (let b = 0; b < batchSize; b++) {
    if (enc.inputIds[b].length !== seqLength || enc.attentionMask[b].length !== seqLength) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', 'flattenEncoding: rows have different lengths (use padding "max_length" or "longest")');
    }
    inputIds.set(enc.inputIds[b], b * seqLength);
    attentionMask.set(enc.attentionMask[b], b * seqLength);
  }
  return { inputIds, attentionMask, batchSize, seqLength };
}

/**
 * White_Space characters that survive the T5 charsmap normalization unchanged and that
 * SentencePiece would therefore not treat as a separator (see the module comment).
 */
const SEPARATORS_SP_MISSES_RE = /\x85/g;

const SPECIAL_RE_ESCAPE = /[.*+?^${}()|[\]\\/-]/g;

interface TokenizerFiles {
  config: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
  addedTokens: Record<string, unknown>;
}

function readJsonIfPresent(folder: string, name: string): Record<string, unknown> {
  const path = join(folder, name);
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: cannot parse ${name} in ${folder}: ${(err as Error).message}`, { cause: err });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: ${name} in ${folder} is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** A token given as a string or as a serialized AddedToken (`{"content": ...}`). */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

function tokenList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map(tokenContent).filter((x): x is string => x !== undefined);
}

export class T5Tokenizer {
  private sp: SentencePieceProcessor | null;
  private readonly vocab: SentencePieceEntry[];
  /** piece -> id for the SentencePiece vocabulary. */
  private readonly pieceIds: Map<string, number>;
  /** Added tokens (specials and sentinels): content -> id, and id -> content. */
  private readonly added: Map<string, number>;
  private readonly addedById: Map<number, string>;
  private readonly specialIds: Set<number>;
  private readonly splitRe: RegExp | null;

  /** Id of `</s>`. */
  readonly eosTokenId: number;
  /** Id of `<pad>`. */
  readonly padTokenId: number;
  /** Id of `<unk>`. */
  readonly unkTokenId: number;
  /** Number of `<extra_id_N>` sentinel tokens. */
  readonly extraIds: number;

  private constructor(sp: SentencePieceProcessor, vocab: SentencePieceEntry[], files: TokenizerFiles, folder: string) {
    this.sp = sp;
    this.vocab = vocab;
    this.pieceIds = new Map();
    vocab.forEach((e, i) => {
      if (!this.pieceIds.has(e.piece)) this.pieceIds.set(e.piece, i);
    });
    const { config, specialTokensMap, addedTokens } = files;
    const pick = (key: string, dflt: string): string =>
      tokenContent(config[key]) ?? tokenContent(specialTokensMap[key]) ?? dflt;
    const eos = pick('eos_token', '</s>');
    const unk = pick('unk_token', '<unk>');
    const pad = pick('pad_token', '<pad>');

    const additional = [
      ...tokenList(config.additional_special_tokens),
      ...tokenList(specialTokensMap.additional_special_tokens),
    ];
    const sentinelRe = /^<extra_id_(\d+)>$/;
    const sentinelsListed = new Set(additional.filter((t) => sentinelRe.test(t))).size;
    const extraIdsCfg = config.extra_ids;
    this.extraIds = typeof extraIdsCfg === 'number' && Number.isInteger(extraIdsCfg) && extraIdsCfg >= 0
      ? extraIdsCfg
      : sentinelsListed > 0 ? sentinelsListed : 100;

    this.added = new Map();
    this.specialIds = new Set();
    const addToken = (content: string, id: number, special: boolean): void => {
      if (!Number.isInteger(id) || id < 0) {
        throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: invalid id ${id} for token ${JSON.stringify(content)} in ${folder}`);
      }
      this.added.set(content, id);
      if (special) this.specialIds.add(id);
    };
    for (const tok of [pad, eos, unk]) {
      const id = this.pieceIds.get(tok);
      if (id === undefined) {
        throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: special token ${JSON.stringify(tok)} is not in spiece.model (${folder})`);
      }
      addToken(tok, id, true);
    }
    // Sentinels are appended after the SentencePiece vocabulary in reverse order:
    // <extra_id_0> gets the highest id (32099 for T5's 32000 pieces and 100 extra ids).
    for (let i = 0; i < this.extraIds; i++) addToken(`<extra_id_${i}>`, vocab.length + this.extraIds - 1 - i, true);
    // Explicit ids saved with the tokenizer take precedence.
    const decoder = config.added_tokens_decoder;
    if (decoder !== null && typeof decoder === 'object') {
      for (const [idStr, spec] of Object.entries(decoder as Record<string, unknown>)) {
        const content = tokenContent(spec);
        if (content === undefined) continue;
        const special = (spec as { special?: unknown }).special !== false;
        addToken(content, Number(idStr), special);
      }
    }
    for (const [content, id] of Object.entries(addedTokens)) {
      if (typeof id === 'number') addToken(content, id, this.specialIds.has(id) || sentinelRe.test(content) || additional.includes(content));
    }
    // Additional special tokens that are still unknown get new ids after the current vocabulary.
    for (const tok of additional) {
      if (this.added.has(tok) || this.pieceIds.has(tok)) {
        const id = this.added.get(tok) ?? this.pieceIds.get(tok)!;
        this.added.set(tok, id);
        this.specialIds.add(id);
        continue;
      }
      addToken(tok, this.computeVocabSize(), true);
    }
    this.addedById = new Map();
    for (const [content, id] of this.added) if (!this.addedById.has(id)) this.addedById.set(id, content);

    this.eosTokenId = this.added.get(eos)!;
    this.padTokenId = this.added.get(pad)!;
    this.unkTokenId = this.added.get(unk)!;

    const contents = [...this.added.keys()].filter((c) => c.length > 0).sort((a, b) => b.length - a.length);
    this.splitRe = contents.length > 0
      ? new RegExp(contents.map((c) => c.replace(SPECIAL_RE_ESCAPE, '\\$&')).join('|'), 'g')
      : null;
  }

  /**
   * Loads a tokenizer folder as saved by transformers' `T5Tokenizer.save_pretrained`
   * (`spiece.model`, optional `tokenizer_config.json`, `special_tokens_map.json`,
   * `added_tokens.json`), e.g. the `tokenizer/` folder of a PixArt-α repository.
   * @throws PixArtError ERR_PIXART_MODEL_LOAD if `spiece.model` is missing or unreadable,
   *   or a JSON file is malformed.
   */
  static async fromPretrained(folder: string): Promise<T5Tokenizer> {
    if (typeof folder !== 'string' || folder.length === 0) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', 'T5Tokenizer.fromPretrained: folder must be a non-empty string');
    }
    const modelPath = join(folder, 'spiece.model');
    let modelBytes: Buffer;
    try {
      modelBytes = readFileSync(modelPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'not found' : `unreadable (${(err as Error).message})`;
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: spiece.model ${why} in ${folder}`, { cause: err });
    }
    let vocab: SentencePieceEntry[];
    try {
      vocab = readSentencePieceVocab(modelBytes);
    } catch (err) {
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: ${modelPath} is not a valid SentencePiece model: ${(err as Error).message}`, { cause: err });
    }
    const files: TokenizerFiles = {
      config: readJsonIfPresent(folder, 'tokenizer_config.json'),
      specialTokensMap: readJsonIfPresent(folder, 'special_tokens_map.json'),
      addedTokens: readJsonIfPresent(folder, 'added_tokens.json'),
    };
    const sp = new SentencePieceProcessor();
    let status = 'not loaded';
    try {
      await sp.loadFromB64StringModel(modelBytes.toString('base64'));
      const st = sp.processor.status();
      status = String(st.ToString());
      st.delete();
    } catch (err) {
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: SentencePiece failed to load ${modelPath}: ${(err as Error).message?.slice(0, 200)}`, { cause: err });
    }
    if (status !== 'OK') {
      try { sp.processor?.delete(); } catch { /* ignore */ }
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: SentencePiece failed to load ${modelPath}: ${status}`);
    }
    return new T5Tokenizer(sp, vocab, files, folder);
  }

  private computeVocabSize(): number {
    let size = this.vocab.length;
    for (const id of this.added.values()) size = Math.max(size, id + 1);
    return size;
  }

  /** `len(tokenizer)`: SentencePiece pieces plus added tokens (32100 for T5). */
  get vocabSize(): number {
    return this.computeVocabSize();
  }

  private processor(): SentencePieceProcessor {
    if (this.sp === null) throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', 'T5Tokenizer has been disposed');
    return this.sp;
  }

  /** Token ids of one text, without `</s>` and without truncation. */
  private encodeText(text: string): number[] {
    const sp = this.processor();
    const ids: number[] = [];
    const encodeSegment = (segment: string): void => {
      if (segment.length === 0) return;
      const pieces = sp.encodeIds(segment.replace(SEPARATORS_SP_MISSES_RE, ' '));
      for (const id of pieces) ids.push(id);
    };
    const s = toWellFormed(text);
    if (this.splitRe === null) {
      encodeSegment(s);
      return ids;
    }
    let last = 0;
    this.splitRe.lastIndex = 0;
    for (let m = this.splitRe.exec(s); m !== null; m = this.splitRe.exec(s)) {
      encodeSegment(s.slice(last, m.index));
      ids.push(this.added.get(m[0])!);
      last = m.index + m[0].length;
    }
    encodeSegment(s.slice(last));
    return ids;
  }

  /**
   * `tokenizer(texts, padding=..., max_length=..., truncation=..., add_special_tokens=...)`.
   * @throws PixArtError ERR_PIXART_INVALID_ARGUMENT for a non-array / non-string input or bad options.
   */
  encode(texts: readonly string[], options: T5EncodeOptions = {}): T5BatchEncoding {
    const { maxLength = 120, truncation = true, padding = 'max_length', addSpecialTokens = true } = options;
    if (!Array.isArray(texts)) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', 'T5Tokenizer.encode: texts must be an array of strings');
    }
    texts.forEach((t, i) => {
      if (typeof t !== 'string') {
        throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `T5Tokenizer.encode: texts[${i}] must be a string, got ${t === null ? 'null' : typeof t}`);
      }
    });
    if (!Number.isInteger(maxLength) || maxLength < 1) {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `T5Tokenizer.encode: maxLength must be a positive integer, got ${maxLength}`);
    }
    if (padding !== 'max_length' && padding !== 'longest' && padding !== 'none') {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `T5Tokenizer.encode: padding must be 'max_length', 'longest' or 'none', got ${String(padding)}`);
    }
    const rows: number[][] = [];
    const numTokensUntruncated: number[] = [];
    const truncated: boolean[] = [];
    for (const text of texts) {
      let ids = this.encodeText(text);
      const budget = addSpecialTokens ? maxLength - 1 : maxLength;
      numTokensUntruncated.push(ids.length + (addSpecialTokens ? 1 : 0));
      const cut = truncation && ids.length > budget;
      if (cut) ids = ids.slice(0, budget);
      if (addSpecialTokens) ids.push(this.eosTokenId);
      truncated.push(cut);
      rows.push(ids);
    }
    let target = 0;
    if (padding === 'max_length') target = maxLength;
    else if (padding === 'longest') target = rows.reduce((m, r) => Math.max(m, r.length), 0);
    const inputIds: Int32Array[] = [];
    const attentionMask: Uint8Array[] = [];
    for (const ids of rows) {
      const len = Math.max(ids.length, target);
      const row = new Int32Array(len).fill(this.padTokenId);
      row.set(ids);
      const mask = new Uint8Array(len);
      mask.fill(1, 0, ids.length);
      inputIds.push(row);
      attentionMask.push(mask);
    }
    return { inputIds, attentionMask, numTokensUntruncated, truncated };
  }

  /** Token strings of `text` (no `</s>`), e.g. `['▁Hello', '▁world']`; unknown pieces are `<unk>`. */
  tokenize(text: string): string[] {
    if (typeof text !== 'string') {
      throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `T5Tokenizer.tokenize: text must be a string, got ${text === null ? 'null' : typeof text}`);
    }
    return this.encodeText(text).map((id) => this.idToToken(id));
  }

  /** Token string for an id (`convert_ids_to_tokens`). */
  idToToken(id: number): string {
    const added = this.addedById.get(id);
    if (added !== undefined) return added;
    if (Number.isInteger(id) && id >= 0 && id < this.vocab.length) return this.vocab[id].piece;
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `T5Tokenizer: token id ${id} is out of range [0, ${this.vocabSize})`);
  }

  /** Id of a token string (`convert_tokens_to_ids`); the unk id for unknown strings. */
  tokenToId(token: string): number {
    return this.added.get(token) ?? this.pieceIds.get(token) ?? this.unkTokenId;
  }

  /**
   * Ids back to text, as transformers 5 decodes: special tokens are kept as their strings
   * unless `skipSpecialTokens`, '▁' becomes a space, and the first token's leading space is
   * dropped.
   */
  decode(ids: ArrayLike<number | bigint>, { skipSpecialTokens = false }: { skipSpecialTokens?: boolean } = {}): string {
    const parts: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = Number(ids[i]);
      if (skipSpecialTokens && this.specialIds.has(id)) continue;
      let piece = this.idToToken(id).replaceAll('\u2581', ' ');
      if (parts.length === 0 && piece.startsWith(' ')) piece = piece.slice(1);
      parts.push(piece);
    }
    return parts.join('');
  }

  /** Frees the SentencePiece WASM processor. The tokenizer cannot be used afterwards. */
  dispose(): void {
    if (this.sp === null) return;
    try {
      this.sp.processor?.delete();
    } finally {
      this.sp = null;
    }
  }
}
