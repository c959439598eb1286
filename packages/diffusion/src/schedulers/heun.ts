import { type Tensor, TesseraError } from '@tessera/core';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { HeldTensors, tidyStep } from './common.js';
import { DiscreteSigmaScheduler, veX0 } from './euler.js';
import { eulerGrid } from './sigma-table.js';

/**
 * diffusers' `HeunDiscreteScheduler` (Karras et al. 2022, Algorithm 1 without churn). Every σ except
 * the first and the last appears twice in `sigmas`, and every timestep except the first twice in
 * `timesteps`: a Heun step is two `step()` calls, an Euler predictor (`stateInFirstOrder` true) and a
 * trapezoidal corrector at the next σ. The last step (to σ = 0) is a plain Euler step.
 */
export class HeunDiscreteScheduler extends DiscreteSigmaScheduler implements Scheduler {
  readonly order = 2;
  #dt: number | null = null; // dt of the pending predictor (null: first order next)
  readonly #held = new HeldTensors(2); // [sample before the predictor, its derivative]

  constructor(config: ConfigInput) {
    super(config, 'HeunDiscreteScheduler', false);
  }

  /** True when the next `step()` is the Euler predictor (diffusers `state_in_first_order`). */
  get stateInFirstOrder(): boolean {
    return this.#dt === null;
  }

  /**
   * Sets `n` inference steps by the config's spacing (σ by linear interpolation of the table, or
   * Karras / exponential / beta σ), or custom timesteps; `timesteps` gets 2n − 1 entries, `sigmas` 2n.
   */
  setTimesteps(n?: number, opts: { timesteps?: readonly number[] } = {}): void {
    const g = eulerGrid(this.config, this.sigmaTable, this.logSigmaTable, n, opts, {
      conversions: true,
      finalSigmaType: false,
      interpolationType: false,
    });
    const m = g.timesteps.length;
    const ts = new Float64Array(2 * m - 1);
    const sig = new Float64Array(2 * m);
    ts[0] = g.timesteps[0]!;
    sig[0] = g.sigmas[0]!;
    for (let i = 1; i < m; i++) {
      ts[2 * i - 1] = ts[2 * i] = g.timesteps[i]!;
      sig[2 * i - 1] = sig[2 * i] = g.sigmas[i]!;
    }
    sig[2 * m - 1] = g.sigmas[m]!;
    this.timesteps = ts;
    this.sigmas = sig;
    this.numInferenceSteps = m;
    this.#dt = null;
    this.#held.clear();
    this.resetStepIndex();
  }

  /** One half of a Heun step: the Euler predictor or the trapezoidal corrector. */
  step(modelOutput: Tensor, t: number, sample: Tensor, _opts: StepOptions = {}): SchedulerOutput {
    const op = 'HeunDiscreteScheduler.step';
    const i = this.beginStep(op, modelOutput, sample, t);
    const first = this.stateInFirstOrder;
    const sigma = first ? this.sigmas[i] : this.sigmas[i - 1];
    const next = first ? this.sigmas[i + 1] : this.sigmas[i];
    if (sigma === undefined || next === undefined)
      throw new TesseraError('OUT_OF_RANGE', `${op}: no steps left (call setTimesteps again)`);
    const sIn = first ? sigma : next;
    const [cs, co] = veX0(this.config.get('prediction_type'), sIn, sIn, op);
    const B = sample.backend;
    const clip = this.config.get('clip_sample') as boolean;
    const range = this.config.get('clip_sample_range') as number;
    const out = tidyStep(() => {
      let pred = B.lincomb([cs, co], [sample, modelOutput]);
      if (clip) pred = B.clamp(pred, -range, range);
      if (first) {
        // d = (x − x₀)/σ; x' = x + d·(σ_next − σ)
        const d = B.lincomb([1 / sigma, -1 / sigma], [sample, pred]);
        const dt = next - sigma;
        if (i < this.timesteps.length - 1) {
          // a corrector follows (the last step, to σ = 0, is Euler only)
          this.#held.set(0, B.lincomb([1], [sample])); // a copy: the caller owns `sample`
          this.#held.set(1, d);
          this.#dt = dt;
        }
        return { prevSample: B.lincomb([1, dt], [sample, d]), predOriginalSample: pred };
      }
      const x0 = this.#held.get(0)!;
      const d0 = this.#held.get(1)!;
      const dt = this.#dt!;
      // d = (d₀ + (x − x₀)/σ_next)/2; x' = x_saved + d·dt
      const prevSample = B.lincomb([1, dt / 2, dt / (2 * next), -dt / (2 * next)], [x0, d0, sample, pred]);
      return { prevSample, predOriginalSample: pred };
    });
    if (!first) {
      this.#held.clear();
      this.#dt = null;
    }
    this.setStepIndex(i + 1);
    return out;
  }

  /** Frees the tensors held between the predictor and the corrector (also done by `setTimesteps`). */
  override dispose(): void {
    this.#held.clear();
    this.#dt = null;
  }
}
