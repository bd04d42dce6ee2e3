/**
 * Scheduler lookup by diffusers class name or short alias, e.g. for a CLI `--scheduler` flag.
 */
import { invalid } from './config.js';
import { DDIMScheduler } from './ddim.js';
import { DEISMultistepScheduler } from './deis_multistep.js';
import { DPMSolverMultistepScheduler } from './dpmsolver_multistep.js';
import { DPMSolverSinglestepScheduler } from './dpmsolver_singlestep.js';
import { EulerAncestralDiscreteScheduler } from './euler_ancestral_discrete.js';
import { EulerDiscreteScheduler } from './euler_discrete.js';
import { HeunDiscreteScheduler } from './heun_discrete.js';
import { KDPM2DiscreteScheduler } from './k_dpm_2_discrete.js';
import { LCMScheduler } from './lcm.js';
import { SASolverScheduler } from './sasolver.js';
import { UniPCMultistepScheduler } from './unipc_multistep.js';
import type { DeviceScheduler, SchedulerConfig } from './types.js';
import { show } from '../util/args.js';

type Factory = (config: SchedulerConfig, overrides?: SchedulerConfig) => DeviceScheduler;

const FACTORIES = {
  DPMSolverMultistepScheduler: DPMSolverMultistepScheduler.fromConfig,
  DDIMScheduler: DDIMScheduler.fromConfig,
  EulerDiscreteScheduler: EulerDiscreteScheduler.fromConfig,
  EulerAncestralDiscreteScheduler: EulerAncestralDiscreteScheduler.fromConfig,
  UniPCMultistepScheduler: UniPCMultistepScheduler.fromConfig,
  LCMScheduler: LCMScheduler.fromConfig,
  SASolverScheduler: SASolverScheduler.fromConfig,
  HeunDiscreteScheduler: HeunDiscreteScheduler.fromConfig,
  DPMSolverSinglestepScheduler: DPMSolverSinglestepScheduler.fromConfig,
  DEISMultistepScheduler: DEISMultistepScheduler.fromConfig,
  KDPM2DiscreteScheduler: KDPM2DiscreteScheduler.fromConfig,
} satisfies Record<string, Factory>;

export type SchedulerName = keyof typeof FACTORIES;

/** The diffusers class names this package implements. */
export const SCHEDULER_NAMES = Object.keys(FACTORIES) as SchedulerName[];

/** Short names accepted by createScheduler (case-insensitive), besides the class names. */
export const SCHEDULER_ALIASES: Readonly<Record<string, SchedulerName>> = {
  'dpm++2m': 'DPMSolverMultistepScheduler',
  dpm: 'DPMSolverMultistepScheduler',
  dpmsolver: 'DPMSolverMultistepScheduler',
  ddim: 'DDIMScheduler',
  euler: 'EulerDiscreteScheduler',
  euler_a: 'EulerAncestralDiscreteScheduler',
  'euler-a': 'EulerAncestralDiscreteScheduler',
  unipc: 'UniPCMultistepScheduler',
  lcm: 'LCMScheduler',
  'sa-solver': 'SASolverScheduler',
  sasolver: 'SASolverScheduler',
  heun: 'HeunDiscreteScheduler',
  'dpm-single': 'DPMSolverSinglestepScheduler',
  'dpm++2s': 'DPMSolverSinglestepScheduler',
  deis: 'DEISMultistepScheduler',
  kdpm2: 'KDPM2DiscreteScheduler',
};

export function resolveSchedulerName(name: string): SchedulerName {
  if (typeof name === 'string') {
    if (name in FACTORIES) return name as SchedulerName;
    const alias = SCHEDULER_ALIASES[name.toLowerCase()];
    if (alias) return alias;
    const byClass = SCHEDULER_NAMES.find((n) => n.toLowerCase() === name.toLowerCase());
    if (byClass) return byClass;
  }
  const known = [...SCHEDULER_NAMES, ...Object.keys(SCHEDULER_ALIASES)].join(', ');
  throw invalid(`unknown scheduler ${show(name)}; known: ${known}`);
}

/**
 * Builds scheduler `name` from a scheduler_config.json object (usually the model's own
 * DPMSolverMultistepScheduler config), as diffusers' `Class.from_config(config)` does.
 * One convenience beyond diffusers: SA-Solver cannot take the DPM-Solver `algorithm_type`
 * ("dpmsolver++"), so when the config comes from another class and no override is given,
 * SA-Solver's own default ("data_prediction") is used instead of failing.
 */
export function createScheduler(name: string, config: SchedulerConfig, overrides?: SchedulerConfig): DeviceScheduler {
  const cls = resolveSchedulerName(name);
  let extra = overrides;
  if (cls === 'SASolverScheduler' && config._class_name !== 'SASolverScheduler' && overrides?.algorithm_type === undefined
    && typeof config.algorithm_type === 'string' && !['data_prediction', 'noise_prediction'].includes(config.algorithm_type)) {
    extra = { ...overrides, algorithm_type: 'data_prediction' };
  }
  return FACTORIES[cls](config, extra);
}
