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
import { spawn, spawnSync, execSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
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
// the two sides
// ---------------------------------------------------------------------------------------------

/** bench/torch_reference.py --serve: one command a line, one JSON line back. */
class TorchServer {
  private readonly proc: ChildProcess;
  private readonly pending: ((line: string) => void)[] = [];
  private exited = false;

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      if (!line.startsWith('{')) return; // anything else a library printed
      this.pending.shift()?.(line);
    });
    proc.on('exit', (code) => {
      this.exited = true;
      for (const p of this.pending.splice(0)) p(JSON.stringify({ error: `torch_reference.py exited (${code})` }));
    });
  }

  static start(python: string, args: string[]): TorchServer {
    console.log(`torch: ${python} ${args.join(' ')}`);
    return new TorchServer(spawn(python, args, { cwd: ROOT, env: pythonEnv(), stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  async cmd(line: string): Promise<any> {
    if (this.exited) throw new Error('torch_reference.py is not running');
    const reply = new Promise<string>((resolve) => this.pending.push(resolve));
    this.proc.stdin!.write(line + '\n');
    const j = JSON.parse(await reply);
    if (j.error) throw new Error(`torch: ${line}: ${j.error}`);
    return j;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    await this.cmd('quit');
  }
}

type Model = { dispose(): void };

/** Our side, in this process: one model loaded at a time (dit32/dit64 share it). */
class Ours {
  private loaded?: { component: string; model: Model; run: (c: string) => Promise<{ data: Float32Array }> };
  lastOutput?: Float32Array;

  constructor(private readonly modelDir: string, private readonly threads: number, private readonly inputs: Inputs) {}

  static component(c: string): string {
    return c.startsWith('dit') ? 'transformer' : c === 't5' ? 'text_encoder' : 'vae';
  }

  /** Returns the load time in ms (0 when already loaded). */
  async load(c: string): Promise<number> {
    const component = Ours.component(c);
    if (this.loaded?.component === component) return 0;
    this.unload();
    const folder = join(this.modelDir, component);
    const threads = this.threads, inputs = this.inputs;
    const t0 = performance.now();
    if (component === 'transformer') {
      const { PixArtTransformer2DModel } = await import('../lib/models/PixArtTransformer2DModel.js');
      const m = await PixArtTransformer2DModel.fromPretrained(folder, { threads });
      this.loaded = { component, model: m, run: (x) => m.forward(ditArgs(inputs, x === 'dit32' ? 32 : 64, m.config.useAdditionalConditions)) };
    } else if (component === 'text_encoder') {
      const { T5EncoderModel } = await import('../lib/models/T5EncoderModel.js');
      const m = await T5EncoderModel.fromPretrained(folder, { threads });
      this.loaded = { component, model: m, run: () => m.encode(inputs.t5_ids as Int32Array, inputs.t5_mask as Int32Array, 2, TEXT_LEN) };
    } else {
      const { AutoencoderKL } = await import('../lib/models/AutoencoderKL.js');
      const m = await AutoencoderKL.fromPretrained(folder, { threads });
      this.loaded = { component, model: m, run: () => m.decode({ data: inputs.vae_z as Float32Array, shape: [1, 4, 64, 64] }) };
    }
    return performance.now() - t0;
  }

  async run(c: string): Promise<{ ms: number; cpuMs: number }> {
    await this.load(c);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const out = await this.loaded!.run(c);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    this.lastOutput = out.data;
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
  }

  unload(): void {
    this.loaded?.model.dispose();
    this.loaded = undefined;
  }
}

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
  /** process CPU time of each timed run (all threads), ms */
  oursCpu?: number[];
  torchCpu?: number[];
  diff?: Compare;
  oursLoadMs?: number;
  torchLoadMs?: number;
  /** 1-minute load average before the case */
  loadAvg?: number;
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
  const torchCmd = `${args.python} ${torchArgs.join(' ')} --serve`;
  const haveAddon = existsSync(addonPath);
  if (!haveAddon && !args.skipOurs) console.log(`note: ${relative(ROOT, addonPath)} is not built yet; timing the torch side only`);

  // Per case: both sides load, one warm-up run each, then `runs` runs alternating torch / ours
  // (torch first on even runs, ours first on odd ones), so that both see about the same machine
  // (it is shared). The two never run at the same time. torch runs in a server child process.
  const rows: Row[] = [];
  const what: Record<string, string> = {
    dit32: 'DiT forward, B=2 (CFG), latents 32x32 (256 px), 28 layers',
    dit64: 'DiT forward, B=2 (CFG), latents 64x64 (512 px), 28 layers',
    t5: `T5 encoder XXL widths, ${T5_LAYERS}/24 layers, B=2, 120 tokens`,
    vae: 'VAE decode, latents 64x64 -> 512x512, B=1',
  };
  let torchVersions: Record<string, unknown> = {};
  const needTorch = !args.skipTorch && cases.some((c) => !(args.reuseTorch && existsSync(join(torchOut, `${c}.json`))));
  const torch = needTorch ? TorchServer.start(args.python, [...torchArgs, '--serve']) : undefined;
  if (torch) torchVersions = await torch.cmd('versions');
  const ours = haveAddon && !args.skipOurs ? new Ours(model, args.threads, inputs) : undefined;
  mkdirSync(torchOut, { recursive: true });
  for (const c of cases) {
    const r: Row = { case: c, what: what[c], torchTimes: [], torchCpu: [], oursTimes: [], oursCpu: [] };
    rows.push(r);
    const json = join(torchOut, `${c}.json`);
    const useTorch = !args.skipTorch && !(args.reuseTorch && existsSync(json));
    if (!args.skipTorch && !useTorch) {
      const t = JSON.parse(readFileSync(json, 'utf8'));
      Object.assign(r, { torchTimes: t.times_ms, torchCpu: t.cpu_ms, torchLoadMs: t.load_ms });
      torchVersions = t.versions ?? torchVersions;
    }
    r.loadAvg = loadavg()[0];
    if (useTorch) r.torchLoadMs = (await torch!.cmd(`load ${c}`)).load_ms;
    if (ours) r.oursLoadMs = await ours.load(c);
    const step = async (side: 'torch' | 'ours', record: boolean) => {
      if (side === 'torch' && useTorch) {
        const t = await torch!.cmd(`run ${c}`);
        if (record) r.torchTimes!.push(t.ms), r.torchCpu!.push(t.cpu_ms);
      } else if (side === 'ours' && ours) {
        const t = await ours.run(c);
        if (record) r.oursTimes!.push(t.ms), r.oursCpu!.push(t.cpuMs);
      }
    };
    process.stdout.write(`${c}: warm-up`);
    await step('torch', false);
    await step('ours', false);
    for (let i = 0; i < args.runs; i++) {
      process.stdout.write(` ${i + 1}`);
      for (const side of i % 2 === 0 ? (['torch', 'ours'] as const) : (['ours', 'torch'] as const)) await step(side, true);
    }
    process.stdout.write('\n');
    if (useTorch) {
      await torch!.cmd(`save ${c}`);
      writeFileSync(json, JSON.stringify({ times_ms: r.torchTimes, cpu_ms: r.torchCpu, median_ms: median(r.torchTimes!), load_ms: r.torchLoadMs, versions: torchVersions }, null, 2));
    }
    if (r.torchTimes!.length) r.torch = median(r.torchTimes!);
    if (r.oursTimes!.length) r.ours = median(r.oursTimes!);
    const ref = join(torchOut, `${c}.bin`);
    if (ours && existsSync(ref) && r.torch !== undefined) r.diff = compare(ours.lastOutput!, readF32(ref));
    const fmt = (xs?: number[]) => `[${(xs ?? []).map((x) => x.toFixed(0)).join(', ')}]`;
    console.log(`  torch ${c}: median ${r.torch?.toFixed(0) ?? '-'} ms ${fmt(r.torchTimes)}; ours median ${r.ours?.toFixed(0) ?? '-'} ms ${fmt(r.oursTimes)}` +
      (r.diff ? `; max |ours - torch| ${r.diff.maxAbs.toExponential(2)} (max |torch| ${r.diff.maxRef.toFixed(3)})` : ''));
    if (ours && !cases.slice(cases.indexOf(c) + 1).some((x) => Ours.component(x) === Ours.component(c))) ours.unload();
  }
  if (torch) await torch.close();

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
  L.push(`- load average (1/5/15 min) at start ${load0.map((x) => x.toFixed(2)).join(' ')}, at end ${load1.map((x) => x.toFixed(2)).join(' ')}; the machine is shared (see the load column)`);
  L.push(`- pixart-node ${pkg.version} at ${commit}${dirty}; Node ${process.version}; OpenBLAS ${sh("dpkg-query -W -f='${Version}' libopenblas0-pthread")}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}`);
  const v = torchVersions ?? {};
  L.push(`- torch ${v.torch ?? '—'} (CPU capability ${v.cpu_capability ?? '—'}), diffusers ${v.diffusers ?? '—'}, transformers ${v.transformers ?? '—'}, numpy ${v.numpy ?? '—'}, Python ${v.python ?? '—'}`);
  L.push(`- threads: ${args.threads} on both sides (ours: \`{ threads: ${args.threads} }\`; torch: \`torch.set_num_threads(${args.threads})\`); fp32; per case both load, one warm-up run each, then ${args.runs} runs alternating torch / ours; medians`);
  L.push('');
  L.push('## Commands', '');
  L.push('```');
  L.push('npm run build');
  L.push(`npx tsx bench/cpu_vs_torch.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
  L.push(`# which runs the torch side as a server child process:\nPYTHONPATH=/work/pydeps:bench/.pydeps:bench/.diffusers ${torchCmd}`);
  L.push('```', '');
  L.push(`Weights: random, full-size PixArt-XL-2-1024-MS shapes (T5: ${T5_LAYERS} of 24 layers), written by \`lib/tools/randomModel.ts\` to \`${relative(ROOT, args.modelDir)}\`; both sides load the same folder and read the same input files. max abs diff: over all output elements, ours vs torch.`, '');
  L.push('## Latency (ms)', '');
  L.push('| case | ours ms | torch ms | ours/torch | ≤ 1.25 | ours CPU s / torch CPU s | max abs diff | max abs torch | ours runs (ms) | torch runs (ms) | load avg |');
  L.push('| --- | ---: | ---: | ---: | :---: | ---: | ---: | ---: | --- | --- | ---: |');
  for (const r of rows) {
    const ratio = r.ours !== undefined && r.torch !== undefined ? r.ours / r.torch : undefined;
    const cpu = (xs?: number[]) => (xs && xs.length ? (median(xs) / 1000).toFixed(1) : '—');
    const list = (xs?: number[]) => (xs && xs.length ? xs.map((x) => x.toFixed(0)).join(', ') : '—');
    L.push(
      `| ${r.what} | ${f0(r.ours)} | ${f0(r.torch)} | ${ratio === undefined ? '—' : ratio.toFixed(2)} | ${ratio === undefined ? '—' : ratio <= 1.25 ? 'yes' : 'no'} | ` +
        `${cpu(r.oursCpu)} / ${cpu(r.torchCpu)} | ${r.diff ? r.diff.maxAbs.toExponential(2) : '—'} | ${r.diff ? r.diff.maxRef.toFixed(3) : '—'} | ` +
        `${list(r.oursTimes)} | ${list(r.torchTimes)} | ${r.loadAvg?.toFixed(2) ?? '—'} |`,
    );
  }
  L.push('');
  L.push(`ours/torch is the ratio of the medians. CPU s: median process CPU time (user + system, all threads) of one run; well under ${args.threads} × the wall time means the process waited (for the cores, or in serial parts). load avg: the 1-minute load average before the case (the benchmark itself adds up to 2).`);
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
