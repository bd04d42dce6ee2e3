import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import JSON5 from 'json5';
import { PixArtError } from '../errors.js';

/**
 * Reads a diffusers/transformers config file. JSON5 because real scheduler configs contain
 * the bare token -Infinity (lambda_min_clipped), which JSON.parse rejects.
 */
export async function readConfig(path: string): Promise<Record<string, any>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${path}: cannot read config (${(e as Error).message})`, { cause: e });
  }
  try {
    const v = JSON5.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('top level is not an object');
    return v as Record<string, any>;
  } catch (e) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${path}: invalid config (${(e as Error).message})`, { cause: e });
  }
}

export interface DiTConfig {
  sampleSize: number;
  patchSize: number;
  inChannels: number;
  outChannels: number;
  /**
   * Width of the text embeddings the transformer takes: `caption_channels`, or, when the config
   * has none (no caption projection), `cross_attention_dim`.
   */
  captionChannels: number;
  numLayers: number;
  numAttentionHeads: number;
  attentionHeadDim: number;
  interpolationScale: number;
  useAdditionalConditions: boolean;
  raw: Record<string, any>;
}

function num(raw: Record<string, any>, key: string, where: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${where}: "${key}" is missing or not a number`);
  }
  return v;
}

/**
 * The transformer config, with the values legacy (diffusers 0.22 `Transformer2DModel`) files
 * leave out derived the way current diffusers derives them.
 */
export async function readDiTConfig(folder: string): Promise<DiTConfig> {
  const path = join(folder, 'config.json');
  const raw = await readConfig(path);
  const sampleSize = num(raw, 'sample_size', path);
  const inChannels = num(raw, 'in_channels', path, 4);
  return {
    sampleSize,
    patchSize: num(raw, 'patch_size', path, 2),
    inChannels,
    outChannels: raw.out_channels == null ? inChannels : num(raw, 'out_channels', path),
    captionChannels: raw.caption_channels == null ? num(raw, 'cross_attention_dim', path) : num(raw, 'caption_channels', path),
    numLayers: num(raw, 'num_layers', path),
    numAttentionHeads: num(raw, 'num_attention_heads', path),
    attentionHeadDim: num(raw, 'attention_head_dim', path),
    interpolationScale: raw.interpolation_scale == null ? Math.max(Math.floor(sampleSize / 64), 1) : num(raw, 'interpolation_scale', path),
    useAdditionalConditions: raw.use_additional_conditions == null ? sampleSize === 128 : Boolean(raw.use_additional_conditions),
    raw,
  };
}

export interface VAEConfig {
  scalingFactor: number;
  latentChannels: number;
  /** 2^(number of blocks - 1): pixels per latent cell. */
  scaleFactor: number;
  raw: Record<string, any>;
}

export async function readVAEConfig(folder: string): Promise<VAEConfig> {
  const path = join(folder, 'config.json');
  const raw = await readConfig(path);
  const blocks = raw.block_out_channels;
  if (!Array.isArray(blocks) || blocks.length === 0) {
    throw new PixArtError('ERR_PIXART_MODEL_LOAD', `${path}: "block_out_channels" is missing`);
  }
  return {
    scalingFactor: num(raw, 'scaling_factor', path, 0.18215),
    latentChannels: num(raw, 'latent_channels', path, 4),
    scaleFactor: 2 ** (blocks.length - 1),
    raw,
  };
}

export interface T5Config {
  dModel: number;
  vocabSize: number;
  raw: Record<string, any>;
}

export async function readT5Config(folder: string): Promise<T5Config> {
  const path = join(folder, 'config.json');
  const raw = await readConfig(path);
  return { dModel: num(raw, 'd_model', path), vocabSize: num(raw, 'vocab_size', path), raw };
}
