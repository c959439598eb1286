// DPM-Solver++ family (Lu et al. 2022) in k-diffusion's formulation: t = −log σ, data prediction,
// first-order step x' = (σ'/σ)·x + (1 − σ'/σ)·D. Follows k-diffusion's sampling.py
// (sample_dpmpp_2s_ancestral, sample_dpmpp_sde, sample_dpmpp_2m, sample_dpmpp_2m_sde, sample_dpmpp_3m_sde).
import { check } from '@tessera/core';
import { ancestralStep, type SamplerFn } from './basic.js';

/** DPM-Solver++(2S) single-step second-order steps to σ_down plus σ_up of ancestral noise. */
export const dpmpp2sAncestral: SamplerFn = (c) =>
  c.loop(async (i, x) => {
    const s = c.sigmas[i]!;
    const sn = c.sigmas[i + 1]!;
    const { eta = 1, s_noise = 1 } = c.opts;
    const den = await c.model(x, s);
    const [sd, su] = ancestralStep(s, sn, eta);
    let cx = 0;
    let den2 = den;
    if (sd > 0) {
      const sm = Math.sqrt(s * sd); // σ at t + h/2 with t = −log σ
      const x2 = c.lc([sm / s, 1 - sm / s], [x, den]);
      den2 = await c.model(x2, sm);
      cx = sd / s;
    }
    if (sn > 0 && su > 0) return c.lc([cx, 1 - cx, s_noise * su], [x, den2, c.noise(s, sn)]);
    return c.lc([cx, 1 - cx], [x, den2]);
  });

/** DPM-Solver++ (stochastic), two stages per step at ratio `r` (default 1/2), Brownian-tree noise by default. */
export const dpmppSde: SamplerFn = (c) =>
  c.loop(async (i, x) => {
    const s = c.sigmas[i]!;
    const sn = c.sigmas[i + 1]!;
    const { eta = 1, s_noise = 1, r = 0.5 } = c.opts;
    check(r > 0 && r <= 1, 'INVALID_ARGUMENT', `dpmpp_sde: r must be in (0, 1], got ${r}`);
    const den = await c.model(x, s);
    if (sn === 0) return c.lc([0, 1], [x, den]);
    const h = Math.log(s / sn);
    const sMid = s * Math.exp(-h * r);
    const fac = 1 / (2 * r);
    // Stage 1: to σ(s) with its own ancestral split.
    const [sd1, su1] = ancestralStep(s, sMid, eta);
    const x2 =
      su1 > 0
        ? c.lc([sd1 / s, 1 - sd1 / s, s_noise * su1], [x, den, c.noise(s, sMid)])
        : c.lc([sd1 / s, 1 - sd1 / s], [x, den]);
    const den2 = await c.model(x2, sMid);
    // Stage 2: to σ_next with the blended denoised estimate.
    const [sd, su] = ancestralStep(s, sn, eta);
    const k = 1 - sd / s;
    const xs = [x, den, den2];
    const coefs = [sd / s, k * (1 - fac), k * fac];
    if (su > 0) {
      xs.push(c.noise(s, sn));
      coefs.push(s_noise * su);
    }
    return c.lc(coefs, xs);
  });

/** DPM-Solver++(2M): second-order multistep, one denoiser call per step. */
export const dpmpp2m: SamplerFn = (c) =>
  c.loop(async (i, x) => {
    const s = c.sigmas[i]!;
    const sn = c.sigmas[i + 1]!;
    const den = await c.model(x, s);
    const old = c.get('old');
    c.carry('old', den);
    const k = 1 - sn / s; // −expm1(−h)
    if (!old || sn === 0) return c.lc([sn / s, k], [x, den]);
    const r = Math.log(c.sigmas[i - 1]! / s) / Math.log(s / sn); // h_last / h
    return c.lc([sn / s, k * (1 + 1 / (2 * r)), -k / (2 * r)], [x, den, old]);
  });

/** DPM-Solver++(2M) SDE (`solver_type` 'midpoint' or 'heun'), Brownian-tree noise by default. */
export const dpmpp2mSde: SamplerFn = (c) => {
  const { eta = 1, s_noise = 1, solver_type = 'midpoint' } = c.opts;
  check(
    solver_type === 'midpoint' || solver_type === 'heun',
    'INVALID_ARGUMENT',
    `dpmpp_2m_sde: solver_type must be 'midpoint' or 'heun', got ${String(solver_type)}`,
  );
  let hLast = 0;
  return c.loop(async (i, x) => {
    const s = c.sigmas[i]!;
    const sn = c.sigmas[i + 1]!;
    const den = await c.model(x, s);
    const old = c.get('old');
    c.carry('old', den);
    if (sn === 0) return den;
    const h = Math.log(s / sn);
    const etaH = eta * h;
    const phi = -Math.expm1(-h - etaH);
    const coefs = [(sn / s) * Math.exp(-etaH), phi];
    const xs = [x, den];
    if (old) {
      const r = hLast / h;
      const k = solver_type === 'heun' ? (phi / (-h - etaH) + 1) / r : (0.5 * phi) / r;
      coefs[1]! += k;
      coefs.push(-k);
      xs.push(old);
    }
    if (eta) {
      coefs.push(sn * Math.sqrt(-Math.expm1(-2 * etaH)) * s_noise);
      xs.push(c.noise(s, sn));
    }
    hLast = h;
    return c.lc(coefs, xs);
  });
};

/** DPM-Solver++(3M) SDE: third-order multistep, Brownian-tree noise by default. */
export const dpmpp3mSde: SamplerFn = (c) => {
  const { eta = 1, s_noise = 1 } = c.opts;
  let h1 = 0;
  let h2 = 0;
  return c.loop(async (i, x) => {
    const s = c.sigmas[i]!;
    const sn = c.sigmas[i + 1]!;
    const den = await c.model(x, s);
    const den1 = c.get('den1');
    const den2 = c.get('den2');
    c.carry('den2', den1);
    c.carry('den1', den);
    if (sn === 0) return den;
    const h = Math.log(s / sn);
    const hEta = h * (eta + 1);
    // Coefficients over [x, den, den1, den2].
    const w = [Math.exp(-hEta), -Math.expm1(-hEta), 0, 0];
    const phi2 = Math.expm1(-hEta) / hEta + 1;
    if (den1 && den2) {
      const r0 = h1 / h;
      const r1 = h2 / h;
      const d10 = [1 / r0, -1 / r0, 0];
      const d11 = [0, 1 / r1, -1 / r1];
      const phi3 = phi2 / hEta - 0.5;
      for (let k = 0; k < 3; k++) {
        const d1 = d10[k]! + ((d10[k]! - d11[k]!) * r0) / (r0 + r1);
        const d2 = (d10[k]! - d11[k]!) / (r0 + r1);
        w[k + 1]! += phi2 * d1 - phi3 * d2;
      }
    } else if (den1) {
      const r = h1 / h;
      w[1]! += phi2 / r;
      w[2]! -= phi2 / r;
    }
    const xs = [x, den];
    const coefs = [w[0]!, w[1]!];
    if (den1) {
      xs.push(den1);
      coefs.push(w[2]!);
    }
    if (den1 && den2) {
      xs.push(den2);
      coefs.push(w[3]!);
    }
    if (eta) {
      xs.push(c.noise(s, sn));
      coefs.push(sn * Math.sqrt(-Math.expm1(-2 * h * eta)) * s_noise);
    }
    h2 = h1;
    h1 = h;
    return c.lc(coefs, xs);
  });
};
