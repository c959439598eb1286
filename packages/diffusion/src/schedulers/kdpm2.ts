import { type Tensor, TesseraError } from '@tessera/core';
import { roundHalfEven, sigmaToT } from '@tessera/schedules';
import { type LinearForm, lin, toD } from '../linear-form.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { drawNoise, HeldTensors, tidyStep } from './common.js';
import { DiscreteSigmaScheduler, veX0 } from './euler.js';
import { eulerGrid, sigmaConversion } from './sigma-table.js';

const f32 = Math.fround;

/** diffusers' `cat([a[:1], a[1:].repeat_interleave(2), a[-1:]])`. */
function expand(a: ArrayLike<number>): Float64Array {
  const out = [a[0]!];
  for (let i = 1; i < a.length; i++) out.push(a[i]!, a[i]!);
  out.push(a[a.length - 1]!);
  return Float64Array.from(out);
}

/** exp(lerp(log a, log b, ½)) = √(ab) in float32, 0 when either is 0 (torch: log 0 = −∞). */
const geoMean = (a: number, b: number) =>
  a > 0 && b > 0 ? f32(Math.exp(0.5 * (Math.log(a) + Math.log(b)))) : 0;

/**
 * What the two KDPM2 schedulers share: the Euler-family grid (σ interpolated from the table, or
 * Karras / exponential / beta σ, Karras timesteps rounded), diffusers' expanded `sigmas` /
 * `sigmasInterpol` arrays, and a step that is two `step()` calls, an Euler half-step to the midpoint
 * σ_mid (`stateInFirstOrder`) and then the full step with the midpoint's derivative (DPM-Solver-2,
 * k-diffusion `sample_dpm_2`). `timesteps` has 2n − 1 entries: every σ's timestep and, between
 * them, each midpoint's (by `_sigma_to_t`); pass them to `step` in order.
 */
export abstract class KDPM2Base extends DiscreteSigmaScheduler {
  readonly order = 2;
  /** The midpoint σ of each call, expanded like `sigmas` (diffusers `sigmas_interpol`). */
  sigmasInterpol: Float64Array = new Float64Array(0);
  readonly #held = new HeldTensors(1); // the sample the first half started from

  /** True when the next `step()` is the first (Euler) half (diffusers `state_in_first_order`). */
  get stateInFirstOrder(): boolean {
    return this.#held.get(0) === null;
  }

  /** σ's of the grid (n float32 values, then 0) and their float32 timesteps, as diffusers' set_timesteps. */
  protected baseGrid(n: number): { sig: Float64Array; ts: Float64Array } {
    const g = eulerGrid(
      this.config,
      this.sigmaTable,
      this.logSigmaTable,
      n,
      {},
      {
        conversions: true,
        finalSigmaType: false,
        interpolationType: false,
      },
    );
    const ts = sigmaConversion(this.config) === 'karras' ? g.timesteps.map(roundHalfEven) : g.timesteps;
    return { sig: g.sigmas, ts };
  }

  /** _sigma_to_t of a midpoint σ (float32). */
  protected tOf(sigma: number): number {
    return f32(sigmaToT(sigma, this.logSigmaTable));
  }

  /** Installs the expanded arrays and forgets the state (the tail of set_timesteps). */
  protected install(n: number, timesteps: Float64Array, sigmas: Float64Array, interpol: Float64Array): void {
    this.timesteps = timesteps;
    this.sigmas = sigmas;
    this.sigmasInterpol = interpol;
    this.numInferenceSteps = n;
    this.#held.clear();
    this.resetStepIndex();
  }

  /** σ the model input is scaled for at call `i` (first half: the step's σ; second: the midpoint's). */
  protected abstract inputSigma(i: number, first: boolean): number;

  /** [σ, σ_mid, σ_target, σ_up] of call `i`. */
  protected abstract plan(i: number, first: boolean): [number, number, number, number];

  /** Scales the model input by 1/√(σ² + 1) of the σ this call evaluates at. */
  override scaleModelInput(sample: Tensor, t: number): Tensor {
    const i = this.stepIndexFor(`${this.config.className}.scaleModelInput`, t, this.timesteps);
    const s = this.inputSigma(i, this.stateInFirstOrder);
    return sample.backend.lincomb([1 / Math.sqrt(s * s + 1)], [sample]);
  }

  /** One half of a DPM-2 step (see the class). */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    const op = `${this.config.className}.step`;
    const i = this.beginStep(op, modelOutput, sample, t);
    const first = this.stateInFirstOrder;
    const [sigma, mid, target, up] = this.plan(i, first);
    const sIn = first ? sigma : mid;
    const pt = this.config.get('prediction_type');
    if (pt !== 'epsilon' && pt !== 'v_prediction')
      throw new TesseraError('UNSUPPORTED', `${op}: prediction_type "${pt}" must be epsilon or v_prediction`);
    const [cs, co] = veX0(pt, sIn, sIn, op);
    const B = sample.backend;
    const out = tidyStep(() => {
      const x0 = lin(sample, cs).plus(lin(modelOutput, co));
      const predOriginalSample = x0.emit(B);
      if (first) {
        // Euler half-step to the midpoint: x + (x − x₀)/σ·(σ_mid − σ)
        this.#held.set(0, B.lincomb([1], [sample])); // a copy: the caller owns `sample`
        return {
          prevSample: lin(sample)
            .plus(toD(sample, x0, sigma).times(mid - sigma))
            .emit(B),
          predOriginalSample,
        };
      }
      // the full step from the held sample with the midpoint's derivative, plus σ_up of noise (ancestral)
      let next: LinearForm = lin(this.#held.get(0)!).plus(toD(sample, x0, mid).times(target - sigma));
      if (up > 0)
        next = next.plus(lin(opts.varianceNoise ?? drawNoise(sample, opts.generator ?? this.generator), up));
      return { prevSample: next.emit(B), predOriginalSample };
    });
    if (!first) this.#held.clear();
    this.setStepIndex(i + 1);
    return out;
  }

  /** Frees the sample held between the two halves (also done by `setTimesteps`). */
  override dispose(): void {
    this.#held.clear();
  }
}

/**
 * diffusers' `KDPM2DiscreteScheduler`: DPM-Solver-2 (Karras et al. 2022's "DPM2", k-diffusion
 * `sample_dpm_2`) with the midpoint σ_mid = √(σ·σ_next). See {@link KDPM2Base}.
 *
 * @example
 * const s = KDPM2DiscreteScheduler.fromConfig(json); s.setTimesteps(20); // 39 model calls
 * let x = lincomb([s.initNoiseSigma], [noise]);
 * for (const t of s.timesteps) x = s.step(await unet(s.scaleModelInput(x, t), t), t, x).prevSample;
 */
export class KDPM2DiscreteScheduler extends KDPM2Base implements Scheduler {
  constructor(config: ConfigInput) {
    super(config, 'KDPM2DiscreteScheduler', false);
  }

  /** Sets `n` steps: `timesteps` 2n − 1 entries, `sigmas` / `sigmasInterpol` 2n + 2. */
  setTimesteps(n: number): void {
    const { sig, ts } = this.baseGrid(n);
    // sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp(): the midpoint with the σ before
    const si = sig.map((s, j) => geoMean(s, j === 0 ? sig[sig.length - 1]! : sig[j - 1]!));
    const ti = si.map((s) => this.tOf(s));
    const out = [ts[0]!];
    for (let j = 1; j < ts.length; j++) out.push(ti[j]!, ts[j]!);
    this.install(n, Float64Array.from(out), expand(sig), expand(si));
  }

  protected inputSigma(i: number, first: boolean): number {
    return first ? this.sigmas[i]! : this.sigmasInterpol[i]!;
  }

  protected plan(i: number, first: boolean): [number, number, number, number] {
    const k = first ? i : i - 1;
    return [this.sigmas[k]!, this.sigmasInterpol[k + 1]!, this.sigmas[k + 1]!, 0];
  }
}

/**
 * diffusers' `KDPM2AncestralDiscreteScheduler`: ancestral DPM-2 (k-diffusion `sample_dpm_2_ancestral`
 * with η = 1): the DPM-2 step goes to σ_down (midpoint √(σ·σ_down)), then σ_up of fresh noise is added,
 * σ_down² + σ_up² = σ_next². The last step (to σ = 0) is an Euler step. Noise from `generator`
 * (or `varianceNoise`). See {@link KDPM2Base}.
 */
export class KDPM2AncestralDiscreteScheduler extends KDPM2Base implements Scheduler {
  /** σ_up of each call, expanded like `sigmas`. */
  sigmasUp: Float64Array = new Float64Array(0);
  /** σ_down of each call, expanded like `sigmas`. */
  sigmasDown: Float64Array = new Float64Array(0);

  constructor(config: ConfigInput) {
    super(config, 'KDPM2AncestralDiscreteScheduler', false);
  }

  /** Sets `n` steps: `timesteps` 2n − 1 entries, `sigmas` / `sigmasInterpol` / `sigmasUp` / `sigmasDown` 2n + 2. */
  setTimesteps(n: number): void {
    const { sig, ts } = this.baseGrid(n);
    const L = sig.length;
    const next = sig.map((_, j) => (j + 1 < L ? sig[j + 1]! : 0));
    // torch computes these in float32: up = √(σ'²(σ² − σ'²)/σ²) (NaN at σ = 0, never used), down[-1] = 0
    const up = sig.map((s, j) => f32(Math.sqrt((next[j]! ** 2 * (s * s - next[j]! ** 2)) / (s * s))));
    const down = sig.map((_, j) => (j === L - 1 ? 0 : f32(Math.sqrt(next[j]! ** 2 - up[j]! ** 2))));
    const si = sig.map((s, j) => (j >= L - 2 ? 0 : geoMean(s, down[j]!)));
    const ti = si.map((s) => this.tOf(s));
    const out = [ts[0]!];
    for (let j = 0; j + 1 < ts.length; j++) out.push(ti[j]!, ts[j + 1]!);
    this.sigmasUp = expand(up);
    this.sigmasDown = expand(down);
    this.install(n, Float64Array.from(out), expand(sig), expand(si));
  }

  protected inputSigma(i: number, first: boolean): number {
    return first ? this.sigmas[i]! : this.sigmasInterpol[i - 1]!;
  }

  protected plan(i: number, first: boolean): [number, number, number, number] {
    if (first) return [this.sigmas[i]!, this.sigmasInterpol[i]!, 0, 0];
    const k = i - 1;
    return [this.sigmas[k]!, this.sigmasInterpol[k]!, this.sigmasDown[k]!, this.sigmasUp[k]!];
  }
}
