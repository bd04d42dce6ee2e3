/**
 * Fuzz comparison of lib/text's ftfy port with ftfy 6.3.1 (a script, not a CI test: its input
 * comes from Python). Run from the repository root:
 *
 *   PYTHONPATH=/tmp/pyftfy python3 lib/text/testdata/fuzz_ftfy_encoding.py /tmp/ftfy_fuzz.json 300000 2
 *   npx tsx bench/prompt_sweep/ftfy_fuzz.ts /tmp/ftfy_fuzz.json
 *
 * Prints, per kind of case, how many differ for fix_text, fix_encoding and is_bad (cases that
 * touch characters unassigned in CPython 3.11's Unicode 14 are counted apart), and the first few
 * differences; exits 1 on any other difference.
 */
import { readFileSync } from 'node:fs';
import { fixEncoding, isBad } from '../../lib/text/ftfyEncoding.js';
import { ftfyFixText } from '../../lib/text/ftfyLite.js';

interface FuzzCase {
  kind: string;
  text: string;
  fix_text: string;
  fix_encoding: string;
  is_bad: boolean;
  new_chars: boolean;
}

const file = process.argv[2];
if (!file) {
  console.error('usage: npx tsx bench/prompt_sweep/ftfy_fuzz.ts <file from fuzz_ftfy_encoding.py>');
  process.exit(2);
}
const data = JSON.parse(readFileSync(file, 'utf8')) as { cases: FuzzCase[]; is_bad: [string, boolean][] };
type Stat = { n: number; changed: number; fixText: number; fixEncoding: number; isBad: number; newChars: number };
const stats = new Map<string, Stat>();
const shown: unknown[] = [];
let failures = 0;
for (const c of data.cases) {
  let s = stats.get(c.kind);
  if (!s) stats.set(c.kind, (s = { n: 0, changed: 0, fixText: 0, fixEncoding: 0, isBad: 0, newChars: 0 }));
  s.n++;
  if (c.fix_encoding !== c.text) s.changed++;
  const ft = ftfyFixText(c.text);
  const fe = fixEncoding(c.text);
  const ib = isBad(c.text);
  const bad = ft !== c.fix_text || fe !== c.fix_encoding || ib !== c.is_bad;
  if (!bad) continue;
  if (c.new_chars) {
    s.newChars++;
    continue;
  }
  failures++;
  if (ft !== c.fix_text) s.fixText++;
  if (fe !== c.fix_encoding) s.fixEncoding++;
  if (ib !== c.is_bad) s.isBad++;
  if (shown.length < 15) shown.push({ ...c, ours: { fix_text: ft, fix_encoding: fe, is_bad: ib } });
}
let badDiff = 0;
for (const [t, want] of data.is_bad) {
  if (isBad(t) === want) continue;
  badDiff++;
  if (shown.length < 25) shown.push({ is_bad_string: t, want });
}
for (const [kind, s] of stats) {
  console.log(
    `${kind}: ${s.n} cases (${s.changed} changed by fix_encoding); differences: fix_text ${s.fixText}, ` +
      `fix_encoding ${s.fixEncoding}, is_bad ${s.isBad}; skipped (chars new since Unicode 14): ${s.newChars}`,
  );
}
console.log(`is_bad on ${data.is_bad.length} random strings: ${badDiff} differences`);
for (const x of shown) console.log(JSON.stringify(x));
process.exit(failures + badDiff === 0 ? 0 : 1);
