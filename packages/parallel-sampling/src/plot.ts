import type { ParallelResult } from './types.js';

/** Plot-ready convergence data of one run: residual per round against the tolerance. */
export interface ConvergencePlot {
  /** Series name (e.g. 'ParaDiGMS'). */
  name: string;
  /** Round numbers 1…rounds (the x axis). */
  rounds: number[];
  /** The residual after each round (the y axis; plot it on a log scale). */
  residuals: number[];
  /** log10 of each residual (−Infinity for an exact 0), for plotting on a linear axis. */
  log10: number[];
  /** The line residuals are compared with: 1 (residuals are normalised by the run's tolerances). */
  threshold: number;
  /** The run's relative tolerance. */
  tol: number;
  /** Whether the run converged. */
  converged: boolean;
  /** Sequential step count, to compare with the number of rounds. */
  steps: number;
  /** Denoiser evaluations in steps. */
  evaluations: number;
}

/**
 * Turns a run record of `paradigms` or `parataa` into plot data (rounds vs residual).
 *
 * @example
 * const plot = convergencePlot(await paradigms(opts), 'ParaDiGMS');
 * // plot.rounds → [1, 2, …], plot.residuals → [...]
 */
export function convergencePlot(
  run: Pick<ParallelResult, 'residuals' | 'tol' | 'converged' | 'steps' | 'evaluations'>,
  name = 'run',
): ConvergencePlot {
  return {
    name,
    rounds: run.residuals.map((_, i) => i + 1),
    residuals: [...run.residuals],
    log10: run.residuals.map((r) => Math.log10(r)),
    threshold: 1,
    tol: run.tol,
    converged: run.converged,
    steps: run.steps,
    evaluations: run.evaluations,
  };
}
