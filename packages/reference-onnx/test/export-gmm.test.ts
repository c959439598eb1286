import { createOnnxBackend, onnxDenoiser, onnxModel } from '@tessera/backend-onnx';
import { createCpuBackend } from '@tessera/core';
import { empiricalDenoiser } from '@tessera/reference';
import {
  diagonalMixture,
  empiricalMixture,
  exportGaussianMixtureDenoiser,
  type MixtureParams,
} from '@tessera/reference-onnx';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type FullMixture,
  maxRelErr,
  normal,
  orthonormal,
  posteriorMean,
  rng,
} from '../../backend-onnx/test/ref64.ts';
import { tryOnnxBackend } from '../../backend-onnx/test/targets.ts';

const seed = Date.now() % 1e9;
const B = createOnnxBackend({
  ort: ort as never,
  executionProviders: ['cpu'],
  sessionOptions: { intraOpNumThreads: 1 },
});
afterAll(() => B.dispose());

/** A random 4-component mixture in d = 6: two diagonal, two spectral (ranks 2 and 3), and its full form. */
function randomMixture(u: () => number): { params: MixtureParams; full: FullMixture } {
  const d = 6;
  const weights = [0.1 + u(), 0.1 + u(), 0.1 + u(), 0.1 + u()];
  const means = weights.map(() => Array.from({ length: d }, () => 2 * normal(u)));
  const v0 = Array.from({ length: d }, () => 0.05 + u());
  const v1 = Array.from({ length: d }, () => 0.05 + 0.5 * u());
  const spectral = [2, 3].map((rank) => ({
    kind: 'spectral' as const,
    mean: means[rank]!,
    basis: orthonormal(d, rank, u),
    rank,
    eigenvalues: Array.from({ length: rank }, () => 0.2 + 2 * u()),
    residual: 0.02 + 0.2 * u(),
  }));
  const full = (c: (typeof spectral)[number]): Float64Array => {
    // Σ = V diag(λ) Vᵀ + s (I − V Vᵀ), formed explicitly
    const S = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let vv = 0;
        let vlv = 0;
        for (let a = 0; a < c.rank; a++) {
          const p = c.basis[i * c.rank + a]! * c.basis[j * c.rank + a]!;
          vv += p;
          vlv += c.eigenvalues[a]! * p;
        }
        S[i * d + j] = vlv + c.residual * ((i === j ? 1 : 0) - vv);
      }
    }
    return S;
  };
  const diagFull = (v: number[]) => {
    const S = new Float64Array(d * d);
    v.forEach((x, i) => {
      S[i * d + i] = x;
    });
    return S;
  };
  const tot = weights.reduce((a, b) => a + b, 0);
  return {
    params: {
      weights,
      components: [
        { kind: 'diag', mean: means[0]!, variances: v0 },
        { kind: 'diag', mean: means[1]!, variances: v1 },
        ...spectral,
      ],
    },
    full: {
      weights: weights.map((w) => w / tot),
      means,
      covs: [diagFull(v0), diagFull(v1), full(spectral[0]!), full(spectral[1]!)],
    },
  };
}

describe(`Gaussian-mixture ONNX export (seed ${seed})`, () => {
  const u = rng(seed);
  const { params, full } = randomMixture(u);
  const N = 5;
  const x = Float32Array.from({ length: N * 6 }, () => 3 * normal(u));
  const sigmas = Array.from({ length: N }, () => 0.05 + 3 * u());
  const want = (s: number[]) =>
    x.length / 6 === s.length &&
    Array.from({ length: N }, (_, n) =>
      Array.from(posteriorMean(full, x.subarray(n * 6, n * 6 + 6), s[n]!)),
    ).flat();

  for (const precision of ['float32', 'float64'] as const) {
    it(`${precision} graph equals the float64 posterior mean (per-row σ and scalar σ)`, async () => {
      const model = await onnxModel(exportGaussianMixtureDenoiser(params, { precision }), {
        backend: B,
        name: `gmm-${precision}`,
      });
      expect(model.inputs.map((v) => v.name)).toEqual(['x', 'sigma']);
      const { x0 } = await model.run({ x: B.tensor(x, [N, 6]), sigma: B.tensor(sigmas, [N]) });
      const tol = precision === 'float64' ? 1e-6 : 2e-4;
      expect(maxRelErr(await x0!.data(), want(sigmas) as number[]), `seed ${seed}`).toBeLessThan(tol);
      const one = await model.run({ x: B.tensor(x, [N, 6]), sigma: B.tensor([sigmas[0]!], []) });
      expect(
        maxRelErr(await one.x0!.data(), want(new Array(N).fill(sigmas[0]!)) as number[]),
        `seed ${seed}`,
      ).toBeLessThan(tol);
      await model.dispose();
    });
  }

  it('diagonalMixture + onnxDenoiser (sample prediction, σ input) give the posterior mean per row', async () => {
    const p = diagonalMixture(
      [0.3, 0.7],
      [
        [-1, 0.5, 2],
        [1.5, -0.5, 0],
      ],
      [0.2, [0.1, 0.4, 0.9]],
    );
    const fullD: FullMixture = {
      weights: [0.3, 0.7],
      means: [
        [-1, 0.5, 2],
        [1.5, -0.5, 0],
      ],
      covs: [
        Float64Array.of(0.2, 0, 0, 0, 0.2, 0, 0, 0, 0.2),
        Float64Array.of(0.1, 0, 0, 0, 0.4, 0, 0, 0, 0.9),
      ],
    };
    const D = await onnxDenoiser(
      exportGaussianMixtureDenoiser(p, { precision: 'float64', sampleShape: [1, 3] }),
      {
        backend: B,
        predictionType: 'sample',
        inputNames: { sample: 'x', timestep: 'sigma' },
        outputName: 'x0',
      },
    );
    const xs = Float32Array.from({ length: 4 * 3 }, () => 2 * normal(u));
    const s = [0.1, 0.5, 1.3, 4];
    const got = await (await D(B.tensor(xs, [4, 1, 3]), s)).data();
    const ref = s.flatMap((sg, n) => Array.from(posteriorMean(fullD, xs.subarray(n * 3, n * 3 + 3), sg)));
    expect(maxRelErr(got, ref), `seed ${seed}`).toBeLessThan(1e-6);
    await D.dispose();
  });
});

describe(`the exported denoiser on onnxruntime-web wasm (seed ${seed})`, () => {
  it('gives the float64 posterior mean through onnxDenoiser', async (ctx) => {
    const W = await tryOnnxBackend('web-wasm');
    if (!W) return ctx.skip();
    const u2 = rng(seed + 1);
    const { params, full } = randomMixture(u2);
    const D = await onnxDenoiser(exportGaussianMixtureDenoiser(params), {
      backend: W,
      predictionType: 'sample',
      inputNames: { sample: 'x', timestep: 'sigma' },
      outputName: 'x0',
    });
    const x = Float32Array.from({ length: 3 * 6 }, () => 3 * normal(u2));
    const s = 0.1 + 2 * u2();
    const got = await (await D(W.tensor(x, [3, 6]), s)).data();
    const want = [0, 1, 2].flatMap((n) => Array.from(posteriorMean(full, x.subarray(n * 6, n * 6 + 6), s)));
    expect(maxRelErr(got, want), `seed ${seed}`).toBeLessThan(2e-4);
    await D.dispose();
  });
});

describe(`empirical denoiser export (seed ${seed})`, () => {
  it('equals Σ softmax(−‖x − xᵢ‖²/2σ²) xᵢ in float64 and the TypeScript empiricalDenoiser', async () => {
    const u3 = rng(seed + 2);
    const K = 12;
    const d = 4;
    const pts = Float32Array.from({ length: K * d }, () => 2 * normal(u3));
    const D = await onnxDenoiser(
      exportGaussianMixtureDenoiser(empiricalMixture(pts, K), { precision: 'float64' }),
      {
        backend: B,
        predictionType: 'sample',
        inputNames: { sample: 'x', timestep: 'sigma' },
        outputName: 'x0',
      },
    );
    const x = Float32Array.from({ length: 3 * d }, () => 2 * normal(u3));
    const s = 0.3 + u3();
    const got = await (await D(B.tensor(x, [3, d]), s)).data();
    const want = [0, 1, 2].flatMap((n) => {
      const logits = Array.from({ length: K }, (_, i) => {
        let q = 0;
        for (let j = 0; j < d; j++) q += (x[n * d + j]! - pts[i * d + j]!) ** 2;
        return -q / (2 * s * s);
      });
      const m = Math.max(...logits);
      const w = logits.map((l) => Math.exp(l - m));
      const tot = w.reduce((a, b) => a + b, 0);
      return Array.from({ length: d }, (_, j) => w.reduce((a, wi, i) => a + (wi / tot) * pts[i * d + j]!, 0));
    });
    expect(maxRelErr(got, want), `seed ${seed}`).toBeLessThan(1e-6);
    const ts = empiricalDenoiser({ data: pts, shape: [K, d] });
    const tsOut = await ts(createCpuBackend().tensor(x, [3, d]), s).data();
    expect(maxRelErr(got, tsOut), `seed ${seed}`).toBeLessThan(1e-4);
    await D.dispose();
  });
});
