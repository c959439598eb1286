// UniPC (Zhao et al. 2023) and DEIS (Zhang & Chen 2022) multistep samplers in σ-space (α = 1, λ = −log σ).
// UniPC follows diffusers' UniPCMultistepScheduler (multistep_uni_p_bh_update / multistep_uni_c_bh_update,
// data prediction); DEIS follows diffusers' DEISMultistepScheduler ("logrho": Adams–Bashforth on ε
// with Lagrange interpolation in log σ, integrated over σ), here integrated exactly for any order.
import { check, type Tensor } from '@tessera/core';
import { type LinearForm, lin, toD } from '../linear-form.js';
import { integrateExpPoly, lagrangeBasis, solve } from '../poly.js';
import { levels, type SamplerFn } from './basic.js';
import { History } from './history.js';

/**
 * UniPC's R matrix, b vector, B(h) and h·φ₁ for order p with ratios `rks` (last entry 1) and step hh
 * (−h for data prediction, h for noise prediction); Zhao et al. 2023, diffusers' `multistep_uni_*_bh_update`.
 */
export function unipcSystem(rks: readonly number[], hh: number, p: number, variant: string) {
  const hPhi1 = Math.expm1(hh);
  let hPhiK = hPhi1 / hh - 1;
  let fact = 1;
  const Bh = variant === 'bh1' ? hh : Math.expm1(hh);
  const R: number[][] = [];
  const b: number[] = [];
  for (let k = 1; k <= p; k++) {
    R.push(rks.map((r) => r ** (k - 1)));
    b.push((hPhiK * fact) / Bh);
    fact *= k + 1;
    hPhiK = hPhiK / hh - 1 / fact;
  }
  return { R, b, Bh, hPhi1 };
}

/**
 * UniPC-p with the B(h) `variant` 'bh1' (default) or 'bh2' and `order` p (default 3): a UniP predictor
 * each step and a UniC corrector that reuses the next denoiser call (no extra evaluations).
 */
export const unipc: SamplerFn = (c) => {
  const order = c.opts.order ?? 3;
  const variant = c.opts.variant ?? 'bh1';
  check(
    Number.isInteger(order) && order >= 1 && order <= 5,
    'INVALID_ARGUMENT',
    `unipc: order must be an integer in [1, 5], got ${order}`,
  );
  check(
    variant === 'bh1' || variant === 'bh2',
    'INVALID_ARGUMENT',
    `unipc: variant must be 'bh1' or 'bh2', got ${String(variant)}`,
  );
  const lam = (j: number) => -Math.log(c.sigmas[j]!);
  const ms = new History(c, order + 1, 'm'); // denoiser outputs, newest first (ms.at(0) = this step's)
  const lastX = new History(c, 1, 'last'); // the sample the last predictor started from
  let prevOrder = 0;
  /** Σₖ ρₖ·D1ₖ with D1ₖ = (m_{k} − m₀)/rₖ: UniPC's weighted differences against `m0` (`ms.at(off + k)`). */
  const diffs = (m0: Tensor, off: number, rks: number[], rhos: number[], p: number, scale: number) => {
    const out: LinearForm[] = [];
    for (let k = 1; k < p; k++)
      out.push(
        lin(ms.at(off + k)!)
          .minus(lin(m0))
          .times((scale * rhos[k - 1]!) / rks[k - 1]!),
      );
    return out;
  };
  return c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const den = await c.model(x, s);
    ms.push(den);
    if (sn === 0) return lin(den).emit(c);
    let xc: Tensor = x;
    const last = lastX.at(0);
    if (last && prevOrder > 0) {
      // UniC-p corrector over the previous interval (σ_{i−1} → σ_i); m0 = den_{i−1}, model_t = den:
      // x_c = (σ_i/σ_{i−1})·last − hφ₁·m0 − B(h)·Σₖ ρₖ D1ₖ − B(h)·ρ_p·(den − m0)
      const p = prevOrder;
      const h = lam(i) - lam(i - 1);
      const rks: number[] = [];
      for (let k = 1; k < p; k++) rks.push((lam(i - 1 - k) - lam(i - 1)) / h);
      rks.push(1);
      const { R, b, Bh, hPhi1 } = unipcSystem(rks, -h, p, variant);
      const rhos = p === 1 ? [0.5] : solve(R, b);
      const m0 = ms.at(1)!;
      xc = lin(last, s / c.sigmas[i - 1]!)
        .plus(lin(m0, -hPhi1), ...diffs(m0, 1, rks, rhos, p, -Bh))
        .plus(
          lin(den)
            .minus(lin(m0))
            .times(-Bh * rhos[p - 1]!),
        )
        .emit(c);
    }
    lastX.push(xc === x ? lin(x).emit(c) : xc);
    // UniP-p predictor to σ_{i+1}: x' = (σ'/σ)·x_c − hφ₁·den − B(h)·Σₖ ρₖ D1ₖ
    const p = Math.min(order, i + 1);
    const h = lam(i + 1) - lam(i);
    const rks: number[] = [];
    for (let k = 1; k < p; k++) rks.push((lam(i - k) - lam(i)) / h);
    rks.push(1);
    const { R, b, Bh, hPhi1 } = unipcSystem(rks, -h, p, variant);
    let next = lin(xc, sn / s).plus(lin(den, -hPhi1));
    if (p > 1) {
      const rhos =
        p === 2
          ? [0.5]
          : solve(
              R.slice(0, -1).map((row) => row.slice(0, -1)),
              b.slice(0, -1),
            );
      next = next.plus(...diffs(den, 0, rks, rhos, p, -Bh));
    }
    prevOrder = p;
    return next.emit(c);
  });
};

/**
 * DEIS ("logrho" multistep, `order` default 3): x' = x + Σⱼ cⱼ εⱼ with εⱼ = (xⱼ − Dⱼ)/σⱼ and
 * cⱼ = ∫_σ^σ' Lⱼ(log ρ) dρ, the Lagrange basis over the last log σ nodes, integrated in closed form.
 */
export const deis: SamplerFn = (c) => {
  const order = c.opts.order ?? 3;
  check(
    Number.isInteger(order) && order >= 1 && order <= 5,
    'INVALID_ARGUMENT',
    `deis: order must be an integer in [1, 5], got ${order}`,
  );
  const eps = new History(c, order, 'e'); // the last `order` ε = (x − D)/σ, newest first
  return c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const den = await c.model(x, s);
    eps.push(toD(x, den, s).emit(c));
    const u0 = Math.log(s);
    const nodes = Array.from({ length: eps.length }, (_, j) => Math.log(c.sigmas[i - j]!));
    const upper = sn === 0 ? Number.NEGATIVE_INFINITY : Math.log(sn) - u0;
    // x' = x + Σⱼ εⱼ·∫_σ^σ' Lⱼ(log ρ) dρ, with ρ = σ·e^v
    const terms = eps.items.map((e, j) =>
      lin(e, s * integrateExpPoly(lagrangeBasis(nodes, j, u0), 0, upper)),
    );
    return lin(x)
      .plus(...terms)
      .emit(c);
  });
};
