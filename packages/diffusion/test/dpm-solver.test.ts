// dpm_fast and dpm_adaptive against a float64 re-derivation of k-diffusion's DPMSolver
// (k_diffusion/sampling.py: dpm_solver_{1,2,3}_step, dpm_solver_fast, dpm_solver_adaptive,
// PIDStepSizeController; read, not copied), written here on plain arrays, and against the exact
// probability-flow solution of Gaussian data x₀ ~ N(μ, s²) (gaussian-problem.ts), whose denoiser
// D(x, σ) = μ + s²/(s² + σ²)·(x − μ) is exact, so the solvers' own error is all there is.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Backend, createCpuBackend, type Tensor } from '@tessera/core';
import { type DpmAdaptiveInfo, dpmFastOrders, sample } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { normals, rng } from './gaussian.js';
import { MU, pf, S } from './gaussian-problem.ts';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const B = createCpuBackend();
const SIZE = 256;

type Vec = Float64Array;
const k = (sigma: number) => (S * S) / (S * S + sigma * sigma);
const den64 = (x: Vec, sigma: number): Vec => x.map((v) => MU + k(sigma) * (v - MU));
const gaussDenoiser = (backend: Backend) => (x: Tensor, sigma: number) =>
  backend.binary('add', backend.binary('mul', x, k(sigma)), (1 - k(sigma)) * MU);

const sig = (t: number) => Math.exp(-t);
const tOf = (s: number) => -Math.log(s);

/** k-diffusion's DPMSolver on float64 arrays (the ε cache per step, the three step functions). */
class Ref {
  nfe = 0;
  eps(cache: Map<string, Vec>, key: string, x: Vec, t: number): Vec {
    const hit = cache.get(key);
    if (hit) return hit;
    this.nfe++;
    const d = den64(x, sig(t));
    const e = x.map((v, j) => (v - d[j]!) / sig(t));
    cache.set(key, e);
    return e;
  }
  step1(c: Map<string, Vec>, x: Vec, t: number, tn: number): Vec {
    const e = this.eps(c, 'eps', x, t);
    return x.map((v, j) => v - sig(tn) * Math.expm1(tn - t) * e[j]!);
  }
  step2(c: Map<string, Vec>, x: Vec, t: number, tn: number, r1 = 0.5): Vec {
    const h = tn - t;
    const e = this.eps(c, 'eps', x, t);
    const s1 = t + r1 * h;
    const u1 = x.map((v, j) => v - sig(s1) * Math.expm1(r1 * h) * e[j]!);
    const e1 = this.eps(c, 'eps_r1', u1, s1);
    return x.map(
      (v, j) => v - sig(tn) * Math.expm1(h) * e[j]! - (sig(tn) / (2 * r1)) * Math.expm1(h) * (e1[j]! - e[j]!),
    );
  }
  step3(c: Map<string, Vec>, x: Vec, t: number, tn: number): Vec {
    const [r1, r2] = [1 / 3, 2 / 3];
    const h = tn - t;
    const e = this.eps(c, 'eps', x, t);
    const s1 = t + r1 * h;
    const s2 = t + r2 * h;
    const u1 = x.map((v, j) => v - sig(s1) * Math.expm1(r1 * h) * e[j]!);
    const e1 = this.eps(c, 'eps_r1', u1, s1);
    const u2 = x.map(
      (v, j) =>
        v -
        sig(s2) * Math.expm1(r2 * h) * e[j]! -
        sig(s2) * (r2 / r1) * (Math.expm1(r2 * h) / (r2 * h) - 1) * (e1[j]! - e[j]!),
    );
    const e2 = this.eps(c, 'eps_r2', u2, s2);
    return x.map(
      (v, j) =>
        v - sig(tn) * Math.expm1(h) * e[j]! - (sig(tn) / r2) * (Math.expm1(h) / h - 1) * (e2[j]! - e[j]!),
    );
  }
  /** dpm_solver_fast with η = 0 (or η with the fixed noise z each step). */
  fast(x: Vec, tStart: number, tEnd: number, nfe: number, eta = 0, z?: Vec): Vec {
    const m = Math.floor(nfe / 3) + 1;
    const ts = Array.from({ length: m + 1 }, (_, i) => tStart + ((tEnd - tStart) * i) / m);
    const orders =
      nfe % 3 === 0 ? [...new Array(m - 2).fill(3), 2, 1] : [...new Array(m - 1).fill(3), nfe % 3];
    for (let i = 0; i < orders.length; i++) {
      const c = new Map<string, Vec>();
      const [t, tn] = [ts[i]!, ts[i + 1]!];
      let tn_ = tn;
      let su = 0;
      if (eta) {
        const [s, sn] = [sig(t), sig(tn)];
        const up = Math.min(sn, eta * Math.sqrt((sn * sn * (s * s - sn * sn)) / (s * s)));
        const sd = Math.sqrt(sn * sn - up * up);
        tn_ = Math.min(tEnd, tOf(sd));
        su = Math.sqrt(sn * sn - sig(tn_) ** 2);
      }
      x =
        orders[i] === 1
          ? this.step1(c, x, t, tn_)
          : orders[i] === 2
            ? this.step2(c, x, t, tn_)
            : this.step3(c, x, t, tn_);
      if (su > 0) x = x.map((v, j) => v + su * z![j]!);
    }
    return x;
  }
  /** dpm_solver_adaptive with η = 0; also returns the smallest |factor − accept_safety| seen. */
  adaptive(x: Vec, tStart: number, tEnd: number, order: number, rtol: number, atol: number, hInit: number) {
    const b1 = 1 / order; // pcoeff 0, icoeff 1, dcoeff 0
    let h = hInit;
    let errs: number[] = [];
    let s = tStart;
    let xPrev = x;
    const info = { nfe: 0, steps: 0, accepted: 0, rejected: 0 };
    let margin = Number.POSITIVE_INFINITY;
    while (s < tEnd - 1e-5) {
      const c = new Map<string, Vec>();
      const t = Math.min(tEnd, s + h);
      const before = this.nfe;
      const [lo, hi] =
        order === 2
          ? [this.step1(c, x, s, t), this.step2(c, x, s, t)]
          : [this.step2(c, x, s, t, 1 / 3), this.step3(c, x, s, t)];
      let ss = 0;
      for (let j = 0; j < lo.length; j++) {
        const delta = Math.max(atol, rtol * Math.max(Math.abs(lo[j]!), Math.abs(xPrev[j]!)));
        ss += ((lo[j]! - hi[j]!) / delta) ** 2;
      }
      const error = Math.sqrt(ss) / Math.sqrt(lo.length);
      const inv = 1 / (error + 1e-8);
      if (errs.length === 0) errs = [inv, inv, inv];
      errs[0] = inv;
      const factor = 1 + Math.atan(errs[0]! ** b1 - 1);
      margin = Math.min(margin, Math.abs(factor - 0.81));
      const accept = factor >= 0.81;
      if (accept) {
        errs[2] = errs[1]!;
        errs[1] = errs[0]!;
        xPrev = lo;
        x = hi;
        s = t;
        info.accepted++;
      } else info.rejected++;
      h *= factor;
      info.nfe += this.nfe - before;
      info.steps++;
    }
    return { x, info, margin };
  }
}

async function maxRel(got: Tensor, want: Vec): Promise<number> {
  const g = await got.data();
  let scale = 1;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let e = 0;
  for (let j = 0; j < want.length; j++) e = Math.max(e, Math.abs(g[j]! - want[j]!));
  return e / scale;
}

function start(seed: number, sigmaMax: number): Vec {
  return Float64Array.from(normals(rng(seed), SIZE), (v) =>
    Math.fround(MU + Math.sqrt(S * S + sigmaMax ** 2) * v),
  );
}

describe('dpm_fast', () => {
  it("order list: k-diffusion's [3]·(m−2) + [2, 1] when 3 | nfe, else [3]·(m−1) + [nfe mod 3]", () => {
    expect(dpmFastOrders(9)).toEqual([3, 3, 2, 1]);
    expect(dpmFastOrders(10)).toEqual([3, 3, 3, 1]);
    expect(dpmFastOrders(11)).toEqual([3, 3, 3, 2]);
    expect(dpmFastOrders(5)).toEqual([3, 2]);
    expect(dpmFastOrders(3)).toEqual([2, 1]);
    for (let n = 2; n < 40; n++) expect(dpmFastOrders(n).reduce((a, b) => a + b, 0)).toBe(n);
  });

  for (const nfe of [9, 10, 14]) {
    it(`nfe ${nfe}: equals the float64 DPM-Solver-Fast, uses exactly nfe denoiser calls, ends at σ_min`, async () => {
      const sigmas = Array.from({ length: nfe }, (_, i) => 14.6 * (0.03 / 14.6) ** (i / (nfe - 1))).concat([
        0,
      ]);
      const x64 = start(SEED, sigmas[0]!);
      const x = B.tensor(Float32Array.from(x64), [SIZE]);
      let calls = 0;
      const D = gaussDenoiser(B);
      const before = B.memory().tensors;
      const out = await sample('dpm_fast', {
        x,
        sigmas,
        seed: SEED,
        denoiser: (v, s) => {
          calls++;
          return D(v, s);
        },
      });
      try {
        expect(calls).toBe(nfe);
        const want = new Ref().fast(x64, tOf(sigmas[0]!), tOf(0.03), nfe);
        const err = await maxRel(out, want);
        console.log(`[dpm-solver] dpm_fast nfe ${nfe}: vs float64 ${err.toExponential(2)}`);
        expect(err, `seed ${SEED}`).toBeLessThan(1e-5);
      } finally {
        out.dispose();
        x.dispose();
      }
      expect(B.memory().tensors).toBe(before - 1); // x was live at `before`
    });
  }

  it('converges to the exact probability-flow solution at third order (error ÷ ≥ 10 from nfe 9 to 27)', async () => {
    const x64 = start(SEED + 7, 14.6);
    const x = B.tensor(Float32Array.from(x64), [SIZE]);
    const exact = x64.map((v) => pf(v, 14.6, 0.03));
    const errs: number[] = [];
    for (const nfe of [9, 27]) {
      const sigmas = Array.from({ length: nfe + 1 }, (_, i) => 14.6 * (0.03 / 14.6) ** (i / nfe));
      const out = await sample('dpm_fast', { x, sigmas, denoiser: gaussDenoiser(B) });
      errs.push(await maxRel(out, exact));
      out.dispose();
    }
    x.dispose();
    console.log(`[dpm-solver] dpm_fast vs exact, nfe 9 / 27: ${errs.map((e) => e.toExponential(2))}`);
    // third order: (27/9)³ = 27 asymptotically; 10 leaves room for the pre-asymptotic range
    expect(errs[0]! / errs[1]!, `seed ${SEED}`).toBeGreaterThan(10);
  });

  it('η = 0.5 with a fixed noise tensor equals the float64 ancestral variant', async () => {
    const nfe = 8;
    const sigmas = Array.from({ length: nfe + 1 }, (_, i) => 10 * (0.05 / 10) ** (i / nfe));
    const x64 = start(SEED + 1, 10);
    const z64 = Float64Array.from(normals(rng(SEED + 2), SIZE), Math.fround);
    const x = B.tensor(Float32Array.from(x64), [SIZE]);
    const z = B.tensor(Float32Array.from(z64), [SIZE]);
    const out = await sample('dpm_fast', {
      x,
      sigmas,
      eta: 0.5,
      denoiser: gaussDenoiser(B),
      noiseSampler: () => B.lincomb([1], [z]),
    });
    const want = new Ref().fast(x64, tOf(10), tOf(0.05), nfe, 0.5, z64);
    expect(await maxRel(out, want), `seed ${SEED}`).toBeLessThan(1e-5);
    for (const t of [out, x, z]) t.dispose();
  });
});

describe('dpm_adaptive', () => {
  for (const [order, rtol, atol] of [
    [3, 0.05, 0.0078],
    [2, 0.01, 0.001],
  ] as const) {
    it(`order ${order}, rtol ${rtol}: same accepted/rejected steps and NFE as float64 k-diffusion, result near the exact solution`, async () => {
      const [sMax, sMin] = [14.6, 0.03];
      const x64 = start(SEED + order, sMax);
      const x = B.tensor(Float32Array.from(x64), [SIZE]);
      let calls = 0;
      let info: DpmAdaptiveInfo | undefined;
      const D = gaussDenoiser(B);
      const before = B.memory().tensors;
      const out = await sample('dpm_adaptive', {
        x,
        sigmas: [sMax, 3, 1, sMin, 0],
        order,
        rtol,
        atol,
        denoiser: (v, s) => {
          calls++;
          return D(v, s);
        },
        report: (i) => {
          info = i;
        },
      });
      try {
        const ref = new Ref().adaptive(x64, tOf(sMax), tOf(sMin), order, rtol, atol, 0.05);
        expect(info, 'report called').toBeDefined();
        expect(info!.nfe).toBe(calls);
        const exact = x64.map((v) => pf(v, sMax, sMin));
        const solverErr = await maxRel(out, exact);
        const refErr = await maxRel(out, ref.x);
        console.log(
          `[dpm-solver] dpm_adaptive order ${order}: ${JSON.stringify(info)} (float64 ${JSON.stringify(ref.info)}, decision margin ${ref.margin.toExponential(1)}), vs float64 ${refErr.toExponential(2)}, vs exact ${solverErr.toExponential(2)}`,
        );
        // The accept/reject decisions compare a float32-computed error with a threshold; only a decision
        // closer to it than the float32 noise could differ (margin logged; ≥ 5e-2 seen). The step sizes
        // follow the error estimate continuously, so the result agrees to ~1e-3, not to the float32 ulp.
        if (ref.margin > 1e-3) {
          expect(info).toEqual(ref.info);
          expect(refErr, `seed ${SEED}`).toBeLessThan(2e-3);
        }
        expect(info!.accepted).toBeGreaterThan(3);
        expect(solverErr, `seed ${SEED}`).toBeLessThan(10 * rtol);
      } finally {
        out.dispose();
        x.dispose();
      }
      expect(B.memory().tensors).toBe(before - 1); // x was live at `before`
    });
  }

  it('order must be 2 or 3; the abort signal stops the solve', async () => {
    const x = B.tensor(new Float32Array([1, 2]), [2]);
    await expect(
      sample('dpm_adaptive', { x, sigmas: [5, 0.1], denoiser: gaussDenoiser(B), order: 4 }),
    ).rejects.toThrow(/order must be 2 or 3/);
    const ac = new AbortController();
    let calls = 0;
    const p = sample('dpm_adaptive', {
      x,
      sigmas: [80, 0.002],
      rtol: 1e-4,
      atol: 1e-5,
      signal: ac.signal,
      denoiser: async (v, s) => {
        if (++calls === 6) ac.abort();
        return gaussDenoiser(B)(v, s);
      },
    });
    await expect(p).rejects.toThrow(/aborted/);
    expect(calls).toBeLessThan(10);
    x.dispose();
  });
});

// k-diffusion's own sample_dpm_fast / sample_dpm_adaptive (fixtures/gen_dpm_solver_reference.py runs
// them in float64 torch on the exact Gaussian denoiser from a fixed start; the start is float32-exact).
describe("dpm_fast / dpm_adaptive follow k-diffusion's own code", () => {
  const ref = JSON.parse(
    readFileSync(
      join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'dpm-solver-reference.json'),
      'utf8',
    ),
  ) as {
    x: number[];
    fast: { nfe: number; sigma_max: number; sigma_min: number; x: number[] }[];
    adaptive: {
      order: number;
      rtol: number;
      atol: number;
      sigma_max: number;
      sigma_min: number;
      x: number[];
      info: { nfe: number; steps: number; n_accept: number; n_reject: number };
    }[];
  };
  const D = ref.x.length;
  it('dpm_fast at nfe 9, 10, 14 equals k-diffusion (relative 1e-4; float32 device vs float64)', async () => {
    const x = B.tensor(Float32Array.from(ref.x), [D]);
    for (const f of ref.fast) {
      const sigmas = Array.from(
        { length: f.nfe },
        (_, i) => f.sigma_max * (f.sigma_min / f.sigma_max) ** (i / (f.nfe - 1)),
      );
      const out = await sample('dpm_fast', { x, sigmas: [...sigmas, 0], denoiser: gaussDenoiser(B) });
      const err = await maxRel(out, Float64Array.from(f.x));
      out.dispose();
      console.log(`[dpm-solver] k-diffusion dpm_fast nfe ${f.nfe}: ${err.toExponential(2)}`);
      expect(err, `nfe ${f.nfe}`).toBeLessThan(1e-4);
    }
    x.dispose();
  });
  it("dpm_adaptive takes k-diffusion's steps (same NFE, accepted and rejected) and lands on its result", async () => {
    const x = B.tensor(Float32Array.from(ref.x), [D]);
    for (const a of ref.adaptive) {
      let info: DpmAdaptiveInfo | undefined;
      const out = await sample('dpm_adaptive', {
        x,
        sigmas: [a.sigma_max, a.sigma_min],
        order: a.order,
        rtol: a.rtol,
        atol: a.atol,
        denoiser: gaussDenoiser(B),
        report: (i) => {
          info = i;
        },
      });
      const err = await maxRel(out, Float64Array.from(a.x));
      out.dispose();
      console.log(
        `[dpm-solver] k-diffusion dpm_adaptive order ${a.order}: ${JSON.stringify(info)} vs ${JSON.stringify(a.info)}, ${err.toExponential(2)}`,
      );
      expect(info).toEqual({
        nfe: a.info.nfe,
        steps: a.info.steps,
        accepted: a.info.n_accept,
        rejected: a.info.n_reject,
      });
      expect(err).toBeLessThan(2e-3); // step sizes follow the float32 error estimate (see above)
    }
    x.dispose();
  });
});
