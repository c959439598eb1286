import { currentBackend } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import { it } from 'vitest';
import { paradigms, parataa } from '../src/index.js';
import { ddpmSigmas, relErr, startNoise } from './helpers.js';

it('smoke', async () => {
  const B = currentBackend();
  const D = defaultDigitsModel().denoiser(B);
  const big100 = ddpmSigmas(100);
  const x = startNoise(B, [1, 1, 16, 16], big100[0]!, 1);
  const want100 = await (await sample('ddim', { denoiser: D, x, sigmas: big100, seed: 5 })).data();
  for (const [memory, order, tol, atol] of [[3, 20, 1e-3, 1e-3], [2, 20, 1e-3, 1e-3], [3, 100, 1e-3, 1e-3], [5, 20, 1e-3, 1e-3], [3, 8, 1e-3, 1e-3], [3, 20, 1e-2, 1e-3]]) {
    const t0 = Date.now();
    const t = await parataa({ denoiser: D, x, sigmas: big100, sampler: 'ddim', seed: 5, memory, order, tol, atol });
    console.log('ddim100 taa', memory, order, tol, atol, t.rounds, t.evaluations, relErr(await t.x.data(), want100), Date.now() - t0, t.residuals.map((v) => v.toExponential(1)).join(' '));
  }
  const p = await paradigms({ denoiser: D, x, sigmas: big100, sampler: 'ddim', seed: 5, window: 100 });
  console.log('ddim100 paradigms', p.rounds, relErr(await p.x.data(), want100));
}, 600000);
