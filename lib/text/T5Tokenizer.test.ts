import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL, fixtureCase, refInts } from '../../test/helpers/fixtures.js';
import { PixArtError } from '../errors.js';
import { PrecompiledCharsmap } from './precompiledCharsmap.js';
import { PieceType, readSentencePieceModel } from './spieceModel.js';
import { T5Tokenizer, flattenEncoding } from './T5Tokenizer.js';
import { UnigramModel } from './unigram.js';

const TOKENIZER_DIR = join(TINY_MODEL, 'tokenizer');
const FIXTURE_IDS = Array.from({ length: 16 }, (_, i) => `tokenizer/${String(i).padStart(2, '0')}`);
const VARIANTS = ['clean_caption_false', 'clean_caption_true'] as const;

const here = dirname(fileURLToPath(import.meta.url));
const corpus = JSON.parse(readFileSync(join(here, 'testdata', 'reference_corpus.json'), 'utf8')) as {
  cases: { text: string; lower: string; clean?: string; ids_lower: number[]; ids_clean?: number[] }[];
};

/** transformers 5.18 ids for tie / normalizer / pipeline cases (gen_tokenizer_cases.py). */
const tokCases = JSON.parse(readFileSync(join(here, 'testdata', 'tokenizer_cases.json'), 'utf8')) as {
  generated_with: Record<string, string>;
  cases: { group: string; text: string; ids: number[]; ids_spiece_only?: number[] }[];
};

async function expectRejects(p: Promise<unknown>, code: string, messagePart: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PixArtError);
    expect((err as PixArtError).code).toBe(code);
    expect((err as PixArtError).message).toContain(messagePart);
    return;
  }
  throw new Error('expected a rejection');
}

function expectThrowsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PixArtError);
    expect((err as PixArtError).code).toBe(code);
    return;
  }
  throw new Error('expected a PixArtError');
}

let tok: T5Tokenizer;
beforeAll(async () => {
  tok = await T5Tokenizer.fromPretrained(TOKENIZER_DIR);
});
afterAll(() => tok?.dispose());

describe('T5Tokenizer vocabulary', () => {
  it('has the T5 v1.1 special tokens and 100 sentinels', () => {
    expect(tok.vocabSize).toBe(32100);
    expect(tok.extraIds).toBe(100);
    expect([tok.padTokenId, tok.eosTokenId, tok.unkTokenId]).toEqual([0, 1, 2]);
    expect(tok.tokenToId('<extra_id_0>')).toBe(32099);
    expect(tok.tokenToId('<extra_id_99>')).toBe(32000);
    expect(tok.idToToken(32099)).toBe('<extra_id_0>');
    expect(tok.idToToken(8774)).toBe('▁Hello');
    expect(tok.tokenToId('no-such-piece')).toBe(2);
  });

  it('encodes "Hello world" like transformers', () => {
    const enc = tok.encode(['Hello world'], { padding: 'none' });
    expect(Array.from(enc.inputIds[0])).toEqual([8774, 296, 1]);
    expect(Array.from(enc.attentionMask[0])).toEqual([1, 1, 1]);
    expect(tok.tokenize('Hello world')).toEqual(['▁Hello', '▁world']);
  });
});

describe('T5Tokenizer on the fixture texts (padding=max_length, max_length=120, truncation)', () => {
  for (const id of FIXTURE_IDS) {
    for (const variant of VARIANTS) {
      it(`${id} ${variant}`, () => {
        const o = fixtureCase(id).outputs[variant];
        const enc = tok.encode([o.preprocessed_text], { maxLength: 120, truncation: true, padding: 'max_length' });
        expect(enc.inputIds[0]).toBeInstanceOf(Int32Array);
        expect(enc.inputIds[0].length).toBe(120);
        expect(Array.from(enc.inputIds[0])).toEqual(refInts(o.input_ids));
        expect(Array.from(enc.inputIds[0])).toEqual(o.input_ids_list);
        expect(Array.from(enc.attentionMask[0])).toEqual(refInts(o.attention_mask));
        expect(enc.numTokensUntruncated[0]).toBe(o.num_tokens_untruncated_incl_eos);
        expect(enc.truncated[0]).toBe(o.truncated);
        expect([...tok.tokenize(o.preprocessed_text).slice(0, 119), '</s>']).toEqual(o.pieces);
      });
    }
  }

  it('a batch gives the same rows as single texts, and flattens row-major', () => {
    const texts = FIXTURE_IDS.flatMap((id) => VARIANTS.map((v) => fixtureCase(id).outputs[v].preprocessed_text as string));
    const enc = tok.encode(texts);
    const flat = flattenEncoding(enc);
    expect(flat.batchSize).toBe(32);
    expect(flat.seqLength).toBe(120);
    texts.forEach((t, b) => {
      const want = fixtureCase(FIXTURE_IDS[b >> 1]).outputs[VARIANTS[b & 1]];
      expect(Array.from(enc.inputIds[b])).toEqual(want.input_ids_list);
      expect(Array.from(flat.inputIds.subarray(b * 120, (b + 1) * 120))).toEqual(want.input_ids_list);
      expect(Array.from(flat.attentionMask.subarray(b * 120, (b + 1) * 120))).toEqual(refInts(want.attention_mask));
      expect(t).toBe(want.preprocessed_text);
    });
  });
});

describe('T5Tokenizer on the Python reference corpus (transformers 5, see testdata/)', () => {
  it('matches transformers input_ids for lower-cased and cleaned texts', () => {
    let n = 0;
    for (const c of corpus.cases) {
      const texts = [c.lower, ...(c.clean !== undefined ? [c.clean] : [])];
      const wants = [c.ids_lower, ...(c.ids_clean !== undefined ? [c.ids_clean] : [])];
      const enc = tok.encode(texts, { padding: 'none' });
      texts.forEach((t, i) => expect(Array.from(enc.inputIds[i]), JSON.stringify(t)).toEqual(wants[i]));
      n += texts.length;
    }
    expect(n).toBeGreaterThan(2000);
  });
});

describe('T5Tokenizer options and special tokens', () => {
  it('splits literal special tokens like transformers (tokenizer/15)', () => {
    expect(tok.tokenize('a <extra_id_0> sentinel and </s> in the middle')).toEqual([
      '▁', 'a', '<extra_id_0>', '▁sent', 'ine', 'l', '▁and', '</s>', '▁in', '▁the', '▁middle',
    ]);
    expect(tok.tokenize('a<unk>b<pad>c<extra_id_100>')).toEqual(['▁', 'a', '<unk>', '▁', 'b', '<pad>', '▁', 'c', '<unk>', 'extra', '_', 'i', 'd', '_', '100', '>']);
  });

  it('appends </s> even after a literal trailing </s> (transformers 5 behaviour)', () => {
    const enc = tok.encode(['x </s>'], { padding: 'none' });
    expect(Array.from(enc.inputIds[0])).toEqual([3, 226, 1, 1]);
  });

  it('treats U+0085 as whitespace like transformers 5', () => {
    expect(Array.from(tok.encode(['a\x85b'], { padding: 'none' }).inputIds[0])).toEqual([3, 9, 3, 115, 1]);
  });

  it('truncates to maxLength-1 tokens plus </s>, or keeps everything without truncation', () => {
    const text = fixtureCase('tokenizer/08').outputs.clean_caption_false.preprocessed_text as string;
    const cut = tok.encode([text], { maxLength: 10 });
    expect(cut.inputIds[0].length).toBe(10);
    expect(cut.inputIds[0][9]).toBe(1);
    expect(cut.truncated[0]).toBe(true);
    expect(cut.numTokensUntruncated[0]).toBe(205);
    const full = tok.encode([text], { maxLength: 10, truncation: false });
    expect(full.inputIds[0].length).toBe(205);
    expect(full.truncated[0]).toBe(false);
    expect(Array.from(full.inputIds[0].subarray(0, 9))).toEqual(Array.from(cut.inputIds[0].subarray(0, 9)));
    const noEos = tok.encode(['Hello world'], { addSpecialTokens: false, padding: 'none' });
    expect(Array.from(noEos.inputIds[0])).toEqual([8774, 296]);
    expect(noEos.numTokensUntruncated[0]).toBe(2);
  });

  it('pads to the longest row or not at all', () => {
    const longest = tok.encode(['Hello world', '', 'a'], { padding: 'longest' });
    expect(longest.inputIds.map((r) => Array.from(r))).toEqual([[8774, 296, 1], [1, 0, 0], [3, 9, 1]]);
    expect(longest.attentionMask.map((r) => Array.from(r))).toEqual([[1, 1, 1], [1, 0, 0], [1, 1, 1]]);
    const none = tok.encode(['Hello world', ''], { padding: 'none' });
    expect(none.inputIds.map((r) => r.length)).toEqual([3, 1]);
    expectThrowsCode(() => flattenEncoding(none), 'ERR_PIXART_INVALID_ARGUMENT');
    expect(flattenEncoding(tok.encode([])).batchSize).toBe(0);
  });

  it('decodes like transformers 5', () => {
    const ids = [3, 9, 32099, 1622, 630, 40, 11, 1, 16, 8, 2214, 1];
    expect(tok.decode(ids)).toBe('a<extra_id_0> sentinel and</s> in the middle</s>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('a sentinel and in the middle');
    expect(tok.decode([32099, 1622, 1])).toBe('<extra_id_0> sent</s>');
    expect(tok.decode([3, 2, 3, 2, 1, 0, 0])).toBe('<unk> <unk></s><pad><pad>');
    expect(tok.decode([3, 2, 3, 2, 1, 0, 0], { skipSpecialTokens: true })).toBe(' ');
    expect(tok.decode(new BigInt64Array([8774n, 296n, 1n]), { skipSpecialTokens: true })).toBe('Hello world');
    expectThrowsCode(() => tok.decode([32100]), 'ERR_PIXART_INVALID_ARGUMENT');
  });
});

describe('T5Tokenizer bad input', () => {
  it('rejects a folder without spiece.model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 't5tok-'));
    try {
      await expectRejects(T5Tokenizer.fromPretrained(dir), 'ERR_PIXART_MODEL_LOAD', 'spiece.model');
      await expectRejects(T5Tokenizer.fromPretrained(join(dir, 'missing')), 'ERR_PIXART_MODEL_LOAD', 'spiece.model');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a corrupt spiece.model and a malformed tokenizer_config.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 't5tok-'));
    try {
      writeFileSync(join(dir, 'spiece.model'), Buffer.from('this is not a sentencepiece model'));
      await expectRejects(T5Tokenizer.fromPretrained(dir), 'ERR_PIXART_MODEL_LOAD', 'spiece.model');
      copyFileSync(join(TOKENIZER_DIR, 'spiece.model'), join(dir, 'spiece.model'));
      writeFileSync(join(dir, 'tokenizer_config.json'), '{ not json');
      await expectRejects(T5Tokenizer.fromPretrained(dir), 'ERR_PIXART_MODEL_LOAD', 'tokenizer_config.json');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('works from spiece.model alone with the default 100 extra ids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 't5tok-'));
    const t = await (async () => {
      copyFileSync(join(TOKENIZER_DIR, 'spiece.model'), join(dir, 'spiece.model'));
      return T5Tokenizer.fromPretrained(dir);
    })().finally(() => rmSync(dir, { recursive: true, force: true }));
    try {
      expect(t.vocabSize).toBe(32100);
      const o = fixtureCase('tokenizer/15').outputs.clean_caption_false;
      expect(Array.from(t.encode([o.preprocessed_text]).inputIds[0])).toEqual(o.input_ids_list);
    } finally {
      t.dispose();
    }
  });

  it('rejects non-string prompts and bad options', () => {
    for (const bad of [undefined, null, 42, ['a']]) {
      expectThrowsCode(() => tok.encode([bad as unknown as string]), 'ERR_PIXART_INVALID_ARGUMENT');
      expectThrowsCode(() => tok.tokenize(bad as unknown as string), 'ERR_PIXART_INVALID_ARGUMENT');
    }
    expectThrowsCode(() => tok.encode('a' as unknown as string[]), 'ERR_PIXART_INVALID_ARGUMENT');
    expectThrowsCode(() => tok.encode(['a'], { maxLength: 0 }), 'ERR_PIXART_INVALID_ARGUMENT');
    expectThrowsCode(() => tok.encode(['a'], { maxLength: 1.5 }), 'ERR_PIXART_INVALID_ARGUMENT');
    expectThrowsCode(() => tok.encode(['a'], { padding: 'max' as 'none' }), 'ERR_PIXART_INVALID_ARGUMENT');
  });

  it('replaces lone surrogates instead of corrupting the text', () => {
    expect(Array.from(tok.encode(['a\ud800b'], { padding: 'none' }).inputIds[0])).toEqual(
      Array.from(tok.encode(['a\ufffdb'], { padding: 'none' }).inputIds[0]),
    );
  });

  it('cannot be used after dispose()', async () => {
    const t = await T5Tokenizer.fromPretrained(TOKENIZER_DIR);
    t.dispose();
    t.dispose(); // idempotent
    expectThrowsCode(() => t.encode(['a']), 'ERR_PIXART_INVALID_ARGUMENT');
  });
});

describe('T5Tokenizer where SentencePiece and transformers 5 differ', () => {
  // transformers 5.18 T5Tokenizer ids (also in testdata/tokenizer_cases.json). The WASM
  // SentencePiece used before gave the second list.
  const TABLE: [string, number[], number[]][] = [
    // Viterbi ties: the first path found wins, so the long piece comes last.
    ['why????', [572, 58, 8665, 1], [572, 8665, 58, 1]],
    ['----', [3, 18, 14817, 1], [3, 14817, 18, 1]],
    ['wait.......', [1749, 5, 14125, 1], [1749, 14125, 5, 1]],
    ['soooooooooooooo a cat', [78, 32, 16780, 16780, 16780, 3, 9, 1712, 1], [78, 16780, 16780, 16780, 32, 3, 9, 1712, 1]],
    ['$00000.99', [1514, 1206, 2313, 14990, 1], [1514, 2313, 1206, 14990, 1]],
    ['a \u2034 b', [3, 9, 3, 17774, 7079, 3, 115, 1], [3, 9, 3, 7079, 17774, 3, 115, 1]],
    // Grapheme clusters under 6 bytes: shortest charsmap prefix, rest of the cluster dropped.
    ['a\u0308\u0301', [3, 1864, 1], [3, 1864, 2, 1]],
    ['tie\u0302\u0301ng', [3, 17, 23, 8202, 1725, 1], [3, 17, 23, 2, 1725, 1]],
    ['\u2026\u0301', [3, 233, 1], [3, 233, 2, 1]],
    ['x\u00a0\u0301y', [3, 226, 3, 63, 1], [3, 226, 3, 2, 63, 1]],
    ['\u2460\u0301\u2461', [586, 1], [209, 2, 357, 1]],
  ];
  for (const [text, want] of TABLE) {
    it(JSON.stringify(text), () => {
      expect(Array.from(tok.encode([text], { padding: 'none' }).inputIds[0])).toEqual(want);
      expect(tokCases.cases.find((c) => c.text === text)?.ids ?? want).toEqual(want);
    });
  }

  it('puts the long piece last on ties and fuses <unk> runs', () => {
    expect(tok.tokenize('why????')).toEqual(['\u2581why', '?', '???']);
    expect(tok.tokenize('a\u0308\u0301')).toEqual(['\u2581', '\u00e4']);
    expect(tok.tokenize('\u2603\u2603\u2603 x\u2603')).toEqual(['\u2581', '<unk>', '\u2581', 'x', '<unk>']);
    expect(tok.tokenize('\uff1cextra_id_0\uff1e')).toEqual(['\u2581', '<extra_id_0>']);
  });
});

describe('T5Tokenizer on transformers 5 reference cases (testdata/tokenizer_cases.json)', () => {
  let bare: T5Tokenizer;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 't5tok-'));
    try {
      copyFileSync(join(TOKENIZER_DIR, 'spiece.model'), join(dir, 'spiece.model'));
      bare = await T5Tokenizer.fromPretrained(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const groups = [...new Set(tokCases.cases.map((c) => c.group))];
  it('covers every group', () => {
    expect(tokCases.generated_with.transformers).toMatch(/^5\./);
    expect(groups).toEqual(expect.arrayContaining([
      'viterbi_tie', 'combining_marks', 'space_plus_mark', 'compat_plus_mark', 'long_cluster', 'emoji',
      'unknown_runs', 'added_tokens', 'whitespace', 'clusters_misc', 'random',
    ]));
    expect(tokCases.cases.length).toBeGreaterThan(400);
  });
  for (const group of groups) {
    it(group, () => {
      const cases = tokCases.cases.filter((c) => c.group === group);
      const enc = tok.encode(cases.map((c) => c.text), { padding: 'none', truncation: false });
      cases.forEach((c, i) => expect(Array.from(enc.inputIds[i]), JSON.stringify(c.text)).toEqual(c.ids));
      // Without tokenizer_config.json the sentinels have no lstrip/rstrip.
      const encBare = bare.encode(cases.map((c) => c.text), { padding: 'none', truncation: false });
      cases.forEach((c, i) => expect(Array.from(encBare.inputIds[i]), JSON.stringify(c.text)).toEqual(c.ids_spiece_only ?? c.ids));
    });
  }

  it('honours rstrip on the sentinels as saved in tokenizer_config.json', () => {
    const c = tokCases.cases.find((x) => x.text === '<extra_id_0>\u00a0\u0301x')!;
    expect(c.ids).toEqual([32099, 3, 2, 226, 1]);
    expect(c.ids_spiece_only).toEqual([32099, 3, 226, 1]);
  });
});

describe('T5Tokenizer building blocks', () => {
  it('reads the pieces, trainer spec and normalizer spec of spiece.model', () => {
    const spm = readSentencePieceModel(readFileSync(join(TOKENIZER_DIR, 'spiece.model')));
    expect(spm.pieces.length).toBe(32000);
    expect(spm.pieces.slice(0, 4).map((p) => [p.piece, p.type])).toEqual([
      ['<pad>', PieceType.CONTROL], ['</s>', PieceType.CONTROL], ['<unk>', PieceType.UNKNOWN], ['\u2581', PieceType.NORMAL],
    ]);
    expect(spm.pieces[3].score).toBe(Math.fround(-2.0122928619384766));
    expect(spm.pieces.filter((p) => p.type === PieceType.NORMAL).length).toBe(31997);
    expect(spm.trainerSpec).toEqual({ modelType: 1, byteFallback: false, unkId: 2, bosId: -1, eosId: 1, padId: 0, unkPiece: '<unk>' });
    const { precompiledCharsmap, ...flags } = spm.normalizerSpec;
    expect(flags).toEqual({ name: 'nmt_nfkc', addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true });
    expect(precompiledCharsmap.length).toBe(237539);
  });

  it('normalizes per grapheme cluster like tokenizers\' Precompiled', () => {
    const spm = readSentencePieceModel(readFileSync(join(TOKENIZER_DIR, 'spiece.model')));
    const cm = new PrecompiledCharsmap(spm.normalizerSpec.precompiledCharsmap);
    expect(cm.normalize('a\u0308\u0301')).toBe('\u00e4'); // 5-byte cluster: prefix "a\u0308" -> "ä", U+0301 dropped
    expect(cm.normalize('a\u0308\u0301\u0323')).toBe('a\u0308\u0301\u0323'); // 7 bytes: code point by code point
    expect(cm.normalize('x\u00a0\u0301y')).toBe('x y');
    expect(cm.normalize('\u2122 \ufb01 \uff41 \u2460')).toBe('TM fi a 1');
    expect(cm.normalize('\u2122\u0301')).toBe('TM');
    expect(cm.normalize('Hello, World!\t')).toBe('Hello, World! ');
    expect(cm.normalize('')).toBe('');
    expect(cm.lookup('a', 0, 1)).toBeNull();
    expect(() => new PrecompiledCharsmap(new Uint8Array([1, 2]))).toThrow(/precompiled_charsmap/);
  });

  it('takes the same clusters as a plain Intl.Segmenter pass (its shortcuts are exact)', () => {
    const spm = readSentencePieceModel(readFileSync(join(TOKENIZER_DIR, 'spiece.model')));
    const cm = new PrecompiledCharsmap(spm.normalizerSpec.precompiledCharsmap);
    const seg = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    const utf8 = new TextEncoder();
    const reference = (s: string): string => {
      let out = '';
      for (const { segment: g } of seg.segment(s)) {
        const whole = utf8.encode(g).length < 6 ? cm.lookup(g, 0, g.length) : null;
        if (whole !== null) out += whole;
        else for (const ch of g) out += cm.lookup(ch, 0, ch.length) ?? ch;
      }
      return out;
    };
    // Marks, controls, Prepend, ZWJ / emoji, regional indicators, Hangul jamo, viramas
    // (GB9c), CR LF, spaces and compatibility characters, mixed at random.
    const pool = [
      0x61, 0x20, 0xa0, 0x3000, 0x2122, 0xfb01, 0xff41, 0x2460, 0x2026, 0x1100, 0x1161, 0x11a8, 0xac00,
      0x1f1fa, 0x1f1f8, 0x600, 0xd, 0xa, 0x9, 0x0, 0x2581, 0x915, 0x94d, 0x937, 0x93f, 0x200d, 0x200c,
      0x1f468, 0x1f3fd, 0xfe0f, 0x20e3, 0xd4e, 0x111c2, 0xe33, 0xe01, 0x301, 0x308, 0x323, 0x302, 0x20d7,
      0x903, 0x1f600, 0x2764, 0x200b, 0xad, 0x34f, 0x1ab0, 0xa8e0, 0x1d165, 0xe0020,
    ];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    for (let t = 0; t < 5000; t++) {
      let s = '';
      for (let j = 1 + rnd(10); j > 0; j--) s += String.fromCodePoint(pool[rnd(pool.length)]);
      expect(cm.normalize(s), JSON.stringify(s)).toBe(reference(s));
    }
    const long = 'a\u0301\r\n\u{1F1FA}\u0915\u094d\u0937 \u00a0\u0301'.repeat(300); // windows of the segmenter
    expect(cm.normalize(long)).toBe(reference(long));
  });

  it('runs tokenizers\' Unigram Viterbi (doc example, ties, unknown fusion)', () => {
    const vocab = [['<unk>', 0], ['a', 0], ['b', 0], ['c', 0], ['d', 0], ['cd', 1], ['ab', 2], ['abc', 5], ['abcd', 10]] as const;
    const m = new UnigramModel(vocab.map(([piece, score]) => ({ piece, score })), 0);
    const ids: number[] = [];
    m.encode('abcdacdxx', ids);
    expect(ids.map((i) => vocab[i][0])).toEqual(['abcd', 'a', 'cd', '<unk>']); // "xx" fused into one <unk>
    const tie = new UnigramModel([{ piece: '<unk>', score: 0 }, { piece: 'a', score: -1 }, { piece: 'aa', score: -2 }], 0);
    const t: number[] = [];
    tie.encode('aaa', t);
    expect(t).toEqual([1, 2]); // "a" + "aa": every split scores -3, the first path found is kept
    const astral: number[] = [];
    m.encode('a\u{1F600}\u{1F600}b', astral);
    expect(astral).toEqual([1, 0, 2]);
  });
});
