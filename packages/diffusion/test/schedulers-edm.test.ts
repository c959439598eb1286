// EDMEulerScheduler and EDMDPMSolverMultistepScheduler against float64 re-derivations of diffusers'
// scheduling_edm_euler.py / scheduling_edm_dpmsolver_multistep.py (read, not copied), Karras et al. 2022:
//   Karras σ_i = (σ_max^{1/ρ} + i/(n−1)·(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, exponential σ_i = exp(lerp(log σ_max,
//   log σ_min, i/(n−1))); timesteps ¼·log σ_i; c_in = 1/√(σ² + σ_d²);
//   x₀ = σ_d²/(σ² + σ_d²)·x ± σσ_d/√(σ² + σ_d²)·F (− for v-prediction);
//   Euler (with churn γ = min(s_churn/n, √2 − 1), σ̂ = σ(1 + γ), x̂ = x + s_noise·√(σ̂² − σ²)·z):
//     x' = x̂ + (x̂ − x₀(x̂, σ̂))/σ̂·(σ_next − σ̂);
//   DPM-Solver++ multistep with α = 1, λ = −log σ, h = λ_t − λ_s0, orders 1–3 by diffusers' lower-order
//   rules (written out in dpmRef below).
// Tolerance 1e-4 relative to max(1, |x|): float32 device steps, the reference in float64 from the same
// float32 σ grid (σ up to 80 makes the scale large; observed errors ≲ 1e-6).
import { createCpuBackend, TesseraError } from '@tessera/core';
import { EDMDPMSolverMultistepScheduler, EDMEulerScheduler, schedulerFromConfig } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { compareSteps, lc64, type RefStep, type Vec } from './step-harness.ts';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const B = createCpuBackend();
const SD = 0.5;

function edmSigmas64(n: number, schedule: 'karras' | 'exponential', lo = 0.002, hi = 80, rho = 7): number[] {
  return Array.from({ length: n }, (_, i) => {
    const r = i / (n - 1);
    if (schedule === 'karras') return (hi ** (1 / rho) + r * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho;
    return Math.exp(Math.log(hi) + r * (Math.log(lo) - Math.log(hi)));
  });
}

function x0Of(v: boolean, x: Vec, out: Vec, s: number): Vec {
  const d = s * s + SD * SD;
  return lc64([
    [(SD * SD) / d, x],
    [((v ? -1 : 1) * s * SD) / Math.sqrt(d), out],
  ]);
}

function eulerRef(sig: number[], v: boolean, churn: { s_churn: number; s_noise: number } | null): RefStep {
  return (i, _t, x, out, noise) => {
    const s = sig[i]!;
    const gamma = churn ? Math.min(churn.s_churn / (sig.length - 1), Math.SQRT2 - 1) : 0;
    const sh = s * (1 + gamma);
    const xh =
      gamma > 0
        ? lc64([
            [1, x],
            [churn!.s_noise * Math.sqrt(sh * sh - s * s), noise!],
          ])
        : x;
    const x0 = x0Of(v, xh, out, sh);
    const k = (sig[i + 1]! - sh) / sh;
    return lc64([
      [1 + k, xh],
      [-k, x0],
    ]);
  };
}

function dpmRef(
  sig: number[],
  o: { order: number; heun: boolean; sde: boolean; lowerOrderFinal: boolean; finalZero: boolean; v: boolean },
): RefStep {
  const ms: Vec[] = [];
  let lowerNums = 0;
  const n = sig.length - 1;
  const lam = (j: number) => -Math.log(sig[j]!);
  return (i, _t, x, out, noise) => {
    const lowerFinal = i === n - 1 && ((o.lowerOrderFinal && n < 15) || o.finalZero);
    const lowerSecond = i === n - 2 && o.lowerOrderFinal && n < 15;
    ms.push(x0Of(o.v, x, out, sig[i]!));
    const k =
      o.order === 1 || lowerNums < 1 || lowerFinal
        ? 1
        : o.order === 2 || lowerNums < 2 || lowerSecond
          ? 2
          : 3;
    if (lowerNums < o.order) lowerNums++;
    const st = sig[i + 1]!;
    const s0 = sig[i]!;
    const h = lam(i + 1) - lam(i);
    const m0 = ms[ms.length - 1]!;
    // σ_next = σ (final_sigmas_type sigma_min after a grid ending at σ_min): h = 0, where diffusers'
    // formulas give 0/0; the limit h → 0 of every order's update is x itself, which we return.
    if (h === 0) return x;
    const terms: [number, Vec][] = [];
    let D1: Vec | null = null;
    let D2: Vec | null = null;
    if (k >= 2) {
      const m1 = ms[ms.length - 2]!;
      const r0 = (lam(i) - lam(i - 1)) / h;
      const D1_0 = lc64([
        [1 / r0, m0],
        [-1 / r0, m1],
      ]);
      D1 = D1_0;
      if (k === 3) {
        const m2 = ms[ms.length - 3]!;
        const r1 = (lam(i - 1) - lam(i - 2)) / h;
        const D1_1 = lc64([
          [1 / r1, m1],
          [-1 / r1, m2],
        ]);
        D1 = lc64([
          [1 + r0 / (r0 + r1), D1_0],
          [-r0 / (r0 + r1), D1_1],
        ]);
        D2 = lc64([
          [1 / (r0 + r1), D1_0],
          [-1 / (r0 + r1), D1_1],
        ]);
      }
    }
    const e = Math.exp(-h);
    if (o.sde) {
      terms.push([(st / s0) * e, x], [1 - e * e, m0], [st * Math.sqrt(1 - e * e), noise!]);
      if (D1) terms.push([o.heun ? (1 - e * e) / (-2 * h) + 1 : 0.5 * (1 - e * e), D1]);
    } else {
      terms.push([st / s0, x], [-(e - 1), m0]);
      if (D1 && !D2) terms.push([o.heun ? (e - 1) / h + 1 : -0.5 * (e - 1), D1]);
      if (D2) terms.push([(e - 1) / h + 1, D1!], [-((e - 1 + h) / (h * h) - 0.5), D2]);
    }
    return lc64(terms);
  };
}

describe('EDMEulerScheduler', () => {
  for (const [schedule, v, churn, n] of [
    ['karras', false, null, 10],
    ['exponential', true, null, 8],
    ['karras', false, { s_churn: 4, s_noise: 1.003 }, 8],
  ] as const) {
    const label = `EDMEuler ${schedule} ${v ? 'v' : 'ε'}${churn ? ' churn' : ''} n ${n}`;
    it(`every step equals the float64 re-derivation: ${label}`, async () => {
      const s = EDMEulerScheduler.fromConfig({
        sigma_schedule: schedule,
        prediction_type: v ? 'v_prediction' : 'epsilon',
      });
      s.setTimesteps(n);
      const sig64 = edmSigmas64(n, schedule);
      for (let j = 0; j < n; j++) {
        expect(Math.abs(s.sigmas[j]! / sig64[j]! - 1), `${label} σ_${j}`).toBeLessThan(3e-7);
        expect(s.timesteps[j]).toBeCloseTo(0.25 * Math.log(sig64[j]!), 6);
      }
      const sig = [...Array.from(s.sigmas)]; // the float32 grid, then 0
      const worst = await compareSteps(B, {
        label,
        scheduler: s,
        ref: eulerRef(sig, v, churn),
        model: (i) => [0.01 + 0.002 * i, 0.9],
        seed: SEED,
        noise: churn !== null,
        ...(churn ? { stepOpts: churn } : {}),
      });
      console.log(`[edm] ${label}: worst relative error ${worst.toExponential(2)}`);
    });
  }

  it('initNoiseSigma √(σ_max² + 1), c_in scaling, sigma_min final σ and bad configs', async () => {
    const s = EDMEulerScheduler.fromConfig({ final_sigmas_type: 'sigma_min', sigma_max: 40 });
    expect(s.initNoiseSigma).toBeCloseTo(Math.sqrt(1601), 12);
    s.setTimesteps(5);
    expect(s.sigmas[5]).toBe(s.sigmas[4]);
    const x = B.tensor(new Float32Array([3, -1]), [2]);
    const y = s.scaleModelInput(x, s.timesteps[0]!);
    const d = await y.data();
    expect(d[0]).toBeCloseTo(3 / Math.sqrt(40 ** 2 + 0.25), 5);
    y.dispose();
    x.dispose();
    expect(() => EDMEulerScheduler.fromConfig({ sigma_schedule: 'linear' })).toThrow(TesseraError);
    expect(() => EDMEulerScheduler.fromConfig({ sigma_min: 90 })).toThrow(/sigma_min < sigma_max/);
    expect(() => EDMEulerScheduler.fromConfig({ prediction_type: 'sample' })).toThrow(
      /epsilon or v_prediction/,
    );
  });
});

describe('EDMDPMSolverMultistepScheduler', () => {
  for (const [cfg, n] of [
    [{ solver_order: 2 }, 10],
    [{ solver_order: 3, lower_order_final: false, final_sigmas_type: 'sigma_min' }, 8],
    [{ solver_order: 3, solver_type: 'heun', prediction_type: 'v_prediction' }, 16],
    [{ solver_order: 2, algorithm_type: 'sde-dpmsolver++', solver_type: 'heun' }, 8],
    [{ solver_order: 2, algorithm_type: 'sde-dpmsolver++', sigma_schedule: 'exponential' }, 6],
  ] as const) {
    const label = `EDMDPMSolver ${JSON.stringify(cfg)} n ${n}`;
    it(`every step equals the float64 re-derivation: ${label}`, async () => {
      const s = schedulerFromConfig({ _class_name: 'EDMDPMSolverMultistepScheduler', ...cfg });
      expect(s).toBeInstanceOf(EDMDPMSolverMultistepScheduler);
      s.setTimesteps(n);
      const c = cfg as Record<string, unknown>;
      const sig = Array.from(s.sigmas);
      expect(sig[n]).toBe(c.final_sigmas_type === 'sigma_min' ? Math.fround(0.002) : 0);
      const sde = c.algorithm_type === 'sde-dpmsolver++';
      const worst = await compareSteps(B, {
        label,
        scheduler: s,
        ref: dpmRef(sig, {
          order: c.solver_order as number,
          heun: c.solver_type === 'heun',
          sde,
          lowerOrderFinal: c.lower_order_final !== false,
          finalZero: c.final_sigmas_type !== 'sigma_min',
          v: c.prediction_type === 'v_prediction',
        }),
        model: (i) => [0.01 + 0.003 * (i % 4), 0.9],
        seed: SEED,
        noise: sde,
      });
      console.log(`[edm] ${label}: worst relative error ${worst.toExponential(2)}`);
    });
  }

  it('sde-dpmsolver++ with solver_order 3 is refused (diffusers has no such update)', () => {
    expect(() =>
      EDMDPMSolverMultistepScheduler.fromConfig({ solver_order: 3, algorithm_type: 'sde-dpmsolver++' }),
    ).toThrow(/no third-order update/);
  });
});
