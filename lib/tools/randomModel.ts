/**
 * Writes a diffusers-layout PixArt-α model folder with random weights, from a real config
 * folder: the tensor names and shapes are derived here from each component's config, the way
 * diffusers' PixArtTransformer2DModel / AutoencoderKL and transformers' T5EncoderModel build
 * their modules, so the folder loads in both this package and in diffusers/transformers.
 *
 * For benchmarks and load tests without the real (multi-GB) checkpoints. The values are not
 * torch's init: a seeded xoshiro128** generator, N(0, 1/fan_in)-style weights, norm weights
 * near 1, small biases and small adaLN tables, so activations stay finite and O(1..10) through
 * every layer. Each tensor's values depend only on (seed, tensor name), so a model written with
 * fewer T5 layers holds the same first layers as the full one.
 *
 * Tensor data is streamed to disk in chunks (a 2 GB shard is never held in memory) and every
 * file is written under a temporary name and renamed when complete.
 */
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import JSON5 from 'json5';

export type ModelComponent = 'text_encoder' | 'transformer' | 'vae' | 'tokenizer' | 'scheduler';
export const MODEL_COMPONENTS: readonly ModelComponent[] = ['text_encoder', 'transformer', 'vae', 'tokenizer', 'scheduler'];

export type WeightDType = 'float32' | 'float16';

/** How one tensor's values are drawn: mean + std * N(0, 1). */
export interface TensorInit {
  mean: number;
  std: number;
}

export interface TensorSpec {
  name: string;
  shape: number[];
  init: TensorInit;
}

export interface WriteRandomModelOptions {
  /** A real model folder's configs: model_index.json, <component>/config.json, tokenizer/, scheduler/. */
  configDir: string;
  /** Folder to write (created; existing files of the same names are replaced). */
  outDir: string;
  /** Default: all five. */
  components?: ModelComponent[];
  /** Sets the text encoder's num_layers (a full T5-XXL is 4.7 B parameters). */
  t5Layers?: number;
  /** Default float32. */
  dtype?: WeightDType;
  /** Default 0. */
  seed?: number;
  /** Config keys to set in the written configs (and used to derive the tensors), per component. */
  overrides?: Partial<Record<ModelComponent, Record<string, unknown>>>;
  /** Text-encoder shard size limit in bytes (default 2e9, like transformers' "2GB"). */
  maxShardBytes?: number;
  /** Called after each file is complete. */
  onFile?: (path: string, bytes: number) => void;
}

export interface WrittenFile {
  path: string;
  bytes: number;
}

export interface WriteRandomModelResult {
  outDir: string;
  files: WrittenFile[];
  /** Parameter count per weight-bearing component written. */
  parameters: Partial<Record<ModelComponent, number>>;
}

type Config = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// Tensor lists, derived from configs
// ---------------------------------------------------------------------------------------------

const BIAS: TensorInit = { mean: 0, std: 0.02 };
const NORM_WEIGHT: TensorInit = { mean: 1, std: 0.05 };
const NORM_BIAS: TensorInit = { mean: 0, std: 0.02 };

function fanIn(std: number, fan: number): TensorInit {
  return { mean: 0, std: std / Math.sqrt(fan) };
}

function int(cfg: Config, key: string, where: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${where}: "${key}" must be a positive integer, got ${JSON.stringify(cfg[key])}`);
  }
  return v;
}

function flag(cfg: Config, key: string, fallback: boolean): boolean {
  const v = cfg[key];
  return v === undefined || v === null ? fallback : Boolean(v);
}

class SpecList {
  readonly specs: TensorSpec[] = [];
  add(name: string, shape: number[], init: TensorInit): void {
    this.specs.push({ name, shape, init });
  }
  /** nn.Linear(inF, outF): weight [out, in] ~ N(0, gain²/in), bias small. */
  linear(prefix: string, inF: number, outF: number, bias = true, gain = 1): void {
    this.add(`${prefix}.weight`, [outF, inF], fanIn(gain, inF));
    if (bias) this.add(`${prefix}.bias`, [outF], BIAS);
  }
  conv(prefix: string, inC: number, outC: number, k: number, gain = 1): void {
    this.add(`${prefix}.weight`, [outC, inC, k, k], fanIn(gain, inC * k * k));
    this.add(`${prefix}.bias`, [outC], BIAS);
  }
  norm(prefix: string, dim: number, bias = true): void {
    this.add(`${prefix}.weight`, [dim], NORM_WEIGHT);
    if (bias) this.add(`${prefix}.bias`, [dim], NORM_BIAS);
  }
}

/** What current diffusers derives for legacy `Transformer2DModel` PixArt configs. */
export function derivedDiTSettings(cfg: Config): { interpolationScale: number; useAdditionalConditions: boolean } {
  const sampleSize = int(cfg, 'sample_size', 'transformer config', 128);
  return {
    interpolationScale: cfg.interpolation_scale ?? Math.max(Math.floor(sampleSize / 64), 1),
    useAdditionalConditions: cfg.use_additional_conditions ?? sampleSize === 128,
  };
}

/**
 * diffusers' PixArtTransformer2DModel state_dict (pos_embed.pos_embed is a non-persistent
 * buffer and not stored). Defaults are PixArtTransformer2DModel.__init__'s.
 */
export function transformerTensorSpecs(cfg: Config): TensorSpec[] {
  const where = 'transformer config';
  const normType = cfg.norm_type ?? 'ada_norm_single';
  if (normType !== 'ada_norm_single') throw new Error(`${where}: norm_type ${normType} is not PixArt's ada_norm_single`);
  const act = cfg.activation_fn ?? 'gelu-approximate';
  if (!['gelu', 'gelu-approximate', 'geglu', 'swiglu', 'linear-silu'].includes(act)) throw new Error(`${where}: activation_fn ${act} is not supported`);
  const ffProjRows = act === 'geglu' || act === 'swiglu' ? 2 : 1;  // GEGLU / SwiGLU project to 2x and chunk
  if (cfg.double_self_attention || cfg.only_cross_attention) throw new Error(`${where}: double_self_attention/only_cross_attention are not PixArt's`);
  const heads = int(cfg, 'num_attention_heads', where, 16);
  const headDim = int(cfg, 'attention_head_dim', where, 72);
  const D = heads * headDim;
  const inC = int(cfg, 'in_channels', where, 4);
  const outC = cfg.out_channels == null ? inC : int(cfg, 'out_channels', where);
  const layers = int(cfg, 'num_layers', where, 28);
  const p = int(cfg, 'patch_size', where, 2);
  const crossDim = cfg.cross_attention_dim === undefined ? 1152 : cfg.cross_attention_dim;
  const attnBias = flag(cfg, 'attention_bias', true);
  const affine = flag(cfg, 'norm_elementwise_affine', false);
  const captionChannels = cfg.caption_channels == null ? null : int(cfg, 'caption_channels', where);
  const { useAdditionalConditions } = derivedDiTSettings(cfg);

  const s = new SpecList();
  s.add('pos_embed.proj.weight', [D, inC, p, p], fanIn(1, inC * p * p));
  s.add('pos_embed.proj.bias', [D], BIAS);
  for (let i = 0; i < layers; i++) {
    const b = `transformer_blocks.${i}`;
    s.add(`${b}.scale_shift_table`, [6, D], { mean: 0, std: 0.3 });
    if (affine) s.norm(`${b}.norm1`, D);
    const attention = (prefix: string, kvDim: number) => {
      s.linear(`${prefix}.to_q`, D, D, attnBias);
      s.linear(`${prefix}.to_k`, kvDim, D, attnBias);
      s.linear(`${prefix}.to_v`, kvDim, D, attnBias);
      s.linear(`${prefix}.to_out.0`, D, D, true);
    };
    attention(`${b}.attn1`, D);
    if (crossDim != null) {
      if (affine) s.norm(`${b}.norm2`, D);
      attention(`${b}.attn2`, crossDim as number);
    } else if (affine) {
      s.norm(`${b}.norm2`, D);
    }
    s.linear(`${b}.ff.net.0.proj`, D, ffProjRows * 4 * D);
    s.linear(`${b}.ff.net.2`, 4 * D, D);
  }
  s.add('scale_shift_table', [2, D], { mean: 0, std: 0.3 });
  s.linear('proj_out', D, p * p * outC);
  // AdaLayerNormSingle -> PixArtAlphaCombinedTimestepSizeEmbeddings
  s.linear('adaln_single.emb.timestep_embedder.linear_1', 256, D);
  s.linear('adaln_single.emb.timestep_embedder.linear_2', D, D);
  if (useAdditionalConditions) {
    const S = Math.floor(D / 3);
    for (const e of ['resolution_embedder', 'aspect_ratio_embedder']) {
      s.linear(`adaln_single.emb.${e}.linear_1`, 256, S);
      s.linear(`adaln_single.emb.${e}.linear_2`, S, S);
    }
  }
  s.linear('adaln_single.linear', D, 6 * D, true, 0.5);
  if (captionChannels != null) {
    s.linear('caption_projection.linear_1', captionChannels, D);
    s.linear('caption_projection.linear_2', D, D);
  }
  return s.specs;
}

/** diffusers' AutoencoderKL state_dict (Encoder/Decoder of DownEncoderBlock2D/UpDecoderBlock2D). */
export function vaeTensorSpecs(cfg: Config): TensorSpec[] {
  const where = 'vae config';
  const ch: number[] = cfg.block_out_channels ?? [64];
  if (!Array.isArray(ch) || ch.length === 0 || ch.some((c) => !Number.isInteger(c) || c <= 0)) {
    throw new Error(`${where}: "block_out_channels" must be a list of positive integers`);
  }
  const n = ch.length;
  for (const [key, type] of [['down_block_types', 'DownEncoderBlock2D'], ['up_block_types', 'UpDecoderBlock2D']] as const) {
    const types = cfg[key] ?? Array(n).fill(type);
    if (!Array.isArray(types) || types.length !== n || types.some((t) => t !== type)) {
      throw new Error(`${where}: "${key}" must be ${n} × ${type}`);
    }
  }
  const inC = int(cfg, 'in_channels', where, 3);
  const outC = int(cfg, 'out_channels', where, 3);
  const L = int(cfg, 'latent_channels', where, 4);
  const lpb = int(cfg, 'layers_per_block', where, 1);
  const midAttention = flag(cfg, 'mid_block_add_attention', true);

  const s = new SpecList();
  const resnet = (prefix: string, cin: number, cout: number) => {
    s.norm(`${prefix}.norm1`, cin);
    s.conv(`${prefix}.conv1`, cin, cout, 3);
    s.norm(`${prefix}.norm2`, cout);
    s.conv(`${prefix}.conv2`, cout, cout, 3);
    if (cin !== cout) s.conv(`${prefix}.conv_shortcut`, cin, cout, 1);
  };
  const mid = (prefix: string, c: number) => {
    if (midAttention) {
      const a = `${prefix}.attentions.0`;
      s.norm(`${a}.group_norm`, c);
      for (const proj of ['to_q', 'to_k', 'to_v', 'to_out.0']) s.linear(`${a}.${proj}`, c, c);
    }
    resnet(`${prefix}.resnets.0`, c, c);
    resnet(`${prefix}.resnets.1`, c, c);
  };

  // Encoder
  s.conv('encoder.conv_in', inC, ch[0], 3);
  let prev = ch[0];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < lpb; j++) resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? prev : ch[i], ch[i]);
    if (i < n - 1) s.conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, ch[i], ch[i], 3);
    prev = ch[i];
  }
  mid('encoder.mid_block', ch[n - 1]);
  s.norm('encoder.conv_norm_out', ch[n - 1]);
  s.conv('encoder.conv_out', ch[n - 1], 2 * L, 3);

  // Decoder
  const rev = [...ch].reverse();
  s.conv('decoder.conv_in', L, rev[0], 3);
  mid('decoder.mid_block', rev[0]);
  prev = rev[0];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= lpb; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : rev[i], rev[i]);
    if (i < n - 1) s.conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, rev[i], rev[i], 3);
    prev = rev[i];
  }
  s.norm('decoder.conv_norm_out', ch[0]);
  s.conv('decoder.conv_out', ch[0], outC, 3);

  if (flag(cfg, 'use_quant_conv', true)) s.conv('quant_conv', 2 * L, 2 * L, 1);
  if (flag(cfg, 'use_post_quant_conv', true)) s.conv('post_quant_conv', L, L, 1);
  return s.specs;
}

/**
 * transformers' T5EncoderModel weights. The input embedding is stored once, as `shared.weight`
 * (encoder.embed_tokens is tied to it, and transformers saves only one of the pair).
 */
export function t5TensorSpecs(cfg: Config): TensorSpec[] {
  const where = 'text_encoder config';
  const d = int(cfg, 'd_model', where);
  const dkv = int(cfg, 'd_kv', where, 64);
  const heads = int(cfg, 'num_heads', where);
  const dff = int(cfg, 'd_ff', where);
  const layers = int(cfg, 'num_layers', where);
  const vocab = int(cfg, 'vocab_size', where);
  const buckets = int(cfg, 'relative_attention_num_buckets', where, 32);
  const proj: string = cfg.feed_forward_proj ?? 'relu';
  const gated = cfg.is_gated_act ?? proj.startsWith('gated-');
  const inner = heads * dkv;

  const s = new SpecList();
  s.add('shared.weight', [vocab, d], { mean: 0, std: 1 });
  for (let i = 0; i < layers; i++) {
    const a = `encoder.block.${i}.layer.0.SelfAttention`;
    // transformers' T5 init scales (no 1/sqrt(d) in T5 attention, so q is scaled by d_kv^-1/2)
    s.add(`${a}.q.weight`, [inner, d], fanIn(1, d * dkv));
    s.add(`${a}.k.weight`, [inner, d], fanIn(1, d));
    s.add(`${a}.v.weight`, [inner, d], fanIn(1, d));
    s.add(`${a}.o.weight`, [d, inner], fanIn(1, inner));
    if (i === 0) s.add(`${a}.relative_attention_bias.weight`, [buckets, heads], { mean: 0, std: 0.2 });
    s.norm(`encoder.block.${i}.layer.0.layer_norm`, d, false);
    const f = `encoder.block.${i}.layer.1.DenseReluDense`;
    if (gated) {
      s.add(`${f}.wi_0.weight`, [dff, d], fanIn(1, d));
      s.add(`${f}.wi_1.weight`, [dff, d], fanIn(1, d));
    } else {
      s.add(`${f}.wi.weight`, [dff, d], fanIn(1, d));
    }
    s.add(`${f}.wo.weight`, [d, dff], fanIn(1, dff));
    s.norm(`encoder.block.${i}.layer.1.layer_norm`, d, false);
  }
  s.norm('encoder.final_layer_norm', d, false);
  return s.specs;
}

// ---------------------------------------------------------------------------------------------
// Random values
// ---------------------------------------------------------------------------------------------

function fnv1a(text: string, h = 0x811c9dc5): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

const QUANTILE_BITS = 16;
/** Φ⁻¹ at (i + 0.5) / 2^16, i = 0..2^16-1, plus one end point: interpolated between cells. */
let quantileTable: Float64Array | undefined;
function quantiles(): Float64Array {
  if (!quantileTable) {
    const n = 1 << QUANTILE_BITS;
    quantileTable = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) quantileTable[i] = normalQuantile((i + 0.5) / n);
    quantileTable[n] = quantileTable[n - 1];
  }
  return quantileTable;
}

/**
 * xoshiro128** seeded from (seed, tensor name), turned into N(mean, std²) by inverse-CDF
 * lookup: the top 16 bits of each draw pick a cell of a Φ⁻¹ table, the low 16 bits
 * interpolate inside it (tails clipped at ±4.2σ, fine for random weights and ~20× faster than
 * Box-Muller in V8).
 */
export class NormalStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number, name: string) {
    const sm = splitmix32(fnv1a(name, fnv1a(String(seed >>> 0))));
    this.s0 = sm() | 0;
    this.s1 = sm() | 0;
    this.s2 = sm() | 0;
    this.s3 = sm() | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  fill(out: Float32Array, n: number, mean: number, std: number): void {
    const T = quantiles();
    const shift = 32 - QUANTILE_BITS;
    const mask = (1 << shift) - 1;
    const scale = 1 / (1 << shift);
    let a = this.s0, b = this.s1, c = this.s2, d = this.s3;
    for (let i = 0; i < n; i++) {
      const b5 = Math.imul(b, 5);
      const r = Math.imul((b5 << 7) | (b5 >>> 25), 9) >>> 0;
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
      const k = r >>> shift;
      const lo = T[k];
      out[i] = mean + std * (lo + (T[k + 1] - lo) * (r & mask) * scale);
    }
    this.s0 = a;
    this.s1 = b;
    this.s2 = c;
    this.s3 = d;
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary32 -> binary16, round to nearest even. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // may carry into the exponent: correct
  return sign | h;
}

// ---------------------------------------------------------------------------------------------
// safetensors writing
// ---------------------------------------------------------------------------------------------

const CHUNK_ELEMENTS = 1 << 20;

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function bytesPer(dtype: WeightDType): number {
  return dtype === 'float16' ? 2 : 4;
}

/** The safetensors header for these tensors laid out in order; its length is padded to 8 bytes. */
export function safetensorsHeader(specs: TensorSpec[], dtype: WeightDType): Buffer {
  const st = dtype === 'float16' ? 'F16' : 'F32';
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of specs) {
    const bytes = elementCount(t.shape) * bytesPer(dtype);
    header[t.name] = { dtype: st, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const body = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + body.length);
  out.writeBigUInt64LE(BigInt(body.length), 0);
  body.copy(out, 8);
  return out;
}

async function atomicWrite(path: string, write: (fh: import('node:fs/promises').FileHandle) => Promise<void>): Promise<number> {
  const tmp = join(path, '..', `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  const fh = await open(tmp, 'w');
  try {
    await write(fh);
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
  await rename(tmp, path);
  return (await stat(path)).size;
}

async function writeFileAtomic(path: string, data: string | Buffer): Promise<number> {
  return atomicWrite(path, async (fh) => {
    await fh.writeFile(data);
  });
}

/** Streams one safetensors file of random tensors to `path` (temp name, then rename). */
export async function writeRandomSafetensors(path: string, specs: TensorSpec[], dtype: WeightDType, seed: number): Promise<number> {
  return atomicWrite(path, async (fh) => {
    await fh.write(safetensorsHeader(specs, dtype));
    const values = new Float32Array(CHUNK_ELEMENTS);
    const half = dtype === 'float16' ? new Uint16Array(CHUNK_ELEMENTS) : null;
    for (const t of specs) {
      const rng = new NormalStream(seed, t.name);
      let left = elementCount(t.shape);
      while (left > 0) {
        const n = Math.min(left, CHUNK_ELEMENTS);
        rng.fill(values, n, t.init.mean, t.init.std);
        if (half) {
          for (let i = 0; i < n; i++) half[i] = floatToHalf(values[i]);
          await fh.write(new Uint8Array(half.buffer, 0, n * 2));
        } else {
          await fh.write(new Uint8Array(values.buffer, 0, n * 4));
        }
        left -= n;
      }
    }
  });
}

/** Greedy sharding in order, like transformers' split: a tensor larger than the limit gets its own shard. */
export function shardSpecs(specs: TensorSpec[], dtype: WeightDType, maxShardBytes: number): TensorSpec[][] {
  const shards: TensorSpec[][] = [];
  let current: TensorSpec[] = [];
  let size = 0;
  for (const t of specs) {
    const bytes = elementCount(t.shape) * bytesPer(dtype);
    if (current.length > 0 && size + bytes > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(t);
    size += bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

// ---------------------------------------------------------------------------------------------
// The model folder
// ---------------------------------------------------------------------------------------------

/** A config as read, plus which top-level keys held floats (Python writes 1.0, JSON.stringify 1). */
interface ConfigFile {
  values: Config;
  floatKeys: Set<string>;
}

async function readConfigFile(path: string): Promise<ConfigFile> {
  const text = await readFile(path, 'utf8');
  const floatKeys = new Set<string>();
  for (const m of text.matchAll(/"([^"\\]+)"\s*:\s*-?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)\s*[,}\n]/g)) floatKeys.add(m[1]);
  return { values: JSON5.parse(text) as Config, floatKeys };
}

/**
 * JSON the way the Python writers leave it: floats keep a decimal point (transformers 5's
 * strict config classes reject 1 for a float field), non-finite numbers stay JSON5 tokens
 * (-Infinity, as real scheduler configs have).
 */
export function configJson(values: Config, floatKeys: ReadonlySet<string> = new Set()): string {
  const json = JSON.stringify(
    values,
    function (this: unknown, key: string, v: unknown) {
      if (typeof v !== 'number') return v;
      if (!Number.isFinite(v)) return `__number__${v}`;
      if (this === values && floatKeys.has(key) && Number.isInteger(v)) return `__number__${v}.0`;
      return v;
    },
    2,
  );
  return json.replace(/"__number__([^"]+)"/g, '$1') + '\n';
}

export async function writeRandomModel(options: WriteRandomModelOptions): Promise<WriteRandomModelResult> {
  const { configDir, outDir } = options;
  const components = options.components ?? [...MODEL_COMPONENTS];
  for (const c of components) if (!MODEL_COMPONENTS.includes(c)) throw new Error(`unknown component ${JSON.stringify(c)}`);
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`dtype must be float32 or float16, got ${JSON.stringify(dtype)}`);
  const seed = options.seed ?? 0;
  const maxShardBytes = options.maxShardBytes ?? 2e9;
  if (options.t5Layers !== undefined && (!Number.isInteger(options.t5Layers) || options.t5Layers <= 0)) {
    throw new Error(`t5Layers must be a positive integer, got ${options.t5Layers}`);
  }

  const files: WrittenFile[] = [];
  const parameters: WriteRandomModelResult['parameters'] = {};
  const note = (path: string, bytes: number) => {
    files.push({ path, bytes });
    options.onFile?.(path, bytes);
  };
  await mkdir(outDir, { recursive: true });

  const index = join(configDir, 'model_index.json');
  note(join(outDir, 'model_index.json'), await writeFileAtomic(join(outDir, 'model_index.json'), await readFile(index)));

  const config = async (component: ModelComponent, file: string): Promise<ConfigFile> => {
    const src = await readConfigFile(join(configDir, component, file));
    const values = { ...src.values, ...(options.overrides?.[component] ?? {}) };
    if (component === 'text_encoder' && options.t5Layers !== undefined) values.num_layers = options.t5Layers;
    if (component === 'text_encoder' && 'torch_dtype' in values) values.torch_dtype = dtype;
    return { values, floatKeys: src.floatKeys };
  };

  for (const component of components) {
    const dir = join(outDir, component);
    await mkdir(dir, { recursive: true });
    if (component === 'tokenizer') {
      for (const entry of await readdir(join(configDir, 'tokenizer'), { withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const dst = join(dir, entry.name);
        const overrides = options.overrides?.tokenizer;
        if (entry.name === 'tokenizer_config.json' && overrides) {
          const src = await readConfigFile(join(configDir, 'tokenizer', entry.name));
          note(dst, await writeFileAtomic(dst, configJson({ ...src.values, ...overrides }, src.floatKeys)));
        } else {
          const tmp = join(dir, `.${entry.name}.tmp-${process.pid}`);
          await copyFile(join(configDir, 'tokenizer', entry.name), tmp);
          await rename(tmp, dst);
          note(dst, (await stat(dst)).size);
        }
      }
      continue;
    }
    if (component === 'scheduler') {
      const dst = join(dir, 'scheduler_config.json');
      const cfg = await config('scheduler', 'scheduler_config.json');
      note(dst, await writeFileAtomic(dst, configJson(cfg.values, cfg.floatKeys)));
      continue;
    }

    const file = await config(component, 'config.json');
    const cfg = file.values;
    const specs =
      component === 'transformer' ? transformerTensorSpecs(cfg) : component === 'vae' ? vaeTensorSpecs(cfg) : t5TensorSpecs(cfg);
    parameters[component] = specs.reduce((a, t) => a + elementCount(t.shape), 0);

    if (component === 'text_encoder') {
      const shards = shardSpecs(specs, dtype, maxShardBytes);
      if (shards.length === 1) {
        const p = join(dir, 'model.safetensors');
        note(p, await writeRandomSafetensors(p, specs, dtype, seed));
      } else {
        const pad = (k: number) => String(k).padStart(5, '0');
        const weightMap: Record<string, string> = {};
        for (let k = 0; k < shards.length; k++) {
          const name = `model-${pad(k + 1)}-of-${pad(shards.length)}.safetensors`;
          const p = join(dir, name);
          note(p, await writeRandomSafetensors(p, shards[k], dtype, seed));
          for (const t of shards[k]) weightMap[t.name] = name;
        }
        const total = specs.reduce((a, t) => a + elementCount(t.shape) * bytesPer(dtype), 0);
        const p = join(dir, 'model.safetensors.index.json');
        note(p, await writeFileAtomic(p, configJson({ metadata: { total_size: total }, weight_map: weightMap })));
      }
    } else {
      const p = join(dir, 'diffusion_pytorch_model.safetensors');
      note(p, await writeRandomSafetensors(p, specs, dtype, seed));
    }
    // config last: a folder with a config has its weights
    const cp = join(dir, 'config.json');
    note(cp, await writeFileAtomic(cp, configJson(cfg, file.floatKeys)));
  }
  return { outDir, files, parameters };
}

// `node dist/tools/randomModel.js ...` runs the CLI.
// (no top-level await: the CLI module imports this one, which must finish evaluating first)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void import('./randomModelCli.js').then(async ({ main }) => {
    process.exitCode = await main(process.argv.slice(2));
  });
}
