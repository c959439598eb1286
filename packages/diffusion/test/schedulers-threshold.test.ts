// Dynamic thresholding (`thresholding: true`) in the diffusers-compatible schedulers, checked step by
// step against float64 re-derivations written here from diffusers' formulas (scheduling_ddpm.py,
// scheduling_ddim.py, scheduling_lcm.py, scheduling_dpmsolver_multistep.py,
// scheduling_dpmsolver_singlestep.py, scheduling_unipc_multistep.py; read, not copied):
//   _threshold_sample: per batch row, s = clamp(quantile(|x₀|, p), min = 1, max = m), x₀ ← clamp(x₀, −s, s)/s
//   with torch.quantile's linear interpolation (sorted ascending, position p·(n − 1)).
// It is applied to the x₀ prediction before it is used: instead of clip_sample in DDPM/DDIM/LCM
// (`if thresholding … elif clip_sample …`), inside convert_model_output in the solvers (so the solver
// history holds thresholded x₀), and for DPM-Solver 'dpmsolver'/'sde-dpmsolver' as ε → x₀ → threshold → ε.
// ᾱ comes from the β schedule in float64 here; the schedulers keep float32 tables like diffusers.
//
// The "model" of each step predicts a fresh random x₀ target whose per-row |x₀| quantile is set on
// purpose: row 0 far above sample_max_value (s clamped to it), row 1 strictly between 1 and it, so s
// differs per row and both branches of the clamp are used. Its output (ε, v or x₀) is computed on the
// device from the scheduler's own x (no readback), and in float64 from the reference's x.
import { type Backend, currentBackend, scope, type Tensor, TesseraError } from '@tessera/core';
import {
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  DPMSolverSinglestepScheduler,
  LCMScheduler,
  UniPCMultistepScheduler,
} from '@tessera/diffusion';
import { describe, expect, it } from 'vitest';
import { testBackends } from '../../../test-utils/backends.js';
import { normals, rng } from './gaussian.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const why = `TEST_SEED=${SEED}`;
console.log(`[schedulers-threshold] seed ${SEED} (replay with ${why})`);

const N = 1000;
const TAIL = [4, 8, 8]; // C, H, W: 256 values per batch row
const ROW = 256;
/** Stable Diffusion's β schedule (scaled_linear 0.00085 → 0.012), also LCM's default. */
const SD = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, num_train_timesteps: N };

// ---- float64 re-derivation ----

/** ᾱ_t = Π (1 − β_i), β = linspace(√β₀, √β₁, N)² (scaled_linear), in float64. */
const ABAR = (() => {
  const out = new Float64Array(N);
  const a = Math.sqrt(0.00085);
  const b = Math.sqrt(0.012);
  let p = 1;
  for (let i = 0; i < N; i++) {
    const beta = (a + ((b - a) * i) / (N - 1)) ** 2;
    p *= 1 - beta;
    out[i] = p;
  }
  return out;
})();
/** σ of the VE view at integer timestep t: √((1 − ᾱ)/ᾱ). */
const sigmaAt = (t: number) => Math.sqrt((1 - ABAR[t]!) / ABAR[t]!);

type Vec = Float64Array;
/** Σ cᵢ·vᵢ elementwise. */
function lc(...terms: [number, Vec][]): Vec {
  const out = new Float64Array(terms[0]![1].length);
  for (const [c, v] of terms) for (let j = 0; j < out.length; j++) out[j]! += c * v[j]!;
  return out;
}

/** torch.quantile(v, q), linear interpolation. */
function quantile64(v: ArrayLike<number>, q: number): number {
  const s = Array.from(v).sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (pos - lo) * (s[hi]! - s[lo]!);
}

interface Thresh {
  ratio: number;
  maxValue: number;
}

/**
 * diffusers `_threshold_sample` in float64, rows = axis 0. torch.clamp(q, min = 1, max = m) is
 * min(max(q, 1), m) (so m < 1 gives m). Pushes each row's s to `log`.
 */
function threshold64(x: Vec, th: Thresh, log?: number[]): Vec {
  const batch = x.length / ROW;
  const out = new Float64Array(x.length);
  for (let b = 0; b < batch; b++) {
    const row = x.subarray(b * ROW, (b + 1) * ROW);
    const s = Math.min(Math.max(quantile64(Array.from(row, Math.abs), th.ratio), 1), th.maxValue);
    log?.push(s);
    for (let j = 0; j < ROW; j++) out[b * ROW + j] = Math.min(Math.max(row[j]!, -s), s) / s;
  }
  return out;
}

type Pred = 'epsilon' | 'v_prediction' | 'sample';
/** Model output from (x, x₀) at (α, σ): ε = (x − αx₀)/σ, v = αε − σx₀, or x₀ — as [coef on x, coef on x₀]. */
function modelCoefs(pt: Pred, a: number, s: number): [number, number] {
  if (pt === 'epsilon') return [1 / s, -a / s];
  if (pt === 'v_prediction') return [a / s, -(a * a) / s - s];
  return [0, 1];
}
/** diffusers' x₀ from a model output: (x − σ·ε)/α, α·x − σ·v, or the output itself. */
function predX0(pt: Pred, x: Vec, out: Vec, a: number, s: number): Vec {
  if (pt === 'epsilon') return lc([1 / a, x], [-s / a, out]);
  if (pt === 'v_prediction') return lc([a, x], [-s, out]);
  return Float64Array.from(out);
}
/** diffusers' ε from a model output: ε, α·v + σ·x, or (x − α·x₀)/σ. */
function predEps(pt: Pred, x: Vec, out: Vec, a: number, s: number): Vec {
  if (pt === 'epsilon') return Float64Array.from(out);
  if (pt === 'v_prediction') return lc([a, out], [s, x]);
  return lc([1 / s, x], [-a / s, out]);
}
/** VP α_t, σ_t of a VE σ: 1/√(σ² + 1), σ/√(σ² + 1). */
const alphaSigma = (sig: number): [number, number] => [
  1 / Math.sqrt(sig * sig + 1),
  sig / Math.sqrt(sig * sig + 1),
];
const lambda = (sig: number) => {
  const [a, s] = alphaSigma(sig);
  return Math.log(a) - Math.log(s);
};

/** Gaussian elimination with partial pivoting (torch.linalg.solve for the small UniPC systems). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((r, i) => [...r.slice(0, n), b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

// ---- reference steps (one closure per scheduler run; state kept inside like the Python object) ----

interface RefOut {
  prev: Vec;
  /** What the scheduler returns as predOriginalSample, where it returns one. */
  pred?: Vec;
}
type RefStep = (i: number, x: Vec, out: Vec, noise: Vec | null) => RefOut;

/** x₀ post-processing as configured: thresholding wins over clipping. */
type Post = (x0: Vec) => Vec;

function ddpmRef(ts: ArrayLike<number>, pt: Pred, post: Post): RefStep {
  return (i, x, out, noise) => {
    const t = ts[i]!;
    const prevT = i + 1 < ts.length ? ts[i + 1]! : -1;
    const at = ABAR[t]!;
    const ap = prevT >= 0 ? ABAR[prevT]! : 1;
    const bt = 1 - at;
    const bp = 1 - ap;
    const curAlpha = at / ap;
    const curBeta = 1 - curAlpha;
    const x0 = post(predX0(pt, x, out, Math.sqrt(at), Math.sqrt(bt)));
    let prev = lc([(Math.sqrt(ap) * curBeta) / bt, x0], [(Math.sqrt(curAlpha) * bp) / bt, x]);
    if (t > 0) prev = lc([1, prev], [Math.sqrt(Math.max((bp / bt) * curBeta, 1e-20)), noise!]); // fixed_small
    return { prev, pred: x0 };
  };
}

/** DDIM step at timestep t = ts[i] of n (prev = t − N//n; ᾱ after the end = `finalAlpha`). */
function ddimRef(
  ts: ArrayLike<number>,
  n: number,
  pt: Pred,
  post: Post,
  eta: number,
  useClipped: boolean,
  finalAlpha: number,
): RefStep {
  return (i, x, out, noise) => {
    const t = ts[i]!;
    const prevT = t - Math.floor(N / n);
    const at = ABAR[t]!;
    const ap = prevT >= 0 ? ABAR[prevT]! : finalAlpha;
    const a = Math.sqrt(at);
    const s = Math.sqrt(1 - at);
    const x0 = post(predX0(pt, x, out, a, s));
    let eps = predEps(pt, x, out, a, s);
    const std = eta * Math.sqrt(((1 - ap) / (1 - at)) * (1 - at / ap));
    if (useClipped) eps = lc([1 / s, x], [-a / s, x0]);
    let prev = lc([Math.sqrt(ap), x0], [Math.sqrt(1 - ap - std * std), eps]);
    if (eta > 0) prev = lc([1, prev], [std, noise!]);
    return { prev, pred: x0 };
  };
}

function lcmRef(ts: ArrayLike<number>, pt: Pred, post: Post): RefStep {
  return (i, x, out, noise) => {
    const t = ts[i]!;
    const last = i === ts.length - 1;
    const prevT = last ? t : ts[i + 1]!;
    const at = ABAR[t]!;
    const ap = ABAR[prevT]!;
    const sd = 0.5;
    const st = t * 10; // timestep_scaling 10
    const cSkip = (sd * sd) / (st * st + sd * sd);
    const cOut = st / Math.sqrt(st * st + sd * sd);
    const x0 = post(predX0(pt, x, out, Math.sqrt(at), Math.sqrt(1 - at)));
    const denoised = lc([cOut, x0], [cSkip, x]);
    const prev = last ? denoised : lc([Math.sqrt(ap), denoised], [Math.sqrt(1 - ap), noise!]);
    return { prev, pred: denoised };
  };
}

type Algo = 'dpmsolver++' | 'sde-dpmsolver++' | 'dpmsolver' | 'sde-dpmsolver';

/** DPM-Solver model conversion: x₀ (…++) thresholded, or ε (re-derived from the thresholded x₀). */
function dpmConvert(
  algo: Algo,
  pt: Pred,
  th: Thresh | null,
  sig: number,
  x: Vec,
  out: Vec,
  log: number[],
): Vec {
  const [a, s] = alphaSigma(sig);
  if (algo.endsWith('++')) {
    const x0 = predX0(pt, x, out, a, s);
    return th ? threshold64(x0, th, log) : x0;
  }
  let eps = predEps(pt, x, out, a, s);
  if (th) {
    const x0 = threshold64(lc([1 / a, x], [-s / a, eps]), th, log);
    eps = lc([1 / s, x], [-a / s, x0]);
  }
  return eps;
}

/** diffusers DPMSolverMultistepScheduler.step (orders 1–3, midpoint/heun, lower_order_final). */
function dpmMultistepRef(
  sigmas: number[],
  cfg: { algo: Algo; order: number; heun: boolean; pt: Pred; th: Thresh | null; finalZero: boolean },
  log: number[],
): RefStep {
  const n = sigmas.length - 1;
  const outputs: Vec[] = [];
  let lowerOrderNums = 0;
  const { algo, heun } = cfg;
  return (i, x, out, noise) => {
    const m = dpmConvert(algo, cfg.pt, cfg.th, sigmas[i]!, x, out, log);
    outputs.push(m);
    const lowerFinal = i === n - 1 && (n < 15 || cfg.finalZero); // lower_order_final = true
    const lowerSecond = i === n - 2 && n < 15;
    const k =
      cfg.order === 1 || lowerOrderNums < 1 || lowerFinal
        ? 1
        : cfg.order === 2 || lowerOrderNums < 2 || lowerSecond
          ? 2
          : 3;
    const [aT, sT] = alphaSigma(sigmas[i + 1]!);
    const [aS, sS] = alphaSigma(sigmas[i]!);
    const h = lambda(sigmas[i + 1]!) - lambda(sigmas[i]!);
    const m0 = outputs[outputs.length - 1]!;
    let D1: Vec | null = null;
    let D2: Vec | null = null;
    if (k === 2) {
      const r0 = (lambda(sigmas[i]!) - lambda(sigmas[i - 1]!)) / h;
      D1 = lc([1 / r0, m0], [-1 / r0, outputs[outputs.length - 2]!]);
    } else if (k === 3) {
      const m1 = outputs[outputs.length - 2]!;
      const m2 = outputs[outputs.length - 3]!;
      const r0 = (lambda(sigmas[i]!) - lambda(sigmas[i - 1]!)) / h;
      const r1 = (lambda(sigmas[i - 1]!) - lambda(sigmas[i - 2]!)) / h;
      const D10 = lc([1 / r0, m0], [-1 / r0, m1]);
      const D11 = lc([1 / r1, m1], [-1 / r1, m2]);
      D1 = lc([1, D10], [r0 / (r0 + r1), D10], [-r0 / (r0 + r1), D11]);
      D2 = lc([1 / (r0 + r1), D10], [-1 / (r0 + r1), D11]);
    }
    const em = Math.exp(-h) - 1;
    const ep = Math.exp(h) - 1;
    const e2 = 1 - Math.exp(-2 * h);
    const terms: [number, Vec][] = [];
    if (algo === 'dpmsolver++') {
      terms.push([sT / sS, x], [-aT * em, m0]);
      if (k === 2) terms.push([heun ? aT * (em / h + 1) : -0.5 * aT * em, D1!]);
      if (k === 3) terms.push([aT * (em / h + 1), D1!], [-aT * ((em + h) / h ** 2 - 0.5), D2!]);
    } else if (algo === 'sde-dpmsolver++') {
      terms.push([(sT / sS) * Math.exp(-h), x], [aT * e2, m0], [sT * Math.sqrt(e2), noise!]);
      if (k === 2) terms.push([heun ? aT * (e2 / (-2 * h) + 1) : 0.5 * aT * e2, D1!]);
      if (k === 3)
        terms.push([aT * (e2 / (-2 * h) + 1), D1!], [aT * ((e2 - 2 * h) / (2 * h) ** 2 - 0.5), D2!]);
    } else if (algo === 'dpmsolver') {
      terms.push([aT / aS, x], [-sT * ep, m0]);
      if (k === 2) terms.push([heun ? -sT * (ep / h - 1) : -0.5 * sT * ep, D1!]);
      if (k === 3) terms.push([-sT * (ep / h - 1), D1!], [-sT * ((ep - h) / h ** 2 - 0.5), D2!]);
    } else {
      terms.push([aT / aS, x], [-2 * sT * ep, m0], [sT * Math.sqrt(Math.exp(2 * h) - 1), noise!]);
      if (k === 2) terms.push([heun ? -2 * sT * (ep / h - 1) : -sT * ep, D1!]);
    }
    if (lowerOrderNums < cfg.order) lowerOrderNums++;
    return { prev: lc(...terms), pred: algo.endsWith('++') ? m : undefined };
  };
}

/** diffusers DPMSolverSinglestepScheduler.step (dpmsolver++ / sde-dpmsolver++). */
function dpmSinglestepRef(
  sigmas: number[],
  orderList: number[],
  cfg: { sde: boolean; heun: boolean; pt: Pred; th: Thresh },
  log: number[],
): RefStep {
  const outputs: Vec[] = [];
  let x0s: Vec | null = null; // the sample at the start of the group
  const { sde, heun } = cfg;
  return (i, x, out, noise) => {
    const m = dpmConvert(sde ? 'sde-dpmsolver++' : 'dpmsolver++', cfg.pt, cfg.th, sigmas[i]!, x, out, log);
    outputs.push(m);
    let order = orderList[i]!;
    while (order > outputs.length) order--;
    if (order === 1) x0s = x;
    const L = outputs.length;
    const m0 = outputs[L - 1]!;
    const [aT, sT] = alphaSigma(sigmas[i + 1]!);
    const start = i - (order - 1);
    const [, sStart] = alphaSigma(sigmas[start]!);
    const h = lambda(sigmas[i + 1]!) - lambda(sigmas[start]!);
    const em = Math.exp(-h) - 1;
    const e2 = 1 - Math.exp(-2 * h);
    const terms: [number, Vec][] = [[sde ? (sT / sStart) * Math.exp(-h) : sT / sStart, x0s!]];
    const d0 = sde ? aT * e2 : -aT * em;
    const c1 = sde ? aT * (e2 / (-2 * h) + 1) : aT * (em / h + 1);
    if (order === 1) terms.push([d0, m0]);
    else if (order === 2) {
      const m1 = outputs[L - 2]!;
      const r0 = (lambda(sigmas[i]!) - lambda(sigmas[i - 1]!)) / h;
      const D1 = lc([1 / r0, m0], [-1 / r0, m1]);
      terms.push([d0, m1], [heun ? c1 : sde ? 0.5 * aT * e2 : -0.5 * aT * em, D1]);
    } else {
      const m1 = outputs[L - 2]!;
      const m2 = outputs[L - 3]!;
      const r0 = (lambda(sigmas[i]!) - lambda(sigmas[i - 2]!)) / h;
      const r1 = (lambda(sigmas[i - 1]!) - lambda(sigmas[i - 2]!)) / h;
      const D10 = lc([1 / r1, m1], [-1 / r1, m2]);
      const D11 = lc([1 / r0, m0], [-1 / r0, m2]);
      terms.push([d0, m2]);
      if (!heun) terms.push([c1, D11]);
      else {
        const D1 = lc([r0 / (r0 - r1), D10], [-r1 / (r0 - r1), D11]);
        const D2 = lc([2 / (r0 - r1), D11], [-2 / (r0 - r1), D10]);
        const c2 = sde ? aT * ((e2 - 2 * h) / (2 * h) ** 2 - 0.5) : -aT * ((em + h) / h ** 2 - 0.5);
        terms.push([c1, D1], [c2, D2]);
      }
    }
    if (sde) terms.push([sT * Math.sqrt(e2), noise!]);
    return { prev: lc(...terms), pred: m };
  };
}

/** diffusers UniPCMultistepScheduler.step with predict_x0 (UniC corrector, then UniP predictor). */
function unipcRef(
  sigmas: number[],
  cfg: { order: number; bh: 'bh1' | 'bh2'; pt: Pred; th: Thresh },
  log: number[],
): RefStep {
  const n = sigmas.length - 1;
  const outputs: Vec[] = [];
  let last: Vec | null = null;
  let thisOrder = 0;
  let lowerOrderNums = 0;
  /** The bh update from σ index s0 to t of order p; `corr` is the new model output for UniC. */
  const update = (
    x: Vec,
    t: number,
    s0: number,
    p: number,
    corr: Vec | null,
    earlier: (k: number) => number,
  ) => {
    const [aT, sT] = alphaSigma(sigmas[t]!);
    const [, sS0] = alphaSigma(sigmas[s0]!);
    const h = lambda(sigmas[t]!) - lambda(sigmas[s0]!);
    const m0 = outputs[outputs.length - 1]!;
    const rks: number[] = [];
    const D1s: Vec[] = [];
    for (let k = 1; k < p; k++) {
      const rk = (lambda(sigmas[earlier(k)]!) - lambda(sigmas[s0]!)) / h;
      rks.push(rk);
      D1s.push(lc([1 / rk, outputs[outputs.length - 1 - k]!], [-1 / rk, m0]));
    }
    rks.push(1);
    const hh = -h;
    const hPhi1 = Math.expm1(hh);
    let hPhiK = hPhi1 / hh - 1;
    let fact = 1;
    const Bh = cfg.bh === 'bh1' ? hh : Math.expm1(hh);
    const R: number[][] = [];
    const b: number[] = [];
    for (let j = 1; j <= p; j++) {
      R.push(rks.map((r) => r ** (j - 1)));
      b.push((hPhiK * fact) / Bh);
      fact *= j + 1;
      hPhiK = hPhiK / hh - 1 / fact;
    }
    const terms: [number, Vec][] = [
      [sT / sS0, x],
      [-aT * hPhi1, m0],
    ];
    if (corr) {
      const rhos = p === 1 ? [0.5] : solve(R, b);
      for (const [k, d] of D1s.entries()) terms.push([-aT * Bh * rhos[k]!, d]);
      terms.push([-aT * Bh * rhos[p - 1]!, lc([1, corr], [-1, m0])]);
    } else if (D1s.length > 0) {
      const rhos =
        p === 2
          ? [0.5]
          : solve(
              R.slice(0, -1).map((r) => r.slice(0, -1)),
              b.slice(0, -1),
            );
      for (const [k, d] of D1s.entries()) terms.push([-aT * Bh * rhos[k]!, d]);
    }
    return lc(...terms);
  };
  return (i, x, out, _noise) => {
    const [a, s] = alphaSigma(sigmas[i]!);
    const m = threshold64(predX0(cfg.pt, x, out, a, s), cfg.th, log);
    let xc = x;
    if (i > 0 && last) xc = update(last, i, i - 1, thisOrder, m, (k) => i - 1 - k);
    outputs.push(m);
    thisOrder = Math.min(Math.min(cfg.order, n - i), lowerOrderNums + 1); // lower_order_final
    last = xc;
    const prev = update(xc, i + 1, i, thisOrder, null, (k) => i - k);
    if (lowerOrderNums < cfg.order) lowerOrderNums++;
    return { prev, pred: m };
  };
}

// ---- harness ----

/** A step run on one backend, its float64 reference, and the x₀ targets that make thresholding bite. */
interface Run {
  label: string;
  scheduler: {
    timesteps: ArrayLike<number>;
    step(
      m: Tensor,
      t: number,
      x: Tensor,
      opts: Record<string, unknown>,
    ): { prevSample: Tensor; predOriginalSample?: Tensor };
    dispose?(): void;
  };
  batch: number;
  pt: Pred;
  /** (α, σ) of step i for the model. */
  vp: (i: number) => [number, number];
  ref: RefStep;
  /** Pass fresh noise to every step (stochastic schedulers). */
  noise?: boolean;
  /** Extra step options (DDIM's eta, useClippedModelOutput). */
  opts?: Record<string, unknown>;
  /** Quantile targets of |x₀| per row (before clamping to [1, sample_max_value]). */
  targets: (i: number, r: () => number) => number[];
  ratio: number;
}

/** Float32-representable random x₀ whose row b has quantile(|x₀|, ratio) = targets[b]. */
function makeX0(r: () => number, targets: number[], ratio: number): Vec {
  const out = new Float64Array(targets.length * ROW);
  targets.forEach((target, b) => {
    const z = normals(r, ROW);
    const k = target / quantile64(Array.from(z, Math.abs), ratio);
    for (let j = 0; j < ROW; j++) out[b * ROW + j] = Math.fround(z[j]! * k);
  });
  return out;
}
const f32vec = (v: Vec) => Float64Array.from(v, Math.fround);
let runCounter = 0;

/** Counts host readbacks while `fn` runs: calls of B.read plus the WebGPU backend's `readbacks` counter. */
function countReads<T>(B: Backend, fn: () => T): [T, number] {
  const original = B.read;
  const gpu = B as unknown as { readbacks?: number };
  const before = gpu.readbacks ?? 0;
  let reads = 0;
  B.read = (t) => {
    reads++;
    return original.call(B, t);
  };
  try {
    const out = fn();
    return [out, reads + (gpu.readbacks ?? 0) - before];
  } finally {
    B.read = original;
  }
}

// Tolerance, relative to the largest |value| of the compared tensor (at least 1). The device computes in
// float32 (unit roundoff u = 2⁻²⁴ ≈ 6e-8) from diffusers' float32 ᾱ/σ tables. Two sources dominate:
// (1) a step is a few lincombs whose terms reach ~20× the output scale (x/α with 1/α ≈ 15 at t = 999),
// ≲ 20·10u ≈ 1e-5; (2) the float32 ᾱ near t = 0, where 1 − ᾱ_t ≈ 1.7e-3 at t = 1 carries a relative
// error up to u/(1 − ᾱ_t) ≈ 3.5e-5 into √(1 − ᾱ_t) (σ tables: ≲ 1e-5, checked below). Thresholding adds
// nothing of its own: the quantile and the clamps are 1-Lipschitz in x₀ and dividing by s ≥ 1 (or the
// fixed m) shrinks errors. Chains of ≤ 8 steps do not grow errors (each step contracts x or keeps its
// scale), so 1e-4 has ≥ 3× headroom. Observed: ~1e-6–5e-6, ~1.8e-5 for the DDIM runs ending at t = 1.
const TOL = 1e-4;

async function runSteps(B: Backend, run: Run): Promise<{ maxErr: number; reads: number }> {
  const r = rng(SEED + 7919 * ++runCounter);
  const s = run.scheduler;
  const n = s.timesteps.length;
  const shape = [run.batch, ...TAIL];
  const up = (v: Vec) => B.tensor(Float32Array.from(v), shape);
  let x64: Vec = f32vec(normals(r, run.batch * ROW));
  let x = up(x64);
  const before = B.memory().tensors - 1;
  let reads = 0;
  let maxErr = 0;
  const compare = (got: ArrayLike<number>, want: Vec, what: string) => {
    let scale = 1;
    for (let j = 0; j < want.length; j++) scale = Math.max(scale, Math.abs(want[j]!));
    let worst = 0;
    let at = 0;
    for (let j = 0; j < want.length; j++) {
      const e = Math.abs(got[j]! - want[j]!);
      if (!(e <= worst)) [worst, at] = [e, j];
    }
    maxErr = Math.max(maxErr, worst / scale);
    expect(
      worst,
      `${run.label} ${what}: [${at}] ${got[at]} vs ${want[at]} (scale ${scale.toFixed(3)}; ${why})`,
    ).toBeLessThanOrEqual(TOL * scale);
  };
  for (let i = 0; i < n; i++) {
    const t = s.timesteps[i]!;
    const [a, sg] = run.vp(i);
    const c = modelCoefs(run.pt, a, sg);
    const x0 = makeX0(r, run.targets(i, r), run.ratio);
    const noise = run.noise ? f32vec(normals(r, run.batch * ROW)) : null;
    const out64 = lc([c[0], x64], [c[1], x0]);
    const want = run.ref(i, x64, out64, noise);
    const x0t = up(x0);
    const nt = noise ? up(noise) : undefined;
    const [[prev, pred], k] = countReads(B, () =>
      scope(() => {
        const model = B.lincomb(c, [x, x0t]);
        const o = s.step(model, t, x, { ...run.opts, ...(nt ? { varianceNoise: nt } : {}) });
        return [o.prevSample, o.predOriginalSample] as const;
      }),
    );
    reads += k;
    compare(await prev.data(), want.prev, `step ${i} (t = ${t}) prevSample`);
    if (want.pred) {
      expect(pred, `${run.label} step ${i}: predOriginalSample`).toBeDefined();
      compare(await pred!.data(), want.pred, `step ${i} (t = ${t}) predOriginalSample`);
    }
    if (pred && pred !== prev) pred.dispose();
    for (const tt of [x, x0t, nt]) tt?.dispose();
    x = prev;
    x64 = want.prev;
  }
  x.dispose();
  s.dispose?.();
  expect(B.memory().tensors, `${run.label}: tensors leaked`).toBe(before);
  return { maxErr, reads };
}

/** |x₀| quantile targets: row 0 far above sample_max_value, row 1 strictly inside (1, sample_max_value). */
const twoRows = (max: number) => (_i: number, r: () => number) => [max + 1.5, 1.2 + (max - 1.4) * r()];

/** Checks the logged s values: every step has a row clamped at `max` and a row strictly inside (1, max). */
function expectBites(log: number[], batch: number, max: number, label: string) {
  expect(log.length, label).toBeGreaterThan(0);
  for (let k = 0; k < log.length; k += batch) {
    const s = log.slice(k, k + batch);
    expect(s[0], `${label}: row 0 not clamped at sample_max_value (${why})`).toBe(max);
    expect(s[1]! > 1.05 && s[1]! < max - 0.05, `${label}: row 1 s = ${s[1]} (${why})`).toBe(true);
  }
}

const logPost =
  (th: Thresh, log: number[]): Post =>
  (x0) =>
    threshold64(x0, th, log);

/**
 * One thresholded run, stating only what differs: the scheduler and its step count, its thresholding
 * parameters and the float64 reference step. Shared: batch 2, twoRows(sample_max_value) targets,
 * expectBites, and the model's (α, σ): from the σ grid for solvers (`finalSigma` given), else
 * (√ᾱ_t, √(1 − ᾱ_t)) at each timestep.
 */
interface ThresholdCase extends Pick<Run, 'label' | 'noise' | 'opts'> {
  scheduler: Run['scheduler'] & { setTimesteps(n: number): void };
  steps: number;
  th: Thresh;
  /** Model output type; epsilon when absent. */
  pt?: Pred;
  /** The σ after the last timestep, for solvers (their grid is σ(t) at each timestep, then this). */
  finalSigma?: number;
  /**
   * The reference, built after setTimesteps: `ts` the timesteps, `sig` the solver σ grid (empty without
   * finalSigma); `post` thresholds x₀ with `th`, and both log each row's s to `log`.
   */
  ref: (c: { ts: ArrayLike<number>; sig: number[]; th: Thresh; log: number[]; post: Post }) => RefStep;
  /** Defaults to twoRows(th.maxValue). */
  targets?: Run['targets'];
  /** Checks the logged s values; defaults to expectBites(log, 2, th.maxValue, label). */
  bites?: (log: number[]) => void;
}

describe('schedulers with thresholding: true match float64 diffusers steps', async () => {
  const backends = await testBackends();

  it('float64 ᾱ and σ tables agree with the schedulers’ float32 tables (tolerance premise)', () => {
    const s = DDIMScheduler.fromConfig(SD);
    let worst = 0;
    for (let t = 0; t < N; t++) worst = Math.max(worst, Math.abs(s.alphasCumprod[t]! / ABAR[t]! - 1));
    expect(worst).toBeLessThan(1e-6);
    const d = DPMSolverMultistepScheduler.fromConfig(SD);
    d.setTimesteps(8);
    for (let i = 0; i < 8; i++) {
      expect(Math.abs(d.sigmas[i]! / sigmaAt(d.timesteps[i]!) - 1)).toBeLessThan(1e-5);
    }
  });

  describe.each(backends)('%s', (name, B) => {
    /** Runs a case on B against its reference, checks the s values, reports; no readbacks inside step(). */
    const check = async (c: ThresholdCase) => {
      const { label, th, finalSigma } = c;
      c.scheduler.setTimesteps(c.steps);
      const ts = c.scheduler.timesteps;
      const sig = finalSigma === undefined ? [] : [...Array.from(ts, sigmaAt), finalSigma];
      const log: number[] = [];
      const res = await runSteps(B, {
        label,
        scheduler: c.scheduler,
        batch: 2,
        pt: c.pt ?? 'epsilon',
        vp:
          finalSigma === undefined
            ? (i) => [Math.sqrt(ABAR[ts[i]!]!), Math.sqrt(1 - ABAR[ts[i]!]!)]
            : (i) => alphaSigma(sig[i]!),
        ref: c.ref({ ts, sig, th, log, post: logPost(th, log) }),
        noise: c.noise,
        opts: c.opts,
        targets: c.targets ?? twoRows(th.maxValue),
        ratio: th.ratio,
      });
      if (c.bites) c.bites(log);
      else expectBites(log, 2, th.maxValue, label);
      console.log(
        `[schedulers-threshold] ${name} ${label}: max error ${res.maxErr.toExponential(2)} × scale`,
      );
      expect(res.reads, `${label}: host readbacks inside step()`).toBe(0);
    };

    it('DDPMScheduler: thresholding replaces clip_sample, batch of 2 with different s, 4 ancestral steps', async () => {
      await check({
        label: 'DDPM',
        // clip_sample stays true (DDPM's default): diffusers' `if thresholding … elif clip_sample` ignores it.
        scheduler: DDPMScheduler.fromConfig({
          ...SD,
          thresholding: true,
          sample_max_value: 3,
          steps_offset: 1,
        }),
        steps: 4,
        th: { ratio: 0.995, maxValue: 3 },
        ref: ({ ts, post }) => ddpmRef(ts, 'epsilon', post),
        noise: true,
      });
    });

    it('DDIMScheduler: η = 0 with v-prediction, η = 0.7 with useClippedModelOutput (ε from thresholded x₀)', async () => {
      for (const [pt, eta, useClipped] of [
        ['v_prediction', 0, false],
        ['epsilon', 0.7, true],
      ] as const) {
        await check({
          label: `DDIM ${pt} η=${eta}`,
          scheduler: DDIMScheduler.fromConfig({
            ...SD,
            set_alpha_to_one: false,
            steps_offset: 1,
            prediction_type: pt,
            thresholding: true,
            dynamic_thresholding_ratio: 0.9,
            sample_max_value: 2.5,
          }),
          steps: 5,
          th: { ratio: 0.9, maxValue: 2.5 },
          pt,
          ref: ({ ts, post }) => ddimRef(ts, 5, pt, post, eta, useClipped, ABAR[0]!),
          noise: eta > 0,
          opts: { eta, useClippedModelOutput: useClipped },
        });
      }
    });

    it('LCMScheduler: thresholded x₀ before the boundary condition (ratio 1: s = max |x₀|), 4 steps', async () => {
      await check({
        label: 'LCM',
        scheduler: LCMScheduler.fromConfig({
          thresholding: true,
          dynamic_thresholding_ratio: 1,
          sample_max_value: 4,
        }),
        steps: 4,
        th: { ratio: 1, maxValue: 4 },
        ref: ({ ts, post }) => lcmRef(ts, 'epsilon', post),
        noise: true,
      });
    });

    it('DPMSolverMultistepScheduler: dpmsolver++ order 3 and sde-dpmsolver++ (history holds thresholded x₀)', async () => {
      for (const [algo, order, heun] of [
        ['dpmsolver++', 3, false],
        ['sde-dpmsolver++', 2, true],
      ] as const) {
        await check({
          label: `DPMSolverMultistep ${algo} order ${order}`,
          scheduler: DPMSolverMultistepScheduler.fromConfig({
            ...SD,
            algorithm_type: algo,
            solver_order: order,
            solver_type: heun ? 'heun' : 'midpoint',
            thresholding: true,
            sample_max_value: 2,
          }),
          steps: 8,
          th: { ratio: 0.995, maxValue: 2 },
          finalSigma: 0,
          ref: ({ sig, th, log }) =>
            dpmMultistepRef(sig, { algo, order, heun, pt: 'epsilon', th, finalZero: true }, log),
          noise: algo.startsWith('sde'),
        });
      }
    });

    it("DPMSolverMultistepScheduler: 'dpmsolver' and 'sde-dpmsolver' (ε → x₀ → threshold → ε)", async () => {
      for (const [algo, pt] of [
        ['dpmsolver', 'epsilon'],
        ['sde-dpmsolver', 'v_prediction'],
      ] as const) {
        await check({
          label: `DPMSolverMultistep ${algo} ${pt}`,
          scheduler: DPMSolverMultistepScheduler.fromConfig({
            ...SD,
            algorithm_type: algo,
            prediction_type: pt,
            final_sigmas_type: 'sigma_min',
            thresholding: true,
            sample_max_value: 3,
          }),
          steps: 6,
          th: { ratio: 0.995, maxValue: 3 },
          pt,
          finalSigma: sigmaAt(0),
          ref: ({ sig, th, log }) =>
            dpmMultistepRef(sig, { algo, order: 2, heun: false, pt, th, finalZero: false }, log),
          noise: algo === 'sde-dpmsolver',
        });
      }
    });

    it('DPMSolverSinglestepScheduler: order 3 midpoint / heun and order 2 sde-dpmsolver++ heun; forced lower_order_final', async () => {
      // diffusers set_timesteps forces lower_order_final = True when n % solver_order ≠ 0 or
      // final_sigmas_type == "zero", then get_order_list: order 3 → [1, 2, 3] * (n // 3) and a tail
      // ([1, 2] + [1] when n % 3 == 0, [1] when 1, [1, 2] when 2); order 2 → [1, 2] * (n // 2 − 1) + [1, 1]
      // for even n, [1, 2] * (n // 2) + [1] for odd; last order 1 with a zero final σ. Written out:
      for (const [order, sde, heun, steps, orders] of [
        [3, false, false, 6, [1, 2, 3, 1, 2, 1]],
        [2, true, true, 6, [1, 2, 1, 2, 1, 1]],
        [3, false, true, 6, [1, 2, 3, 1, 2, 1]],
        [3, false, false, 4, [1, 2, 3, 1]], // was [1, 2, 1, 1]: a 3-stage group cut after two stages
        [2, false, true, 5, [1, 2, 1, 2, 1]],
      ] as const) {
        const s = DPMSolverSinglestepScheduler.fromConfig({
          ...SD,
          solver_order: order,
          algorithm_type: sde ? 'sde-dpmsolver++' : 'dpmsolver++',
          solver_type: heun ? 'heun' : 'midpoint',
          thresholding: true,
          sample_max_value: 2.5,
        });
        await check({
          label: `DPMSolverSinglestep order ${order}${sde ? ' sde' : ''}${heun ? ' heun' : ''} n ${steps}`,
          scheduler: s,
          steps,
          th: { ratio: 0.995, maxValue: 2.5 },
          finalSigma: 0,
          ref: ({ sig, th, log }) => {
            expect(s.orderList).toEqual(orders); // set by setTimesteps(steps), before any step
            expect(s.config.get('lower_order_final')).toBe(true); // register_to_config
            return dpmSinglestepRef(sig, [...orders], { sde, heun, pt: 'epsilon', th }, log);
          },
          noise: sde,
        });
      }
    });

    it('UniPCMultistepScheduler (predict_x0): bh2 order 2 and bh1 order 3, predictor and corrector on thresholded x₀', async () => {
      for (const [order, bh, pt] of [
        [2, 'bh2', 'epsilon'],
        [3, 'bh1', 'v_prediction'],
      ] as const) {
        await check({
          label: `UniPC ${bh} order ${order} ${pt}`,
          scheduler: UniPCMultistepScheduler.fromConfig({
            ...SD,
            solver_order: order,
            solver_type: bh,
            prediction_type: pt,
            thresholding: true,
            sample_max_value: 3,
            final_sigmas_type: bh === 'bh1' ? 'sigma_min' : 'zero',
          }),
          steps: 7,
          th: { ratio: 0.995, maxValue: 3 },
          pt,
          finalSigma: bh === 'bh1' ? sigmaAt(0) : 0,
          ref: ({ sig, th, log }) => unipcRef(sig, { order, bh, pt, th }, log),
        });
      }
    });

    it('UniPC with predict_x0 = false ignores thresholding, as diffusers (its ε output is not thresholded)', async () => {
      const r = rng(SEED + 17);
      const make = (thresholding: boolean) => {
        const s = UniPCMultistepScheduler.fromConfig({
          ...SD,
          predict_x0: false,
          thresholding,
          sample_max_value: 2,
        });
        s.setTimesteps(4);
        return s;
      };
      const a = make(true);
      const b = make(false);
      const shape = [2, ...TAIL];
      let xa = B.tensor(Float32Array.from(normals(r, 2 * ROW)), shape);
      let xb = B.lincomb([1], [xa]);
      for (let i = 0; i < 4; i++) {
        const out = B.tensor(
          Float32Array.from(normals(r, 2 * ROW), (v) => 4 * v),
          shape,
        );
        const [na, reads] = countReads(B, () => scope(() => a.step(out, a.timesteps[i]!, xa).prevSample));
        expect(reads).toBe(0);
        const nb = scope(() => b.step(out, b.timesteps[i]!, xb).prevSample);
        expect(Array.from(await na.data()), `step ${i} (${why})`).toEqual(Array.from(await nb.data()));
        for (const t of [out, xa, xb]) t.dispose();
        xa = na;
        xb = nb;
      }
      for (const t of [xa, xb]) t.dispose();
      a.dispose();
      b.dispose();
    });

    it('sample_max_value < 1: s = sample_max_value in every row (torch.clamp with min 1 > max)', async () => {
      await check({
        label: 'DDIM sample_max_value 0.5',
        scheduler: DDIMScheduler.fromConfig({
          ...SD,
          thresholding: true,
          sample_max_value: 0.5,
          steps_offset: 1,
        }),
        steps: 3,
        th: { ratio: 0.995, maxValue: 0.5 },
        ref: ({ ts, post }) => ddimRef(ts, 3, 'epsilon', post, 0, false, 1),
        targets: (_i, r) => [2.5, 0.3 + 0.4 * r()], // one row above 1, one below: both get s = 0.5
        bites: (log) => expect(log.every((v) => v === 0.5)).toBe(true),
      });
    });

    it('sample_max_value = 1 (default) makes thresholding equal clip_sample to [−1, 1] exactly', async () => {
      const r = rng(SEED + 29);
      const shape = [2, ...TAIL];
      const x = B.tensor(Float32Array.from(normals(r, 2 * ROW)), shape);
      const out = B.tensor(
        Float32Array.from(normals(r, 2 * ROW), (v) => 3 * v),
        shape,
      );
      for (const S of [DDIMScheduler, DDPMScheduler, LCMScheduler]) {
        const th = S.fromConfig({ ...SD, thresholding: true, clip_sample: false });
        const cl = S.fromConfig({ ...SD, thresholding: false, clip_sample: true });
        th.setTimesteps(4);
        cl.setTimesteps(4);
        const t = th.timesteps[1]!;
        if (th instanceof LCMScheduler && cl instanceof LCMScheduler) {
          th.setBeginIndex(1);
          cl.setBeginIndex(1);
        }
        const noise = B.tensor(Float32Array.from(normals(r, 2 * ROW)), shape);
        const a = th.step(out, t, x, { varianceNoise: noise });
        const b = cl.step(out, t, x, { varianceNoise: noise });
        expect(Array.from(await a.prevSample.data()), `${S.name} (${why})`).toEqual(
          Array.from(await b.prevSample.data()),
        );
        for (const o of [a, b]) {
          o.prevSample.dispose();
          if (o.predOriginalSample !== o.prevSample) o.predOriginalSample?.dispose();
        }
        noise.dispose();
      }
      x.dispose();
      out.dispose();
    });
  });
});

describe('thresholding config', () => {
  const classes = [
    DDPMScheduler,
    DDIMScheduler,
    LCMScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSinglestepScheduler,
    UniPCMultistepScheduler,
  ] as const;

  it('defaults as diffusers: thresholding false, dynamic_thresholding_ratio 0.995, sample_max_value 1', () => {
    for (const S of classes) {
      const s = S.fromConfig({});
      expect(s.config.get('thresholding'), S.name).toBe(false);
      expect(s.config.get('dynamic_thresholding_ratio'), S.name).toBe(0.995);
      expect(s.config.get('sample_max_value'), S.name).toBe(1);
      // accepted now (was UNSUPPORTED), and written back unchanged
      const cfg = { thresholding: true, dynamic_thresholding_ratio: 0.9, sample_max_value: 5 };
      expect(S.fromConfig(cfg).toConfig(), S.name).toEqual(cfg);
      // torch.quantile takes q in [0, 1]: ratio 0 (the smallest |x₀|) is valid upstream, and here
      const low = { thresholding: true, dynamic_thresholding_ratio: 0 };
      expect(S.fromConfig(low).toConfig(), S.name).toMatchObject(low);
    }
  });

  it('bad dynamic_thresholding_ratio / sample_max_value / thresholding values throw TesseraError INVALID_CONFIG', () => {
    const bad: Record<string, unknown>[] = [
      { dynamic_thresholding_ratio: -0.5 },
      { dynamic_thresholding_ratio: 1.5 },
      { dynamic_thresholding_ratio: Number.NaN },
      { dynamic_thresholding_ratio: '0.9' },
      { sample_max_value: 0 },
      { sample_max_value: -2 },
      { sample_max_value: Number.POSITIVE_INFINITY },
      { thresholding: 'yes' },
    ];
    for (const S of classes) {
      for (const b of bad) {
        const key = Object.keys(b)[0]!;
        let err: unknown;
        try {
          S.fromConfig({ thresholding: true, ...b });
        } catch (e) {
          err = e;
        }
        expect(err, `${S.name} ${JSON.stringify(b)}`).toBeInstanceOf(TesseraError);
        expect((err as TesseraError).code, `${S.name} ${key}`).toBe('INVALID_CONFIG');
        expect((err as TesseraError).message, `${S.name}`).toContain(key);
      }
    }
  });

  it('a sample without a batch axis is refused with a TesseraError naming the step', () => {
    const B = currentBackend();
    const s = DDIMScheduler.fromConfig({ ...SD, thresholding: true });
    s.setTimesteps(2);
    const x = B.tensor([0.5], []);
    const m = B.tensor([-3], []);
    expect(() => s.step(m, s.timesteps[0]!, x)).toThrow(
      /DDIMScheduler\.step: thresholding needs a batch axis/,
    );
    x.dispose();
    m.dispose();
  });
});
