// Round counts on the reference digits model (@tessera/reference's default model) for the papers'
// settings, with the final image checked against the sequential sampler for the same seed.
//
// Published (Stable Diffusion): ParaDiGMS DDPM-1000 44 rounds, DDIM-200 16, DPMSolver-200 16; ParaTAA
// DDIM-100 ~7. The papers' windows, read from AndyShih12/paradigms (main_mp.py: `parallel` 48 for
// DDPM-1000, 32 for DDIM-200 and DPMSolver-200; the published 2,040 evaluations in 44 rounds and 425
// in 16 fit them) and TZW1998/ParaTAA-Diffusion (window 100), tol 0.1 (ParaDiGMS, on the change of
// step j's output over the variance of step j, as upstream) and tol1 = tol2 = 1e-3 (ParaTAA).
// Measured here (1 image; rounds, max rel. err over seeds 400–…): ParaDiGMS DDPM-1000 (window 48)
// 61 rounds, ≤ 2e-3 over 3 seeds (window 80: 47); DDIM-200 (window 32) 14–17, median 15, ≤ 3e-2 over
// 25 seeds (window 80: 17–19); DPMSolver-200 (dpmpp_2m, window 32) 13–16, median 14, ≤ 3e-2 over 25
// seeds; ParaTAA DDIM-100 (window 100, m 4, k = window, λ 1e-2, tol = atol = 1e-3) median 9–11,
// range 9–20, ≤ 2e-2 over 30 seeds (upstream's m 2, k 20, λ 1e-3 on raw sums: 15–17). So the DDIM-200
// and DPMSolver-200 targets (≤ 16) are met here at the papers' window, DDPM-1000 and ParaTAA are not:
// the digits mixture (near-singular components, a sharp choice of mode) converges more slowly there
// than the published SD figures. The bounds below guard these figures with room for the tails: the
// median of three fresh seeds against a tighter bound, every run a loose one, and the median error;
// the published ≤ 16 is asserted on the fixed seeds 400–404 (CPU: deterministic).
// CPU always (~25 s here); WebGPU only with TESSERA_LONG_TESTS=1 (~25 s more on lavapipe).
import type { Backend } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.js';
import { paradigms, parataa } from '../src/index.js';
import { ddpmSigmas, relErr, SEED, startNoise, why } from './helpers.js';

const long = process.env.TESSERA_LONG_TESTS === '1';
const backends = (await testBackends()).filter(([n]) => n === 'cpu' || long);
if (!long)
  console.warn('[tessera] parallel-sampling round counts on WebGPU skipped (set TESSERA_LONG_TESTS=1)');

const CASES = [
  // seeds, median bound, bound for every run, max rel. error
  {
    label: 'ParaDiGMS DDPM-1000',
    solver: paradigms,
    sampler: 'ddpm',
    steps: 1000,
    window: 48,
    seeds: 3,
    median: 70,
    rounds: 75,
    err: 5e-2,
  },
  {
    label: 'ParaDiGMS DDIM-200',
    solver: paradigms,
    sampler: 'ddim',
    steps: 200,
    window: 32,
    seeds: 3,
    median: 18,
    rounds: 26,
    err: 0.1,
  },
  {
    label: 'ParaDiGMS DPMSolver-200',
    solver: paradigms,
    sampler: 'dpmpp_2m',
    steps: 200,
    window: 32,
    seeds: 3,
    median: 18,
    rounds: 26,
    err: 0.15,
  },
  {
    label: 'ParaTAA DDIM-100',
    solver: parataa,
    sampler: 'ddim',
    steps: 100,
    window: 100,
    seeds: 3,
    median: 20,
    rounds: 40,
    err: 0.15,
  },
] as const;

for (const [bn, B] of backends as [string, Backend][]) {
  describe(`round counts on the digits model, ${bn} (${why})`, () => {
    const D = defaultDigitsModel().denoiser(B);
    for (const c of CASES) {
      it(`${c.label}: median ≤ ${c.median} rounds, median error < ${c.err} against the sequential image`, async () => {
        const sigmas = ddpmSigmas(c.steps);
        const rounds: number[] = [];
        const errs: number[] = [];
        for (let k = 0; k < c.seeds; k++) {
          const seed = (SEED + 7919 * k) % 2 ** 31;
          const x = startNoise(B, [1, 1, 16, 16], sigmas[0]!, seed);
          const seq = await sample(c.sampler, { denoiser: D, x, sigmas, seed });
          const run = await c.solver({ denoiser: D, x, sigmas, sampler: c.sampler, seed, window: c.window });
          expect(run.converged).toBe(true);
          expect(run.largestBatch).toBe(c.window);
          expect(run.rounds, `${c.label} seed ${seed} (${why})`).toBeLessThanOrEqual(c.rounds);
          errs.push(relErr(await run.x.data(), await seq.data()));
          rounds.push(run.rounds);
          for (const t of [run.x, seq, x]) t.dispose();
        }
        const median = [...rounds].sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!;
        // the median error: a rare run may settle in another mode (the per-step tolerance does not
        // bound how far a sensitive mode choice carries an error)
        const medErr = [...errs].sort((a, b) => a - b)[Math.floor(errs.length / 2)]!;
        expect(
          medErr,
          `${c.label} errors ${errs.map((e) => e.toExponential(1)).join(', ')} (${why})`,
        ).toBeLessThan(c.err);
        expect(median, `${c.label} rounds ${rounds.join(', ')} (${why})`).toBeLessThanOrEqual(c.median);
      });
    }
  });
}

describe('published round counts met on the reference digits model (CPU, fixed seeds 400–404)', () => {
  const cpu = (backends as [string, Backend][]).find(([n]) => n === 'cpu')?.[1];
  for (const c of CASES.filter((k) => k.label.endsWith('-200'))) {
    it.skipIf(!cpu)(
      `${c.label} (window ${c.window}, tol 0.1): median ≤ 16 rounds, as published`,
      async () => {
        const B = cpu!;
        const D = defaultDigitsModel().denoiser(B);
        const sigmas = ddpmSigmas(c.steps);
        const rounds: number[] = [];
        for (let seed = 400; seed < 405; seed++) {
          const x = startNoise(B, [1, 1, 16, 16], sigmas[0]!, seed);
          const run = await c.solver({ denoiser: D, x, sigmas, sampler: c.sampler, seed, window: c.window });
          expect(run.converged).toBe(true);
          rounds.push(run.rounds);
          run.x.dispose();
          x.dispose();
        }
        const median = [...rounds].sort((a, b) => a - b)[2]!;
        expect(median, `${c.label} rounds ${rounds.join(', ')}`).toBeLessThanOrEqual(16);
      },
    );
  }
});
