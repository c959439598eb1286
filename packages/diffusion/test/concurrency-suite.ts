// Shared by diffusion's run tests (CPU, WebGPU) and backend-onnx's (ONNX Runtime). Concurrency: any
// number of sampling runs interleave on one backend, each owning its tensors — eight runs of different
// samplers with async denoisers that sleep for random times start together; each must give exactly
// what it gives alone, and the backend's live tensor count must come back to where it was. Abort: a
// run with a synchronous denoiser (one unbroken chain of microtasks, were it not for the loop's
// yields) is aborted from a setTimeout and stops within one step.
import { type Backend, type Tensor, TesseraError } from '@tessera/core';
import { type SamplerName, sample } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { gaussianProblem, karras, rng } from './gaussian.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const why = `TEST_SEED=${SEED}`;

const NAMES: SamplerName[] = [
  'dpmpp_2m',
  'euler',
  'heun',
  'dpmpp_2m_sde',
  'lms',
  'unipc',
  'dpmpp_sde',
  'euler_ancestral',
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Registers the concurrency tests for the backend `get()` returns (skipped when it is undefined). */
export function describeConcurrency(label: string, get: () => Promise<Backend | undefined>): void {
  describe(`concurrent runs (${label})`, async () => {
    const B = await get();
    it.skipIf(!B)(
      '8 samplers with async denoisers interleave: each equals its solo run, no leak',
      async () => {
        const Bk = B!;
        const r = rng(SEED);
        const d = 3;
        const mu = Float64Array.from({ length: d }, () => 2 * r() - 1);
        const s2 = Float64Array.from({ length: d }, () => (0.3 + r()) ** 2);
        const g = gaussianProblem(Bk, mu, s2);
        const sigmas = [...karras(8, 0.05, 10), 0];
        const delays = NAMES.map(() => Array.from({ length: 40 }, () => Math.floor(3 * r())));
        // An async denoiser that makes garbage before its await (freed by the run) and computes its
        // answer after it, when other runs' steps have run in between.
        const denoiser = (k: number) => {
          let call = 0;
          return async (x: Tensor, sigma: number) => {
            Bk.lincomb([2], [x]); // synchronous garbage
            await sleep(delays[k]![call++ % 40]!);
            return g.denoiser(x, sigma);
          };
        };
        const x = Bk.randn([4, d], { seed: SEED % 9973 });
        const x0 = Bk.lincomb([10], [x]);
        x.dispose();
        const run = async (k: number) => {
          const out = await sample(NAMES[k]!, { denoiser: denoiser(k), x: x0, sigmas, seed: SEED + k });
          const v = Array.from(await out.data());
          out.dispose();
          return v;
        };
        const before = Bk.memory().tensors;
        const solo: number[][] = [];
        for (let k = 0; k < NAMES.length; k++) solo.push(await run(k));
        expect(Bk.memory().tensors, `solo runs leaked (${why})`).toBe(before);
        const together = await Promise.all(NAMES.map((_, k) => run(k)));
        for (let k = 0; k < NAMES.length; k++) {
          expect(together[k], `${NAMES[k]} interleaved differs from solo (${why})`).toEqual(solo[k]);
          expect(solo[k]!.every(Number.isFinite), `${NAMES[k]} not finite (${why})`).toBe(true);
        }
        expect(Bk.memory().tensors, `interleaved runs leaked (${why})`).toBe(before);
        expect(x0.isDisposed).toBe(false);
        x0.dispose();
      },
    );

    it.skipIf(!B)('an abort fired from setTimeout stops a long run within one step, no leak', async () => {
      const Bk = B!;
      const r = rng(SEED + 1);
      const d = 3;
      const mu = Float64Array.from({ length: d }, () => 2 * r() - 1);
      const s2 = Float64Array.from({ length: d }, () => (0.3 + r()) ** 2);
      const g = gaussianProblem(Bk, mu, s2);
      const sigmas = [...karras(400, 0.01, 20), 0];
      const x = Bk.randn([2, d], { seed: SEED % 9973 });
      const before = Bk.memory().tensors;
      for (const name of ['euler', 'dpmpp_2m_sde'] as const) {
        const ac = new AbortController();
        const started: number[] = [];
        let startedAtAbort = -1;
        ac.signal.addEventListener('abort', () => {
          startedAtAbort = started.length;
        });
        const timer = setTimeout(() => ac.abort('stop'), 50);
        // A synchronous denoiser costing 1 ms: without the loop's yields the run would be one
        // unbroken chain of microtasks and the timer would fire only after it.
        const slow = (xx: Tensor, sigma: number) => {
          const end = performance.now() + 1;
          while (performance.now() < end) {}
          return g.denoiser(xx, sigma);
        };
        const err = await sample(name, {
          denoiser: slow,
          x,
          sigmas,
          seed: SEED,
          signal: ac.signal,
          callback: ({ step }) => {
            started.push(step);
          },
        }).then(
          (out) => {
            out.dispose();
            return undefined;
          },
          (e: unknown) => e,
        );
        clearTimeout(timer);
        expect(startedAtAbort, `${name}: the timer only fired after the run (${why})`).toBeGreaterThan(0);
        expect(startedAtAbort, `${name}: finished before the abort (${why})`).toBeLessThan(400);
        expect(err).toBeInstanceOf(TesseraError);
        expect((err as TesseraError).code).toBe('ABORTED');
        expect((err as TesseraError).cause).toBe('stop');
        expect(
          started.length - startedAtAbort,
          `${name} ran on after the abort (${why})`,
        ).toBeLessThanOrEqual(1);
        expect(Bk.memory().tensors, `${name} leaked after the abort (${why})`).toBe(before);
      }
      x.dispose();
    });
  });
}
