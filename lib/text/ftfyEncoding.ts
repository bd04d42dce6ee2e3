/**
 * ftfy 6.3.1's `fix_encoding` (mojibake detection and repair), as `ftfy.fix_text` runs it with
 * its default `TextFixerConfig`. A TypeScript reimplementation of the behaviour; the character
 * categories and codec tables are data generated from ftfy (`ftfyEncodingData.ts`).
 *
 * `fixEncoding(text)` repeats one step until the text stops changing. One step:
 *
 * 1. Empty, all-ASCII, or not `isBad` (ftfy's `badness.is_bad`: a search for unlikely
 *    juxtapositions of the ~400 characters that make up UTF-8 mojibake) -> unchanged.
 * 2. For each single-byte codec of `CHARMAP_ENCODINGS` in order (latin-1, the sloppy
 *    windows-1252/1251/1250/1253/1254/1257, iso-8859-2, macroman, cp437) that can encode the
 *    whole text: encode it; unless the codec is macroman, when the bytes look like UTF-8 whose
 *    0xA0 became a space (`ALTERED_UTF8_RE`) put the 0xA0 back (`restoreByteA0`); for the sloppy
 *    codecs, turn UTF-8 sequences that lost bytes to U+FFFD (byte 0x1A) into U+FFFD
 *    (`replaceLossySequences`); decode as strict UTF-8, or as ftfy's "utf-8-variants" (CESU-8
 *    surrogate pairs, Java's 0xC0 0x80 for U+0000) when the bytes contain 0xED or 0xC0. The
 *    first codec whose bytes decode gives the result.
 * 3. Otherwise, if UTF-8-looking runs are present (`UTF8_DETECTOR_RE`), fix each run that
 *    `isBad` on its own (and is not the whole text) with `fixEncoding`; a change is the result.
 * 4. Otherwise, text that is all Latin-1 is re-read as strict Windows-1252 (C1 controls become
 *    the Windows-1252 characters) unless it holds one of the five bytes windows-1252 lacks.
 * 5. Otherwise any C1 controls are read as sloppy Windows-1252 (`fixC1Controls`).
 *
 * Byte strings are handled as "binary strings" (one UTF-16 unit per byte, 0x00-0xFF), so
 * ftfy's byte regexes become ordinary JS regexes with the same meaning.
 */
import { CHARMAP_ENCODINGS, MOJIBAKE_CATEGORIES, UTF8_CLUES, WINDOWS_1252_C1 } from './ftfyEncodingData.js';
import { CP1252_C1 } from './htmlEntities.js';
import { PY_SPACE_CHARS, PY_WORD_CHARS } from './pyCompat.js';

// ---------------------------------------------------------------- badness (is_bad)

const {
  common,
  c1,
  bad,
  law,
  currency,
  start_punctuation: start,
  end_punctuation: end,
  numeric,
  kaomoji,
  upper_accented: upperAcc,
  lower_accented: lowerAcc,
  upper_common: upperCommon,
  lower_common: lowerCommon,
  box,
} = MOJIBAKE_CATEGORIES;

const cls = (...bodies: string[]): string => `[${bodies.join('')}]`;
const SPACE = `[${PY_SPACE_CHARS}]`; // Python's \s
const WORD = `[${PY_WORD_CHARS}]`; // Python's \w
const ARABIC_TAIL = cls(common, currency, bad, numeric, start, 'ŸŠ®°µ»');

/**
 * The sequences that ftfy's badness heuristic counts as mojibake: one alternative per rule of
 * `ftfy.badness.BADNESS_RE`, built over the generated character categories. Only whether
 * one of them occurs matters here (`is_bad`), not where.
 */
const BADNESS_ALTERNATIVES: string[] = [
  cls(c1),
  cls(bad, lowerAcc, upperAcc, box, start, end, currency, numeric, law) + cls(bad),
  '[a-zA-Z]' + cls(lowerCommon, upperCommon) + cls(bad),
  cls(bad) + cls(lowerAcc, upperAcc, box, start, end, currency, numeric, law),
  cls(lowerAcc, lowerCommon, box, end, currency, numeric) + cls(upperAcc),
  cls(box, end, currency, numeric) + cls(lowerAcc),
  cls(lowerAcc, box, end) + cls(currency),
  SPACE + cls(upperAcc) + cls(currency),
  cls(upperAcc, box) + cls(numeric, law),
  cls(lowerAcc, upperAcc, box, currency, end) + cls(start) + cls(numeric),
  cls(lowerAcc, upperAcc, currency, numeric, box, law) + cls(end) + cls(start),
  cls(currency, numeric, box) + cls(start),
  '[a-z]' + cls(upperAcc) + cls(start, currency),
  cls(box) + cls(kaomoji),
  cls(lowerAcc, upperAcc, currency, numeric, start, end, law) + cls(box),
  cls(box) + cls(end),
  cls(lowerAcc, upperAcc) + cls(start, end) + WORD,
  '[Œœ][^A-Za-z]', // the ligature œ not followed by an unaccented Latin letter
  cls(upperAcc) + '°', // degree sign after a capital letter
  // common two-character Windows-1252 mojibake not covered above
  '[ÂÃÎÐ]' + cls('€œŠš¢£Ÿž\u00a0\u00ad®©°·»', start, end, '–—´'),
  '×[²³]',
  // Windows-1252 mojibake of Arabic: four characters
  '[ØÙ]' + ARABIC_TAIL + '[ØÙ]' + ARABIC_TAIL,
  'à[²µ¹¼½¾]', // starts of 3-byte South Asian letters
  // MacRoman mojibake
  '√[±∂†≠®™´≤≥¥µø]',
  '≈[°¢]',
  '‚Ä[ìîïòôúùû†°¢π]',
  '‚[âó][àä°ê]',
  'вЂ', // Windows-1251 mojibake of U+2000-range characters
  // Windows-1251 mojibake of Latin-1 / Cyrillic: three characters
  '[ВГРС]' + cls(c1, bad, start, end, currency, '°µ') + '[ВГРС]',
  // Windows-1251 over Latin-1 over Windows-1252, next to a Latin letter or space
  'ГўВЂВ[^\\n][A-Za-z ]',
  'Ã[\u00a0¡]', // 'à', 'á' and U+A0 itself
  '[a-z]' + SPACE + '?[ÃÂ] ',
  '^[ÃÂ] ',
  // Â before a character it encodes together with
  '[a-z.,?!' + end + ']Â[ ' + start + end + ']',
  'β€[™\u00a0Ά\u00ad®°]', // Windows-1253 mojibake of U+2000-range characters
  '[ΒΓΞΟ]' + cls(c1, bad, start, end, currency, '°') + '[ΒΓΞΟ]',
  'ā€', // Windows-1257 mojibake of U+2000-range characters
];
/**
 * Characters of which every alternative above has one within its first three characters (at
 * a position whose class lies within this set). Text without any of them cannot be bad, which
 * a single class scan tells much faster than the full search; and the search itself only tries
 * the alternatives where one of them is at most two characters ahead.
 */
const BADNESS_REQUIRED = cls(c1, bad, upperAcc, lowerAcc, currency, numeric, law, start, end, box, 'ŒœÂÃÎÐ×ØÙà√≈‚вВГРСβΒΓΞΟā');
const BADNESS_REQUIRED_RE = new RegExp(BADNESS_REQUIRED, 'u');
const BADNESS_RE = new RegExp(`(?=[^]{0,2}${BADNESS_REQUIRED})(?:${BADNESS_ALTERNATIVES.join('|')})`, 'u');

/** `ftfy.badness.is_bad`: whether the text contains a sequence that looks like mojibake. */
export function isBad(text: string): boolean {
  return BADNESS_REQUIRED_RE.test(text) && BADNESS_RE.test(text);
}

// ---------------------------------------------------------------- single-byte codecs

interface Charmap {
  name: string;
  sloppy: boolean;
  /** byte for each character code below 0x100, -1 where the codec has no such character. */
  low: Int16Array;
  /** byte for the codec's characters from U+0100 up. */
  high: Map<number, number>;
}

let charmaps: Charmap[] | undefined;

function getCharmaps(): Charmap[] {
  if (!charmaps) {
    charmaps = CHARMAP_ENCODINGS.map(({ name, high, sub }) => {
      const cm: Charmap = { name, sloppy: name.startsWith('sloppy'), low: new Int16Array(256).fill(-1), high: new Map() };
      const add = (c: number, b: number): void => {
        if (c < 0x100) cm.low[c] = b;
        else cm.high.set(c, b);
      };
      for (let c = 0; c < 0x80; c++) if (c !== 0x1a) add(c, c); // ASCII is itself in every codec
      for (let i = 0; i < 0x80; i++) add(high.charCodeAt(i), 0x80 + i);
      add(sub.charCodeAt(0), 0x1a);
      return cm;
    });
  }
  return charmaps;
}

/** A string of the given UTF-16 code units (bytes, for a binary string). */
function fromCodes(codes: Uint8Array | Uint16Array): string {
  let s = '';
  for (let i = 0; i < codes.length; i += 8192) {
    s += String.fromCharCode.apply(null, codes.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

/**
 * `text.encode(codec)` as a binary string, or null when some character is not in the codec
 * (ftfy's `possible_encoding` is false).
 */
function encodeCharmap(text: string, cm: Charmap): string | null {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c < 0x100 ? cm.low[c] : (cm.high.get(c) ?? -1);
    if (b < 0) return null;
    out[i] = b;
  }
  return fromCodes(out);
}

const NON_ASCII_RE = /[^\x00-\x7f]/;
const C1_RE = /[\x80-\x9f]/;
const C1_RE_G = /[\x80-\x9f]/g;

/** `ftfy.fixes.fix_c1_controls`: C1 controls read as sloppy Windows-1252 (undefined bytes kept). */
export function fixC1Controls(text: string): string {
  return text.replace(C1_RE_G, (c) => CP1252_C1[c.charCodeAt(0)] ?? c);
}

/** `text.encode('latin-1').decode('windows-1252')` (strict) for Latin-1 text, or null on a byte it lacks. */
function latin1AsWindows1252(text: string): string | null {
  const out = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 && c < 0xa0) {
      const w = WINDOWS_1252_C1.charCodeAt(c - 0x80);
      if (w === 0) return null; // a byte strict windows-1252 does not define
      out[i] = w;
    } else {
      out[i] = c;
    }
  }
  return fromCodes(out);
}

// ---------------------------------------------------------------- byte-level repairs

/**
 * UTF-8 sequences that would be valid if a 0xA0 had not been turned into a space (only the
 * lead bytes / positions ftfy accepts: chardata.ALTERED_UTF8_RE).
 */
const ALTERED_UTF8_SOURCE =
  '[\\xc2\\xc3\\xc5\\xce\\xd0\\xd9] ' +
  '|[\\xe2\\xe3] [\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf]' +
  '|[\\xe0-\\xe3][\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf] ' +
  '|\\xf0 [\\x80-\\xbf][\\x80-\\xbf]' +
  '|\\xf0[\\x80-\\xbf] [\\x80-\\xbf]' +
  '|\\xf0[\\x80-\\xbf][\\x80-\\xbf] ';
const ALTERED_UTF8_RE = new RegExp(ALTERED_UTF8_SOURCE);
const ALTERED_UTF8_RE_G = new RegExp(ALTERED_UTF8_SOURCE, 'g');

/** "Ã " as a word of its own: 'à' whose 0xA0 and the following space merged (not "às", "àquele"...). */
const A_GRAVE_WORD_RE = /\xc3 (?! |quele|quela|quilo|s )/g;

/** `ftfy.fixes.restore_byte_a0` on a binary string. */
export function restoreByteA0(bytes: string): string {
  const b = bytes.replace(A_GRAVE_WORD_RE, '\xc3\xa0 ');
  return b.replace(ALTERED_UTF8_RE_G, (m) => m.replaceAll(' ', '\xa0'));
}

/**
 * UTF-8 / CESU-8 sequences with continuation bytes lost to U+FFFD (encoded by the sloppy codecs
 * as byte 0x1A) or, once per sequence, to '?'; and any other 0x1A (chardata.LOSSY_UTF8_RE).
 */
const LOSSY_UTF8_RE = new RegExp(
  [
    '[\\xc2-\\xdf]\\x1a',
    '[\\xc2\\xc3]\\?',
    '\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]',
    '\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]',
    '[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]',
    '[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]',
    '\\x1a',
  ].join('|'),
  'g',
);

/** `ftfy.fixes.replace_lossy_sequences` on a binary string: each match becomes UTF-8 U+FFFD. */
export function replaceLossySequences(bytes: string): string {
  return bytes.replace(LOSSY_UTF8_RE, '\xef\xbf\xbd');
}

// ---------------------------------------------------------------- UTF-8 decoders

/**
 * Strict UTF-8 (Python's codec: no surrogates, no overlong forms, nothing above U+10FFFF) of
 * bytes [from, to) of a binary string, appended to `out`; false if they are not valid UTF-8.
 */
function decodeUtf8Strict(b: string, from: number, to: number, out: string[]): boolean {
  let i = from;
  let run = i; // start of the pending ASCII run
  while (i < to) {
    const b0 = b.charCodeAt(i);
    if (b0 < 0x80) {
      i++;
      continue;
    }
    if (run < i) out.push(b.slice(run, i));
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    let cp: number;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      need = 1;
      cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      cp = b0 & 0x0f;
      if (b0 === 0xe0) lo = 0xa0;
      else if (b0 === 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      cp = b0 & 0x07;
      if (b0 === 0xf0) lo = 0x90;
      else if (b0 === 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (i + need >= to) return false; // truncated
    for (let k = 1; k <= need; k++) {
      const bk = b.charCodeAt(i + k);
      if (k === 1 ? bk < lo || bk > hi : bk < 0x80 || bk > 0xbf) return false;
      cp = (cp << 6) | (bk & 0x3f);
    }
    out.push(String.fromCodePoint(cp));
    i += need + 1;
    run = i;
  }
  if (run < to) out.push(b.slice(run, to));
  return true;
}

/** Python's `bytes.decode('utf-8')` of a binary string, or null on a UnicodeDecodeError. */
export function decodeUtf8(bytes: string): string | null {
  const out: string[] = [];
  return decodeUtf8Strict(bytes, 0, bytes.length, out) ? out.join('') : null;
}

/**
 * ftfy's 'utf-8-variants' codec (bytes.decode('utf-8-variants')) of a binary string, or null
 * on a UnicodeDecodeError. Standard UTF-8, except that at the special places it finds — 0xC0
 * before 0x80 or the end; 0xED before [A0-BF] and [80-BF] (either may be the end) — it reads
 * 0xC0 + one byte as U+0000, and six bytes ED [A0-AF] [80-BF] ED [B0-BF] [80-BF] (a CESU-8
 * surrogate pair) as one astral character, decoding other 0xED sequences as normal UTF-8 (three
 * bytes, or all the rest when fewer than six remain). "The end" is as Python's bytes-regex `$`
 * reads it: the end, or just before a final b"\n" (which is how "\xc0\n" becomes U+0000).
 */
export function decodeUtf8Variants(b: string): string | null {
  const n = b.length;
  const isEnd = (k: number): boolean => k === n || (k === n - 1 && b.charCodeAt(k) === 0x0a);
  const inRange = (k: number, lo: number, hi: number): boolean => {
    if (k >= n) return false;
    const c = b.charCodeAt(k);
    return c >= lo && c <= hi;
  };
  /** Do the byte groups (each a range, or the end) match from position k on? */
  const groups = (k: number, ranges: readonly (readonly [number, number])[]): boolean => {
    for (const [lo, hi] of ranges) {
      if (inRange(k, lo, hi)) k++;
      else if (!isEnd(k)) return false;
    }
    return true;
  };
  const special = (k: number): boolean => {
    const c = b.charCodeAt(k);
    if (c === 0xc0) return groups(k + 1, [[0x80, 0x80]]);
    if (c === 0xed) return groups(k + 1, [[0xa0, 0xbf], [0x80, 0xbf]]);
    return false;
  };
  const CESU_TAIL = [[0xa0, 0xaf], [0x80, 0xbf], [0xed, 0xed], [0xb0, 0xbf], [0x80, 0xbf]] as const;

  const out: string[] = [];
  let pos = 0;
  while (pos < n) {
    let next = pos;
    while (next < n && !special(next)) next++;
    if (next === n) {
      if (!decodeUtf8Strict(b, pos, n, out)) return null;
      break;
    }
    if (next > pos) {
      if (!decodeUtf8Strict(b, pos, next, out)) return null;
      pos = next;
      continue;
    }
    if (b.charCodeAt(pos) === 0xc0) {
      if (n - pos < 2) return null; // a lone 0xC0 at the end: invalid UTF-8
      out.push('\u0000');
      pos += 2;
    } else if (n - pos < 6) {
      if (!decodeUtf8Strict(b, pos, n, out)) return null;
      pos = n;
    } else if (groups(pos + 1, CESU_TAIL)) {
      const at = (k: number): number => b.charCodeAt(pos + k);
      const cp =
        ((at(1) & 0x0f) << 16) + ((at(2) & 0x3f) << 10) + ((at(4) & 0x0f) << 6) + (at(5) & 0x3f) + 0x10000;
      out.push(String.fromCodePoint(cp));
      pos += 6;
    } else {
      if (!decodeUtf8Strict(b, pos, pos + 3, out)) return null;
      pos += 3;
    }
  }
  return out.join('');
}

// ---------------------------------------------------------------- decode_inconsistent_utf8

const CONT = UTF8_CLUES.utf8_continuation;
const UTF8_DETECTOR_SOURCE =
  `(?<![${UTF8_CLUES.utf8_continuation_strict}])` +
  `(?:[${UTF8_CLUES.utf8_first_of_2}][${CONT}]` +
  `|[${UTF8_CLUES.utf8_first_of_3}][${CONT}]{2}` +
  `|[${UTF8_CLUES.utf8_first_of_4}][${CONT}]{3})+`;
const UTF8_DETECTOR_RE = new RegExp(UTF8_DETECTOR_SOURCE);
const UTF8_DETECTOR_RE_G = new RegExp(UTF8_DETECTOR_SOURCE, 'g');

/**
 * `ftfy.fixes.decode_inconsistent_utf8`: runs that look like UTF-8 mojibake, not preceded by a
 * strict continuation character, are fixed on their own when they are bad by themselves and
 * shorter than the whole text.
 */
export function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR_RE_G, (run) => (run.length < text.length && isBad(run) ? fixEncoding(run) : run));
}

// ---------------------------------------------------------------- fix_encoding

function fixEncodingStep(text: string): string {
  if (text.length === 0 || !NON_ASCII_RE.test(text) || !isBad(text)) return text;

  let latin1 = false;
  for (const cm of getCharmaps()) {
    let bytes = encodeCharmap(text, cm);
    if (bytes === null) continue;
    if (cm.name === 'latin-1') latin1 = true;
    if (cm.name !== 'macroman' && ALTERED_UTF8_RE.test(bytes)) bytes = restoreByteA0(bytes);
    if (cm.sloppy) bytes = replaceLossySequences(bytes);
    const variants = bytes.includes('\xed') || bytes.includes('\xc0');
    const fixed = variants ? decodeUtf8Variants(bytes) : decodeUtf8(bytes);
    if (fixed !== null) return fixed;
  }

  if (UTF8_DETECTOR_RE.test(text)) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }

  // Latin-1 text that is not Windows-1252 text: its C1 controls were meant as Windows-1252.
  // (ftfy would keep the text when strict 'windows-1252' were among the possible codecs, but
  // only its sloppy variant is tried, so that case does not arise.)
  if (latin1) {
    const fixed = latin1AsWindows1252(text);
    if (fixed !== null && fixed !== text) return fixed;
  }

  if (C1_RE.test(text)) return fixC1Controls(text);
  return text;
}

/** `ftfy.fix_encoding(text)` with the default configuration. */
export function fixEncoding(text: string): string {
  for (;;) {
    const prev = text;
    text = fixEncodingStep(text);
    if (text === prev) return text;
  }
}
