import { type Tensor, TesseraError } from '@tessera/core';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { HeldTensors, rejectUnsupported, stepNoise, thresholdSample, tidyStep, vpCoefs } from './common.js';
import { SolverScheduler } from './families.js';
import { dpmSolverConfig, solverAlphaSigma, solverGrid, solverLambda } from './solver-common.js';

/**
 * `lower_order_final` after diffusers' `set_timesteps`: forced true when `steps` is not a multiple of
 * `order` or the final σ is zero (diffusers writes it back into the config, and so do we).
 */
export function effectiveLowerOrderFinal(
  steps: number,
  order: number,
  lowerOrderFinal: boolean,
  finalZero: boolean,
): boolean {
  return lowerOrderFinal || steps % order !== 0 || finalZero;
}

/**
 * diffusers' `get_order_list` as `set_timesteps` calls it: the order of each step of singlestep
 * DPM-Solver (1, 2, 3 repeating, a lower-order tail with `lower_order_final`, and order 1 last when the
 * final σ is zero). As diffusers does, `lower_order_final` is forced on when `steps` is not a multiple
 * of `order` or the final σ is zero, so every group is a complete order-k step: order 3 at 4 steps is
 * [1, 2, 3, 1], never a 3-stage group cut after its second stage.
 */
export function singlestepOrderList(
  steps: number,
  order: number,
  lowerOrderFinal: boolean,
  finalZero: boolean,
): number[] {
  const rep = (unit: number[], k: number) => Array.from({ length: k }, () => unit).flat();
  const lower = effectiveLowerOrderFinal(steps, order, lowerOrderFinal, finalZero);
  let o: number[];
  if (order === 1) o = new Array<number>(steps).fill(1);
  else if (order === 2) {
    if (!lower) o = rep([1, 2], Math.floor(steps / 2));
    else if (steps % 2 === 0) o = [...rep([1, 2], steps / 2 - 1), 1, 1];
    else o = [...rep([1, 2], Math.floor(steps / 2)), 1];
  } else {
    const k = Math.floor(steps / 3);
    if (!lower) o = rep([1, 2, 3], k);
    else if (steps % 3 === 0) o = [...rep([1, 2, 3], k - 1), 1, 2, 1];
    else if (steps % 3 === 1) o = [...rep([1, 2, 3], k), 1];
    else o = [...rep([1, 2, 3], k), 1, 2];
  }
  if (finalZero && o.length > 0) o[o.length - 1] = 1;
  return o;
}

/**
 * diffusers' `DPMSolverSinglestepScheduler` (Lu et al. 2022): each group of 1–3 steps restarts from the
 * sample at its first step and uses the model outputs gathered inside the group. `algorithm_type`
 * dpmsolver++ / sde-dpmsolver++, `solver_type` midpoint / heun, `solver_order` 1–3, Karras /
 * exponential / beta sigmas, `final_sigmas_type`, `thresholding` (dynamic thresholding of the x₀
 * prediction). Timesteps always use linspace spacing (as diffusers).
 */
export class DPMSolverSinglestepScheduler extends SolverScheduler implements Scheduler {
  /** The order of each step (diffusers `order_list`). */
  orderList: number[] = [];
  #outputs: HeldTensors;
  #sample = new HeldTensors(1);

  constructor(config: ConfigInput) {
    super(config, 'DPMSolverSinglestepScheduler');
    rejectUnsupported(this.config, {
      use_flow_sigmas: true,
      algorithm_type: 'dpmsolver',
    });
    this.config = dpmSolverConfig(this.config, ['dpmsolver++', 'sde-dpmsolver++']);
    const order = this.config.get('solver_order');
    if (![1, 2, 3].includes(order))
      throw new TesseraError(
        'INVALID_CONFIG',
        `DPMSolverSinglestepScheduler: solver_order must be 1, 2 or 3, got ${order}`,
      );
    this.#outputs = new HeldTensors(order);
  }

  /** Sets `n` inference steps (linspace over the un-clipped λ range, or a σ conversion). */
  setTimesteps(n: number): void {
    const cfg = this.config;
    const grid = this.spacedGrid(n, 'linspace', this.clippedLastTimestep());
    const finalZero = cfg.get('final_sigmas_type') !== 'sigma_min';
    const last = finalZero ? 0 : this.sigmaTable[0]!;
    ({ sigmas: this.sigmas, timesteps: this.timesteps } = solverGrid(grid.sigmas, grid.timesteps, last));
    this.numInferenceSteps = n;
    const order = cfg.get('solver_order');
    if (
      effectiveLowerOrderFinal(n, order, cfg.get('lower_order_final'), finalZero) !==
      cfg.get('lower_order_final')
    )
      this.config = cfg.with({ lower_order_final: true }); // diffusers' register_to_config
    this.orderList = singlestepOrderList(n, order, cfg.get('lower_order_final'), finalZero);
    this.dispose();
    this.#outputs = new HeldTensors(cfg.get('solver_order'));
    this.resetStepIndex();
  }

  #convert(sigma: number): [number, number] {
    const pt = this.config.get('prediction_type');
    const [a, s] = solverAlphaSigma(sigma, false);
    const coefs = vpCoefs(pt, a, s);
    if (coefs) return coefs.x0;
    throw new TesseraError('UNSUPPORTED', `DPMSolverSinglestepScheduler: prediction_type "${pt}"`);
  }

  #lambda(j: number): number {
    return solverLambda(this.sigmas[j]!, false);
  }

  /** One step of the current group (order from `orderList`). */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    const op = 'DPMSolverSinglestepScheduler.step';
    const i = this.beginStep(op, modelOutput, sample, t);
    const B = sample.backend;
    const [cs, co] = this.#convert(this.sigmas[i]!);
    const sde = this.config.get('algorithm_type') === 'sde-dpmsolver++';
    const heun = this.config.get('solver_type') === 'heun';
    const out = tidyStep(() => {
      let converted = B.lincomb([cs, co], [sample, modelOutput]);
      // diffusers' `convert_model_output` (dpmsolver++ / sde-dpmsolver++): threshold the x₀ prediction
      if (this.config.get('thresholding')) converted = thresholdSample(converted, this.config, op);
      this.#outputs.push(converted);
      const L = this.#outputs.length;
      let order = this.orderList[i] ?? 1;
      while (order > 1 && this.#outputs.get(L - order) === null) order--;
      if (order === 1) this.#sample.set(0, B.lincomb([1], [sample]));
      const x = this.#sample.get(0)!;
      const m = (k: number) => this.#outputs.get(L - 1 - k)!;
      const [aT, sT] = solverAlphaSigma(this.sigmas[i + 1]!, false);
      const s = i - (order - 1); // σ index of the group's start
      const [, sS] = solverAlphaSigma(this.sigmas[s]!, false);
      const h = this.#lambda(i + 1) - this.#lambda(s);
      const em = Math.expm1(-h);
      const e2 = -Math.expm1(-2 * h); // 1 − e^{−2h}
      const cx = sde ? (sT / sS) * Math.exp(-h) : sT / sS;
      const c0 = sde ? aT * e2 : -aT * em; // coefficient of D0
      // coefficients of the D terms on [m0, m1, m2]
      const mc = [0, 0, 0];
      if (order === 1) mc[0] = c0;
      else if (order === 2) {
        const r0 = (this.#lambda(i) - this.#lambda(s)) / h;
        const c1 = heun
          ? sde
            ? aT * (e2 / (-2 * h) + 1)
            : aT * (em / h + 1)
          : sde
            ? 0.5 * aT * e2
            : -0.5 * aT * em;
        // D0 = m1, D1 = (m0 − m1)/r0
        mc[1] = c0 - c1 / r0;
        mc[0] = c1 / r0;
      } else {
        const r0 = (this.#lambda(i) - this.#lambda(s)) / h;
        const r1 = (this.#lambda(i - 1) - this.#lambda(s)) / h;
        const c1 = sde ? aT * (e2 / (-2 * h) + 1) : aT * (em / h + 1);
        // D0 = m2, D1_0 = (m1 − m2)/r1, D1_1 = (m0 − m2)/r0 (on [m0, m1, m2])
        const d10 = [0, 1 / r1, -1 / r1];
        const d11 = [1 / r0, 0, -1 / r0];
        mc[2] = c0;
        if (!heun) for (let k = 0; k < 3; k++) mc[k]! += c1 * d11[k]!;
        else {
          const c2 = sde ? aT * ((e2 - 2 * h) / (4 * h * h) - 0.5) : -aT * ((em + h) / (h * h) - 0.5);
          for (let k = 0; k < 3; k++) {
            const d1 = (r0 * d10[k]! - r1 * d11[k]!) / (r0 - r1);
            const d2 = (2 * (d11[k]! - d10[k]!)) / (r0 - r1);
            mc[k]! += c1 * d1 + c2 * d2;
          }
        }
      }
      const coefs = [cx];
      const xs: Tensor[] = [x];
      for (let k = 0; k < order; k++) {
        coefs.push(mc[k]!);
        xs.push(m(k));
      }
      if (sde) {
        coefs.push(sT * Math.sqrt(e2));
        xs.push(stepNoise(sample, opts, this.generator));
      }
      // a copy of x̂₀: the held one is the group's history; the caller owns what step returns
      return { prevSample: B.lincomb(coefs, xs), predOriginalSample: B.lincomb([1], [converted]) };
    });
    this.setStepIndex(i + 1);
    return out;
  }

  /** Frees the stored model outputs and group sample (also done by `setTimesteps`). */
  override dispose(): void {
    this.#outputs.clear();
    this.#sample.clear();
  }
}
