#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { PixArtError } from '../errors.js';
import { Engine, type Device } from '../engine/Engine.js';
import { PixArtAlphaPipeline } from '../pipeline/PixArtAlphaPipeline.js';
import { SCHEDULER_ALIASES, SCHEDULER_NAMES } from '../schedulers/index.js';
import { exportOnnx, ONNX_COMPONENTS, type OnnxComponent } from '../export/exportOnnx.js';
import { resolveModel } from '../hub/index.js';

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, failure: 1, usage: 2, modelLoad: 3, noDevice: 4, download: 5, aborted: 130 } as const;

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer`);
    return n;
  };
}
function float(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

function exitCodeFor(e: unknown): number {
  const code = (e as PixArtError)?.code;
  if (code === 'ERR_PIXART_INVALID_ARGUMENT') return EXIT.usage;
  if (code === 'ERR_PIXART_MODEL_LOAD' || code === 'ERR_PIXART_MODEL_NOT_FOUND' || code === 'ERR_PIXART_MISSING_COMPONENT') return EXIT.modelLoad;
  if (code === 'ERR_PIXART_NO_DEVICE' || code === 'ERR_PIXART_UNSUPPORTED') return EXIT.noDevice;
  if (['ERR_PIXART_HUB', 'ERR_PIXART_HUB_AUTH', 'ERR_PIXART_OFFLINE', 'ERR_PIXART_CHECKSUM', 'ERR_PIXART_DISK_FULL'].includes(code)) return EXIT.download;
  if ((e as Error)?.name === 'AbortError' || code === 'ERR_PIXART_CANCELLED') return EXIT.aborted;
  return EXIT.failure;
}

export function buildProgram(): Command {
  const program = new Command('pixart')
    .description('PixArt-α text-to-image on a native engine')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('generate')
    .description('generate image(s) from a prompt')
    .argument('<prompt>', 'the text prompt')
    .requiredOption('-m, --model <dir|repo>', 'model folder (diffusers layout) or Hugging Face Hub id, e.g. PixArt-alpha/PixArt-XL-2-1024-MS')
    .option('--revision <rev>', 'Hub branch, tag or commit', 'main')
    .option('--variant <name>', "weights variant, e.g. 'fp16'")
    .option('--offline', 'use the Hugging Face cache only (like HF_HUB_OFFLINE=1)')
    .option('-o, --out <file>', 'output file (.png, .jpg, .webp); with several images, -1, -2, ... are added', 'out.png')
    .option('-n, --negative-prompt <text>', 'negative prompt', '')
    .option('-W, --width <px>', 'image width', int('width'))
    .option('-H, --height <px>', 'image height', int('height'))
    .option('-s, --steps <n>', 'denoising steps', int('steps'), 20)
    .option('-g, --guidance <scale>', 'classifier-free guidance scale', float('guidance'), 4.5)
    .option('--seed <n>', 'random seed (same as torch.Generator().manual_seed(n))', int('seed'))
    .addOption(new Option('--scheduler <name>', 'scheduler (default: the model\'s)').choices([...SCHEDULER_NAMES, ...Object.keys(SCHEDULER_ALIASES)]))
    .option('-d, --device <device>', "'cpu' or 'cuda'", 'cpu')
    .option('-t, --threads <n>', 'CPU threads (0 = all)', int('threads'), 0)
    .option('--num-images <n>', 'images per prompt', int('num-images'), 1)
    .option('--no-binning', 'do not map the size to the nearest aspect-ratio bin')
    .option('--no-clean-caption', 'do not clean the caption (diffusers clean_caption=False)')
    .addOption(new Option('--dtype <dtype>', 'GPU compute dtype of the transformer and VAE').choices(['float16', 'bfloat16', 'float32']))
    .addOption(new Option('--t5-quant <mode>', 'weight-only quantisation of the T5 text encoder').choices(['none', 'int8', 'int4', 'int4-mixed']).default('none'))
    .option('--vae-tiling', 'decode in overlapping tiles (less memory for large images; diffusers enable_tiling())')
    .option('--record-steps', 'record the transformer step once and replay it (a CUDA graph on a GPU; the same image)')
    .option('--empty-cache-between-phases', "give the GPU memory pool's cached blocks back between the denoising loop and the decode")
    .option('-q, --quiet', 'no progress bar')
    .action(async (prompt: string, o) => {
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort(new PixArtError('ERR_PIXART_CANCELLED', 'interrupted')));
      const bars = o.quiet ? null : new cliProgress.MultiBar({ format: '{file} [{bar}] {percentage}%', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
      const perFile = new Map<string, cliProgress.SingleBar>();
      const pipe = await PixArtAlphaPipeline.fromPretrained(o.model, {
        device: o.device as Device, threads: o.threads, revision: o.revision, variant: o.variant,
        dtype: o.dtype, textEncoderQuantization: o.t5Quant,
        offline: o.offline ? true : undefined, signal: abort.signal,
        onDownloadProgress: (e) => {
          if (!bars) return;
          let b = perFile.get(e.file);
          if (!b) perFile.set(e.file, (b = bars.create(e.total, e.downloaded, { file: e.file })));
          b.update(e.downloaded, { file: e.file });
        },
      }).finally(() => bars?.stop());
      const bar = o.quiet ? null : new cliProgress.SingleBar({ format: 'denoising [{bar}] {value}/{total} steps | {duration}s', hideCursor: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
      try {
        bar?.start(o.steps, 0);
        if (o.vaeTiling) pipe.vae?.enableTiling();
        pipe.recordSteps = Boolean(o.recordSteps);
        pipe.emptyCacheBetweenPhases = Boolean(o.emptyCacheBetweenPhases);
        const result = await pipe.generate({
          prompt,
          negativePrompt: o.negativePrompt,
          width: o.width,
          height: o.height,
          numInferenceSteps: o.steps,
          guidanceScale: o.guidance,
          seed: o.seed,
          scheduler: o.scheduler,
          numImagesPerPrompt: o.numImages,
          useResolutionBinning: o.binning,
          cleanCaption: o.cleanCaption,
          signal: abort.signal,
          onStep: (s) => bar?.update(s.step + 1),
        });
        bar?.stop();
        if (result.nonFinite) {
          process.stderr.write('warning: the decoded image holds NaN/Infinity values (the denoising diverged); it is saved as diffusers would save it\n');
        }
        const images = result.images ?? [];
        for (let i = 0; i < images.length; i++) {
          const file = images.length === 1 ? o.out : o.out.replace(/(\.[^.]+)$/, `-${i + 1}$1`);
          await images[i].save(file);
          process.stdout.write(`${file} (${images[i].width}x${images[i].height})\n`);
        }
      } finally {
        bar?.stop();
        pipe.dispose();
      }
    });

  program
    .command('export-onnx')
    .description('export the text encoder, transformer and VAE decoder to ONNX (dynamic batch, size and sequence axes) for TensorRT or any ONNX runtime')
    .requiredOption('-m, --model <dir|repo>', 'model folder (diffusers layout) or Hugging Face Hub id')
    .requiredOption('-o, --out <dir>', 'output folder: <component>.onnx (+ .onnx.data) and export.json')
    .option('--revision <rev>', 'Hub branch, tag or commit', 'main')
    .option('--offline', 'use the Hugging Face cache only (like HF_HUB_OFFLINE=1)')
    .option('--components <list>', `comma-separated subset of ${ONNX_COMPONENTS.join(',')}`, (v: string) => {
      const list = v.split(',').map((x) => x.trim()).filter(Boolean);
      for (const c of list) if (!ONNX_COMPONENTS.includes(c as OnnxComponent)) throw new InvalidArgumentError(`unknown component "${c}"`);
      return list as OnnxComponent[];
    })
    .addOption(new Option('--dtype <type>', 'transformer and VAE decoder precision').choices(['float16', 'bfloat16', 'float32']).default('float16'))
    .addOption(new Option('--t5-dtype <type>', 'text encoder activations (T5 overflows in float16)').choices(['float32', 'bfloat16']).default('float32'))
    .addOption(new Option('--t5-quant <q>', 'text encoder weight-only quantisation (DequantizeLinear)').choices(['none', 'int8', 'int4', 'int4-mixed']).default('none'))
    .addOption(new Option('--external-data <when>', 'weights in a .onnx.data file beside the model').choices(['auto', 'always', 'never']).default('auto'))
    .action(async (o) => {
      const abort = new AbortController();
      const onSigint = () => abort.abort(new PixArtError('ERR_PIXART_CANCELLED', 'interrupted'));
      process.once('SIGINT', onSigint);
      try {
        const source = await resolveModel(o.model, {
          revision: o.revision, offline: o.offline, components: ['text_encoder', 'transformer', 'vae'], signal: abort.signal,
        });
        const manifest = await exportOnnx(source, o.out, {
          signal: abort.signal,
          components: o.components, dtype: o.dtype, textEncoderDtype: o.t5Dtype, textEncoderQuantization: o.t5Quant, externalData: o.externalData,
          onProgress: (e) => { if (!e.done) process.stderr.write(`exporting ${e.component}...\n`); },
        });
        for (const [name, m] of Object.entries(manifest.models)) {
          const data = m.dataFile ? ` + ${m.dataFile} (${m.dataBytes} bytes)` : '';
          process.stdout.write(`${o.out}/${m.file} (${name}, ${m.dtype}${m.quantization !== 'none' ? `, ${m.quantization} weights` : ''}, ${m.nodes} nodes, ${m.bytes} bytes${data})\n`);
        }
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });

  program
    .command('devices')
    .description('list the compute devices this installation can use')
    .action(() => {
      const cpu = Engine.create({ device: 'cpu' });
      process.stdout.write(`cpu: ${cpu.threads} threads\n`);
      cpu.dispose();
      const p = Engine.probeCuda();
      process.stdout.write(p.deviceCount > 0 ? `cuda: ${p.devices}\n` : `cuda: unavailable (${p.error})\n`);
    });
  return program;
}

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (e) {
    const ce = e as { code?: string; exitCode?: number; message?: string };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      return ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version' || ce.code === 'commander.help' ? EXIT.ok : EXIT.usage;
    }
    const code = exitCodeFor(e);
    process.stderr.write(`pixart: ${ce.message ?? String(e)}${ce.code ? ` [${ce.code}]` : ''}\n`);
    return code;
  }
}

function isEntryPoint(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (isEntryPoint()) {
  main().then((code) => process.exit(code));
}
