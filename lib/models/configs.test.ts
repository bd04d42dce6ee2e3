import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REAL_CONFIGS, TINY_MODEL } from '../../test/helpers/fixtures.js';
import { readConfig, readDiTConfig, readVAEConfig } from './configs.js';

describe('model configs', () => {
  it.each([
    ['PixArt-XL-2-1024-MS', 128, 2, true],
    ['PixArt-XL-2-512x512', 64, 1, false],
    ['PixArt-XL-2-256x256', 32, 1, false],
  ])('derives what legacy Transformer2DModel configs leave out (%s)', async (name, sampleSize, interp, extra) => {
    const c = await readDiTConfig(join(REAL_CONFIGS, name, 'transformer'));
    expect(c.raw._class_name).toBe('Transformer2DModel');
    expect(c.raw.interpolation_scale).toBeUndefined();
    expect([c.sampleSize, c.interpolationScale, c.useAdditionalConditions]).toEqual([sampleSize, interp, extra]);
    expect([c.numLayers, c.numAttentionHeads, c.attentionHeadDim, c.captionChannels, c.outChannels]).toEqual([28, 16, 72, 4096, 8]);
  });

  it('reads the real scheduler config with its bare -Infinity', async () => {
    const c = await readConfig(join(REAL_CONFIGS, 'PixArt-XL-2-1024-MS', 'scheduler', 'scheduler_config.json'));
    expect(c.lambda_min_clipped).toBe(-Infinity);
    const tiny = await readConfig(join(TINY_MODEL, 'scheduler', 'scheduler_config.json'));
    expect(tiny.lambda_min_clipped).toBe(-Infinity);
  });

  it('VAE scale factor comes from the number of blocks', async () => {
    const v = await readVAEConfig(join(REAL_CONFIGS, 'PixArt-XL-2-1024-MS', 'vae'));
    expect([v.scaleFactor, v.latentChannels, v.scalingFactor]).toEqual([8, 4, 0.18215]);
  });

  it('a broken config is a typed error naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pixart-cfg-'));
    try {
      writeFileSync(join(dir, 'config.json'), '{"sample_size": ');
      await expect(readDiTConfig(dir)).rejects.toMatchObject({ code: 'ERR_PIXART_MODEL_LOAD', message: expect.stringContaining(join(dir, 'config.json')) });
      writeFileSync(join(dir, 'config.json'), '{"sample_size": "big"}');
      await expect(readDiTConfig(dir)).rejects.toMatchObject({ code: 'ERR_PIXART_MODEL_LOAD', message: expect.stringContaining('sample_size') });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
