// The README example, run as written, with its claims checked against the sequential sampler.
import { currentBackend, type Tensor } from '@tessera/core';
import { DDIMScheduler, sample, type TimestepModel } from '@tessera/diffusion';
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

it('README example: ParaDiGMS over a DDIMScheduler (η = 0.3) with the digits model as ε-model', async () => {
  const B = currentBackend();
  const denoiser = defaultDigitsModel().denoiser(B);
  const scheduler = new DDIMScheduler({});
  scheduler.setTimesteps(50);
  const ab = scheduler.alphasCumprod;
  const model = async (x: Tensor, t: number | ArrayLike<number>) => {
    const n = x.shape[0]!;
    const ts = typeof t === 'number' ? new Array<number>(n).fill(t) : Array.from(t);
    const rows = (f: (a: number) => number) =>
      B.tensor(
        Float32Array.from(ts, (ti) => f(ab[ti]!)),
        [n, 1, 1, 1],
      );
    const inv = rows((a) => 1 / Math.sqrt(a));
    const invSigma = rows((a) => Math.sqrt(a / (1 - a)));
    const xs = B.binary('mul', x, inv);
    const d = await denoiser(
      xs,
      Float64Array.from(ts, (ti) => Math.sqrt((1 - ab[ti]!) / ab[ti]!)),
    );
    const diff = B.binary('sub', xs, d);
    const eps = B.binary('mul', diff, invSigma);
    for (const u of [inv, invSigma, xs, d, diff]) u.dispose();
    return eps;
  };
  const x = B.randn([2, 1, 16, 16], { seed: 1 });
  const run = await paradigms({
    scheduler,
    model: model as TimestepModel,
    rowTimesteps: true,
    x,
    seed: 7,
    stepOptions: { eta: 0.3 },
    window: 16,
    tol: 1e-3,
  });
  // the scheduler's own loop on a second instance, the same generator
  const s2 = new DDIMScheduler({});
  s2.setTimesteps(50);
  const generator = { seed: 7, offset: 0 };
  let y = B.lincomb([1], [x]);
  for (const t of Array.from(s2.timesteps)) {
    const e = await model(y, t);
    const r = s2.step(e, t, y, { eta: 0.3, generator });
    for (const u of [e, y, r.predOriginalSample!]) u.dispose();
    y = r.prevSample;
  }
  expect(run.converged).toBe(true);
  expect(run.rounds).toBeLessThan(run.steps);
  const err = relErr(await run.x.data(), await y.data());
  console.log(`README scheduler example: ${run.rounds} rounds for ${run.steps} steps, error ${err}`);
  expect(err).toBeLessThan(1e-2);
  for (const t of [run.x, y, x]) t.dispose();
});
