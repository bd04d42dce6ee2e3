#!/usr/bin/env node
/**
 * node dist/tools/randomModelCli.js --config <dir> --out <dir> [--components transformer,vae]
 *   [--t5-layers 4] [--dtype float32|float16] [--seed 0] [--set transformer.num_layers=2 ...]
 * (node dist/tools/randomModel.js takes the same arguments.)
 */
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { MODEL_COMPONENTS, writeRandomModel, type ModelComponent, type WeightDType } from './randomModel.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function components(v: string): ModelComponent[] {
  const list = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of list) {
    if (!MODEL_COMPONENTS.includes(c as ModelComponent)) throw new InvalidArgumentError(`unknown component ${c} (known: ${MODEL_COMPONENTS.join(', ')})`);
  }
  return list as ModelComponent[];
}

function setting(v: string, prev: Partial<Record<ModelComponent, Record<string, unknown>>>) {
  const m = /^([a-z_]+)\.([A-Za-z0-9_]+)=(.*)$/.exec(v);
  if (!m || !MODEL_COMPONENTS.includes(m[1] as ModelComponent)) throw new InvalidArgumentError('expected component.key=JSON value');
  let value: unknown;
  try {
    value = JSON.parse(m[3]);
  } catch {
    value = m[3];
  }
  const c = m[1] as ModelComponent;
  return { ...prev, [c]: { ...(prev[c] ?? {}), [m[2]]: value } };
}

function humanBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${n} B`;
}

/** Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('random-model')
    .description('Write a diffusers-layout PixArt-α model folder with random weights from a real config folder')
    .requiredOption('--config <dir>', 'real model folder with model_index.json and the components\' configs')
    .requiredOption('--out <dir>', 'folder to write')
    .option('--components <list>', `comma-separated subset of ${MODEL_COMPONENTS.join(',')}`, components)
    .option('--t5-layers <n>', 'text encoder num_layers', positiveInt)
    .option('--dtype <dtype>', 'float32 or float16', 'float32')
    .option('--seed <n>', 'seed', (v) => Number(v), 0)
    .option('--set <component.key=value>', 'override a config key (repeatable)', setting, {})
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
  const o = program.opts<{
    config: string;
    out: string;
    components?: ModelComponent[];
    t5Layers?: number;
    dtype: string;
    seed: number;
    set: Partial<Record<ModelComponent, Record<string, unknown>>>;
  }>();
  if (o.dtype !== 'float32' && o.dtype !== 'float16') {
    process.stderr.write(`--dtype must be float32 or float16\n`);
    return 2;
  }
  const t0 = performance.now();
  try {
    const r = await writeRandomModel({
      configDir: o.config,
      outDir: o.out,
      components: o.components,
      t5Layers: o.t5Layers,
      dtype: o.dtype as WeightDType,
      seed: o.seed,
      overrides: o.set,
      onFile: (p, b) => process.stdout.write(`wrote ${p} (${humanBytes(b)})\n`),
    });
    const params = Object.entries(r.parameters).map(([k, v]) => `${k} ${(v / 1e6).toFixed(1)}M`).join(', ');
    process.stdout.write(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s; parameters: ${params || 'none'}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`random-model: ${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
