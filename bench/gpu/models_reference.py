#!/usr/bin/env python3
"""T5 and VAE side of the GPU benchmark (bench/gpu/run.sh drives it on a GPU machine).

Makes a random full-size T5-XXL encoder (transformers, bf16-representable weights saved as
bf16) and a random full-size VAE (diffusers AutoencoderKL, fp32) from the real configs, writes
inputs and fp32 references (GPU, TF32 off) that pixart_cuda_bench compares against, and times
diffusers' whole PixArtAlphaPipeline (fp16, SDPA) at 1024x1024, 20 steps, batch 1 and 4, with
the transformer dit_reference.py saved:

  python3 bench/gpu/models_reference.py --configs <PixArt-XL-2-1024-MS configs> --tokenizer <dir> \\
      --work <dir> [--sections t5,vae,pipeline] [--device cuda]
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

from gpu_common import DevicePeak, log, peak, reset_peak, times_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--configs', required=True)
    ap.add_argument('--tokenizer', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--sections', default='t5,vae,pipeline')
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--t5-layers', type=int, default=0, help='0: the config\'s; else fewer (dry runs)')
    args = ap.parse_args()
    sections = set(args.sections.split(','))
    dev = torch.device(args.device)
    on_gpu = dev.type == 'cuda'
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    g = torch.Generator().manual_seed(11)

    if 't5' in sections:
        from transformers import T5Config, T5EncoderModel
        out = os.path.join(args.work, 'text_encoder')
        inp = os.path.join(args.work, 't5_inputs')
        os.makedirs(inp, exist_ok=True)
        cfg = T5Config.from_pretrained(os.path.join(args.configs, 'text_encoder'))
        if args.t5_layers:
            cfg.num_layers = args.t5_layers
        t0 = time.perf_counter()
        torch.manual_seed(0)
        with torch.device(dev):
            model = T5EncoderModel(cfg)
        model = model.to(torch.bfloat16).eval()  # the saved weights; the reference runs them in fp32
        model.save_pretrained(out, safe_serialization=True, max_shard_size='50GB')
        log(section='t5', what='saved', ms=round((time.perf_counter() - t0) * 1e3),
            params=sum(p.numel() for p in model.parameters()))
        ids = torch.randint(5, 32000, (2, 120), generator=g, dtype=torch.int64)
        mask = torch.zeros(2, 120, dtype=torch.int64)
        mask[0, :1] = 1
        mask[1, :25] = 1
        ids[mask == 0] = 0
        ids.to(torch.int32).numpy().tofile(os.path.join(inp, 'ids.bin'))
        mask.to(torch.int32).numpy().tofile(os.path.join(inp, 'mask.bin'))
        model = model.float()
        with torch.no_grad():
            ref = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).last_hidden_state.float().cpu()
        ref.numpy().astype(np.float32).tofile(os.path.join(inp, 'ref.bin'))
        log(section='t5', what='reference', shape=list(ref.shape), absmax=float(ref.abs().max()),
            finite=bool(torch.isfinite(ref).all()))
        del model
        if on_gpu:
            torch.cuda.empty_cache()

    if 'vae' in sections:
        from diffusers import AutoencoderKL
        out = os.path.join(args.work, 'vae')
        inp = os.path.join(args.work, 'vae_inputs')
        os.makedirs(inp, exist_ok=True)
        with open(os.path.join(args.configs, 'vae', 'config.json')) as f:
            cfg = {k: v for k, v in json.load(f).items() if not k.startswith('_')}
        torch.manual_seed(0)
        vae = AutoencoderKL.from_config(cfg).to(dev).eval()
        vae.save_pretrained(out, safe_serialization=True)
        z = torch.randn(1, cfg.get('latent_channels', 4), 128, 128, generator=g)
        z.numpy().astype(np.float32).tofile(os.path.join(inp, 'latents.bin'))
        with torch.no_grad():
            t0 = time.perf_counter()
            img = vae.decode(z.to(dev)).sample.float().cpu()
        img.numpy().astype(np.float32).tofile(os.path.join(inp, 'ref.bin'))
        log(section='vae', what='reference', ms=round((time.perf_counter() - t0) * 1e3), shape=list(img.shape),
            absmax=float(img.abs().max()))
        if on_gpu:
            vae16 = vae.half()
            zz = z.to(dev, torch.float16)
            reset_peak(dev)
            with torch.no_grad():
                ts = times_ms(lambda: vae16.decode(zz), dev, warmup=1, reps=3)
            log(section='vae', what='diffusers decode 1024x1024 fp16', median_ms=round(statistics.median(ts), 1),
                peak_bytes=peak(dev))
        del vae

    if 'pipeline' in sections and on_gpu:
        from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, PixArtAlphaPipeline, PixArtTransformer2DModel
        from transformers import T5EncoderModel, T5Tokenizer
        dt = torch.float16
        torch.cuda.empty_cache()
        device_before_load = DevicePeak.used()  # the CUDA context and whatever the sections above left cached
        t0 = time.perf_counter()
        pipe = PixArtAlphaPipeline(
            tokenizer=T5Tokenizer.from_pretrained(args.tokenizer),
            text_encoder=T5EncoderModel.from_pretrained(os.path.join(args.work, 'text_encoder'), torch_dtype=dt),
            vae=AutoencoderKL.from_pretrained(os.path.join(args.work, 'vae'), torch_dtype=dt),
            transformer=PixArtTransformer2DModel.from_pretrained(os.path.join(args.work, 'transformer'), torch_dtype=dt),
            scheduler=DPMSolverMultistepScheduler.from_pretrained(os.path.join(args.configs, 'scheduler')),
        ).to(dev)
        pipe.set_progress_bar_config(disable=True)
        log(section='pipeline', what='diffusers load', ms=round((time.perf_counter() - t0) * 1e3))
        prompt = 'a small cactus with a happy face in the Sahara desert'
        for n in (1, 4):
            reset_peak(dev)
            seeds = iter(range(3))
            with DevicePeak() as dp:
                ts = times_ms(lambda: pipe(prompt, num_inference_steps=20, height=1024, width=1024, guidance_scale=4.5,
                                           num_images_per_prompt=n, output_type='np',
                                           generator=torch.Generator(dev).manual_seed(next(seeds))),
                              dev, warmup=0, reps=3)
            log(section='pipeline', what='diffusers PixArtAlphaPipeline 1024x1024 20 steps fp16 sdpa', batch=n,
                median_ms=round(statistics.median(ts[1:]), 1), first_ms=round(ts[0], 1), peak_bytes=peak(dev),
                peak_reserved_bytes=torch.cuda.max_memory_reserved(), device_peak_bytes=dp.peak,
                device_before_load_bytes=device_before_load)

if __name__ == '__main__':
    sys.exit(main())
