/**
 * Error-growth check, SDK side (bench/sweep/scale_gen.py): for each T5 / DiT size, the SDK's
 * CPU output vs torch float32 and vs torch float64, and torch float32 vs float64, with the
 * element-wise criterion |a-b| <= 1e-4 + 1e-4*|ref| (worst/tol > 1 fails).
 *
 *   npx tsx bench/sweep/scale_run.ts
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../lib/engine/Engine.js';
import { readSafetensorsFile, type HostTensor as ST } from '../../lib/io/safetensorsFile.js';
import { PixArtTransformer2DModel } from '../../lib/models/PixArtTransformer2DModel.js';
import { T5EncoderModel } from '../../lib/models/T5EncoderModel.js';

const DIR = '/tmp/sweep/scale';
const index = JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8'));
const engine = Engine.create({ device: 'cpu', threads: 2 });
const f32 = (t: ST) => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as any, (v: any) => Number(v)));

function stats(a: ArrayLike<number>, b: ArrayLike<number>) {
  let maxAbs = 0, worst = 0, at = 0, sum = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    maxAbs = Math.max(maxAbs, d);
    const r = d / (1e-4 + 1e-4 * Math.abs(b[i]));
    if (r > worst) { worst = r; at = i; }
  }
  return `maxAbs ${maxAbs.toExponential(2)} meanAbs ${(sum / b.length).toExponential(2)} worst/tol ${worst.toFixed(2)}${worst > 1 ? ' FAIL' : ''} (at ${at}: ${a[at]} vs ${b[at]})`;
}

for (const [name, info] of Object.entries<any>(index)) {
  const r = readSafetensorsFile(join(DIR, name, 'refs.safetensors'));
  const g = (k: string) => r.get(k)!;
  let out: Float32Array;
  const t0 = Date.now();
  if (info.kind === 't5') {
    const m = await T5EncoderModel.fromPretrained(join(DIR, name), { engine });
    const ids = g('input_ids');
    const [b, l] = ids.shape;
    out = (await m.encode(Int32Array.from(ids.data as any, (v: any) => Number(v)), Int32Array.from(g('attention_mask').data as any, (v: any) => Number(v)), b, l)).data;
    m.dispose();
  } else {
    const m = await PixArtTransformer2DModel.fromPretrained(join(DIR, name), { engine });
    const hs = g('hidden_states'), ehs = g('encoder_hidden_states');
    out = (await m.forward({
      latents: f32(hs), latentShape: hs.shape as any, timesteps: f32(g('timestep')), text: f32(ehs), textShape: ehs.shape as any,
      textMask: f32(g('encoder_attention_mask')), resolution: r.has('resolution') ? f32(g('resolution')) : undefined,
      aspectRatio: r.has('aspect_ratio') ? f32(g('aspect_ratio')) : undefined,
    })).data;
    m.dispose();
  }
  const fp32 = f32(g('fp32')), fp64 = f32(g('fp64'));
  console.log(`${name} ${JSON.stringify(info.spec)} (${Date.now() - t0} ms)`);
  console.log(`   sdk   vs torch fp32: ${stats(out, fp32)}`);
  console.log(`   sdk   vs torch fp64: ${stats(out, fp64)}`);
  console.log(`   torch32 vs torch64 : ${stats(fp32, fp64)}`);
}
engine.dispose();
