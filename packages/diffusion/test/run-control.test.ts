// Run control on every backend: callbacks, abort, no host readback between steps, flat memory, and
// input validation.
import { type Backend, TesseraError } from '@tessera/core';
import { SAMPLER_NAMES, type SamplerName, type StepInfo, sample } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.js';
import { gaussianProblem, karras, rng } from './gaussian.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const why = `TEST_SEED=${SEED}`;

function setup(B: Backend) {
  const r = rng(SEED);
  const d = 4;
  const mu = Float64Array.from({ length: d }, () => 2 * r() - 1);
  const s2 = Float64Array.from({ length: d }, () => (0.3 + r()) ** 2);
  const g = gaussianProblem(B, mu, s2);
  const sigmas = [...karras(6, 0.03, 12), 0];
  return { g, d, sigmas };
}

/** Counts host readbacks (`read`) on a backend while `fn` runs. */
async function countReads<T>(B: Backend, fn: () => Promise<T>): Promise<[T, number]> {
  const original = B.read;
  let reads = 0;
  B.read = (t) => {
    reads++;
    return original.call(B, t);
  };
  try {
    return [await fn(), reads];
  } finally {
    B.read = original;
  }
}

describe('run control', async () => {
  const backends = await testBackends();

  describe.each(backends)('%s', (_, B) => {
    it('every sampler: no readback between steps, memory flat across runs', async () => {
      const { g, d, sigmas } = setup(B);
      const x = B.randn([8, d], { seed: SEED % 1000 });
      const x0 = B.lincomb([12], [x]);
      x.dispose();
      for (const name of SAMPLER_NAMES) {
        const before = B.memory().tensors;
        for (let run = 0; run < 2; run++) {
          // dpm_adaptive's step size depends on its error estimate: one scalar read per attempt
          let attempts = 0;
          const report =
            name === 'dpm_adaptive' ? { report: (i: { steps: number }) => (attempts = i.steps) } : {};
          const [out, reads] = await countReads(B, () =>
            sample(name, { denoiser: g.denoiser, x: x0, sigmas, seed: run, ...report }),
          );
          expect(reads, `${name} read back ${reads} times`).toBe(attempts);
          expect(out.shape).toEqual([8, d]);
          expect(x0.isDisposed).toBe(false);
          out.dispose();
          expect(B.memory().tensors, `${name} run ${run} leaked tensors`).toBe(before);
        }
      }
      x0.dispose();
    });

    it('callback sees every step with its sigmas; async callbacks are awaited', async () => {
      const { g, d, sigmas } = setup(B);
      const x = B.randn([4, d], { seed: 1 });
      const x0 = B.lincomb([12], [x]);
      for (const name of ['heun', 'dpmpp_2m', 'euler_ancestral'] as SamplerName[]) {
        const seen: StepInfo[] = [];
        const means: number[] = [];
        const out = await sample(name, {
          denoiser: g.denoiser,
          x: x0,
          sigmas,
          seed: 3,
          callback: async (info) => {
            seen.push(info);
            // A callback may read data (this is the only readback, and it is the callback's choice).
            const den = await info.denoised.data();
            means.push(Array.from(den).reduce((a, v) => a + v, 0) / den.length);
          },
        });
        out.dispose();
        expect(seen.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5]);
        expect(seen.every((s) => s.total === 6)).toBe(true);
        expect(seen.map((s) => s.sigma)).toEqual(sigmas.slice(0, -1));
        expect(seen.map((s) => s.sigmaNext)).toEqual(sigmas.slice(1));
        expect(means.every(Number.isFinite)).toBe(true);
      }
      x.dispose();
      x0.dispose();
    });

    it('abort between steps throws ABORTED, stops calling the denoiser and frees everything', async () => {
      const { g, d, sigmas } = setup(B);
      const x0 = B.randn([4, d], { seed: 2 });
      const before = B.memory().tensors;
      for (const name of ['euler', 'dpmpp_2m', 'unipc', 'dpmpp_2m_sde'] as SamplerName[]) {
        const ac = new AbortController();
        g.calls.n = 0;
        let err: unknown;
        try {
          await sample(name, {
            denoiser: g.denoiser,
            x: x0,
            sigmas,
            signal: ac.signal,
            callback: ({ step }) => {
              if (step === 2) ac.abort();
            },
          });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(TesseraError);
        expect((err as TesseraError).code).toBe('ABORTED');
        expect(g.calls.n).toBe(3); // steps 0, 1, 2 ran; step 3 never started
        expect(B.memory().tensors, `${name} leaked after abort`).toBe(before);
      }
      const ac = new AbortController();
      ac.abort();
      await expect(
        sample('euler', { denoiser: g.denoiser, x: x0, sigmas, signal: ac.signal }),
      ).rejects.toMatchObject({
        code: 'ABORTED',
      });
      x0.dispose();
    });
  });

  it.runIf(backends.length > 1)(
    'same seed, same noise on every backend (CPU vs WebGPU results agree)',
    async () => {
      const results: Float32Array[][] = [];
      const x64 = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i * 1.7 + SEED) * 10);
      for (const [, B] of backends) {
        const { g, sigmas } = setup(B);
        const x = B.tensor(x64, [8, 4]);
        const per: Float32Array[] = [];
        for (const name of ['euler_ancestral', 'dpmpp_2m_sde', 'ddpm'] as SamplerName[]) {
          const out = await sample(name, { denoiser: g.denoiser, x, sigmas, seed: SEED % 1000 });
          per.push((await out.data()) as Float32Array);
          out.dispose();
        }
        results.push(per);
        x.dispose();
      }
      for (let k = 0; k < results[0]!.length; k++) {
        const a = results[0]![k]!;
        for (const other of results.slice(1)) {
          const b = other[k]!;
          for (let i = 0; i < a.length; i++)
            expect(Math.abs(a[i]! - b[i]!), why).toBeLessThan(1e-4 * (1 + Math.abs(a[i]!)));
        }
      }
    },
  );

  it("a denoiser that returns its input does not lose the caller's tensor", async () => {
    const B = backends[0]![1];
    const x = B.randn([3, 4], { seed: 4 });
    const before = B.memory().tensors;
    for (const name of ['dpmpp_2m', 'dpmpp_3m_sde', 'unipc', 'lcm'] as SamplerName[]) {
      const out = await sample(name, { denoiser: (t) => t, x, sigmas: [3, 1, 0.5, 0], seed: 1, eta: 0 });
      // D(x) = x keeps every sample where it is (lcm re-noises, so only its ownership is checked).
      if (name !== 'lcm') {
        expect(Array.from(await out.data())).toEqual(
          Array.from(await x.data()).map((v) => expect.closeTo(v, 5)),
        );
      }
      out.dispose();
      expect(x.isDisposed).toBe(false);
      expect(B.memory().tensors).toBe(before);
    }
    x.dispose();
  });

  it('rejects bad input with TesseraError', async () => {
    const B = backends[0]![1];
    const { g, d, sigmas } = setup(B);
    const x = B.randn([2, d], { seed: 9 });
    const bad = async (name: string, opts: Record<string, unknown>, code: string) => {
      await expect(
        sample(name as SamplerName, { denoiser: g.denoiser, x, sigmas, ...opts } as never),
        why,
      ).rejects.toMatchObject({ name: 'TesseraError', code });
    };
    await bad('euler_a', {}, 'UNKNOWN_NAME');
    await bad('euler', { sigmas: [1, 2, 0] }, 'INVALID_ARGUMENT');
    await bad('euler', { sigmas: [5, Number.NaN, 0] }, 'INVALID_ARGUMENT');
    await bad('euler', { sigmas: [] }, 'INVALID_ARGUMENT');
    await bad('euler', { seed: -1 }, 'INVALID_ARGUMENT');
    await bad('euler', { denoiser: (t: unknown) => B.reshape(t as never, [-1]) }, 'SHAPE_MISMATCH');
    await bad('lms', { order: 9 }, 'INVALID_ARGUMENT');
    await bad('dpmpp_2m_sde', { solver_type: 'rk4' }, 'INVALID_ARGUMENT');
    await bad('unipc', { variant: 'bh3' }, 'INVALID_ARGUMENT');
    await bad('euler', { x: B.fill([2, d], 1, 'int32') }, 'DTYPE_MISMATCH');
    x.dispose();
  });
});
