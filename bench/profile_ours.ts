/**
 * Runs one benchmark case of ours (the inputs and weights bench/cpu_vs_torch.ts wrote) a few
 * times, for a profiler:
 *
 *   perf record -F 499 -g -o /tmp/perf.data -- npx --yes tsx bench/profile_ours.ts vae 2
 *   perf report -i /tmp/perf.data --no-children --sort dso,symbol | head -60
 *
 * Usage: npx tsx bench/profile_ours.ts <dit32|dit64|t5|vae> [runs=2] [threads=2]
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = dirname(fileURLToPath(import.meta.url));
const model = join(BENCH, 'models', 'PixArt-XL-2-1024-MS-random');
const inputsDir = join(BENCH, 'models', 'inputs');
const [which = 'vae', runsArg = '2', threadsArg = '2'] = process.argv.slice(2);
const runs = Number(runsArg), threads = Number(threadsArg);

function input(name: string): Float32Array | Int32Array {
  const spec = JSON.parse(readFileSync(join(inputsDir, 'inputs.json'), 'utf8'))[name];
  const b = new Uint8Array(readFileSync(join(inputsDir, `${name}.bin`))).buffer;
  return spec.dtype === 'int32' ? new Int32Array(b) : new Float32Array(b);
}

let run: () => Promise<unknown>;
if (which === 'dit32' || which === 'dit64') {
  const s = which === 'dit32' ? 32 : 64;
  const { PixArtTransformer2DModel } = await import('../lib/models/PixArtTransformer2DModel.js');
  const m = await PixArtTransformer2DModel.fromPretrained(join(model, 'transformer'), { threads });
  const args = {
    latents: input(`${which}_latents`) as Float32Array,
    latentShape: [2, 4, s, s] as [number, number, number, number],
    timesteps: input('dit_timesteps') as Float32Array,
    text: input('dit_text') as Float32Array,
    textShape: [2, 120, 4096] as [number, number, number],
    textMask: input('dit_text_mask') as Float32Array,
    ...(m.config.useAdditionalConditions ? { resolution: input(`${which}_resolution`) as Float32Array, aspectRatio: input(`${which}_aspect_ratio`) as Float32Array } : {}),
  };
  run = () => m.forward(args);
} else if (which === 't5') {
  const { T5EncoderModel } = await import('../lib/models/T5EncoderModel.js');
  const m = await T5EncoderModel.fromPretrained(join(model, 'text_encoder'), { threads });
  run = () => m.encode(input('t5_ids') as Int32Array, input('t5_mask') as Int32Array, 2, 120);
} else if (which === 'vae') {
  const { AutoencoderKL } = await import('../lib/models/AutoencoderKL.js');
  const m = await AutoencoderKL.fromPretrained(join(model, 'vae'), { threads });
  run = () => m.decode({ data: input('vae_z') as Float32Array, shape: [1, 4, 64, 64] });
} else {
  throw new Error(`unknown case ${which}`);
}
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await run();
  console.log(`${which} run ${i + 1}: ${(performance.now() - t0).toFixed(0)} ms`);
}
process.exit(0);
