/**
 * @tessera/diffusion: forward noising, prediction conversions, k-diffusion samplers, guidance and
 * editing helpers, and diffusers-compatible schedulers.
 *
 * @example
 * import { sample } from '@tessera/diffusion';
 * const x0 = await sample('dpmpp_2m', { denoiser, x, sigmas, seed: 0 });
 */

export { DRAWS_PER_STEP, SampleContext, stepNoiseOffset } from './context.js';
export { type InpaintOptions, img2img, img2imgSigmas, inpaint, maskedDenoiser } from './editing.js';
export {
  type AlphaSigma,
  addNoise,
  alphaSigma,
  convertPrediction,
  type NoiseLevel,
  type Prediction,
  predictionCoefs,
} from './forward.js';
export {
  type CfgOptions,
  cfgDenoiser,
  clipDenoiser,
  dynamicThreshold,
  rescaleGuidance,
  rowQuantile,
  type ThresholdOptions,
  thresholdDenoiser,
} from './guidance.js';
export { asForm, type LincombTarget, LinearForm, lin, toD } from './linear-form.js';
export {
  BrownianTree,
  type BrownianTreeOptions,
  brownianTreeNoiseSampler,
  philoxNoiseSampler,
} from './noise.js';
export {
  asRowDenoiser,
  isRowDenoiser,
  type RowCoefs,
  rowDenoiser,
  rowSigmas,
  sigmaGroups,
} from './rows.js';
export { DETERMINISTIC_SAMPLERS, SAMPLER_NAMES, type SamplerName, sample } from './sample.js';
export { ancestralStep, type SamplerFn } from './samplers/basic.js';
export { type ChurnOptions, churn } from './samplers/churn.js';
export { type DpmAdaptiveInfo, dpmFastGrid, dpmFastOrders } from './samplers/dpm-solver.js';
// Listed by name, not `export *`: a star export is silently shadowed by a same-named root export.
export {
  AlphaTableScheduler,
  type ConfigInput,
  DDIMScheduler,
  type DDIMStepOptions,
  DDPMScheduler,
  DEISMultistepScheduler,
  DiscreteSigmaScheduler,
  DPMSolverMultistepScheduler,
  DPMSolverSinglestepScheduler,
  EDMBase,
  EDMDPMSolverMultistepScheduler,
  EDMEulerScheduler,
  type EDMEulerStepOptions,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  type EulerStepOptions,
  effectiveLowerOrderFinal,
  FlowMatchEulerDiscreteScheduler,
  type FlowMatchSetTimestepsOptions,
  type Generator,
  HeunDiscreteScheduler,
  KDPM2AncestralDiscreteScheduler,
  KDPM2Base,
  KDPM2DiscreteScheduler,
  LCMScheduler,
  type LCMSetTimestepsOptions,
  LMSDiscreteScheduler,
  type LMSStepOptions,
  lmsCoefficient,
  PNDMScheduler,
  SCHEDULER_CLASS_NAMES,
  type Scheduler,
  SchedulerBase,
  type SchedulerFromConfigOptions,
  type SchedulerOutput,
  type SetTimestepsOptions,
  SolverScheduler,
  type StepOptions,
  schedulerFromConfig,
  singlestepOrderList,
  solverAlphaSigma,
  solverTimesteps,
  solveSmall,
  TCDScheduler,
  type TCDStepOptions,
  TrainedScheduler,
  UniPCMultistepScheduler,
} from './schedulers/index.js';
export type {
  Denoiser,
  NoiseSampler,
  RowDenoiser,
  RowSigmas,
  SampleOptions,
  SamplerOptions,
  SigmaArg,
  StepInfo,
  TimestepModel,
} from './types.js';
export {
  type DiscreteDenoiserOptions,
  discreteDenoiser,
  epsDenoiser,
  type FlowDenoiserOptions,
  flowDenoiser,
  flowTimeToSigma,
  logSigmasFromAlphasCumprod,
  sigmaToFlowTime,
  sigmaToTimestep,
  timestepToSigma,
  vDenoiser,
} from './wrappers.js';
