import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { preprocessText } from './cleanCaption.js';
import {
  decodeInconsistentUtf8,
  decodeUtf8,
  decodeUtf8Variants,
  fixEncoding,
  isBad,
  replaceLossySequences,
  restoreByteA0,
} from './ftfyEncoding.js';
import { ftfyFixText } from './ftfyLite.js';

/** Reference values from ftfy 6.3.1 / diffusers on CPython 3.11 (testdata/gen_ftfy_encoding_cases.py). */
interface Case {
  note: string;
  text: string;
  fix_text: string;
  fix_encoding: string;
  is_bad: boolean;
  clean: string | null;
}
interface ByteCase {
  bytes: string;
  utf8: string | null;
  utf8_variants: string | null;
  restore_byte_a0: string;
  replace_lossy_sequences: string;
}
const here = dirname(fileURLToPath(import.meta.url));
const table = JSON.parse(readFileSync(join(here, 'testdata', 'ftfy_encoding_cases.json'), 'utf8')) as {
  ftfy: string;
  cases: Case[];
  bytes: ByteCase[];
};

const label = (c: Case, i: number): string => `#${i} ${c.note}: ${JSON.stringify(c.text).slice(0, 60)}`;

describe('fix_encoding against ftfy 6.3.1 (testdata/ftfy_encoding_cases.json)', () => {
  it('has the reference table', () => {
    expect(table.ftfy).toBe('6.3.1');
    expect(table.cases.length).toBeGreaterThan(700);
    // the table exercises repairs, not just pass-through
    expect(table.cases.filter((c) => c.fix_encoding !== c.text).length).toBeGreaterThan(400);
  });

  it('ftfy.fix_text', () => {
    table.cases.forEach((c, i) => expect(ftfyFixText(c.text), label(c, i)).toBe(c.fix_text));
  });

  it('ftfy.fix_encoding', () => {
    table.cases.forEach((c, i) => expect(fixEncoding(c.text), label(c, i)).toBe(c.fix_encoding));
  });

  it('ftfy.badness.is_bad', () => {
    table.cases.forEach((c, i) => expect(isBad(c.text), label(c, i)).toBe(c.is_bad));
  });

  it("diffusers' _text_preprocessing(clean_caption=True)", () => {
    let n = 0;
    table.cases.forEach((c, i) => {
      if (c.clean === null) return;
      n++;
      expect(preprocessText(c.text, true), label(c, i)).toBe(c.clean);
    });
    expect(n).toBeGreaterThan(700);
  });
});

describe('fix_encoding: named cases', () => {
  const cases: [string, string][] = [
    ['it\u00e2\u20ac\u2122s here', 'it\u2019s here'],
    ['\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d', '\u201cquoted\u201d'],
    ['a \u00d7\u00b2 b', 'a \u05f2 b'],
    ['\u00d7\u0085', '\u05c5'],
    ['a \u20ac\u00e9 b', 'a \u06ce b'],
    ['voil\u00c3 le travail', 'voil\u00e0 le travail'], // restore_byte_a0
    ['\u00c3 s vezes', '\u00e0s vezes'],
    ['\u00e2\u20ac\u0153 like this \u00e2\u20ac\ufffd', '\u201c like this \ufffd'], // replace_lossy_sequences
    ['\u00ed\u00a0\u00bd\u00ed\u00b8\u008d', '\u{1f60d}'], // CESU-8
    ['a\u00c0\u0080b', 'a\u0000b'], // Java's U+0000
    ['caf\u00c3\u00a9 \u65e5\u672c', 'caf\u00e9 \u65e5\u672c'], // decode_inconsistent_utf8
    ['\u0093quoted\u0094', '\u201cquoted\u201d'], // Latin-1 -> Windows-1252
    ['\u0081\u0093', '\u0081\u201c'], // fix_c1_controls
    ['caf\u251c\u2310', 'caf\u00e9'], // cp437
    ['caf\u00e9 na\u00efve \u65e5\u672c\u8a9e', 'caf\u00e9 na\u00efve \u65e5\u672c\u8a9e'], // not bad
  ];
  for (const [input, want] of cases) {
    it(JSON.stringify(input), () => expect(fixEncoding(input)).toBe(want));
  }

  it('decode_inconsistent_utf8 fixes only the runs that are bad on their own', () => {
    expect(decodeInconsistentUtf8('caf\u00c3\u00a9 \u65e5\u672c \u00e2\u20ac\u0153')).toBe('caf\u00e9 \u65e5\u672c \u201c');
  });
});

describe('fix_encoding: byte-level helpers against ftfy 6.3.1', () => {
  table.bytes.forEach((b) => {
    it(JSON.stringify(b.bytes), () => {
      expect(decodeUtf8(b.bytes)).toBe(b.utf8);
      expect(decodeUtf8Variants(b.bytes)).toBe(b.utf8_variants);
      expect(restoreByteA0(b.bytes)).toBe(b.restore_byte_a0);
      expect(replaceLossySequences(b.bytes)).toBe(b.replace_lossy_sequences);
    });
  });
});
