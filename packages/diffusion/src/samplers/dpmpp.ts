// DPM-Solver++ family (Lu et al. 2022) in k-diffusion's formulation: t = −log σ, data prediction D,
// first-order step x' = (σ'/σ)·x − expm1(−h)·D with h = log(σ/σ'). Written as k-diffusion's
// sampling.py reads (sample_dpmpp_2s_ancestral, sample_dpmpp_sde, sample_dpmpp_2m, sample_dpmpp_2m_sde,
// sample_dpmpp_3m_sde), with lazy linear forms: every update below is ONE fused lincomb on the device.
import { check, type Tensor } from '@tessera/core';
import { asForm, type LinearForm, lin } from '../linear-form.js';
import { ancestralStep, levels, type SamplerFn } from './basic.js';
import { History } from './history.js';

/** DPM-Solver++(1) from σ to σ' on the data prediction D: (σ'/σ)·x + (1 − σ'/σ)·D. */
function firstOrder(x: Tensor, den: Tensor | LinearForm, s: number, sn: number): LinearForm {
  return lin(x, sn / s).plus(asForm(den).times(1 - sn / s));
}

/** DPM-Solver++(2S) single-step second-order steps to σ_down plus σ_up of ancestral noise. */
export const dpmpp2sAncestral: SamplerFn = (c) =>
  c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const { eta = 1, s_noise = 1 } = c.opts;
    const den = await c.model(x, s);
    const [sd, su] = ancestralStep(s, sn, eta);
    let next: LinearForm = lin(den); // Euler to σ_down = 0 lands on D
    if (sd > 0) {
      const sm = Math.sqrt(s * sd); // σ at t + h/2 (t = −log σ)
      const x2 = firstOrder(x, den, s, sm).emit(c);
      next = firstOrder(x, await c.model(x2, sm), s, sd);
    }
    if (sn > 0 && su > 0) next = next.plus(lin(c.noise(s, sn), s_noise * su));
    return next.emit(c);
  });

/** DPM-Solver++ (stochastic), two stages per step at ratio `r` (default 1/2), Brownian-tree noise by default. */
export const dpmppSde: SamplerFn = (c) =>
  c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const { eta = 1, s_noise = 1, r = 0.5 } = c.opts;
    check(r > 0 && r <= 1, 'INVALID_ARGUMENT', `dpmpp_sde: r must be in (0, 1], got ${r}`);
    const den = await c.model(x, s);
    if (sn === 0) return lin(den).emit(c);
    const h = Math.log(s / sn);
    const sMid = s * Math.exp(-h * r);
    const fac = 1 / (2 * r);
    // Stage 1: to σ(s) with its own ancestral split.
    const [sd1, su1] = ancestralStep(s, sMid, eta);
    let x2 = firstOrder(x, den, s, sd1);
    if (su1 > 0) x2 = x2.plus(lin(c.noise(s, sMid), s_noise * su1));
    const den2 = await c.model(x2.emit(c), sMid);
    // Stage 2: to σ_next with the blended denoised estimate.
    const [sd, su] = ancestralStep(s, sn, eta);
    const blended = lin(den, 1 - fac).plus(lin(den2, fac));
    let next = firstOrder(x, blended, s, sd);
    if (su > 0) next = next.plus(lin(c.noise(s, sn), s_noise * su));
    return next.emit(c);
  });

/** DPM-Solver++(2M): second-order multistep, one denoiser call per step. */
export const dpmpp2m: SamplerFn = (c) => {
  const old = new History(c, 1, 'old');
  return c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const den = await c.model(x, s);
    const prev = old.at(0);
    old.push(den);
    if (!prev || sn === 0) return firstOrder(x, den, s, sn).emit(c);
    const r = Math.log(c.sigmas[i - 1]! / s) / Math.log(s / sn); // h_last / h
    const denD = lin(den, 1 + 1 / (2 * r)).minus(lin(prev, 1 / (2 * r)));
    return firstOrder(x, denD, s, sn).emit(c);
  });
};

/** DPM-Solver++(2M) SDE (`solver_type` 'midpoint' or 'heun'), Brownian-tree noise by default. */
export const dpmpp2mSde: SamplerFn = (c) => {
  const { eta = 1, s_noise = 1, solver_type = 'midpoint' } = c.opts;
  check(
    solver_type === 'midpoint' || solver_type === 'heun',
    'INVALID_ARGUMENT',
    `dpmpp_2m_sde: solver_type must be 'midpoint' or 'heun', got ${String(solver_type)}`,
  );
  const old = new History(c, 1, 'old');
  let hLast = 0;
  return c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const den = await c.model(x, s);
    const prev = old.at(0);
    old.push(den);
    if (sn === 0) return lin(den).emit(c);
    const h = Math.log(s / sn);
    const etaH = eta * h;
    const phi = -Math.expm1(-h - etaH);
    let next = lin(x, (sn / s) * Math.exp(-etaH)).plus(lin(den, phi));
    if (prev) {
      const r = hLast / h;
      const d1 = lin(den)
        .minus(lin(prev))
        .times(1 / r); // (D − D_prev)/r
      next = next.plus(d1.times(solver_type === 'heun' ? phi / (-h - etaH) + 1 : 0.5 * phi));
    }
    if (eta) next = next.plus(lin(c.noise(s, sn), sn * Math.sqrt(-Math.expm1(-2 * etaH)) * s_noise));
    hLast = h;
    return next.emit(c);
  });
};

/** DPM-Solver++(3M) SDE: third-order multistep, Brownian-tree noise by default. */
export const dpmpp3mSde: SamplerFn = (c) => {
  const { eta = 1, s_noise = 1 } = c.opts;
  const hist = new History(c, 2, 'den'); // the previous two D's, newest first
  let h1 = 0;
  let h2 = 0;
  return c.loop(async (i, x) => {
    const [s, sn] = levels(c, i);
    const den = await c.model(x, s);
    const [den1, den2] = hist.items;
    hist.push(den);
    if (sn === 0) return lin(den).emit(c);
    const h = Math.log(s / sn);
    const hEta = h * (eta + 1);
    let next = lin(x, Math.exp(-hEta)).plus(lin(den, -Math.expm1(-hEta)));
    const phi2 = Math.expm1(-hEta) / hEta + 1;
    if (den1 && den2) {
      const r0 = h1 / h;
      const r1 = h2 / h;
      const d1_0 = lin(den)
        .minus(lin(den1))
        .times(1 / r0);
      const d1_1 = lin(den1)
        .minus(lin(den2))
        .times(1 / r1);
      const d1 = d1_0.plus(d1_0.minus(d1_1).times(r0 / (r0 + r1)));
      const d2 = d1_0.minus(d1_1).times(1 / (r0 + r1));
      const phi3 = phi2 / hEta - 0.5;
      next = next.plus(d1.times(phi2), d2.times(-phi3));
    } else if (den1) {
      const d1 = lin(den)
        .minus(lin(den1))
        .times(h / h1);
      next = next.plus(d1.times(phi2));
    }
    if (eta) next = next.plus(lin(c.noise(s, sn), sn * Math.sqrt(-Math.expm1(-2 * h * eta)) * s_noise));
    h2 = h1;
    h1 = h;
    return next.emit(c);
  });
};
