#!/usr/bin/env python3
"""diffusers side of the GPU DiT benchmark (bench/gpu/run.sh drives it on a GPU machine).

Makes a random full-size PixArtTransformer2DModel from a real config (seeded, diffusers' own
initialisation), saves it as a diffusers folder that pixart_cuda_bench loads too, writes the
inputs and diffusers' fp32 outputs (TF32 off) for the correctness check, then times diffusers
in fp16 with SDPA on the same weights:

  python3 bench/gpu/dit_reference.py --config <transformer config.json> --scheduler <scheduler_config.json> \
      --work <dir> [--sections save,ref,bench,micro]

One JSON object per line on stdout. diffusers' source must be importable (PYTHONPATH).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from gpu_common import log, median_min_ms, peak, reset_peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', required=True)
    ap.add_argument('--scheduler', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--sections', default='save,ref,bench,micro')
    ap.add_argument('--seq', type=int, default=120)
    ap.add_argument('--device', default='cuda', help='cpu: a dry run of the script itself (fp32 timings)')
    args = ap.parse_args()
    sections = set(args.sections.split(','))
    from diffusers import DPMSolverMultistepScheduler, PixArtTransformer2DModel
    import diffusers

    dev = torch.device(args.device)
    on_gpu = dev.type == 'cuda'
    half = torch.float16 if on_gpu else torch.float32
    log(section='env', torch=torch.__version__, diffusers=diffusers.__version__,
        gpu=torch.cuda.get_device_name(0) if on_gpu else 'cpu', cuda=torch.version.cuda)
    model_dir = os.path.join(args.work, 'transformer')
    inputs = os.path.join(args.work, 'inputs')
    os.makedirs(inputs, exist_ok=True)

    with open(args.config) as f:
        cfg = json.load(f)
    cfg = {k: v for k, v in cfg.items() if not k.startswith('_')}
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = PixArtTransformer2DModel.from_config(cfg).to(dev).eval()
    if 'save' in sections:
        model.save_pretrained(model_dir, safe_serialization=True)
        log(section='save', ms=round((time.perf_counter() - t0) * 1e3), params=sum(p.numel() for p in model.parameters()))

    # Inputs: text rows 0 (unconditional: 1 real token) and 1 (conditional: 25 real tokens).
    L, C = args.seq, cfg.get('caption_channels') or cfg['cross_attention_dim']
    g = torch.Generator().manual_seed(1)
    text = torch.randn(2, L, C, generator=g) * 0.2
    mask = torch.zeros(2, L)
    mask[0, :1] = 1
    mask[1, :25] = 1
    cases = {'square': (128, 128), 'nonsquare': (96, 168)}
    lat = {k: torch.randn(1, cfg['in_channels'], h, w, generator=g) for k, (h, w) in cases.items()}
    timestep = 500.0
    text.numpy().astype(np.float32).tofile(os.path.join(inputs, 'text.bin'))
    mask.numpy().astype(np.float32).tofile(os.path.join(inputs, 'mask.bin'))
    for k, v in lat.items():
        v.numpy().astype(np.float32).tofile(os.path.join(inputs, f'latents_{k}.bin'))
    with open(os.path.join(inputs, 'meta.txt'), 'w') as f:
        f.write(f"{L} {timestep} {cases['square'][0]} {cases['square'][1]} {cases['nonsquare'][0]} {cases['nonsquare'][1]}\n")

    def call(m, latents, rows, dtype, t=timestep):
        B = latents.shape[0]
        h, w = latents.shape[2] * 8, latents.shape[3] * 8
        cond = {'resolution': torch.tensor([[h, w]] * B, device=dev, dtype=dtype),
                'aspect_ratio': torch.tensor([[h / w]] * B, device=dev, dtype=dtype)}
        return m(latents.to(dev, dtype), encoder_hidden_states=text[rows].to(dev, dtype),
                 encoder_attention_mask=mask[rows].to(dev, dtype), timestep=torch.full((B,), t, device=dev),
                 added_cond_kwargs=cond, return_dict=False)[0]

    if 'ref' in sections:
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 reference: no TF32
        torch.backends.cudnn.allow_tf32 = False
        with torch.no_grad():
            for k, v in lat.items():
                t0 = time.perf_counter()
                out = call(model, v, [1], torch.float32).float().cpu()
                out.numpy().astype(np.float32).tofile(os.path.join(inputs, f'ref_{k}.bin'))
                log(section='ref', case=k, ms=round((time.perf_counter() - t0) * 1e3, 1), shape=list(out.shape),
                    absmax=float(out.abs().max()))

    model = model.to(half)
    if 'bench' in sections:
        with torch.no_grad():
            for B in (2, 8):
                latents = lat['square'].repeat(B, 1, 1, 1)
                rows = [b % 2 for b in range(B)]
                reset_peak(dev)
                med, mn = median_min_ms(lambda: call(model, latents, rows, half), dev)
                log(section='bench', what='diffusers dit forward 1024x1024 fp16 sdpa', batch=B, median_ms=round(med, 2),
                    min_ms=round(mn, 2), peak_bytes=peak(dev))
            # 20 steps with CFG the way PixArtAlphaPipeline runs them (DPM-Solver++ 2M, learned sigma dropped).
            with open(args.scheduler) as f:
                sched = DPMSolverMultistepScheduler.from_config(json.load(f))
            emb = text.to(dev, half)
            msk = mask.to(dev, half)
            cond = {'resolution': torch.tensor([[1024., 1024.]] * 2, device=dev, dtype=half),
                    'aspect_ratio': torch.tensor([[1.]] * 2, device=dev, dtype=half)}

            def loop():
                sched.set_timesteps(20, device=dev)
                x = lat['square'].to(dev, half)
                for t in sched.timesteps:
                    xin = sched.scale_model_input(torch.cat([x] * 2), t)
                    eps = model(xin, encoder_hidden_states=emb, encoder_attention_mask=msk, timestep=t.expand(2),
                                added_cond_kwargs=cond, return_dict=False)[0]
                    u, c = eps.chunk(2)
                    eps = u + 4.5 * (c - u)
                    eps = eps.chunk(2, dim=1)[0]
                    x = sched.step(eps, t, x, return_dict=False)[0]
                return x

            reset_peak(dev)
            med, mn = median_min_ms(loop, dev, warmup=1, reps=3)
            log(section='bench', what='diffusers 20-step CFG loop 1024x1024 fp16 sdpa', median_ms=round(med, 1),
                min_ms=round(mn, 1), peak_bytes=peak(dev))

    if 'micro' in sections:
        import torch.nn.functional as F
        h = torch.Generator(device=dev).manual_seed(3)
        D, H, Dh, N = cfg['num_attention_heads'] * cfg['attention_head_dim'], cfg['num_attention_heads'], cfg['attention_head_dim'], (cfg['sample_size'] // cfg['patch_size']) ** 2
        q, k, v = (torch.randn(2, H, N, Dh, device=dev, dtype=half, generator=h) for _ in range(3))
        fl = 4.0 * 2 * H * N * N * Dh
        with torch.no_grad():
            med, _ = median_min_ms(lambda: F.scaled_dot_product_attention(q, k, v), dev, warmup=5, reps=20)
            log(section='micro', op='torch sdpa self-attention (default backend)', ms=round(med, 4), tflops=round(fl / med / 1e9, 1))
            from torch.nn.attention import SDPBackend, sdpa_kernel
            for name, backend in (('flash', SDPBackend.FLASH_ATTENTION), ('cudnn', SDPBackend.CUDNN_ATTENTION),
                                  ('efficient', SDPBackend.EFFICIENT_ATTENTION)):
                try:
                    with sdpa_kernel(backend):
                        med, _ = median_min_ms(lambda: F.scaled_dot_product_attention(q, k, v), dev, warmup=5, reps=20)
                    log(section='micro', op=f'torch sdpa self-attention ({name})', ms=round(med, 4), tflops=round(fl / med / 1e9, 1))
                except Exception as e:  # a backend that does not take this shape here
                    log(section='micro', op=f'torch sdpa self-attention ({name})', error=str(e)[:200])
            for (m, n, kk, what) in ((2 * N, D, D, 'matmul D->D'), (2 * N, 4 * D, D, 'matmul D->4D'),
                                     (2 * N, D, 4 * D, 'matmul 4D->D')) + (((8192, 8192, 8192, 'matmul 8192^3 (peak)'),) if on_gpu else ()):
                a = torch.randn(m, kk, device=dev, dtype=half, generator=h)
                b = torch.randn(kk, n, device=dev, dtype=half, generator=h)
                med, _ = median_min_ms(lambda: a @ b, dev, warmup=5, reps=20)
                log(section='micro', op='torch ' + what, ms=round(med, 4), tflops=round(2.0 * m * n * kk / med / 1e9, 1))


if __name__ == '__main__':
    sys.exit(main())
