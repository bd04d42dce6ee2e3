/**
 * Randomised config sweep, SDK side: replays every case bench/sweep/gen.py recorded under
 * /tmp/sweep/<model>/ (cases.json + refs.safetensors) through the SDK on the CPU and compares
 * with diffusers/transformers.
 *
 *   cd /work/main
 *   PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps python3 bench/sweep/gen.py   # references
 *   npx tsx bench/sweep/run.ts [--only m03,m07] [--out /tmp/sweep] [--host-loop]
 *
 * Criterion (the fixtures README's fp32 tolerance): |a-b| <= 1e-4 + 1e-4*|ref| element-wise for
 * component outputs and images; latents (final and per step) relative to max|ref|. Prints one
 * line per case and writes /tmp/sweep/results.json.
 */
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../lib/engine/Engine.js';
import { readSafetensorsFile, type HostTensor as STensor } from '../../lib/io/safetensorsFile.js';
import { AutoencoderKL } from '../../lib/models/AutoencoderKL.js';
import { PixArtTransformer2DModel } from '../../lib/models/PixArtTransformer2DModel.js';
import { T5EncoderModel } from '../../lib/models/T5EncoderModel.js';
import { PixArtAlphaPipeline } from '../../lib/pipeline/PixArtAlphaPipeline.js';
import type { GenerateOptions } from '../../lib/pipeline/types.js';
import { TorchGenerator } from '../../lib/random/TorchGenerator.js';

const argv = process.argv.slice(2);
const arg = (k: string, d = '') => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
const OUT = arg('--out', '/tmp/sweep');
const ONLY = new Set(arg('--only').split(',').filter(Boolean));
const HOST_LOOP = argv.includes('--host-loop');

interface Cmp { ok: boolean; maxAbs: number; maxRef: number; worstIdx: number; worstGot: number; worstWant: number; excess: number; note?: string }

function compare(got: ArrayLike<number>, want: ArrayLike<number>, relToMax: boolean): Cmp {
  if (got.length !== want.length) return { ok: false, maxAbs: NaN, maxRef: NaN, worstIdx: -1, worstGot: NaN, worstWant: NaN, excess: Infinity, note: `length ${got.length} != ${want.length}` };
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) maxRef = Math.max(maxRef, Math.abs(want[i]));
  let maxAbs = 0, worst = -1, excess = -Infinity;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    const tol = 1e-4 + 1e-4 * (relToMax ? maxRef : Math.abs(want[i]));
    const ex = Number.isNaN(d) ? Infinity : d / tol;
    if (ex > excess) { excess = ex; worst = i; }
    if (!(d <= maxAbs)) maxAbs = d;
  }
  return { ok: excess <= 1, maxAbs, maxRef, worstIdx: worst, worstGot: got[worst], worstWant: want[worst], excess };
}

function idxStr(i: number, shape: number[]): string {
  const out: number[] = [];
  for (let k = shape.length - 1; k >= 0; k--) { out.unshift(i % shape[k]); i = Math.floor(i / shape[k]); }
  return `[${out.join(',')}]`;
}

function f32(t: STensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof BigInt64Array) return Float32Array.from(t.data, (v) => Number(v));
  return Float32Array.from(t.data as ArrayLike<number>);
}
function i32(t: STensor): Int32Array {
  return Int32Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

interface Row { id: string; kind: string; status: 'PASS' | 'FAIL' | 'ERR-BOTH' | 'SDK-REJECTS' | 'SDK-ACCEPTS' | 'SKIP'; detail: string }
const rows: Row[] = [];
function report(r: Row) {
  rows.push(r);
  console.log(`${r.status.padEnd(11)} ${r.id.padEnd(44)} ${r.detail}`);
}
function fmt(c: Cmp, shape: number[], what: string): string {
  if (c.note) return `${what}: ${c.note}`;
  return `${what}: maxAbs ${c.maxAbs.toExponential(2)} (max|ref| ${c.maxRef.toPrecision(4)}, worst/tol ${c.excess.toFixed(2)} at ${idxStr(c.worstIdx, shape)} got ${c.worstGot} want ${c.worstWant})`;
}

async function main() {
  const engine = Engine.create({ device: 'cpu', threads: 2 });
  const models = readdirSync(OUT).filter((d) => /^m\d+$/.test(d) && existsSync(join(OUT, d, 'cases.json'))).sort();
  for (const mid of models) {
    if (ONLY.size && !ONLY.has(mid)) continue;
    const dir = join(OUT, mid);
    const { meta, cases } = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8'));
    const refs = readSafetensorsFile(join(dir, 'refs.safetensors'));
    const R = (r: { key: string }) => { const t = refs.get(r.key); if (!t) throw new Error(`missing ref ${r.key}`); return t; };
    console.log(`\n== ${mid}: ${meta.note}${meta.load_error ? ` [diffusers load error: ${meta.load_error}]` : ''}`);

    // ---------- components alone
    for (const c of cases.filter((x: any) => x.kind !== 'pipeline')) {
      try {
        if (c.kind === 't5') {
          let t5: T5EncoderModel;
          try {
            t5 = await T5EncoderModel.fromPretrained(join(dir, 'text_encoder'), { engine });
          } catch (e: any) {
            report({ id: c.id, kind: c.kind, status: c.error ? 'ERR-BOTH' : 'SDK-REJECTS', detail: `${e.code ?? ''} ${e.message}${c.error ? ` | diffusers: ${c.error}` : ''}` });
            continue;
          }
          const ids = R(c.inputs.input_ids);
          const [b, l] = ids.shape;
          const out = await t5.encode(i32(ids), i32(R(c.inputs.attention_mask)), b, l);
          t5.dispose();
          if (c.error) { report({ id: c.id, kind: c.kind, status: 'SDK-ACCEPTS', detail: `diffusers: ${c.error}` }); continue; }
          const want = R(c.outputs.last_hidden_state);
          const cmp = compare(out.data, f32(want), false);
          report({ id: c.id, kind: c.kind, status: cmp.ok ? 'PASS' : 'FAIL', detail: fmt(cmp, want.shape, 'last_hidden_state') });
        } else if (c.kind === 'dit') {
          let dit: PixArtTransformer2DModel;
          try {
            dit = await PixArtTransformer2DModel.fromPretrained(join(dir, 'transformer'), { engine });
          } catch (e: any) {
            report({ id: c.id, kind: c.kind, status: c.error ? 'ERR-BOTH' : 'SDK-REJECTS', detail: `${e.code ?? ''} ${e.message}${c.error ? ` | diffusers: ${c.error}` : ''}` });
            continue;
          }
          const i = c.inputs;
          const hs = R(i.hidden_states), ehs = R(i.encoder_hidden_states);
          let out;
          try {
            out = await dit.forward({
              latents: f32(hs), latentShape: hs.shape as [number, number, number, number], timesteps: f32(R(i.timestep)),
              text: f32(ehs), textShape: ehs.shape as [number, number, number], textMask: f32(R(i.encoder_attention_mask)),
              resolution: i.resolution ? f32(R(i.resolution)) : undefined, aspectRatio: i.aspect_ratio ? f32(R(i.aspect_ratio)) : undefined,
            });
          } catch (e: any) {
            report({ id: c.id, kind: c.kind, status: c.error ? 'ERR-BOTH' : 'SDK-REJECTS', detail: `${e.code ?? ''} ${e.message}${c.error ? ` | diffusers: ${c.error}` : ''}` });
            dit.dispose();
            continue;
          }
          dit.dispose();
          if (c.error) { report({ id: c.id, kind: c.kind, status: 'SDK-ACCEPTS', detail: `diffusers: ${c.error}` }); continue; }
          const want = R(c.outputs.sample);
          const cmp = compare(out.data, f32(want), false);
          report({ id: c.id, kind: c.kind, status: cmp.ok ? 'PASS' : 'FAIL', detail: fmt(cmp, want.shape, 'sample') });
        } else if (c.kind === 'vae') {
          let vae: AutoencoderKL;
          try {
            vae = await AutoencoderKL.fromPretrained(join(dir, 'vae'), { engine });
          } catch (e: any) {
            report({ id: c.id, kind: c.kind, status: 'SDK-REJECTS', detail: `${e.code ?? ''} ${e.message}` });
            continue;
          }
          const z = R(c.inputs.z);
          const out = await vae.decode({ data: f32(z), shape: z.shape });
          vae.dispose();
          const want = R(c.outputs.sample);
          const cmp = compare(out.data, f32(want), false);
          report({ id: c.id, kind: c.kind, status: cmp.ok ? 'PASS' : 'FAIL', detail: fmt(cmp, want.shape, 'decode') });
        }
      } catch (e: any) {
        report({ id: c.id, kind: c.kind, status: 'FAIL', detail: `threw ${e.code ?? ''} ${e.stack ?? e.message}` });
      }
    }

    // ---------- pipeline calls
    const pcases = cases.filter((x: any) => x.kind === 'pipeline');
    if (pcases.length === 0) continue;
    let pipe: PixArtAlphaPipeline;
    try {
      pipe = await PixArtAlphaPipeline.fromPretrained(dir, { engine });
      pipe.tensorsOnEngine = !HOST_LOOP;
    } catch (e: any) {
      for (const c of pcases) {
        report({ id: c.id, kind: 'pipeline', status: c.error ? 'ERR-BOTH' : 'SDK-REJECTS', detail: `fromPretrained: ${e.code ?? ''} ${e.message}${c.error ? ` | diffusers: ${c.error}` : ''}` });
      }
      continue;
    }
    for (const c of pcases) {
      const i = c.inputs;
      const opts: GenerateOptions = {
        prompt: i.prompt,
        negativePrompt: i.negative ?? '',
        guidanceScale: i.guidance,
        numImagesPerPrompt: i.nips,
        height: i.height ?? undefined,
        width: i.width ?? undefined,
        eta: i.eta,
        seed: i.seed,
        outputType: i.output === 'np' ? 'float' : i.output === 'pil' ? 'image' : 'latent',
        cleanCaption: i.clean ?? false,
        useResolutionBinning: i.binning,
        maxSequenceLength: i.msl,
        scheduler: i.scheduler,
      };
      if (i.seeds) { delete opts.seed; opts.generator = i.seeds.map((x: number) => new TorchGenerator(x)); }
      if (i.embeds) {
        const T = (r: any) => { const t = R(r); return { data: f32(t), shape: t.shape }; };
        delete opts.prompt;
        opts.promptEmbeds = T(i.prompt_embeds);
        opts.promptAttentionMask = T(i.prompt_attention_mask);
        if (i.embeds === 'both') {
          delete opts.negativePrompt;
          opts.negativePromptEmbeds = T(i.negative_prompt_embeds);
          opts.negativePromptAttentionMask = T(i.negative_prompt_attention_mask);
        }
      }
      if (i.timesteps) opts.timesteps = i.timesteps;
      else if (i.sigmas) opts.sigmas = i.sigmas;
      else opts.numInferenceSteps = i.steps;
      const steps: Float32Array[] = [];
      const t0 = Date.now();
      let res;
      try {
        res = await pipe.generate({ ...opts, onStep: (s) => void steps.push(s.latents.data) });
      } catch (e: any) {
        report({ id: c.id, kind: 'pipeline', status: c.error ? 'ERR-BOTH' : 'SDK-REJECTS', detail: `${e.code ?? ''} ${e.message}${c.error ? ` | diffusers: ${c.error}` : ''}` });
        continue;
      }
      if (c.error) { report({ id: c.id, kind: 'pipeline', status: 'SDK-ACCEPTS', detail: `diffusers: ${c.error}; SDK gave ${res.tensor?.shape}` }); continue; }
      const wantImg = R(c.outputs.images);
      const wantSteps = R(c.outputs.latents_after_each_step);
      const parts: string[] = [];
      let ok = true;
      const img = i.output === 'pil'
        ? { data: Float32Array.from(res.images!.flatMap((im) => Array.from(im.data))), shape: [res.images!.length, res.images![0].height, res.images![0].width, 3] }
        : res.tensor!;
      if (i.output === 'pil') {
        const w = f32(wantImg);
        let nd = 0, md = 0;
        for (let k = 0; k < w.length; k++) { const d = Math.abs(img.data[k] - w[k]); if (d) nd++; md = Math.max(md, d); }
        if (img.shape.join() !== wantImg.shape.join() || md > 1) ok = false;
        parts.push(`uint8 image: ${nd} of ${w.length} bytes differ, max ${md}`);
      } else if (img.shape.join() !== wantImg.shape.join()) {
        ok = false;
        parts.push(`shape ${img.shape} != ${wantImg.shape}`);
      } else {
        const cmp = compare(img.data, f32(wantImg), i.output === 'latent');
        ok &&= cmp.ok;
        parts.push(fmt(cmp, wantImg.shape, i.output === 'latent' ? 'final latents' : 'image'));
      }
      const ns = wantSteps.shape[0];
      if (steps.length !== ns) { ok = false; parts.push(`${steps.length} callbacks, diffusers ${ns}`); }
      const n = wantSteps.shape.slice(1).reduce((a, b) => a * b, 1);
      const ws = f32(wantSteps);
      let firstBad = -1, firstCmp: Cmp | undefined;
      let worstStep: Cmp | undefined;
      for (let k = 0; k < Math.min(ns, steps.length); k++) {
        const cmp = compare(steps[k], ws.subarray(k * n, (k + 1) * n), true);
        if (!cmp.ok && firstBad < 0) { firstBad = k; firstCmp = cmp; }
        if (!worstStep || cmp.excess > worstStep.excess) worstStep = cmp;
      }
      if (firstBad >= 0) { ok = false; parts.push(`first bad step ${firstBad}: ${fmt(firstCmp!, wantSteps.shape.slice(1), 'latents')}`); }
      else if (worstStep) parts.push(`steps ok (worst/tol ${worstStep.excess.toFixed(3)})`);
      parts.push(`${Date.now() - t0} ms`);
      report({ id: c.id, kind: 'pipeline', status: ok ? 'PASS' : 'FAIL', detail: parts.join('; ') });
    }
    pipe.dispose();
  }
  engine.dispose();
  writeFileSync(join(OUT, HOST_LOOP ? 'results-hostloop.json' : 'results.json'), JSON.stringify(rows, null, 1));
  const count = (s: string) => rows.filter((r) => r.status === s).length;
  console.log(`\n${rows.length} cases: ${count('PASS')} pass, ${count('FAIL')} FAIL, ${count('SDK-REJECTS')} sdk-rejects, ${count('SDK-ACCEPTS')} sdk-accepts, ${count('ERR-BOTH')} both error`);
}

main().catch((e) => { console.error(e); process.exit(1); });
