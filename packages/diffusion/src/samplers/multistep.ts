// UniPC (Zhao et al. 2023) and DEIS (Zhang & Chen 2022) multistep samplers in σ-space (α = 1, λ = −log σ).
// UniPC follows diffusers' UniPCMultistepScheduler (multistep_uni_p_bh_update / multistep_uni_c_bh_update,
// data prediction); DEIS follows diffusers' DEISMultistepScheduler ("logrho": Adams–Bashforth on ε
// with Lagrange interpolation in log σ, integrated over σ), here integrated exactly for any order.
import { check, type Tensor } from '@tessera/core';
import { integrateExpPoly, lagrangeBasis, solve } from '../poly.js';
import type { SamplerFn } from './basic.js';

/** UniPC's R matrix, b vector and B(h) for order p with ratios `rks` (last entry 1) and step hh = −h. */
function unipcSystem(rks: readonly number[], hh: number, p: number, variant: 'bh1' | 'bh2') {
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
  let prevOrder = 0;
  return c.loop(async (i, x) => {
    const s = c.sigmas[i]!;
    const sn = c.sigmas[i + 1]!;
    const den = await c.model(x, s);
    c.carry(`m${i}`, den);
    c.carry(`m${i - order - 1}`, undefined);
    if (sn === 0) return den;
    let xc: Tensor = x;
    const last = c.get('last');
    if (last && prevOrder > 0) {
      // UniC-p corrector over the previous interval (σ_{i−1} → σ_i); m0 = den_{i−1}, model_t = den.
      const p = prevOrder;
      const h = lam(i) - lam(i - 1);
      const rks: number[] = [];
      for (let k = 1; k < p; k++) rks.push((lam(i - 1 - k) - lam(i - 1)) / h);
      rks.push(1);
      const { R, b, Bh, hPhi1 } = unipcSystem(rks, -h, p, variant);
      const rhos = p === 1 ? [0.5] : solve(R, b);
      const m0 = c.get(`m${i - 1}`)!;
      const coefs = [s / c.sigmas[i - 1]!, -hPhi1, 0];
      const xs = [last, m0, den];
      for (let k = 1; k < p; k++) {
        const w = (Bh * rhos[k - 1]!) / rks[k - 1]!;
        coefs.push(-w);
        xs.push(c.get(`m${i - 1 - k}`)!);
        coefs[1]! += w;
      }
      coefs[2]! -= Bh * rhos[p - 1]!;
      coefs[1]! += Bh * rhos[p - 1]!;
      xc = c.lc(coefs, xs);
    }
    c.carry('last', xc === x ? c.lc([1], [x]) : xc);
    // UniP-p predictor to σ_{i+1}.
    const p = Math.min(order, i + 1);
    const h = lam(i + 1) - lam(i);
    const rks: number[] = [];
    for (let k = 1; k < p; k++) rks.push((lam(i - k) - lam(i)) / h);
    rks.push(1);
    const { R, b, Bh, hPhi1 } = unipcSystem(rks, -h, p, variant);
    const coefs = [sn / s, -hPhi1];
    const xs = [xc, den];
    if (p > 1) {
      const rhos =
        p === 2
          ? [0.5]
          : solve(
              R.slice(0, -1).map((row) => row.slice(0, -1)),
              b.slice(0, -1),
            );
      for (let k = 1; k < p; k++) {
        const w = (Bh * rhos[k - 1]!) / rks[k - 1]!;
        coefs.push(-w);
        xs.push(c.get(`m${i - k}`)!);
        coefs[1]! += w;
      }
    }
    prevOrder = p;
    return c.lc(coefs, xs);
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
  return c.loop(async (i, x) => {
    const s = c.sigmas[i]!;
    const sn = c.sigmas[i + 1]!;
    const den = await c.model(x, s);
    c.carry(`e${i}`, c.lc([1 / s, -1 / s], [x, den]));
    c.carry(`e${i - order}`, undefined);
    const p = Math.min(order, i + 1);
    const u0 = Math.log(s);
    const nodes = Array.from({ length: p }, (_, j) => Math.log(c.sigmas[i - j]!));
    const upper = sn === 0 ? Number.NEGATIVE_INFINITY : Math.log(sn) - u0;
    const coefs = [1];
    const xs = [x];
    for (let j = 0; j < p; j++) {
      coefs.push(s * integrateExpPoly(lagrangeBasis(nodes, j, u0), 0, upper));
      xs.push(c.get(`e${i - j}`)!);
    }
    return c.lc(coefs, xs);
  });
};
