// The product on a GPU: the TypeScript pipeline through N-API on the CUDA backend, as a user
// runs it. The GPU machine has no node and no npm registry, so bench/gpu/pack_node.sh bundles
// this file with lib/ (esbuild) next to the addon and a node binary; bench/gpu/run.sh step 5
// runs it. Writes one JSON object per line.
//
//   node pipeline_gpu.mjs --pipeline <diffusers folder> --tiny <test/fixtures/pixart-tiny> [--sections a,b]
//
// Sections:
//   tiny    the fixture pipeline cases on 'cuda' in float32 (TF32 off) against diffusers'
//           reference (the fixtures' bar), and in float16 / image bytes against our CPU path
//   async   full size: the event loop while a 1024x1024 generation runs, progress every step,
//           cancellation mid-loop (and the engine usable after), two generations at once on one
//           GPU give the images they give one after the other, out-of-memory is a typed error
//   e2e     full size, 1024x1024, 20 steps, CFG: batch 1 and 4, T5 int8 and int4, per component
//           (encodePrompt, the denoising loop, VAE decode + RGB) and end to end, device memory
//   engineloop  the scheduler steps on the engine (the default loop) against the host loop, and
//           with the step recorded as a CUDA graph (recordSteps): the same latent bits, and the
//           loop times, at SIZE and at 512 / 256
//   lowmem  the low-memory workflow: T5 loaded, prompts encoded, T5 freed; then DiT + VAE
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../lib/engine/Engine.js';
import { readSafetensorsFile } from '../../lib/io/safetensorsFile.js';
import { PixArtAlphaPipeline } from '../../lib/pipeline/PixArtAlphaPipeline.js';
import type { GenerateOptions, HostTensor } from '../../lib/pipeline/types.js';

const arg = (name: string, def?: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (def === undefined) throw new Error(`--${name} is required`);
  return def;
};
const pipelineDir = arg('pipeline', '');
const tinyDir = arg('tiny', '');
const sections = new Set(arg('sections', 'tiny,async,e2e,engineloop,lowmem').split(','));
// A dry run of the full-size sections on any machine: --device cpu --size 64 --steps 2 with the tiny model as --pipeline.
const device = arg('device', 'cuda') as 'cuda' | 'cpu';
const SIZE = Number(arg('size', '1024'));
const STEPS = Number(arg('steps', '20'));
const log = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b), m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const GB = 1e9;
const PROMPT = 'a small cactus with a happy face in the Sahara desert';

/** Device memory in use on the whole GPU (every process), polled while work runs on the engine threads. */
class DevicePeak {
  #timer: NodeJS.Timeout | undefined;
  peak = 0;
  constructor(private engine: Engine) {}
  used(): number {
    const m = this.engine.memoryStats();
    if (!m && this.engine.device !== 'cpu') throw new Error('memoryStats() is null on a CUDA engine');
    return m ? m.deviceTotalBytes - m.deviceFreeBytes : 0;
  }
  start(): void {
    this.peak = this.used();
    this.#timer = setInterval(() => { this.peak = Math.max(this.peak, this.used()); }, 2);
  }
  stop(): number {
    clearInterval(this.#timer);
    this.peak = Math.max(this.peak, this.used());
    return this.peak;
  }
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { maxAbs: number; maxRef: number } {
  let maxAbs = 0, maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= maxAbs)) maxAbs = d;  // NaN propagates
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  return { maxAbs, maxRef };
}

// ------------------------------------------------------------------ tiny fixtures
async function sectionTiny(): Promise<void> {
  const cases = JSON.parse(readFileSync(join(tinyDir, 'reference', 'cases.json'), 'utf8')).cases as any[];
  const files = new Map<string, Map<string, HostTensor>>();
  const ref = (r: { file: string; key: string }): Float32Array => {
    let f = files.get(r.file);
    if (!f) files.set(r.file, (f = readSafetensorsFile(join(tinyDir, 'reference', r.file)) as Map<string, HostTensor>));
    return f.get(r.key)!.data as Float32Array;
  };
  const ids = ['pipeline/n5_g4.5_latent', 'pipeline/n20_g4.5_np', 'pipeline/n4_g1.0_np', 'pipeline/n5_g4.5_np_generator42',
    'pipeline/binning_64x96_n2_g4.5_np'];
  const optionsFor = (c: any): GenerateOptions => {
    const i = c.inputs;
    const o: GenerateOptions = {
      prompt: i.prompt, negativePrompt: i.negative_prompt, numInferenceSteps: i.num_inference_steps,
      guidanceScale: i.guidance_scale, height: i.height, width: i.width, useResolutionBinning: i.use_resolution_binning,
      outputType: i.output_type === 'np' ? 'float' : 'latent', numImagesPerPrompt: i.num_images_per_prompt,
      cleanCaption: i.clean_caption, maxSequenceLength: i.max_sequence_length, eta: i.eta,
    };
    if (i.latents) o.latents = { data: ref(i.latents), shape: i.latents.shape };
    if (i.generator_seed !== undefined) o.seed = i.generator_seed;
    return o;
  };
  const cpu = Engine.create({ device: 'cpu' });
  const pipes: Record<string, PixArtAlphaPipeline> = {
    cpu: await PixArtAlphaPipeline.fromPretrained(tinyDir, { engine: cpu }),
    cuda_f32: await PixArtAlphaPipeline.fromPretrained(tinyDir, { device: 'cuda', dtype: 'float32', textEncoderDtype: 'float32' }),
    cuda_f16: await PixArtAlphaPipeline.fromPretrained(tinyDir, { device: 'cuda', dtype: 'float16' }),
    cuda_bf16: await PixArtAlphaPipeline.fromPretrained(tinyDir, { device: 'cuda', dtype: 'bfloat16' }),
  };
  for (const id of ids) {
    const c = cases.find((x) => x.id === id);
    const o = optionsFor(c);
    const reference = ref(c.outputs.images);
    const cpuOut = (await pipes.cpu.generate(o)).tensor!.data;
    for (const [name, p] of Object.entries(pipes)) {
      if (name === 'cpu') continue;
      const got = (await p.generate(o)).tensor!.data;
      const vsRef = maxDiff(got, reference), vsCpu = maxDiff(got, cpuOut);
      // The fixtures' bar: |a-b| <= 1e-4 + 1e-4*max|ref| (latents judged against max|ref|); 5e-4 for the binning case.
      const tol = id.includes('binning') ? 5e-4 : 1e-4;
      const bar = tol + tol * vsRef.maxRef;
      log({
        section: 'tiny', case: id, engine: name, max_abs_vs_diffusers: vsRef.maxAbs, max_abs_vs_cpu: vsCpu.maxAbs,
        max_ref: vsRef.maxRef, rel_to_max_vs_cpu: vsCpu.maxAbs / Math.max(vsCpu.maxRef, 1e-30),
        fixture_bar: bar, meets_fixture_bar: vsRef.maxAbs <= bar,
      });
    }
  }
  // 8-bit RGB through each engine (generate's 'image' output) against the CPU path's bytes.
  const c = cases.find((x) => x.id === 'pipeline/n5_g4.5_np');
  const o = { ...optionsFor(c), outputType: 'image' as const };
  const cpuImg = (await pipes.cpu.generate(o)).images![0].data;
  for (const name of ['cuda_f32', 'cuda_f16', 'cuda_bf16']) {
    const img = (await pipes[name].generate(o)).images![0].data;
    let differ = 0, worst = 0;
    for (let i = 0; i < img.length; i++) {
      const d = Math.abs(img[i] - cpuImg[i]);
      if (d) differ++;
      worst = Math.max(worst, d);
    }
    log({ section: 'tiny', case: 'rgb8 n5_g4.5', engine: name, bytes: img.length, bytes_differing_from_cpu: differ, max_byte_diff: worst });
  }
  for (const p of Object.values(pipes)) p.dispose();
  cpu.dispose();
  Engine.shared({ device: 'cuda', dtype: 'float32' }).dispose();
}

// ------------------------------------------------------------------ full size helpers
// Loaded once per quantisation and shared by the sections (T5-XXL takes a while to load).
const loaded = new Map<string, PixArtAlphaPipeline>();
type Quant = 'int8' | 'int4' | 'int4-mixed';
const QUANTS = arg('quants', 'int8,int4,int4-mixed').split(',') as Quant[];
async function loadFull(quant: Quant): Promise<PixArtAlphaPipeline> {
  let pipe = loaded.get(quant);
  if (pipe && !pipe.transformer?.disposed) return pipe;
  const t0 = performance.now();
  pipe = await PixArtAlphaPipeline.fromPretrained(pipelineDir, { device, textEncoderQuantization: quant });
  log({ section: 'load', t5: quant, ms: round(performance.now() - t0) });
  loaded.set(quant, pipe);
  return pipe;
}
// The engines the pipelines use (Engine.shared keys), created before any weights so that the
// memory figures are taken above the CUDA context and the engines' own handles.
const mainEngine = (): Engine => Engine.shared({ device });
const textEngine = (): Engine => Engine.shared({ device, dtype: 'bfloat16' });
let baselineBytes: number | undefined;
/** Device memory in use with both engines created and nothing loaded (CUDA context, cuBLAS/cuDNN handles). */
async function baseline(): Promise<number> {
  if (baselineBytes === undefined) {
    await mainEngine().emptyCache();
    await textEngine().emptyCache();
    baselineBytes = new DevicePeak(mainEngine()).used();
    log({ section: 'memory', what: 'baseline: engines created, nothing loaded', device_used_gb: round(baselineBytes / GB, 3) });
  }
  return baselineBytes;
}

const full = (n: number, seed: number, extra: Partial<GenerateOptions> = {}): GenerateOptions => ({
  prompt: PROMPT, numInferenceSteps: STEPS, height: SIZE, width: SIZE, guidanceScale: 4.5, numImagesPerPrompt: n, seed,
  useResolutionBinning: SIZE === 1024 ? undefined : false,  // 1024x1024 is its own bin; a dry run stays at its small size
  ...extra,
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ------------------------------------------------------------------ async behaviour
async function sectionAsync(): Promise<void> {
  await baseline();
  const pipe = await loadFull('int8');
  const engine = pipe.transformer!.engine;
  await pipe.generate(full(1, 0));  // warm-up (cuDNN plans, attention tuner, pools)

  // The event loop while a generation runs: the largest gap between 5 ms timer ticks.
  let last = performance.now(), worstGap = 0, ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worstGap = Math.max(worstGap, now - last);
    last = now;
    ticks++;
  }, 5);
  const steps: number[] = [];
  const t0 = performance.now();
  const r1 = await pipe.generate(full(1, 1, { onStep: (s) => void steps.push(s.step) }));
  const ms = performance.now() - t0;
  clearInterval(timer);
  log({ section: 'async', what: `event loop during a ${SIZE}x${SIZE} generation`, generate_ms: round(ms), timer_ticks: ticks,
    worst_timer_gap_ms: round(worstGap), progress_calls: steps.length, progress_steps: steps.join(',') });

  // Cancellation mid-loop: abort at step 5; the promise rejects with the signal's reason.
  const ac = new AbortController();
  let abortedAt = 0;
  const reason = new Error('stop at step 5');
  const t1 = performance.now();
  const res = await pipe.generate(full(1, 2, {
    signal: ac.signal,
    onStep: (s) => { if (s.step === Math.min(5, STEPS - 2)) { abortedAt = performance.now(); ac.abort(reason); } },
  })).then(() => 'resolved', (e) => (e === reason ? 'rejected with the reason' : `rejected with ${String(e)}`));
  const rejectMs = performance.now() - abortedAt;
  log({ section: 'async', what: 'cancel at step 5', outcome: res, ms_from_abort_to_reject: round(rejectMs, 2),
    total_ms: round(performance.now() - t1), pending_after: engine.pending });

  // The engine after the abort: the same seed gives the same image as before.
  const again = await pipe.generate(full(1, 1));
  log({ section: 'async', what: 'generate after a cancel', same_bytes_as_before: sameBytes(again.images![0].data, r1.images![0].data) });

  // Two pipelines on one GPU at once (the same engines; the second has its own transformer and
  // shares the text encoder and VAE): results equal one-after-the-other runs.
  const pipe2 = await PixArtAlphaPipeline.fromPretrained(pipelineDir, {
    device, tokenizer: pipe.tokenizer, textEncoder: pipe.textEncoder, vae: pipe.vae,
  });
  const seqA = await pipe.generate(full(1, 3)), seqB = await pipe2.generate(full(1, 4));
  const t2 = performance.now();
  const [parA, parB] = await Promise.all([pipe.generate(full(1, 3)), pipe2.generate(full(1, 4))]);
  log({ section: 'async', what: 'two pipelines at once on one GPU', ms_for_both: round(performance.now() - t2),
    a_same: sameBytes(parA.images![0].data, seqA.images![0].data), b_same: sameBytes(parB.images![0].data, seqB.images![0].data),
    engines_shared: pipe2.transformer!.engine === engine, separate_transformers: pipe2.transformer !== pipe.transformer });
  pipe2.transformer!.dispose();

  // Out of device memory: a decode far beyond the card (64 images of 2048x2048 at once) is a
  // typed error, and the engine keeps working.
  const zShape = [64, 4, 256, 256];
  let oom = 'not tried on the CPU';
  if (device !== 'cpu') {
    const z = new Float32Array(zShape.reduce((a, b) => a * b));
    oom = 'no error';
    try {
      await pipe.vae!.decode({ data: z, shape: zShape });
    } catch (e) {
      const err = e as { code?: string; message?: string };
      oom = `${err.code}: ${String(err.message).slice(0, 200)}`;
    }
  }
  const afterOom = await pipe.generate(full(1, 1));
  log({ section: 'async', what: 'out of memory', error: oom, generate_after_same_bytes: sameBytes(afterOom.images![0].data, r1.images![0].data) });

  // NaN in the inputs is reported, not propagated.
  const ls = [1, 4, SIZE / 8, SIZE / 8];
  const lat = new Float32Array(ls.reduce((a, b) => a * b));
  lat[7] = Number.NaN;
  const nan = await pipe.generate(full(1, 1, { latents: { data: lat, shape: ls } }))
    .then(() => 'accepted', (e) => `${(e as { code?: string }).code}: ${(e as Error).message.slice(0, 160)}`);
  log({ section: 'async', what: 'NaN in the latents', outcome: nan });
}

// ------------------------------------------------------------------ end to end
async function sectionE2E(): Promise<void> {
  for (const quant of QUANTS) {
    const main = mainEngine(), text = textEngine();
    const meter = new DevicePeak(main);
    for (const [q, p] of [...loaded]) {
      if (q === quant) continue;
      p.dispose();
      loaded.delete(q);
    }
    await main.emptyCache();
    await text.emptyCache();
    const before = await baseline();
    const pipe = await loadFull(quant);
    if (pipe.transformer!.engine !== main || pipe.textEncoder!.engine !== text) throw new Error('pipeline engines are not the shared ones');
    const afterLoad = meter.used();
    for (const n of quant === 'int4-mixed' ? [1] : [1, 4]) {  // the T5 mode does not change the DiT's batch-4 time
      await pipe.generate(full(n, 0));  // warm-up at this batch (cuDNN plans for its shapes, the pool)
      const reps = n === 1 ? 3 : 2;
      const e2e: number[] = [], enc: number[] = [], loop: number[] = [], dec: number[] = [];
      let peak = 0;
      for (let r = 0; r < reps; r++) {
        main.resetPeakMemory();
        text.resetPeakMemory();
        meter.start();
        const t0 = performance.now();
        await pipe.generate(full(n, 10 + r));
        e2e.push(performance.now() - t0);
        peak = Math.max(peak, meter.stop());
        // The same generation in its parts.
        const t1 = performance.now();
        const emb = await pipe.encodePrompt(PROMPT);  // one prompt (+ negative), repeated per image by generate
        const t2 = performance.now();
        const lat = await pipe.generate({ ...full(n, 10 + r), promptEmbeds: emb.promptEmbeds, promptAttentionMask: emb.promptAttentionMask,
          negativePromptEmbeds: emb.negativePromptEmbeds!, negativePromptAttentionMask: emb.negativePromptAttentionMask!, prompt: undefined,
          outputType: 'latent' });
        const t3 = performance.now();
        await pipe.decodeLatents(lat.tensor!, { outputType: 'image' });
        const t4 = performance.now();
        enc.push(t2 - t1);
        loop.push(t3 - t2);
        dec.push(t4 - t3);
      }
      log({
        section: 'e2e', t5: quant, batch: n, size: `${SIZE}x${SIZE}`, steps: STEPS, reps,
        end_to_end_ms: round(median(e2e)), all_ms: e2e.map((x) => round(x)),
        encode_prompt_ms: round(median(enc)), denoise_loop_ms: round(median(loop)), decode_rgb_ms: round(median(dec)),
        device_peak_gb: round(peak / GB, 3), device_peak_above_contexts_gb: round((peak - before) / GB, 3),
        weights_and_contexts_after_load_gb: round((afterLoad - before) / GB, 3),
        pool_peak_main_gb: round((main.memoryStats()?.peakInUseBytes ?? 0) / GB, 3),
        pool_peak_text_gb: round((text.memoryStats()?.peakInUseBytes ?? 0) / GB, 3),
      });
    }
    // Memory with the VAE tiled (diffusers' enable_tiling), batch 1, after a warm-up run.
    pipe.vae!.enableTiling();
    await pipe.generate(full(1, 20));
    meter.start();
    const t0 = performance.now();
    await pipe.generate(full(1, 20));
    const ms = performance.now() - t0;
    const peak = meter.stop();
    log({ section: 'e2e', t5: quant, batch: 1, vae: 'tiled', end_to_end_ms: round(ms),
      device_peak_above_contexts_gb: round((peak - before) / GB, 3) });
    // The same with each phase's cached blocks given back before the next (emptyCacheBetweenPhases),
    // in the steady state (after a generation with it on).
    pipe.emptyCacheBetweenPhases = true;
    await pipe.generate(full(1, 20));
    meter.start();
    const t1 = performance.now();
    await pipe.generate(full(1, 20));
    const ms1 = performance.now() - t1;
    const peak1 = meter.stop();
    const again: number[] = [];
    for (let r = 0; r < 2; r++) {
      const t2 = performance.now();
      await pipe.generate(full(1, 21 + r));
      again.push(performance.now() - t2);
    }
    log({ section: 'e2e', t5: quant, batch: 1, vae: 'tiled', empty_cache_between_phases: true, end_to_end_ms: round(ms1),
      next_runs_ms: again.map((x) => round(x)), device_peak_above_contexts_gb: round((peak1 - before) / GB, 3) });
    pipe.emptyCacheBetweenPhases = false;
    pipe.vae!.disableTiling();
  }
}

// ------------------------------------------------------------------ scheduler steps on the engine
// The default loop (latents, eps and the solver history stay on the device; one fused state
// program per step) against the host loop (latents up, guided eps down each step): the same
// latent bits, and the loop time of each at SIZE and at the small sizes where a step is short.
async function sectionEngineLoop(): Promise<void> {
  const pipe = await loadFull(QUANTS[0]);
  // From a prompt: T5's output gathered onto the transformer's engine device to device (the text
  // engine is another CUDA backend) against the host path, 2 images per prompt.
  {
    const opts: GenerateOptions = { ...full(2, 3), numInferenceSteps: 4, outputType: 'latent', prompt: [PROMPT, 'a red fox in the snow'] };
    const res: Record<string, Float32Array> = {};
    for (const onEngine of [true, false]) {
      pipe.tensorsOnEngine = onEngine;
      res[onEngine ? 'engine' : 'host'] = (await pipe.generate(opts)).tensor!.data;
    }
    pipe.tensorsOnEngine = true;
    const a = new Uint32Array(res.engine.buffer), b = new Uint32Array(res.host.buffer);
    let differ = 0;
    for (let i = 0; i < a.length; i++) differ += a[i] !== b[i] ? 1 : 0;
    log({ section: 'engineloop', what: 'prompt embeddings T5 engine -> transformer engine', latent_values: a.length, values_differing: differ,
      max_abs_diff: maxDiff(res.engine, res.host).maxAbs });
  }
  const emb = await pipe.encodePrompt(PROMPT);
  const sizes = [...new Set([SIZE, ...(device === 'cuda' ? [512, 256] : [])])];
  for (const size of sizes) {
    for (const scheduler of ['DPMSolverMultistepScheduler', 'EulerAncestralDiscreteScheduler', 'UniPCMultistepScheduler']) {
      const opts: GenerateOptions = {
        ...full(1, 5), height: size, width: size, useResolutionBinning: false, scheduler, outputType: 'latent', prompt: undefined,
        promptEmbeds: emb.promptEmbeds, promptAttentionMask: emb.promptAttentionMask,
        negativePromptEmbeds: emb.negativePromptEmbeds!, negativePromptAttentionMask: emb.negativePromptAttentionMask!,
      };
      // engine: the default loop; graph: the same with recordSteps (the step as a CUDA graph); host: the host loop.
      const times: Record<string, number[]> = { engine: [], graph: [], host: [] };
      const latents: Record<string, Float32Array> = {};
      let stats: unknown = null;
      const dit = pipe.transformer!;
      const forwardToState = dit.forwardToState.bind(dit);
      dit.forwardToState = async (a) => {
        const t = await forwardToState(a);
        if ('conditioning' in a && a.conditioning.stepStats) stats = a.conditioning.stepStats;
        return t;
      };
      for (let rep = 0; rep < 3; rep++) {  // interleaved; the first of each is a warm-up
        for (const key of ['engine', 'graph', 'host']) {
          pipe.tensorsOnEngine = key !== 'host';
          pipe.recordSteps = key === 'graph';
          const t0 = performance.now();
          const r = await pipe.generate(opts);
          times[key].push(performance.now() - t0);
          latents[key] = r.tensor!.data;
        }
      }
      delete (dit as { forwardToState?: unknown }).forwardToState;
      pipe.tensorsOnEngine = true;
      pipe.recordSteps = false;
      const differing = (x: Float32Array, y: Float32Array) => {
        const a = new Uint32Array(x.buffer, x.byteOffset, x.length), b = new Uint32Array(y.buffer, y.byteOffset, y.length);
        let n = 0;
        for (let i = 0; i < a.length; i++) n += a[i] !== b[i] ? 1 : 0;
        return n;
      };
      log({
        section: 'engineloop', size: `${size}x${size}`, steps: STEPS, scheduler, latent_values: latents.engine.length,
        values_differing: differing(latents.engine, latents.host), max_abs_diff: maxDiff(latents.engine, latents.host).maxAbs,
        graph_values_differing: differing(latents.graph, latents.engine), graph_stats: stats,
        loop_ms_engine: round(median(times.engine.slice(1))), loop_ms_graph: round(median(times.graph.slice(1))),
        loop_ms_host: round(median(times.host.slice(1))),
      });
    }
  }
}

// ------------------------------------------------------------------ low-memory workflow
async function sectionLowMem(): Promise<void> {
  for (const p of loaded.values()) p.dispose();
  loaded.clear();
  for (const quant of QUANTS.filter((q) => q !== 'int8')) {
    const main = mainEngine(), text = textEngine();
    await main.emptyCache();
    await text.emptyCache();
    const meter = new DevicePeak(main);
    const before = await baseline();
    meter.start();
    const t0 = performance.now();
    const textOnly = await PixArtAlphaPipeline.fromPretrained(pipelineDir, {
      device, textEncoderQuantization: quant, transformer: null, vae: null,
    });
    const emb = await textOnly.encodePrompt(PROMPT);
    textOnly.dispose();
    await text.emptyCache();
    const pipe = await PixArtAlphaPipeline.fromPretrained(pipelineDir, { device, textEncoder: null, tokenizer: null });
    pipe.vae!.enableTiling();
    const r = await pipe.generate({
      ...full(1, 30), prompt: undefined, promptEmbeds: emb.promptEmbeds, promptAttentionMask: emb.promptAttentionMask,
      negativePromptEmbeds: emb.negativePromptEmbeds!, negativePromptAttentionMask: emb.negativePromptAttentionMask!,
    });
    const peak = meter.stop();
    log({ section: 'lowmem', t5: quant, vae: 'tiled', ms_with_loads: round(performance.now() - t0),
      images: r.images!.length, device_peak_above_contexts_gb: round((peak - before) / GB, 3) });
    pipe.dispose();
    await main.emptyCache();
  }
}

// A check of the bundle itself on any machine: the tiny pipeline on the CPU, 2 steps, RGB out.
async function sectionSmoke(): Promise<void> {
  const engine = Engine.create({ device: 'cpu' });
  const pipe = await PixArtAlphaPipeline.fromPretrained(tinyDir, { engine });
  const r = await pipe.generate({ prompt: PROMPT, numInferenceSteps: 2, height: 64, width: 64, seed: 0 });
  log({ section: 'smoke', rgb_bytes: r.images![0].data.length, first_bytes: Array.from(r.images![0].data.subarray(0, 6)) });
  pipe.dispose();
  engine.dispose();
}

const all: [string, () => Promise<void>][] = [['smoke', sectionSmoke], ['tiny', sectionTiny], ['async', sectionAsync], ['e2e', sectionE2E], ['engineloop', sectionEngineLoop], ['lowmem', sectionLowMem]];
let failed = 0;
for (const [name, fn] of all) {
  if (!sections.has(name)) continue;
  const t0 = performance.now();
  try {
    await fn();
  } catch (e) {
    failed++;
    log({ section: name, error: String((e as Error)?.stack ?? e).slice(0, 2000) });
  }
  log({ section: name, done_s: round((performance.now() - t0) / 1e3) });
}
process.exit(failed ? 1 : 0);
