import { generateDiffusion } from '@tessera/cli';
import { currentBackend } from '@tessera/core';
import { componentPosterior64, defaultDigitsModel } from '@tessera/reference';
import { describe, expect, it } from 'vitest';

describe('generateDiffusion --digit with classifier-free guidance', () => {
  it('samples the requested digit: nearest component mean (float64) belongs to that digit', async () => {
    const seed = Number(process.env.TESSERA_TEST_SEED ?? Date.now() % 100000);
    const digit = seed % 10;
    const { images, modelCalls } = await generateDiffusion({
      backend: currentBackend(),
      sampler: 'dpmpp_2m',
      steps: 12,
      seed,
      count: 8,
      digit,
      guidance: 2,
    });
    expect(modelCalls).toBe(12);
    const data = await images.data();
    images.dispose();
    const model = defaultDigitsModel();
    // classify each sample by the mixture's own float64 component likelihoods (log w_k + log N(x; μ_k, Σ_k))
    let hits = 0;
    for (let n = 0; n < 8; n++) {
      const x = data.subarray(n * 256, (n + 1) * 256);
      let best = -1;
      let bestL = Number.NEGATIVE_INFINITY;
      model.canonical.components.forEach((c, k) => {
        const l = Math.log(model.weights[k]!) + componentPosterior64(c, x, 1e-4).logDensity;
        if (l > bestL) {
          bestL = l;
          best = k;
        }
      });
      if (model.componentLabels[best] === digit) hits++;
    }
    expect(hits, `digit ${digit}, seed ${seed}`).toBeGreaterThanOrEqual(7);
  });
});
