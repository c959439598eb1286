// Float64 re-derivations of k-diffusion's deterministic sampler updates (crowsonkb/k-diffusion,
// k_diffusion/sampling.py at 4601bf0: sample_euler (l.118), sample_heun (l.159), sample_dpm_2 (l.188),
// sample_dpmpp_2m (l.585), sample_dpmpp_3m_sde (l.656) with eta = 0), written over plain arrays for the
// tests. They share no code with src/.

type Vec = Float64Array;
type Den = (x: Vec, sigma: number) => Vec;

const axpby = (a: number, x: Vec, b: number, y: Vec): Vec => x.map((v, i) => a * v + b * y[i]!);
const toD = (x: Vec, sigma: number, den: Vec): Vec => x.map((v, i) => (v - den[i]!) / sigma);

export function kEuler(D: Den, x: Vec, sigmas: number[]): Vec {
  for (let i = 0; i < sigmas.length - 1; i++) {
    const d = toD(x, sigmas[i]!, D(x, sigmas[i]!));
    x = axpby(1, x, sigmas[i + 1]! - sigmas[i]!, d);
  }
  return x;
}

export function kHeun(D: Den, x: Vec, sigmas: number[]): Vec {
  for (let i = 0; i < sigmas.length - 1; i++) {
    const s = sigmas[i]!;
    const sn = sigmas[i + 1]!;
    const d = toD(x, s, D(x, s));
    const dt = sn - s;
    if (sn === 0) x = axpby(1, x, dt, d);
    else {
      const x2 = axpby(1, x, dt, d);
      const d2 = toD(x2, sn, D(x2, sn));
      x = axpby(1, x, dt, axpby(0.5, d, 0.5, d2));
    }
  }
  return x;
}

export function kDpm2(D: Den, x: Vec, sigmas: number[]): Vec {
  for (let i = 0; i < sigmas.length - 1; i++) {
    const s = sigmas[i]!;
    const sn = sigmas[i + 1]!;
    const d = toD(x, s, D(x, s));
    if (sn === 0) x = axpby(1, x, sn - s, d);
    else {
      // sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
      const sm = Math.exp(Math.log(s) + 0.5 * (Math.log(sn) - Math.log(s)));
      const x2 = axpby(1, x, sm - s, d);
      const d2 = toD(x2, sm, D(x2, sm));
      x = axpby(1, x, sn - s, d2);
    }
  }
  return x;
}

export function kDpmpp2m(D: Den, x: Vec, sigmas: number[]): Vec {
  const tFn = (s: number) => -Math.log(s);
  const sFn = (t: number) => Math.exp(-t);
  let old: Vec | undefined;
  for (let i = 0; i < sigmas.length - 1; i++) {
    const den = D(x, sigmas[i]!);
    const t = tFn(sigmas[i]!);
    const tn = tFn(sigmas[i + 1]!);
    const h = tn - t;
    if (!old || sigmas[i + 1] === 0) {
      x = axpby(sFn(tn) / sFn(t), x, -Math.expm1(-h), den);
    } else {
      const hLast = t - tFn(sigmas[i - 1]!);
      const r = hLast / h;
      const dd = axpby(1 + 1 / (2 * r), den, -1 / (2 * r), old);
      x = axpby(sFn(tn) / sFn(t), x, -Math.expm1(-h), dd);
    }
    old = den;
  }
  return x;
}

/**
 * DPM-Solver++(3M) with eta = 0 as in k-diffusion; `d2Scale` = 2 rescales its D2 term (D2 estimates
 * h²·x̂0''/2, while φ₃ is the coefficient of h²·x̂0'' in the exact exponential integrator), which makes
 * the method third order.
 */
export function kDpmpp3m(D: Den, x: Vec, sigmas: number[], d2Scale = 1): Vec {
  let d1: Vec | undefined;
  let d2: Vec | undefined;
  let h1 = 0;
  let h2 = 0;
  for (let i = 0; i < sigmas.length - 1; i++) {
    const den = D(x, sigmas[i]!);
    if (sigmas[i + 1] === 0) {
      x = den;
      continue;
    }
    const h = Math.log(sigmas[i]! / sigmas[i + 1]!);
    x = axpby(Math.exp(-h), x, -Math.expm1(-h), den);
    const phi2 = Math.expm1(-h) / h + 1;
    if (d1 && d2) {
      const r0 = h1 / h;
      const r1 = h2 / h;
      const d10 = axpby(1 / r0, den, -1 / r0, d1);
      const d11 = axpby(1 / r1, d1, -1 / r1, d2);
      const D1 = axpby(1 + r0 / (r0 + r1), d10, -r0 / (r0 + r1), d11);
      const D2 = axpby(1 / (r0 + r1), d10, -1 / (r0 + r1), d11);
      const phi3 = phi2 / h - 0.5;
      x = axpby(1, x, 1, axpby(phi2, D1, -phi3 * d2Scale, D2));
    } else if (d1) {
      const r = h1 / h;
      x = axpby(1, x, phi2 / r, axpby(1, den, -1, d1));
    }
    d2 = d1;
    d1 = den;
    h2 = h1;
    h1 = h;
  }
  return x;
}
