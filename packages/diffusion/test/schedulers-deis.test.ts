// DEISMultistepScheduler against a float64 re-derivation from the DEIS paper's "log ρ" integrator
// (Zhang & Chen 2022) and diffusers' scheduling_deis_multistep.py step logic (read, not copied). In the
// VE frame y = x/α (ρ = σ for VP schedules) one step is
//   y_t = y_s + Σⱼ cⱼ·εⱼ,   cⱼ = ∫_{σ_s}^{σ_t} Lⱼ(log ρ) dρ,
// Lⱼ the Lagrange basis in log ρ through the last 1–3 σ's. Here cⱼ is integrated NUMERICALLY (composite
// Simpson, 4,000 panels; error ≲ 1e-12), independent of the closed forms (diffusers' ind_fn) the
// scheduler uses. Orders: min(order, steps so far), order 1 on the last step and ≤ 2 on the one before
// when lower_order_final and fewer than 15 steps. Grid: DPM-Solver's integer timesteps, σ from the table
// (Karras: ρ = 7 between the table's ends, timesteps rounded), final σ = σ_min.
// Tolerance 1e-4 relative (float32 device, float32 tables; observed ≲ 1e-6).
import { createCpuBackend } from '@tessera/core';
import { DEISMultistepScheduler, schedulerFromConfig } from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { alphasCumprod64, compareSteps, lc64, type RefStep, type Vec } from './step-harness.ts';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const B = createCpuBackend();
const N = 1000;
const SD = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 };
const SIG = alphasCumprod64('scaled_linear', 0.00085, 0.012).map((a) => Math.sqrt((1 - a) / a));

/** ∫_a^b f by composite Simpson with 4,000 panels. */
function simpson(f: (x: number) => number, a: number, b: number): number {
  const m = 4000;
  const h = (b - a) / m;
  let s = f(a) + f(b);
  for (let k = 1; k < m; k++) s += (k % 2 ? 4 : 2) * f(a + k * h);
  return (s * h) / 3;
}

/** Lagrange basis j over `nodes` at u. */
const basis = (nodes: number[], j: number, u: number) =>
  nodes.reduce((p, nk, k) => (k === j ? p : (p * (u - nk)) / (nodes[j]! - nk)), 1);

function deisRef(sig: number[], order: number, lowerOrderFinal: boolean, v: boolean): RefStep {
  const eps: Vec[] = [];
  let lowerNums = 0;
  const n = sig.length - 1;
  return (i, _t, x, out) => {
    const s = sig[i]!;
    const a = 1 / Math.sqrt(s * s + 1);
    // ε of the output: ε itself, or from v: ε = σ_vp·x + α·v with σ_vp = σ·α
    eps.push(
      v
        ? lc64([
            [s * a, x],
            [a, out],
          ])
        : out,
    );
    const lowerFinal = i === n - 1 && lowerOrderFinal && n < 15;
    const lowerSecond = i === n - 2 && lowerOrderFinal && n < 15;
    const k =
      order === 1 || lowerNums < 1 || lowerFinal ? 1 : order === 2 || lowerNums < 2 || lowerSecond ? 2 : 3;
    if (lowerNums < order) lowerNums++;
    const st = sig[i + 1]!;
    const aT = 1 / Math.sqrt(st * st + 1);
    const nodes = Array.from({ length: k }, (_, j) => Math.log(sig[i - j]!));
    const terms: [number, Vec][] = [[aT / a, x]]; // α_t·(x/α_s)
    for (let j = 0; j < k; j++) {
      const c = simpson((r) => basis(nodes, j, Math.log(r)), s, st);
      terms.push([aT * c, eps[eps.length - 1 - j]!]);
    }
    return lc64(terms);
  };
}

/** numpy's round: halves to the even neighbour. */
const roundEven = (x: number) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));

function grid(n: number, spacing: 'linspace' | 'leading' | 'karras'): number[] {
  let sig: number[];
  if (spacing === 'karras') {
    const lo = SIG[0]! ** (1 / 7);
    const hi = SIG[N - 1]! ** (1 / 7);
    sig = Array.from({ length: n }, (_, i) => (hi + (i / (n - 1)) * (lo - hi)) ** 7);
    return [...sig, sig[n - 1]!];
  }
  const ts =
    spacing === 'linspace'
      ? Array.from({ length: n }, (_, j) => roundEven(((N - 1) * (n - j)) / n)) // np.round: half to even
      : Array.from({ length: n }, (_, j) => (n - j) * Math.floor(N / (n + 1)) + 1);
  return [...ts.map((t) => SIG[t]!), SIG[0]!];
}

describe('DEISMultistepScheduler', () => {
  for (const [cfg, n, spacing] of [
    [{ solver_order: 3 }, 10, 'linspace'],
    [{ solver_order: 2, use_karras_sigmas: true }, 8, 'karras'],
    [
      { solver_order: 3, prediction_type: 'v_prediction', timestep_spacing: 'leading', steps_offset: 1 },
      16,
      'leading',
    ],
    [{ solver_order: 2, lower_order_final: false }, 6, 'linspace'],
  ] as const) {
    const label = `DEIS ${JSON.stringify(cfg)} n ${n}`;
    it(`every step equals the numerically integrated log-ρ DEIS: ${label}`, async () => {
      const s = schedulerFromConfig({ _class_name: 'DEISMultistepScheduler', ...SD, ...cfg });
      expect(s).toBeInstanceOf(DEISMultistepScheduler);
      s.setTimesteps(n);
      const sig = grid(n, spacing);
      for (let j = 0; j <= n; j++)
        expect(Math.abs(s.sigmas[j]! / sig[j]! - 1), `${label} σ_${j}`).toBeLessThan(5e-5);
      const c = cfg as Record<string, unknown>;
      const worst = await compareSteps(B, {
        label,
        scheduler: s,
        // use the scheduler's float32 grid so only the step arithmetic is compared
        ref: deisRef(
          Array.from(s.sigmas),
          c.solver_order as number,
          c.lower_order_final !== false,
          c.prediction_type === 'v_prediction',
        ),
        model: (i) => [0.1 + 0.02 * (i % 3), 0.9],
        seed: SEED,
      });
      console.log(`[deis] ${label}: worst relative error ${worst.toExponential(2)}`);
    });
  }

  it('maps dpmsolver++ / midpoint to deis / logrho as diffusers does, and refuses flow sigmas', () => {
    const s = DEISMultistepScheduler.fromConfig({ algorithm_type: 'dpmsolver++', solver_type: 'midpoint' });
    expect(s.config.get('algorithm_type')).toBe('deis');
    expect(s.config.get('solver_type')).toBe('logrho');
    expect(() => DEISMultistepScheduler.fromConfig({ use_flow_sigmas: true })).toThrow(/use_flow_sigmas/);
  });
});
