import { type Tensor, TesseraError } from '@tessera/core';
import { LinearForm, lin } from '../linear-form.js';
import { spacedAlphaTimesteps } from './alpha-common.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { checkStepCount, HeldTensors, tidyStep } from './common.js';
import { AlphaTableScheduler } from './families.js';

/** Adams–Bashforth weights of PLMS on the last 1–4 model outputs (oldest first), PNDM eq. (12). */
const PLMS_WEIGHTS: readonly (readonly number[])[] = [
  [1],
  [-1 / 2, 3 / 2],
  [5 / 12, -16 / 12, 23 / 12],
  [-9 / 24, 37 / 24, -59 / 24, 55 / 24],
];

/**
 * diffusers' `PNDMScheduler` (Liu et al. 2022, pseudo numerical methods): the PLMS linear multistep
 * method on ε, warmed up either by 3 Runge–Kutta (PRK) steps of 4 model calls each, or, with
 * `skip_prk_steps` (Stable Diffusion 1.x), by one improved-Euler step that repeats a timestep. Each
 * step moves x by PNDM's transfer φ (eq. 9), the DDIM step of a given ε. `timesteps` lists every
 * model call (13 entries for the PRK warm-up, duplicates included); pass them to `step` in order.
 *
 * @example
 * const s = PNDMScheduler.fromConfig(sd15SchedulerConfigJson); s.setTimesteps(50); // 51 model calls
 * for (const t of s.timesteps) x = s.step(await unet(x, t), t, x).prevSample;
 */
export class PNDMScheduler extends AlphaTableScheduler implements Scheduler {
  /** The PRK warm-up's timesteps (empty with `skip_prk_steps`). */
  prkTimesteps: Int32Array = new Int32Array(0);
  /** The PLMS timesteps. */
  plmsTimesteps: Int32Array = new Int32Array(0);
  #counter = 0;
  #etsCount = 0;
  readonly #ets = new HeldTensors(4); // last ≤ 4 model outputs, oldest first (diffusers `ets`)
  readonly #cur = new HeldTensors(2); // [cur_sample, cur_model_output]

  constructor(config: ConfigInput) {
    super(config, 'PNDMScheduler');
    const pt = this.config.get('prediction_type');
    if (pt !== 'epsilon' && pt !== 'v_prediction')
      throw new TesseraError(
        'UNSUPPORTED',
        `PNDMScheduler: prediction_type "${pt}" must be epsilon or v_prediction (as diffusers)`,
      );
  }

  /** diffusers' `counter`: the model calls consumed since `setTimesteps`. */
  get counter(): number {
    return this.#counter;
  }

  #ratio(): number {
    return Math.floor(this.config.get('num_train_timesteps') / this.numInferenceSteps!);
  }

  /** Sets `n` inference steps by the config's spacing; `timesteps` gets n + 1 (PLMS) or n + 9 (PRK) calls. */
  setTimesteps(n: number): void {
    const N = this.config.get('num_train_timesteps');
    checkStepCount('PNDMScheduler.setTimesteps', n, N);
    const asc = spacedAlphaTimesteps(this.config, n).reverse(); // diffusers' _timesteps, ascending
    this.numInferenceSteps = n;
    const m = asc.length;
    if (this.config.get('skip_prk_steps')) {
      // concat(_ts[:-1], _ts[-2:-1], _ts[-1:])[::-1]: the second-largest timestep twice
      const plms = [...asc.subarray(0, m - 1), ...asc.subarray(Math.max(m - 2, 0), m - 1), asc[m - 1]!];
      this.prkTimesteps = new Int32Array(0);
      this.plmsTimesteps = Int32Array.from(plms.reverse());
    } else {
      if (m < 4)
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `PNDMScheduler.setTimesteps: the Runge–Kutta warm-up needs n ≥ 4, got ${n} (or set skip_prk_steps)`,
        );
      // (_ts[-4:].repeat(2) + tile([0, N // n // 2], 4))[:-1].repeat(2)[1:-1][::-1]
      const half = Math.floor(this.#ratio() / 2);
      const base = [...asc.subarray(m - 4)].flatMap((t) => [t, t + half]).slice(0, -1);
      const twice = base.flatMap((t) => [t, t]).slice(1, -1);
      this.prkTimesteps = Int32Array.from(twice.reverse());
      this.plmsTimesteps = Int32Array.from([...asc.subarray(0, m - 3)].reverse());
    }
    this.timesteps = Int32Array.from([...this.prkTimesteps, ...this.plmsTimesteps]);
    this.dispose();
    this.resetStepIndex();
  }

  /** One model call's step: PRK while the warm-up lasts, else PLMS (diffusers `step`). */
  step(modelOutput: Tensor, t: number, sample: Tensor, _opts: StepOptions = {}): SchedulerOutput {
    const op = 'PNDMScheduler.step';
    const i = this.beginStep(op, modelOutput, sample, t);
    const prk = this.#counter < this.prkTimesteps.length && !this.config.get('skip_prk_steps');
    const out = tidyStep(() => ({
      prevSample: prk ? this.#stepPrk(modelOutput, t, sample) : this.#stepPlms(modelOutput, t, sample),
    }));
    this.#counter++;
    this.setStepIndex(i + 1);
    return out;
  }

  /** Keeps a copy of `x` (the caller owns its tensors). */
  #copy(x: Tensor): Tensor {
    return x.backend.lincomb([1], [x]);
  }

  #pushEt(m: Tensor): void {
    this.#ets.push(this.#copy(m));
    this.#etsCount = Math.min(this.#etsCount + 1, 4);
  }

  /** The stored model outputs as one form, weighted oldest first by `w`. */
  #etsForm(w: readonly number[]): LinearForm {
    const L = this.#ets.length;
    return LinearForm.sum(...w.map((c, k) => lin(this.#ets.get(L - w.length + k)!, c)));
  }

  #stepPrk(m: Tensor, t: number, sample: Tensor): Tensor {
    const c = this.#counter;
    const prevT = t - (c % 2 ? 0 : Math.floor(this.#ratio() / 2));
    const t0 = this.prkTimesteps[Math.floor(c / 4) * 4]!;
    const acc = this.#cur.get(1);
    if (c % 4 === 0) {
      this.#cur.set(1, m.backend.lincomb([1 / 6], [m]));
      this.#pushEt(m);
      this.#cur.set(0, this.#copy(sample));
    } else if (c % 4 !== 3) this.#cur.set(1, m.backend.lincomb([1, 1 / 3], [acc!, m]));
    // the fourth call steps with k₁/6 + k₂/3 + k₃/3 + k₄/6; the others with their own ε
    const eps = c % 4 === 3 ? lin(acc!).plus(lin(m, 1 / 6)) : lin(m);
    const prev = this.#prevSample(this.#cur.get(0) ?? sample, t0, prevT, eps);
    if (c % 4 === 3) this.#cur.set(1, null);
    return prev;
  }

  #stepPlms(m: Tensor, t: number, sample: Tensor): Tensor {
    const c = this.#counter;
    let prevT = t - this.#ratio();
    let t0 = t;
    if (c !== 1) this.#pushEt(m);
    else {
      prevT = t;
      t0 = t + this.#ratio();
    }
    let x = sample;
    let eps: LinearForm;
    if (this.#etsCount === 1 && c === 0) {
      eps = lin(m);
      this.#cur.set(0, this.#copy(sample));
    } else if (this.#etsCount === 1 && c === 1) {
      // improved Euler: the mean of the two ε's at the two ends, from the sample the step started at
      eps = lin(m, 0.5).plus(lin(this.#ets.get(3)!, 0.5));
      x = this.#cur.get(0)!;
    } else eps = this.#etsForm(PLMS_WEIGHTS[this.#etsCount - 1]!);
    const prev = this.#prevSample(x, t0, prevT, eps);
    if (this.#etsCount === 1 && c === 1) this.#cur.set(0, null);
    return prev;
  }

  /**
   * PNDM's transfer φ (eq. 9; diffusers `_get_prev_sample`): x' = √(ᾱ'/ᾱ)·x − (ᾱ' − ᾱ)·ε /
   * (ᾱ√(1 − ᾱ') + √(ᾱ(1 − ᾱ)ᾱ')), with ε = √ᾱ·v + √(1 − ᾱ)·x for v-prediction. One lincomb.
   */
  #prevSample(x: Tensor, t: number, prevT: number, eps: LinearForm): Tensor {
    const a = this.alphasCumprod[t];
    if (a === undefined)
      throw new TesseraError('OUT_OF_RANGE', `PNDMScheduler.step: timestep ${t} is outside the ᾱ table`);
    const ap = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const e =
      this.config.get('prediction_type') === 'v_prediction'
        ? eps.times(Math.sqrt(a)).plus(lin(x, Math.sqrt(1 - a)))
        : eps;
    const denom = a * Math.sqrt(1 - ap) + Math.sqrt(a * (1 - a) * ap);
    return lin(x, Math.sqrt(ap / a))
      .minus(e.times((ap - a) / denom))
      .emit(x.backend);
  }

  /** Frees the stored model outputs and warm-up state (also done by `setTimesteps`). */
  override dispose(): void {
    this.#ets.clear();
    this.#cur.clear();
    this.#etsCount = 0;
    this.#counter = 0;
  }
}
