#!/usr/bin/env python3
"""Error-growth check, reference side: T5 encoders and PixArt transformers of increasing size
(fixture init recipe), each run by transformers/diffusers in float32 AND float64 on the same
inputs, so bench/sweep/scale_run.ts can tell whether an SDK-vs-torch difference is the usual
fp32 rounding (torch is as far from fp64) or something the SDK adds.

  PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps python3 bench/sweep/scale_gen.py [--only t5_l,dit_m]
  npx tsx bench/sweep/scale_run.ts
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen import T5_BASE, DIT_BASE, init_weights, python_tokenizer, P_LONG, P_CACTUS  # noqa: E402
from diffusers import PixArtTransformer2DModel  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import T5Config, T5EncoderModel  # noqa: E402

OUT = '/tmp/sweep/scale'
T5S = {
    't5_s': dict(d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=2),
    't5_m': dict(d_model=256, d_kv=64, num_heads=4, d_ff=683, num_layers=4),
    't5_l': dict(d_model=512, d_kv=64, num_heads=8, d_ff=1365, num_layers=8),
    't5_xl': dict(d_model=1024, d_kv=64, num_heads=16, d_ff=2816, num_layers=12),
    't5_xxl24': dict(d_model=512, d_kv=64, num_heads=8, d_ff=1024, num_layers=24),
}
DITS = {
    'dit_s': dict(num_attention_heads=2, attention_head_dim=24, num_layers=2, sample_size=64, caption_channels=64),
    'dit_m': dict(num_attention_heads=6, attention_head_dim=64, num_layers=6, sample_size=64, caption_channels=256),
    'dit_l': dict(num_attention_heads=16, attention_head_dim=72, num_layers=8, sample_size=128, caption_channels=512),
    'dit_deep': dict(num_attention_heads=4, attention_head_dim=48, num_layers=28, sample_size=128, caption_channels=256),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--only', default='')
    a = ap.parse_args()
    only = set(filter(None, a.only.split(',')))
    os.makedirs(OUT, exist_ok=True)
    tok = python_tokenizer()
    index = {}
    for name, spec in T5S.items():
        if only and name not in only:
            continue
        cfg = dict(T5_BASE)
        cfg.update(spec)
        m = T5EncoderModel(T5Config(**cfg)).float().eval()
        init_weights(m, torch.Generator().manual_seed(7), 0.1, is_t5=True)
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        m.save_pretrained(d, safe_serialization=True)
        enc = tok([P_CACTUS.lower(), P_LONG.lower()], padding='max_length', max_length=120, truncation=True, return_tensors='pt')
        with torch.no_grad():
            o32 = m(enc.input_ids, attention_mask=enc.attention_mask)[0]
            o64 = m.double()(enc.input_ids, attention_mask=enc.attention_mask)[0].float()
        save_file({'input_ids': enc.input_ids.contiguous(), 'attention_mask': enc.attention_mask.contiguous(), 'fp32': o32.contiguous(),
                   'fp64': o64.contiguous()}, os.path.join(d, 'refs.safetensors'))
        index[name] = {'kind': 't5', 'spec': spec}
        print(name, 'fp32 vs fp64 max abs', float((o32 - o64).abs().max()), 'max|ref|', float(o64.abs().max()), flush=True)
    for name, spec in DITS.items():
        if only and name not in only:
            continue
        cfg = dict(DIT_BASE)
        cfg.update(spec)
        cfg['cross_attention_dim'] = cfg['num_attention_heads'] * cfg['attention_head_dim']
        m = PixArtTransformer2DModel(**cfg).float().eval()
        init_weights(m, torch.Generator().manual_seed(8), 0.1)
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        m.save_pretrained(d, safe_serialization=True)
        g = torch.Generator().manual_seed(9)
        x = torch.randn((2, 4, 16, 24), generator=g)
        ehs = torch.randn((2, 40, cfg['caption_channels']), generator=g)
        mask = torch.ones((2, 40), dtype=torch.int64)
        mask[1, 13:] = 0
        t = torch.tensor([999, 401], dtype=torch.int64)
        added = {'resolution': None, 'aspect_ratio': None}
        refs = {'hidden_states': x, 'timestep': t, 'encoder_hidden_states': ehs, 'encoder_attention_mask': mask}
        if m.use_additional_conditions:
            added = {'resolution': torch.tensor([[128.0, 192.0]] * 2), 'aspect_ratio': torch.tensor([[128 / 192]] * 2)}
            refs['resolution'], refs['aspect_ratio'] = added['resolution'], added['aspect_ratio']
        with torch.no_grad():
            o32 = m(x, encoder_hidden_states=ehs, encoder_attention_mask=mask, timestep=t, added_cond_kwargs=added, return_dict=False)[0]
            m64 = m.double()
            a64 = {k: (v.double() if v is not None else None) for k, v in added.items()}
            o64 = m64(x.double(), encoder_hidden_states=ehs.double(), encoder_attention_mask=mask, timestep=t, added_cond_kwargs=a64,
                      return_dict=False)[0].float()
        refs.update(fp32=o32, fp64=o64)
        save_file({k: v.contiguous() for k, v in refs.items()}, os.path.join(d, 'refs.safetensors'))
        index[name] = {'kind': 'dit', 'spec': spec}
        print(name, 'fp32 vs fp64 max abs', float((o32 - o64).abs().max()), 'max|ref|', float(o64.abs().max()), flush=True)
    old = {}
    p = os.path.join(OUT, 'index.json')
    if os.path.exists(p):
        with open(p) as f:
            old = json.load(f)
    old.update(index)
    with open(p, 'w') as f:
        json.dump(old, f, indent=1)


if __name__ == '__main__':
    main()
