/**
 * HTML character references, resolved the way CPython 3.11's `html` module does.
 *
 * The named-reference table is the WHATWG HTML5 list (`html.entities.html5` in Python),
 * taken from the `html-entities` package: its `html5` level holds every `name;` entry plus
 * the legacy entries that are also valid without the semicolon (`amp`, `lt`, `eacute`, ...),
 * which is exactly the key set of Python's `html.entities.html5`.
 */
import { decodeEntity } from 'html-entities';

/**
 * Entries where `html-entities` keeps the HTML 4 value while HTML5 (and Python) changed it.
 * Checked against all 2231 keys of CPython 3.11's `html.entities.html5`.
 */
const HTML5_OVERRIDES = new Map<string, string>([
  ['lang;', '\u27e8'],
  ['rang;', '\u27e9'],
]);

/**
 * Looks `key` up in the HTML5 named-reference table, with the same keys as Python's
 * `html.entities.html5`: `"amp;"` (with semicolon) or `"amp"` (legacy, no semicolon).
 */
export function html5Lookup(key: string): string | undefined {
  if (key.length === 0 || key.charCodeAt(0) === 0x23 /* '#' */) return undefined;
  const fixed = HTML5_OVERRIDES.get(key);
  if (fixed !== undefined) return fixed;
  const ref = '&' + key;
  const out = decodeEntity(ref, { level: 'html5' });
  return out === ref ? undefined : out;
}

/** Windows-1252 characters for the bytes 0x80-0x9F (the five undefined bytes 81, 8D, 8F, 90, 9D are absent). */
export const CP1252_C1: Record<number, string> = {
  0x80: '\u20ac', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e', 0x85: '\u2026', 0x86: '\u2020',
  0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039', 0x8c: '\u0152',
  0x8e: '\u017d', 0x91: '\u2018', 0x92: '\u2019', 0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022',
  0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc', 0x99: '\u2122', 0x9a: '\u0161', 0x9b: '\u203a',
  0x9c: '\u0153', 0x9e: '\u017e', 0x9f: '\u0178',
};

/** Windows-1252 meanings of the numeric references 0x80-0x9F (HTML5 "invalid charrefs" table), plus 0x00 and 0x0D. */
const INVALID_CHARREFS = new Map<number, string>([
  [0x00, '\ufffd'], [0x0d, '\r'],
  [0x80, '\u20ac'], [0x81, '\x81'], [0x82, '\u201a'], [0x83, '\u0192'], [0x84, '\u201e'],
  [0x85, '\u2026'], [0x86, '\u2020'], [0x87, '\u2021'], [0x88, '\u02c6'], [0x89, '\u2030'],
  [0x8a, '\u0160'], [0x8b, '\u2039'], [0x8c, '\u0152'], [0x8d, '\x8d'], [0x8e, '\u017d'],
  [0x8f, '\x8f'], [0x90, '\x90'], [0x91, '\u2018'], [0x92, '\u2019'], [0x93, '\u201c'],
  [0x94, '\u201d'], [0x95, '\u2022'], [0x96, '\u2013'], [0x97, '\u2014'], [0x98, '\u02dc'],
  [0x99, '\u2122'], [0x9a, '\u0161'], [0x9b, '\u203a'], [0x9c, '\u0153'], [0x9d, '\x9d'],
  [0x9e, '\u017e'], [0x9f, '\u0178'],
]);

/** Code points that Python's `html.unescape` drops (returns '') when written as numeric references. */
function isDroppedCodepoint(n: number): boolean {
  if ((n >= 0x01 && n <= 0x08) || n === 0x0b || (n >= 0x0e && n <= 0x1f)) return true;
  if (n >= 0x7f && n <= 0x9f) return true;
  if (n >= 0xfdd0 && n <= 0xfdef) return true;
  return (n & 0xfffe) === 0xfffe; // U+xFFFE / U+xFFFF in every plane
}

/**
 * Parses a run of ASCII digits in `radix` (10 or 16) as a non-negative integer, returning
 * `Infinity` for anything above 0x10FFFF (Python uses arbitrary-precision ints here).
 */
export function parseBoundedInt(digits: string, radix: 10 | 16): number {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) === 0x30) i++;
  const d = digits.slice(i);
  if (d.length > (radix === 10 ? 8 : 7)) return Infinity;
  return parseInt(d, radix);
}

const CHARREF_RE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(_m: string, body: string): string {
  if (body.charCodeAt(0) === 0x23 /* '#' */) {
    const hex = body[1] === 'x' || body[1] === 'X';
    let digits = body.slice(hex ? 2 : 1);
    if (digits.endsWith(';')) digits = digits.slice(0, -1);
    const num = parseBoundedInt(digits, hex ? 16 : 10);
    const special = INVALID_CHARREFS.get(num);
    if (special !== undefined) return special;
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (isDroppedCodepoint(num)) return '';
    return String.fromCodePoint(num);
  }
  const whole = html5Lookup(body);
  if (whole !== undefined) return whole;
  // Longest prefix (at least 2 code points, shorter than the whole) that is a known name.
  const cps = Array.from(body);
  for (let x = cps.length - 1; x > 1; x--) {
    const value = html5Lookup(cps.slice(0, x).join(''));
    if (value !== undefined) return value + cps.slice(x).join('');
  }
  return '&' + body;
}

/** CPython 3.11 `html.unescape(s)`. */
export function pyHtmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF_RE, replaceCharref);
}
