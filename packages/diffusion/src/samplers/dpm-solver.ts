// k-diffusion's DPM-Solver samplers (Lu et al. 2022, https://arxiv.org/abs/2206.00927), from
// k_diffusion/sampling.py (class DPMSolver, PIDStepSizeController, sample_dpm_fast,
// sample_dpm_adaptive; read, not copied). Time is t = −log σ, the ODE is in ε = (x − D(x, σ))/σ, and
// each solver stage is one fused lincomb (LinearForm).
import { check, type Tensor, TesseraError } from '@tessera/core';
import type { SampleContext } from '../context.js';
import { type LinearForm, lin, toD } from '../linear-form.js';
import type { SampleOptions } from '../types.js';
import { ancestralStep, type SamplerFn } from './basic.js';

const sigmaOf = (t: number) => Math.exp(-t);
const tOf = (sigma: number) => -Math.log(sigma);

/** What {@link SampleOptions.report} receives from `dpm_adaptive` when it ends. */
export interface DpmAdaptiveInfo {
  /** Denoiser evaluations. */
  nfe: number;
  /** Attempted steps (accepted + rejected). */
  steps: number;
  /** Accepted steps. */
  accepted: number;
  /** Rejected steps. */
  rejected: number;
}

/** σ_max, σ_min and the step count k-diffusion's DPM-Solver samplers take, from a σ list. */
export function dpmSolverRange(sigmas: ArrayLike<number>): { sigmaMax: number; sigmaMin: number; n: number } {
  const s = Array.from(sigmas);
  const positive = s.filter((v) => v > 0);
  if (s.length < 2 || positive.length < 2)
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `dpm_fast / dpm_adaptive: sigmas need at least two positive levels (σ_max … σ_min), got [${s.join(', ')}]`,
    );
  return { sigmaMax: positive[0]!, sigmaMin: positive[positive.length - 1]!, n: s.length - 1 };
}

/** sample_dpm_fast's order per step for `nfe` evaluations: 3, 3, …, then 2, 1 or nfe mod 3. */
export function dpmFastOrders(nfe: number): number[] {
  const m = Math.floor(nfe / 3) + 1;
  if (nfe % 3 === 0) return [...new Array<number>(m - 2).fill(3), 2, 1];
  return [...new Array<number>(m - 1).fill(3), nfe % 3];
}

/**
 * The σ grid of `dpm_fast` for `sampleOptions`: m + 1 levels evenly spaced in t = −log σ from σ_max to
 * σ_min (m = ⌊nfe/3⌋ + 1 steps), with nfe = sigmas.length − 1 (ComfyUI's mapping: σ_max = sigmas[0],
 * σ_min the last positive level).
 */
export function dpmFastGrid(sigmas: ArrayLike<number>): { sigmas: Float64Array; orders: number[] } {
  const { sigmaMax, sigmaMin, n } = dpmSolverRange(sigmas);
  const orders = dpmFastOrders(n);
  const m = orders.length;
  const t0 = tOf(sigmaMax);
  const t1 = tOf(sigmaMin);
  return {
    sigmas: Float64Array.from({ length: m + 1 }, (_, i) => sigmaOf(t0 + ((t1 - t0) * i) / m)),
    orders,
  };
}

/** The solver's stage maker: ε at (x, t), cached by key within one step (k-diffusion's eps_cache). */
class Stages {
  readonly #c: SampleContext;
  readonly #cache = new Map<string, LinearForm>();
  evaluations = 0;
  readonly #made: Tensor[] = [];

  constructor(c: SampleContext) {
    this.#c = c;
  }

  async eps(key: string, x: Tensor, t: number): Promise<LinearForm> {
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const s = sigmaOf(t);
    const den = await this.#c.model(x, s);
    this.#made.push(den);
    this.evaluations++;
    const e = toD(x, den, s);
    this.#cache.set(key, e);
    return e;
  }

  /** Evaluates a form (one lincomb) and remembers the tensor for {@link Stages.free}. */
  emit(f: LinearForm): Tensor {
    const t = f.emit(this.#c);
    this.#made.push(t);
    return t;
  }

  /** Frees what this step made, except `keep`. */
  free(...keep: Tensor[]): void {
    for (const t of this.#made) if (!keep.includes(t)) t.dispose();
    this.#made.length = 0;
    this.#cache.clear();
  }
}

/** dpm_solver_1_step: x − σ(t')·expm1(h)·ε. */
async function step1(st: Stages, x: Tensor, t: number, tn: number): Promise<LinearForm> {
  const eps = await st.eps('eps', x, t);
  return lin(x).minus(eps.times(sigmaOf(tn) * Math.expm1(tn - t)));
}

/** dpm_solver_2_step with the intermediate point at ratio r1. */
async function step2(st: Stages, x: Tensor, t: number, tn: number, r1 = 0.5): Promise<LinearForm> {
  const h = tn - t;
  const eps = await st.eps('eps', x, t);
  const s1 = t + r1 * h;
  const u1 = st.emit(lin(x).minus(eps.times(sigmaOf(s1) * Math.expm1(r1 * h))));
  const epsR1 = await st.eps('eps_r1', u1, s1);
  const k = sigmaOf(tn) * Math.expm1(h);
  return lin(x)
    .minus(eps.times(k))
    .minus(epsR1.minus(eps).times(k / (2 * r1)));
}

/** dpm_solver_3_step with the intermediate points at ratios 1/3 and 2/3. */
async function step3(st: Stages, x: Tensor, t: number, tn: number): Promise<LinearForm> {
  const [r1, r2] = [1 / 3, 2 / 3];
  const h = tn - t;
  const eps = await st.eps('eps', x, t);
  const s1 = t + r1 * h;
  const s2 = t + r2 * h;
  const u1 = st.emit(lin(x).minus(eps.times(sigmaOf(s1) * Math.expm1(r1 * h))));
  const epsR1 = await st.eps('eps_r1', u1, s1);
  const u2 = st.emit(
    lin(x)
      .minus(eps.times(sigmaOf(s2) * Math.expm1(r2 * h)))
      .minus(epsR1.minus(eps).times(sigmaOf(s2) * (r2 / r1) * (Math.expm1(r2 * h) / (r2 * h) - 1))),
  );
  const epsR2 = await st.eps('eps_r2', u2, s2);
  return lin(x)
    .minus(eps.times(sigmaOf(tn) * Math.expm1(h)))
    .minus(epsR2.minus(eps).times((sigmaOf(tn) / r2) * (Math.expm1(h) / h - 1)));
}

/** The ancestral split of a step from t to t' with η: the deterministic target t'_ and the noise σ_up. */
function ancestral(t: number, tn: number, tEnd: number, eta: number): [number, number] {
  if (!eta) return [tn, 0];
  const [sd] = ancestralStep(sigmaOf(t), sigmaOf(tn), eta);
  const tn_ = Math.min(tEnd, sd > 0 ? tOf(sd) : Number.POSITIVE_INFINITY);
  return [tn_, Math.sqrt(Math.max(sigmaOf(tn) ** 2 - sigmaOf(tn_) ** 2, 0))];
}

/**
 * k-diffusion `sample_dpm_fast`: DPM-Solver-Fast, fixed steps evenly spaced in log σ using nfe =
 * sigmas.length − 1 denoiser calls as orders 3, …, 3 then 2, 1 (or nfe mod 3); ends at σ_min, the last
 * positive level (no final denoise, as k-diffusion and ComfyUI). `eta` (default 0) adds ancestral noise.
 */
export const dpmFast: SamplerFn = (c, plan) => {
  const orders = (plan as { orders: number[] } | undefined)?.orders ?? dpmFastOrders(c.steps);
  const { eta = 0, s_noise = 1 } = c.opts;
  const tEnd = tOf(c.sigmas[c.steps]!);
  return c.loop(async (i, x) => {
    const t = tOf(c.sigmas[i]!);
    const tn = tOf(c.sigmas[i + 1]!);
    const [tn_, su] = ancestral(t, tn, tEnd, eta);
    const st = new Stages(c);
    const order = orders[i]!;
    let next = await (order === 1
      ? step1(st, x, t, tn_)
      : order === 2
        ? step2(st, x, t, tn_)
        : step3(st, x, t, tn_));
    if (su > 0) next = next.plus(lin(c.noise(sigmaOf(t), sigmaOf(tn)), su * s_noise));
    return next.emit(c);
  });
};

/** k-diffusion's PIDStepSizeController (h in t = −log σ). */
class PidController {
  h: number;
  readonly #b: [number, number, number];
  readonly #safety: number;
  #errs: number[] = [];

  constructor(h: number, p: number, i: number, d: number, order: number, safety: number) {
    this.h = h;
    this.#b = [(p + i + d) / order, -(p + 2 * d) / order, d / order];
    this.#safety = safety;
  }

  /** Scales h by the limited PID factor; true when the step is accepted. */
  propose(error: number): boolean {
    const inv = 1 / (error + 1e-8);
    if (this.#errs.length === 0) this.#errs = [inv, inv, inv];
    this.#errs[0] = inv;
    const e = this.#errs;
    const factor = 1 + Math.atan(e[0]! ** this.#b[0] * e[1]! ** this.#b[1] * e[2]! ** this.#b[2] - 1);
    const accept = factor >= this.#safety;
    if (accept) {
      e[2] = e[1]!;
      e[1] = e[0]!;
    }
    this.h *= factor;
    return accept;
  }
}

/** The scaled RMS error ‖(x_low − x_high)/max(atol, rtol·max(|x_low|, |x_prev|))‖₂/√n, read to the host. */
async function scaledError(
  lowT: Tensor,
  highT: Tensor,
  prev: Tensor,
  rtol: number,
  atol: number,
): Promise<number> {
  const B = lowT.backend;
  const made: Tensor[] = [];
  const m = (t: Tensor) => {
    made.push(t);
    return t;
  };
  try {
    const scale = m(B.binary('max', m(B.unary('abs', lowT)), m(B.unary('abs', prev))));
    const delta = m(B.binary('max', m(B.binary('mul', scale, rtol)), atol));
    const q = m(B.binary('div', m(B.lincomb([1, -1], [lowT, highT])), delta));
    const ss = m(B.reduce('sumsq', q));
    const [v] = await ss.data();
    return Math.sqrt(v!) / Math.sqrt(lowT.size);
  } finally {
    for (const t of made) t.dispose();
  }
}

/**
 * k-diffusion `sample_dpm_adaptive`: DPM-Solver-12 (`order` 2) or -23 (`order` 3, default) with
 * embedded error control from σ_max = sigmas[0] to σ_min (the last positive level; ends there, as
 * k-diffusion): each attempt computes a low- and a high-order solution sharing their evaluations, accepts
 * by a PID step-size controller (`rtol` 0.05, `atol` 0.0078, `h_init` 0.05, `pcoeff` 0, `icoeff` 1,
 * `dcoeff` 0, `accept_safety` 0.81) and reports `{ nfe, steps, accepted, rejected }` through `report`.
 * The error norm is one scalar read back per attempt (the step size depends on it). The whole solve is
 * one progress step; the abort signal is checked before every attempt.
 */
export const dpmAdaptive: SamplerFn = (c) => {
  const o = c.opts;
  const order = o.order ?? 3;
  check(order === 2 || order === 3, 'INVALID_ARGUMENT', `dpm_adaptive: order must be 2 or 3, got ${order}`);
  const { rtol = 0.05, atol = 0.0078, h_init = 0.05, pcoeff = 0, icoeff = 1, dcoeff = 0 } = o;
  const { accept_safety = 0.81, eta = 0, s_noise = 1 } = o;
  for (const [k, v] of Object.entries({ rtol, atol, h_init, accept_safety }))
    check(
      Number.isFinite(v) && v > 0,
      'INVALID_ARGUMENT',
      `dpm_adaptive: ${k} must be a positive number, got ${v}`,
    );
  const tStart = tOf(c.sigmas[0]!);
  const tEnd = tOf(c.sigmas[c.steps]!);
  const info: DpmAdaptiveInfo = { nfe: 0, steps: 0, accepted: 0, rejected: 0 };
  return c.loop(async (_i, x0) => {
    const pid = new PidController(Math.abs(h_init), pcoeff, icoeff, dcoeff, eta ? 1.5 : order, accept_safety);
    let x = x0;
    let xPrev = x0;
    let s = tStart;
    let lastYield = Date.now();
    while (s < tEnd - 1e-5) {
      if (o.signal?.aborted)
        throw new TesseraError('ABORTED', `sample: dpm_adaptive aborted at σ = ${sigmaOf(s)}`, {
          cause: o.signal.reason,
        });
      if (Date.now() - lastYield > 25) {
        await new Promise((r) => setTimeout(r, 0)); // let timers (an abort) and the page run
        lastYield = Date.now();
      }
      const t = Math.min(tEnd, s + pid.h);
      const [t_, su] = ancestral(s, t, tEnd, eta);
      const st = new Stages(c);
      const [low, high] =
        order === 2
          ? [await step1(st, x, s, t_), await step2(st, x, s, t_)]
          : [await step2(st, x, s, t_, 1 / 3), await step3(st, x, s, t_)];
      const lowT = st.emit(low);
      const highT = st.emit(high);
      const error = await scaledError(lowT, highT, xPrev, rtol, atol);
      info.nfe += st.evaluations;
      info.steps++;
      if (pid.propose(error)) {
        const next =
          su > 0
            ? lin(highT)
                .plus(lin(c.noise(sigmaOf(s), sigmaOf(t)), su * s_noise))
                .emit(c)
            : highT;
        if (xPrev !== x0 && xPrev !== lowT) xPrev.dispose();
        if (x !== x0) x.dispose();
        st.free(lowT, next);
        xPrev = lowT;
        x = next;
        s = t;
        info.accepted++;
      } else {
        st.free();
        info.rejected++;
      }
    }
    if (xPrev !== x0 && xPrev !== x) xPrev.dispose();
    o.report?.(info);
    return x === x0 ? lin(x0).emit(c) : x;
  });
};
