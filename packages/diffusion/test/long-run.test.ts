// A 5,000-step Euler run on WebGPU (Dawn on lavapipe) finishes with flat process memory. Before the
// sampling loop yielded to the event loop, Dawn never ran its deferred releases: RSS grew ~140 KB per
// step and the Vulkan driver crashed in descriptor-pool allocation after 5–10 s (issue 13, item 1).
// Native memory also grows by 10–60 MB while pipelines, pools and the driver's caches warm up, over a
// stretch that depends on the machine's load, so the test reads RSS every 1,000 steps and asks for one
// flat interval: a leak grows in every interval, warm-up growth stops.
// Measured on this machine: without the yields every interval grows 21–28 KB/step; with them the
// flattest interval is under 1 KB/step alone and 3.7 KB/step with CI's other test processes running
// (RSS moves in steps of a few MB), and the whole growth over 8,000 steps is the same ~10 MB as over
// 3,000. The bound, a flattest interval under 8 KB/step, sits between the two.
import { sample } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { tryWebGPU } from '../../../test-utils/backends.js';
import { gaussianProblem, karras, rng } from './gaussian.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const why = `TEST_SEED=${SEED}`;
const STEPS = 5000;
const EVERY = 1000;

describe('long runs', async () => {
  const B = await tryWebGPU();
  it.skipIf(!B)(`${STEPS}-step euler on WebGPU: flat RSS, exact result, no leak`, async () => {
    const Bk = B!;
    const r = rng(SEED);
    const d = 64;
    const mu = Float64Array.from({ length: d }, () => 2 * r() - 1);
    const s2 = Float64Array.from({ length: d }, () => (0.3 + r()) ** 2);
    const g = gaussianProblem(Bk, mu, s2);
    const sigmas = [...karras(STEPS, 0.05, 10), 0];
    const x = Bk.randn([16, d], { seed: SEED % 9973 });
    const x0 = Bk.lincomb([10], [x]);
    const before = Bk.memory().tensors;
    const rss: number[] = [];
    const out = await sample('euler', {
      denoiser: g.denoiser,
      x: x0,
      sigmas,
      callback: ({ step }) => {
        if (step > 0 && step % EVERY === 0) {
          // Native memory (RSS less the JS heap, which grows and shrinks with the garbage collector).
          const m = process.memoryUsage();
          rss.push(m.rss - m.heapTotal);
        }
      },
    });
    const got = await out.data();
    // Work still in flight at the last step (lavapipe runs behind under load) is done now; let Dawn run
    // its deferred releases, then measure.
    for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
    const m = process.memoryUsage();
    rss.push(m.rss - m.heapTotal);
    // The exact flow from σ₀ to σ_min, then Euler's last step to 0 lands on D(x, σ_min); with 3,000
    // steps the Euler error is far below the tolerance (compare on CPU in float64).
    const xs = await x0.data();
    for (let i = 0; i < got.length; i++) {
      const j = i % d;
      const sMin = sigmas[STEPS - 1]!;
      const k = Math.sqrt((s2[j]! + sMin * sMin) / (s2[j]! + 100));
      const xMin = mu[j]! + k * (xs[i]! - mu[j]!);
      const want = mu[j]! + (s2[j]! / (s2[j]! + sMin * sMin)) * (xMin - mu[j]!);
      expect(Math.abs(got[i]! - want), `element ${i} (${why})`).toBeLessThan(2e-3 * (1 + Math.abs(want)));
    }
    out.dispose();
    expect(Bk.memory().tensors, why).toBe(before);
    // rss[k] at step (k+1)·EVERY (the last one after the run), and the slope of each interval. A leak
    // grows in every interval; warm-up growth (which lasts longer under load) stops: some interval is flat.
    expect(rss.length, why).toBe(STEPS / EVERY);
    const slopes = rss.slice(1).map((v, k) => (v - rss[k]!) / EVERY);
    const flattest = Math.min(...slopes);
    const kb = (v: number) => (v / 1024).toFixed(1);
    console.log(`[long-run] RSS slope per ${EVERY} steps: ${slopes.map(kb).join(', ')} KB/step`);
    expect(flattest, `RSS grew in every interval: ${slopes.map(kb)} KB/step (${why})`).toBeLessThan(8 * 1024);
    x.dispose();
    x0.dispose();
  });
});
