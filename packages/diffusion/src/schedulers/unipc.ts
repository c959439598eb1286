import { type Tensor, TesseraError } from '@tessera/core';
import { interpTable, roundHalfEven, type SchedulerConfig, sigmaToT } from '@tessera/schedules';
import {
  type ConfigInput,
  checkStepInputs,
  HeldTensors,
  indexForTimestep,
  loadConfig,
  rejectUnsupported,
  type SchedulerOutput,
  type StepOptions,
  thresholdSample,
  tidyStep,
  trainTables,
} from './common.js';
import { alphaSigma, solverAddNoise, solverTimesteps } from './dpmsolver-multistep.js';
import { convertSigmas, sigmaConversion, sigmaTable } from './sigma-table.js';

const f32 = Math.fround;
const BETAS = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/** Solves the small dense system A·x = b by Gaussian elimination with partial pivoting. */
export function solveSmall(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row.slice(0, n), b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

/**
 * The UniPC coefficients of one update of order `p` from λ_s0 to λ_t with the earlier λ's `lams`
 * (newest first): `rks`, h·φ₁, B(h) and the vector b of Zhao et al. 2023 (diffusers' `multistep_uni_*_bh_update`).
 */
function uniCoefs(h: number, rks: number[], predictX0: boolean, bh: string, p: number) {
  const hh = predictX0 ? -h : h;
  const hPhi1 = Math.expm1(hh);
  let hPhiK = hPhi1 / hh - 1;
  let fact = 1;
  const Bh = bh === 'bh1' ? hh : Math.expm1(hh);
  const R: number[][] = [];
  const b: number[] = [];
  for (let i = 1; i <= p; i++) {
    R.push(rks.map((r) => r ** (i - 1)));
    b.push((hPhiK * fact) / Bh);
    fact *= i + 1;
    hPhiK = hPhiK / hh - 1 / fact;
  }
  return { hPhi1, Bh, R, b };
}

/**
 * diffusers' `UniPCMultistepScheduler` (Zhao et al. 2023): a multistep predictor (UniP) and, from the
 * second step, a corrector (UniC) that reuses the new model output, `solver_type` bh1 / bh2,
 * `predict_x0`, `solver_order`, `lower_order_final`, `disable_corrector`, Karras / exponential / beta
 * sigmas, `final_sigmas_type` and `thresholding` (of the x₀ prediction; like diffusers, it does nothing
 * when `predict_x0` is false). Integer timesteps as DPM-Solver (linspace drops a point).
 */
export class UniPCMultistepScheduler {
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
  #outputs: HeldTensors;
  #last = new HeldTensors(1);
  #thisOrder = 0;
  #lowerOrderNums = 0;
  #stepIndex: number | null = null;
  #beginIndex: number | null = null;

  constructor(config: ConfigInput) {
    this.config = loadConfig(config, 'UniPCMultistepScheduler');
    rejectUnsupported(this.config, { use_flow_sigmas: true, use_dynamic_shifting: true });
    if (this.config.get('solver_p') != null)
      throw new TesseraError('UNSUPPORTED', 'UniPCMultistepScheduler: solver_p is not supported');
    const st = this.config.get('solver_type');
    if (st !== 'bh1' && st !== 'bh2') {
      if (['midpoint', 'heun', 'logrho'].includes(st)) this.config = this.config.with({ solver_type: 'bh2' });
      else throw new TesseraError('UNSUPPORTED', `UniPCMultistepScheduler: solver_type "${st}" (bh1 or bh2)`);
    }
    const t = trainTables(this.config, BETAS, true);
    this.betas = t.betas;
    this.alphasCumprod = t.alphasCumprod;
    const { table, logTable } = sigmaTable(this.alphasCumprod);
    this.sigmaTable = table;
    this.#logSigmaTable = logTable;
    const N = this.alphasCumprod.length;
    this.timesteps = Int32Array.from({ length: N }, (_, i) => N - 1 - i);
    this.sigmas = Float64Array.from(table);
    this.#outputs = new HeldTensors(this.config.get('solver_order'));
  }

  /** Reads a diffusers `scheduler_config.json` (text or object). */
  static fromConfig(config: ConfigInput): UniPCMultistepScheduler {
    return new UniPCMultistepScheduler(config);
  }

  /** The config as read (unknown keys kept). */
  toConfig(): Record<string, unknown> {
    return this.config.toDiffusersConfig();
  }

  /** Start at step `i` (img2img). */
  setBeginIndex(i = 0): void {
    this.#beginIndex = i;
  }

  /** Sets `n` inference steps by the config's spacing (or σ conversion). */
  setTimesteps(n: number): void {
    const cfg = this.config;
    const N = cfg.get('num_train_timesteps');
    if (!Number.isInteger(n) || n < 1 || n > N)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `UniPCMultistepScheduler.setTimesteps: n must be an integer in [1, ${N}], got ${n}`,
      );
    let ts = Float64Array.from(solverTimesteps(cfg, n, N));
    const conv = sigmaConversion(cfg);
    const table = this.sigmaTable;
    let sig: Float64Array;
    let last: number;
    const sigmaMin = cfg.get('final_sigmas_type') === 'sigma_min';
    if (conv) {
      sig = convertSigmas(conv, Float64Array.from(table).reverse(), n, cfg);
      ts = sig.map((s) => sigmaToT(s, this.#logSigmaTable));
      if (conv === 'karras') ts = ts.map(roundHalfEven);
      last = sigmaMin ? sig[sig.length - 1]! : 0;
    } else {
      sig = ts.map((t) => interpTable(t, table));
      last = sigmaMin ? table[0]! : 0;
    }
    const steps = sig.length;
    this.sigmas = new Float64Array(steps + 1);
    for (let i = 0; i < steps; i++) this.sigmas[i] = f32(sig[i]!);
    this.sigmas[steps] = f32(last);
    this.timesteps = Int32Array.from(ts, Math.trunc);
    this.numInferenceSteps = steps;
    this.#outputs.clear();
    this.#outputs = new HeldTensors(cfg.get('solver_order'));
    this.#last.clear();
    this.#thisOrder = 0;
    this.#lowerOrderNums = 0;
    this.#stepIndex = null;
    this.#beginIndex = null;
  }

  /** UniPC needs no input scaling. */
  scaleModelInput(sample: Tensor, _t?: number): Tensor {
    return sample;
  }

  /** [coef on sample, coef on output] of the model output as x₀ (predict_x0) or ε. */
  #convert(sigma: number): [number, number] {
    const pt = this.config.get('prediction_type');
    const [a, s] = alphaSigma(sigma, false);
    if (this.config.get('predict_x0')) {
      if (pt === 'epsilon') return [1 / a, -s / a];
      if (pt === 'sample') return [0, 1];
      if (pt === 'v_prediction') return [a, -s];
    } else {
      if (pt === 'epsilon') return [0, 1];
      if (pt === 'sample') return [1 / s, -a / s];
      if (pt === 'v_prediction') return [s, a];
    }
    throw new TesseraError('UNSUPPORTED', `UniPCMultistepScheduler: prediction_type "${pt}"`);
  }

  #lambda(j: number): number {
    const [a, s] = alphaSigma(this.sigmas[j]!, false);
    return Math.log(a) - Math.log(s);
  }

  /**
   * x_t = c_x·x + c_m·m₀ − c_B·(Σ ρ_k (m_k − m₀)/r_k [+ ρ_last (model_t − m₀)]) as one lincomb.
   * `t` and `s0` are σ indices; `earlier[k]` is the σ index of m_{k+1}.
   */
  #uniUpdate(x: Tensor, t: number, s0: number, p: number, corrector: Tensor | null): Tensor {
    const predictX0 = this.config.get('predict_x0') as boolean;
    const [aT, sT] = alphaSigma(this.sigmas[t]!, false);
    const [aS0, sS0] = alphaSigma(this.sigmas[s0]!, false);
    const h = this.#lambda(t) - this.#lambda(s0);
    const ls0 = this.#lambda(s0);
    const rks: number[] = [];
    const L = this.#outputs.length;
    const m = (k: number) => this.#outputs.get(L - 1 - k)!;
    for (let k = 1; k < p; k++) rks.push((this.#lambda(s0 - k) - ls0) / h);
    rks.push(1);
    const { hPhi1, Bh, R, b } = uniCoefs(h, rks, predictX0, this.config.get('solver_type'), p);
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
    checkStepInputs(op, modelOutput, sample);
    if (this.numInferenceSteps === null)
      throw new TesseraError('INVALID_ARGUMENT', `${op}: call setTimesteps() first`);
    this.#stepIndex ??=
      this.#beginIndex ?? indexForTimestep(op, t, this.timesteps, this.timesteps.length - 1);
    const i = this.#stepIndex;
    const n = this.timesteps.length;
    if (i >= n) throw new TesseraError('OUT_OF_RANGE', `${op}: no steps left`);
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
      return { prevSample, predOriginalSample: this.config.get('predict_x0') ? converted : undefined };
    });
    if (this.#lowerOrderNums < this.config.get('solver_order')) this.#lowerOrderNums++;
    this.#stepIndex = i + 1;
    return out;
  }

  /** α_t·x₀ + σ_t·noise at the timestep's σ (diffusers `add_noise`). */
  addNoise(x0: Tensor, noise: Tensor, t: number | readonly number[]): Tensor {
    return solverAddNoise(
      x0,
      noise,
      t,
      this,
      this.#beginIndex === null ? null : (this.#stepIndex ?? this.#beginIndex),
      false,
    );
  }

  /** Frees the stored model outputs and last sample (also done by `setTimesteps`). */
  dispose(): void {
    this.#outputs.clear();
    this.#last.clear();
  }
}
