// The README example, run as written (JavaScript semantics), with its claim checked.
import { currentBackend, randn, type Tensor } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { karrasSigmas } from '@tessera/schedules';
import { expect, it } from 'vitest';

it('README example: dpmpp_2m on Karras sigmas reproduces N([1, −2], diag([0.25, 1]))', async () => {
  const B = currentBackend();
  const mu = B.tensor([1, -2], [2]);
  const s2 = [0.25, 1];
  const denoiser = (x: Tensor, sigma: number) => {
    const k = B.tensor(
      s2.map((v) => v / (v + sigma * sigma)),
      [2],
    );
    return B.binary('add', B.binary('mul', B.binary('sub', x, mu), k), mu);
  };
  const sigmas = [...karrasSigmas(20, 0.002, 80), 0];
  const noise = randn([1000, 2], { seed: 1 });
  const x = B.lincomb([sigmas[0]!], [noise]);
  const x0 = await sample('dpmpp_2m', { denoiser, x, sigmas, seed: 0 });
  const v = await x0.data();
  x0.dispose();
  for (const [j, m, s] of [
    [0, 1, 0.5],
    [1, -2, 1],
  ] as const) {
    let mean = 0;
    let sq = 0;
    for (let i = 0; i < 1000; i++) mean += v[2 * i + j]! / 1000;
    for (let i = 0; i < 1000; i++) sq += (v[2 * i + j]! - mean) ** 2 / 999;
    expect(Math.abs(mean - m)).toBeLessThan((4.5 * s) / Math.sqrt(1000));
    expect(Math.abs(sq / (s * s) - 1)).toBeLessThan(4.5 * Math.sqrt(2 / 999));
  }
  for (const t of [mu, noise, x]) t.dispose();
});
