#!/usr/bin/env python3
"""PyTorch CPU side of bench/cpu_vs_torch.ts (a benchmark, never run in CI).

Runs diffusers' PixArtTransformer2DModel / AutoencoderKL and transformers' T5EncoderModel on
the same random-weight folder and the same input files as the pixart-node side, writes the
outputs (raw float32) and the timings (JSON).

  PYTHONPATH=/work/pydeps:bench/.pydeps:bench/.diffusers python3 bench/torch_reference.py \
      --model bench/models/PixArt-XL-2-1024-MS-random --inputs bench/models/inputs \
      --out bench/models/torch-out --runs 3 --threads 2 [--only dit32,dit64,t5,vae]
  ... bench/torch_reference.py --rss transformer --model <folder> [--inputs <dir>]
      (peak RSS of loading one component, and after one small forward when --inputs is given)

Each case writes <out>/<case>.bin (the output, float32) and <out>/<case>.json (timings, versions);
<out>/timings.json holds the cases of the last invocation.

bench/cpu_vs_torch.ts calls it with the right paths; diffusers' source is expected at
bench/.diffusers/diffusers (git archive of huggingface/diffusers src/diffusers, gitignored)
and Pillow, accelerate and psutil at bench/.pydeps (pip install --target bench/.pydeps --no-deps
pillow accelerate psutil; accelerate makes from_pretrained load without a second copy).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load_inputs(folder):
    with open(os.path.join(folder, 'inputs.json')) as f:
        spec = json.load(f)
    out = {}
    for name, s in spec.items():
        dt = {'float32': np.float32, 'int32': np.int32}[s['dtype']]
        out[name] = np.fromfile(os.path.join(folder, name + '.bin'), dtype=dt).reshape(s['shape'])
    return out


def timed(fn, runs):
    fn()  # warm-up
    times = []
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return out, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--inputs')
    ap.add_argument('--out')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--only', default='dit32,dit64,t5,vae')
    ap.add_argument('--rss', choices=['none', 'transformer', 'text_encoder', 'vae'], default=None)
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    import diffusers
    import transformers
    from diffusers import AutoencoderKL, PixArtTransformer2DModel
    from transformers import T5EncoderModel

    if args.rss:
        # peak RSS after loading, then after one forward on a small input (which touches every weight)
        base = peak_rss_bytes()
        inputs = load_inputs(args.inputs) if args.inputs else None
        m, forward = None, None
        if args.rss == 'transformer':
            m = PixArtTransformer2DModel.from_pretrained(os.path.join(args.model, 'transformer')).eval()
            if inputs:
                cond = {'resolution': None, 'aspect_ratio': None}
                if m.use_additional_conditions:
                    cond = {'resolution': torch.from_numpy(inputs['dit32_resolution']), 'aspect_ratio': torch.from_numpy(inputs['dit32_aspect_ratio'])}
                forward = lambda: m(torch.from_numpy(inputs['dit32_latents']), encoder_hidden_states=torch.from_numpy(inputs['dit_text']),
                                    timestep=torch.from_numpy(inputs['dit_timesteps']).long(), added_cond_kwargs=cond,
                                    encoder_attention_mask=torch.from_numpy(inputs['dit_text_mask']), return_dict=False)[0]
        elif args.rss == 'vae':
            m = AutoencoderKL.from_pretrained(os.path.join(args.model, 'vae')).eval()
            if inputs:
                forward = lambda: m.decode(torch.from_numpy(inputs['vae_z32']), return_dict=False)[0]
        elif args.rss == 'text_encoder':
            m = T5EncoderModel.from_pretrained(os.path.join(args.model, 'text_encoder')).eval()
            if inputs:
                forward = lambda: m(input_ids=torch.from_numpy(inputs['t5_ids']).long(),
                                    attention_mask=torch.from_numpy(inputs['t5_mask']).long()).last_hidden_state
        loaded = peak_rss_bytes()
        if forward is not None:
            forward()
        params = 0 if m is None else sum(p.numel() for p in m.parameters())
        print(json.dumps({'baseline_rss': base, 'load_rss': loaded, 'forward_rss': peak_rss_bytes() if forward else None, 'parameters': params}))
        return

    inputs = load_inputs(args.inputs)
    os.makedirs(args.out, exist_ok=True)
    only = set(args.only.split(','))
    results = {
        'versions': {
            'torch': torch.__version__, 'diffusers': diffusers.__version__, 'transformers': transformers.__version__,
            'numpy': np.__version__, 'python': sys.version.split()[0], 'threads': torch.get_num_threads(),
            'cpu_capability': torch.backends.cpu.get_cpu_capability(),
        },
        'cases': {},
    }

    def record(case, out, times, load_ms):
        arr = out.detach().float().contiguous().numpy()
        arr.tofile(os.path.join(args.out, case + '.bin'))
        results['cases'][case] = {'times_ms': times, 'median_ms': statistics.median(times), 'shape': list(arr.shape), 'load_ms': load_ms}
        with open(os.path.join(args.out, case + '.json'), 'w') as f:
            json.dump({**results['cases'][case], 'versions': results['versions']}, f, indent=2)
        print(f'torch {case}: median {statistics.median(times):.0f} ms over {len(times)} runs {[round(t) for t in times]}', flush=True)

    if only & {'dit32', 'dit64'}:
        t0 = time.perf_counter()
        dit = PixArtTransformer2DModel.from_pretrained(os.path.join(args.model, 'transformer')).eval()
        load_ms = (time.perf_counter() - t0) * 1000
        text = torch.from_numpy(inputs['dit_text'])
        mask = torch.from_numpy(inputs['dit_text_mask'])
        timesteps = torch.from_numpy(inputs['dit_timesteps']).long()
        for case in ('dit32', 'dit64'):
            if case not in only:
                continue
            lat = torch.from_numpy(inputs[case + '_latents'])
            cond = {'resolution': None, 'aspect_ratio': None}
            if dit.use_additional_conditions:
                cond = {'resolution': torch.from_numpy(inputs[case + '_resolution']),
                        'aspect_ratio': torch.from_numpy(inputs[case + '_aspect_ratio'])}
            fn = lambda: dit(lat, encoder_hidden_states=text, timestep=timesteps, added_cond_kwargs=cond,
                             encoder_attention_mask=mask, return_dict=False)[0]
            out, times = timed(fn, args.runs)
            record(case, out, times, load_ms)
        del dit

    if 't5' in only:
        t0 = time.perf_counter()
        t5 = T5EncoderModel.from_pretrained(os.path.join(args.model, 'text_encoder')).eval()
        load_ms = (time.perf_counter() - t0) * 1000
        ids = torch.from_numpy(inputs['t5_ids']).long()
        mask = torch.from_numpy(inputs['t5_mask']).long()
        out, times = timed(lambda: t5(input_ids=ids, attention_mask=mask).last_hidden_state, args.runs)
        results['attn_implementation_t5'] = getattr(t5.config, '_attn_implementation', None)
        record('t5', out, times, load_ms)
        del t5

    if 'vae' in only:
        t0 = time.perf_counter()
        vae = AutoencoderKL.from_pretrained(os.path.join(args.model, 'vae')).eval()
        load_ms = (time.perf_counter() - t0) * 1000
        z = torch.from_numpy(inputs['vae_z'])
        out, times = timed(lambda: vae.decode(z, return_dict=False)[0], args.runs)
        record('vae', out, times, load_ms)
        del vae

    with open(os.path.join(args.out, 'timings.json'), 'w') as f:
        json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
