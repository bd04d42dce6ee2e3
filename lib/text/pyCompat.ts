/**
 * Small helpers that reproduce CPython 3.11 `str` / `re` semantics in JavaScript.
 *
 * Python's `re` module, for `str` patterns, is Unicode-aware by default while JS regexes
 * (even with the `u` flag) treat `\w`, `\d`, `\s` and `\b` differently:
 *
 * | Python (str pattern)                          | JS equivalent used here                 |
 * |-----------------------------------------------|-----------------------------------------|
 * | `\w` = `str.isalnum()` or `_`                 | `[\p{L}\p{N}_]`                          |
 * | `\d` = Unicode decimal digits (category Nd)   | `\p{Nd}`                                 |
 * | `\s` = `str.isspace()` (see {@link PY_SPACE_CHARS}) | explicit class (JS `\s` differs: it has U+FEFF, lacks U+001C-001F and U+0085) |
 * | `\b` = boundary between Unicode `\w` and non-`\w` | look-around built from the `\w` class |
 *
 * The `\w`/`\d` equivalences were checked code point by code point against CPython 3.11.7:
 * they agree for every character assigned in Unicode 14.0 (CPython 3.11's database). JS
 * engines ship newer Unicode data, so characters assigned after 14.0 count as letters/digits
 * here but not in CPython 3.11.
 *
 * All regexes built from these fragments must use the `u` flag.
 */

/** Characters for which CPython's `str.isspace()` (and `re`'s `\s`) is true, as a class body. */
export const PY_SPACE_CHARS =
  '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** Python `\w` as a class body (to be put inside `[...]`). */
export const PY_WORD_CHARS = '\\p{L}\\p{N}_';

/** Python `\w`. */
export const W = `[${PY_WORD_CHARS}]`;
/** Python `\W`. */
export const NOT_W = `[^${PY_WORD_CHARS}]`;
/** Python `\s`. */
export const S = `[${PY_SPACE_CHARS}]`;
/** Python `\S`. */
export const NOT_S = `[^${PY_SPACE_CHARS}]`;
/** Python `\d`. */
export const D = '\\p{Nd}';
/** Python `\D`. */
export const NOT_D = '\\P{Nd}';
/** Python `\b` (Unicode word boundary). */
export const B = `(?:(?<=${W})(?!${W})|(?<!${W})(?=${W}))`;

const SPACE_SET = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Python `ch.isspace()` for a single UTF-16 unit (all Python spaces are in the BMP). */
export function isPySpace(codeUnit: number): boolean {
  return SPACE_SET.has(codeUnit);
}

/** Python `s.strip()` with no argument (strips `str.isspace()` characters; JS `trim()` uses a different set). */
export function pyStrip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && SPACE_SET.has(s.charCodeAt(a))) a++;
  while (b > a && SPACE_SET.has(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * Python `s.lower()`: full Unicode lowercase mapping including Final_Sigma. JS
 * `toLowerCase()` (locale-independent) implements the same algorithm; only the Unicode
 * version of the case tables can differ.
 */
export function pyLower(s: string): string {
  return s.toLowerCase();
}

/** Python `s.upper()` (full mapping, e.g. 'ß' -> 'SS'). */
export function pyUpper(s: string): string {
  return s.toUpperCase();
}

/**
 * Makes a JS string a well-formed sequence of code points: every lone UTF-16 surrogate is
 * replaced by U+FFFD. A JS string with a valid surrogate pair corresponds to a Python `str`
 * holding one astral code point.
 */
export function toWellFormed(s: string): string {
  // String.prototype.toWellFormed exists from Node 20; keep a fallback for older runtimes.
  const native = (s as unknown as { toWellFormed?: () => string }).toWellFormed;
  if (typeof native === 'function') return native.call(s);
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
