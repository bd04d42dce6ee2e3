/**
 * Long-input timing and equality spot check (pathological regex / parser inputs).
 * Run (from /work/main): npx tsx bench/prompt_sweep/long_inputs.ts > /tmp/long_ts.json
 * and compare with: PYTHONPATH=... python3 bench/prompt_sweep/long_inputs.py > /tmp/long_py.json
 */
import { preprocessText } from '../../lib/text/cleanCaption.js';
import { LONG_INPUTS } from './long_inputs_list.js';

const out: Record<string, { ms: number; clean: string | null; err?: string }> = {};
for (const [name, text] of Object.entries(LONG_INPUTS)) {
  const t0 = performance.now();
  let clean: string | null = null;
  let err: string | undefined;
  try { clean = preprocessText(text, true); } catch (e) { err = (e as Error).message.slice(0, 100); }
  out[name] = { ms: Math.round(performance.now() - t0), clean, ...(err ? { err } : {}) };
}
console.log(JSON.stringify(out));
