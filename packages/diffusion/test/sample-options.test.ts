// Option validation of `sample` and of the schedulers' `step` (issue 13 item 7): a typo in an option
// name, a negative η, an unknown sampler, and a diffusers scheduler stepped at a timestep outside its
// schedule are TesseraErrors that say what was expected, never silently accepted.
import { createCpuBackend, TesseraError } from '@tessera/core';
import { SCHEDULER_CLASS_NAMES, sample, schedulerFromConfig } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';

const B = createCpuBackend();
const x = B.tensor(new Float32Array([0.7, -1.3, 2.1, 0.4]), [4]);
const denoiser = (v: typeof x) => B.lincomb([0.5], [v]);
const sigmas = [10, 3, 1, 0];

async function rejects(p: Promise<unknown>, re: RegExp): Promise<TesseraError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TesseraError);
  expect((e as TesseraError).message).toMatch(re);
  return e as TesseraError;
}

describe('sample option checks', () => {
  it("a misspelt option is reported with the nearest known name ('s_chrun' → 's_churn')", async () => {
    const before = B.memory().tensors;
    const e = await rejects(
      sample('euler', { denoiser, x, sigmas, seed: 1, s_chrun: 0.5 } as never),
      /unknown option 's_chrun' \(did you mean 's_churn'\?\)/,
    );
    expect(e.code).toBe('INVALID_ARGUMENT');
    await rejects(sample('dpmpp_2m', { denoiser, x, sigmas, sed: 3 } as never), /did you mean 'seed'/);
    expect(B.memory().tensors).toBe(before);
  });

  it('η < 0, NaN or ∞ and a negative s_noise / s_churn are rejected before any step', async () => {
    for (const eta of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await rejects(
        sample('euler_ancestral', { denoiser, x, sigmas, seed: 1, eta }),
        /eta must be a finite number ≥ 0/,
      );
    }
    await rejects(sample('dpmpp_2m_sde', { denoiser, x, sigmas, seed: 1, s_noise: -0.1 }), /s_noise/);
    await rejects(sample('euler', { denoiser, x, sigmas, seed: 1, s_churn: -1 }), /s_churn/);
    await rejects(
      sample('euler', { denoiser, x, sigmas, seed: 1, s_tmin: 2, s_tmax: 1 }),
      /s_tmax must be a number ≥ s_tmin/,
    );
    await rejects(sample('euler', null as never), /options must be an object, got null/);
  });

  it('an unknown sampler name suggests the nearest one', async () => {
    await rejects(
      sample('eulr' as never, { denoiser, x, sigmas }),
      /unknown sampler 'eulr' \(did you mean 'euler'\?\)/,
    );
  });

  it('η = 0 and in-range options still run (the checks accept what k-diffusion accepts)', async () => {
    const out = await sample('euler_ancestral', { denoiser, x, sigmas, seed: 1, eta: 0, s_noise: 1 });
    // η = 0: the deterministic Euler step to σ_next of D(x) = x/2: x ← x·(1 − (1 − σ'/σ)/2) per step
    let want = [0.7, -1.3, 2.1, 0.4].map(Math.fround);
    for (let i = 0; i < 3; i++) {
      const r = sigmas[i + 1]! / sigmas[i]!;
      want = want.map((v) => v * r + 0.5 * v * (1 - r));
    }
    const got = await out.data();
    for (let j = 0; j < 4; j++) expect(got[j]).toBeCloseTo(want[j]!, 5);
    out.dispose();
  });
});

describe('DDIMScheduler eta', () => {
  it('η < 0 or NaN is a TesseraError (η = 0 and 1 run)', () => {
    const s = schedulerFromConfig({ _class_name: 'DDIMScheduler' });
    s.setTimesteps(4);
    const m = B.lincomb([0.3], [x]);
    for (const eta of [-1, Number.NaN])
      expect(() => s.step(m, s.timesteps[0]!, x, { eta } as object)).toThrow(
        /eta must be a finite number ≥ 0/,
      );
    for (const eta of [0, 1]) {
      const o = s.step(m, s.timesteps[0]!, x, { eta, generator: { seed: 1 } } as object);
      o.prevSample.dispose();
      o.predOriginalSample?.dispose();
    }
    m.dispose();
  });
});

describe('scheduler step at a timestep not in its schedule', () => {
  for (const name of SCHEDULER_CLASS_NAMES) {
    it(`${name}.step(m, 12345, x) throws a TesseraError`, () => {
      const s = schedulerFromConfig({ _class_name: name });
      s.setTimesteps(name === 'LCMScheduler' ? 4 : 8);
      const m = B.lincomb([0.3], [x]);
      const before = B.memory().tensors;
      try {
        expect(() => s.step(m, 12345, x)).toThrow(TesseraError);
        expect(() => s.step(m, 12345, x)).toThrow(/12345/);
      } finally {
        m.dispose();
        s.dispose();
      }
      expect(B.memory().tensors).toBe(before - 1);
    });
  }
});
