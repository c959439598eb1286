// diffusers-compatible stateful schedulers (owned by the schedulers helper).
export type { ConfigInput, Generator, SchedulerOutput, StepOptions } from './common.js';
export { DDIMScheduler, type DDIMStepOptions } from './ddim.js';
export { DDPMScheduler } from './ddpm.js';
export { DPMSolverMultistepScheduler } from './dpmsolver-multistep.js';
export { DPMSolverSinglestepScheduler, singlestepOrderList } from './dpmsolver-singlestep.js';
export {
  DiscreteSigmaScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  type EulerStepOptions,
} from './euler.js';
export { FlowMatchEulerDiscreteScheduler, type FlowMatchSetTimestepsOptions } from './flow-match-euler.js';
export { HeunDiscreteScheduler } from './heun.js';
export { LCMScheduler, type LCMSetTimestepsOptions } from './lcm.js';
export { LMSDiscreteScheduler, type LMSStepOptions, lmsCoefficient } from './lms.js';
export type { SetTimestepsOptions } from './sigma-table.js';
export { alphaSigma, solverTimesteps } from './solver-common.js';
export { solveSmall, UniPCMultistepScheduler } from './unipc.js';
