#!/usr/bin/env python3
"""PyTorch CPU side of bench/cpu_vs_torch.ts (a benchmark, never run in CI).

Runs diffusers' PixArtTransformer2DModel / AutoencoderKL and transformers' T5EncoderModel on
the same random-weight folder and the same input files as the pixart-node side.

Batch mode (standalone): times the cases, writes <out>/<case>.bin (the output, float32),
<out>/<case>.json (timings, versions) and <out>/timings.json:

  PYTHONPATH=/work/pydeps:bench/.pydeps:bench/.diffusers python3 bench/torch_reference.py \
      --model bench/models/PixArt-XL-2-1024-MS-random --inputs bench/models/inputs \
      --out bench/models/torch-out --runs 3 --threads 2 [--only dit32,dit64,t5,vae]

Serve mode (what cpu_vs_torch.ts uses, so that it can alternate torch and ours run by run on a
shared machine): --serve, then one command a line on stdin, one JSON line back on stdout:
  load <case>   -> {"load_ms"}             (keeps one model loaded; dit32/dit64 share it)
  run <case>    -> {"ms", "cpu_ms"}        (one forward; cpu_ms = process CPU time, all threads)
  save <case>   -> {"path"}                (the last output of <case> to <out>/<case>.bin)
  versions      -> {...}
  quit

RSS mode: --rss transformer|text_encoder|vae [--inputs <dir>]: peak RSS before loading, after
loading, and after one small forward (which touches every weight).

diffusers' source is expected at bench/.diffusers/diffusers (gitignored; from a diffusers
checkout: git archive HEAD src/diffusers | tar -x --strip-components=1 -C bench/.diffusers) and
Pillow, accelerate and psutil at bench/.pydeps (pip install --target bench/.pydeps --no-deps
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

CASES = ('dit32', 'dit64', 't5', 'vae')


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


class Bench:
    def __init__(self, model_dir, inputs, threads):
        import torch
        torch.set_num_threads(threads)
        torch.set_grad_enabled(False)
        import diffusers
        import transformers
        self.torch = torch
        self.model_dir = model_dir
        self.inputs = inputs
        self.loaded = None  # (component, module)
        self.outputs = {}
        self.versions = {
            'torch': torch.__version__, 'diffusers': diffusers.__version__, 'transformers': transformers.__version__,
            'numpy': np.__version__, 'python': sys.version.split()[0], 'threads': torch.get_num_threads(),
            'cpu_capability': torch.backends.cpu.get_cpu_capability(),
        }

    @staticmethod
    def component(case):
        return {'dit32': 'transformer', 'dit64': 'transformer', 't5': 'text_encoder', 'vae': 'vae'}[case]

    def load_component(self, component):
        """Loads (or keeps) the one model; returns the load time in ms (0 if it was loaded)."""
        if self.loaded and self.loaded[0] == component:
            return 0.0
        self.loaded = None
        from diffusers import AutoencoderKL, PixArtTransformer2DModel
        from transformers import T5EncoderModel
        cls = {'transformer': PixArtTransformer2DModel, 'text_encoder': T5EncoderModel, 'vae': AutoencoderKL}[component]
        t0 = time.perf_counter()
        m = cls.from_pretrained(os.path.join(self.model_dir, component)).eval()
        self.loaded = (component, m)
        return (time.perf_counter() - t0) * 1000

    def forward_fn(self, case, vae_input='vae_z'):
        torch, x = self.torch, self.inputs
        self.load_component(self.component(case))
        m = self.loaded[1]
        t = lambda name: torch.from_numpy(x[name])
        if case in ('dit32', 'dit64'):
            cond = {'resolution': None, 'aspect_ratio': None}
            if m.use_additional_conditions:
                cond = {'resolution': t(case + '_resolution'), 'aspect_ratio': t(case + '_aspect_ratio')}
            lat, text, mask, ts = t(case + '_latents'), t('dit_text'), t('dit_text_mask'), t('dit_timesteps').long()
            return lambda: m(lat, encoder_hidden_states=text, timestep=ts, added_cond_kwargs=cond,
                             encoder_attention_mask=mask, return_dict=False)[0]
        if case == 't5':
            ids, mask = t('t5_ids').long(), t('t5_mask').long()
            return lambda: m(input_ids=ids, attention_mask=mask).last_hidden_state
        z = t(vae_input)
        return lambda: m.decode(z, return_dict=False)[0]

    def run(self, case):
        fn = self.forward_fn(case)
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        ms, cpu_ms = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
        self.outputs[case] = out
        return ms, cpu_ms

    def save(self, case, folder):
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, case + '.bin')
        arr = self.outputs[case].detach().float().contiguous().numpy()
        arr.tofile(path)
        return path, list(arr.shape)


def serve(b, out_dir):
    def reply(obj):
        sys.stdout.write(json.dumps(obj) + '\n')
        sys.stdout.flush()

    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        try:
            cmd, arg = parts[0], (parts[1] if len(parts) > 1 else None)
            if cmd == 'quit':
                reply({'bye': True})
                return
            if cmd == 'versions':
                reply(b.versions)
            elif cmd == 'load' and arg in CASES:
                reply({'load_ms': b.load_component(b.component(arg))})
            elif cmd == 'run' and arg in CASES:
                ms, cpu_ms = b.run(arg)
                reply({'ms': ms, 'cpu_ms': cpu_ms})
            elif cmd == 'save' and arg in CASES:
                path, shape = b.save(arg, out_dir)
                reply({'path': path, 'shape': shape})
            else:
                reply({'error': 'unknown command: ' + line.strip()})
        except Exception as e:  # keep serving; the caller decides
            reply({'error': f'{type(e).__name__}: {e}'})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--inputs')
    ap.add_argument('--out')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--only', default=','.join(CASES))
    ap.add_argument('--serve', action='store_true')
    ap.add_argument('--rss', choices=['transformer', 'text_encoder', 'vae'], default=None)
    args = ap.parse_args()

    if args.rss:
        inputs = load_inputs(args.inputs) if args.inputs else None
        b = Bench(args.model, inputs, args.threads)
        base = peak_rss_bytes()
        b.load_component(args.rss)
        loaded = peak_rss_bytes()
        forward_rss = None
        if inputs is not None:
            case = {'transformer': 'dit32', 'text_encoder': 't5', 'vae': 'vae'}[args.rss]
            b.forward_fn(case, vae_input='vae_z32')()
            forward_rss = peak_rss_bytes()
        params = sum(p.numel() for p in b.loaded[1].parameters())
        print(json.dumps({'baseline_rss': base, 'load_rss': loaded, 'forward_rss': forward_rss, 'parameters': params}))
        return

    b = Bench(args.model, load_inputs(args.inputs), args.threads)
    if args.serve:
        serve(b, args.out)
        return

    os.makedirs(args.out, exist_ok=True)
    results = {'versions': b.versions, 'cases': {}}
    for case in [c for c in CASES if c in args.only.split(',')]:
        load_ms = b.load_component(b.component(case))
        b.run(case)  # warm-up
        runs = [b.run(case) for _ in range(args.runs)]
        times = [r[0] for r in runs]
        _, shape = b.save(case, args.out)
        results['cases'][case] = {'times_ms': times, 'cpu_ms': [r[1] for r in runs], 'median_ms': statistics.median(times),
                                  'shape': shape, 'load_ms': load_ms}
        with open(os.path.join(args.out, case + '.json'), 'w') as f:
            json.dump({**results['cases'][case], 'versions': b.versions}, f, indent=2)
        print(f'torch {case}: median {statistics.median(times):.0f} ms over {len(times)} runs {[round(t) for t in times]}', flush=True)
    with open(os.path.join(args.out, 'timings.json'), 'w') as f:
        json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
