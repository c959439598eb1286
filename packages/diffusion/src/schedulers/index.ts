// diffusers-compatible stateful schedulers (owned by the schedulers helper).
export { type Scheduler, SchedulerBase } from './base.js';
export type { ConfigInput, Generator, SchedulerOutput, StepOptions } from './common.js';
export { DDIMScheduler, type DDIMStepOptions } from './ddim.js';
export { DDPMScheduler } from './ddpm.js';
export { DEISMultistepScheduler } from './deis.js';
export { DPMSolverMultistepScheduler } from './dpmsolver-multistep.js';
export {
  DPMSolverSinglestepScheduler,
  effectiveLowerOrderFinal,
  singlestepOrderList,
} from './dpmsolver-singlestep.js';
export {
  EDMBase,
  EDMDPMSolverMultistepScheduler,
  EDMEulerScheduler,
  type EDMEulerStepOptions,
} from './edm.js';
export {
  DiscreteSigmaScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  type EulerStepOptions,
} from './euler.js';
export { AlphaTableScheduler, SolverScheduler, TrainedScheduler } from './families.js';
export { FlowMatchEulerDiscreteScheduler, type FlowMatchSetTimestepsOptions } from './flow-match-euler.js';
export { HeunDiscreteScheduler } from './heun.js';
export { KDPM2AncestralDiscreteScheduler, KDPM2Base, KDPM2DiscreteScheduler } from './kdpm2.js';
export { LCMScheduler, type LCMSetTimestepsOptions } from './lcm.js';
export { LMSDiscreteScheduler, type LMSStepOptions, lmsCoefficient } from './lms.js';
export { PNDMScheduler } from './pndm.js';
export {
  SCHEDULER_CLASS_NAMES,
  type SchedulerFromConfigOptions,
  schedulerFromConfig,
} from './registry.js';
export type { SetTimestepsOptions } from './sigma-table.js';
export { solverAlphaSigma, solverTimesteps } from './solver-common.js';
export { TCDScheduler, type TCDStepOptions } from './tcd.js';
export { solveSmall, UniPCMultistepScheduler } from './unipc.js';
