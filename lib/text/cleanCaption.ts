/**
 * Caption preprocessing of diffusers' `PixArtAlphaPipeline` (`_text_preprocessing` and
 * `_clean_caption`, the same code as DeepFloyd IF's), reimplemented in TypeScript.
 *
 * Python semantics reproduced on purpose:
 * - `str.lower()` / `str.strip()` (Unicode lowercase incl. final sigma; strip uses Python's
 *   whitespace set, which differs from JS `trim()`);
 * - `re` with `str` patterns: Unicode `\w`, `\d`, `\s`, `\b` (see `pyCompat.ts`);
 * - `urllib.parse.unquote_plus` (UTF-8 with replacement, decoded per ASCII run);
 * - `BeautifulSoup(caption, features="html.parser").text` (see `htmlText.ts`);
 * - `ftfy.fix_text` (see `ftfyLite.ts`; mojibake repair in `ftfyEncoding.ts`);
 * - `html.unescape` (see `htmlEntities.ts`).
 */
import { PixArtError } from '../errors.js';
import { ftfyFixText } from './ftfyLite.js';
import { pyHtmlUnescape } from './htmlEntities.js';
import { HtmlRejectedError, htmlToText } from './htmlText.js';
import { B, D, NOT_D, NOT_S, PY_WORD_CHARS, S, W, pyLower, pyStrip } from './pyCompat.js';

// ---------------------------------------------------------------- urllib.parse.unquote_plus

const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;
const UTF8_REPLACE = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** `unquote_to_bytes(run).decode('utf-8', 'replace')` for a run of ASCII characters. */
function unquoteAsciiRun(run: string): string {
  if (!run.includes('%')) return run;
  const parts = run.split('%');
  const bytes: number[] = [];
  const pushAscii = (s: string): void => {
    for (let i = 0; i < s.length; i++) bytes.push(s.charCodeAt(i));
  };
  pushAscii(parts[0]);
  for (let p = 1; p < parts.length; p++) {
    const item = parts[p];
    const head = item.slice(0, 2);
    if (HEX_PAIR.test(head)) {
      bytes.push(parseInt(head, 16));
      pushAscii(item.slice(2));
    } else {
      bytes.push(0x25);
      pushAscii(item);
    }
  }
  return UTF8_REPLACE.decode(new Uint8Array(bytes));
}

/** Python `urllib.parse.unquote_plus(s)` (encoding 'utf-8', errors 'replace'). */
export function unquotePlus(s: string): string {
  const t = s.replaceAll('+', ' ');
  if (!t.includes('%')) return t;
  // Percent escapes are decoded separately within each maximal run of ASCII characters.
  return t.replace(/[\x00-\x7f]+/g, unquoteAsciiRun);
}

// ---------------------------------------------------------------- the regexes

const re = (source: string): RegExp => new RegExp(source, 'gu');

const URL_TAIL = `[a-zA-Z0-9.\\-]+[.](?:com|co|ru|net|org|edu|gov|it)[${PY_WORD_CHARS}/-]*${B}\\/?(?!@)`;
const URL_RE_1 = re(`${B}((?:https?:(?:\\/{1,3}|[a-zA-Z0-9%])|${URL_TAIL}))`);
const URL_RE_2 = re(`${B}((?:www:(?:\\/{1,3}|[a-zA-Z0-9%])|${URL_TAIL}))`);
const NICKNAME_RE = re(`@[${PY_WORD_CHARS}${D}]+${B}`);
const CJK_RES = [
  /[\u31c0-\u31ef]+/gu, // CJK Strokes
  /[\u31f0-\u31ff]+/gu, // Katakana Phonetic Extensions
  /[\u3200-\u32ff]+/gu, // Enclosed CJK Letters and Months
  /[\u3300-\u33ff]+/gu, // CJK Compatibility
  /[\u3400-\u4dbf]+/gu, // CJK Unified Ideographs Extension A
  /[\u4dc0-\u4dff]+/gu, // Yijing Hexagram Symbols
  /[\u4e00-\u9fff]+/gu, // CJK Unified Ideographs
];
const DASHES_RE =
  /[\u002D\u058A\u05BE\u1400\u1806\u2010-\u2015\u2E17\u2E1A\u2E3A\u2E3B\u2E40\u301C\u3030\u30A0\uFE31\uFE32\uFE58\uFE63\uFF0D]+/gu;
const DOUBLE_QUOTES_RE = /[`\u00b4\u00ab\u00bb\u201c\u201d\u00a8]/gu;
const SINGLE_QUOTES_RE = /[\u2018\u2019]/gu;
const QUOT_RE = /&quot;?/gu;
const AMP_RE = /&amp/gu;
const IP_RE = re(`${D}{1,3}\\.${D}{1,3}\\.${D}{1,3}\\.${D}{1,3}`);
const ARTICLE_ID_RE = re(`${D}:${D}${D}${S}+$`);
const ESCAPED_NEWLINE_RE = /\\n/gu;
const HASH_SHORT_NUMBER_RE = re(`#${D}{1,3}${B}`);
const HASH_LONG_NUMBER_RE = re(`#${D}{5,}${B}`);
const LONG_NUMBER_RE = re(`${B}${D}{6,}${B}`);
const FILENAME_RE = re(`${NOT_S}+\\.(?:png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4)`);
const REPEATED_QUOTES_RE = /["']{2,}/gu;
const REPEATED_DOTS_RE = /\.{2,}/gu;
/** diffusers' `bad_punct_regex`: one or more of # ® • © ™ & @ · º ½ ¾ ¿ ¡ § ~ ) ( ] [ } { | \ / * */
const BAD_PUNCT_RE = /[#\u00ae\u2022\u00a9\u2122&@\u00b7\u00ba\u00bd\u00be\u00bf\u00a1\u00a7~\)\(\]\[\}\{\|\\\/\*]+/gu;
const SPACED_DOT_RE = re(`${S}+\\.${S}+`);
const DASH_OR_UNDERSCORE_RE = /[-_]/gu;
const SHORT_ALPHA_NUMBER_RE = re(`${B}[a-zA-Z]{1,3}${D}{3,15}${B}`);
const ALPHA_NUM_ALPHA_RE = re(`${B}[a-zA-Z]+${D}+[a-zA-Z]+${B}`);
const NUM_ALPHA_NUM_RE = re(`${B}${D}+[a-zA-Z]+${D}+${B}`);
const SHIPPING_RE = re(`(worldwide${S}+)?(free${S}+)?shipping`);
const DOWNLOAD_RE = re(`(free${S})?download(${S}free)?`);
const CLICK_RE = re(`${B}click${B}${S}(?:for|on)${S}${W}+`);
const IMAGE_EXT_RE = re(`${B}(?:png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4)(${S}image[s]?)?`);
const PAGE_RE = re(`${B}page${S}+${D}+${B}`);
const MIXED_ID_RE = re(`${B}${D}*[a-zA-Z]+${D}+[a-zA-Z]+${D}+[a-zA-Z${D}]*${B}`);
const DIMENSIONS_RE = re(`${B}${D}+\\.?${D}*[x\u0445\u00d7]${D}+\\.?${D}*${B}`);
const SPACED_COLON_RE = re(`${B}${S}+:${S}+`);
const PUNCT_BEFORE_WORD_RE = re(`(${NOT_D}[,./])${B}`);
const WHITESPACE_RUN_RE = re(`${S}+`);
const QUOTED_WHOLE_RE = /^["']([^]+)["']$/u;
const LEADING_PUNCT_RE = /^['_,\-:;]/u;
const TRAILING_PUNCT_RE = /['_,\-:+]$/u;
const DOT_WORD_RE = re(`^\\.${NOT_S}+$`);

function assertString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new PixArtError('ERR_PIXART_INVALID_ARGUMENT', `${what} must be a string, got ${value === null ? 'null' : typeof value}`);
  }
}

/**
 * diffusers' `PixArtAlphaPipeline._clean_caption(caption)` (one pass).
 * @throws PixArtError ERR_PIXART_INVALID_ARGUMENT if `caption` is not a string, or if the
 *   caption is markup that BeautifulSoup's html.parser rejects (Python raises too).
 */
export function cleanCaption(caption: string): string {
  assertString(caption, 'caption');
  let c = unquotePlus(caption);
  c = pyLower(pyStrip(c));
  c = c.replace(/<person>/gu, 'person');
  // urls
  c = c.replace(URL_RE_1, '');
  c = c.replace(URL_RE_2, '');
  // html
  try {
    c = htmlToText(c);
  } catch (err) {
    if (err instanceof HtmlRejectedError) {
      throw new PixArtError(
        'ERR_PIXART_INVALID_ARGUMENT',
        `caption cleaning: the HTML parser rejected the caption (${err.message}), as BeautifulSoup does`,
        { cause: err },
      );
    }
    throw err;
  }
  // @<nickname>
  c = c.replace(NICKNAME_RE, '');
  // CJK blocks
  for (const cjk of CJK_RES) c = c.replace(cjk, '');
  // every kind of dash -> "-"
  c = c.replace(DASHES_RE, '-');
  // quotes to one standard
  c = c.replace(DOUBLE_QUOTES_RE, '"');
  c = c.replace(SINGLE_QUOTES_RE, "'");
  // &quot; / &amp
  c = c.replace(QUOT_RE, '');
  c = c.replace(AMP_RE, '');
  // ip addresses
  c = c.replace(IP_RE, ' ');
  // article ids
  c = c.replace(ARTICLE_ID_RE, '');
  // literal "\n"
  c = c.replace(ESCAPED_NEWLINE_RE, ' ');
  // "#123", "#12345..", "123456.."
  c = c.replace(HASH_SHORT_NUMBER_RE, '');
  c = c.replace(HASH_LONG_NUMBER_RE, '');
  c = c.replace(LONG_NUMBER_RE, '');
  // filenames
  c = c.replace(FILENAME_RE, '');
  c = c.replace(REPEATED_QUOTES_RE, '"');
  c = c.replace(REPEATED_DOTS_RE, ' ');
  c = c.replace(BAD_PUNCT_RE, ' ');
  c = c.replace(SPACED_DOT_RE, ' ');
  // this-is-my-cute-cat / this_is_my_cute_cat
  const dashes = c.match(DASH_OR_UNDERSCORE_RE);
  if (dashes !== null && dashes.length > 3) c = c.replace(DASH_OR_UNDERSCORE_RE, ' ');
  c = ftfyFixText(c);
  c = pyHtmlUnescape(pyHtmlUnescape(c));
  c = c.replace(SHORT_ALPHA_NUMBER_RE, ''); // jc6640
  c = c.replace(ALPHA_NUM_ALPHA_RE, ''); // jc6640vc
  c = c.replace(NUM_ALPHA_NUM_RE, ''); // 6640vc231
  c = c.replace(SHIPPING_RE, '');
  c = c.replace(DOWNLOAD_RE, '');
  c = c.replace(CLICK_RE, '');
  c = c.replace(IMAGE_EXT_RE, '');
  c = c.replace(PAGE_RE, '');
  c = c.replace(MIXED_ID_RE, ' '); // j2d1a2a...
  c = c.replace(DIMENSIONS_RE, '');
  c = c.replace(SPACED_COLON_RE, ': ');
  c = c.replace(PUNCT_BEFORE_WORD_RE, '$1 ');
  c = c.replace(WHITESPACE_RUN_RE, ' ');
  // (the Python code calls caption.strip() here without using the result)
  c = c.replace(QUOTED_WHOLE_RE, '$1');
  c = c.replace(LEADING_PUNCT_RE, '');
  c = c.replace(TRAILING_PUNCT_RE, '');
  c = c.replace(DOT_WORD_RE, '');
  return pyStrip(c);
}

/**
 * diffusers' `_text_preprocessing` for one prompt: with `cleanCaption` false,
 * `text.lower().strip()`; with true, `_clean_caption` applied twice (as the pipeline does).
 * @throws PixArtError ERR_PIXART_INVALID_ARGUMENT if `text` is not a string.
 */
export function preprocessText(text: string, clean: boolean): string {
  assertString(text, 'prompt');
  if (clean) return cleanCaption(cleanCaption(text));
  return pyStrip(pyLower(text));
}
