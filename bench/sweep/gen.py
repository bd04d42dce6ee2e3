#!/usr/bin/env python3
"""Randomised config sweep, reference side: builds tiny random-weight PixArt-alpha pipelines with
many different configs (T5 / PixArt DiT / AutoencoderKL / scheduler config), saves each as a
diffusers folder under /tmp/sweep/<model>/ and records what the REAL diffusers/transformers stack
gives for (a) each component alone on fixed random inputs and (b) several full pipeline calls.
bench/sweep/run.ts replays everything through the SDK and compares.

  cd /work/main
  pip install --target /tmp/pyextra ftfy==6.3.1 beautifulsoup4==4.15.0 protobuf  # clean_caption=True; spiece.model
  PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps:/tmp/pyextra python3 bench/sweep/gen.py [--only m03,m07] [--out /tmp/sweep]
  npx tsx bench/sweep/run.ts [--only m03] [--out /tmp/sweep]

Weights follow the fixture recipe (test/fixtures README): linear/conv N(0,1/fan_in), biases
N(0,0.1^2) (VAE 0.05^2), norm weights 1+N(0,0.1^2), norm biases N(0,0.1^2), T5 embeddings N(0,1),
relative bias N(0,0.5^2), scale_shift_table N(0,0.3^2). Everything float32 on the CPU, 2 threads.
References are computed from the folder re-loaded with from_pretrained (as the SDK sees it).
clean_caption is False except in m26/clean_caption_true (diffusers silently switches it off when
bs4/ftfy are missing: keep /tmp/pyextra on PYTHONPATH).
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys
import traceback

import torch
import torch.nn as nn

torch.set_num_threads(2)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
FIXTURE = os.path.join(REPO, 'test', 'fixtures', 'pixart-tiny')

from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler, DEISMultistepScheduler,  # noqa: E402
                       DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, HeunDiscreteScheduler, KDPM2DiscreteScheduler, LCMScheduler,
                       PixArtAlphaPipeline, PixArtTransformer2DModel, PNDMScheduler, SASolverScheduler,
                       UniPCMultistepScheduler)
from safetensors.torch import save_file  # noqa: E402
from transformers import T5Config, T5EncoderModel, T5Tokenizer  # noqa: E402

SCHEDULERS = {c.__name__: c for c in (DDIMScheduler, DDPMScheduler, DEISMultistepScheduler, DPMSolverMultistepScheduler,
                                      DPMSolverSinglestepScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
                                      HeunDiscreteScheduler, KDPM2DiscreteScheduler, LCMScheduler, PNDMScheduler,
                                      SASolverScheduler, UniPCMultistepScheduler)}

P_CACTUS = 'A small cactus with a happy face in the Sahara desert.'
P_ASTRO = 'An astronaut riding a green horse on the Moon, highly detailed, 4k, dramatic lighting'
P_CATS = 'Two cats'
P_LONG = ('A very long prompt about a medieval castle on a hill at sunset, with knights, dragons, banners, '
          'a river, a stone bridge, villagers, a market, horses, carts, birds in the sky and mountains behind')

# ------------------------------------------------------------------------------------------ models
# t5: T5Config kwargs; dit: PixArtTransformer2DModel kwargs (+ '_legacy': write the diffusers-0.22
# Transformer2DModel config form); vae: AutoencoderKL kwargs (+ '_fp16': store fp16);
# sched: overrides of the scheduler_config.json (PixArt's DPM config); calls: pipeline calls.

T5_BASE = dict(vocab_size=32128, d_model=32, d_kv=8, num_heads=4, num_layers=2, d_ff=48, feed_forward_proj='gated-gelu',
               relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
               dropout_rate=0.0, is_encoder_decoder=False, use_cache=False, tie_word_embeddings=True)
DIT_BASE = dict(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=1, sample_size=32,
                patch_size=2, cross_attention_dim=None, caption_channels=None, norm_eps=1e-6, interpolation_scale=None,
                use_additional_conditions=None, activation_fn='gelu-approximate', attention_bias=True,
                norm_elementwise_affine=False, num_embeds_ada_norm=1000, norm_type='ada_norm_single')
VAE_BASE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[8, 16, 16, 16], layers_per_block=1,
                norm_num_groups=8, act_fn='silu', scaling_factor=0.18215, sample_size=64, use_quant_conv=True,
                use_post_quant_conv=True, mid_block_add_attention=True, force_upcast=True)


def C(name, **kw):
    d = dict(name=name, scheduler='DPMSolverMultistepScheduler', steps=5, guidance=4.5, height=None, width=None,
             binning=False, output='latent', nips=1, msl=120, eta=0.0, seed=0, prompt=P_CACTUS, negative=None,
             timesteps=None, sigmas=None, seeds=None, embeds=None, clean=False)
    d.update(kw)
    return d


MODELS = [
    dict(id='m00', note='256-flavour-like: sample 32, patch 2, 2x8 heads, caption != inner, T5 d_kv*heads != d_model',
         t5=dict(d_model=24, d_kv=8, num_heads=4, d_ff=40, num_layers=2), dit=dict(),
         vae=dict(), sched={},
         calls=[C('n5_g4.5_32x48_np', height=32, width=48, output='np', seed=1),
                C('default_size_binning_n2', steps=2, binning=True, output='np', seed=2),
                C('binning_200x360_n2_latent', steps=2, binning=True, height=200, width=360, output='latent', seed=3),
                C('n13_g1.0_48x32', steps=13, guidance=1.0, height=48, width=32, seed=4, output='np')]),
    dict(id='m01', note='1024-MS-like: sample 128, 3x12 heads (inner 36), additional conditions, interp default (2)',
         t5=dict(d_model=32, d_kv=12, num_heads=2, d_ff=48, num_layers=1), dit=dict(sample_size=128, num_attention_heads=3, attention_head_dim=12),
         vae=dict(), sched={},
         calls=[C('n5_g4.5_64x96_np', height=64, width=96, output='np', seed=5),
                C('binning_64x96_n2_latent', steps=2, binning=True, height=64, width=96, seed=6),
                C('n2_negprompt_nips2', steps=2, height=48, width=80, negative='blurry, low quality', nips=2, seed=7, output='np')]),
    dict(id='m02', note='patch 4, 1x40 head, out 4 (no learned sigma), 3-block VAE (x4) lpb 2 no quant convs, T5 gelu (non-gated), 8/20 buckets',
         t5=dict(d_model=16, d_kv=4, num_heads=3, d_ff=24, num_layers=3, feed_forward_proj='gelu', relative_attention_num_buckets=8,
                 relative_attention_max_distance=20, layer_norm_epsilon=1e-5),
         dit=dict(sample_size=64, patch_size=4, num_attention_heads=1, attention_head_dim=40, out_channels=4, num_layers=2, interpolation_scale=1),
         vae=dict(block_out_channels=[8, 16, 16], layers_per_block=2, norm_num_groups=4, use_quant_conv=False, use_post_quant_conv=False),
         sched={},
         calls=[C('euler_n13_48x80_np', scheduler='EulerDiscreteScheduler', steps=13, height=48, width=80, output='np', seed=8),
                C('unipc_n5_g1.0_64x32', scheduler='UniPCMultistepScheduler', steps=5, guidance=1.0, height=64, width=32, seed=9),
                C('dpm_binning_48x80_n2_np', steps=2, binning=True, height=48, width=80, output='np', seed=10)]),
    dict(id='m03', note='1x72 head, sample 128 + additional conditions, interp 2 explicit, 2-block VAE (x2) no mid attention, T5 gated-silu',
         t5=dict(d_model=20, d_kv=10, num_heads=2, d_ff=36, num_layers=2, feed_forward_proj='gated-silu'),
         dit=dict(sample_size=128, num_attention_heads=1, attention_head_dim=72, interpolation_scale=2),
         vae=dict(block_out_channels=[8, 8], norm_num_groups=4, mid_block_add_attention=False),
         sched={},
         calls=[C('n5_24x40_np', height=24, width=40, output='np', seed=11),
                C('ddim_eta0.7_n5_nips2', scheduler='DDIMScheduler', eta=0.7, steps=5, height=16, width=24, nips=2, seed=12, output='np'),
                C('euler_a_n5_32x16', scheduler='EulerAncestralDiscreteScheduler', steps=5, height=32, width=16, seed=13)]),
    dict(id='m04', note='patch 1, 2x12 heads, interpolation_scale 0.5, VAE scaling 0.13025 stored fp16, T5 msl 8',
         t5=dict(d_model=24, d_kv=6, num_heads=4, d_ff=32, num_layers=1),
         dit=dict(sample_size=64, patch_size=1, num_attention_heads=2, attention_head_dim=12, interpolation_scale=0.5, num_layers=2),
         vae=dict(scaling_factor=0.13025, _fp16=True),
         sched={},
         calls=[C('lcm_n2_64x96_np', scheduler='LCMScheduler', steps=2, height=64, width=96, output='np', seed=14),
                C('dpm_msl8_long_prompt_n5', prompt=P_LONG, msl=8, height=64, width=64, seed=15, output='np'),
                C('ddim_n1_64x64', scheduler='DDIMScheduler', steps=1, height=64, width=64, seed=16)]),
    dict(id='m05', note='in 8 / out 16 with latent_channels 8, 4x8 heads, interpolation 1.5, sample 32',
         t5=dict(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2, relative_attention_num_buckets=16, relative_attention_max_distance=32),
         dit=dict(sample_size=32, num_attention_heads=4, attention_head_dim=8, in_channels=8, out_channels=16, interpolation_scale=1.5, num_layers=2),
         vae=dict(latent_channels=8, block_out_channels=[8, 16, 16, 16], norm_num_groups=8),
         sched={},
         calls=[C('heun_n3_48x64_np', scheduler='HeunDiscreteScheduler', steps=3, height=48, width=64, output='np', seed=17),
                C('kdpm2_n3_64x48', scheduler='KDPM2DiscreteScheduler', steps=3, height=64, width=48, seed=18),
                C('deis_n5_32x32', scheduler='DEISMultistepScheduler', steps=5, height=32, width=32, seed=19, output='np')]),
    dict(id='m06', note='LEGACY Transformer2DModel config (no interpolation_scale / use_additional_conditions keys), sample 128, 2x24',
         t5=dict(d_model=24, d_kv=8, num_heads=3, d_ff=48, num_layers=2),
         dit=dict(sample_size=128, num_attention_heads=2, attention_head_dim=24, _legacy=True),
         vae=dict(), sched={},
         calls=[C('n5_64x64_np', height=64, width=64, output='np', seed=20),
                C('n2_64x128_latent', steps=2, height=64, width=128, seed=21)]),
    dict(id='m07', note='sample 48 (base 24: non-power-of-two grid ratios), 2x16 heads, binning off',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=32, num_layers=2),
         dit=dict(sample_size=48, num_attention_heads=2, attention_head_dim=16, num_layers=2),
         vae=dict(), sched={},
         calls=[C('dpm_n5_48x80_np', height=48, width=80, output='np', seed=22),
                C('sasolver_n5_80x48', scheduler='SASolverScheduler', steps=5, height=80, width=48, seed=23),
                C('default_size_nobinning_n2', steps=2, seed=24)]),
    dict(id='m08', note='two prompts + negative list, nips 2, msl 8, DPM singlestep, trailing spacing, steps_offset 1',
         t5=dict(d_model=24, d_kv=8, num_heads=2, d_ff=32, num_layers=2),
         dit=dict(sample_size=64, num_attention_heads=2, attention_head_dim=12),
         vae=dict(), sched=dict(timestep_spacing='trailing', steps_offset=1),
         calls=[C('single_n5_2prompts_nips2', scheduler='DPMSolverSinglestepScheduler', prompt=[P_ASTRO, P_CATS],
                  negative=['ugly', 'deformed hands'], nips=2, msl=8, height=32, width=48, seed=25, output='np'),
                C('dpm_n5_trailing', height=48, width=32, seed=26),
                C('dpm_custom_timesteps', timesteps=[999, 850, 600, 300, 120, 10], height=32, width=32, seed=27, steps=None),
                C('euler_custom_sigmas', scheduler='EulerDiscreteScheduler', sigmas=[14.6, 6.0, 2.5, 0.9, 0.2], height=32, width=32, seed=28, steps=None)]),
    dict(id='m09', note='VAE 3 blocks [16,32,32] lpb 2 groups 16, quant conv off / post-quant on, force_upcast false; DiT norm_elementwise_affine, attention_bias false, gelu, norm_eps 1e-3',
         t5=dict(d_model=32, d_kv=16, num_heads=1, d_ff=16, num_layers=1),
         dit=dict(sample_size=32, num_attention_heads=2, attention_head_dim=20, norm_elementwise_affine=True, attention_bias=False,
                  activation_fn='gelu', norm_eps=1e-3),
         vae=dict(block_out_channels=[16, 32, 32], layers_per_block=2, norm_num_groups=16, use_quant_conv=False, force_upcast=False),
         sched={},
         calls=[C('dpm_n5_32x48_np', height=32, width=48, output='np', seed=29),
                C('ddim_n2_g1.0', scheduler='DDIMScheduler', steps=2, guidance=1.0, height=48, width=48, seed=30, output='np')]),
    dict(id='m10', note='caption_channels None (T5 d_model = inner 32), sample 64',
         t5=dict(d_model=32, d_kv=8, num_heads=4, d_ff=32, num_layers=1),
         dit=dict(sample_size=64, num_attention_heads=4, attention_head_dim=8, caption_channels=None, _no_caption=True),
         vae=dict(), sched={},
         calls=[C('n2_32x32', steps=2, height=32, width=32, seed=31)]),
    dict(id='m11', note='T5 relu FFN (transformers default), otherwise small',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=2, feed_forward_proj='relu'),
         dit=dict(sample_size=32), vae=dict(), sched={},
         calls=[C('n2_32x32', steps=2, height=32, width=32, seed=32)]),
    dict(id='m12', note='scheduler config: karras sigmas, solver_order 3, sde-dpmsolver++ (stochastic), scaled_linear betas',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=32, num_attention_heads=2, attention_head_dim=12), vae=dict(),
         sched=dict(use_karras_sigmas=True, solver_order=3, algorithm_type='sde-dpmsolver++', beta_schedule='scaled_linear', beta_start=0.00085, beta_end=0.012),
         calls=[C('sde_karras_o3_n5', steps=5, height=32, width=32, seed=33),
                C('sde_karras_o3_n13_np', steps=13, height=32, width=48, seed=34, output='np'),
                C('euler_a_karras_cfg_n5', scheduler='EulerAncestralDiscreteScheduler', steps=5, height=32, width=32, seed=35),
                C('unipc_karras_n5', scheduler='UniPCMultistepScheduler', steps=5, height=32, width=32, seed=36),
                C('euler_karras_n5_np', scheduler='EulerDiscreteScheduler', steps=5, height=32, width=32, seed=96, output='np'),
                C('heun_karras_n3', scheduler='HeunDiscreteScheduler', steps=3, height=32, width=32, seed=97),
                C('kdpm2_karras_n3', scheduler='KDPM2DiscreteScheduler', steps=3, height=32, width=32, seed=98)]),
    dict(id='m13', note='v_prediction + leading spacing steps_offset 1 + final_sigmas_type sigma_min, 5-block VAE (x16)',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=32, num_attention_heads=2, attention_head_dim=12, patch_size=1),
         vae=dict(block_out_channels=[8, 8, 16, 16, 16], norm_num_groups=8),
         sched=dict(prediction_type='v_prediction', timestep_spacing='leading', steps_offset=1, final_sigmas_type='sigma_min'),
         calls=[C('dpm_vpred_n5_64x96_np', steps=5, height=64, width=96, output='np', seed=37),
                C('euler_vpred_n5', scheduler='EulerDiscreteScheduler', steps=5, height=48, width=32, seed=38),
                C('ddim_vpred_n5', scheduler='DDIMScheduler', steps=5, height=32, width=32, seed=39),
                C('heun_vpred_n2', scheduler='HeunDiscreteScheduler', steps=2, height=32, width=32, seed=40),
                C('lcm_vpred_n1', scheduler='LCMScheduler', steps=1, height=32, width=32, seed=41)]),
    dict(id='m14', note='3 layers, 3x16 heads (48), sample 64, DPM order 1 + dpmsolver (noise pred), thresholding off, lower_order_final false',
         t5=dict(d_model=40, d_kv=8, num_heads=5, d_ff=64, num_layers=3, relative_attention_num_buckets=64, relative_attention_max_distance=64),
         dit=dict(sample_size=64, num_attention_heads=3, attention_head_dim=16, num_layers=3, interpolation_scale=1),
         vae=dict(block_out_channels=[16, 16, 32, 32], norm_num_groups=8, layers_per_block=2),
         sched=dict(algorithm_type='dpmsolver', solver_type='heun', lower_order_final=False, final_sigmas_type='sigma_min'),
         calls=[C('dpm_noisepred_heun_n5_np', steps=5, height=48, width=64, output='np', seed=42),
                C('deis_n13', scheduler='DEISMultistepScheduler', steps=13, height=32, width=32, seed=43),
                C('kdpm2_n2_g1.0_np', scheduler='KDPM2DiscreteScheduler', steps=2, guidance=1.0, height=32, width=32, seed=44, output='np')]),
    # ---- round 2
    dict(id='m15', note='4x9 heads (odd head dim, inner 36), sample 128 + explicit additional conditions; T5 d_kv 5, 3 heads, 6 buckets / max distance 5, eps 1e-2; msl 200, nips 3 x 2 prompts, CFG 7',
         t5=dict(d_model=20, d_kv=5, num_heads=3, d_ff=28, num_layers=2, relative_attention_num_buckets=6, relative_attention_max_distance=5, layer_norm_epsilon=1e-2),
         dit=dict(sample_size=128, num_attention_heads=4, attention_head_dim=9, use_additional_conditions=True, interpolation_scale=2, num_layers=2),
         vae=dict(), sched={},
         calls=[C('msl200_long_g7_n5_np', prompt=P_LONG + ' ' + P_ASTRO + ' ' + P_LONG, msl=200, guidance=7.0, height=48, width=64, output='np', seed=50),
                C('nips3_2prompts_n2', prompt=['  A RED Fox, Jumping over THE lazy dog.  ', P_CATS], nips=3, steps=2, height=32, width=32, seed=51),
                C('euler_n1', scheduler='EulerDiscreteScheduler', steps=1, height=32, width=48, seed=52),
                C('euler_a_n1_g0.5', scheduler='EulerAncestralDiscreteScheduler', steps=1, guidance=0.5, height=32, width=48, seed=53),
                C('msl1', msl=1, steps=2, height=32, width=32, seed=54)]),
    dict(id='m16', note='sample 128 but use_additional_conditions False, interpolation 1, 2x10 heads (inner 20, not a multiple of 3)',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=128, num_attention_heads=2, attention_head_dim=10, use_additional_conditions=False, interpolation_scale=1),
         vae=dict(), sched={},
         calls=[C('dpm_n5_64x64_np', height=64, width=64, output='np', seed=55),
                C('heun_n1', scheduler='HeunDiscreteScheduler', steps=1, height=32, width=32, seed=56),
                C('kdpm2_n1', scheduler='KDPM2DiscreteScheduler', steps=1, height=32, width=32, seed=57),
                C('unipc_n1', scheduler='UniPCMultistepScheduler', steps=1, height=32, width=32, seed=58),
                C('heun_custom_timesteps', scheduler='HeunDiscreteScheduler', timesteps=[999, 500, 100], steps=None, height=32, width=32, seed=59),
                C('lcm_custom_timesteps', scheduler='LCMScheduler', timesteps=[999, 759, 499, 259], steps=None, height=32, width=32, seed=60),
                C('single_custom_timesteps', scheduler='DPMSolverSinglestepScheduler', timesteps=[999, 800, 600, 300, 100], steps=None, height=32, width=32, seed=61)]),
    dict(id='m17', note='sample 64 WITH use_additional_conditions True (diffusers pipeline passes no resolution)',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=64, num_attention_heads=2, attention_head_dim=12, use_additional_conditions=True),
         vae=dict(), sched={},
         calls=[C('n2_32x32', steps=2, height=32, width=32, seed=62)]),
    dict(id='m18', note='DiT activation_fn geglu',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=32, activation_fn='geglu'), vae=dict(), sched={},
         calls=[C('n2_32x32', steps=2, height=32, width=32, seed=63)]),
    dict(id='m19', note='sample 30 / patch 4 (base 7), 2x10 heads, interpolation 0.7; 1-block VAE (scale 1)',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=30, patch_size=4, num_attention_heads=2, attention_head_dim=10, interpolation_scale=0.7),
         vae=dict(block_out_channels=[8], norm_num_groups=4),
         calls=[C('n5_16x24_np', height=16, width=24, output='np', seed=64),
                C('n2_default_size', steps=2, seed=65)], sched={}),
    dict(id='m20', note='VAE shift_factor + latents_mean/std set, act gelu, scaling 0.3611, stored bf16; T5 stored fp16; transformer stored bf16',
         t5=dict(d_model=24, d_kv=8, num_heads=3, d_ff=32, num_layers=2, _fp16=True),
         dit=dict(sample_size=32, num_attention_heads=2, attention_head_dim=12, _bf16=True),
         vae=dict(shift_factor=0.1159, latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[1.1, 0.9, 1.0, 1.2], act_fn='gelu',
                  scaling_factor=0.3611, _bf16=True),
         sched={},
         calls=[C('n5_32x48_np', height=32, width=48, output='np', seed=66),
                C('n2_latent', steps=2, height=32, width=32, seed=67)]),
    dict(id='m21', note='2-block VAE (x2) + patch 1: sizes that are multiples of 2 but not of 8',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=32, patch_size=1, num_attention_heads=2, attention_head_dim=8),
         vae=dict(block_out_channels=[8, 8], norm_num_groups=4), sched={},
         calls=[C('h20_w36', steps=2, height=20, width=36, seed=68, output='np'),
                C('h16_w24_np', steps=2, height=16, width=24, seed=69, output='np')]),
    dict(id='m22', note='5-block VAE (x16) + patch 1: height 24 (multiple of 8, not 16)',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=32, patch_size=1, num_attention_heads=2, attention_head_dim=8),
         vae=dict(block_out_channels=[8, 8, 8, 8, 8], norm_num_groups=4), sched={},
         calls=[C('h24_w48', steps=2, height=24, width=48, seed=70, output='np'),
                C('h32_w48_np', steps=2, height=32, width=48, seed=71, output='np')]),
    dict(id='m23', note='T5 gated-gelu_pytorch_tanh, 1 head with d_kv 64 > d_model 16, 33 buckets / max distance 9, 3 layers',
         t5=dict(d_model=16, d_kv=64, num_heads=1, d_ff=20, num_layers=3, feed_forward_proj='gated-gelu_pytorch_tanh',
                 relative_attention_num_buckets=33, relative_attention_max_distance=9),
         dit=dict(sample_size=32), vae=dict(), sched={},
         calls=[C('msl64_long', prompt=P_LONG, msl=64, steps=2, height=32, width=32, seed=72, output='np')]),
    dict(id='m24', note='VAE act_fn relu; T5 gated-relu',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1, feed_forward_proj='gated-relu'),
         dit=dict(sample_size=32), vae=dict(act_fn='relu'), sched={},
         calls=[C('n2_32x32', steps=2, height=32, width=32, seed=73, output='np')]),
    # ---- round 3
    dict(id='m25', note='medium: DiT 6x64 (inner 384) 4 layers, T5 d_model 256 / d_ff 683 / 4 layers, VAE [32,64,128,128] lpb 2 groups 32',
         t5=dict(d_model=256, d_kv=64, num_heads=4, d_ff=683, num_layers=4),
         dit=dict(sample_size=64, num_attention_heads=6, attention_head_dim=64, num_layers=4),
         vae=dict(block_out_channels=[32, 64, 128, 128], layers_per_block=2, norm_num_groups=32), sched={},
         calls=[C('dpm_n13_128x128_np', steps=13, height=128, width=128, output='np', seed=80, prompt=P_ASTRO, negative='blurry'),
                C('euler_a_n5_generator_list_nips2', scheduler='EulerAncestralDiscreteScheduler', nips=2, seeds=[81, 82], height=64, width=96, seed=81),
                C('binning_512_n2_latent', steps=2, binning=True, height=300, width=500, seed=83)]),
    dict(id='m26', note='prompt_embeds paths, binning extremes, generator lists, clean_caption True',
         t5=dict(d_model=24, d_kv=8, num_heads=3, d_ff=32, num_layers=2),
         dit=dict(sample_size=32, num_attention_heads=2, attention_head_dim=12), vae=dict(), sched={},
         calls=[C('embeds_both_n5', embeds='both', height=32, width=32, seed=84),
                C('embeds_pos_only_neg_text_n5', embeds='pos', negative='ugly', height=32, width=32, seed=85),
                C('embeds_2rows_nips2_g1', embeds='both', prompt=['x', 'y'], nips=2, guidance=1.0, height=32, width=32, seed=86),
                C('binning_64x1024_np', steps=2, binning=True, height=64, width=1024, seed=87, output='np'),
                C('binning_1000x200_latent', steps=2, binning=True, height=1000, width=200, seed=88),
                C('ddim_eta1_generator_list', scheduler='DDIMScheduler', eta=1.0, nips=3, seeds=[89, 90, 91], height=32, width=32),
                C('lcm_generator_list_2prompts', scheduler='LCMScheduler', prompt=[P_CATS, P_ASTRO], seeds=[92, 93], steps=4, height=32, width=32),
                C('clean_caption_true', prompt='<b>A RED fox</b> @user #tag https://x.com/y “quoted” IMG_0001.jpg', clean=True, steps=2, height=32, width=32, seed=94, output='np'),
                C('guidance20_n5', guidance=20.0, height=32, width=48, seed=95),
                C('pil_n5', output='pil', height=48, width=32, seed=99, nips=2),
                C('dpm_n50', steps=50, height=32, width=32, seed=100)]),
    dict(id='m27', note='DPM config with dynamic thresholding (host step) + sample prediction; UniPC/DEIS from it',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=1),
         dit=dict(sample_size=32, num_attention_heads=2, attention_head_dim=8),
         vae=dict(), sched=dict(thresholding=True, sample_max_value=2.0, dynamic_thresholding_ratio=0.9),
         calls=[C('dpm_thresh_n5_np', steps=5, height=32, width=48, seed=101, output='np'),
                C('unipc_thresh_n5', scheduler='UniPCMultistepScheduler', steps=5, height=32, width=32, seed=102),
                C('ddim_thresh_n5', scheduler='DDIMScheduler', steps=5, height=32, width=32, seed=103),
                C('lcm_thresh_n3', scheduler='LCMScheduler', steps=3, height=32, width=32, seed=104)]),
    dict(id='m28', note='out_channels null (= in_channels, no learned sigma), norm_eps 1e-5, T5 gelu_new non-gated',
         t5=dict(d_model=16, d_kv=8, num_heads=2, d_ff=24, num_layers=2, feed_forward_proj='gelu_new'),
         dit=dict(sample_size=64, num_attention_heads=2, attention_head_dim=8, out_channels=None, norm_eps=1e-5),
         vae=dict(), sched={},
         calls=[C('n5_32x48_np', height=32, width=48, output='np', seed=105),
                C('binning_default_n2_latent', steps=2, binning=True, seed=106)]),
]


# ------------------------------------------------------------------------------------------ init
def init_weights(model, gen, bias_std, is_t5=False):
    done = set()

    def normal(p, mean, std):
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=gen) * std + mean)
        done.add(id(p))

    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            normal(mod.weight, 0, 1 / math.sqrt(mod.in_features))
            if mod.bias is not None:
                normal(mod.bias, 0, bias_std)
        elif isinstance(mod, nn.Conv2d):
            fan_in = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            normal(mod.weight, 0, 1 / math.sqrt(fan_in))
            if mod.bias is not None:
                normal(mod.bias, 0, bias_std)
        elif isinstance(mod, (nn.LayerNorm, nn.GroupNorm)) or type(mod).__name__ == 'T5LayerNorm':
            if getattr(mod, 'weight', None) is not None:
                normal(mod.weight, 1, 0.1)
            if getattr(mod, 'bias', None) is not None:
                normal(mod.bias, 0, 0.1)
        elif isinstance(mod, nn.Embedding):
            normal(mod.weight, 0, 0.5 if 'relative_attention_bias' in name else 1.0)
    for name, p in model.named_parameters():
        if 'scale_shift_table' in name:
            normal(p, 0, 0.3)
    missing = [n for n, p in model.named_parameters() if id(p) not in done]
    if missing:
        raise SystemExit(f'uninitialised parameters: {missing}')


def build_model(spec, out):
    seed = int(spec['id'][1:]) * 1000 + 17
    gen = torch.Generator().manual_seed(seed)
    t5cfg = dict(T5_BASE)
    t5cfg.update(spec['t5'])
    t5fp16 = t5cfg.pop('_fp16', False)
    text_encoder = T5EncoderModel(T5Config(**t5cfg)).float().eval()
    init_weights(text_encoder, gen, 0.1, is_t5=True)
    if t5fp16:
        text_encoder = text_encoder.half()

    dcfg = dict(DIT_BASE)
    dspec = dict(spec['dit'])
    legacy = dspec.pop('_legacy', False)
    no_caption = dspec.pop('_no_caption', False)
    dbf16 = dspec.pop('_bf16', False)
    dcfg.update(dspec)
    inner = dcfg['num_attention_heads'] * dcfg['attention_head_dim']
    dcfg['cross_attention_dim'] = inner
    dcfg['caption_channels'] = None if no_caption else t5cfg['d_model']
    transformer = PixArtTransformer2DModel(**dcfg).float().eval()
    init_weights(transformer, gen, 0.1)
    if dbf16:
        transformer = transformer.to(torch.bfloat16)

    vcfg = dict(VAE_BASE)
    vspec = dict(spec['vae'])
    fp16 = vspec.pop('_fp16', False)
    vbf16 = vspec.pop('_bf16', False)
    vcfg.update(vspec)
    nb = len(vcfg['block_out_channels'])
    vcfg['down_block_types'] = ['DownEncoderBlock2D'] * nb
    vcfg['up_block_types'] = ['UpDecoderBlock2D'] * nb
    vae = AutoencoderKL(**vcfg).float().eval()
    init_weights(vae, gen, 0.05)
    if fp16:
        vae = vae.half()
    if vbf16:
        vae = vae.to(torch.bfloat16)

    base_sched = DPMSolverMultistepScheduler.from_pretrained(os.path.join(FIXTURE, 'scheduler'))
    sched = DPMSolverMultistepScheduler.from_config(base_sched.config, **spec['sched'])
    tok = python_tokenizer()
    pipe = PixArtAlphaPipeline(tokenizer=tok, text_encoder=text_encoder, transformer=transformer, vae=vae, scheduler=sched)
    if os.path.exists(out):
        shutil.rmtree(out)
    pipe.save_pretrained(out, safe_serialization=True)
    # the genuine tokenizer folder, as in the real repos
    shutil.rmtree(os.path.join(out, 'tokenizer'))
    shutil.copytree(os.path.join(FIXTURE, 'tokenizer'), os.path.join(out, 'tokenizer'))
    if legacy:
        p = os.path.join(out, 'transformer', 'config.json')
        with open(p) as f:
            c = json.load(f)
        for k in ('interpolation_scale', 'use_additional_conditions'):
            c.pop(k, None)
        c['_class_name'] = 'Transformer2DModel'
        c['_diffusers_version'] = '0.22.0.dev0'
        c.update(double_self_attention=False, only_cross_attention=False, num_vector_embeds=None, use_linear_projection=False)
        with open(p, 'w') as f:
            json.dump(c, f, indent=2)
        p = os.path.join(out, 'model_index.json')
        with open(p) as f:
            c = json.load(f)
        c['transformer'] = ['diffusers', 'Transformer2DModel']
        with open(p, 'w') as f:
            json.dump(c, f, indent=2)
    return dcfg, vcfg, t5cfg


_TOK = None


def python_tokenizer():
    # transformers 5 converts the fixture's spiece.model on load (needs protobuf, see the header).
    global _TOK
    if _TOK is None:
        _TOK = T5Tokenizer.from_pretrained(os.path.join(FIXTURE, 'tokenizer'))
    return _TOK


# ------------------------------------------------------------------------------------------ refs
class Refs:
    def __init__(self):
        self.tensors = {}

    def add(self, key, t):
        t = t.detach().contiguous()
        if t.dtype in (torch.float16, torch.float64, torch.bfloat16):
            t = t.float()
        self.tensors[key] = t.clone()
        return {'key': key, 'shape': list(t.shape), 'dtype': str(t.dtype).replace('torch.', '')}


def component_refs(pipe, spec, refs, cases):
    mid = spec['id']
    g = torch.Generator().manual_seed(int(mid[1:]) + 100)
    # T5 alone: three prompts padded to 24 tokens (one truncated)
    tok = pipe.tokenizer([P_CACTUS.lower(), P_CATS.lower(), P_LONG.lower()], padding='max_length', max_length=24,
                         truncation=True, add_special_tokens=True, return_tensors='pt')
    c = {'id': f'{mid}/t5', 'kind': 't5', 'inputs': {'input_ids': refs.add(f'{mid}/t5/input_ids', tok.input_ids),
                                                   'attention_mask': refs.add(f'{mid}/t5/attention_mask', tok.attention_mask)}}
    try:
        with torch.no_grad():
            out = pipe.text_encoder(tok.input_ids, attention_mask=tok.attention_mask)[0]
        c['outputs'] = {'last_hidden_state': refs.add(f'{mid}/t5/last_hidden_state', out)}
    except Exception as e:  # noqa: BLE001
        c['error'] = f'{type(e).__name__}: {e}'
    cases.append(c)

    # DiT alone: batch 2, a non-square latent grid, two timesteps, a text mask with zeros
    tr = pipe.transformer
    cfg = tr.config
    p = cfg.patch_size
    vs = pipe.vae_scale_factor
    for label, (gh, gw) in (('a', (3, 5)), ('b', (cfg.sample_size // p, cfg.sample_size // p))):
        if label == 'b' and gh * gw > 4096:
            continue
        h, w = gh * p, gw * p
        x = torch.randn((2, cfg.in_channels, h, w), generator=g)
        L = 7
        width = cfg.caption_channels or tr.inner_dim
        ehs = torch.randn((2, L, width), generator=g)
        mask = torch.ones((2, L), dtype=torch.int64)
        mask[1, 4:] = 0
        t = torch.tensor([999, 37], dtype=torch.int64)
        added = {'resolution': None, 'aspect_ratio': None}
        inputs = {'hidden_states': refs.add(f'{mid}/dit_{label}/hidden_states', x), 'timestep': refs.add(f'{mid}/dit_{label}/timestep', t),
                  'encoder_hidden_states': refs.add(f'{mid}/dit_{label}/encoder_hidden_states', ehs),
                  'encoder_attention_mask': refs.add(f'{mid}/dit_{label}/encoder_attention_mask', mask)}
        if tr.use_additional_conditions:
            res = torch.tensor([[h * vs, w * vs]] * 2, dtype=torch.float32)
            ar = torch.tensor([[float(h / w)]] * 2, dtype=torch.float32)
            added = {'resolution': res, 'aspect_ratio': ar}
            inputs['resolution'] = refs.add(f'{mid}/dit_{label}/resolution', res)
            inputs['aspect_ratio'] = refs.add(f'{mid}/dit_{label}/aspect_ratio', ar)
        c = {'id': f'{mid}/dit_{label}', 'kind': 'dit', 'inputs': inputs}
        try:
            with torch.no_grad():
                out = tr(x, encoder_hidden_states=ehs, encoder_attention_mask=mask, timestep=t, added_cond_kwargs=added,
                         return_dict=False)[0]
            c['outputs'] = {'sample': refs.add(f'{mid}/dit_{label}/sample', out)}
        except Exception as e:  # noqa: BLE001
            c['error'] = f'{type(e).__name__}: {e}'
        cases.append(c)

    # DiT edge case: fractional / zero timesteps, a fully masked text row, per-row sizes
    h, w = 4 * p, 2 * p
    x = torch.randn((2, cfg.in_channels, h, w), generator=g)
    width = cfg.caption_channels or tr.inner_dim
    ehs = torch.randn((2, 5, width), generator=g)
    mask = torch.ones((2, 5), dtype=torch.int64)
    mask[1, :] = 0
    t = torch.tensor([500.37, 0.0], dtype=torch.float32)
    added = {'resolution': None, 'aspect_ratio': None}
    inputs = {'hidden_states': refs.add(f'{mid}/dit_c/hidden_states', x), 'timestep': refs.add(f'{mid}/dit_c/timestep', t),
              'encoder_hidden_states': refs.add(f'{mid}/dit_c/encoder_hidden_states', ehs),
              'encoder_attention_mask': refs.add(f'{mid}/dit_c/encoder_attention_mask', mask)}
    if tr.use_additional_conditions:
        res = torch.tensor([[64.0, 96.0], [1024.0, 512.0]])
        ar = torch.tensor([[0.6666667], [2.0]])
        added = {'resolution': res, 'aspect_ratio': ar}
        inputs['resolution'] = refs.add(f'{mid}/dit_c/resolution', res)
        inputs['aspect_ratio'] = refs.add(f'{mid}/dit_c/aspect_ratio', ar)
    c = {'id': f'{mid}/dit_c', 'kind': 'dit', 'inputs': inputs}
    try:
        with torch.no_grad():
            out = tr(x, encoder_hidden_states=ehs, encoder_attention_mask=mask, timestep=t, added_cond_kwargs=added, return_dict=False)[0]
        c['outputs'] = {'sample': refs.add(f'{mid}/dit_c/sample', out)}
    except Exception as e:  # noqa: BLE001
        c['error'] = f'{type(e).__name__}: {e}'
    cases.append(c)

    # VAE decode alone: z = latents / scaling_factor, latents ~ N(0, 1)*3
    vae = pipe.vae
    lat = torch.randn((1, vae.config.latent_channels, 5, 7), generator=g) * 3
    z = lat / vae.config.scaling_factor
    c = {'id': f'{mid}/vae_decode', 'kind': 'vae', 'inputs': {'z': refs.add(f'{mid}/vae_decode/z', z)}}
    with torch.no_grad():
        out = vae.decode(z.to(vae.dtype), return_dict=False)[0]
    c['outputs'] = {'sample': refs.add(f'{mid}/vae_decode/sample', out)}
    cases.append(c)


def pipeline_refs(pipe, spec, refs, cases):
    mid = spec['id']
    base = copy.deepcopy(dict(pipe.scheduler.config))
    for call in spec['calls']:
        cid = f"{mid}/{call['name']}"
        c = {'id': cid, 'kind': 'pipeline', 'inputs': dict(call)}
        cls = SCHEDULERS[call['scheduler']]
        kw = {}
        if cls is SASolverScheduler and base.get('algorithm_type') not in ('data_prediction', 'noise_prediction'):
            kw['algorithm_type'] = 'data_prediction'
        pipe.scheduler = cls.from_config(base, **kw)
        steps = []
        try:
            gen = [torch.Generator().manual_seed(x) for x in call['seeds']] if call['seeds'] else torch.Generator().manual_seed(call['seed'])
            text = dict(prompt=call['prompt'], negative_prompt=call['negative'] if call['negative'] is not None else '')
            if call['embeds']:
                # random prompt embeddings instead of T5 (L tokens, the last ones masked); with
                # embeds == 'pos' the negative side is encoded by the pipeline from negative_prompt
                g = torch.Generator().manual_seed(call['seed'] + 7)
                B = len(call['prompt']) if isinstance(call['prompt'], list) else 1
                L, W = 9, pipe.transformer.config.caption_channels or pipe.transformer.inner_dim
                pe, ne = torch.randn(B, L, W, generator=g), torch.randn(B, L, W, generator=g)
                pm, nm = torch.ones(B, L, dtype=torch.int64), torch.ones(B, L, dtype=torch.int64)
                pm[:, 6:] = 0
                nm[:, 2:] = 0
                text = dict(prompt=None, prompt_embeds=pe, prompt_attention_mask=pm)
                c['inputs']['prompt_embeds'] = refs.add(f'{cid}/prompt_embeds', pe)
                c['inputs']['prompt_attention_mask'] = refs.add(f'{cid}/prompt_attention_mask', pm)
                if call['embeds'] == 'both':
                    text.update(negative_prompt=None, negative_prompt_embeds=ne, negative_prompt_attention_mask=nm)
                    c['inputs']['negative_prompt_embeds'] = refs.add(f'{cid}/negative_prompt_embeds', ne)
                    c['inputs']['negative_prompt_attention_mask'] = refs.add(f'{cid}/negative_prompt_attention_mask', nm)
                else:
                    text.update(negative_prompt=call['negative'] if call['negative'] is not None else '')
            with torch.no_grad():
                out = pipe(**text,
                           num_inference_steps=call['steps'] if call['steps'] is not None else 20, timesteps=call['timesteps'],
                           sigmas=call['sigmas'], guidance_scale=call['guidance'], num_images_per_prompt=call['nips'],
                           height=call['height'], width=call['width'], eta=call['eta'],
                           generator=gen, output_type=call['output'],
                           clean_caption=call['clean'], use_resolution_binning=call['binning'], max_sequence_length=call['msl'],
                           callback=lambda i, t, lat: steps.append(lat.clone()), callback_steps=1).images
            if isinstance(out, list):  # output_type 'pil': uint8 NHWC
                import numpy as np
                out = torch.from_numpy(np.stack([np.array(im) for im in out]))
            if not torch.is_tensor(out):
                out = torch.from_numpy(out)
            c['outputs'] = {'images': refs.add(f'{cid}/images', out), 'latents_after_each_step': refs.add(f'{cid}/steps', torch.stack(steps))}
            c['scheduler_timesteps'] = [float(t) for t in pipe.scheduler.timesteps]
        except Exception as e:  # noqa: BLE001
            c['error'] = f'{type(e).__name__}: {e}'
            traceback.print_exc()
        print(cid, 'error' if 'error' in c else tuple(c['outputs']['images']['shape']), flush=True)
        cases.append(c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default='/tmp/sweep')
    ap.add_argument('--only', default='')
    a = ap.parse_args()
    only = set(filter(None, a.only.split(',')))
    os.makedirs(a.out, exist_ok=True)
    for spec in MODELS:
        if only and spec['id'] not in only:
            continue
        folder = os.path.join(a.out, spec['id'])
        dcfg, vcfg, t5cfg = build_model(spec, folder)
        refs, cases = Refs(), []
        meta = {'id': spec['id'], 'note': spec['note'], 't5': t5cfg, 'dit': dcfg, 'vae': vcfg, 'sched_overrides': spec['sched']}
        try:
            pipe = PixArtAlphaPipeline.from_pretrained(folder, torch_dtype=torch.float32, tokenizer=python_tokenizer())
        except Exception as e:  # noqa: BLE001
            meta['load_error'] = f'{type(e).__name__}: {e}'
            print(spec['id'], 'LOAD ERROR', meta['load_error'])
            pipe = None
        if pipe is not None:
            pipe.set_progress_bar_config(disable=True)
            meta['loaded_transformer_config'] = {k: v for k, v in dict(pipe.transformer.config).items() if not k.startswith('_')}
            meta['vae_scale_factor'] = pipe.vae_scale_factor
            component_refs(pipe, spec, refs, cases)
            pipeline_refs(pipe, spec, refs, cases)
        save_file(refs.tensors, os.path.join(folder, 'refs.safetensors'))
        with open(os.path.join(folder, 'cases.json'), 'w') as f:
            json.dump({'meta': meta, 'cases': cases}, f, indent=1, default=str)
        print(spec['id'], 'done', len(cases), 'cases', flush=True)


if __name__ == '__main__':
    main()
