// LinearForm: forms combine on the host and evaluate with exactly one lincomb; the DPM-Solver++
// samplers written with it still cost one lincomb per update (counted on the backend).
import { type Backend, createCpuBackend, type Tensor, TesseraError } from '@tessera/core';
import { LinearForm, lin, type SamplerName, sample, toD } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { normals, rng } from './gaussian.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const B = createCpuBackend();

/** Counts B.lincomb calls while `fn` runs. */
async function countLincombs<T>(backend: Backend, fn: () => Promise<T>): Promise<[T, number]> {
  const original = backend.lincomb;
  let n = 0;
  backend.lincomb = (coefs, xs) => {
    n++;
    return original.call(backend, coefs, xs);
  };
  try {
    return [await fn(), n];
  } finally {
    backend.lincomb = original;
  }
}

describe('LinearForm', () => {
  it('toD, plus, minus and times give the float64 value of the written formula with one lincomb', async () => {
    const r = rng(SEED);
    const v = [normals(r, 64), normals(r, 64), normals(r, 64)].map((a) => Float64Array.from(a, Math.fround));
    const [x, den, old] = v.map((a) => B.tensor(Float32Array.from(a), [64])) as [Tensor, Tensor, Tensor];
    const sigma = 0.5 + 3 * r();
    const dt = -0.3 * sigma;
    const before = B.memory().tensors;
    // x + (x − D)/σ·dt + 0.25·(D − old) − 0.25·D  (D appears three times, merged into one term)
    const form = lin(x)
      .plus(toD(x, den, sigma).times(dt))
      .plus(lin(den).minus(lin(old)).times(0.25))
      .minus(lin(den, 0.25));
    expect(form.terms().tensors).toHaveLength(3);
    const [out, calls] = await countLincombs(B, async () => form.emit(B));
    expect(calls).toBe(1);
    const got = await out.data();
    for (let j = 0; j < 64; j++) {
      const want =
        v[0]![j]! +
        ((v[0]![j]! - v[1]![j]!) / sigma) * dt +
        0.25 * (v[1]![j]! - v[2]![j]!) -
        0.25 * v[1]![j]!;
      expect(Math.abs(got[j]! - want), `seed ${SEED} [${j}]`).toBeLessThan(1e-5 * (1 + Math.abs(want)));
    }
    out.dispose();
    expect(B.memory().tensors).toBe(before);
    for (const t of [x, den, old]) t.dispose();
  });

  it('a form whose coefficients cancel emits zeros; bad input is a TesseraError', async () => {
    const x = B.tensor(new Float32Array([1.5, -2]), [2]);
    const z = lin(x).minus(lin(x)).emit(B);
    // 0·x: either signed zero (the CPU's arity-1 kernel gives 0·(−2) = −0, as IEEE and PyTorch do)
    expect(Array.from(await z.data(), (v) => v === 0)).toEqual([true, true]);
    z.dispose();
    x.dispose();
    expect(() => LinearForm.sum()).toThrow(TesseraError);
    expect(() => lin(null as never)).toThrow(/expected a Tensor/);
  });
});

describe('samplers written with LinearForm: one lincomb per update', () => {
  const N = 7;
  const sigmas = Array.from({ length: N }, (_, i) => 14 * 0.5 ** i).concat([0]);
  // Expected lincomb calls for N steps ending at σ = 0 (the denoiser and the Philox noise use none):
  // 2M, 2M SDE, 3M SDE: one update per step; 2S ancestral and SDE: one per stage (2 per step, 1 on the
  // last, where σ_down = 0); LMS and DEIS: the stored derivative plus the update; UniPC: corrector +
  // predictor (the first step copies x instead of correcting), the last step returns D.
  const cases: [SamplerName, Record<string, unknown>, number][] = [
    ['dpmpp_2m', {}, N],
    ['dpmpp_2m_sde', { noiseSampler: 'philox' }, N],
    ['dpmpp_3m_sde', { noiseSampler: 'philox' }, N],
    ['dpmpp_2s_ancestral', {}, 2 * (N - 1) + 1],
    ['dpmpp_sde', { noiseSampler: 'philox' }, 2 * (N - 1) + 1],
    ['lms', {}, 2 * N],
    ['deis', {}, 2 * N],
    ['unipc', {}, 2 * (N - 1) + 1],
  ];
  for (const [name, opts, want] of cases) {
    it(`${name}: ${want} lincombs over ${N} steps`, async () => {
      const x = B.tensor(
        Float32Array.from(normals(rng(SEED + 1), 32), (v) => 14 * v),
        [32],
      );
      let calls = 0;
      const denoiser = (v: Tensor, s: number) => {
        calls++;
        return B.binary('mul', v, 1 / (1 + s * s));
      };
      const before = B.memory().tensors;
      const [out, n] = await countLincombs(B, () =>
        sample(name, { denoiser, x, sigmas, seed: SEED, ...opts }),
      );
      out.dispose();
      expect(n, `${name} (model calls ${calls})`).toBe(want);
      expect(B.memory().tensors, `${name}: tensors leaked`).toBe(before);
      x.dispose();
    });
  }
});
