/**
 * SentencePiece's compiled normalization rules (`NormalizerSpec.precompiled_charsmap`) and
 * the `Precompiled` normalizer of Hugging Face `tokenizers` (the crate `spm_precompiled`),
 * which is what transformers 5 runs for T5. Written from the behaviour of those libraries.
 *
 * Charsmap layout: a little-endian u32 giving the byte size of the trie, the trie itself
 * (a darts-clone double array of little-endian u32 units over UTF-8 bytes), then a blob of
 * NUL-terminated UTF-8 replacement strings. A trie value is a byte offset into that blob.
 *
 * Normalization (tokenizers' `Precompiled::normalize`): the text is cut into extended
 * grapheme clusters. A cluster of fewer than 6 UTF-8 bytes whose bytes start with a key of
 * the trie is replaced as a whole by the replacement of the SHORTEST such key (the first
 * result of the common-prefix search); whatever follows that key in the cluster is dropped.
 * Otherwise (6 bytes or more, or no key) every code point is looked up on its own the same
 * way (shortest key that prefixes the code point's bytes, i.e. the code point itself) and
 * kept unchanged when it has none. A NUL byte ends a lookup.
 * Example with T5's charsmap: "a\u0308\u0301" is one 5-byte cluster, "a\u0308" is a key
 * (-> "ä"), so the result is "ä" and U+0301 disappears; SentencePiece itself would match
 * the longest key on the raw text instead.
 *
 * Clusters are ICU's (`Intl.Segmenter`), but the segmenter is slow (microseconds per
 * cluster), so it is only asked about stretches of code points that can join a neighbour,
 * and stretches of plain extending marks are cut without it (see `normalize`,
 * `simpleStretch`, `probeClass`). Every code point's class is obtained from ICU itself, and
 * the result equals a plain segmenter pass on every code point in ten contexts.
 */

/** A darts-clone double array unit accessor set (see darts.h: has_leaf, value, label, offset). */
function unitOffset(unit: number): number {
  return (unit >>> 10) << ((unit & 0x200) >>> 6);
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

const MAX_CACHE = 20_000;

/** Code units per call of the segmenter on long stretches (see `segmented`). */
const SEGMENT_WINDOW = 256;

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c < 0xdc00;
}

/** Created on first use: building an ICU segmenter takes ~20 ms, and plain ASCII never needs it. */
let graphemeSegmenter: Intl.Segmenter | null = null;
function segmenter(): Intl.Segmenter {
  graphemeSegmenter ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  return graphemeSegmenter;
}

export class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly blob: Uint8Array;
  /** Blob offset -> replacement string. */
  private readonly replacements = new Map<number, string>();
  /** Normalization of each ASCII code unit (null: kept). */
  private readonly ascii: (string | null)[] = [];
  /** Normalization of multi-code-point clusters seen so far. */
  private readonly cache = new Map<string, string>();
  /** Normalization of non-ASCII code points seen so far (null: kept). */
  private readonly cpCache = new Map<number, string | null>();

  /** @throws Error when the charsmap cannot be parsed (as `tokenizers` refuses it). */
  constructor(charsmap: Uint8Array) {
    if (charsmap.length < 4) throw new Error('cannot parse precompiled_charsmap (too short)');
    const dv = new DataView(charsmap.buffer, charsmap.byteOffset, charsmap.byteLength);
    const trieBytes = dv.getUint32(0, true);
    const nUnits = Math.floor(trieBytes / 4);
    if (4 + nUnits * 4 > charsmap.length) throw new Error('cannot parse precompiled_charsmap (truncated trie)');
    if (nUnits === 0) throw new Error('cannot parse precompiled_charsmap (empty trie)');
    this.units = new Uint32Array(nUnits);
    for (let i = 0; i < nUnits; i++) this.units[i] = dv.getUint32(4 + 4 * i, true);
    this.blob = charsmap.slice(4 + nUnits * 4);
    try {
      utf8Strict.decode(this.blob);
    } catch {
      throw new Error('cannot parse precompiled_charsmap (replacement strings are not valid UTF-8)');
    }
    for (let c = 0; c < 128; c++) this.ascii.push(this.lookup(String.fromCharCode(c), 0, 1));
  }

  /** Replacement string starting at a blob offset (up to the next NUL). */
  private replacement(offset: number): string {
    let s = this.replacements.get(offset);
    if (s === undefined) {
      let end = offset;
      while (end < this.blob.length && this.blob[end] !== 0) end++;
      s = utf8Strict.decode(this.blob.subarray(Math.min(offset, this.blob.length), end));
      this.replacements.set(offset, s);
    }
    return s;
  }

  /**
   * The replacement for the shortest trie key that is a prefix of the UTF-8 bytes of
   * `text[start, end)` (walked without encoding the string), or null when there is none.
   */
  lookup(text: string, start: number, end: number): string | null {
    const units = this.units;
    const n = units.length;
    let pos = unitOffset(units[0]);
    for (let i = start; i < end; i++) {
      let cp = text.charCodeAt(i);
      if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < end) {
        const lo = text.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i++;
        }
      }
      // UTF-8 bytes of cp, most significant first.
      let nb: number;
      let b0: number;
      if (cp < 0x80) { nb = 1; b0 = cp; }
      else if (cp < 0x800) { nb = 2; b0 = 0xc0 | (cp >> 6); }
      else if (cp < 0x10000) { nb = 3; b0 = 0xe0 | (cp >> 12); }
      else { nb = 4; b0 = 0xf0 | (cp >> 18); }
      for (let k = 0; k < nb; k++) {
        const byte = k === 0 ? b0 : 0x80 | ((cp >> (6 * (nb - 1 - k))) & 0x3f);
        if (byte === 0) return null;
        pos ^= byte;
        if (pos >= n) return null;
        const unit = units[pos];
        // label: low byte plus the leaf flag bit 31 (a leaf unit never equals a byte).
        if ((unit & 0x800000ff) !== byte) return null;
        pos ^= unitOffset(unit);
        if ((unit >>> 8) & 1) {
          if (pos >= n) return null;
          return this.replacement(units[pos] & 0x7fffffff);
        }
      }
    }
    return null;
  }

  /** tokenizers' `Precompiled::normalize_str` on `text` (well-formed UTF-16 expected). */
  normalize(text: string): string {
    const n = text.length;
    let out = '';
    let i = 0;
    // A code point that cannot join a neighbour in a grapheme cluster (see mayJoin), between
    // two others that cannot either, is a cluster of its own. Such code points are looked up
    // one by one; only the stretches of joining code points, with one code point on each
    // side, go through the ICU segmenter.
    while (i < n) {
      let k = i;
      while (k < n && !mayJoinAt(text, k)) k += cpWidth(text, k);
      const start = k < n && k > i ? prevCpStart(text, k) : k;
      out += this.plain(text, i, start);
      if (k >= n) break;
      let e = k;
      for (;;) {
        while (e < n && mayJoinAt(text, e)) e += cpWidth(text, e);
        if (e >= n) break;
        const after = e + cpWidth(text, e);
        // One code point between two joining stretches belongs to both: keep going.
        if (after < n && mayJoinAt(text, after)) {
          e = after;
          continue;
        }
        e = after;
        break;
      }
      out += this.simpleStretch(text, start, e) ?? this.segmented(text, start, e);
      i = e;
    }
    return out;
  }

  /**
   * Clusters of `text[from, to)` when its joining code points are all EXTENDS and none
   * follows a control: each cluster is then a code point and the extenders after it
   * (GB9, GB9a), without asking the segmenter. Null when the stretch is not that simple.
   */
  private simpleStretch(text: string, from: number, to: number): string | null {
    let out = '';
    let clusterStart = from;
    let prevControl = false;
    for (let i = from; i < to; ) {
      const cp = codePointAt(text, i);
      const k = classOf(cp);
      if (k === JOINER) return null;
      if (k === EXTENDS) {
        if (prevControl) return null;
      } else {
        if (i > clusterStart) out += this.cluster(text.slice(clusterStart, i));
        clusterStart = i;
        prevControl = isControl(cp);
      }
      i += cp > 0xffff ? 2 : 1;
    }
    return out + this.cluster(text.slice(clusterStart, to));
  }

  /**
   * Clusters of `text[from, to)` (from is a cluster boundary). ICU's segment iterator costs
   * time proportional to the length of the string at every step, so long stretches go in
   * windows: every cluster of a window but the last is final (a break depends on one code
   * point of right context only), and the next window starts where that last one starts.
   * A window holding a single cluster is doubled until it holds two or reaches `to`.
   */
  private segmented(text: string, from: number, to: number): string {
    let out = '';
    let pos = from;
    let width = SEGMENT_WINDOW;
    while (pos < to) {
      let end = Math.min(to, pos + width);
      if (end < to && isHighSurrogate(text.charCodeAt(end - 1))) end--;
      let lastStart = -1;
      let pending = '';
      for (const { segment, index } of segmenter().segment(text.slice(pos, end))) {
        if (pending !== '') out += this.cluster(pending);
        pending = segment;
        lastStart = index;
      }
      if (end === to) {
        out += this.cluster(pending);
        break;
      }
      if (lastStart > 0) {
        pos += lastStart;
        width = SEGMENT_WINDOW;
      } else {
        width *= 2;
      }
    }
    return out;
  }

  /** Code points of `text[from, to)`, each its own grapheme cluster. */
  private plain(text: string, from: number, to: number): string {
    let out = '';
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x80) {
        const r = this.ascii[c];
        out += r === null ? text[i] : r;
        continue;
      }
      const w = cpWidth(text, i);
      const cp = w === 2 ? text.codePointAt(i)! : c;
      let r = this.cpCache.get(cp);
      if (r === undefined) {
        r = this.lookup(text, i, i + w);
        if (this.cpCache.size >= MAX_CACHE) this.cpCache.clear();
        this.cpCache.set(cp, r);
      }
      out += r === null ? text.slice(i, i + w) : r;
      i += w - 1;
    }
    return out;
  }

  /** Normalization of one grapheme cluster. */
  private cluster(g: string): string {
    if (g.length === 1) {
      const c = g.charCodeAt(0);
      if (c < 0x80) {
        const r = this.ascii[c];
        return r === null ? g : r;
      }
    }
    let r = this.cache.get(g);
    if (r !== undefined) return r;
    r = utf8Length(g) < 6 ? this.lookup(g, 0, g.length) ?? this.byCodePoint(g) : this.byCodePoint(g);
    if (g.length <= 16) {
      if (this.cache.size >= MAX_CACHE) this.cache.clear();
      this.cache.set(g, r);
    }
    return r;
  }

  private byCodePoint(g: string): string {
    let out = '';
    for (let i = 0; i < g.length; i++) {
      const c = g.charCodeAt(i);
      const w = c >= 0xd800 && c < 0xdc00 && i + 1 < g.length ? 2 : 1;
      const r = this.lookup(g, i, i + w);
      out += r === null ? g.slice(i, i + w) : r;
      i += w - 1;
    }
    return out;
  }
}

/**
 * Code points that can be in a grapheme cluster with a neighbour for reasons an "a" on
 * either side does not show (UAX #29: CR LF, conjoining Hangul jamo — a precomposed
 * syllable only joins a jamo next to it —, regional indicator pairs), plus the common
 * extending classes so that they skip part of the segmenter probe.
 */
const JOINER_RE = /[\p{M}\p{Grapheme_Extend}\p{Emoji_Modifier}\p{Regional_Indicator}\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff\u200c\u200d\r\n]/u;
/** Joiners whose rules involve more than the preceding code point (GB3, GB6-8, GB11-13). */
const COMPLEX_JOINER_RE = /[\p{Regional_Indicator}\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff\u200d\r\n]/u;

/** Grapheme classes of code points, as far as the normalizer needs them. */
const STANDALONE = 1; // never in a cluster with a neighbour that is standalone too
const EXTENDS = 2; // always joins the code point before it (unless that is a control), nothing else
const JOINER = 3; // any other joining behaviour: leave it to the segmenter
/** Class per BMP code point (0 = not yet probed) and per astral code point. */
const bmpClass = new Uint8Array(0x10000);
const astralClass = new Map<number, number>();
/** Whether a standalone code point is a control (GB4/GB5: a mark after it starts a new cluster); 0 = not yet probed. */
const bmpControl = new Uint8Array(0x10000);
const astralControl = new Map<number, boolean>();

function clusterCount(s: string): number {
  let n = 0;
  for (const _ of segmenter().segment(s)) n++;
  return n;
}

/**
 * Class of a code point, from ICU itself (once per code point), so it always agrees with
 * the segmenter used for the clusters: "a" + c + "a" is three clusters for a standalone c,
 * "ac" + "a" for Extend, ZWJ and SpacingMark, "a" + "ca" for Prepend (UAX #29, any Unicode
 * version). Extenders that are GB9c linkers ("क" + c + "क" is one cluster) or in
 * COMPLEX_JOINER_RE are JOINER.
 */
function probeClass(c: string): number {
  const segs: string[] = [];
  for (const { segment } of segmenter().segment(`a${c}a`)) segs.push(segment);
  const regex = JOINER_RE.test(c);
  if (segs.length === 3 && !regex) return STANDALONE;
  if (segs.length === 2 && segs[0] === `a${c}` && !COMPLEX_JOINER_RE.test(c) && clusterCount(`\u0915${c}\u0915`) !== 1) return EXTENDS;
  return JOINER;
}

function classOf(cp: number): number {
  if (cp < 0x80) return cp === 0x0d || cp === 0x0a ? JOINER : STANDALONE;
  if (cp < 0x10000) {
    let k = bmpClass[cp];
    if (k === 0) k = bmpClass[cp] = probeClass(String.fromCharCode(cp));
    return k;
  }
  let k = astralClass.get(cp);
  if (k === undefined) {
    k = probeClass(String.fromCodePoint(cp));
    astralClass.set(cp, k);
  }
  return k;
}

function isControl(cp: number): boolean {
  if (cp < 0x80) return cp < 0x20 || cp === 0x7f;
  if (cp < 0x10000) {
    let k = bmpControl[cp];
    if (k === 0) k = bmpControl[cp] = clusterCount(`${String.fromCharCode(cp)}\u0301`) === 2 ? 2 : 1;
    return k === 2;
  }
  let k = astralControl.get(cp);
  if (k === undefined) {
    k = clusterCount(`${String.fromCodePoint(cp)}\u0301`) === 2;
    astralControl.set(cp, k);
  }
  return k;
}

function codePointAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c >= 0xd800 && c < 0xdc00 ? text.codePointAt(i)! : c;
}

function mayJoinAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c < 0x80) return c === 0x0d || c === 0x0a;
  return classOf(codePointAt(text, i)) !== STANDALONE;
}

/** UTF-16 length of the code point at `i`. */
function cpWidth(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d < 0xe000) return 2;
  }
  return 1;
}

/** Start of the code point that ends just before `i` (i > 0). */
function prevCpStart(text: string, i: number): number {
  const d = text.charCodeAt(i - 1);
  if (d >= 0xdc00 && d < 0xe000 && i >= 2) {
    const c = text.charCodeAt(i - 2);
    if (c >= 0xd800 && c < 0xdc00) return i - 2;
  }
  return i - 1;
}

/** UTF-8 byte length of a well-formed string. */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}
