/**
 * @tessera/parallel-sampling: ParaDiGMS (Picard iteration over a sliding window) and ParaTAA
 * (triangular Anderson acceleration) solve a sampler's whole trajectory in parallel rounds, one batched
 * denoiser call per round, and converge to the sequential sampler's result for the same seed.
 *
 * @example
 * import { paradigms } from '@tessera/parallel-sampling';
 * const run = await paradigms({ denoiser, x, sigmas, sampler: 'ddim', seed: 0, window: 32 });
 * console.log(run.rounds, 'rounds for', sigmas.length - 1, 'steps');
 */
export { firstFailing } from './engine.js';
export { solveRegularized } from './linalg.js';
export { paradigms } from './paradigms.js';
export { parataa } from './parataa.js';
export { type ConvergencePlot, convergencePlot } from './plot.js';
export { PARALLEL_SCHEDULERS, type ParallelSchedulerName } from './schedulers.js';
export {
  PARALLEL_SAMPLERS,
  type ParallelSamplerName,
  type ParallelSamplerOptions,
  type StepSpec,
  stepBuilder,
  stepVariances,
  type Term,
} from './steps.js';
export type {
  ParallelOptions,
  ParallelResult,
  ParaTAAOptions,
  RoundInfo,
  SchedulerParallelOptions,
  SchedulerParaTAAOptions,
} from './types.js';
