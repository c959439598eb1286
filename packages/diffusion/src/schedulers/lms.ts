import { type Tensor, TesseraError } from '@tessera/core';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { HeldTensors, tidyStep } from './common.js';
import { DiscreteSigmaScheduler } from './euler.js';
import { eulerGrid } from './sigma-table.js';

/** Options of {@link LMSDiscreteScheduler.step}. */
export interface LMSStepOptions extends StepOptions {
  /** Order of the linear multistep method (diffusers' `order` argument, default 4). */
  order?: number;
}

/** Gauss–Legendre nodes and weights on [−1, 1], 4 points: exact for polynomials up to degree 7. */
const GL_X = [-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526];
const GL_W = [0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538];

/**
 * ∫ from σ_i to σ_{i+1} of the Lagrange basis polynomial that is 1 at σ_{i−j} and 0 at the other
 * σ_{i−k}, k < order (diffusers `get_lms_coefficient`, which integrates the same polynomial by quadrature).
 */
export function lmsCoefficient(sigmas: ArrayLike<number>, order: number, i: number, j: number): number {
  const a = sigmas[i]!;
  const b = sigmas[i + 1]!;
  const basis = (tau: number) => {
    let p = 1;
    for (let k = 0; k < order; k++) {
      if (k === j) continue;
      p *= (tau - sigmas[i - k]!) / (sigmas[i - j]! - sigmas[i - k]!);
    }
    return p;
  };
  let sum = 0;
  for (let q = 0; q < GL_X.length; q++) sum += GL_W[q]! * basis(((b - a) * GL_X[q]! + (a + b)) / 2);
  return ((b - a) / 2) * sum;
}

/**
 * diffusers' `LMSDiscreteScheduler` (k-diffusion `sample_lms`): the derivatives d = (x − x₀)/σ of the
 * last `order` steps combined with Lagrange-polynomial coefficients integrated over [σ_i, σ_{i+1}].
 * Timesteps and σ as the Euler scheduler (linear interpolation, optional Karras / exponential / beta σ).
 */
export class LMSDiscreteScheduler extends DiscreteSigmaScheduler implements Scheduler {
  readonly order = 1;
  #derivatives = new HeldTensors(0);
  #count = 0;

  constructor(config: ConfigInput) {
    super(config, 'LMSDiscreteScheduler', false);
  }

  /** Sets `n` inference steps by the config's spacing (final σ = 0). */
  setTimesteps(n: number): void {
    const g = eulerGrid(
      this.config,
      this.sigmaTable,
      this.logSigmaTable,
      n,
      {},
      { conversions: true, finalSigmaType: false, interpolationType: false },
    );
    this.timesteps = g.timesteps;
    this.sigmas = g.sigmas;
    this.numInferenceSteps = n;
    this.#derivatives.clear();
    this.#count = 0;
    this.resetStepIndex();
  }

  /** One linear-multistep step of order min(step + 1, `order`). */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: LMSStepOptions = {}): SchedulerOutput {
    const op = 'LMSDiscreteScheduler.step';
    const maxOrder = opts.order ?? 4;
    if (!Number.isInteger(maxOrder) || maxOrder < 1)
      throw new TesseraError('INVALID_ARGUMENT', `${op}: order must be a positive integer, got ${maxOrder}`);
    const i = this.beginStep(op, modelOutput, sample, t);
    const sigma = this.sigmas[i]!;
    const pt = this.config.get('prediction_type');
    let cs: number;
    let co: number;
    if (pt === 'epsilon') [cs, co] = [1, -sigma];
    else if (pt === 'v_prediction')
      [cs, co] = [1 / (sigma * sigma + 1), -sigma / Math.sqrt(sigma * sigma + 1)];
    else if (pt === 'sample') [cs, co] = [0, 1];
    else
      throw new TesseraError(
        'UNSUPPORTED',
        `${op}: prediction_type "${pt}" must be epsilon, v_prediction or sample`,
      );
    if (this.#derivatives.length !== maxOrder) {
      // diffusers keeps the last `order` derivatives; a changed order keeps the newest that fit.
      const old = this.#derivatives;
      const next = new HeldTensors(maxOrder);
      for (let k = Math.max(0, old.length - maxOrder); k < old.length; k++) {
        const d = old.get(k);
        if (d) next.push(d);
      }
      this.#derivatives = next;
      this.#count = Math.min(this.#count, maxOrder);
    }
    const B = sample.backend;
    const out = tidyStep(() => {
      const pred = B.lincomb([cs, co], [sample, modelOutput]);
      const d = B.lincomb([1 / sigma, -1 / sigma], [sample, pred]);
      this.#derivatives.push(d);
      this.#count = Math.min(this.#count + 1, maxOrder);
      const order = Math.min(i + 1, maxOrder, this.#count);
      const coefs = [1];
      const terms: Tensor[] = [sample];
      const L = this.#derivatives.length;
      for (let j = 0; j < order; j++) {
        coefs.push(lmsCoefficient(this.sigmas, order, i, j));
        terms.push(this.#derivatives.get(L - 1 - j)!);
      }
      return { prevSample: B.lincomb(coefs, terms), predOriginalSample: pred };
    });
    this.setStepIndex(i + 1);
    return out;
  }

  /** Frees the stored derivatives (also done by `setTimesteps`). */
  override dispose(): void {
    this.#derivatives.clear();
    this.#count = 0;
  }
}
