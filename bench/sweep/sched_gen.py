#!/usr/bin/env python3
"""Scheduler-alone sweep, reference side: for many (scheduler class, config overrides on PixArt's
DPM-Solver config, step count / custom timesteps / sigmas, step kwargs) runs diffusers' own
scheduler on a closed loop with the fixtures' stand-in model
    eps = tanh(0.7 * scale_model_input(x, t) + sin(float32(t) / 100))
on x_init ~ randn(1,4,6,5) (torch.Generator().manual_seed(1000+k)) * init_noise_sigma, noise inside
step() from generator=torch.Generator().manual_seed(2000+k) where step() takes one. Records
timesteps, sigmas, init_noise_sigma, x after each step, and step()[1] of the last step.
bench/sweep/sched_run.ts replays it.

  cd /work/main
  PYTHONPATH=/work/main/bench/.diffusers:/work/pydeps python3 bench/sweep/sched_gen.py
  npx tsx bench/sweep/sched_run.ts
"""
import inspect
import json
import os
import traceback

import torch
from diffusers import (DDIMScheduler, DEISMultistepScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler,
                       KDPM2DiscreteScheduler, LCMScheduler, SASolverScheduler, UniPCMultistepScheduler)
from safetensors.torch import save_file

torch.set_num_threads(2)
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'pixart-tiny')
OUT = '/tmp/sweep/sched'

CLS = {c.__name__: c for c in (DDIMScheduler, DEISMultistepScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
                               EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler,
                               KDPM2DiscreteScheduler, LCMScheduler, SASolverScheduler, UniPCMultistepScheduler)}
ZSNR = dict(rescale_betas_zero_snr=True, timestep_spacing='trailing')
SL = dict(beta_schedule='scaled_linear', beta_start=0.00085, beta_end=0.012)
COS = dict(beta_schedule='squaredcos_cap_v2')

# (class, overrides, n | {'timesteps': [...]} | {'sigmas': [...]}, step kwargs)
CASES = [
    ('DPMSolverMultistepScheduler', {}, 1, {}),
    ('DPMSolverMultistepScheduler', {}, 13, {}),
    ('DPMSolverMultistepScheduler', {}, 50, {}),
    ('DPMSolverMultistepScheduler', dict(solver_order=3), 3, {}),
    ('DPMSolverMultistepScheduler', dict(solver_order=1), 6, {}),
    ('DPMSolverMultistepScheduler', dict(num_train_timesteps=500), 7, {}),
    ('DPMSolverMultistepScheduler', dict(trained_betas=[float(x) for x in torch.linspace(2e-4, 0.03, 1000)]), 6, {}),
    ('DPMSolverMultistepScheduler', dict(euler_at_final=True), 5, {}),
    ('DPMSolverMultistepScheduler', dict(final_sigmas_type='sigma_min', use_karras_sigmas=True, solver_order=3), 11, {}),
    ('DPMSolverMultistepScheduler', dict(algorithm_type='sde-dpmsolver++', use_lu_lambdas=True), 6, {}),
    ('DPMSolverMultistepScheduler', dict(algorithm_type='sde-dpmsolver++', use_exponential_sigmas=True, solver_order=3), 7, {}),
    ('DPMSolverMultistepScheduler', dict(thresholding=True, prediction_type='sample'), 5, {}),
    ('DPMSolverMultistepScheduler', dict(**ZSNR, prediction_type='v_prediction'), 5, {}),
    ('DPMSolverMultistepScheduler', dict(**COS, lambda_min_clipped=-5.1, algorithm_type='dpmsolver', final_sigmas_type='sigma_min'), 6, {}),
    ('DPMSolverMultistepScheduler', dict(algorithm_type='deis'), 5, {}),
    ('DPMSolverMultistepScheduler', dict(solver_type='bh2'), 5, {}),
    ('DPMSolverMultistepScheduler', {}, {'timesteps': [999, 700, 420, 100, 3]}, {}),
    ('DPMSolverMultistepScheduler', dict(steps_offset=1, timestep_spacing='leading'), {'timesteps': [900, 500, 10]}, {}),
    ('DPMSolverSinglestepScheduler', {}, 1, {}),
    ('DPMSolverSinglestepScheduler', {}, 10, {}),
    ('DPMSolverSinglestepScheduler', dict(solver_order=3, lower_order_final=False), 7, {}),
    ('DPMSolverSinglestepScheduler', dict(solver_order=1), 4, {}),
    ('DPMSolverSinglestepScheduler', dict(use_exponential_sigmas=True), 6, {}),
    ('DPMSolverSinglestepScheduler', dict(use_beta_sigmas=True, solver_order=3), 8, {}),
    ('DPMSolverSinglestepScheduler', dict(**ZSNR, prediction_type='v_prediction'), 6, {}),
    ('DPMSolverSinglestepScheduler', dict(thresholding=True, sample_max_value=0.8), 5, {}),
    ('DPMSolverSinglestepScheduler', {}, {'timesteps': [999, 800, 600, 400, 200, 50]}, {}),
    ('DPMSolverSinglestepScheduler', dict(lambda_min_clipped=-3.0, **COS), 6, {}),
    ('DDIMScheduler', {}, 1, {}),
    ('DDIMScheduler', {}, 7, {'eta': 1.0}),
    ('DDIMScheduler', dict(**ZSNR, prediction_type='v_prediction'), 5, {}),
    ('DDIMScheduler', dict(thresholding=True, clip_sample=False), 5, {}),
    ('DDIMScheduler', dict(prediction_type='sample', clip_sample_range=0.5), 5, {}),
    ('DDIMScheduler', dict(set_alpha_to_one=False, timestep_spacing='leading', steps_offset=1), 9, {'eta': 0.3}),
    ('DDIMScheduler', dict(**COS, clip_sample=False), 6, {'eta': 0.5, 'use_clipped_model_output': True}),
    ('DDIMScheduler', {}, 100, {}),
    ('EulerDiscreteScheduler', {}, 1, {}),
    ('EulerDiscreteScheduler', dict(interpolation_type='log_linear'), 6, {}),
    ('EulerDiscreteScheduler', dict(prediction_type='v_prediction', timestep_type='continuous'), 6, {}),
    ('EulerDiscreteScheduler', dict(prediction_type='v_prediction', timestep_type='continuous', use_karras_sigmas=True), 6, {}),
    ('EulerDiscreteScheduler', dict(**ZSNR), 5, {}),
    ('EulerDiscreteScheduler', dict(**ZSNR, prediction_type='v_prediction', final_sigmas_type='sigma_min'), 5, {}),
    ('EulerDiscreteScheduler', dict(prediction_type='sample'), 5, {}),
    ('EulerDiscreteScheduler', {}, {'timesteps': [999, 650, 300, 40]}, {}),
    ('EulerDiscreteScheduler', {}, {'sigmas': [80.0, 20.0, 5.5, 1.1, 0.03]}, {}),
    ('EulerDiscreteScheduler', dict(use_karras_sigmas=True), {'sigmas': [14.0, 3.0, 0.5]}, {}),
    ('EulerDiscreteScheduler', dict(**SL), 13, {'s_churn': 0.5, 's_tmin': 0.1, 's_tmax': 5.0, 's_noise': 1.003}),
    ('EulerAncestralDiscreteScheduler', {}, 1, {}),
    ('EulerAncestralDiscreteScheduler', dict(**ZSNR), 6, {}),
    ('EulerAncestralDiscreteScheduler', dict(**SL, timestep_spacing='trailing'), 9, {}),
    ('HeunDiscreteScheduler', {}, 1, {}),
    ('HeunDiscreteScheduler', dict(use_exponential_sigmas=True), 4, {}),
    ('HeunDiscreteScheduler', dict(use_beta_sigmas=True, prediction_type='sample'), 4, {}),
    ('HeunDiscreteScheduler', {}, {'timesteps': [999, 500, 100, 20]}, {}),
    ('HeunDiscreteScheduler', dict(timestep_spacing='leading', steps_offset=1), 7, {}),
    ('KDPM2DiscreteScheduler', {}, 1, {}),
    ('KDPM2DiscreteScheduler', dict(use_exponential_sigmas=True), 4, {}),
    ('KDPM2DiscreteScheduler', dict(use_beta_sigmas=True, timestep_spacing='trailing'), 5, {}),
    ('LCMScheduler', {}, 1, {}),
    ('LCMScheduler', dict(original_inference_steps=30, timestep_scaling=5.0), 6, {}),
    ('LCMScheduler', {}, {'timesteps': [999, 759, 499, 259]}, {}),
    ('LCMScheduler', dict(**ZSNR, prediction_type='v_prediction'), 4, {}),
    ('LCMScheduler', dict(thresholding=True, timestep_spacing='linspace'), 3, {}),
    ('LCMScheduler', dict(timestep_spacing='trailing'), 8, {}),
    ('UniPCMultistepScheduler', {}, 1, {}),
    ('UniPCMultistepScheduler', dict(solver_type='bh1'), 13, {}),
    ('UniPCMultistepScheduler', dict(use_exponential_sigmas=True), 6, {}),
    ('UniPCMultistepScheduler', dict(use_beta_sigmas=True, solver_order=3), 7, {}),
    ('UniPCMultistepScheduler', dict(**ZSNR, prediction_type='v_prediction'), 6, {}),
    ('UniPCMultistepScheduler', dict(thresholding=True, lower_order_final=False), 6, {}),
    ('UniPCMultistepScheduler', dict(predict_x0=False, solver_type='bh2', final_sigmas_type='sigma_min', solver_order=3), 8, {}),
    ('UniPCMultistepScheduler', dict(timestep_spacing='leading', steps_offset=1, prediction_type='sample'), 5, {}),
    ('DEISMultistepScheduler', {}, 1, {}),
    ('DEISMultistepScheduler', dict(lower_order_final=False, solver_order=3), 5, {}),
    ('DEISMultistepScheduler', dict(use_exponential_sigmas=True), 6, {}),
    ('DEISMultistepScheduler', dict(use_beta_sigmas=True), 6, {}),
    ('DEISMultistepScheduler', dict(thresholding=True, prediction_type='sample'), 5, {}),
    ('DEISMultistepScheduler', dict(**ZSNR), 5, {}),
    ('SASolverScheduler', dict(algorithm_type='data_prediction'), 1, {}),
    ('SASolverScheduler', dict(algorithm_type='data_prediction', predictor_order=1, corrector_order=1), 5, {}),
    ('SASolverScheduler', dict(algorithm_type='data_prediction', predictor_order=4, corrector_order=4), 9, {}),
    ('SASolverScheduler', dict(algorithm_type='noise_prediction', predictor_order=3, corrector_order=2, lower_order_final=False), 7, {}),
    ('SASolverScheduler', dict(algorithm_type='data_prediction', use_exponential_sigmas=True), 6, {}),
    ('SASolverScheduler', dict(algorithm_type='data_prediction', prediction_type='v_prediction', timestep_spacing='trailing'), 6, {}),
    ('SASolverScheduler', dict(algorithm_type='data_prediction', thresholding=True), 5, {}),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    base = dict(DPMSolverMultistepScheduler.from_pretrained(os.path.join(FIXTURE, 'scheduler')).config)
    base = {k: v for k, v in base.items() if not k.startswith('_')}
    tensors, cases = {}, []
    for k, (name, over, n, kwargs) in enumerate(CASES):
        cid = f's{k:02d}_{name.replace("Scheduler", "")}'
        cfg = dict(base)
        cfg.update(over)
        c = {'id': cid, 'class': name, 'overrides': over, 'n': n, 'step_kwargs': kwargs, 'config': cfg}
        try:
            s = CLS[name].from_config(cfg)
            if isinstance(n, int):
                s.set_timesteps(n)
            elif 'timesteps' in n:
                s.set_timesteps(timesteps=n['timesteps'])
            else:
                s.set_timesteps(sigmas=n['sigmas'])
            if hasattr(s, 'set_begin_index'):
                s.set_begin_index(0)
            g0 = torch.Generator().manual_seed(1000 + k)
            x = torch.randn((1, 4, 6, 5), generator=g0) * s.init_noise_sigma
            gen = torch.Generator().manual_seed(2000 + k)
            params = inspect.signature(s.step).parameters
            kw = dict(kwargs)
            if 'generator' in params:
                kw['generator'] = gen
            xs, last1 = [], None
            for t in s.timesteps:
                xin = s.scale_model_input(x, t)
                tt = torch.tensor(float(t), dtype=torch.float32)
                eps = torch.tanh(0.7 * xin + torch.sin(tt / 100.0))
                out = s.step(eps, t, x, return_dict=False, **kw)
                x = out[0]
                last1 = out[1] if len(out) > 1 else None
                xs.append(x.clone())
            c['timesteps'] = [float(t) for t in s.timesteps]
            c['timesteps_dtype'] = str(s.timesteps.dtype)
            c['sigmas'] = [float(v) for v in s.sigmas] if hasattr(s, 'sigmas') and torch.is_tensor(getattr(s, 'sigmas', None)) else None
            c['init_noise_sigma'] = float(s.init_noise_sigma)
            c['order'] = s.order
            tensors[f'{cid}/x'] = torch.stack(xs).contiguous()
            if last1 is not None:
                tensors[f'{cid}/last1'] = last1.contiguous()
            ok = bool(torch.isfinite(tensors[f'{cid}/x']).all())
            c['finite'] = ok
        except Exception as e:  # noqa: BLE001
            c['error'] = f'{type(e).__name__}: {e}'
            traceback.print_exc()
        print(cid, c.get('error', f"{len(c.get('timesteps', []))} its"), flush=True)
        cases.append(c)
    save_file(tensors, os.path.join(OUT, 'refs.safetensors'))
    with open(os.path.join(OUT, 'cases.json'), 'w') as f:
        json.dump({'cases': cases}, f, indent=1, default=str)


if __name__ == '__main__':
    main()
