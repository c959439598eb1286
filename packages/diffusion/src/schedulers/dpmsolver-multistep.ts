import { type Tensor, TesseraError } from '@tessera/core';
import {
  arange,
  interpTable,
  linspace,
  luLambdaSigmas,
  roundHalfEven,
  type SchedulerConfig,
  sigmaToT,
  timesteps as spacedTimesteps,
} from '@tessera/schedules';
import {
  type ConfigInput,
  checkStepInputs,
  defaultGenerator,
  drawNoise,
  type Generator,
  HeldTensors,
  indexForTimestep,
  loadConfig,
  noiseBatch,
  type SchedulerOutput,
  type StepOptions,
  thresholdSample,
  tidyStep,
  timestepList,
  trainTables,
} from './common.js';
import { convertSigmas, sigmaConversion, sigmaTable } from './sigma-table.js';

const f32 = Math.fround;
const BETAS = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/** α_t, σ_t of a step's σ: VP (1/√(σ²+1), σ/√(σ²+1)) or flow (1 − σ, σ). */
export function alphaSigma(sigma: number, flow: boolean): [number, number] {
  if (flow) return [1 - sigma, sigma];
  const a = 1 / Math.sqrt(sigma * sigma + 1);
  return [a, sigma * a];
}

/**
 * Integer timesteps of diffusers' DPM-Solver/UniPC `set_timesteps` before any σ conversion. Quirks kept:
 * `linspace` takes n + 1 points over [0, last − 1] and drops the last (so t = 0 is never used);
 * `leading` uses `last // (n + 1)`; `trailing` steps by N/n from `last`.
 */
export function solverTimesteps(cfg: SchedulerConfig, n: number, lastTimestep: number): Int32Array {
  const N = cfg.get('num_train_timesteps');
  const spacing = cfg.get('timestep_spacing');
  if (spacing === 'linspace') {
    const t = linspace(0, lastTimestep - 1, n + 1)
      .map(roundHalfEven)
      .reverse();
    return Int32Array.from(t.subarray(0, n));
  }
  if (spacing === 'leading') {
    const r = Math.floor(lastTimestep / (n + 1));
    const off = cfg.get('steps_offset');
    return Int32Array.from({ length: n }, (_, k) => (n - k) * r + off);
  }
  if (spacing === 'trailing')
    return Int32Array.from(arange(lastTimestep, 0, -N / n).subarray(0, n), (x) => roundHalfEven(x) - 1);
  return spacedTimesteps(n, { spacing, numTrainTimesteps: N }); // throws for unknown spacing
}

/**
 * diffusers' `DPMSolverMultistepScheduler` (DPM-Solver++ of Lu et al. 2022 and its SDE variant):
 * `algorithm_type` dpmsolver++ / sde-dpmsolver++ (and the deprecated dpmsolver / sde-dpmsolver),
 * `solver_order` 1–3, `solver_type` midpoint / heun, Karras / exponential / beta / Lu-λ / flow sigmas,
 * `final_sigmas_type` zero / sigma_min, `lower_order_final`, `euler_at_final`, `lambda_min_clipped`,
 * `thresholding` (dynamic thresholding of the x₀ prediction; dpmsolver / sde-dpmsolver go ε → x₀ →
 * threshold → ε).
 * Timesteps are integers (Karras timesteps rounded, as diffusers does).
 */
export class DPMSolverMultistepScheduler {
  readonly order = 1;
  readonly config: SchedulerConfig;
  readonly betas: Float64Array;
  readonly alphasCumprod: Float64Array;
  readonly sigmaTable: Float64Array;
  readonly initNoiseSigma = 1;
  timesteps: Int32Array;
  sigmas: Float64Array;
  numInferenceSteps: number | null = null;
  #logSigmaTable: Float64Array;
  #lambdaT: Float64Array;
  #flowShift: number;
  #outputs: HeldTensors;
  #lowerOrderNums = 0;
  #stepIndex: number | null = null;
  #beginIndex: number | null = null;
  #generator: Generator = defaultGenerator();

  constructor(config: ConfigInput) {
    this.config = loadConfig(config, 'DPMSolverMultistepScheduler');
    const algo = this.config.get('algorithm_type');
    if (algo === 'deis') this.config = this.config.with({ algorithm_type: 'dpmsolver++' });
    const st = this.config.get('solver_type');
    if (st !== 'midpoint' && st !== 'heun') this.config = this.config.with({ solver_type: 'midpoint' });
    if (
      (algo === 'dpmsolver' || algo === 'sde-dpmsolver') &&
      this.config.get('final_sigmas_type') === 'zero'
    ) {
      throw new TesseraError(
        'INVALID_CONFIG',
        `DPMSolverMultistepScheduler: final_sigmas_type "zero" is not supported for algorithm_type "${algo}"; use "sigma_min"`,
      );
    }
    const t = trainTables(this.config, BETAS, true);
    this.betas = t.betas;
    this.alphasCumprod = t.alphasCumprod;
    const { table, logTable } = sigmaTable(this.alphasCumprod);
    this.sigmaTable = table;
    this.#logSigmaTable = logTable;
    // λ_t = log α_t − log σ_t in float32 (only used for lambda_min_clipped)
    this.#lambdaT = this.alphasCumprod.map((a) =>
      f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a)))))),
    );
    this.#flowShift = this.config.get('flow_shift');
    const N = this.alphasCumprod.length;
    this.timesteps = Int32Array.from({ length: N }, (_, i) => N - 1 - i);
    this.sigmas = Float64Array.from(table);
    this.#outputs = new HeldTensors(this.config.get('solver_order'));
  }

  /** Reads a diffusers `scheduler_config.json` (text or object). */
  static fromConfig(config: ConfigInput): DPMSolverMultistepScheduler {
    return new DPMSolverMultistepScheduler(config);
  }

  /** The config as read (unknown keys kept; `deis`/`bh*` mapped as diffusers does). */
  toConfig(): Record<string, unknown> {
    return this.config.toDiffusersConfig();
  }

  /** Start at step `i` (img2img). */
  setBeginIndex(i = 0): void {
    this.#beginIndex = i;
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
      if (!Number.isInteger(n) || n! < 1 || n! > N)
        throw new TesseraError('INVALID_ARGUMENT', `${op}: n must be an integer in [1, ${N}], got ${n}`);
      // searchsorted(flip(λ), lambda_min_clipped): how many λ (ascending) are below the clip
      const lmin = cfg.get('lambda_min_clipped');
      let clipped = 0;
      for (let i = N - 1; i >= 0; i--) if (this.#lambdaT[i]! < lmin) clipped++;
      ts = Float64Array.from(solverTimesteps(cfg, n!, N - clipped));
    }
    const table = this.sigmaTable;
    const logT = this.#logSigmaTable;
    const round = cfg.get('beta_schedule') !== 'squaredcos_cap_v2' ? roundHalfEven : (x: number) => x;
    const steps = ts.length;
    let sig: Float64Array;
    let flow = false;
    if (conv === 'karras') {
      sig = convertSigmas('karras', Float64Array.from(table).reverse(), steps, cfg);
      ts = sig.map((s) => round(sigmaToT(s, logT)));
    } else if (lu) {
      sig = luLambdaSigmas(steps, logT[N - 1]!, logT[0]!);
      ts = sig.map((s) => round(sigmaToT(s, logT)));
    } else if (conv) {
      sig = convertSigmas(conv, Float64Array.from(table).reverse(), steps, cfg);
      ts = sig.map((s) => sigmaToT(s, logT));
    } else if (cfg.get('use_flow_sigmas')) {
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
      sig = ts.map((t) => interpTable(t, table));
    }
    const last = cfg.get('final_sigmas_type') === 'sigma_min' ? table[0]! : 0;
    this.sigmas = new Float64Array(steps + 1);
    for (let i = 0; i < steps; i++) this.sigmas[i] = f32(sig[i]!);
    this.sigmas[steps] = f32(last);
    this.timesteps = Int32Array.from(ts, Math.trunc); // torch .to(int64) truncates
    this.numInferenceSteps = steps;
    this.#flow = flow;
    this.#outputs.clear();
    this.#outputs = new HeldTensors(cfg.get('solver_order'));
    this.#lowerOrderNums = 0;
    this.#stepIndex = null;
    this.#beginIndex = null;
  }

  #flow = false;

  /** DPM-Solver needs no input scaling. */
  scaleModelInput(sample: Tensor, _t?: number): Tensor {
    return sample;
  }

  /** The model output as x₀ (dpmsolver++) or ε (dpmsolver): [coef on sample, coef on output]. */
  #convert(sigma: number): [number, number] {
    const cfg = this.config;
    const pt = cfg.get('prediction_type');
    const [a, s] = alphaSigma(sigma, this.#flow || cfg.get('use_flow_sigmas'));
    const plusPlus = cfg.get('algorithm_type').endsWith('++');
    if (plusPlus) {
      if (pt === 'epsilon') return [1 / a, -s / a];
      if (pt === 'sample') return [0, 1];
      if (pt === 'v_prediction') return [a, -s];
      if (pt === 'flow_prediction') return [1, -sigma];
    } else {
      if (pt === 'epsilon') return [0, 1];
      if (pt === 'sample') return [1 / s, -a / s];
      if (pt === 'v_prediction') return [s, a];
    }
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
    const [a, s] = alphaSigma(this.sigmas[i]!, this.#flow || cfg.get('use_flow_sigmas'));
    const B = sample.backend;
    const x0 = thresholdSample(B.lincomb([1 / a, -s / a], [sample, converted]), cfg, op);
    return B.lincomb([1 / s, -a / s], [sample, x0]);
  }

  /** One multistep DPM-Solver step from `t` to the next timestep. */
  step(modelOutput: Tensor, t: number, sample: Tensor, opts: StepOptions = {}): SchedulerOutput {
    checkStepInputs('DPMSolverMultistepScheduler.step', modelOutput, sample);
    if (this.numInferenceSteps === null)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        'DPMSolverMultistepScheduler.step: call setTimesteps() first',
      );
    const cfg = this.config;
    this.#stepIndex ??=
      this.#beginIndex ?? indexForTimestep('step', t, this.timesteps, this.timesteps.length - 1);
    const i = this.#stepIndex;
    if (i >= this.timesteps.length)
      throw new TesseraError('OUT_OF_RANGE', 'DPMSolverMultistepScheduler.step: no steps left');
    const n = this.timesteps.length;
    const order = cfg.get('solver_order');
    const lowerFinal =
      i === n - 1 &&
      (cfg.get('euler_at_final') ||
        (cfg.get('lower_order_final') && n < 15) ||
        cfg.get('final_sigmas_type') === 'zero');
    const lowerSecond = i === n - 2 && cfg.get('lower_order_final') && n < 15;
    const algo = cfg.get('algorithm_type');
    const sde = algo.startsWith('sde');
    const B = sample.backend;
    const [cs, co] = this.#convert(this.sigmas[i]!);
    const converted = tidyStep(() => this.#threshold(B.lincomb([cs, co], [sample, modelOutput]), sample, i));
    this.#outputs.push(converted);
    const prevSample = tidyStep(() => {
      const noise = sde ? (opts.varianceNoise ?? drawNoise(sample, opts.generator ?? this.#generator)) : null;
      const k =
        order === 1 || this.#lowerOrderNums < 1 || lowerFinal
          ? 1
          : order === 2 || this.#lowerOrderNums < 2 || lowerSecond
            ? 2
            : 3;
      return this.#update(k, i, sample, noise);
    });
    if (this.#lowerOrderNums < order) this.#lowerOrderNums++;
    this.#stepIndex = i + 1;
    return { prevSample, predOriginalSample: algo.endsWith('++') ? converted : undefined };
  }

  /** The order-k update of diffusers' `*_update` functions as one lincomb. */
  #update(k: number, i: number, sample: Tensor, noise: Tensor | null): Tensor {
    const flow = this.#flow || this.config.get('use_flow_sigmas');
    const algo = this.config.get('algorithm_type');
    const heun = this.config.get('solver_type') === 'heun';
    const lam = (j: number) => {
      const [a, s] = alphaSigma(this.sigmas[j]!, flow);
      return Math.log(a) - Math.log(s);
    };
    const [aT, sT] = alphaSigma(this.sigmas[i + 1]!, flow);
    const [aS0, sS0] = alphaSigma(this.sigmas[i]!, flow);
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

  /** α_t·x₀ + σ_t·noise at the timestep's σ (diffusers `add_noise`). */
  addNoise(x0: Tensor, noise: Tensor, t: number | readonly number[]): Tensor {
    return solverAddNoise(
      x0,
      noise,
      t,
      this,
      this.#beginIndex === null ? null : (this.#stepIndex ?? this.#beginIndex),
      this.#flow || this.config.get('use_flow_sigmas'),
    );
  }

  /** Frees the stored model outputs (also done by `setTimesteps`). */
  dispose(): void {
    this.#outputs.clear();
  }
}

/**
 * diffusers' `add_noise` for the multistep solvers: α_t·x₀ + σ_t·noise at each timestep's σ. `at` is
 * null before `setBeginIndex` (the index is looked up in `timesteps`), else the current step index.
 */
export function solverAddNoise(
  x0: Tensor,
  noise: Tensor,
  t: number | readonly number[],
  schedule: { timesteps: ArrayLike<number>; sigmas: ArrayLike<number> },
  at: number | null,
  flow: boolean,
): Tensor {
  return noiseBatch(
    x0,
    noise,
    timestepList(t).map((ti) => {
      const i = at ?? indexForTimestep('addNoise', ti, schedule.timesteps, schedule.timesteps.length - 1);
      return alphaSigma(schedule.sigmas[i]!, flow);
    }),
  );
}
