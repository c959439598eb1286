// MAR-style continuous tokens with a diffusion head: maskedDecodeContinuous with a head that draws each
// token vector by running a @tessera/diffusion sampler on the exact denoiser of N(z, s²·I), z being the
// backbone's output for that position. The decoded tokens must follow heun's image of the start noise.
import { currentBackend, type Tensor } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { type ContinuousMaskedModel, maskedDecodeContinuous } from '../src/index.js';

const SEED = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 2 ** 31);

describe(`maskedDecodeContinuous with a diffusion head (seed ${SEED})`, () => {
  it('draws every token by an async heun sampler on N(z, s²): mean and variance of heun’s exact linear map; z from the backbone', async () => {
    const B = currentBackend();
    const [n, L, D, s] = [192, 6, 2, 0.3];
    // fresh per-position targets μ_l in [-2, 2]
    const mu = Array.from(
      { length: L * D },
      (_, i) => 4 * (((SEED * 2654435761 + i * 40503) >>> 0) / 2 ** 32) - 2,
    );
    const sigmas = [20, 10, 5, 2.5, 1.2, 0.6, 0.3, 0.15, 0.07, 0.03, 0.01, 0];
    let headCalls = 0;
    const model: ContinuousMaskedModel = {
      seqLen: L,
      tokenDim: D,
      // the backbone: z = μ at every position, whatever the tokens
      forward: (tokens: Tensor) =>
        B.broadcastTo(B.tensor(Float32Array.from(mu), [1, L, D]), [tokens.shape[0]!, L, D]),
      sampleHead: async (z, { random }) => {
        headCalls++;
        // exact denoiser of N(z, s²): D(x, σ) = z + s²/(s² + σ²)·(x − z)
        const denoiser = (x: Tensor, sigma: number) =>
          B.lincomb([(s * s) / (s * s + sigma * sigma), (sigma * sigma) / (s * s + sigma * sigma)], [x, z]);
        const noise = B.randn(z.shape, random);
        const x = B.lincomb([sigmas[0]!], [noise]);
        const out = await sample('heun', { denoiser, x, sigmas, seed: random.seed });
        noise.dispose();
        x.dispose();
        return out;
      },
    };
    const tokens = await maskedDecodeContinuous(model, {
      batch: n,
      numIter: 3,
      seed: SEED % 100000,
      backend: B,
    });
    expect(headCalls).toBe(3);
    expect(tokens.shape).toEqual([n, L, D]);
    const t = await tokens.data();
    tokens.dispose();
    // For the Gaussian N(z, s²) the probability-flow ODE is linear, dx/dσ = σ/(s² + σ²)·(x − z), so each
    // heun step multiplies x − z by a number: over the grid x(0) = z + f·(x₀ − z) with f the product of
    // the step factors (float64 here). The start x₀ = σ₀·ε gives E[x(0)] = (1 − f)·z and
    // Var[x(0)] = (σ₀·f)². On this coarse grid heun inflates the variance by (σ₀f/s)² ≈ 1.15 relative to
    // the exact flow (which would give s²): that, not a sampling fault, is why an earlier bound of s²
    // looked 6 SE off at seed 449628585.
    let f = 1;
    for (let i = 0; i + 1 < sigmas.length; i++) {
      const [a, b] = [sigmas[i]!, sigmas[i + 1]!];
      const d1 = a / (s * s + a * a);
      const euler = 1 + (b - a) * d1;
      f *= b === 0 ? euler : 1 + ((b - a) * (d1 + (b / (s * s + b * b)) * euler)) / 2;
    }
    const sd = sigmas[0]! * f;
    // 13 checks on Gaussian statistics; each is bounded at two-sided probability 1e-7 (Bonferroni: the
    // test fails by chance about once in 10⁶ runs). 4.5 SE per check failed about once in 10⁴ runs.
    const Z = 5.33; // two-sided normal tail 1e-7
    let pooled = 0;
    for (let j = 0; j < L * D; j++) {
      let m = 0;
      for (let b = 0; b < n; b++) m += t[b * L * D + j]! / n;
      let v = 0;
      for (let b = 0; b < n; b++) v += (t[b * L * D + j]! - m) ** 2 / (n - 1);
      pooled += v / (L * D);
      expect(Math.abs(m - (1 - f) * mu[j]!), `mean at ${j}, seed ${SEED}`).toBeLessThan(
        Z * (sd / Math.sqrt(n)),
      );
    }
    // L·D·(n−1)·pooled/sd² is χ² with k = L·D·(n−1) dof; its quantiles by Wilson–Hilferty (accurate to
    // ~1e-3 relative at k ≈ 2300, where the skew makes the upper tail longer than the lower)
    const k = L * D * (n - 1);
    const wh = (z: number) => (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;
    const ratio = pooled / (sd * sd);
    expect(ratio, `pooled variance ratio, seed ${SEED}`).toBeGreaterThan(wh(-Z));
    expect(ratio, `pooled variance ratio, seed ${SEED}`).toBeLessThan(wh(Z));
  });
});
