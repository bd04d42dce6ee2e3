/**
 * `BeautifulSoup(markup, features="html.parser").text`, reimplemented.
 *
 * diffusers' caption cleaning strips HTML with BeautifulSoup 4 (4.15) on top of CPython's
 * `html.parser.HTMLParser` (3.11). Only the resulting text matters, so this module ports:
 *
 * - the tokenizer of `html.parser` (CPython 3.11.7) as BeautifulSoup drives it:
 *   `convert_charrefs=False`, one `feed()` followed by `close()` (two passes of the main
 *   loop, which matters for incomplete constructs at the end of the text), CDATA content
 *   mode for `<script>`/`<style>`, the tolerant start-tag / attribute grammar, bogus
 *   comments, `<!doctype`, marked sections `<![...]]>`, processing instructions;
 * - BeautifulSoup's handling of the events: named references resolved against the HTML5
 *   table (unknown names stay as `&name`, losing their `;`), numeric references resolved
 *   like the HTML5 spec (Windows-1252 remapping of 0x80-0x9F, U+FFFD for 0, surrogates and
 *   out-of-range values), void elements closed immediately, the tag stack (`_popToTag`),
 *   whitespace-only strings collapsed to a single " " or "\n" outside `<pre>`/`<textarea>`;
 * - `get_text()` on the document: strings of type NavigableString and CData, in document
 *   order. Comments, doctypes, declarations, processing instructions and strings inside
 *   `<script>`, `<style>`, `<template>`, `<rt>`, `<rp>` are not part of the text.
 *
 * Markup that BeautifulSoup rejects (html.parser raising AssertionError, e.g. `<![foo ...`)
 * throws {@link HtmlRejectedError}, as the Python code raises ParserRejectedMarkup.
 */
import { CP1252_C1, html5Lookup, parseBoundedInt } from './htmlEntities.js';
import { PY_SPACE_CHARS, pyStrip } from './pyCompat.js';

/** Thrown where BeautifulSoup would raise `ParserRejectedMarkup`. */
export class HtmlRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HtmlRejectedError';
  }
}

const SP = `[${PY_SPACE_CHARS}]`;
const NSP_CLS = PY_SPACE_CHARS; // for use inside negated classes

// html.parser module-level patterns (sticky = Python's pattern.match(s, pos); global = search).
const INTERESTING_NORMAL = /[&<]/gu;
const INCOMPLETE = /&[a-zA-Z#]/uy;
const ENTITYREF = /&([a-zA-Z][-.a-zA-Z0-9]*)[^a-zA-Z0-9]/uy;
const CHARREF = /&#(?:[0-9]+|[xX][0-9a-fA-F]+)[^0-9a-fA-F]/uy;
const STARTTAGOPEN = /<[a-zA-Z]/uy;
const PICLOSE = />/gu;
const COMMENTCLOSE = new RegExp(`--${SP}*>`, 'gu');
const TAGFIND_TOLERANT = new RegExp(`([a-zA-Z][^\\t\\n\\r\\f />\\x00]*)(?:${SP}|\\/(?!>))*`, 'uy');
const ATTR_VALUE = `(?:'[^']*'|"[^"]*"|(?!['"])[^>${NSP_CLS}]*)`;
const ATTRFIND_TOLERANT = new RegExp(
  `((?<=['"${NSP_CLS}/])[^${NSP_CLS}/>][^${NSP_CLS}/=>]*)(${SP}*=+${SP}*(${ATTR_VALUE}))?(?:${SP}|\\/(?!>))*`,
  'uy',
);
const LOCATESTARTTAGEND_TOLERANT = new RegExp(
  `<[a-zA-Z][^\\t\\n\\r\\f />\\x00]*` +
    `(?:[${NSP_CLS}/]*` +
    `(?:(?<=['"${NSP_CLS}/])[^${NSP_CLS}/>][^${NSP_CLS}/=>]*` +
    `(?:${SP}*=+${SP}*${ATTR_VALUE}${SP}*)?(?:${SP}|\\/(?!>))*` +
    `)*` +
    `)?` +
    `${SP}*`,
  'uy',
);
const ENDENDTAG = />/gu;
const ENDTAGFIND = new RegExp(`<\\/${SP}*([a-zA-Z][-.a-zA-Z0-9:_]*)${SP}*>`, 'uy');
// _markupbase patterns
const DECLNAME = new RegExp(`[a-zA-Z][-_.a-zA-Z0-9]*${SP}*`, 'uy');
const MARKEDSECTIONCLOSE = new RegExp(`\\]${SP}*\\]${SP}*>`, 'gu');
const MSMARKEDSECTIONCLOSE = new RegExp(`\\]${SP}*>`, 'gu');

const CDATA_CONTENT_ELEMENTS = new Set(['script', 'style']);
// BeautifulSoup HTMLTreeBuilder defaults.
const VOID_ELEMENTS = new Set([
  'area', 'base', 'basefont', 'bgsound', 'br', 'col', 'command', 'embed', 'frame', 'hr', 'image',
  'img', 'input', 'isindex', 'keygen', 'link', 'menuitem', 'meta', 'nextid', 'param', 'source',
  'spacer', 'track', 'wbr',
]);
const PRESERVE_WHITESPACE_TAGS = new Set(['pre', 'textarea']);
/** Tags whose strings get a special NavigableString subclass (excluded from `.text`). */
const STRING_CONTAINER_TAGS = new Set(['rt', 'rp', 'style', 'script', 'template']);
const ROOT_TAG_NAME = '[document]';
const ASCII_SPACES = new Set([0x20, 0x0a, 0x09, 0x0c, 0x0d]);
const MARKED_SECTION_NAMES = new Set(['temp', 'cdata', 'ignore', 'include', 'rcdata']);
const MS_MARKED_SECTION_NAMES = new Set(['if', 'else', 'endif']);

/** bs4 `UnicodeDammit.numeric_character_reference`. */
function numericReference(n: number): string {
  if (n === 0 || n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return '\ufffd';
  if (n >= 0x80 && n <= 0x9f && CP1252_C1[n] !== undefined) return CP1252_C1[n];
  return String.fromCodePoint(n);
}

function searchFrom(re: RegExp, s: string, pos: number): RegExpExecArray | null {
  re.lastIndex = pos;
  return re.exec(s);
}

function matchAt(re: RegExp, s: string, pos: number): RegExpExecArray | null {
  re.lastIndex = pos;
  return re.exec(s);
}

/** UTF-16 length of the last code point of `s` (Python steps back one code point). */
function lastCharLength(s: string): number {
  const c = s.charCodeAt(s.length - 1);
  return c >= 0xdc00 && c <= 0xdfff && s.length >= 2 ? 2 : 1;
}

interface TagNode { name: string }

/** The part of BeautifulSoup's tree builder that decides which text ends up in `.text`. */
class SoupTextBuilder {
  private readonly out: string[] = [];
  private currentData: string[] = [];
  private readonly tagStack: TagNode[] = [{ name: ROOT_TAG_NAME }];
  private readonly openTagCounter = new Map<string, number>();
  private readonly preserveStack: TagNode[] = [];
  private readonly containerStack: TagNode[] = [];

  get text(): string {
    return this.out.join('');
  }

  handleData(data: string): void {
    this.currentData.push(data);
  }

  /** `BeautifulSoup.endData(containerClass)`; `kind` is the string class the caller asked for. */
  endData(kind: 'string' | 'cdata' | 'excluded' = 'string'): void {
    if (this.currentData.length === 0) return;
    let data = this.currentData.join('');
    this.currentData = [];
    if (this.preserveStack.length === 0) {
      let strippable = true;
      for (let i = 0; i < data.length; i++) {
        if (!ASCII_SPACES.has(data.charCodeAt(i))) {
          strippable = false;
          break;
        }
      }
      if (strippable) data = data.includes('\n') ? '\n' : ' ';
    }
    // string_container(): plain strings inside rt/rp/style/script/template get a special class.
    const included = kind === 'cdata' || (kind === 'string' && this.containerStack.length === 0);
    if (included) this.out.push(data);
  }

  private pushTag(tag: TagNode): void {
    this.tagStack.push(tag);
    this.openTagCounter.set(tag.name, (this.openTagCounter.get(tag.name) ?? 0) + 1);
    if (PRESERVE_WHITESPACE_TAGS.has(tag.name)) this.preserveStack.push(tag);
    if (STRING_CONTAINER_TAGS.has(tag.name)) this.containerStack.push(tag);
  }

  popTag(): void {
    if (this.tagStack.length === 0) return;
    const tag = this.tagStack.pop()!;
    const count = this.openTagCounter.get(tag.name);
    if (count !== undefined) this.openTagCounter.set(tag.name, count - 1);
    if (this.preserveStack.length > 0 && this.preserveStack[this.preserveStack.length - 1] === tag) this.preserveStack.pop();
    if (this.containerStack.length > 0 && this.containerStack[this.containerStack.length - 1] === tag) this.containerStack.pop();
  }

  private popToTag(name: string): void {
    if (name === ROOT_TAG_NAME) return;
    for (let i = this.tagStack.length - 1; i > 0; i--) {
      if (!this.openTagCounter.get(name)) break;
      const t = this.tagStack[i];
      this.popTag();
      if (t.name === name) break;
    }
  }

  /** `BeautifulSoup.handle_starttag`. */
  handleStartTag(name: string): void {
    this.endData();
    this.pushTag({ name });
  }

  /** `BeautifulSoup.handle_endtag`. */
  handleEndTag(name: string): void {
    this.endData();
    this.popToTag(name);
  }

  /** End of `_feed()`: flush and close everything. */
  finish(): void {
    this.endData();
    while (this.tagStack.length > 1) this.popTag();
  }
}

/** CPython 3.11.7 `html.parser.HTMLParser` with `convert_charrefs=False`, wired to bs4's `BeautifulSoupHTMLParser`. */
class HtmlParserPort {
  private rawdata = '';
  private cdataElem: string | null = null;
  private interesting: RegExp = INTERESTING_NORMAL;
  private readonly alreadyClosedEmptyElement: string[] = [];

  constructor(private readonly soup: SoupTextBuilder) {}

  feed(data: string): void {
    this.rawdata += data;
    this.goahead(false);
  }

  close(): void {
    this.goahead(true);
  }

  // ----- BeautifulSoupHTMLParser handlers -----

  private handleData(data: string): void {
    this.soup.handleData(data);
  }

  private handleStartTag(tag: string, handleEmptyElement = true): void {
    this.soup.handleStartTag(tag);
    // A freshly created tag has no contents, so is_empty_element == "is a void element".
    if (VOID_ELEMENTS.has(tag) && handleEmptyElement) {
      this.handleEndTag(tag, false);
      this.alreadyClosedEmptyElement.push(tag);
    }
  }

  private handleStartEndTag(tag: string): void {
    this.handleStartTag(tag, false);
    this.handleEndTag(tag, false);
  }

  private handleEndTag(tag: string, checkAlreadyClosed = true): void {
    const idx = checkAlreadyClosed ? this.alreadyClosedEmptyElement.indexOf(tag) : -1;
    if (idx >= 0) this.alreadyClosedEmptyElement.splice(idx, 1);
    else this.soup.handleEndTag(tag);
  }

  private handleCharref(name: string): void {
    // Names come from the CHARREF pattern, so they always parse.
    const hex = name[0] === 'x' || name[0] === 'X';
    const value = parseBoundedInt(hex ? name.slice(1) : name, hex ? 16 : 10);
    this.handleData(numericReference(value));
    this.handleData('');
  }

  private handleEntityref(name: string): void {
    const ch = html5Lookup(name + ';');
    this.handleData(ch !== undefined ? ch : '&' + name);
  }

  /** Comments, doctypes, declarations and PIs: flushed separately and excluded from the text. */
  private handleNonText(): void {
    this.soup.endData();
    this.soup.handleData('x');
    this.soup.endData('excluded');
  }

  private unknownDecl(data: string): void {
    this.soup.endData();
    if (data.toUpperCase().startsWith('CDATA[')) {
      this.soup.handleData(data.slice('CDATA['.length));
      this.soup.endData('cdata');
    } else {
      this.soup.handleData(data);
      this.soup.endData('excluded');
    }
  }

  // ----- html.parser internals -----

  private setCdataMode(elem: string): void {
    this.cdataElem = elem.toLowerCase();
    // Python's re.IGNORECASE also lets 'i' match U+0130/U+0131 and 's' match U+017F; JS /i
    // does not, so spell the case variants out.
    const extra: Record<string, string> = { i: '\u0130\u0131', s: '\u017f', k: '\u212a' };
    const name = Array.from(this.cdataElem, (c) => `[${c}${c.toUpperCase()}${extra[c] ?? ''}]`).join('');
    this.interesting = new RegExp(`<\\/${SP}*${name}${SP}*>`, 'gu');
  }

  private clearCdataMode(): void {
    this.interesting = INTERESTING_NORMAL;
    this.cdataElem = null;
  }

  private goahead(end: boolean): void {
    const rawdata = this.rawdata;
    let i = 0;
    const n = rawdata.length;
    while (i < n) {
      let j: number;
      const m = searchFrom(this.interesting, rawdata, i);
      if (m) j = m.index;
      else {
        if (this.cdataElem) break;
        j = n;
      }
      if (i < j) this.handleData(rawdata.slice(i, j));
      i = j;
      if (i === n) break;
      if (rawdata.startsWith('<', i)) {
        let k: number;
        if (matchAt(STARTTAGOPEN, rawdata, i)) k = this.parseStarttag(i);
        else if (rawdata.startsWith('</', i)) k = this.parseEndtag(i);
        else if (rawdata.startsWith('<!--', i)) k = this.parseComment(i);
        else if (rawdata.startsWith('<?', i)) k = this.parsePi(i);
        else if (rawdata.startsWith('<!', i)) k = this.parseHtmlDeclaration(i);
        else if (i + 1 < n) {
          this.handleData('<');
          k = i + 1;
        } else break;
        if (k < 0) {
          if (!end) break;
          k = rawdata.indexOf('>', i + 1);
          if (k < 0) {
            k = rawdata.indexOf('<', i + 1);
            if (k < 0) k = i + 1;
          } else k += 1;
          this.handleData(rawdata.slice(i, k));
        }
        i = k;
      } else if (rawdata.startsWith('&#', i)) {
        const cm = matchAt(CHARREF, rawdata, i);
        if (cm) {
          this.handleCharref(cm[0].slice(2, cm[0].length - lastCharLength(cm[0])));  // Python's [2:-1]: one code point
          let k = cm.index + cm[0].length;
          if (rawdata[k - 1] !== ';') k -= lastCharLength(cm[0]);
          i = k;
          continue;
        }
        if (rawdata.indexOf(';', i) >= 0) {
          this.handleData(rawdata.slice(i, i + 2));
          i += 2;
        }
        break;
      } else if (rawdata.startsWith('&', i)) {
        const em = matchAt(ENTITYREF, rawdata, i);
        if (em) {
          this.handleEntityref(em[1]);
          let k = em.index + em[0].length;
          if (rawdata[k - 1] !== ';') k -= lastCharLength(em[0]);
          i = k;
          continue;
        }
        const im = matchAt(INCOMPLETE, rawdata, i);
        if (im) {
          if (end && im[0] === rawdata.slice(i)) i += 1;
          break;
        } else if (i + 1 < n) {
          this.handleData('&');
          i += 1;
        } else break;
      } else {
        throw new Error('html parser: interesting.search() lied');
      }
    }
    if (end && i < n && !this.cdataElem) {
      this.handleData(rawdata.slice(i, n));
      i = n;
    }
    this.rawdata = rawdata.slice(i);
  }

  private parseHtmlDeclaration(i: number): number {
    const rawdata = this.rawdata;
    if (rawdata.startsWith('<!--', i)) return this.parseComment(i);
    if (rawdata.startsWith('<![', i)) return this.parseMarkedSection(i);
    if (rawdata.slice(i, i + 9).toLowerCase() === '<!doctype') {
      const gtpos = rawdata.indexOf('>', i + 9);
      if (gtpos === -1) return -1;
      this.handleNonText();
      return gtpos + 1;
    }
    return this.parseBogusComment(i);
  }

  private parseBogusComment(i: number): number {
    const pos = this.rawdata.indexOf('>', i + 2);
    if (pos === -1) return -1;
    this.handleNonText();
    return pos + 1;
  }

  private parsePi(i: number): number {
    const m = searchFrom(PICLOSE, this.rawdata, i + 2);
    if (!m) return -1;
    this.handleNonText();
    return m.index + m[0].length;
  }

  private parseComment(i: number): number {
    const m = searchFrom(COMMENTCLOSE, this.rawdata, i + 4);
    if (!m) return -1;
    this.handleNonText();
    return m.index + m[0].length;
  }

  /** `_markupbase.ParserBase._scan_name`: [name, end] or [null, -1]. */
  private scanName(i: number, declstartpos: number): [string | null, number] {
    const rawdata = this.rawdata;
    const n = rawdata.length;
    if (i === n) return [null, -1];
    const m = matchAt(DECLNAME, rawdata, i);
    if (!m) {
      throw new HtmlRejectedError(`expected name token at ${JSON.stringify(rawdata.slice(declstartpos, declstartpos + 20))}`);
    }
    const s = m[0];
    if (i + s.length === n) return [null, -1];
    return [pyStrip(s).toLowerCase(), i + s.length];
  }

  private parseMarkedSection(i: number): number {
    const rawdata = this.rawdata;
    const [sectName, j] = this.scanName(i + 3, i);
    if (j < 0) return j;
    let m: RegExpExecArray | null;
    if (MARKED_SECTION_NAMES.has(sectName!)) m = searchFrom(MARKEDSECTIONCLOSE, rawdata, i + 3);
    else if (MS_MARKED_SECTION_NAMES.has(sectName!)) m = searchFrom(MSMARKEDSECTIONCLOSE, rawdata, i + 3);
    else throw new HtmlRejectedError(`unknown status keyword ${JSON.stringify(rawdata.slice(i + 3, j))} in marked section`);
    if (!m) return -1;
    this.unknownDecl(rawdata.slice(i + 3, m.index));
    return m.index + m[0].length;
  }

  private checkForWholeStartTag(i: number): number {
    const rawdata = this.rawdata;
    const m = matchAt(LOCATESTARTTAGEND_TOLERANT, rawdata, i);
    if (!m) throw new Error('html parser: start tag not located');
    const j = m.index + m[0].length;
    const next = rawdata.slice(j, j + 1);
    if (next === '>') return j + 1;
    if (next === '/') {
      if (rawdata.startsWith('/>', j)) return j + 2;
      return -1;
    }
    if (next === '') return -1;
    if (/^[a-zA-Z=/]$/.test(next)) return -1;
    return j > i ? j : i + 1;
  }

  private parseStarttag(i: number): number {
    const endpos = this.checkForWholeStartTag(i);
    if (endpos < 0) return endpos;
    const rawdata = this.rawdata;
    const tm = matchAt(TAGFIND_TOLERANT, rawdata, i + 1)!;
    let k = tm.index + tm[0].length;
    const tag = tm[1].toLowerCase();
    while (k < endpos) {
      const am = matchAt(ATTRFIND_TOLERANT, rawdata, k);
      if (!am) break;
      k = am.index + am[0].length;
    }
    const endText = pyStrip(rawdata.slice(k, endpos));
    if (endText !== '>' && endText !== '/>') {
      this.handleData(rawdata.slice(i, endpos));
      return endpos;
    }
    if (endText.endsWith('/>')) this.handleStartEndTag(tag);
    else {
      this.handleStartTag(tag);
      if (CDATA_CONTENT_ELEMENTS.has(tag)) this.setCdataMode(tag);
    }
    return endpos;
  }

  private parseEndtag(i: number): number {
    const rawdata = this.rawdata;
    const gm = searchFrom(ENDENDTAG, rawdata, i + 1);
    if (!gm) return -1;
    let gtpos = gm.index + gm[0].length;
    const em = matchAt(ENDTAGFIND, rawdata, i);
    if (!em) {
      if (this.cdataElem !== null) {
        this.handleData(rawdata.slice(i, gtpos));
        return gtpos;
      }
      const nm = matchAt(TAGFIND_TOLERANT, rawdata, i + 2);
      if (!nm) {
        if (rawdata.slice(i, i + 3) === '</>') return i + 3;
        return this.parseBogusComment(i);
      }
      const tagname = nm[1].toLowerCase();
      gtpos = rawdata.indexOf('>', nm.index + nm[0].length);
      this.handleEndTag(tagname);
      return gtpos + 1;
    }
    const elem = em[1].toLowerCase();
    if (this.cdataElem !== null && elem !== this.cdataElem) {
      this.handleData(rawdata.slice(i, gtpos));
      return gtpos;
    }
    this.handleEndTag(elem);
    this.clearCdataMode();
    return gtpos;
  }
}

/**
 * `BeautifulSoup(markup, features="html.parser").text` (beautifulsoup4 4.15, CPython 3.11).
 * @throws HtmlRejectedError where BeautifulSoup raises ParserRejectedMarkup.
 */
export function htmlToText(markup: string): string {
  const soup = new SoupTextBuilder();
  const parser = new HtmlParserPort(soup);
  parser.feed(markup);
  parser.close();
  soup.finish();
  return soup.text;
}
