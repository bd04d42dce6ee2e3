/**
 * CPU benchmark: pixart-node's engine vs PyTorch CPU (diffusers / transformers) on the same
 * random-weight full-size PixArt-XL-2-1024-MS folder and the same inputs. A script, not a test:
 * never run in CI.
 *
 *   npm run build                     # the native addon (build/Release/pixart.node)
 *   npx tsx bench/cpu_vs_torch.ts [--runs 3] [--threads 2] [--only dit32,dit64,t5,vae,rss]
 *                                 [--skip-torch] [--skip-ours] [--reuse-torch] [--python python3]
 *
 * Cases: (a) DiT forward, batch 2 (CFG), latents 32x32 and 64x64; (b) T5 encoder, XXL widths,
 * 4 of 24 layers, 120 tokens, batch 2; (c) VAE decode 64x64 latents -> 512x512; fp32, `threads`
 * threads on both sides, one warm-up run then the median of `runs`. (d) peak RSS of loading each
 * component in a fresh process, ours and torch's, against the weight bytes on disk.
 *
 * The weights are written once by lib/tools/randomModel.ts into bench/models/ (gitignored,
 * ~6.5 GB). The torch side (bench/torch_reference.py) needs PYTHONPATH with torch,
 * transformers, safetensors, numpy, Pillow and diffusers' source; by default
 * /work/pydeps:bench/.pydeps:bench/.diffusers (see torch_reference.py). The table is printed and
 * written to bench/results/cpu-<date>.md.
 */
import { spawnSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NormalStream, writeRandomModel } from '../lib/tools/randomModel.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = join(BENCH, '..');
const CONFIG = join(ROOT, 'test', 'fixtures', 'configs', 'PixArt-XL-2-1024-MS');
const T5_LAYERS = 4;
const TEXT_LEN = 120;

// ---------------------------------------------------------------------------------------------
// arguments
// ---------------------------------------------------------------------------------------------

interface Args {
  runs: number;
  threads: number;
  only: Set<string>;
  skipTorch: boolean;
  skipOurs: boolean;
  reuseTorch: boolean;
  python: string;
  modelDir: string;
  rssChild?: { component: string; folder: string };
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    runs: 3,
    threads: 2,
    only: new Set(['dit32', 'dit64', 't5', 'vae', 'rss']),
    skipTorch: false,
    skipOurs: false,
    reuseTorch: false,
    python: 'python3',
    modelDir: join(BENCH, 'models', 'PixArt-XL-2-1024-MS-random'),
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--runs') a.runs = Number(v());
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '--only') a.only = new Set(v().split(','));
    else if (k === '--skip-torch') a.skipTorch = true;
    else if (k === '--skip-ours') a.skipOurs = true;
    else if (k === '--reuse-torch') a.reuseTorch = true;
    else if (k === '--python') a.python = v();
    else if (k === '--model-dir') a.modelDir = v();
    else if (k === '--rss-child') a.rssChild = { component: v(), folder: v() };
    else throw new Error(`unknown argument ${k}`);
  }
  if (!Number.isInteger(a.runs) || a.runs < 1) throw new Error('--runs must be a positive integer');
  return a;
}

// ---------------------------------------------------------------------------------------------
// model + inputs
// ---------------------------------------------------------------------------------------------

async function ensureModel(dir: string): Promise<void> {
  const stampPath = join(dir, '.complete.json');
  const want = { config: 'PixArt-XL-2-1024-MS', t5Layers: T5_LAYERS, dtype: 'float32', seed: 0, version: 1 };
  if (existsSync(stampPath) && JSON.stringify(JSON.parse(readFileSync(stampPath, 'utf8'))) === JSON.stringify(want)) return;
  console.log(`writing random full-size weights to ${relative(ROOT, dir)} (once; ~6.5 GB)`);
  const t0 = performance.now();
  await writeRandomModel({
    configDir: CONFIG,
    outDir: dir,
    t5Layers: T5_LAYERS,
    dtype: 'float32',
    seed: 0,
    onFile: (p, b) => b > 1e6 && console.log(`  ${relative(ROOT, p)} ${(b / 1e9).toFixed(2)} GB`),
  });
  writeFileSync(stampPath, JSON.stringify(want));
  console.log(`  done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

interface Inputs {
  [name: string]: Float32Array | Int32Array;
}

function normal(name: string, n: number, std: number, mean = 0): Float32Array {
  const a = new Float32Array(n);
  new NormalStream(1234, name).fill(a, n, mean, std);
  return a;
}

/** Deterministic inputs, written as raw little-endian files both sides read. */
function makeInputs(dir: string): { inputs: Inputs; shapes: Record<string, number[]> } {
  const B = 2;
  const inputs: Inputs = {};
  const shapes: Record<string, number[]> = {};
  const put = (name: string, data: Float32Array | Int32Array, shape: number[]) => {
    inputs[name] = data;
    shapes[name] = shape;
  };
  // T5: a 24-token prompt + EOS, and the empty negative prompt (EOS only), padded to 120
  const ids = new Int32Array(B * TEXT_LEN), mask = new Int32Array(B * TEXT_LEN);
  const u = new Float32Array(24);
  new NormalStream(1234, 't5_ids').fill(u, 24, 0, 1);
  for (let j = 0; j < 24; j++) ids[j] = 3 + (Math.floor(Math.abs(u[j]) * 10007) % 31990);
  ids[24] = 1;
  ids[TEXT_LEN] = 1;
  for (let j = 0; j <= 24; j++) mask[j] = 1;
  mask[TEXT_LEN] = 1;
  put('t5_ids', ids, [B, TEXT_LEN]);
  put('t5_mask', mask, [B, TEXT_LEN]);
  // DiT: T5-like caption features, the same mask as float, one timestep
  put('dit_text', normal('dit_text', B * TEXT_LEN * 4096, 0.2), [B, TEXT_LEN, 4096]);
  put('dit_text_mask', Float32Array.from(mask), [B, TEXT_LEN]);
  put('dit_timesteps', new Float32Array([500, 500]), [B]);
  for (const s of [32, 64]) {
    put(`dit${s}_latents`, normal(`dit${s}_latents`, B * 4 * s * s, 1), [B, 4, s, s]);
    put(`dit${s}_resolution`, new Float32Array([8 * s, 8 * s, 8 * s, 8 * s]), [B, 2]);
    put(`dit${s}_aspect_ratio`, new Float32Array([1, 1]), [B, 1]);
  }
  // VAE: z = latents / scaling_factor
  const z = normal('vae_latents', 4 * 64 * 64, 1);
  for (let i = 0; i < z.length; i++) z[i] /= 0.18215;
  put('vae_z', z, [1, 4, 64, 64]);
  put('vae_z32', z.slice(0, 4 * 32 * 32), [1, 4, 32, 32]); // for the RSS check

  mkdirSync(dir, { recursive: true });
  const spec: Record<string, { dtype: string; shape: number[] }> = {};
  for (const [name, data] of Object.entries(inputs)) {
    writeFileSync(join(dir, `${name}.bin`), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    spec[name] = { dtype: data instanceof Int32Array ? 'int32' : 'float32', shape: shapes[name] };
  }
  writeFileSync(join(dir, 'inputs.json'), JSON.stringify(spec, null, 2));
  return { inputs, shapes };
}

function readInputs(dir: string): Inputs {
  const spec = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')) as Record<string, { dtype: string }>;
  const out: Inputs = {};
  for (const [name, s] of Object.entries(spec)) {
    const b = readFileSync(join(dir, `${name}.bin`));
    const copy = new Uint8Array(b).buffer;
    out[name] = s.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
  }
  return out;
}

function ditArgs(inputs: Inputs, s: 32 | 64, additional: boolean) {
  const c = `dit${s}`;
  return {
    latents: inputs[`${c}_latents`] as Float32Array,
    latentShape: [2, 4, s, s] as [number, number, number, number],
    timesteps: inputs.dit_timesteps as Float32Array,
    text: inputs.dit_text as Float32Array,
    textShape: [2, TEXT_LEN, 4096] as [number, number, number],
    textMask: inputs.dit_text_mask as Float32Array,
    ...(additional ? { resolution: inputs[`${c}_resolution`] as Float32Array, aspectRatio: inputs[`${c}_aspect_ratio`] as Float32Array } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timed<T>(fn: () => Promise<T>, runs: number): Promise<{ out: T; times: number[] }> {
  await fn(); // warm-up
  const times: number[] = [];
  let out: T | undefined;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await fn();
    times.push(performance.now() - t0);
  }
  return { out: out as T, times };
}

function pythonEnv(): NodeJS.ProcessEnv {
  const extra = ['/work/pydeps', join(BENCH, '.pydeps'), join(BENCH, '.diffusers')].filter(existsSync);
  const pp = [...extra, ...(process.env.PYTHONPATH ? [process.env.PYTHONPATH] : [])].join(':');
  return { ...process.env, PYTHONPATH: pp, TOKENIZERS_PARALLELISM: 'false' };
}

function weightBytes(folder: string): number {
  return readdirSync(folder).filter((f) => f.endsWith('.safetensors')).reduce((a, f) => a + statSync(join(folder, f)).size, 0);
}

function sh(cmd: string): string {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

interface Compare {
  maxAbs: number;
  maxRef: number;
}

function compare(ours: Float32Array, ref: Float32Array): Compare {
  if (ours.length !== ref.length) throw new Error(`output sizes differ: ${ours.length} vs ${ref.length}`);
  let maxAbs = 0, maxRef = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? NaN : d;
    if (Math.abs(ref[i]) > maxRef) maxRef = Math.abs(ref[i]);
    if (Number.isNaN(maxAbs)) break;
  }
  return { maxAbs, maxRef };
}

function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

const addonPath = join(ROOT, 'build', 'Release', 'pixart.node');

// ---------------------------------------------------------------------------------------------
// peak RSS child (ours)
// ---------------------------------------------------------------------------------------------

async function rssChild(component: string, folder: string, threads: number): Promise<void> {
  const { Engine } = await import('../lib/engine/Engine.js');
  Engine.shared({ threads });
  const inputs = readInputs(join(BENCH, 'models', 'inputs'));
  const baseline = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  let forward: () => Promise<unknown> = async () => {};
  let dispose = () => {};
  if (component === 'transformer') {
    const { PixArtTransformer2DModel } = await import('../lib/models/PixArtTransformer2DModel.js');
    const m = await PixArtTransformer2DModel.fromPretrained(folder, { threads });
    forward = () => m.forward(ditArgs(inputs, 32, m.config.useAdditionalConditions));
    dispose = () => m.dispose();
  } else if (component === 'text_encoder') {
    const { T5EncoderModel } = await import('../lib/models/T5EncoderModel.js');
    const m = await T5EncoderModel.fromPretrained(folder, { threads });
    forward = () => m.encode(inputs.t5_ids as Int32Array, inputs.t5_mask as Int32Array, 2, TEXT_LEN);
    dispose = () => m.dispose();
  } else if (component === 'vae') {
    const { AutoencoderKL } = await import('../lib/models/AutoencoderKL.js');
    const m = await AutoencoderKL.fromPretrained(folder, { threads });
    forward = () => m.decode({ data: inputs.vae_z32 as Float32Array, shape: [1, 4, 32, 32] });
    dispose = () => m.dispose();
  }
  const loadMs = performance.now() - t0;
  const loadRss = process.resourceUsage().maxRSS * 1024;
  await forward();
  const forwardRss = process.resourceUsage().maxRSS * 1024;
  dispose();
  process.stdout.write(JSON.stringify({ baseline_rss: baseline, load_rss: loadRss, forward_rss: forwardRss, load_ms: loadMs }) + '\n');
  process.exit(0);
}

function lastJsonLine(text: string): any {
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{'));
  if (lines.length === 0) throw new Error(`no JSON in child output:\n${text.slice(-2000)}`);
  return JSON.parse(lines[lines.length - 1]);
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

interface Row {
  case: string;
  what: string;
  ours?: number;
  torch?: number;
  oursTimes?: number[];
  torchTimes?: number[];
  diff?: Compare;
  oursLoadMs?: number;
  torchLoadMs?: number;
  /** 1-minute load average just before each side ran */
  loadTorch?: number;
  loadOurs?: number;
}

interface RssRow {
  component: string;
  weights: number;
  ours?: { baseline: number; load: number; forward: number; loadMs: number };
  torch?: { baseline: number; load: number; forward: number };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.rssChild) return rssChild(args.rssChild.component, args.rssChild.folder, args.threads);

  const startLoad = loadavg();
  const model = args.modelDir;
  await ensureModel(model);
  const inputsDir = join(BENCH, 'models', 'inputs');
  const torchOut = join(BENCH, 'models', 'torch-out');
  const { inputs } = makeInputs(inputsDir);
  const cases = ['dit32', 'dit64', 't5', 'vae'].filter((c) => args.only.has(c));
  const torchArgs = ['bench/torch_reference.py', '--model', relative(ROOT, model), '--inputs', relative(ROOT, inputsDir), '--out', relative(ROOT, torchOut), '--runs', String(args.runs), '--threads', String(args.threads)];
  const torchCmd = `${args.python} ${torchArgs.join(' ')} --only <case>`;
  const haveAddon = existsSync(addonPath);
  if (!haveAddon && !args.skipOurs) console.log(`note: ${relative(ROOT, addonPath)} is not built yet; timing the torch side only`);

  // Per case: the torch side (a child process), then ours, back to back, so that both see
  // about the same machine (it is shared); the two never run at the same time.
  const rows: Row[] = [];
  const what: Record<string, string> = {
    dit32: 'DiT forward, B=2 (CFG), latents 32x32 (256 px), 28 layers',
    dit64: 'DiT forward, B=2 (CFG), latents 64x64 (512 px), 28 layers',
    t5: `T5 encoder XXL widths, ${T5_LAYERS}/24 layers, B=2, 120 tokens`,
    vae: 'VAE decode, latents 64x64 -> 512x512, B=1',
  };
  let torchVersions: Record<string, unknown> = {};
  const oursModels: { dit?: import('../lib/models/PixArtTransformer2DModel.js').PixArtTransformer2DModel } = {};
  for (const c of cases) {
    const r: Row = { case: c, what: what[c] };
    rows.push(r);
    // torch
    const json = join(torchOut, `${c}.json`);
    if (!args.skipTorch) {
      if (!(args.reuseTorch && existsSync(json))) {
        r.loadTorch = loadavg()[0];
        const cmd = [...torchArgs, '--only', c];
        console.log(`torch: ${args.python} ${cmd.join(' ')}`);
        const p = spawnSync(args.python, cmd, { cwd: ROOT, env: pythonEnv(), stdio: 'inherit' });
        if (p.status !== 0) throw new Error(`torch_reference.py failed (status ${p.status})`);
      }
      const t = JSON.parse(readFileSync(json, 'utf8'));
      r.torch = t.median_ms;
      r.torchTimes = t.times_ms;
      r.torchLoadMs = t.load_ms;
      torchVersions = t.versions ?? torchVersions;
    }
    // ours
    if (!haveAddon || args.skipOurs) continue;
    r.loadOurs = loadavg()[0];
    const threads = args.threads;
    let result: { out: Float32Array; times: number[] };
    if (c === 'dit32' || c === 'dit64') {
      const { PixArtTransformer2DModel } = await import('../lib/models/PixArtTransformer2DModel.js');
      const t0 = performance.now();
      oursModels.dit ??= await PixArtTransformer2DModel.fromPretrained(join(model, 'transformer'), { threads });
      r.oursLoadMs = performance.now() - t0;
      const dit = oursModels.dit;
      const a = ditArgs(inputs, c === 'dit32' ? 32 : 64, dit.config.useAdditionalConditions);
      const { out, times } = await timed(() => dit.forward(a), args.runs);
      result = { out: out.data, times };
      if (!cases.slice(cases.indexOf(c) + 1).some((x) => x.startsWith('dit'))) {
        dit.dispose();
        oursModels.dit = undefined;
      }
    } else if (c === 't5') {
      const { T5EncoderModel } = await import('../lib/models/T5EncoderModel.js');
      const t0 = performance.now();
      const t5 = await T5EncoderModel.fromPretrained(join(model, 'text_encoder'), { threads });
      r.oursLoadMs = performance.now() - t0;
      const { out, times } = await timed(() => t5.encode(inputs.t5_ids as Int32Array, inputs.t5_mask as Int32Array, 2, TEXT_LEN), args.runs);
      result = { out: out.data, times };
      t5.dispose();
    } else {
      const { AutoencoderKL } = await import('../lib/models/AutoencoderKL.js');
      const t0 = performance.now();
      const vae = await AutoencoderKL.fromPretrained(join(model, 'vae'), { threads });
      r.oursLoadMs = performance.now() - t0;
      const { out, times } = await timed(() => vae.decode({ data: inputs.vae_z as Float32Array, shape: [1, 4, 64, 64] }), args.runs);
      result = { out: out.data, times };
      vae.dispose();
    }
    r.ours = median(result.times);
    r.oursTimes = result.times;
    const ref = join(torchOut, `${c}.bin`);
    if (existsSync(ref) && r.torch !== undefined) r.diff = compare(result.out, readF32(ref));
    console.log(`ours  ${c}: median ${r.ours.toFixed(0)} ms over ${result.times.length} runs [${result.times.map((x) => x.toFixed(0)).join(', ')}]` +
      (r.diff ? `; max |ours - torch| ${r.diff.maxAbs.toExponential(2)} (max |torch| ${r.diff.maxRef.toFixed(3)})` : ''));
  }

  // --- (d) peak RSS of loading, fresh processes ---
  const rss: RssRow[] = [];
  if (args.only.has('rss')) {
    for (const component of ['transformer', 'text_encoder', 'vae']) {
      const folder = join(model, component);
      const r: RssRow = { component, weights: weightBytes(folder) };
      if (haveAddon && !args.skipOurs) {
        const c = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--threads', String(args.threads), '--rss-child', component, folder], {
          cwd: ROOT,
          encoding: 'utf8',
          maxBuffer: 1 << 24,
        });
        if (c.status !== 0) console.log(`ours rss ${component}: child failed (${c.status})\n${c.stderr}`);
        else {
          const j = lastJsonLine(c.stdout);
          r.ours = { baseline: j.baseline_rss, load: j.load_rss, forward: j.forward_rss, loadMs: j.load_ms };
        }
      }
      if (!args.skipTorch) {
        const c = spawnSync(args.python, ['bench/torch_reference.py', '--model', relative(ROOT, model), '--inputs', relative(ROOT, inputsDir), '--rss', component, '--threads', String(args.threads)], {
          cwd: ROOT,
          env: pythonEnv(),
          encoding: 'utf8',
          maxBuffer: 1 << 24,
        });
        if (c.status !== 0) console.log(`torch rss ${component}: child failed (${c.status})\n${c.stderr.slice(-3000)}`);
        else {
          const j = lastJsonLine(c.stdout);
          r.torch = { baseline: j.baseline_rss, load: j.load_rss, forward: j.forward_rss };
        }
      }
      const gb = (x: number) => (x / 1e9).toFixed(2);
      const show = (x?: { baseline: number; load: number; forward: number }) => (x ? `baseline ${gb(x.baseline)}, loaded ${gb(x.load)}, after a forward ${gb(x.forward)}` : '-');
      console.log(`rss ${component}: weights ${gb(r.weights)} GB; ours ${show(r.ours)}; torch ${show(r.torch)}`);
      rss.push(r);
    }
  }

  // --- report ---
  const report = renderReport(args, rows, rss, torchVersions, torchCmd, startLoad, loadavg());
  console.log('\n' + report);
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync(join(BENCH, 'results'), { recursive: true });
  let out = join(BENCH, 'results', `cpu-${date}.md`);
  for (let k = 2; existsSync(out); k++) out = join(BENCH, 'results', `cpu-${date}-${k}.md`);
  writeFileSync(out, report);
  console.log(`written to ${relative(ROOT, out)}`);
}

function renderReport(args: Args, rows: Row[], rss: RssRow[], torchVersions: any, torchCmd: string, load0: number[], load1: number[]): string {
  const f0 = (x?: number) => (x === undefined ? '—' : x.toFixed(0));
  const gb = (x?: number) => (x === undefined || x === null ? '—' : (x / 1e9).toFixed(2));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const commit = sh('git rev-parse --short HEAD');
  const dirty = sh('git status --porcelain -- native lib CMakeLists.txt binding.gyp') ? ' (+ uncommitted changes in native/ or lib/)' : '';
  const L: string[] = [];
  L.push(`# CPU benchmark: pixart-node vs PyTorch — ${new Date().toISOString().replace('T', ' ').slice(0, 16)} UTC`, '');
  L.push('## Machine and versions', '');
  L.push(`- CPU: ${sh("lscpu | sed -n 's/^Model name: *//p'")}, ${sh("lscpu | sed -n 's/^CPU(s): *//p'")} cores (lscpu), flags: ${sh("grep -m1 -o -w -E 'avx512f|avx2|fma|f16c' /proc/cpuinfo | sort -u | tr '\\n' ' '")}`);
  L.push(`- memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB (free at end ${(freemem() / 2 ** 30).toFixed(1)} GiB)`);
  L.push(`- load average (1/5/15 min) at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}; the machine is shared, so the 1-minute load just before each side ran is in the table (each side itself adds up to ~2)`);
  L.push(`- pixart-node ${pkg.version} at ${commit}${dirty}; Node ${process.version}; OpenBLAS ${sh("dpkg-query -W -f='${Version}' libopenblas0-pthread")}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}`);
  const v = torchVersions ?? {};
  L.push(`- torch ${v.torch ?? '—'} (CPU capability ${v.cpu_capability ?? '—'}), diffusers ${v.diffusers ?? '—'}, transformers ${v.transformers ?? '—'}, numpy ${v.numpy ?? '—'}, Python ${v.python ?? '—'}`);
  L.push(`- threads: ${args.threads} on both sides (ours: \`{ threads: ${args.threads} }\`; torch: \`torch.set_num_threads(${args.threads})\`); fp32; per case torch then ours, back to back; one warm-up run, then the median of ${args.runs}`);
  L.push('');
  L.push('## Commands', '');
  L.push('```');
  L.push('npm run build');
  L.push(`npx tsx bench/cpu_vs_torch.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
  L.push(`# which runs the torch side, per case, as:\nPYTHONPATH=/work/pydeps:bench/.pydeps:bench/.diffusers ${torchCmd}`);
  L.push('```', '');
  L.push(`Weights: random, full-size PixArt-XL-2-1024-MS shapes (T5: ${T5_LAYERS} of 24 layers), written by \`lib/tools/randomModel.ts\` to \`${relative(ROOT, args.modelDir)}\`; both sides load the same folder and read the same input files. max abs diff: over all output elements, ours vs torch.`, '');
  L.push('## Latency (ms)', '');
  L.push('| case | ours | torch | ours/torch | ≤ 1.25 | max abs diff | max abs torch | ours runs | torch runs | load avg before ours / torch |');
  L.push('| --- | ---: | ---: | ---: | :---: | ---: | ---: | --- | --- | --- |');
  for (const r of rows) {
    const ratio = r.ours !== undefined && r.torch !== undefined ? r.ours / r.torch : undefined;
    L.push(
      `| ${r.what} | ${f0(r.ours)} | ${f0(r.torch)} | ${ratio === undefined ? '—' : ratio.toFixed(2)} | ${ratio === undefined ? '—' : ratio <= 1.25 ? 'yes' : 'no'} | ` +
        `${r.diff ? r.diff.maxAbs.toExponential(2) : '—'} | ${r.diff ? r.diff.maxRef.toFixed(3) : '—'} | ${r.oursTimes?.map((x) => x.toFixed(0)).join(', ') ?? '—'} | ` +
        `${r.torchTimes?.map((x: number) => x.toFixed(0)).join(', ') ?? '—'} | ${r.loadOurs?.toFixed(2) ?? '—'} / ${r.loadTorch?.toFixed(2) ?? '(reused)'} |`,
    );
  }
  L.push('');
  const loads = rows.filter((r) => r.oursLoadMs !== undefined && r.case !== 'dit64');
  if (loads.length) {
    L.push('Load time (fromPretrained / from_pretrained, warm page cache, ms): ' +
      loads.map((r) => `${r.case.startsWith('dit') ? 'transformer' : r.case} ours ${f0(r.oursLoadMs)}, torch ${f0(r.torchLoadMs)}`).join('; '), '');
  }
  if (rss.length) {
    L.push('## Peak RSS, one component in a fresh process (GB)', '');
    L.push('getrusage maxrss: before loading (baseline: the runtime plus the addon, or torch/diffusers/transformers imports), right after fromPretrained / from_pretrained, and after one forward on a small input (DiT: B=2 32x32; T5: B=2 x 120 tokens; VAE: 32x32 latents), which touches every weight. Pages of a memory-mapped weight file count in RSS once touched, so weights used in place show as ≈ 1× the weights after the forward, a second copy as ≈ 2×; the rest is activations and scratch. torch loads with accelerate installed (low_cpu_mem_usage, safetensors mmap).', '');
    L.push('| component | weights on disk | ours baseline | ours loaded | ours after forward | (after − baseline) / weights | torch baseline | torch loaded | torch after forward | (after − baseline) / weights |');
    L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rss) {
      const ratio = (x?: { baseline: number; forward: number }) => (x && x.forward ? ((x.forward - x.baseline) / r.weights).toFixed(2) : '—');
      L.push(`| ${r.component}${r.component === 'text_encoder' ? ` (${T5_LAYERS}/24 layers)` : ''} | ${gb(r.weights)} | ${gb(r.ours?.baseline)} | ${gb(r.ours?.load)} | ${gb(r.ours?.forward)} | ${ratio(r.ours)} | ${gb(r.torch?.baseline)} | ${gb(r.torch?.load)} | ${gb(r.torch?.forward)} | ${ratio(r.torch)} |`);
    }
    L.push('');
  }
  return L.join('\n') + '\n';
}

await main();
