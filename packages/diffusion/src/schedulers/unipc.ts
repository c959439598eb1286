import { type Tensor, TesseraError } from '@tessera/core';
import { solve } from '../poly.js';
import { unipcSystem } from '../samplers/multistep.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { HeldTensors, rejectUnsupported, thresholdSample, tidyStep, vpCoefs } from './common.js';
import { SolverScheduler } from './families.js';
import { solverAlphaSigma, solverGrid, solverLambda } from './solver-common.js';

/**
 * Solves the small dense system A·x = b by Gaussian elimination with partial pivoting (only the
 * first b.length columns of A are read).
 */
export function solveSmall(A: number[][], b: number[]): number[] {
  return solve(
    A.map((row) => row.slice(0, b.length)),
    b,
  );
}

/**
 * diffusers' `UniPCMultistepScheduler` (Zhao et al. 2023): a multistep predictor (UniP) and, from the
 * second step, a corrector (UniC) that reuses the new model output, `solver_type` bh1 / bh2,
 * `predict_x0`, `solver_order`, `lower_order_final`, `disable_corrector`, Karras / exponential / beta
 * sigmas, `final_sigmas_type` and `thresholding` (of the x₀ prediction; like diffusers, it does nothing
 * when `predict_x0` is false). Integer timesteps as DPM-Solver (linspace drops a point).
 */
export class UniPCMultistepScheduler extends SolverScheduler implements Scheduler {
  #outputs: HeldTensors;
  #last = new HeldTensors(1);
  #thisOrder = 0;
  #lowerOrderNums = 0;

  constructor(config: ConfigInput) {
    super(config, 'UniPCMultistepScheduler');
    rejectUnsupported(this.config, { use_flow_sigmas: true, use_dynamic_shifting: true });
    if (this.config.get('solver_p') != null)
      throw new TesseraError('UNSUPPORTED', 'UniPCMultistepScheduler: solver_p is not supported');
    const st = this.config.get('solver_type');
    if (st !== 'bh1' && st !== 'bh2') {
      if (['midpoint', 'heun', 'logrho'].includes(st)) this.config = this.config.with({ solver_type: 'bh2' });
      else throw new TesseraError('UNSUPPORTED', `UniPCMultistepScheduler: solver_type "${st}" (bh1 or bh2)`);
    }
    this.#outputs = new HeldTensors(this.config.get('solver_order'));
  }

  /** Sets `n` inference steps by the config's spacing (or σ conversion). */
  setTimesteps(n: number): void {
    const cfg = this.config;
    const { sigmas, timesteps, converted } = this.spacedGrid(n);
    // σ_min of `final_sigmas_type`: the converted grid's last σ, else the table's first
    const sigmaMin = converted ? sigmas[sigmas.length - 1]! : this.sigmaTable[0]!;
    const last = cfg.get('final_sigmas_type') === 'sigma_min' ? sigmaMin : 0;
    ({ sigmas: this.sigmas, timesteps: this.timesteps } = solverGrid(sigmas, timesteps, last));
    this.numInferenceSteps = sigmas.length;
    this.#outputs.clear();
    this.#outputs = new HeldTensors(cfg.get('solver_order'));
    this.#last.clear();
    this.#thisOrder = 0;
    this.#lowerOrderNums = 0;
    this.resetStepIndex();
  }

  /** [coef on sample, coef on output] of the model output as x₀ (predict_x0) or ε. */
  #convert(sigma: number): [number, number] {
    const pt = this.config.get('prediction_type');
    const [a, s] = solverAlphaSigma(sigma, false);
    const coefs = vpCoefs(pt, a, s);
    if (coefs) return this.config.get('predict_x0') ? coefs.x0 : coefs.eps;
    throw new TesseraError('UNSUPPORTED', `UniPCMultistepScheduler: prediction_type "${pt}"`);
  }

  #lambda(j: number): number {
    return solverLambda(this.sigmas[j]!, false);
  }

  /**
   * x_t = c_x·x + c_m·m₀ − c_B·(Σ ρ_k (m_k − m₀)/r_k [+ ρ_last (model_t − m₀)]) as one lincomb.
   * `t` and `s0` are σ indices; `earlier[k]` is the σ index of m_{k+1}.
   */
  #uniUpdate(x: Tensor, t: number, s0: number, p: number, corrector: Tensor | null): Tensor {
    const predictX0 = this.config.get('predict_x0') as boolean;
    const [aT, sT] = solverAlphaSigma(this.sigmas[t]!, false);
    const [aS0, sS0] = solverAlphaSigma(this.sigmas[s0]!, false);
    const h = this.#lambda(t) - this.#lambda(s0);
    const ls0 = this.#lambda(s0);
    const rks: number[] = [];
    const L = this.#outputs.length;
    const m = (k: number) => this.#outputs.get(L - 1 - k)!;
    for (let k = 1; k < p; k++) rks.push((this.#lambda(s0 - k) - ls0) / h);
    rks.push(1);
    const { hPhi1, Bh, R, b } = unipcSystem(rks, predictX0 ? -h : h, p, this.config.get('solver_type'));
    let rhos: number[] = [];
    if (corrector) rhos = p === 1 ? [0.5] : solveSmall(R, b);
    else if (p === 2) rhos = [0.5];
    else if (p > 2)
      rhos = solveSmall(
        R.slice(0, p - 1).map((r) => r.slice(0, p - 1)),
        b.slice(0, p - 1),
      );
    const cx = predictX0 ? sT / sS0 : aT / aS0;
    const cB = predictX0 ? aT * Bh : sT * Bh;
    let cm0 = predictX0 ? -aT * hPhi1 : -sT * hPhi1;
    const coefs: number[] = [cx];
    const xs: Tensor[] = [x];
    for (let k = 1; k < p; k++) {
      const c = rhos[k - 1]! / rks[k - 1]!;
      if (c === 0) continue;
      coefs.push(-cB * c);
      xs.push(m(k));
      cm0 += cB * c;
    }
    if (corrector) {
      const c = rhos[p - 1]!;
      coefs.push(-cB * c);
      xs.push(corrector);
      cm0 += cB * c;
    }
    coefs.push(cm0);
    xs.push(m(0));
    return x.backend.lincomb(coefs, xs);
  }

  /** One UniPC step: the corrector for the previous step (when enabled), then the predictor. */
  step(modelOutput: Tensor, t: number, sample: Tensor, _opts: StepOptions = {}): SchedulerOutput {
    const op = 'UniPCMultistepScheduler.step';
    const i = this.beginStep(op, modelOutput, sample, t);
    const n = this.timesteps.length;
    const disabled = (this.config.get('disable_corrector') as number[] | null) ?? [];
    const last = this.#last.get(0);
    const useCorrector = i > 0 && !disabled.includes(i - 1) && last !== null;
    const B = sample.backend;
    const [cs, co] = this.#convert(this.sigmas[i]!);
    const predictX0 = this.config.get('predict_x0');
    const out = tidyStep(() => {
      let converted = B.lincomb([cs, co], [sample, modelOutput]);
      // diffusers' `convert_model_output`: thresholding applies to the x₀ prediction only (predict_x0);
      // with predict_x0 = false the ε output is used as it is and `thresholding` has no effect.
      if (predictX0 && this.config.get('thresholding'))
        converted = thresholdSample(converted, this.config, op);
      let x = sample;
      if (useCorrector) x = this.#uniUpdate(last!, i, i - 1, this.#thisOrder, converted);
      this.#outputs.push(converted);
      const order = this.config.get('solver_order') as number;
      const thisOrder = this.config.get('lower_order_final') ? Math.min(order, n - i) : order;
      this.#thisOrder = Math.min(thisOrder, this.#lowerOrderNums + 1);
      this.#last.set(0, x === sample ? B.lincomb([1], [sample]) : x);
      const prevSample = this.#uniUpdate(x, i + 1, i, this.#thisOrder, null);
      // a copy of x̂₀: the held one is the solver's history; the caller owns what step returns
      const pred = this.config.get('predict_x0') ? B.lincomb([1], [converted]) : undefined;
      return { prevSample, predOriginalSample: pred };
    });
    if (this.#lowerOrderNums < this.config.get('solver_order')) this.#lowerOrderNums++;
    this.setStepIndex(i + 1);
    return out;
  }

  /** Frees the stored model outputs and last sample (also done by `setTimesteps`). */
  override dispose(): void {
    this.#outputs.clear();
    this.#last.clear();
  }
}
