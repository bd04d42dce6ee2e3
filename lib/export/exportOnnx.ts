/**
 * ONNX export of a PixArt-α pipeline folder: the T5 text encoder, the PixArt DiT and the VAE
 * decoder, recorded from the same native model code the engine runs (native/export), with
 * dynamic batch / size / sequence axes. Writes `<component>.onnx` (+ `.onnx.data` for large
 * weights) and `export.json`, the manifest the TensorRT backend builds its engines from.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PixArtError } from '../errors.js';
import type { NativeOnnxExportSummary, NativeOnnxValue } from '../native/AddonTypes.js';
import { loadAddon, nativeError } from '../native/binding.js';
import { optionsArg, stringArg } from '../util/args.js';

export type OnnxComponent = 'text_encoder' | 'transformer' | 'vae_decoder';
export const ONNX_COMPONENTS: readonly OnnxComponent[] = Object.freeze(['text_encoder', 'transformer', 'vae_decoder']);

/** The folder of each component inside a diffusers pipeline folder. */
const SOURCE_FOLDER: Record<OnnxComponent, string> = { text_encoder: 'text_encoder', transformer: 'transformer', vae_decoder: 'vae' };

export interface ExportOnnxOptions {
  /** Which components to export; default: all three. */
  components?: readonly OnnxComponent[];
  /** Activations and weights of the transformer and VAE decoder; default 'float16' (what TensorRT runs). */
  dtype?: 'float32' | 'float16' | 'bfloat16';
  /** The text encoder's activations: 'float32' (default) or 'bfloat16' (what TensorRT's int8/int4 weight-only GEMMs take); never float16, where T5 overflows. Its norms compute in float32 either way. */
  textEncoderDtype?: 'float32' | 'bfloat16';
  /** Weight-only quantisation of the text encoder's linear weights, as DequantizeLinear: 'int8' per output channel, 'int4' per block of 64, 'int4-mixed' int4 with the engine's int8 exceptions. Default 'none'. */
  textEncoderQuantization?: 'none' | 'int8' | 'int4' | 'int4-mixed';
  /** Weights in a `.onnx.data` file beside the model: 'auto' (above 1 GiB), 'always' or 'never'. */
  externalData?: 'auto' | 'always' | 'never';
  /** Called when each component starts and finishes. */
  onProgress?: (event: { component: OnnxComponent; done: boolean }) => void;
  /** Stops the export at its next step (between traces or weights); rejects with the signal's reason. Files of components already finished stay; export.json is only written at the end. */
  signal?: AbortSignal;
}

export interface OnnxExportEntry {
  file: string;
  sha256: string;
  bytes: number;
  /** External weights beside `file`, when written. */
  dataFile?: string;
  dataSha256?: string;
  dataBytes?: number;
  dtype: 'float32' | 'float16' | 'bfloat16';
  quantization: 'none' | 'int8' | 'int4' | 'int4-mixed';
  opset: number;
  nodes: number;
  inputs: NativeOnnxValue[];
  outputs: NativeOnnxValue[];
}

export interface OnnxExportManifest {
  format: 'pixart-node-onnx';
  version: 1;
  /** The pipeline folder the models came from. */
  source: string;
  created: string;
  models: Partial<Record<OnnxComponent, OnnxExportEntry>>;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function invalid(message: string): PixArtError {
  return new PixArtError('ERR_PIXART_INVALID_ARGUMENT', message);
}

/**
 * Exports the components of the pipeline folder `modelDir` (model_index.json with text_encoder/,
 * transformer/, vae/) into `outDir` and writes `outDir/export.json`. Resolves to that manifest.
 * Components are exported one after another; a failure leaves no half-written file.
 */
export async function exportOnnx(modelDir: string, outDir: string, options: ExportOnnxOptions = {}): Promise<OnnxExportManifest> {
  stringArg('exportOnnx model folder', modelDir);
  stringArg('exportOnnx output folder', outDir);
  options = optionsArg('exportOnnx options', options);
  const components = options.components ?? ONNX_COMPONENTS;
  if (!Array.isArray(components as unknown) || components.length === 0) throw invalid('exportOnnx: components must be a non-empty array');
  for (const c of components) {
    if (!ONNX_COMPONENTS.includes(c)) throw invalid(`exportOnnx: unknown component "${String(c)}" (${ONNX_COMPONENTS.join(', ')})`);
  }
  const dtype = options.dtype ?? 'float16';
  if (!['float32', 'float16', 'bfloat16'].includes(dtype)) {
    throw invalid(`exportOnnx: dtype must be 'float32', 'float16' or 'bfloat16', got ${String(dtype)}`);
  }
  const textDtype = options.textEncoderDtype ?? 'float32';
  if (textDtype !== 'float32' && textDtype !== 'bfloat16') {
    throw invalid(`exportOnnx: textEncoderDtype must be 'float32' or 'bfloat16' (T5 overflows in float16), got ${String(textDtype)}`);
  }
  const quantization = options.textEncoderQuantization ?? 'none';
  if (!['none', 'int8', 'int4', 'int4-mixed'].includes(quantization)) {
    throw invalid(`exportOnnx: textEncoderQuantization must be 'none', 'int8', 'int4' or 'int4-mixed', got ${String(quantization)}`);
  }
  const externalData = options.externalData ?? 'auto';
  if (!['auto', 'always', 'never'].includes(externalData)) {
    throw invalid(`exportOnnx: externalData must be 'auto', 'always' or 'never', got ${String(externalData)}`);
  }
  const source = resolve(modelDir);
  for (const c of components) {
    const folder = join(source, SOURCE_FOLDER[c]);
    if (!existsSync(join(folder, 'config.json'))) {
      throw new PixArtError('ERR_PIXART_MODEL_LOAD', `exportOnnx: ${folder}/config.json not found (is ${source} a PixArt pipeline folder?)`);
    }
  }
  const out = resolve(outDir);
  mkdirSync(out, { recursive: true });
  const addon = loadAddon();
  const manifest: OnnxExportManifest = { format: 'pixart-node-onnx', version: 1, source, created: new Date().toISOString(), models: {} };
  const signal = options.signal;
  const aborted = () => signal?.reason ?? new PixArtError('ERR_PIXART_CANCELLED', 'the export was aborted');
  for (const c of components) {
    if (signal?.aborted) throw aborted();
    options.onProgress?.({ component: c, done: false });
    const file = `${c}.onnx`;
    let s: NativeOnnxExportSummary;
    const job = addon.exportOnnx({
      model: c,
      folder: join(source, SOURCE_FOLDER[c]),
      out: join(out, file),
      dtype: c === 'text_encoder' ? textDtype : dtype,
      quantization: c === 'text_encoder' ? quantization : 'none',
      externalData,
    });
    const onAbort = () => job.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      s = await job.promise;
    } catch (e) {
      if (signal?.aborted && (e as { code?: string })?.code === 'ERR_PIXART_CANCELLED') throw aborted();
      throw nativeError(e, `exportOnnx ${c}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const entry: OnnxExportEntry = {
      file,
      sha256: await sha256File(join(out, file)),
      bytes: statSync(join(out, file)).size,
      dtype: s.dtype,
      quantization: s.quantization,
      opset: s.opset,
      nodes: s.nodes,
      inputs: s.inputs,
      outputs: s.outputs,
    };
    if (s.dataFile) {
      entry.dataFile = s.dataFile;
      entry.dataSha256 = await sha256File(join(out, s.dataFile));
      entry.dataBytes = s.dataBytes;
    }
    manifest.models[c] = entry;
    options.onProgress?.({ component: c, done: true });
  }
  // Merge with an earlier export of other components into the same folder.
  const path = join(out, 'export.json');
  if (existsSync(path) && components.length < ONNX_COMPONENTS.length) {
    try {
      const old = JSON.parse(readFileSync(path, 'utf8')) as OnnxExportManifest;
      if (old.format === 'pixart-node-onnx' && old.source === source) manifest.models = { ...old.models, ...manifest.models };
    } catch {
      // an unreadable manifest is replaced
    }
  }
  writeFileSync(`${path}.partial`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${path}.partial`, path);
  return manifest;
}
