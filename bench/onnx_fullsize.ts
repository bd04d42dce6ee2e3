/**
 * ONNX export at full size: exports the random-weight PixArt-XL-2-1024-MS folder that
 * cpu_vs_torch.ts writes (bench/models/PixArt-XL-2-1024-MS-random: real configs, T5 at XXL
 * width with 4 of its 24 layers), runs the exported graphs in onnxruntime-node (CPU) and compares
 * them with the engine's CPU backend on the same inputs. Writes results/onnx-fullsize-<date>.md.
 *
 *   npx tsx bench/cpu_vs_torch.ts --only rss   # once, if the random model folder is missing
 *   npx tsx bench/onnx_fullsize.ts
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Engine } from '../lib/engine/Engine.js';
import { exportOnnx, type OnnxComponent } from '../lib/export/exportOnnx.js';
import { AutoencoderKL } from '../lib/models/AutoencoderKL.js';
import { PixArtTransformer2DModel } from '../lib/models/PixArtTransformer2DModel.js';
import { T5EncoderModel } from '../lib/models/T5EncoderModel.js';
import { randnTensor } from '../lib/random/randnTensor.js';
import { TorchGenerator } from '../lib/random/TorchGenerator.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH, '..');
const MODEL = join(BENCH, 'models', 'PixArt-XL-2-1024-MS-random');
const OUT = join(BENCH, 'models', 'onnx-1024');
if (!existsSync(join(MODEL, 'model_index.json'))) {
  console.error(`${relative(ROOT, MODEL)} is missing: run npx tsx bench/cpu_vs_torch.ts --only rss first (it writes it)`);
  process.exit(1);
}

const rows: string[][] = [];
const engine = Engine.create({ device: 'cpu', threads: 2 });
const randn = (shape: number[], seed: number) => randnTensor(shape, new TorchGenerator().manualSeed(seed));

function compare(a: Float32Array, b: Float32Array) {
  let maxAbs = 0, maxRef = 0, dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
    maxRef = Math.max(maxRef, Math.abs(b[i]));
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return { maxAbs, rel: maxAbs / maxRef, cosine: dot / Math.sqrt(na * nb) };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

async function exportOne(component: OnnxComponent, dtype: 'float32' | 'float16', quant: 'none' | 'int8' = 'none') {
  const out = join(OUT, `${component}-${dtype}${quant !== 'none' ? `-${quant}` : ''}`);
  mkdirSync(out, { recursive: true });
  const [m, ms] = await timed(() => exportOnnx(MODEL, out, { components: [component], dtype, textEncoderQuantization: quant }));
  const e = m.models[component]!;
  const bytes = e.bytes + (e.dataBytes ?? 0);
  console.log(`exported ${component} ${dtype} ${quant}: ${e.nodes} nodes, ${(bytes / 1e9).toFixed(2)} GB in ${(ms / 1000).toFixed(1)} s`);
  rows.push([`export ${component} (${dtype}${quant !== 'none' ? `, ${quant} weights` : ''})`, `${e.nodes} nodes, ${(bytes / 1e9).toFixed(2)} GB${e.dataFile ? ' (external data)' : ''}`, `${(ms / 1000).toFixed(1)} s`, '', '']);
  return join(out, e.file);
}

async function runOrt(file: string, feeds: Record<string, ort.Tensor>, exact: boolean) {
  const s = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], intraOpNumThreads: 2, logSeverityLevel: 3, graphOptimizationLevel: exact ? 'basic' : 'all' });
  await s.run(feeds);  // warm-up
  const [r, ms] = await timed(() => s.run(feeds));
  await s.release();
  return { out: Object.values(r)[0], ms };
}

// DiT: batch 2 (CFG), 32x32 latents (256x256), 120 tokens, half masked in the first row.
{
  const file = await exportOne('transformer', 'float32');
  await exportOne('transformer', 'float16');
  const B = 2, H = 32, W = 32, L = 120;
  const latents = randn([B, 4, H, W], 1), text = randn([B, L, 4096], 2);
  const timesteps = Float32Array.from([999, 999]);
  const mask = Float32Array.from({ length: B * L }, (_, i) => (i < L && i % L >= 60 ? 0 : 1));
  const resolution = Float32Array.from([256, 256, 256, 256]), aspectRatio = Float32Array.from([1, 1]);
  const dit = await PixArtTransformer2DModel.fromPretrained(join(MODEL, 'transformer'), { engine });
  const args = { latents, latentShape: [B, 4, H, W] as [number, number, number, number], timesteps, text, textShape: [B, L, 4096] as [number, number, number], textMask: mask, resolution, aspectRatio };
  await dit.forward(args);
  const [ours, oursMs] = await timed(() => dit.forward(args));
  dit.dispose();
  const r = await runOrt(file, {
    hidden_states: new ort.Tensor('float32', latents, [B, 4, H, W]), timestep: new ort.Tensor('float32', timesteps, [B]),
    encoder_hidden_states: new ort.Tensor('float32', text, [B, L, 4096]), encoder_attention_mask: new ort.Tensor('float32', mask, [B, L]),
    resolution: new ort.Tensor('float32', resolution, [B, 2]), aspect_ratio: new ort.Tensor('float32', aspectRatio, [B]),
  }, false);
  const c = compare(r.out.data as Float32Array, ours.data);
  rows.push(['DiT forward, batch 2, 32x32 latents, fp32', `max abs ${c.maxAbs.toExponential(2)}, rel ${c.rel.toExponential(2)}, cosine ${c.cosine.toFixed(7)}`, `${(oursMs / 1000).toFixed(2)} s`, `${(r.ms / 1000).toFixed(2)} s`, (r.ms / oursMs).toFixed(2)]);
  console.log(rows.at(-1)!.join(' | '));
}

// T5 at XXL width (4 layers), int8 weights, 2 x 120 tokens.
{
  const file = await exportOne('text_encoder', 'float32', 'int8');
  const B = 2, L = 120;
  const ids = Int32Array.from({ length: B * L }, (_, i) => (i % L < 40 ? 1 + ((i * 7919) % 32000) : 0));
  const mask = Int32Array.from({ length: B * L }, (_, i) => (i % L < 40 ? 1 : 0));
  const t5 = await T5EncoderModel.fromPretrained(join(MODEL, 'text_encoder'), { engine, quantization: 'int8' });
  await t5.encode(ids, mask, B, L);
  const [ours, oursMs] = await timed(() => t5.encode(ids, mask, B, L));
  t5.dispose();
  const r = await runOrt(file, {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [B, L]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask, (v) => BigInt(v)), [B, L]),
  }, true);
  const c = compare(r.out.data as Float32Array, ours.data);
  rows.push(['T5 (XXL width, 4 layers) int8, 2 x 120 tokens', `max abs ${c.maxAbs.toExponential(2)}, rel ${c.rel.toExponential(2)}, cosine ${c.cosine.toFixed(7)}`, `${(oursMs / 1000).toFixed(2)} s`, `${(r.ms / 1000).toFixed(2)} s`, (r.ms / oursMs).toFixed(2)]);
  console.log(rows.at(-1)!.join(' | '));
}

// VAE decoder: 32x32 latents -> 256x256.
{
  const file = await exportOne('vae_decoder', 'float32');
  await exportOne('vae_decoder', 'float16');
  const shape: [number, number, number, number] = [1, 4, 32, 32];
  const z = randn(shape, 3);
  const vae = await AutoencoderKL.fromPretrained(join(MODEL, 'vae'), { engine });
  await vae.decode({ data: z, shape });
  const [ours, oursMs] = await timed(() => vae.decode({ data: z, shape }));
  vae.dispose();
  const r = await runOrt(file, { latent_sample: new ort.Tensor('float32', z, shape) }, false);
  const c = compare(r.out.data as Float32Array, ours.data);
  rows.push(['VAE decode 32x32 -> 256x256, fp32', `max abs ${c.maxAbs.toExponential(2)}, rel ${c.rel.toExponential(2)}, cosine ${c.cosine.toFixed(7)}`, `${(oursMs / 1000).toFixed(2)} s`, `${(r.ms / 1000).toFixed(2)} s`, (r.ms / oursMs).toFixed(2)]);
  console.log(rows.at(-1)!.join(' | '));
}
engine.dispose();

const date = new Date().toISOString().slice(0, 10);
const commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
const md = `# ONNX export at full size (${date})

Machine: ${cpus().length} x ${cpus()[0].model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version};
onnxruntime-node ${ort.env.versions.common} (CPU, 2 intra-op threads); commit ${commit}.
Command: \`npx tsx bench/onnx_fullsize.ts\`. Model: ${relative(ROOT, MODEL)} (random weights, the real
PixArt-XL-2-1024-MS configs; T5 at XXL width with 4 of 24 layers). Ours = the engine's CPU backend
(fp32, 2 threads) on the same inputs; onnxruntime runs the exported file (one warm-up, then one timed
run each side). The int8 T5 graph is run at onnxruntime's basic optimisation level (its extended
level swaps DequantizeLinear+MatMul for MatMulNBits with int8 activations: a different function).

| case | result / agreement (onnxruntime vs ours) | ours | onnxruntime | ort / ours |
| --- | --- | ---: | ---: | ---: |
${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}
`;
mkdirSync(join(BENCH, 'results'), { recursive: true });
const path = join(BENCH, 'results', `onnx-fullsize-${date}.md`);
writeFileSync(path, md);
console.log(`wrote ${relative(ROOT, path)}`);

