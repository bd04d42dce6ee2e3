"""How close can any 4-bit weight code bring random-weight T5-XXL to float32? (CPU, no GPU.)

Reads the JSON lines that bench/t5_quant_study.py printed (its --cache folder's weights, its
measured end-to-end cosines per scheme), measures each uniform scheme's relative RMS weight error
on the same weights (every block linear of a few layers; all layers are drawn from the same
init), and fits the end-to-end error e_out = sqrt(2 (1 - cosine)) as k * e_w. If the fit holds
(k the same across schemes whose weight error differs 12x), the best cosine a code can reach
follows from the least weight error it can have. The weights are i.i.d. Gaussian (transformers'
init; the script prints their kurtosis, 3 for a Gaussian), and for a Gaussian source Shannon's
rate-distortion function bounds the mean squared error of ANY code of R bits per weight, scalar
or vector, from below by sigma^2 * 2^(-2R): e_w >= 2^-R. Codes that use the activations
(GPTQ/AWQ) are outside this bound; the script notes why they gain little here.

  PYTHONPATH=/work/pydeps python3 bench/t5_quant_bound.py --cache /tmp/t5q /tmp/t5q/run*.log \\
      [--layers 0,8,16,23] [--target 0.99]
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import t5_quant_study as study  # noqa: E402


def log(**kw):
    print(json.dumps(kw), flush=True)


def measured_cosines(paths):
    """scheme -> end-to-end cosine, from the study's full-depth fp32-activation lines."""
    out = {}
    for p in paths:
        for line in open(p):
            if not line.startswith('{'):
                continue
            r = json.loads(line)
            if 'scheme' in r and 'cosine' in r and not r.get('bf16_act') and r.get('depth') == 24:
                out[r['scheme']] = r['cosine']
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cache', required=True, help="t5_quant_study.py's --cache folder")
    ap.add_argument('--layers', default='0,8,16,23')
    ap.add_argument('--target', type=float, default=0.99)
    ap.add_argument('logs', nargs='+', help="t5_quant_study.py's output (JSON lines)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('THREADS', '2')))
    from safetensors import safe_open

    cos = measured_cosines(args.logs)
    uniform = study.all_schemes(24)  # only the schemes applied to every linear alike
    names = [s for s in ('int8', 'base', 'g32', 'g128', 'g16', 'sym8', 'asym', 'mse', 'sym8_mse', 'nf4')
             if s in cos and s in uniform]
    if len(names) < 3:
        sys.exit('need at least 3 uniform schemes measured at depth 24 in the logs, found %s' % names)

    f = safe_open(os.path.join(args.cache, 't5_24l_bf16.safetensors'), 'pt')
    layers = {int(x) for x in args.layers.split(',')}
    keys = [k for k in f.keys() if k.endswith('.weight') and k.split('.')[-2] in study.KINDS
            and int(k.split('.')[2]) in layers]
    err = {s: 0.0 for s in names}
    total, kurt = 0.0, []
    for k in keys:
        w = f.get_tensor(k).float()
        m2 = (w * w).mean().item()
        kurt.append((w ** 4).mean().item() / m2 ** 2)
        total += (w * w).sum().item()
        kind, layer = k.split('.')[-2], int(k.split('.')[2])
        for s in names:
            d = study.apply(uniform[s](kind, layer), w) - w
            err[s] += (d * d).sum().item()
    log(what='weights', matrices=len(keys), layers=sorted(layers), kurtosis_min=round(min(kurt), 4),
        kurtosis_max=round(max(kurt), 4))

    ks = []
    for s in names:
        ew = math.sqrt(err[s] / total)
        eo = math.sqrt(2 * (1 - cos[s]))
        ks.append(eo / ew)
        log(scheme=s, cosine=cos[s], rel_weight_error=round(ew, 5), rel_output_error=round(eo, 4), k=round(eo / ew, 3))
    # The bound uses the smallest amplification seen (the most optimistic for a hypothetical code).
    k_min, k_max = min(ks), max(ks)
    eo_target = math.sqrt(2 * (1 - args.target))
    need_ew = eo_target / k_min
    need_bits = math.log2(1 / need_ew)
    bounds = {}
    for bits in (4.0, 4.5):
        ew = 2 ** -bits
        bounds[bits] = 1 - (k_min * ew) ** 2 / 2
    log(what='fit', k_min=round(k_min, 3), k_max=round(k_max, 3), target_cosine=args.target,
        weight_error_needed=round(need_ew, 4), bits_per_weight_needed=round(need_bits, 2),
        best_cosine_4_bits=round(bounds[4.0], 4), best_cosine_4_5_bits=round(bounds[4.5], 4))


if __name__ == '__main__':
    main()
