/** Diffusion schedulers ported from diffusers, in TypeScript (float32-faithful). */
export type {
  DeviceScheduler, NoiseSource, Scheduler, SchedulerConfig, SetTimestepsOptions, StepOptions, StepResult,
} from './types.js';
export { stepsOnEngine } from './types.js';
export { DeviceSample, evaluateOnHost, type Sample, type SampleTensor } from './sample.js';
export { DPMSolverMultistepScheduler } from './dpmsolver_multistep.js';
export { DDIMScheduler } from './ddim.js';
export { EulerDiscreteScheduler } from './euler_discrete.js';
export { EulerAncestralDiscreteScheduler } from './euler_ancestral_discrete.js';
export { UniPCMultistepScheduler } from './unipc_multistep.js';
export { LCMScheduler } from './lcm.js';
export { SASolverScheduler } from './sasolver.js';
export { HeunDiscreteScheduler } from './heun_discrete.js';
export { DPMSolverSinglestepScheduler } from './dpmsolver_singlestep.js';
export { DEISMultistepScheduler } from './deis_multistep.js';
export { KDPM2DiscreteScheduler } from './k_dpm_2_discrete.js';
export {
  createScheduler, resolveSchedulerName, SCHEDULER_ALIASES, SCHEDULER_NAMES, type SchedulerName,
} from './registry.js';
