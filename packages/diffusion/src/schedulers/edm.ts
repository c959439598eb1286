import { type Tensor, TesseraError } from '@tessera/core';
import { type LinearForm, lin } from '../linear-form.js';
import { type ChurnOptions, churn } from '../samplers/churn.js';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { SchedulerBase } from './base.js';
import { checkStepCount, drawNoise, HeldTensors, stepNoise, thresholdSample, tidyStep } from './common.js';
import { dpmForceFinal, dpmSolverConfig, multistepOrder } from './solver-common.js';

const f32 = Math.fround;

/**
 * What diffusers' EDM schedulers share (Karras et al. 2022, "Elucidating the design space"): the
 * σ grid of `sigma_schedule` karras (ρ = `rho`) or exponential between `sigma_min` and `sigma_max`,
 * timesteps c_noise = ¼·log σ, and the preconditioning c_in = 1/√(σ² + σ_d²) (`scaleModelInput`),
 * x₀ = c_skip·x + c_out·F with c_skip = σ_d²/(σ² + σ_d²), c_out = ±σ·σ_d/√(σ² + σ_d²) (`sigma_data` σ_d;
 * the sign is − for v-prediction).
 */
export abstract class EDMBase extends SchedulerBase {
  /** c_noise = ¼·log σ of each step (float32), descending. */
  timesteps: Float64Array;
  /** The grid's σ's (float32), then the final σ (0 or σ_min). */
  sigmas: Float64Array;

  protected constructor(config: ConfigInput, className: string) {
    super(config, className);
    const op = className;
    const cfg = this.config;
    const schedule = cfg.get('sigma_schedule');
    if (schedule !== 'karras' && schedule !== 'exponential')
      throw new TesseraError(
        'INVALID_CONFIG',
        `${op}: sigma_schedule must be "karras" or "exponential", got ${JSON.stringify(schedule)}`,
      );
    for (const key of ['sigma_data', 'rho'] as const) {
      const v = cfg.get(key);
      if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))
        throw new TesseraError(
          'INVALID_CONFIG',
          `${op}: ${key} must be a positive number, got ${JSON.stringify(v)}`,
        );
    }
    const lo = cfg.get('sigma_min');
    const hi = cfg.get('sigma_max');
    if (!(typeof lo === 'number' && typeof hi === 'number' && lo < hi))
      throw new TesseraError('INVALID_CONFIG', `${op}: needs 0 < sigma_min < sigma_max, got ${lo}, ${hi}`);
    const pt = cfg.get('prediction_type');
    if (pt !== 'epsilon' && pt !== 'v_prediction')
      throw new TesseraError('UNSUPPORTED', `${op}: prediction_type "${pt}" must be epsilon or v_prediction`);
    const N = cfg.get('num_train_timesteps');
    const sig = this.edmSigmas(N);
    this.timesteps = sig.map((s) => this.precondition(s));
    this.sigmas = Float64Array.from([...sig, 0]);
  }

  /** The standard deviation of the initial noise, √(σ_max² + 1) (as diffusers). */
  get initNoiseSigma(): number {
    const hi = this.config.get('sigma_max') as number;
    return Math.sqrt(hi * hi + 1);
  }

  /** `n` float32 σ's of the schedule, descending from σ_max to σ_min. */
  protected edmSigmas(n: number): Float64Array {
    const lo = this.config.get('sigma_min') as number;
    const hi = this.config.get('sigma_max') as number;
    const ramp = (i: number) => (n === 1 ? 0 : i / (n - 1));
    if (this.config.get('sigma_schedule') === 'karras') {
      const rho = this.config.get('rho') as number;
      const a = hi ** (1 / rho);
      const b = lo ** (1 / rho);
      return Float64Array.from({ length: n }, (_, i) => f32((a + ramp(i) * (b - a)) ** rho));
    }
    // linspace(log σ_min, log σ_max, n).exp().flip(0)
    return Float64Array.from({ length: n }, (_, i) =>
      f32(Math.exp(Math.log(hi) + ramp(i) * (Math.log(lo) - Math.log(hi)))),
    );
  }

  /** c_noise = ¼·log σ in float32 (diffusers `precondition_noise`). */
  precondition(sigma: number): number {
    return f32(0.25 * f32(Math.log(sigma)));
  }

  /** [c_skip, c_out] of x₀ = c_skip·x + c_out·F at σ (diffusers `precondition_outputs`). */
  outputCoefs(sigma: number): [number, number] {
    const sd = this.config.get('sigma_data') as number;
    const d = sigma * sigma + sd * sd;
    const out = (sigma * sd) / Math.sqrt(d);
    return [(sd * sd) / d, this.config.get('prediction_type') === 'v_prediction' ? -out : out];
  }

  /** The final σ after the last step. */
  protected abstract finalSigma(sig: Float64Array): number;

  /** Sets `n` steps of the σ schedule. */
  setTimesteps(n: number): void {
    checkStepCount(`${this.config.className}.setTimesteps`, n, Number.MAX_SAFE_INTEGER);
    const sig = this.edmSigmas(n);
    this.timesteps = sig.map((s) => this.precondition(s));
    this.sigmas = Float64Array.from([...sig, f32(this.finalSigma(sig))]);
    this.numInferenceSteps = n;
    this.dispose();
    this.resetStepIndex();
  }

  /** c_in·sample = sample/√(σ² + σ_d²) at the current step's σ. */
  scaleModelInput(sample: Tensor, t: number): Tensor {
    const i = this.stepIndexFor(`${this.config.className}.scaleModelInput`, t, this.timesteps);
    const s = this.sigmas[i]!;
    const sd = this.config.get('sigma_data') as number;
    return sample.backend.lincomb([1 / Math.sqrt(s * s + sd * sd)], [sample]);
  }

  /** x₀ + σ·noise at each timestep's σ (diffusers `add_noise`). */
  addNoise(x0: Tensor, noise: Tensor, t: number | readonly number[]): Tensor {
    return this.sigmaAddNoise(x0, noise, t, this.sigmas, (s) => [1, s]);
  }
}

/** Options of {@link EDMEulerScheduler.step}: Karras et al.'s churn, k-diffusion names. */
export interface EDMEulerStepOptions extends StepOptions, ChurnOptions {}

/**
 * diffusers' `EDMEulerScheduler`: Euler steps (Karras et al. 2022, Algorithm 2) on the EDM σ grid
 * with the EDM preconditioning, optional churn (`s_churn`, `s_tmin`, `s_tmax`, `s_noise`). With
 * `final_sigmas_type` "sigma_min" the last step ends at the grid's last σ. See {@link EDMBase}.
 *
 * @example
 * const s = EDMEulerScheduler.fromConfig({ sigma_min: 0.002, sigma_max: 80 }); s.setTimesteps(30);
 * let x = lincomb([s.initNoiseSigma], [noise]);
 * for (const t of s.timesteps) x = s.step(await net(s.scaleModelInput(x, t), t), t, x).prevSample;
 */
export class EDMEulerScheduler extends EDMBase implements Scheduler {
  readonly order = 1;

  constructor(config: ConfigInput) {
    super(config, 'EDMEulerScheduler');
  }

  protected finalSigma(sig: Float64Array): number {
    return this.config.get('final_sigmas_type') === 'sigma_min' ? sig[sig.length - 1]! : 0;
  }

  /** One Euler step (with churn when `s_churn` > 0): x' = x̂ + (x̂ − x₀)/σ̂·(σ_next − σ̂). */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: EDMEulerStepOptions = {}): SchedulerOutput {
    const i = this.beginStep('EDMEulerScheduler.step', modelOutput, sample, t);
    const sigma = this.sigmas[i]!;
    const next = this.sigmas[i + 1]!;
    const { sigmaHat, noiseStd } = churn(sigma, this.sigmas.length - 1, opts);
    const [cSkip, cOut] = this.outputCoefs(sigmaHat);
    const B = sample.backend;
    const out = tidyStep(() => {
      let x: LinearForm = lin(sample);
      if (noiseStd > 0)
        x = x.plus(lin(opts.varianceNoise ?? drawNoise(sample, opts.generator ?? this.generator), noiseStd));
      const xHat = noiseStd > 0 ? x.emit(B) : sample;
      const x0 = lin(xHat, cSkip).plus(lin(modelOutput, cOut));
      const prevSample = lin(xHat)
        .plus(
          lin(xHat)
            .minus(x0)
            .times((next - sigmaHat) / sigmaHat),
        )
        .emit(B);
      return { prevSample, predOriginalSample: x0.emit(B) };
    });
    this.setStepIndex(i + 1);
    return out;
  }
}

/**
 * diffusers' `EDMDPMSolverMultistepScheduler`: DPM-Solver++ (orders 1–3, `solver_type` midpoint / heun,
 * `algorithm_type` dpmsolver++ or sde-dpmsolver++ up to order 2) on the EDM σ grid in the VE frame
 * (α = 1, λ = −log σ), with the EDM preconditioning, `lower_order_final`, `euler_at_final`,
 * `final_sigmas_type` and `thresholding`. See {@link EDMBase}.
 */
export class EDMDPMSolverMultistepScheduler extends EDMBase implements Scheduler {
  readonly order = 1;
  #outputs: HeldTensors;
  #lowerOrderNums = 0;

  constructor(config: ConfigInput) {
    super(config, 'EDMDPMSolverMultistepScheduler');
    this.config = dpmSolverConfig(this.config, ['dpmsolver++', 'sde-dpmsolver++']);
    const order = this.config.get('solver_order');
    if (order === 3 && this.config.get('algorithm_type') === 'sde-dpmsolver++')
      throw new TesseraError(
        'UNSUPPORTED',
        'EDMDPMSolverMultistepScheduler: sde-dpmsolver++ has no third-order update (diffusers neither); use solver_order 2',
      );
    this.#outputs = new HeldTensors(order);
  }

  protected finalSigma(): number {
    return this.config.get('final_sigmas_type') === 'sigma_min'
      ? (this.config.get('sigma_min') as number)
      : 0;
  }

  /** One multistep DPM-Solver++ step (order by diffusers' lower-order rules). */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    const op = 'EDMDPMSolverMultistepScheduler.step';
    const i = this.beginStep(op, modelOutput, sample, t);
    const cfg = this.config;
    const B = sample.backend;
    const [cSkip, cOut] = this.outputCoefs(this.sigmas[i]!);
    const converted = tidyStep(() => {
      const x0 = B.lincomb([cSkip, cOut], [sample, modelOutput]);
      return cfg.get('thresholding') ? thresholdSample(x0, cfg, op) : x0;
    });
    this.#outputs.push(converted);
    const k = multistepOrder(cfg, i, this.timesteps.length, this.#lowerOrderNums, dpmForceFinal(cfg));
    const prevSample = tidyStep(() => {
      const noise =
        cfg.get('algorithm_type') === 'sde-dpmsolver++' ? stepNoise(sample, opts, this.generator) : null;
      return this.#update(k, i, sample, noise).emit(B);
    });
    if (this.#lowerOrderNums < cfg.get('solver_order')) this.#lowerOrderNums++;
    this.setStepIndex(i + 1);
    return { prevSample }; // diffusers returns no x₀ here (the held one stays the scheduler's)
  }

  /** diffusers' first/second/third-order DPM-Solver++ updates with α = 1, λ = −log σ. */
  #update(k: number, i: number, x: Tensor, noise: Tensor | null): LinearForm {
    const sig = (j: number) => this.sigmas[j]!;
    const lam = (j: number) => -Math.log(sig(j));
    const L = this.#outputs.length;
    const m = (j: number) => lin(this.#outputs.get(L - 1 - j)!);
    const h = lam(i + 1) - lam(i);
    // final_sigmas_type "sigma_min" repeats the grid's last σ: a step of h = 0, which diffusers turns
    // into 0/0 = NaN for orders 2 and 3; its limit is no move at all.
    if (h === 0) return lin(x);
    const em = Math.expm1(-h); // e^{−h} − 1
    const heun = this.config.get('solver_type') === 'heun';
    const D0 = m(0);
    let D1: LinearForm | null = null;
    let D2: LinearForm | null = null;
    if (k >= 2) {
      const r0 = (lam(i) - lam(i - 1)) / h;
      const D1_0 = m(0)
        .minus(m(1))
        .times(1 / r0);
      D1 = D1_0;
      if (k === 3) {
        const r1 = (lam(i - 1) - lam(i - 2)) / h;
        const D1_1 = m(1)
          .minus(m(2))
          .times(1 / r1);
        D1 = D1_0.plus(D1_0.minus(D1_1).times(r0 / (r0 + r1)));
        D2 = D1_0.minus(D1_1).times(1 / (r0 + r1));
      }
    }
    const ratio = sig(i + 1) / sig(i);
    if (noise) {
      const e2 = -Math.expm1(-2 * h); // 1 − e^{−2h}
      let x_t = lin(x, ratio * Math.exp(-h)).plus(D0.times(e2), lin(noise, sig(i + 1) * Math.sqrt(e2)));
      if (D1) x_t = x_t.plus(D1.times(heun ? e2 / (-2 * h) + 1 : 0.5 * e2));
      return x_t;
    }
    let x_t = lin(x, ratio).plus(D0.times(-em));
    if (D1 && !D2) x_t = x_t.plus(D1.times(heun ? em / h + 1 : -0.5 * em));
    if (D1 && D2) x_t = x_t.plus(D1.times(em / h + 1), D2.times(-((em + h) / (h * h) - 0.5)));
    return x_t;
  }

  /** Frees the stored model outputs (also done by `setTimesteps`). */
  override dispose(): void {
    this.#outputs.clear();
    this.#outputs = new HeldTensors(this.config.get('solver_order'));
    this.#lowerOrderNums = 0;
  }
}
