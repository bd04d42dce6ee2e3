/**
 * `ftfy.fix_text(text)` (ftfy 6.3.1, default `TextFixerConfig`), as used by diffusers' caption
 * cleaning. There is no JavaScript port of ftfy; this is a reimplementation of its behaviour.
 *
 * Implemented as ftfy does with its defaults:
 * - the outer loop: the text is fixed in segments that end after each "\n" (and at most
 *   1,000,000 characters); `unescape_html="auto"` is switched off for the current and all
 *   *following* segments once a segment contains "<"; each segment is fixed repeatedly until
 *   nothing changes;
 * - `unescape_html`: `&name;` entities of the HTML5 table, their ALL-CAPS spellings for
 *   lower-case names that Python's `html.unescape` would not decode (`&EACUTE;` -> 'É'), and
 *   `&#...;` numeric references only when `html.unescape` consumes the whole reference;
 * - `fix_encoding` (see `ftfyEncoding.ts`): mojibake detection with `badness.is_bad` and repair
 *   by re-encoding in the single-byte codecs ftfy tries (latin-1, sloppy windows-125x,
 *   iso-8859-2, macroman, cp437) and decoding as UTF-8 / "utf-8-variants", with
 *   `restore_byte_a0`, `replace_lossy_sequences`, `decode_inconsistent_utf8`, the Latin-1 ->
 *   Windows-1252 re-reading and `fix_c1_controls`; it leaves ASCII text and text that is not
 *   `is_bad` untouched;
 * - `fix_c1_controls` (U+0080-U+009F read as Windows-1252, undefined bytes kept),
 *   `fix_latin_ligatures`, `fix_character_width` (U+3000 and the U+FF01-U+FFEF block, via
 *   NFKC), `uncurl_quotes`, `fix_line_breaks`, `fix_surrogates` (in JS: lone surrogates become
 *   U+FFFD; paired ones already form one code point), `remove_terminal_escapes`,
 *   `remove_control_chars`, and the final NFC normalization.
 *
 * Known difference: Node's Unicode data is newer than CPython 3.11's (Unicode 14), so `\w` in
 * one badness rule and NFC can treat characters assigned after Unicode 14 differently.
 */
import { fixC1Controls, fixEncoding } from './ftfyEncoding.js';
import { html5Lookup, pyHtmlUnescape } from './htmlEntities.js';
import { toWellFormed } from './pyCompat.js';

const MAX_DECODE_LENGTH = 1_000_000;

// ---------------------------------------------------------------- unescape_html

const HTML_ENTITY_RE = /&#?[0-9A-Za-z]{1,24};/g;

function unescapeEntity(ref: string): string {
  const name = ref.slice(1); // includes the ';'
  const direct = html5Lookup(name);
  if (direct !== undefined) return direct;
  if (ref.startsWith('&#')) {
    const unescaped = pyHtmlUnescape(ref);
    return unescaped.includes(';') ? ref : unescaped;
  }
  // ALL-CAPS spelling of an all-lower-case HTML5 name, unless html.unescape would already
  // decode it (ftfy only adds these when the upper-case form is not a real reference).
  const lower = name.toLowerCase();
  if (name === lower.toUpperCase() && lower !== name) {
    const value = html5Lookup(lower);
    if (value !== undefined && pyHtmlUnescape(ref) === ref) return value.toUpperCase();
  }
  return ref;
}

function unescapeHtml(text: string): string {
  return text.replace(HTML_ENTITY_RE, unescapeEntity);
}

// ---------------------------------------------------------------- character fixes

/** Single-character Latin ligatures and digraphs, replaced by their letters. */
const LIGATURES = new Map<string, string>([
  ['\u0132', 'IJ'], ['\u0133', 'ij'], ['\u0149', '\u02bcn'],
  ['\u01f1', 'DZ'], ['\u01f2', 'Dz'], ['\u01f3', 'dz'],
  ['\u01c4', 'D\u017d'], ['\u01c5', 'D\u017e'], ['\u01c6', 'd\u017e'],
  ['\u01c7', 'LJ'], ['\u01c8', 'Lj'], ['\u01c9', 'lj'],
  ['\u01ca', 'NJ'], ['\u01cb', 'Nj'], ['\u01cc', 'nj'],
  ['\ufb00', 'ff'], ['\ufb01', 'fi'], ['\ufb02', 'fl'], ['\ufb03', 'ffi'], ['\ufb04', 'ffl'],
  ['\ufb05', '\u017ft'], ['\ufb06', 'st'],
]);
const LIGATURE_RE = new RegExp(`[${[...LIGATURES.keys()].join('')}]`, 'g');

function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE_RE, (c) => LIGATURES.get(c)!);
}

/** U+3000 -> ' ' plus every char of U+FF01..U+FFEF whose NFKC form differs. */
const WIDTH_MAP: Map<string, string> = (() => {
  const m = new Map<string, string>([['\u3000', ' ']]);
  for (let cp = 0xff01; cp < 0xfff0; cp++) {
    const c = String.fromCharCode(cp);
    const alt = c.normalize('NFKC');
    if (alt !== c) m.set(c, alt);
  }
  return m;
})();
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;

function fixCharacterWidth(text: string): string {
  return text.replace(WIDTH_RE, (c) => WIDTH_MAP.get(c) ?? c);
}

function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/g, '"').replace(/[\u02bc\u2018-\u201b]/g, "'");
}

function fixLineBreaks(text: string): string {
  return text
    .replaceAll('\r\n', '\n')
    .replaceAll('\r', '\n')
    .replaceAll('\u2028', '\n')
    .replaceAll('\u2029', '\n')
    .replaceAll('\u0085', '\n');
}

const ANSI_RE = /\x1b\[((?:\p{Nd}|;)*)([a-zA-Z])/gu;

function removeTerminalEscapes(text: string): string {
  return text.replace(ANSI_RE, '');
}

const CONTROL_CHARS_RE = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

function removeControlChars(text: string): string {
  return text.replace(CONTROL_CHARS_RE, '');
}

// ---------------------------------------------------------------- driver

function fixSegment(segment: string, unescape: boolean): string {
  let text = segment;
  for (;;) {
    const orig = text;
    if (unescape) text = unescapeHtml(text);
    text = fixEncoding(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = toWellFormed(text); // fix_surrogates
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === orig) return text;
  }
}

/** `ftfy.fix_text(text)` with default settings. */
export function ftfyFixText(text: string): string {
  let unescape = true; // unescape_html="auto"
  const out: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    let textbreak = text.indexOf('\n', pos) + 1;
    if (textbreak === 0) textbreak = text.length;
    if (textbreak - pos > MAX_DECODE_LENGTH) textbreak = pos + MAX_DECODE_LENGTH;
    const segment = text.slice(pos, textbreak);
    if (unescape && segment.includes('<')) unescape = false;
    out.push(fixSegment(segment, unescape));
    pos = textbreak;
  }
  return out.join('');
}
