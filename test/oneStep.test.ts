// One inference step, as diffusers' PixArtAlphaPipeline runs it: the step's second output
// (pred_original_sample; LCM's denoised) becomes the latents (reference:
// test/fixtures/generated/make_one_step.py). Where diffusers fails with IndexError (solvers that
// return only prev_sample) the pipeline gives prev_sample. Both denoising loops.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../lib/engine/Engine.js';
import { readSafetensorsFile } from '../lib/io/safetensorsFile.js';
import { PixArtAlphaPipeline } from '../lib/pipeline/PixArtAlphaPipeline.js';
import type { GenerateOptions, HostTensor } from '../lib/pipeline/types.js';
import { SchedulerBase } from '../lib/schedulers/base.js';
import type { StepResult } from '../lib/schedulers/index.js';
import { expectClose, TINY_MODEL } from './helpers/fixtures.js';

const ref = readSafetensorsFile(join(TINY_MODEL, '..', 'generated', 'one_step.safetensors'));
const t = (name: string): HostTensor => ({ data: ref.get(name)!.data as Float32Array, shape: ref.get(name)!.shape });

let engine: Engine;
let pipe: PixArtAlphaPipeline;
beforeAll(async () => {
  engine = Engine.create({ threads: 2 });
  pipe = await PixArtAlphaPipeline.fromPretrained(TINY_MODEL, { engine, tokenizer: null, textEncoder: null });
});
afterAll(() => {
  pipe?.dispose();
  engine?.dispose();
});

const opts = (scheduler: string): GenerateOptions => ({
  promptEmbeds: t('prompt_embeds'), promptAttentionMask: t('prompt_attention_mask'),
  negativePromptEmbeds: t('negative_prompt_embeds'), negativePromptAttentionMask: t('negative_prompt_attention_mask'),
  numInferenceSteps: 1, guidanceScale: 4.5, height: 64, width: 64, useResolutionBinning: false, seed: 7,
  outputType: 'latent', scheduler,
});

describe('a single inference step keeps the step\'s second output, as diffusers does', () => {
  for (const name of ['DDIMScheduler', 'EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler', 'LCMScheduler', 'HeunDiscreteScheduler']) {
    it(name, async () => {
      for (const onEngine of [true, false]) {
        pipe.tensorsOnEngine = onEngine;
        const r = await pipe.generate(opts(name));
        expect(r.tensor!.shape).toEqual(ref.get(name)!.shape);
        expectClose(r.tensor!.data, ref.get(name)!.data as Float32Array, { atol: 1e-4, rtol: 1e-4, relToMax: true, label: `${name} (${onEngine ? 'engine' : 'host'} loop)` });
      }
      pipe.tensorsOnEngine = true;
    });
  }

  it('the latents are exactly the step\'s second output (or prev_sample where there is none)', async () => {
    const proto = SchedulerBase.prototype as unknown as { step: (...a: unknown[]) => StepResult };
    const orig = proto.step;
    let last: StepResult | undefined;
    proto.step = function (this: unknown, ...a: unknown[]) {
      last = orig.apply(this, a);
      return last;
    };
    try {
      pipe.tensorsOnEngine = false;  // host arrays: the step's own outputs are visible here
      for (const [name, pick] of [['DDIMScheduler', 'predOriginalSample'], ['LCMScheduler', 'denoised'],
        ['DPMSolverMultistepScheduler', 'prevSample']] as const) {
        const r = await pipe.generate(opts(name));
        expect(r.tensor!.data).toBe(last![pick]);  // that very array
        if (name === 'DDIMScheduler') expect(last!.predOriginalSample).not.toBe(last!.prevSample);
      }
    } finally {
      proto.step = orig;
      pipe.tensorsOnEngine = true;
    }
  });

  it('a solver that returns only prev_sample (diffusers: IndexError) gives prev_sample', async () => {
    const engineRun = await pipe.generate(opts('DPMSolverMultistepScheduler'));
    pipe.tensorsOnEngine = false;
    const hostRun = await pipe.generate(opts('DPMSolverMultistepScheduler'));
    pipe.tensorsOnEngine = true;
    expect(Array.from(engineRun.tensor!.data)).toEqual(Array.from(hostRun.tensor!.data));
    expect(engineRun.tensor!.data.every(Number.isFinite)).toBe(true);
  });
});
