import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_MODEL, fixtureCase, refInts } from '../../test/helpers/fixtures.js';
import { PixArtError } from '../errors.js';
import { T5Tokenizer, flattenEncoding } from './T5Tokenizer.js';

const TOKENIZER_DIR = join(TINY_MODEL, 'tokenizer');
const FIXTURE_IDS = Array.from({ length: 16 }, (_, i) => `tokenizer/${String(i).padStart(2, '0')}`);
const VARIANTS = ['clean_caption_false', 'clean_caption_true'] as const;

const here = dirname(fileURLToPath(import.meta.url));
const corpus = JSON.parse(readFileSync(join(here, 'testdata', 'reference_corpus.json'), 'utf8')) as {
  cases: { text: string; lower: string; clean?: string; ids_lower: number[]; ids_clean?: number[] }[];
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
    expect(n).toBeGreaterThan(800);
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
