// The README example, run as written, with its claims checked against the sequential sampler.
import { currentBackend } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import { karrasSigmas } from '@tessera/schedules';
import { expect, it } from 'vitest';
import { convergencePlot, paradigms } from '../src/index.js';
import { relErr } from './helpers.js';

it('README example: ParaDiGMS euler_ancestral on two images reaches the sequential result', async () => {
  const B = currentBackend();
  const denoiser = defaultDigitsModel().denoiser(B);
  const sigmas = [...karrasSigmas(40, 0.02, 80), 0];
  const z = B.randn([2, 1, 16, 16], { seed: 1 });
  const x = B.lincomb([sigmas[0]!], [z]);
  const run = await paradigms({
    denoiser,
    x,
    sigmas,
    sampler: 'euler_ancestral',
    seed: 7,
    window: 16,
    tol: 0.002,
  });
  const seq = await sample('euler_ancestral', { denoiser, x, sigmas, seed: 7 });
  expect(run.converged).toBe(true);
  expect(run.rounds).toBeLessThan(run.steps);
  const err = relErr(await run.x.data(), await seq.data());
  expect(err).toBeLessThan(1e-2); // 1.9e-3 here (28 rounds for 40 steps)
  const plot = convergencePlot(run, 'ParaDiGMS');
  expect(plot.rounds.length).toBe(run.rounds);
  expect(plot.residuals).toEqual(run.residuals);
  for (const t of [run.x, seq, x, z]) t.dispose();
});
