import { type Tensor, TesseraError } from '@tessera/core';
import { linspace, luLambdaSigmas, roundHalfEven, sigmaToT } from '@tessera/schedules';
import type { ConfigInput, Scheduler, SchedulerOutput, StepOptions } from './base.js';
import { checkStepCount, HeldTensors, stepNoise, thresholdSample, tidyStep, vpCoefs } from './common.js';
import { SolverScheduler } from './families.js';
import { sigmaConversion } from './sigma-table.js';
import {
  dpmForceFinal,
  dpmSolverConfig,
  multistepOrder,
  solverAlphaSigma,
  solverGrid,
  solverLambda,
  solverSigmas,
  solverTimesteps,
} from './solver-common.js';

/**
 * diffusers' `DPMSolverMultistepScheduler` (DPM-Solver++ of Lu et al. 2022 and its SDE variant):
 * `algorithm_type` dpmsolver++ / sde-dpmsolver++ (and the deprecated dpmsolver / sde-dpmsolver),
 * `solver_order` 1–3, `solver_type` midpoint / heun, Karras / exponential / beta / Lu-λ / flow sigmas,
 * `final_sigmas_type` zero / sigma_min, `lower_order_final`, `euler_at_final`, `lambda_min_clipped`,
 * `thresholding` (dynamic thresholding of the x₀ prediction; dpmsolver / sde-dpmsolver go ε → x₀ →
 * threshold → ε).
 * Timesteps are integers (Karras timesteps rounded, as diffusers does).
 */
export class DPMSolverMultistepScheduler extends SolverScheduler implements Scheduler {
  #flowShift: number;
  #outputs: HeldTensors;
  #lowerOrderNums = 0;

  constructor(config: ConfigInput) {
    super(config, 'DPMSolverMultistepScheduler');
    this.config = dpmSolverConfig(this.config, [
      'dpmsolver',
      'dpmsolver++',
      'sde-dpmsolver',
      'sde-dpmsolver++',
    ]);
    const algo = this.config.get('algorithm_type');
    if (
      (algo === 'dpmsolver' || algo === 'sde-dpmsolver') &&
      this.config.get('final_sigmas_type') === 'zero'
    ) {
      throw new TesseraError(
        'INVALID_CONFIG',
        `DPMSolverMultistepScheduler: final_sigmas_type "zero" is not supported for algorithm_type "${algo}"; use "sigma_min"`,
      );
    }
    this.#flowShift = this.config.get('flow_shift');
    this.#outputs = new HeldTensors(this.config.get('solver_order'));
  }

  /** Sets `n` inference steps (or custom integer timesteps); `mu` sets flow_shift = e^μ for dynamic shifting. */
  setTimesteps(n?: number, opts: { timesteps?: readonly number[]; mu?: number } = {}): void {
    const cfg = this.config;
    const op = 'DPMSolverMultistepScheduler.setTimesteps';
    if (opts.mu !== undefined) {
      if (!cfg.get('use_dynamic_shifting'))
        throw new TesseraError('INVALID_ARGUMENT', `${op}: mu needs use_dynamic_shifting`);
      this.#flowShift = Math.exp(opts.mu);
    }
    if ((n === undefined) === (opts.timesteps === undefined))
      throw new TesseraError('INVALID_ARGUMENT', `${op}: pass exactly one of n or timesteps`);
    const conv = sigmaConversion(cfg);
    const lu = cfg.get('use_lu_lambdas');
    if (opts.timesteps && (conv || lu))
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${op}: custom timesteps cannot be used with ${conv ?? 'lu'} sigmas`,
      );
    const N = cfg.get('num_train_timesteps');
    let ts: Float64Array;
    if (opts.timesteps) ts = Float64Array.from(opts.timesteps, Math.trunc);
    else {
      checkStepCount(op, n, N);
      ts = Float64Array.from(solverTimesteps(cfg, n!, this.clippedLastTimestep()));
    }
    const table = this.sigmaTable;
    const logT = this.logSigmaTable;
    // diffusers rounds Karras and Lu timesteps except for squaredcos_cap_v2
    const rounded = cfg.get('beta_schedule') !== 'squaredcos_cap_v2';
    const steps = ts.length;
    let sig: Float64Array;
    let flow = false;
    // diffusers' precedence: Karras, then Lu λ's, then exponential / beta, then flow σ's, else interpolation
    if (lu && conv !== 'karras') {
      sig = luLambdaSigmas(steps, logT[N - 1]!, logT[0]!);
      ts = sig.map((s) => sigmaToT(s, logT));
      if (rounded) ts = ts.map(roundHalfEven);
    } else if (!conv && cfg.get('use_flow_sigmas')) {
      flow = true;
      const shift = this.#flowShift;
      const a = linspace(1, 1 / N, steps + 1);
      const s = a
        .map((x) => 1 - x)
        .map((x) => (shift * x) / (1 + (shift - 1) * x))
        .reverse();
      sig = s.subarray(0, steps);
      ts = sig.map((x) => x * N);
    } else {
      ({ sigmas: sig, timesteps: ts } = solverSigmas(cfg, table, logT, ts, rounded));
    }
    const last = cfg.get('final_sigmas_type') === 'sigma_min' ? table[0]! : 0;
    ({ sigmas: this.sigmas, timesteps: this.timesteps } = solverGrid(sig, ts, last));
    this.numInferenceSteps = steps;
    this.#flow = flow;
    this.#outputs.clear();
    this.#outputs = new HeldTensors(cfg.get('solver_order'));
    this.#lowerOrderNums = 0;
    this.resetStepIndex();
  }

  #flow = false;

  /** True when the grid holds flow σ's (`use_flow_sigmas`): α = 1 − σ. */
  protected override get flowSigmas(): boolean {
    return this.#flow || this.config.get('use_flow_sigmas');
  }

  /** The model output as x₀ (dpmsolver++) or ε (dpmsolver): [coef on sample, coef on output]. */
  #convert(sigma: number): [number, number] {
    const cfg = this.config;
    const pt = cfg.get('prediction_type');
    const [a, s] = solverAlphaSigma(sigma, this.#flow || cfg.get('use_flow_sigmas'));
    const plusPlus = cfg.get('algorithm_type').endsWith('++');
    if (plusPlus && pt === 'flow_prediction') return [1, -sigma];
    const coefs = vpCoefs(pt, a, s);
    if (coefs) return plusPlus ? coefs.x0 : coefs.eps;
    throw new TesseraError(
      'UNSUPPORTED',
      `DPMSolverMultistepScheduler: prediction_type "${pt}" with algorithm_type "${cfg.get('algorithm_type')}"`,
    );
  }

  /**
   * diffusers' `thresholding` inside `convert_model_output`: dpmsolver++ / sde-dpmsolver++ threshold the
   * x₀ prediction; dpmsolver / sde-dpmsolver turn ε into x₀ = (x − σ_t ε)/α_t, threshold it and return
   * ε = (x − α_t x₀)/σ_t.
   */
  #threshold(converted: Tensor, sample: Tensor, i: number): Tensor {
    const cfg = this.config;
    if (!cfg.get('thresholding')) return converted;
    const op = 'DPMSolverMultistepScheduler.step';
    if (cfg.get('algorithm_type').endsWith('++')) return thresholdSample(converted, cfg, op);
    const [a, s] = solverAlphaSigma(this.sigmas[i]!, this.#flow || cfg.get('use_flow_sigmas'));
    const B = sample.backend;
    const x0 = thresholdSample(B.lincomb([1 / a, -s / a], [sample, converted]), cfg, op);
    return B.lincomb([1 / s, -a / s], [sample, x0]);
  }

  /** One multistep DPM-Solver step from `t` to the next timestep. */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    const i = this.beginStep('DPMSolverMultistepScheduler.step', modelOutput, sample, t);
    const cfg = this.config;
    const n = this.timesteps.length;
    const order = cfg.get('solver_order');
    const algo = cfg.get('algorithm_type');
    const sde = algo.startsWith('sde');
    const B = sample.backend;
    const [cs, co] = this.#convert(this.sigmas[i]!);
    const converted = tidyStep(() => this.#threshold(B.lincomb([cs, co], [sample, modelOutput]), sample, i));
    this.#outputs.push(converted);
    const prevSample = tidyStep(() => {
      const noise = sde ? stepNoise(sample, opts, this.generator) : null;
      const k = multistepOrder(cfg, i, n, this.#lowerOrderNums, dpmForceFinal(cfg));
      return this.#update(k, i, sample, noise);
    });
    if (this.#lowerOrderNums < order) this.#lowerOrderNums++;
    this.setStepIndex(i + 1);
    // a copy: `converted` stays in the solver's history, the caller owns what step returns
    return { prevSample, predOriginalSample: algo.endsWith('++') ? B.lincomb([1], [converted]) : undefined };
  }

  /** The order-k update of diffusers' `*_update` functions as one lincomb. */
  #update(k: number, i: number, sample: Tensor, noise: Tensor | null): Tensor {
    const flow = this.#flow || this.config.get('use_flow_sigmas');
    const algo = this.config.get('algorithm_type');
    const heun = this.config.get('solver_type') === 'heun';
    const lam = (j: number) => solverLambda(this.sigmas[j]!, flow);
    const [aT, sT] = solverAlphaSigma(this.sigmas[i + 1]!, flow);
    const [aS0, sS0] = solverAlphaSigma(this.sigmas[i]!, flow);
    const lt = lam(i + 1);
    const l0 = lam(i);
    const h = lt - l0;
    const m = (j: number) => this.#outputs.get(this.#outputs.length - 1 - j)!;
    const em = Math.expm1(-h); // exp(−h) − 1
    const ep = Math.expm1(h); // exp(h) − 1
    const e2 = -Math.expm1(-2 * h); // 1 − exp(−2h)
    const coefs: number[] = [];
    const xs: Tensor[] = [];
    const add = (c: number, x: Tensor) => {
      coefs.push(c);
      xs.push(x);
    };
    // D terms: D0 = m0; D1 = (m0 − m1)/r0; order 3 adds D2
    let d1: [number, number, number] = [0, 0, 0]; // coefs of D1 on m0, m1, m2
    let d2: [number, number, number] = [0, 0, 0];
    if (k >= 2) {
      const r0 = (l0 - lam(i - 1)) / h;
      if (k === 2) d1 = [1 / r0, -1 / r0, 0];
      else {
        const r1 = (lam(i - 1) - lam(i - 2)) / h;
        const d10: [number, number, number] = [1 / r0, -1 / r0, 0];
        const d11: [number, number, number] = [0, 1 / r1, -1 / r1];
        const diff = d10.map((v, j) => v - d11[j]!) as [number, number, number];
        d1 = d10.map((v, j) => v + (r0 / (r0 + r1)) * diff[j]!) as [number, number, number];
        d2 = diff.map((v) => v / (r0 + r1)) as [number, number, number];
      }
    }
    let c0: number; // coef of D0
    let c1 = 0;
    let c2 = 0;
    let cx: number; // coef of sample
    let cn = 0; // coef of noise
    if (algo === 'dpmsolver++') {
      cx = sT / sS0;
      c0 = -aT * em;
      if (k === 2) c1 = heun ? aT * (em / h + 1) : -0.5 * aT * em;
      if (k === 3) {
        c1 = aT * (em / h + 1);
        c2 = -aT * ((em + h) / (h * h) - 0.5);
      }
    } else if (algo === 'sde-dpmsolver++') {
      cx = (sT / sS0) * Math.exp(-h);
      c0 = aT * e2;
      if (k === 2) c1 = heun ? aT * (e2 / (-2 * h) + 1) : 0.5 * aT * e2;
      if (k === 3) {
        c1 = aT * (e2 / (-2 * h) + 1);
        c2 = aT * ((e2 - 2 * h) / (2 * h) ** 2 - 0.5);
      }
      cn = sT * Math.sqrt(e2);
    } else if (algo === 'dpmsolver') {
      cx = aT / aS0;
      c0 = -sT * ep;
      if (k === 2) c1 = heun ? -sT * (ep / h - 1) : -0.5 * sT * ep;
      if (k === 3) {
        c1 = -sT * (ep / h - 1);
        c2 = -sT * ((ep - h) / (h * h) - 0.5);
      }
    } else {
      // sde-dpmsolver
      if (k === 3)
        throw new TesseraError(
          'UNSUPPORTED',
          'DPMSolverMultistepScheduler: third order is not defined for sde-dpmsolver',
        );
      cx = aT / aS0;
      c0 = -2 * sT * ep;
      if (k === 2) c1 = heun ? -2 * sT * (ep / h - 1) : -sT * ep;
      cn = sT * Math.sqrt(Math.expm1(2 * h));
    }
    add(cx, sample);
    const mc = [c0 + c1 * d1[0] + c2 * d2[0], c1 * d1[1] + c2 * d2[1], c1 * d1[2] + c2 * d2[2]];
    for (let j = 0; j < k; j++) if (mc[j] !== 0) add(mc[j]!, m(j));
    if (noise && cn !== 0) add(cn, noise);
    return sample.backend.lincomb(coefs, xs);
  }

  /** Frees the stored model outputs (also done by `setTimesteps`). */
  override dispose(): void {
    this.#outputs.clear();
  }
}
