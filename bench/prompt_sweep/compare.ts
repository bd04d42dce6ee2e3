/**
 * Prompt sweep, step 3: runs the SDK's caption preprocessing and T5 tokenizer on every
 * prompt and compares with the Python reference (reference.py).
 *
 * Run (from /work/main), after prompts.py and reference.py:
 *   npx tsx bench/prompt_sweep/compare.ts [out/prompts.json] [out/reference.json]
 *
 * Checks, per prompt:
 *   lower  : preprocessText(p, false)  vs _text_preprocessing(p, clean_caption=False)
 *   clean  : preprocessText(p, true)   vs _text_preprocessing(p, clean_caption=True) (or both throw)
 *   ids    : T5Tokenizer.encode([refText], {maxLength: L}) vs transformers, for every L, for
 *            the reference's lower and clean texts (so tokenizer and cleaner are judged apart)
 *   e2e    : tokenizeBatch(ours(preprocess(p))) vs transformers(ref(preprocess(p))) at L = 120
 * Batches go through lib/pipeline/tensors.ts tokenizeBatch, as the pipeline does.
 * Writes out/mismatches*.json and prints a summary.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preprocessText } from '../../lib/text/cleanCaption.js';
import { T5Tokenizer } from '../../lib/text/T5Tokenizer.js';
import { tokenizeBatch } from '../../lib/pipeline/tensors.js';

const here = dirname(fileURLToPath(import.meta.url));
const promptsPath = process.argv[2] ?? join(here, 'out', 'prompts.json');
const refPath = process.argv[3] ?? promptsPath.replace('prompts', 'reference');
const outPath = promptsPath.replace('prompts', 'mismatches');

type Row = { input_ids: number[]; attention_mask: number[] };
type Case = { id: number; cat: string; text?: string; batch?: string[]; lens?: number[] };
type Ref = {
  id: number;
  lower: string | string[];
  clean: string | { error: string } | (string | { error: string })[];
  clean_nofix?: string | { error: string };
  ids?: Record<string, number[]>;
  explicit?: Record<string, Record<string, Row>>;
  tok?: Record<string, Record<string, Row>>;
};

const prompts = JSON.parse(readFileSync(promptsPath, 'utf8')) as { all_lens: number[]; cases: Case[] };
const refs = JSON.parse(readFileSync(refPath, 'utf8')) as { cases: Ref[] };
const tok = await T5Tokenizer.fromPretrained(join(here, '..', '..', 'test', 'fixtures', 'pixart-tiny', 'tokenizer'));

function ourClean(text: string): string | { error: string } {
  try {
    return preprocessText(text, true);
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function expected(full: number[], L: number): Row {
  const exp = full.length <= L ? full : [...full.slice(0, L - 1), tok.eosTokenId];
  const ids = [...exp, ...new Array<number>(L - exp.length).fill(tok.padTokenId)];
  const mask = [...new Array<number>(exp.length).fill(1), ...new Array<number>(L - exp.length).fill(0)];
  return { input_ids: ids, attention_mask: mask };
}

function ours(texts: string[], L: number): Row[] {
  const { ids, mask } = tokenizeBatch(tok, texts, L);
  const enc = tok.encode(texts, { maxLength: L });
  const rows: Row[] = [];
  for (let i = 0; i < texts.length; i++) {
    const r = { input_ids: Array.from(ids.subarray(i * L, (i + 1) * L)), attention_mask: Array.from(mask.subarray(i * L, (i + 1) * L)) };
    if (JSON.stringify(Array.from(enc.inputIds[i])) !== JSON.stringify(r.input_ids)) throw new Error('encode vs tokenizeBatch differ');
    rows.push(r);
  }
  return rows;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Where two id lists first differ, with a window of the token strings. */
function idDiff(ref: number[], got: number[]) {
  let k = 0;
  while (k < ref.length && k < got.length && ref[k] === got[k]) k++;
  const win = (a: number[]) => a.slice(Math.max(0, k - 2), k + 6).map((id) => `${id}:${tok.idToToken(id)}`);
  return { firstDiff: k, ref: win(ref), ours: win(got), refLen: ref.length, oursLen: got.length };
}

const mismatches: Record<string, unknown[]> = { lower: [], clean: [], clean_mojibake: [], clean_error: [], ids: [], e2e: [], batch: [] };
const counts = { prompts: 0, batches: 0, tokRows: 0, lens: new Set<number>() };

for (let ci = 0; ci < prompts.cases.length; ci++) {
  const c = prompts.cases[ci];
  const r = refs.cases[ci];
  if (r.id !== c.id) throw new Error('reference out of step');
  const lens = c.lens ?? prompts.all_lens;
  lens.forEach((L) => counts.lens.add(L));
  if (c.batch) {
    counts.batches++;
    const lower = c.batch.map((t) => preprocessText(t, false));
    const clean = c.batch.map(ourClean);
    if (!same(lower, r.lower)) mismatches.batch.push({ id: c.id, what: 'lower', batch: c.batch, ref: r.lower, ours: lower });
    if (!same(clean, r.clean) && !(r.clean as unknown[]).some((x) => typeof x !== 'string')) {
      mismatches.batch.push({ id: c.id, what: 'clean', batch: c.batch, ref: r.clean, ours: clean });
    }
    for (const [name, perL] of Object.entries(r.tok ?? {})) {
      const texts = (name === 'lower' ? r.lower : r.clean) as string[];
      for (const [Ls, ref] of Object.entries(perL)) {
        const got = ours(texts, Number(Ls));
        counts.tokRows += texts.length;
        const gotIds = got.map((x) => x.input_ids);
        const gotMask = got.map((x) => x.attention_mask);
        if (!same(gotIds, ref.input_ids) || !same(gotMask, ref.attention_mask)) {
          mismatches.batch.push({ id: c.id, what: `tok_${name}`, L: Number(Ls), texts, ref, ours: { input_ids: gotIds, attention_mask: gotMask } });
        }
      }
    }
    continue;
  }
  counts.prompts++;
  const text = c.text!;
  const lower = preprocessText(text, false);
  if (lower !== r.lower) mismatches.lower.push({ id: c.id, cat: c.cat, prompt: text, ref: r.lower, ours: lower });
  const clean = ourClean(text);
  const refClean = r.clean;
  if (typeof refClean === 'string' && typeof clean === 'string') {
    if (clean !== refClean) {
      const moj = r.clean_nofix !== undefined && same(clean, r.clean_nofix);
      (moj ? mismatches.clean_mojibake : mismatches.clean).push({ id: c.id, cat: c.cat, prompt: text, ref: refClean, ours: clean, ...(r.clean_nofix !== undefined ? { ref_without_fix_encoding: r.clean_nofix } : {}) });
    }
  } else if (typeof refClean === 'string' || typeof clean === 'string') {
    mismatches.clean_error.push({ id: c.id, cat: c.cat, prompt: text, ref: refClean, ours: clean });
  }
  // tokenizer on the reference texts, every L
  for (const name of ['lower', 'clean'] as const) {
    const full = r.ids?.[name];
    if (!full) continue;
    const t = (name === 'lower' ? r.lower : r.clean) as string;
    for (const L of lens) {
      const ref = r.explicit?.[name]?.[String(L)] ?? expected(full, L);
      const [got] = ours([t], L);
      counts.tokRows++;
      if (!same(got.input_ids, ref.input_ids) || !same(got.attention_mask, ref.attention_mask)) {
        mismatches.ids.push({ id: c.id, cat: c.cat, prompt: text, which: name, text: t, L, ...idDiff(ref.input_ids, got.input_ids), maskRef: ref.attention_mask.reduce((a, b) => a + b, 0), maskOurs: got.attention_mask.reduce((a, b) => a + b, 0) });
        break; // one L per text is enough to report
      }
    }
  }
  // end to end at 120 (clean path)
  if (typeof clean === 'string' && r.ids?.clean && lens.includes(120)) {
    const [got] = ours([clean], 120);
    const ref = r.explicit?.clean?.['120'] ?? expected(r.ids.clean, 120);
    if (!same(got, ref)) mismatches.e2e.push({ id: c.id, cat: c.cat, prompt: text });
  }
}

tok.dispose();
writeFileSync(outPath, JSON.stringify({ counts: { ...counts, lens: [...counts.lens] }, mismatches }, null, 1));
console.log(`prompts ${counts.prompts}, batches ${counts.batches}, tokenizer rows compared ${counts.tokRows}, lens ${[...counts.lens].join(',')}`);
for (const [k, v] of Object.entries(mismatches)) console.log(`${k}: ${v.length}`);
const byCat = (list: unknown[]) => {
  const m = new Map<string, number>();
  for (const x of list as { cat?: string }[]) m.set(x.cat ?? '?', (m.get(x.cat ?? '?') ?? 0) + 1);
  return Object.fromEntries(m);
};
for (const [k, v] of Object.entries(mismatches)) if (v.length) console.log(`  ${k} by category: ${JSON.stringify(byCat(v))}`);
console.log(`details -> ${outPath}`);
