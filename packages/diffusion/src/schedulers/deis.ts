import { type Tensor, TesseraError } from '@tessera/core';
import { type LinearForm, lin } from '../linear-form.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { HeldTensors, rejectUnsupported, thresholdSample, tidyStep, vpCoefs } from './common.js';
import { SolverScheduler } from './families.js';
import { multistepOrder, solverAlphaSigma, solverGrid } from './solver-common.js';

/**
 * The "log ρ" DEIS integral of a Lagrange basis polynomial in log ρ over ρ (Zhang & Chen 2022, diffusers'
 * `ind_fn`): order 2, ∫ L(log ρ) dρ for the basis that is 1 at log b and 0 at log c.
 */
function ind2(t: number, b: number, c: number): number {
  return (t * (-Math.log(c) + Math.log(t) - 1)) / (Math.log(b) - Math.log(c));
}

/** Order 3: the basis that is 1 at log b, 0 at log c and log d. */
function ind3(t: number, b: number, c: number, d: number): number {
  const [lt, lc, ld] = [Math.log(t), Math.log(c), Math.log(d)];
  const num = t * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2);
  return num / ((Math.log(b) - lc) * (Math.log(b) - ld));
}

/**
 * diffusers' `DEISMultistepScheduler` (Zhang & Chen 2022, "log-ρ" DEIS): exponential-integrator
 * multistep on ε with ρ = σ/α, x_t = α_t·(x/α_s + Σⱼ cⱼ·εⱼ), cⱼ the integrals over ρ of the Lagrange
 * basis in log ρ through the last 1–3 ρ's (`solver_order`, `lower_order_final` below 15 steps). Integer
 * timesteps as DPM-Solver; σ interpolated or Karras / exponential / beta; the last step ends at
 * σ_min (the table's, or the converted grid's repeated). `thresholding` applies to the x₀ estimate.
 *
 * @example
 * const s = DEISMultistepScheduler.fromConfig(json); s.setTimesteps(20);
 * for (const t of s.timesteps) x = s.step(await unet(x, t), t, x).prevSample;
 * s.dispose();
 */
export class DEISMultistepScheduler extends SolverScheduler implements Scheduler {
  #eps: HeldTensors;
  #lowerOrderNums = 0;

  constructor(config: ConfigInput) {
    super(config, 'DEISMultistepScheduler');
    rejectUnsupported(this.config, { use_flow_sigmas: true, use_dynamic_shifting: true });
    const algo = this.config.get('algorithm_type');
    if (algo === 'dpmsolver' || algo === 'dpmsolver++')
      this.config = this.config.with({ algorithm_type: 'deis' });
    else if (algo !== 'deis')
      throw new TesseraError('UNSUPPORTED', `DEISMultistepScheduler: algorithm_type "${algo}"`);
    const st = this.config.get('solver_type');
    if (['midpoint', 'heun', 'bh1', 'bh2'].includes(st))
      this.config = this.config.with({ solver_type: 'logrho' });
    this.#eps = new HeldTensors(this.config.get('solver_order'));
  }

  /** Sets `n` inference steps by the config's spacing (or σ conversion); the final σ is σ_min. */
  setTimesteps(n: number): void {
    const g = this.spacedGrid(n);
    const last = g.converted ? g.sigmas[g.sigmas.length - 1]! : this.sigmaTable[0]!;
    ({ sigmas: this.sigmas, timesteps: this.timesteps } = solverGrid(g.sigmas, g.timesteps, last));
    this.numInferenceSteps = this.timesteps.length;
    this.dispose();
    this.resetStepIndex();
  }

  /** One DEIS step of order 1–3 from `t` to the next timestep. */
  step(modelOutput: Tensor, t: number, sample: Tensor, _opts: StepOptions = {}): SchedulerOutput {
    const op = 'DEISMultistepScheduler.step';
    const i = this.beginStep(op, modelOutput, sample, t);
    const cfg = this.config;
    const n = this.timesteps.length;
    const order = cfg.get('solver_order');
    const [a, s] = solverAlphaSigma(this.sigmas[i]!, false);
    const pt = cfg.get('prediction_type');
    const coefs = vpCoefs(pt, a, s);
    if (!coefs)
      throw new TesseraError(
        'UNSUPPORTED',
        `${op}: prediction_type "${pt}" must be epsilon, sample or v_prediction`,
      );
    const B = sample.backend;
    // convert_model_output: x₀ from the prediction (thresholded), then ε = (x − α·x₀)/σ
    const eps = tidyStep(() => {
      if (!cfg.get('thresholding'))
        return lin(sample, coefs.eps[0]).plus(lin(modelOutput, coefs.eps[1])).emit(B);
      const x0 = thresholdSample(B.lincomb(coefs.x0, [sample, modelOutput]), cfg, op);
      return lin(sample, 1 / s)
        .minus(lin(x0, a / s))
        .emit(B);
    });
    this.#eps.push(eps);
    const k = multistepOrder(cfg, i, n, this.#lowerOrderNums, false);
    const prevSample = tidyStep(() => this.#update(k, i, sample).emit(B));
    if (this.#lowerOrderNums < order) this.#lowerOrderNums++;
    this.setStepIndex(i + 1);
    return { prevSample };
  }

  /** diffusers' deis_first_order_update / multistep_deis_{second,third}_order_update. */
  #update(k: number, i: number, x: Tensor): LinearForm {
    const as = (j: number) => solverAlphaSigma(this.sigmas[j]!, false);
    const rho = (j: number) => {
      const [a, s] = as(j);
      return s / a;
    };
    const L = this.#eps.length;
    const e = (j: number) => this.#eps.get(L - 1 - j)!;
    const [aT, sT] = as(i + 1);
    const [aS, sS] = as(i);
    if (k === 1) {
      // x_t = (α_t/α_s)·x − σ_t·(e^h − 1)·ε, h = λ_t − λ_s
      const h = Math.log(aT / sT) - Math.log(aS / sS);
      return lin(x, aT / aS).plus(lin(e(0), -sT * Math.expm1(h)));
    }
    const [rt, r0, r1] = [rho(i + 1), rho(i), rho(i - 1)];
    if (k === 2) {
      const c0 = ind2(rt, r0, r1) - ind2(r0, r0, r1);
      const c1 = ind2(rt, r1, r0) - ind2(r0, r1, r0);
      return lin(x, aT / aS).plus(lin(e(0), aT * c0), lin(e(1), aT * c1));
    }
    const r2 = rho(i - 2);
    const c0 = ind3(rt, r0, r1, r2) - ind3(r0, r0, r1, r2);
    const c1 = ind3(rt, r1, r2, r0) - ind3(r0, r1, r2, r0);
    const c2 = ind3(rt, r2, r0, r1) - ind3(r0, r2, r0, r1);
    return lin(x, aT / aS).plus(lin(e(0), aT * c0), lin(e(1), aT * c1), lin(e(2), aT * c2));
  }

  /** Frees the stored ε's (also done by `setTimesteps`). */
  override dispose(): void {
    this.#eps.clear();
    this.#eps = new HeldTensors(this.config.get('solver_order'));
    this.#lowerOrderNums = 0;
  }
}
