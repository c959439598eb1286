// ParaDiGMS (Shih et al. 2023, Algorithm 1): Picard iteration over a sliding window of steps.
import type { Tensor } from '@tessera/core';
import { firstFailing, Run } from './engine.js';
import type { ParallelOptions, ParallelResult, SchedulerParallelOptions } from './types.js';

/**
 * Solves the sampler's whole trajectory by Picard iteration over a sliding window of `window` steps
 * (ParaDiGMS, Shih et al. 2023, Algorithm 1). Each round evaluates the denoiser on every step of the
 * window in one batched call (two for heun/dpm_2) and updates the window as
 * x_{i+1} ← F_i(x_i^old) + (x_i^new − x_i^old), which is ParaDiGMS' cumulative-drift update written so
 * that the window's first step is exactly the sequential step (window 1 reproduces `sample` bitwise on
 * the CPU backend, and after k rounds the first k steps are exact). The noise of every step comes from
 * the same Philox words `sample` draws for `seed`, so the result converges to the sequential one. The
 * window then slides past the first step whose scaled change ‖x_new − x_old‖²/(D·σ_t²) exceeds tol²
 * (see {@link ParallelOptions.tol}).
 *
 * Host readback: one per round, the per-step, per-image squared norms of the changes (one small
 * vector); nothing else is read.
 *
 * @example
 * const run = await paradigms({ denoiser, x, sigmas, sampler: 'ddpm', seed: 7, window: 64, tol: 0.1 });
 * console.log(run.rounds, run.evaluations, run.converged);
 * run.x.dispose();
 */
export async function paradigms(
  options: ParallelOptions | SchedulerParallelOptions,
): Promise<ParallelResult> {
  const run = new Run('paradigms', options, 0.1);
  const { B, traj } = run;
  let begin = 0;
  try {
    while (begin < run.steps && run.rounds < run.maxRounds) {
      await run.breathe();
      run.checkAbort('paradigms');
      const end = Math.min(begin + run.window, run.steps);
      run.fill(end);
      const xs = traj.slice(begin, end) as Tensor[];
      const F = await run.evaluate(begin, xs);
      const fresh: Tensor[] = [];
      const deltas: Tensor[] = [];
      try {
        for (let k = 0; k < F.length; k++) {
          const j = begin + k + 1;
          const prev = deltas[k - 1];
          const next = prev ? B.lincomb([1, 1], [F[k]!, prev]) : B.lincomb([1], [F[k]!]);
          fresh.push(next);
          deltas.push(B.lincomb([1, -1], [next, traj[j]!]));
        }
        const { norms } = await run.sumsq(deltas);
        const r = run.ratios(begin, norms, deltas.length, true);
        for (let k = 0; k < fresh.length; k++) {
          const j = begin + k + 1;
          traj[j]!.dispose();
          traj[j] = fresh[k];
        }
        fresh.length = 0;
        const next = begin + Math.min(firstFailing(r) + 1, end - begin);
        await run.report({
          begin,
          end,
          done: next,
          residual: Math.sqrt(Math.max(...r)),
        });
        begin = next;
        run.release(begin);
        run.keepHistory(begin);
      } finally {
        for (const t of [...F, ...fresh, ...deltas]) t.dispose();
      }
    }
    return run.finish(begin >= run.steps);
  } catch (e) {
    run.close();
    throw e;
  }
}
