/**
 * T5 tokenizer matching transformers' `T5Tokenizer` of transformers 5.x: the `tokenizers`
 * (Rust) pipeline that transformers builds from `spiece.model`, re-implemented here in
 * TypeScript (precompiledCharsmap.ts, unigram.ts) from the behaviour of tokenizers 0.23.
 *
 * Pipeline for one text, as transformers does it:
 * 1. Lone UTF-16 surrogates (which Python cannot even pass to the tokenizer) become U+FFFD.
 * 2. The text is split on added tokens (`<pad>`, `</s>`, `<unk>`, `<extra_id_N>`, additional
 *    special tokens, the model's control and user-defined pieces), matched literally,
 *    leftmost-longest, honouring their `lstrip` / `rstrip` / `single_word` flags (T5's
 *    sentinels are saved with lstrip and rstrip: they swallow the white space around them).
 *    Tokens saved with `normalized: true` are matched after step 3 instead.
 * 3. Every other segment is normalized with the model's `precompiled_charsmap`, per extended
 *    grapheme cluster (tokenizers' `Precompiled` normalizer, see precompiledCharsmap.ts).
 * 4. Pre-tokenization (`WhitespaceSplit` + `Metaspace(prepend_scheme="always", split=True)`):
 *    split on Unicode White_Space (Rust `char::is_whitespace`, U+0085 included), prefix
 *    each word with "▁" unless it starts with one, and cut before every "▁".
 * 5. Each piece goes through the Unigram model (unigram.ts): Viterbi over the vocabulary of
 *    `spiece.model` plus the `<extra_id_N>` pieces (score 0), unknown id 2, no byte
 *    fallback, runs of unknown characters fused into one `<unk>`.
 * 6. `</s>` is appended (`addSpecialTokens`), after truncating to `maxLength - 1` tokens.
 *    Like transformers 5 (and unlike the 4.x slow tokenizer), `</s>` is appended even when
 *    the text already ends with a literal `</s>`.
 * 7. Padding with `<pad>` (id 0) on the right; attention mask 1 for tokens, 0 for padding.
 *
 * The `normalizer_spec` flags of `spiece.model` (add_dummy_prefix, remove_extra_whitespaces,
 * escape_whitespaces) are not used: transformers' T5Tokenizer ignores them and always builds
 * the pre-tokenizer of step 4. A model without a charsmap is tokenized without normalization
 * (transformers refuses to load it).
 *
 * Where this differs from Google's SentencePiece (the library transformers 4.x ran, and this
 * SDK before): ties between equally scored segmentations ("why????" is "▁why" "?" "???" here
 * and in transformers 5, "▁why" "???" "?" in SentencePiece), and the normalization per
 * grapheme cluster ("a\u0308\u0301" becomes "ä" here, "ä" + "\u0301" = "ä" <unk> in
 * SentencePiece). The prompt sweep (bench/prompt_sweep/) finds no difference from transformers
 * 5.18 on ~530k tokenizer rows, every BMP code point included.
 * Grapheme clusters come from `Intl.Segmenter` (the ICU of Node.js) where tokenizers uses the
 * `unicode-segmentation` crate; the two could only disagree on characters whose cluster rules
 * differ between their Unicode versions (none found).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PixArtError } from '../errors.js';
import { PieceType, readSentencePieceModel, type SentencePieceEntry, type SentencePieceModel } from './spieceModel.js';
import { PrecompiledCharsmap } from './precompiledCharsmap.js';
import { UnigramModel } from './unigram.js';
import { toWellFormed } from './pyCompat.js';
import { optionsArg } from '../util/args.js';

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

/** Rust `char::is_whitespace` (Unicode White_Space): what WhitespaceSplit and `\s` in tokenizers split on. */
const WS_CLASS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WS_RUN_RE = new RegExp(`[${WS_CLASS}]+`, 'g');
const WS_CHAR_RE = new RegExp(`^[${WS_CLASS}]$`);
/** Rust regex `\w` (Unicode), used by tokenizers for `single_word` added tokens. */
const WORD_CHAR_RE = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;

function isWhitespaceAt(s: string, i: number): boolean {
  return WS_CHAR_RE.test(s[i]);
}

/** Whether the code point ending just before `i` / starting at `i` is a Rust `\w`. */
function wordBefore(s: string, i: number): boolean {
  const lo = s.charCodeAt(i - 1);
  const from = lo >= 0xdc00 && lo < 0xe000 && i >= 2 ? i - 2 : i - 1;
  return WORD_CHAR_RE.test(s.slice(from, i));
}
function wordAt(s: string, i: number): boolean {
  return WORD_CHAR_RE.test(String.fromCodePoint(s.codePointAt(i)!));
}

const SPECIAL_RE_ESCAPE = /[.*+?^${}()|[\]\\/-]/g;

/** The metaspace replacement character "▁". */
const METASPACE = '\u2581';

/**
 * transformers' T5Tokenizer builds its Unigram model with `unk_id=2` whatever the model
 * file says (tokenization_t5.py).
 */
const T5_UNK_ID = 2;

/** An added token and its matching flags (tokenizers' `AddedToken`). */
interface AddedTokenSpec {
  content: string;
  id: number;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  normalized: boolean;
}

/** Splits of a text around added tokens: strings to tokenize, numbers for added token ids. */
type Split = string | number;

/** Leftmost-longest matcher for a set of added tokens (tokenizers' AddedVocabulary::find_matches). */
class AddedTokenMatcher {
  private readonly re: RegExp;
  private readonly byContent: Map<string, AddedTokenSpec>;

  constructor(tokens: AddedTokenSpec[]) {
    this.byContent = new Map(tokens.map((t) => [t.content, t]));
    const contents = [...this.byContent.keys()].sort((x, y) => y.length - x.length);
    this.re = new RegExp(contents.map((c) => c.replace(SPECIAL_RE_ESCAPE, '\\$&')).join('|'), 'g');
  }

  /** Appends the splits of `s` to `out`. */
  split(s: string, out: Split[]): void {
    let startOffset = 0;
    this.re.lastIndex = 0;
    for (let m = this.re.exec(s); m !== null; m = this.re.exec(s)) {
      const tok = this.byContent.get(m[0])!;
      let start = m.index;
      let stop = m.index + m[0].length;
      if (tok.singleWord) {
        const startSpace = start === 0 || !wordBefore(s, start);
        const stopSpace = stop === s.length || !wordAt(s, stop);
        if (!startSpace || !stopSpace) continue;
      }
      if (tok.lstrip) {
        while (start > startOffset && isWhitespaceAt(s, start - 1)) start--;
      }
      if (tok.rstrip) {
        while (stop < s.length && isWhitespaceAt(s, stop)) stop++;
      }
      start = Math.max(start, startOffset);
      if (startOffset < start) out.push(s.slice(startOffset, start));
      out.push(tok.id);
      startOffset = stop;
    }
    if (startOffset < s.length) out.push(s.slice(startOffset));
  }
}

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

function flag(spec: unknown, key: string): boolean | undefined {
  if (spec === null || typeof spec !== 'object') return undefined;
  const v = (spec as Record<string, unknown>)[key];
  return typeof v === 'boolean' ? v : undefined;
}

/** Size of the per-tokenizer cache of encoded pieces (cleared when full). */
const PIECE_CACHE_SIZE = 50_000;

export class T5Tokenizer {
  private disposed = false;
  private readonly vocab: SentencePieceEntry[];
  private readonly model: UnigramModel;
  /** The charsmap normalizer; null when spiece.model has no charsmap. */
  private readonly normalizer: PrecompiledCharsmap | null;
  /** Added tokens (specials, sentinels, control and user-defined pieces) by content, and id -> content. */
  private readonly added: Map<string, AddedTokenSpec>;
  private readonly addedById: Map<number, string>;
  private readonly specialIds: Set<number>;
  /** Matchers for added tokens on the raw text and on the normalized text. */
  private readonly rawMatcher: AddedTokenMatcher | null;
  private readonly normalizedMatcher: AddedTokenMatcher | null;
  /** "▁"-prefixed piece -> ids. */
  private readonly pieceCache = new Map<string, number[]>();

  /** Id of `</s>`. */
  readonly eosTokenId: number;
  /** Id of `<pad>`. */
  readonly padTokenId: number;
  /** Id of `<unk>`. */
  readonly unkTokenId: number;
  /** Number of `<extra_id_N>` sentinel tokens. */
  readonly extraIds: number;

  private constructor(spm: SentencePieceModel, files: TokenizerFiles, folder: string) {
    const vocab = spm.pieces;
    this.vocab = vocab;
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

    // The Unigram vocabulary of transformers' T5 conversion: the pieces of spiece.model,
    // then the sentinels in reverse order with score 0 (<extra_id_0> last: id 32099).
    const modelPieces: { piece: string; score: number }[] = vocab.slice();
    for (let i = this.extraIds - 1; i >= 0; i--) modelPieces.push({ piece: `<extra_id_${i}>`, score: 0 });
    if (modelPieces.length <= T5_UNK_ID) {
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: spiece.model in ${folder} has too few pieces (${vocab.length})`);
    }
    this.model = new UnigramModel(modelPieces, T5_UNK_ID);
    const pieceId = (piece: string): number | undefined => {
      const id = this.model.pieceId(piece);
      return id !== undefined && id < vocab.length ? id : undefined;
    };

    this.added = new Map();
    this.specialIds = new Set();
    const addToken = (content: string, id: number, special: boolean, spec?: unknown): void => {
      if (!Number.isInteger(id) || id < 0) {
        throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: invalid id ${id} for token ${JSON.stringify(content)} in ${folder}`);
      }
      const prev = this.added.get(content);
      this.added.set(content, {
        content,
        id,
        special,
        lstrip: flag(spec, 'lstrip') ?? prev?.lstrip ?? false,
        rstrip: flag(spec, 'rstrip') ?? prev?.rstrip ?? false,
        singleWord: flag(spec, 'single_word') ?? prev?.singleWord ?? false,
        normalized: flag(spec, 'normalized') ?? prev?.normalized ?? false,
      });
      if (special) this.specialIds.add(id);
    };
    for (const tok of [pad, eos, unk]) {
      const id = pieceId(tok);
      if (id === undefined) {
        throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: special token ${JSON.stringify(tok)} is not in spiece.model (${folder})`);
      }
      addToken(tok, id, true);
    }
    // Control and user-defined pieces are added tokens in transformers' conversion.
    vocab.forEach((e, i) => {
      if ((e.type === PieceType.CONTROL || e.type === PieceType.USER_DEFINED) && e.piece.length > 0 && !this.added.has(e.piece)) {
        addToken(e.piece, i, e.type === PieceType.CONTROL);
      }
    });
    // Sentinels are appended after the SentencePiece vocabulary in reverse order:
    // <extra_id_0> gets the highest id (32099 for T5's 32000 pieces and 100 extra ids).
    for (let i = 0; i < this.extraIds; i++) addToken(`<extra_id_${i}>`, vocab.length + this.extraIds - 1 - i, true);
    // Explicit ids and flags saved with the tokenizer take precedence.
    const decoder = config.added_tokens_decoder;
    if (decoder !== null && typeof decoder === 'object') {
      for (const [idStr, spec] of Object.entries(decoder as Record<string, unknown>)) {
        const content = tokenContent(spec);
        if (content === undefined) continue;
        const special = (spec as { special?: unknown }).special !== false;
        addToken(content, Number(idStr), special, spec);
      }
    }
    for (const [content, id] of Object.entries(addedTokens)) {
      if (typeof id === 'number') addToken(content, id, this.specialIds.has(id) || sentinelRe.test(content) || additional.includes(content));
    }
    // Additional special tokens that are still unknown get new ids after the current vocabulary.
    for (const tok of additional) {
      const known = this.added.get(tok)?.id ?? pieceId(tok);
      addToken(tok, known ?? this.computeVocabSize(), true);
    }
    this.addedById = new Map();
    for (const t of this.added.values()) if (!this.addedById.has(t.id)) this.addedById.set(t.id, t.content);

    this.eosTokenId = this.added.get(eos)!.id;
    this.padTokenId = this.added.get(pad)!.id;
    this.unkTokenId = this.added.get(unk)!.id;

    const tokens = [...this.added.values()].filter((t) => t.content.length > 0);
    const raw = tokens.filter((t) => !t.normalized);
    const normalized = tokens.filter((t) => t.normalized);
    this.rawMatcher = raw.length > 0 ? new AddedTokenMatcher(raw) : null;
    this.normalizedMatcher = normalized.length > 0 ? new AddedTokenMatcher(normalized) : null;

    const charsmap = spm.normalizerSpec.precompiledCharsmap;
    try {
      this.normalizer = charsmap.length > 0 ? new PrecompiledCharsmap(charsmap) : null;
    } catch (err) {
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: spiece.model in ${folder}: ${(err as Error).message}`, { cause: err });
    }
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
    let spm: SentencePieceModel;
    try {
      spm = readSentencePieceModel(modelBytes);
    } catch (err) {
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `T5Tokenizer: ${modelPath} is not a valid SentencePiece model: ${(err as Error).message}`, { cause: err });
    }
    const files: TokenizerFiles = {
      config: readJsonIfPresent(folder, 'tokenizer_config.json'),
      specialTokensMap: readJsonIfPresent(folder, 'special_tokens_map.json'),
      addedTokens: readJsonIfPresent(folder, 'added_tokens.json'),
    };
    return new T5Tokenizer(spm, files, folder);
  }

  private computeVocabSize(): number {
    let size = this.vocab.length;
    for (const t of this.added.values()) size = Math.max(size, t.id + 1);
    return size;
  }

  /** `len(tokenizer)`: SentencePiece pieces plus added tokens (32100 for T5). */
  get vocabSize(): number {
    return this.computeVocabSize();
  }

  private checkUsable(): void {
    if (this.disposed) throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', 'T5Tokenizer has been disposed');
  }

  /** Ids of one "▁"-prefixed piece (Unigram model, cached). */
  private encodePiece(piece: string, ids: number[]): void {
    let got = this.pieceCache.get(piece);
    if (got === undefined) {
      got = [];
      this.model.encode(piece, got);
      if (piece.length <= 64) {
        if (this.pieceCache.size >= PIECE_CACHE_SIZE) this.pieceCache.clear();
        this.pieceCache.set(piece, got);
      }
    }
    for (let i = 0; i < got.length; i++) ids.push(got[i]);
  }

  /** Pre-tokenizer (WhitespaceSplit + Metaspace) and model on a normalized segment. */
  private encodeNormalized(s: string, ids: number[]): void {
    WS_RUN_RE.lastIndex = 0;
    let wordStart = 0;
    for (;;) {
      const m = WS_RUN_RE.exec(s);
      const wordEnd = m === null ? s.length : m.index;
      if (wordEnd > wordStart) {
        // Metaspace: prefix "▁" unless the word starts with one, then cut before every "▁".
        let p = wordStart;
        if (s.charCodeAt(p) !== 0x2581) {
          const next = s.indexOf(METASPACE, p + 1);
          const e = next < 0 || next >= wordEnd ? wordEnd : next;
          this.encodePiece(METASPACE + s.slice(p, e), ids);
          p = e;
        }
        while (p < wordEnd) {
          const next = s.indexOf(METASPACE, p + 1);
          const e = next < 0 || next >= wordEnd ? wordEnd : next;
          this.encodePiece(s.slice(p, e), ids);
          p = e;
        }
      }
      if (m === null) break;
      wordStart = m.index + m[0].length;
    }
  }

  /** A segment that is not a raw added token: normalize, split normalized added tokens, encode. */
  private encodeSegment(segment: string, ids: number[]): void {
    if (segment.length === 0) return;
    const norm = this.normalizer === null ? segment : this.normalizer.normalize(segment);
    if (this.normalizedMatcher === null) {
      this.encodeNormalized(norm, ids);
      return;
    }
    const splits: Split[] = [];
    this.normalizedMatcher.split(norm, splits);
    for (const sp of splits) {
      if (typeof sp === 'number') ids.push(sp);
      else this.encodeNormalized(sp, ids);
    }
  }

  /** Token ids of one text, without `</s>` and without truncation. */
  private encodeText(text: string): number[] {
    this.checkUsable();
    const ids: number[] = [];
    const s = toWellFormed(text);
    if (this.rawMatcher === null) {
      this.encodeSegment(s, ids);
      return ids;
    }
    const splits: Split[] = [];
    this.rawMatcher.split(s, splits);
    for (const sp of splits) {
      if (typeof sp === 'number') ids.push(sp);
      else this.encodeSegment(sp, ids);
    }
    return ids;
  }

  /**
   * `tokenizer(texts, padding=..., max_length=..., truncation=..., add_special_tokens=...)`.
   * @throws PixArtError ERR_PIXART_INVALID_ARGUMENT for a non-array / non-string input or bad options.
   */
  encode(texts: readonly string[], options: T5EncodeOptions = {}): T5BatchEncoding {
    const { maxLength = 120, truncation = true, padding = 'max_length', addSpecialTokens = true } = optionsArg('T5Tokenizer.encode options', options);
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
    const added = this.added.get(token);
    if (added !== undefined) return added.id;
    return this.model.pieceId(token) ?? this.unkTokenId;
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

  /** Marks the tokenizer as unusable (kept for API compatibility; it holds no native resources). */
  dispose(): void {
    this.disposed = true;
  }
}
