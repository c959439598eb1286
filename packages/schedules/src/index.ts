/**
 * @tessera/schedules: beta / alpha / sigma schedules, timestep spacing and diffusers
 * `scheduler_config.json` interop, computed in float64 with diffusers' float32 rounding reproduced
 * where it changes results.
 *
 * @example
 * import { betas, alphasCumprod, sigmasFromAlphasCumprod, timesteps, karrasSigmas } from '@tessera/schedules';
 * const b = betas('scaled_linear', { numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012 });
 * const ac = alphasCumprod(b);
 * const table = sigmasFromAlphasCumprod(ac); // σ by training timestep
 * timesteps(10, { spacing: 'leading', numTrainTimesteps: 1000, stepsOffset: 1 }); // Int32Array [901, …, 1]
 * karrasSigmas(10, table[0], table[999], 7); // 10 values, descending
 */
export { betaCdf, betaPpf, logBeta, logGamma } from './beta-distribution.js';
export {
  alphas,
  alphasCumprod,
  alphasCumprodFromSigmas,
  BETA_SCHEDULES,
  type BetaOptions,
  type BetaScheduleName,
  betas,
  logSNR,
  type Precision,
  rescaleZeroTerminalSnr,
  sigmasFromAlphasCumprod,
  type TableOptions,
} from './betas.js';
export {
  type DiffusersSchedulerKeys,
  diffusersConfigToJson,
  type FromConfigOptions,
  fromDiffusersConfig,
  KNOWN_SCHEDULER_CLASSES,
  SchedulerConfig,
  toDiffusersConfig,
} from './config.js';
export { SCHEDULER_DEFAULTS } from './config-defaults.js';
export {
  calculateShift,
  type FlowMatchOptions,
  flowMatchSigmas,
  type ShiftOptions,
  shiftSigma,
  type TimeShiftType,
  timeShift,
} from './flow.js';
export { appendZero, arange, f32, linspace, roundHalfEven, torchLinspaceF32 } from './numeric.js';
export { parsePythonJson, stringifyPythonJson } from './python-json.js';
export {
  betaSigmas,
  exponentialSigmas,
  interpTable,
  karrasSigmas,
  luLambdaSigmas,
  polyexponentialSigmas,
  sigmasToT,
  sigmaToT,
  tToSigma,
  type VpOptions,
  vpSigmas,
} from './sigmas.js';
export {
  customTimesteps,
  TIMESTEP_SPACINGS,
  type TimestepOptions,
  type TimestepSpacing,
  timesteps,
} from './timesteps.js';
