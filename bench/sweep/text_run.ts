/**
 * Prompt sweep, SDK side: preprocessText (clean_caption False/True) and T5Tokenizer ids/masks
 * (max_length 120 and 16) against /tmp/sweep/text/cases.json (bench/sweep/text_gen.py). Exact.
 *
 *   npx tsx bench/sweep/text_run.ts [--all]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tokenizeBatch } from '../../lib/pipeline/tensors.js';
import { preprocessText } from '../../lib/text/cleanCaption.js';
import { T5Tokenizer } from '../../lib/text/T5Tokenizer.js';

const { cases } = JSON.parse(readFileSync('/tmp/sweep/text/cases.json', 'utf8'));
const tok = await T5Tokenizer.fromPretrained(join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'pixart-tiny', 'tokenizer'));
let pass = 0, failText = 0, failIds = 0, cleanDiffers = 0;
const show = (s: string) => JSON.stringify(s).slice(0, 200);
for (const c of cases) {
  if (c.error) { console.log(`diffusers error on ${show(c.prompt)}: ${c.error}`); continue; }
  let text: string;
  try {
    text = preprocessText(c.prompt, c.clean);
  } catch (e: any) {
    failText++;
    console.log(`THROWS  #${c.i} clean=${c.clean} ${show(c.prompt)}: ${e.message}`);
    continue;
  }
  if (c.clean && c.text !== c.prompt.toLowerCase().trim()) cleanDiffers++;
  let ok = true;
  if (text !== c.text) {
    ok = false;
    failText++;
    console.log(`TEXT    #${c.i} clean=${c.clean} prompt ${show(c.prompt)}\n        sdk       ${show(text)}\n        diffusers ${show(c.text)}`);
  }
  // ids from diffusers' text (so a text mismatch does not hide a tokenizer mismatch)
  for (const L of [120, 16]) {
    const { ids, mask } = tokenizeBatch(tok, [c.text], L);
    const want: number[] = c[`ids${L}`], wm: number[] = c[`mask${L}`];
    const bad = want.findIndex((v, i) => v !== ids[i] || wm[i] !== mask[i]);
    if (bad >= 0) {
      ok = false;
      failIds++;
      console.log(`IDS     #${c.i} L=${L} clean=${c.clean} text ${show(c.text)} first diff at ${bad}\n        sdk       ${Array.from(ids.slice(0, Math.min(L, bad + 8))).join(',')}\n        diffusers ${want.slice(0, bad + 8).join(',')}`);
      break;
    }
  }
  if (ok) pass++;
}
console.log(`\n${cases.length} text cases: ${pass} pass, ${failText} preprocessing mismatches, ${failIds} tokenizer mismatches (clean_caption changed the text in ${cleanDiffers} cases)`);
