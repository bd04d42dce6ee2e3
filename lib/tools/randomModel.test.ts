import { mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import JSON5 from 'json5';
import { floatToHalf, writeRandomModel, type WriteRandomModelResult } from './randomModel.js';

const CONFIGS = fileURLToPath(new URL('../../test/fixtures/configs/', import.meta.url));
const CFG256 = join(CONFIGS, 'PixArt-XL-2-256x256');
const CFG1024 = join(CONFIGS, 'PixArt-XL-2-1024-MS');

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Reads only the header of a safetensors file, and checks its layout. */
function header(path: string): { tensors: Map<string, Entry>; dataStart: number } {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 8);
    const json = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
    expect(json.__metadata__).toEqual({ format: 'pt' });
    const tensors = new Map<string, Entry>();
    for (const [k, v] of Object.entries(json)) if (k !== '__metadata__') tensors.set(k, v as Entry);
    // offsets tile the data section exactly, as safetensors requires
    const ranges = [...tensors.values()].map((e) => e.data_offsets).sort((a, b) => a[0] - b[0]);
    let at = 0;
    for (const [b, e] of ranges) {
      expect(b).toBe(at);
      at = e;
    }
    expect(statSync(path).size).toBe(8 + n + at);
    return { tensors, dataStart: 8 + n };
  } finally {
    closeSync(fd);
  }
}

function readF32(path: string, dataStart: number, e: Entry): Float32Array {
  const bytes = e.data_offsets[1] - e.data_offsets[0];
  const buf = Buffer.alloc(bytes);
  const fd = openSync(path, 'r');
  readSync(fd, buf, 0, bytes, dataStart + e.data_offsets[0]);
  closeSync(fd);
  return new Float32Array(buf.buffer, buf.byteOffset, bytes / 4);
}

function stats(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0, q = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const mean = s / a.length;
  for (let i = 0; i < a.length; i++) q += (a[i] - mean) ** 2;
  return { mean, std: Math.sqrt(q / a.length) };
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

describe('writeRandomModel (256x256 config: VAE + a 2-layer transformer)', () => {
  let out: string;
  let result: WriteRandomModelResult;
  const LAYERS = 2;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), 'pixart-random-'));
    result = await writeRandomModel({
      configDir: CFG256,
      outDir: out,
      components: ['transformer', 'vae', 'scheduler', 'tokenizer'],
      overrides: { transformer: { num_layers: LAYERS } },
      seed: 7,
    });
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes the diffusers folder layout and no temporary files', () => {
    expect(readdirSync(out).sort()).toEqual(['model_index.json', 'scheduler', 'tokenizer', 'transformer', 'vae']);
    expect(readdirSync(join(out, 'transformer')).sort()).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
    expect(readdirSync(join(out, 'vae')).sort()).toEqual(['config.json', 'diffusion_pytorch_model.safetensors']);
    expect(readdirSync(join(out, 'tokenizer')).sort()).toEqual(readdirSync(join(CFG256, 'tokenizer')).sort());
    expect(readFileSync(join(out, 'model_index.json'), 'utf8')).toBe(readFileSync(join(CFG256, 'model_index.json'), 'utf8'));
    expect(result.files.every((f) => statSync(f.path).size === f.bytes)).toBe(true);
  });

  it('keeps the real configs (legacy keys, floats, -Infinity) with the overrides applied', () => {
    const src = JSON5.parse(readFileSync(join(CFG256, 'transformer', 'config.json'), 'utf8'));
    const text = readFileSync(join(out, 'transformer', 'config.json'), 'utf8');
    expect(JSON.parse(text)).toEqual({ ...src, num_layers: LAYERS });
    expect(text).toContain('"dropout": 0.0');
    expect(JSON.parse(readFileSync(join(out, 'vae', 'config.json'), 'utf8'))).toEqual(
      JSON5.parse(readFileSync(join(CFG256, 'vae', 'config.json'), 'utf8')),
    );
    const sched = readFileSync(join(out, 'scheduler', 'scheduler_config.json'), 'utf8');
    expect(sched).toContain('"lambda_min_clipped": -Infinity');
    expect(JSON5.parse(sched)).toEqual(JSON5.parse(readFileSync(join(CFG256, 'scheduler', 'scheduler_config.json'), 'utf8')));
  });

  it('transformer tensors are what PixArtTransformer2DModel has for this config', () => {
    const cfg = JSON5.parse(readFileSync(join(CFG256, 'transformer', 'config.json'), 'utf8'));
    const D = cfg.num_attention_heads * cfg.attention_head_dim; // 16 * 72
    expect(D).toBe(1152);
    const p = cfg.patch_size;
    const expected = new Map<string, number[]>([
      ['pos_embed.proj.weight', [D, cfg.in_channels, p, p]],
      ['pos_embed.proj.bias', [D]],
      ['scale_shift_table', [2, D]],
      ['proj_out.weight', [p * p * cfg.out_channels, D]],
      ['proj_out.bias', [p * p * cfg.out_channels]],
      ['adaln_single.emb.timestep_embedder.linear_1.weight', [D, 256]],
      ['adaln_single.emb.timestep_embedder.linear_1.bias', [D]],
      ['adaln_single.emb.timestep_embedder.linear_2.weight', [D, D]],
      ['adaln_single.emb.timestep_embedder.linear_2.bias', [D]],
      ['adaln_single.linear.weight', [6 * D, D]],
      ['adaln_single.linear.bias', [6 * D]],
      ['caption_projection.linear_1.weight', [D, cfg.caption_channels]],
      ['caption_projection.linear_1.bias', [D]],
      ['caption_projection.linear_2.weight', [D, D]],
      ['caption_projection.linear_2.bias', [D]],
    ]);
    // sample_size 32: no resolution / aspect-ratio embedders (use_additional_conditions = sample_size == 128)
    for (let i = 0; i < LAYERS; i++) {
      const b = `transformer_blocks.${i}.`;
      expected.set(`${b}scale_shift_table`, [6, D]);
      for (const a of ['attn1', 'attn2']) {
        const kv = a === 'attn1' ? D : cfg.cross_attention_dim;
        for (const [proj, inF] of [['to_q', D], ['to_k', kv], ['to_v', kv], ['to_out.0', D]] as const) {
          expected.set(`${b}${a}.${proj}.weight`, [D, inF]);
          expected.set(`${b}${a}.${proj}.bias`, [D]);
        }
      }
      expected.set(`${b}ff.net.0.proj.weight`, [4 * D, D]);
      expected.set(`${b}ff.net.0.proj.bias`, [4 * D]);
      expected.set(`${b}ff.net.2.weight`, [D, 4 * D]);
      expected.set(`${b}ff.net.2.bias`, [D]);
    }
    const path = join(out, 'transformer', 'diffusion_pytorch_model.safetensors');
    const { tensors, dataStart } = header(path);
    expect(new Set(tensors.keys())).toEqual(new Set(expected.keys()));
    for (const [k, shape] of expected) expect(tensors.get(k)!.shape, k).toEqual(shape);
    expect([...tensors.values()].every((e) => e.dtype === 'F32')).toBe(true);
    const blocks = new Set([...tensors.keys()].map((k) => /^transformer_blocks\.(\d+)\./.exec(k)?.[1]).filter(Boolean));
    expect(blocks.size).toBe(LAYERS);
    // 1 + 2*(4 + 4) + ... : 21M parameters per block at D = 1152 (PixArt-XL)
    const perBlock = [...tensors].filter(([k]) => k.startsWith('transformer_blocks.0.')).reduce((a, [, e]) => a + numel(e.shape), 0);
    expect(perBlock).toBe(6 * D + 4 * (D * D + D) + 2 * (D * D + D) + 2 * (D * cfg.cross_attention_dim + D) + 2 * 4 * D * D + 4 * D + D);
    expect(result.parameters.transformer).toBe([...tensors.values()].reduce((a, e) => a + numel(e.shape), 0));

    // values: N(0, 1/fan_in) weights, small tables
    const w = stats(readF32(path, dataStart, tensors.get('transformer_blocks.1.ff.net.2.weight')!));
    expect(Math.abs(w.mean)).toBeLessThan(1e-3);
    expect(w.std).toBeCloseTo(1 / Math.sqrt(4 * D), 3);
    const sst = stats(readF32(path, dataStart, tensors.get('transformer_blocks.0.scale_shift_table')!));
    expect(sst.std).toBeGreaterThan(0.2);
    expect(sst.std).toBeLessThan(0.4);
  });

  it('VAE tensors are what AutoencoderKL has for this config', () => {
    const cfg = JSON5.parse(readFileSync(join(CFG256, 'vae', 'config.json'), 'utf8'));
    const ch: number[] = cfg.block_out_channels; // [128, 256, 512, 512]
    const L = cfg.latent_channels;
    const expected = new Map<string, number[]>();
    const conv = (k: string, o: number, i: number, s: number) => {
      expected.set(`${k}.weight`, [o, i, s, s]);
      expected.set(`${k}.bias`, [o]);
    };
    const gn = (k: string, c: number) => {
      expected.set(`${k}.weight`, [c]);
      expected.set(`${k}.bias`, [c]);
    };
    const res = (k: string, i: number, o: number) => {
      gn(`${k}.norm1`, i);
      conv(`${k}.conv1`, o, i, 3);
      gn(`${k}.norm2`, o);
      conv(`${k}.conv2`, o, o, 3);
      if (i !== o) conv(`${k}.conv_shortcut`, o, i, 1);
    };
    const mid = (k: string, c: number) => {
      gn(`${k}.attentions.0.group_norm`, c);
      for (const q of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
        expected.set(`${k}.attentions.0.${q}.weight`, [c, c]);
        expected.set(`${k}.attentions.0.${q}.bias`, [c]);
      }
      res(`${k}.resnets.0`, c, c);
      res(`${k}.resnets.1`, c, c);
    };
    conv('encoder.conv_in', ch[0], cfg.in_channels, 3);
    ch.forEach((c, i) => {
      const prev = i === 0 ? ch[0] : ch[i - 1];
      for (let j = 0; j < cfg.layers_per_block; j++) res(`encoder.down_blocks.${i}.resnets.${j}`, j ? c : prev, c);
      if (i < ch.length - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, c, c, 3);
    });
    mid('encoder.mid_block', 512);
    gn('encoder.conv_norm_out', 512);
    conv('encoder.conv_out', 2 * L, 512, 3);
    conv('quant_conv', 2 * L, 2 * L, 1);
    conv('post_quant_conv', L, L, 1);
    conv('decoder.conv_in', 512, L, 3);
    mid('decoder.mid_block', 512);
    const up = [512, 512, 256, 128];
    up.forEach((c, i) => {
      const prev = i === 0 ? 512 : up[i - 1];
      for (let j = 0; j < cfg.layers_per_block + 1; j++) res(`decoder.up_blocks.${i}.resnets.${j}`, j ? c : prev, c);
      if (i < up.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, c, c, 3);
    });
    gn('decoder.conv_norm_out', 128);
    conv('decoder.conv_out', cfg.out_channels, 128, 3);

    const path = join(out, 'vae', 'diffusion_pytorch_model.safetensors');
    const { tensors, dataStart } = header(path);
    expect(new Set(tensors.keys())).toEqual(new Set(expected.keys()));
    for (const [k, shape] of expected) expect(tensors.get(k)!.shape, k).toEqual(shape);
    // the well-known parameter count of the SD / PixArt VAE
    expect([...tensors.values()].reduce((a, e) => a + numel(e.shape), 0)).toBe(83_653_863);

    const norm = stats(readF32(path, dataStart, tensors.get('decoder.up_blocks.3.resnets.2.norm1.weight')!));
    expect(norm.mean).toBeGreaterThan(0.95);
    expect(norm.mean).toBeLessThan(1.05);
    const w = stats(readF32(path, dataStart, tensors.get('decoder.up_blocks.1.resnets.0.conv1.weight')!));
    expect(w.std).toBeCloseTo(1 / Math.sqrt(512 * 9), 3);
  });
});

describe('writeRandomModel (small variants)', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'pixart-random-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('shards the text encoder with an index, and t5Layers sets num_layers', async () => {
    const dir = join(out, 't5');
    await writeRandomModel({
      configDir: CFG1024,
      outDir: dir,
      components: ['text_encoder'],
      t5Layers: 3,
      overrides: { text_encoder: { d_model: 32, d_ff: 80, num_heads: 4, d_kv: 8, vocab_size: 500 } },
      maxShardBytes: 64_000,
    });
    const cfg = JSON.parse(readFileSync(join(dir, 'text_encoder', 'config.json'), 'utf8'));
    expect(cfg.num_layers).toBe(3);
    expect(readFileSync(join(dir, 'text_encoder', 'config.json'), 'utf8')).toContain('"initializer_factor": 1.0');
    const index = JSON.parse(readFileSync(join(dir, 'text_encoder', 'model.safetensors.index.json'), 'utf8'));
    const files = [...new Set(Object.values(index.weight_map as Record<string, string>))].sort();
    expect(files.length).toBeGreaterThan(1);
    files.forEach((f, i) => expect(f).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(files.length).padStart(5, '0')}.safetensors`));
    const seen = new Map<string, number[]>();
    let total = 0;
    for (const f of files) {
      for (const [k, e] of header(join(dir, 'text_encoder', f)).tensors) {
        expect(index.weight_map[k]).toBe(f);
        seen.set(k, e.shape);
        total += e.data_offsets[1] - e.data_offsets[0];
      }
    }
    expect(index.metadata.total_size).toBe(total);
    const expected = new Map<string, number[]>([['shared.weight', [500, 32]], ['encoder.final_layer_norm.weight', [32]]]);
    for (let i = 0; i < 3; i++) {
      const a = `encoder.block.${i}.layer.0.`;
      for (const q of ['q', 'k', 'v']) expected.set(`${a}SelfAttention.${q}.weight`, [32, 32]);
      expected.set(`${a}SelfAttention.o.weight`, [32, 32]);
      if (i === 0) expected.set(`${a}SelfAttention.relative_attention_bias.weight`, [cfg.relative_attention_num_buckets, 4]);
      expected.set(`${a}layer_norm.weight`, [32]);
      const f = `encoder.block.${i}.layer.1.`;
      expected.set(`${f}DenseReluDense.wi_0.weight`, [80, 32]);
      expected.set(`${f}DenseReluDense.wi_1.weight`, [80, 32]);
      expected.set(`${f}DenseReluDense.wo.weight`, [32, 80]);
      expected.set(`${f}layer_norm.weight`, [32]);
    }
    expect(seen).toEqual(expected);
  });

  it('writes float16, deterministic per (seed, tensor name), with 1024-MS size embedders', async () => {
    const small = { num_layers: 1, num_attention_heads: 2, attention_head_dim: 24, cross_attention_dim: 48, caption_channels: 40 };
    const write = (sub: string, overrides: Record<string, unknown>, seed: number) =>
      writeRandomModel({ configDir: CFG1024, outDir: join(out, sub), components: ['transformer'], dtype: 'float16', seed, overrides: { transformer: overrides } });
    await write('a', small, 1);
    await write('b', { ...small, num_layers: 2 }, 1);
    await write('c', small, 2);
    const read = (sub: string) => {
      const path = join(out, sub, 'transformer', 'diffusion_pytorch_model.safetensors');
      const h = header(path);
      const buf = readFileSync(path);
      return { h, get: (k: string) => { const e = h.tensors.get(k)!; return buf.subarray(h.dataStart + e.data_offsets[0], h.dataStart + e.data_offsets[1]); } };
    };
    const a = read('a'), b = read('b'), c = read('c');
    expect([...a.h.tensors.values()].every((e) => e.dtype === 'F16')).toBe(true);
    // sample_size 128: resolution and aspect-ratio embedders of width D / 3
    expect(a.h.tensors.get('adaln_single.emb.resolution_embedder.linear_1.weight')!.shape).toEqual([16, 256]);
    expect(a.h.tensors.get('adaln_single.emb.aspect_ratio_embedder.linear_2.weight')!.shape).toEqual([16, 16]);
    expect(a.h.tensors.get('transformer_blocks.0.attn2.to_k.weight')!.shape).toEqual([48, 48]);
    expect(a.h.tensors.get('caption_projection.linear_1.weight')!.shape).toEqual([48, 40]);
    expect(a.h.tensors.has('transformer_blocks.1.scale_shift_table')).toBe(false);
    expect(b.h.tensors.has('transformer_blocks.1.scale_shift_table')).toBe(true);
    expect(a.get('proj_out.weight').equals(b.get('proj_out.weight'))).toBe(true);
    expect(a.get('proj_out.weight').equals(c.get('proj_out.weight'))).toBe(false);
  });

  it('floatToHalf rounds like IEEE binary16', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(2 ** -24)).toBe(0x0001);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(0.1)).toBe(0x2e66);
  });

  it('rejects configs it cannot describe', async () => {
    await expect(
      writeRandomModel({ configDir: CFG256, outDir: join(out, 'bad'), components: ['transformer'], overrides: { transformer: { norm_type: 'layer_norm' } } }),
    ).rejects.toThrow(/ada_norm_single/);
  });
});
