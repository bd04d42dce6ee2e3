"""
Regenerates diffusers_options.json: runs diffusers' own scheduler modules (from a diffusers
checkout, commit 58eb52c0803ea9af3abec60841c2a093bdf1f951) with minimal stand-ins for the rest of
the diffusers package, so only torch + numpy (+ scipy for beta sigmas) are needed.

  python3 generate_options.py /path/to/diffusers [out.json]

Nothing from diffusers is stored here; the scheduler files are copied from the given checkout
into a temporary package at run time.
"""
import os, shutil, sys, tempfile
DIFFUSERS = sys.argv[1]
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'diffusers_options.json')
ROOT = tempfile.mkdtemp()
STUBS = {'dfs/configuration_utils.py': "import functools, inspect\nclass Cfg(dict):\n    def __getattr__(self, k):\n        try: return self[k]\n        except KeyError: raise AttributeError(k)\n    def __setattr__(self, k, v): self[k] = v\nclass ConfigMixin:\n    config_name = 'scheduler_config.json'\n    @property\n    def config(self): return self._internal_dict\n    def register_to_config(self, **kw):\n        d = Cfg(getattr(self, '_internal_dict', {})); d.update(kw); self._internal_dict = d\ndef register_to_config(init):\n    @functools.wraps(init)\n    def inner(self, *args, **kwargs):\n        b = inspect.signature(init).bind(self, *args, **kwargs); b.apply_defaults()\n        self.register_to_config(**{k: v for k, v in b.arguments.items() if k != 'self'})\n        init(self, *args, **kwargs)\n    return inner\n", 'dfs/utils/__init__.py': 'import logging as _l\nfrom dataclasses import dataclass\ndef deprecate(*a, **k): pass\ndef is_scipy_available(): return True\nclass logging:\n    @staticmethod\n    def get_logger(n): return _l.getLogger(n)\nclass BaseOutput:\n    def __getitem__(self, i): return list(self.__dict__.values())[i]\n', 'dfs/utils/torch_utils.py': 'NOISE = []\ndef randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):\n    return NOISE.pop(0)\n', 'dfs/schedulers/scheduling_utils.py': 'from dataclasses import dataclass\nfrom enum import Enum\nimport torch\nfrom ..utils import BaseOutput\nclass KarrasDiffusionSchedulers(Enum):\n    A = 1\nclass SchedulerMixin: pass\n@dataclass\nclass SchedulerOutput(BaseOutput):\n    prev_sample: torch.Tensor\n'}
for rel, text in STUBS.items():
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, 'w').write(text)
for d in ['dfs', 'dfs/schedulers']:
    open(os.path.join(ROOT, d, '__init__.py'), 'a').close()
for name in os.listdir(os.path.join(DIFFUSERS, 'src/diffusers/schedulers')):
    if name.startswith('scheduling_') and name != 'scheduling_utils.py' and name.endswith('.py'):
        shutil.copy(os.path.join(DIFFUSERS, 'src/diffusers/schedulers', name), os.path.join(ROOT, 'dfs/schedulers', name))
import json, math, inspect, importlib
import numpy as np, torch
sys.path.insert(0, ROOT)
from dfs.utils import torch_utils
PIX = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../test/fixtures/pixart-tiny/reference/cases.json')))['pixart_scheduler_config']
PIX = dict(PIX); PIX['lambda_min_clipped'] = float('-inf')
MOD = {'DPMSolverMultistepScheduler':'dpmsolver_multistep','DDIMScheduler':'ddim','EulerDiscreteScheduler':'euler_discrete',
 'EulerAncestralDiscreteScheduler':'euler_ancestral_discrete','UniPCMultistepScheduler':'unipc_multistep','LCMScheduler':'lcm',
 'SASolverScheduler':'sasolver','HeunDiscreteScheduler':'heun_discrete','DPMSolverSinglestepScheduler':'dpmsolver_singlestep',
 'DEISMultistepScheduler':'deis_multistep','KDPM2DiscreteScheduler':'k_dpm_2_discrete'}
def make(cls, ov):
    C = getattr(importlib.import_module('dfs.schedulers.scheduling_' + MOD[cls]), cls)
    sig = inspect.signature(C.__init__).parameters
    kw = {k: v for k, v in PIX.items() if k in sig}; kw.update(ov)
    return C(**kw)
X0 = np.array([math.sin(i * 0.37 + 0.1) * 1.5 for i in range(16)], np.float32)
def noise(k): return np.array([math.cos(1.3 * k + 0.7 * i) for i in range(16)], np.float32)
D = 'DPMSolverMultistepScheduler'
CASES = [
 ('dpm_karras', D, {'use_karras_sigmas': True}, 10, {}),
 ('dpm_lu', D, {'use_lu_lambdas': True}, 8, {}),
 ('dpm_exponential', D, {'use_exponential_sigmas': True}, 8, {}),
 ('dpm_beta', D, {'use_beta_sigmas': True}, 8, {}),
 ('dpm_sde', D, {'algorithm_type': 'sde-dpmsolver++'}, 8, {}),
 ('dpm_sde_heun_order3', D, {'algorithm_type': 'sde-dpmsolver++', 'solver_type': 'heun', 'solver_order': 3}, 7, {}),
 ('dpm_dpmsolver_sigma_min', D, {'algorithm_type': 'dpmsolver', 'final_sigmas_type': 'sigma_min'}, 8, {}),
 ('dpm_dpmsolver_heun_o3', D, {'algorithm_type': 'dpmsolver', 'final_sigmas_type': 'sigma_min', 'solver_type': 'heun', 'solver_order': 3}, 8, {}),
 ('dpm_sde_dpmsolver', D, {'algorithm_type': 'sde-dpmsolver', 'final_sigmas_type': 'sigma_min'}, 6, {}),
 ('dpm_order3_heun', D, {'solver_order': 3, 'solver_type': 'heun'}, 9, {}),
 ('dpm_leading_offset', D, {'timestep_spacing': 'leading', 'steps_offset': 1}, 7, {}),
 ('dpm_trailing', D, {'timestep_spacing': 'trailing'}, 7, {}),
 ('dpm_vpred_threshold', D, {'prediction_type': 'v_prediction', 'thresholding': True, 'sample_max_value': 1.5}, 6, {}),
 ('dpm_sample_pred_euler_final', D, {'prediction_type': 'sample', 'euler_at_final': True, 'lower_order_final': False}, 16, {}),
 ('dpm_cosine_clipped', D, {'beta_schedule': 'squaredcos_cap_v2', 'lambda_min_clipped': -5.1}, 8, {}),
 ('dpm_scaled_linear_zero_snr', D, {'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'beta_end': 0.012, 'rescale_betas_zero_snr': True, 'final_sigmas_type': 'zero', 'prediction_type': 'v_prediction'}, 6, {}),
 ('ddim_eta', 'DDIMScheduler', {'timestep_spacing': 'leading', 'steps_offset': 1}, 6, {'eta': 0.5}),
 ('ddim_trailing_noclip_vpred', 'DDIMScheduler', {'timestep_spacing': 'trailing', 'clip_sample': False, 'prediction_type': 'v_prediction', 'set_alpha_to_one': False}, 5, {}),
 ('euler_karras', 'EulerDiscreteScheduler', {'use_karras_sigmas': True}, 8, {}),
 ('euler_leading_churn', 'EulerDiscreteScheduler', {'timestep_spacing': 'leading', 'steps_offset': 1}, 6, {'s_churn': 1.0}),
 ('euler_trailing_vpred_sigma_min', 'EulerDiscreteScheduler', {'timestep_spacing': 'trailing', 'prediction_type': 'v_prediction', 'final_sigmas_type': 'sigma_min'}, 6, {}),
 ('euler_exponential', 'EulerDiscreteScheduler', {'use_exponential_sigmas': True}, 6, {}),
 ('euler_beta', 'EulerDiscreteScheduler', {'use_beta_sigmas': True}, 6, {}),
 ('euler_a_leading', 'EulerAncestralDiscreteScheduler', {'timestep_spacing': 'leading', 'steps_offset': 1}, 6, {}),
 ('euler_a_vpred', 'EulerAncestralDiscreteScheduler', {'prediction_type': 'v_prediction'}, 5, {}),
 ('unipc_order3', 'UniPCMultistepScheduler', {'solver_order': 3}, 9, {}),
 ('unipc_bh1_eps', 'UniPCMultistepScheduler', {'solver_type': 'bh1', 'predict_x0': False, 'final_sigmas_type': 'sigma_min'}, 7, {}),
 ('unipc_karras_sigma_min', 'UniPCMultistepScheduler', {'use_karras_sigmas': True, 'final_sigmas_type': 'sigma_min'}, 7, {}),
 ('unipc_disable_corrector', 'UniPCMultistepScheduler', {'disable_corrector': [0, 2], 'timestep_spacing': 'trailing'}, 6, {}),
 ('lcm_default_schedule', 'LCMScheduler', {'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'beta_end': 0.012}, 4, {}),
 ('lcm_vpred_clip', 'LCMScheduler', {'prediction_type': 'v_prediction', 'clip_sample': True, 'original_inference_steps': 20}, 5, {}),
 ('sasolver_order3', 'SASolverScheduler', {'algorithm_type': 'data_prediction', 'predictor_order': 3, 'corrector_order': 3}, 8, {}),
 ('sasolver_noise_pred', 'SASolverScheduler', {'algorithm_type': 'noise_prediction'}, 7, {}),
 ('sasolver_karras', 'SASolverScheduler', {'algorithm_type': 'data_prediction', 'use_karras_sigmas': True}, 6, {}),
 ('heun_karras', 'HeunDiscreteScheduler', {'use_karras_sigmas': True}, 5, {}),
 ('heun_scaled_vpred_clip', 'HeunDiscreteScheduler', {'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'beta_end': 0.012, 'prediction_type': 'v_prediction', 'clip_sample': True, 'timestep_spacing': 'trailing'}, 4, {}),
 ('dpm_single_order3', 'DPMSolverSinglestepScheduler', {'solver_order': 3}, 9, {}),
 ('dpm_single_order3_heun_sigma_min', 'DPMSolverSinglestepScheduler', {'solver_order': 3, 'solver_type': 'heun', 'final_sigmas_type': 'sigma_min'}, 9, {}),
 ('dpm_single_sde', 'DPMSolverSinglestepScheduler', {'algorithm_type': 'sde-dpmsolver++'}, 6, {}),
 ('dpm_single_dpmsolver', 'DPMSolverSinglestepScheduler', {'algorithm_type': 'dpmsolver', 'final_sigmas_type': 'sigma_min', 'lower_order_final': False}, 6, {}),
 ('dpm_single_karras', 'DPMSolverSinglestepScheduler', {'use_karras_sigmas': True}, 6, {}),
 ('deis_order3', 'DEISMultistepScheduler', {'solver_order': 3}, 9, {}),
 ('deis_karras_leading', 'DEISMultistepScheduler', {'use_karras_sigmas': True}, 6, {}),
 ('deis_vpred_leading', 'DEISMultistepScheduler', {'prediction_type': 'v_prediction', 'timestep_spacing': 'leading', 'steps_offset': 1}, 6, {}),
 ('kdpm2_karras', 'KDPM2DiscreteScheduler', {'use_karras_sigmas': True}, 5, {}),
 ('kdpm2_scaled_leading_vpred', 'KDPM2DiscreteScheduler', {'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'beta_end': 0.012, 'timestep_spacing': 'leading', 'steps_offset': 1, 'prediction_type': 'v_prediction'}, 4, {}),
]
out = {'x_init': X0.tolist(), 'shape': [1, 4, 2, 2], 'noise': [noise(k).tolist() for k in range(60)], 'cases': []}
for cid, cls, ov, n, kw in CASES:
    s = make(cls, ov)
    s.set_timesteps(n)
    rec = {'id': cid, 'class': cls, 'overrides': ov, 'n': n, 'step_kwargs': kw,
           'timesteps': [float(t) for t in s.timesteps], 'timesteps_dtype': str(s.timesteps.dtype),
           'init_noise_sigma': float(s.init_noise_sigma)}
    if hasattr(s, 'sigmas') and torch.is_tensor(s.sigmas): rec['sigmas'] = [float(v) for v in s.sigmas]
    draws = [torch.from_numpy(noise(k)).reshape(1, 4, 2, 2) for k in range(3 * len(s.timesteps) + 2)]
    torch_utils.NOISE[:] = list(draws)
    x = torch.from_numpy(X0.copy()).reshape(1, 4, 2, 2) * s.init_noise_sigma
    if hasattr(s, 'set_begin_index'): s.set_begin_index(0)
    xs, dens = [], []
    for t in s.timesteps:
        xin = s.scale_model_input(x, t)
        tf = t.to(torch.float32) if torch.is_tensor(t) else torch.tensor(t, dtype=torch.float32)
        eps = torch.tanh(0.7 * xin + torch.sin(tf / 100.0))
        o = s.step(eps, t, x, **kw)
        x = o[0]
        xs.append([float(v) for v in x.flatten()])
        if cls == 'LCMScheduler': dens.append([float(v) for v in o[1].flatten()])
    rec['x_after_step'] = xs
    if dens: rec['denoised'] = dens
    rec['num_noise_draws'] = len(draws) - len(torch_utils.NOISE)
    rec['config_after'] = {k: (v if not (isinstance(v, float) and math.isinf(v)) else str(v)) for k, v in s.config.items() if k in ov}
    out['cases'].append(rec)
    print(cid, rec['timesteps'][:6], rec['num_noise_draws'])
json.dump(out, open(OUT, 'w'), separators=(',', ':'))
