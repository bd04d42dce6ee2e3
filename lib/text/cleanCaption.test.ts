import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixtureCase } from '../../test/helpers/fixtures.js';
import { PixArtError } from '../errors.js';
import { cleanCaption, preprocessText, unquotePlus } from './cleanCaption.js';
import { ftfyFixText } from './ftfyLite.js';
import { html5Lookup, pyHtmlUnescape } from './htmlEntities.js';
import { HtmlRejectedError, htmlToText } from './htmlText.js';
import { pyLower, pyStrip } from './pyCompat.js';

const FIXTURE_IDS = Array.from({ length: 16 }, (_, i) => `tokenizer/${String(i).padStart(2, '0')}`);

interface CorpusCase {
  text: string;
  lower: string;
  clean?: string;
  clean_error?: string;
  bs4_text?: string;
  bs4_error?: string;
  ftfy_fix_text: string;
  html_unescape: string;
  unquote_plus: string;
}
const here = dirname(fileURLToPath(import.meta.url));
const corpus = JSON.parse(readFileSync(join(here, 'testdata', 'reference_corpus.json'), 'utf8')) as {
  cases: CorpusCase[];
};

function expectPixArtError(fn: () => unknown, code: string): PixArtError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PixArtError);
    expect((err as PixArtError).code).toBe(code);
    return err as PixArtError;
  }
  throw new Error('expected a PixArtError');
}

describe('preprocessText on the fixture prompts (diffusers _text_preprocessing)', () => {
  for (const id of FIXTURE_IDS) {
    for (const clean of [false, true]) {
      it(`${id} clean_caption=${clean}`, () => {
        const c = fixtureCase(id);
        const want = c.outputs[clean ? 'clean_caption_true' : 'clean_caption_false'].preprocessed_text;
        expect(preprocessText(c.inputs.prompt, clean)).toBe(want);
      });
    }
  }

  it('clean_caption=true is _clean_caption applied twice', () => {
    const prompt = fixtureCase('tokenizer/09').inputs.prompt as string;
    expect(preprocessText(prompt, true)).toBe(cleanCaption(cleanCaption(prompt)));
  });
});

describe('Python reference corpus (bs4 4.15 / ftfy 6.3.1 / CPython 3.11, see testdata/)', () => {
  it('has cases', () => {
    expect(corpus.cases.length).toBeGreaterThan(1200);
  });

  it('lower().strip() matches', () => {
    for (const c of corpus.cases) expect(preprocessText(c.text, false), JSON.stringify(c.text)).toBe(c.lower);
  });

  it('_clean_caption twice matches (or rejects the same markup)', () => {
    let rejected = 0;
    for (const c of corpus.cases) {
      if (c.clean_error !== undefined) {
        expectPixArtError(() => preprocessText(c.text, true), 'ERR_PIXART_INVALID_ARGUMENT');
        rejected++;
      } else {
        expect(preprocessText(c.text, true), JSON.stringify(c.text)).toBe(c.clean);
      }
    }
    expect(rejected).toBeGreaterThan(0);
  });

  it('BeautifulSoup(html.parser).text matches', () => {
    for (const c of corpus.cases) {
      if (c.bs4_error !== undefined) expect(() => htmlToText(c.text)).toThrow(HtmlRejectedError);
      else expect(htmlToText(c.text), JSON.stringify(c.text)).toBe(c.bs4_text);
    }
  });

  it('ftfy.fix_text (default settings, mojibake repair included) matches', () => {
    for (const c of corpus.cases) expect(ftfyFixText(c.text), JSON.stringify(c.text)).toBe(c.ftfy_fix_text);
  });

  it('html.unescape matches', () => {
    for (const c of corpus.cases) expect(pyHtmlUnescape(c.text), JSON.stringify(c.text)).toBe(c.html_unescape);
  });

  it('urllib.parse.unquote_plus matches', () => {
    for (const c of corpus.cases) expect(unquotePlus(c.text), JSON.stringify(c.text)).toBe(c.unquote_plus);
  });
});

describe('Python str semantics', () => {
  it('strip() uses Python whitespace, not JS trim()', () => {
    expect(pyStrip('\x1c\x85 a \u3000')).toBe('a');
    expect(pyStrip('\ufeffa\ufeff')).toBe('\ufeffa\ufeff'); // U+FEFF is not Python whitespace
    expect(preprocessText('\x1fHello\x85', false)).toBe('hello');
  });

  it('lower() handles final sigma and multi-char mappings', () => {
    expect(pyLower('ΟΔΟΣ ΟΔΟΣ.')).toBe('οδος οδος.');
    expect(pyLower('İ')).toBe('i\u0307');
  });
});

describe('building blocks', () => {
  it('unquote_plus decodes UTF-8 per ASCII run with replacement', () => {
    expect(unquotePlus('a+b%20c')).toBe('a b c');
    expect(unquotePlus('%E2%80%99s %C3%A9')).toBe('\u2019s \u00e9');
    expect(unquotePlus('%ZZ %4 %')).toBe('%ZZ %4 %');
    expect(unquotePlus('%C3%28')).toBe('\ufffd(');
    expect(unquotePlus('%EF%BB%BFx')).toBe('\ufeffx'); // a decoded BOM is kept
    expect(unquotePlus('%C3é%A9')).toBe('\ufffdé\ufffd'); // escapes do not join across non-ASCII
  });

  it('html.unescape follows the HTML5 rules', () => {
    expect(pyHtmlUnescape('&amp;amp; &lt &notit; &#x41; &#128; &#0; &#1; &#xD800; &#99999999999; &zz;')).toBe(
      '&amp; < \u00acit; A \u20ac \ufffd  \ufffd \ufffd &zz;',
    );
    expect(html5Lookup('amp')).toBe('&');
    expect(html5Lookup('amp;')).toBe('&');
    expect(html5Lookup('notit;')).toBeUndefined();
    expect(html5Lookup('lang;')).toBe('\u27e8'); // HTML5 value, not HTML 4's U+2329
    expect(html5Lookup('constructor')).toBeUndefined();
  });

  it('HTML text extraction keeps text, drops markup, scripts, comments', () => {
    expect(htmlToText("<p>An <b>HTML</b> caption with <a href='https://x.com'>a link</a> and <br/> tags</p>")).toBe(
      'An HTML caption with a link and  tags',
    );
    expect(htmlToText('a<script>x<b>y</b></script>b<style>p{}</style>c<!-- d --><![CDATA[e]]><rt>f</rt>g')).toBe('abceg');
    expect(htmlToText('<p>  \n </p><pre>  </pre>')).toBe('\n  ');
    expect(htmlToText('&foo; &amp &#65x &')).toBe('&foo & Ax &'); // unknown name loses its ';'
    // A character reference cut off by a character outside the BMP: [2:-1] drops one code point (bs4's outputs)
    expect(htmlToText('&#0\u{1F600}')).toBe('\ufffd\u{1F600}');
    expect(htmlToText('&#x0\u{1F600} z')).toBe('\ufffd\u{1F600} z');
    expect(htmlToText('&#65\u{1F600}')).toBe('A\u{1F600}');
    expect(htmlToText('a&#00\u{1F600}b')).toBe('a\ufffd\u{1F600}b');
    expect(htmlToText('&#0\u{1F600};')).toBe('\ufffd\u{1F600};');
    expect(() => htmlToText('a <![foo bar')).toThrow(HtmlRejectedError);
  });

  it('ftfy subset: entities, ligatures, width, quotes, line breaks, controls', () => {
    expect(ftfyFixText('&EACUTE;t&eacute; &SZLIG; &notanentity; &#x2019;')).toBe('Été SS &notanentity; \'');
    expect(ftfyFixText('<b>&amp;</b>')).toBe('<b>&amp;</b>'); // "<" disables entity decoding
    expect(ftfyFixText('ﬂuﬃeﬆ ＬＯＵＤ　ＮＯＩＳＥＳ ｶﾀｶﾅ')).toBe('fluffiest LOUD NOISES カタカナ');
    expect(ftfyFixText('\u201chere\u2019s\u201d a\r\nb\rc\u2028d\x85e')).toBe('"here\'s" a\nb\nc\nd…e');
    expect(ftfyFixText('\x1b[36;44mblue\x1b[0m\x00\x07\ufeff\x80')).toBe('blue€');
    expect(ftfyFixText('e\u0301\ud800')).toBe('é\ufffd');
  });

  it('rejected markup becomes a PixArtError', () => {
    const err = expectPixArtError(() => cleanCaption('x <![foo bar'), 'ERR_PIXART_INVALID_ARGUMENT');
    expect(err.cause).toBeInstanceOf(HtmlRejectedError);
  });
});

describe('bad input', () => {
  it('non-string prompts are rejected', () => {
    for (const bad of [undefined, null, 42, ['a'], { text: 'a' }]) {
      expectPixArtError(() => preprocessText(bad as unknown as string, false), 'ERR_PIXART_INVALID_ARGUMENT');
      expectPixArtError(() => preprocessText(bad as unknown as string, true), 'ERR_PIXART_INVALID_ARGUMENT');
      expectPixArtError(() => cleanCaption(bad as unknown as string), 'ERR_PIXART_INVALID_ARGUMENT');
    }
  });
});
