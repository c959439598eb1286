// The machinery both solvers share: validation, the trajectory buffer, the steps' Philox noise, and
// the batched evaluation of a window of steps (one denoiser call per stage for all of its steps).
import { type Backend, check, fmtShape, isTensor, type Tensor, TesseraError } from '@tessera/core';
import {
  asRowDenoiser,
  DRAWS_PER_STEP,
  isRowDenoiser,
  type RowDenoiser,
  stepNoiseOffset,
} from '@tessera/diffusion';
import { isSchedulerOptions, SchedulerStepper } from './schedulers.js';
import { type StepSpec, stepBuilder, stepVariances, type Term } from './steps.js';
import type { ParallelOptions, ParallelResult, RoundInfo, SchedulerParallelOptions } from './types.js';

/** Validated options and the state of one run. Everything it allocates it disposes in `close`. */
export class Run {
  readonly B: Backend;
  readonly sigmas: Float64Array;
  readonly steps: number;
  readonly n: number;
  readonly dim: number;
  readonly window: number;
  readonly tol: number;
  readonly atol: number;
  readonly maxRounds: number;
  readonly seed: number;
  readonly variances: Float64Array;
  readonly spec: StepSpec[];
  readonly denoiser: RowDenoiser;
  readonly opts: ParallelOptions | SchedulerParallelOptions;
  /** With a diffusers scheduler: its steps (instead of `spec`) and the model calls they need. */
  readonly stepper: SchedulerStepper | undefined;
  /** Whether traj holds variance-preserving samples (the VP schedulers) rather than x = x₀ + σε. */
  readonly vpFrame: boolean;
  /** Entries traj[begin − keepBack … begin − 1] stay alive for the stepper's history replay. */
  readonly keepBack: number;
  /** traj[i]: the current guess of x at sigmas[i] (owned, except traj[0] which is opts.x). */
  readonly traj: (Tensor | undefined)[];
  readonly #noise = new Map<number, Tensor>();
  readonly #condByM = new Map<number, unknown>();
  readonly #rowCapable: boolean;
  readonly #condTensors: Tensor[] = [];
  readonly #history: boolean;
  /** Denoised estimates of the last round, by step (multistep samplers read the previous step's). */
  #dens = new Map<number, Tensor>();
  rounds = 0;
  evaluations = 0;
  batchedCalls = 0;
  largestBatch = 0;
  readonly residuals: number[] = [];

  constructor(
    op: string,
    opts: ParallelOptions | SchedulerParallelOptions,
    defaultTol: number,
    defaultAtol = 0,
    windowCap = 32,
  ) {
    const { x } = opts;
    const sched = isSchedulerOptions(opts);
    if (!sched)
      check(
        typeof opts.denoiser === 'function',
        'INVALID_ARGUMENT',
        `${op}: denoiser must be a function, got ${typeof opts.denoiser}`,
      );
    check(isTensor(x), 'INVALID_ARGUMENT', `${op}: x must be a Tensor`);
    check(
      x.dtype === 'float32' && x.rank >= 2,
      'SHAPE_MISMATCH',
      () => `${op}: x must be a float32 [n, ...] batch, got ${x.dtype} ${fmtShape(x.shape)}`,
    );
    check(!x.isDisposed, 'DISPOSED', `${op}: x (tensor #${x.id}) was disposed`);
    const stepper = sched ? new SchedulerStepper(op, opts, this) : undefined;
    const s = stepper ? stepper.sigmas : Float64Array.from((opts as ParallelOptions).sigmas ?? []);
    check(s.length >= 2, 'INVALID_ARGUMENT', `${op}: sigmas must hold at least two values, got ${s.length}`);
    for (let i = 0; i < s.length; i++) {
      check(
        Number.isFinite(s[i]!) && s[i]! >= 0,
        'INVALID_ARGUMENT',
        () => `${op}: sigmas[${i}] must be finite and ≥ 0, got ${s[i]}`,
      );
      if (i > 0 && !stepper)
        check(
          s[i]! < s[i - 1]!,
          'INVALID_ARGUMENT',
          () =>
            `${op}: sigmas must be strictly descending, got sigmas[${i - 1}]=${s[i - 1]}, sigmas[${i}]=${s[i]}`,
        );
    }
    const T = s.length - 1;
    const window = opts.window ?? Math.min(T, windowCap);
    check(
      Number.isInteger(window) && window >= 1,
      'INVALID_ARGUMENT',
      `${op}: window must be an integer ≥ 1, got ${window}`,
    );
    const tol = opts.tol ?? defaultTol;
    check(
      Number.isFinite(tol) && tol > 0,
      'INVALID_ARGUMENT',
      `${op}: tol must be finite and > 0, got ${tol}`,
    );
    const atol = opts.atol ?? defaultAtol;
    check(
      Number.isFinite(atol) && atol >= 0,
      'INVALID_ARGUMENT',
      `${op}: atol must be finite and ≥ 0, got ${atol}`,
    );
    const maxRounds = opts.maxRounds ?? T;
    check(
      Number.isInteger(maxRounds) && maxRounds >= 1,
      'INVALID_ARGUMENT',
      `${op}: maxRounds must be an integer ≥ 1, got ${maxRounds}`,
    );
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    check(
      Number.isSafeInteger(seed) && seed >= 0,
      'INVALID_ARGUMENT',
      `${op}: seed must be a non-negative safe integer, got ${seed}`,
    );
    const build = sched
      ? undefined
      : stepBuilder((opts as ParallelOptions).sampler, s, opts as ParallelOptions);
    this.B = x.backend;
    this.sigmas = s;
    this.steps = T;
    this.n = x.shape[0]!;
    this.dim = x.size / this.n;
    this.window = Math.min(window, T);
    this.tol = tol;
    this.atol = atol;
    this.maxRounds = maxRounds;
    this.seed = seed;
    this.variances = stepVariances(s);
    this.spec = build ? Array.from({ length: T }, (_, i) => build(i)) : [];
    this.stepper = stepper;
    this.vpFrame = stepper?.vpFrame ?? false;
    this.keepBack = stepper?.replay ?? 0;
    this.#rowCapable = stepper ? stepper.rowCapable : isRowDenoiser((opts as ParallelOptions).denoiser);
    this.denoiser = stepper ? stepper.denoiser : asRowDenoiser((opts as ParallelOptions).denoiser);
    this.opts = opts;
    this.traj = new Array(T + 1).fill(undefined);
    this.traj[0] = x;
    this.#history = this.spec.some((sp) => sp.out.some(([t]) => t === 'prev'));
  }

  #lastYield = performance.now();

  /**
   * Yields to the event loop (a macrotask) when more than 30 ms have passed since the last yield, so
   * a long run on a synchronous backend does not starve timers, I/O or other runs.
   */
  async breathe(): Promise<void> {
    if (performance.now() - this.#lastYield < 30) return;
    await new Promise<void>((resolve) => setTimeout(resolve, 0));
    this.#lastYield = performance.now();
  }

  /** Throws ABORTED when the signal has fired. */
  checkAbort(op: string): void {
    const sig = this.opts.signal;
    if (sig?.aborted) {
      throw new TesseraError('ABORTED', `${op}: aborted before round ${this.rounds + 1}`, {
        cause: sig.reason,
      });
    }
  }

  /**
   * Makes traj[1..end] defined: missing entries take `init[j]` when given, else the previous entry
   * rescaled by √(1+σⱼ²)/√(1+σⱼ₋₁²) — a copy in the variance-preserving frame, which is how ParaDiGMS
   * and ParaTAA initialise (they copy VP latents).
   */
  fill(end: number, init?: readonly Tensor[]): void {
    for (let j = 1; j <= end; j++) {
      if (this.traj[j]) continue;
      const w = init?.[j];
      if (w) {
        check(
          isTensor(w) &&
            w.shape.length === this.traj[0]!.shape.length &&
            w.shape.every((d, k) => d === this.traj[0]!.shape[k]),
          'SHAPE_MISMATCH',
          () => `winit[${j}] must have x's shape ${fmtShape(this.traj[0]!.shape)}`,
        );
        this.traj[j] = this.B.lincomb([1], [w]);
      } else {
        // a copy in the variance-preserving frame x/√(1+σ²), where upstream copies its latents
        const s0 = this.sigmas[j - 1]!;
        const s1 = this.sigmas[j]!;
        const c = this.vpFrame ? 1 : Math.sqrt((1 + s1 * s1) / (1 + s0 * s0));
        this.traj[j] = this.B.lincomb([c], [this.traj[j - 1]!]);
      }
    }
  }

  /** Philox draw `draw` of step i: the words the sequential sampler draws (context.ts layout). */
  noise(i: number, draw: number): Tensor {
    const key = i * DRAWS_PER_STEP + draw;
    let z = this.#noise.get(key);
    if (!z) {
      const x = this.traj[0]!;
      z = this.B.randn(x.shape, { seed: this.seed, offset: stepNoiseOffset(x.size, i, draw) });
      this.#noise.set(key, z);
    }
    return z;
  }

  /** Frees the noise of steps before `begin` and the trajectory before it (unless kept). */
  release(begin: number): void {
    for (const [k, z] of this.#noise) {
      if (Math.floor(k / DRAWS_PER_STEP) < begin) {
        z.dispose();
        this.#noise.delete(k);
      }
    }
    if (this.opts.keepTrajectory) return;
    for (let j = 1; j < begin - this.keepBack; j++) {
      this.traj[j]?.dispose();
      this.traj[j] = undefined;
    }
  }

  /**
   * `cond` for a batch of m steps (m·n rows): per-image parts repeated m times — a tensor whose first
   * dimension is n, an array or typed array of length n (e.g. class labels; row-capable denoisers
   * only), and such values one level down in a plain object (e.g. `{ classLabels: [3, 8],
   * guidanceScale: 2 }`); anything else as is.
   */
  #cond(m: number): unknown {
    const c = this.opts.cond;
    if (m === 1) return c;
    let out = this.#condByM.get(m);
    if (out === undefined && !this.#condByM.has(m)) {
      const rep = (v: unknown): unknown => {
        if (isTensor(v)) {
          if (v.rank < 1 || v.shape[0] !== this.n) return v;
          const t = this.B.concat(new Array<Tensor>(m).fill(v), 0);
          this.#condTensors.push(t);
          return t;
        }
        // arrays only for a row-capable denoiser: asRowDenoiser's per-σ calls take n rows and pass a
        // non-tensor cond whole
        if (this.#rowCapable && (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView)))) {
          const a = v as ArrayLike<unknown>;
          if (a.length !== this.n) return v;
          return Array.from({ length: m * this.n }, (_, r) => a[r % this.n]);
        }
        return v;
      };
      const plain =
        c !== null && typeof c === 'object' && !isTensor(c) && Object.getPrototypeOf(c) === Object.prototype;
      out = plain
        ? Object.fromEntries(Object.entries(c as Record<string, unknown>).map(([k, v]) => [k, rep(v)]))
        : rep(c);
      this.#condByM.set(m, out);
    }
    return out;
  }

  /**
   * One batched denoiser call on the given samples (each [n, ...]) at per-sample σ (for a scheduler
   * run: per-sample timestep). Returns fresh tensors.
   */
  async call(xs: Tensor[], sig: number[]): Promise<Tensor[]> {
    const B = this.B;
    const m = xs.length;
    const rows = m * this.n;
    const input = m === 1 ? xs[0]! : B.concat(xs, 0);
    const sigma =
      m === 1 ? sig[0]! : Float64Array.from({ length: rows }, (_, r) => sig[Math.floor(r / this.n)]!);
    let out: Tensor;
    try {
      out = await this.denoiser(input, sigma, this.#cond(m));
    } finally {
      if (input !== xs[0]) input.dispose();
    }
    check(
      isTensor(out) &&
        out.shape.length === input.shape.length &&
        out.shape.every((d, k) => d === input.shape[k]),
      'SHAPE_MISMATCH',
      () =>
        `parallel sampling: the denoiser returned ${isTensor(out) ? fmtShape(out.shape) : String(out)}, expected ${fmtShape(input.shape)}`,
    );
    this.batchedCalls++;
    this.evaluations += m;
    this.largestBatch = Math.max(this.largestBatch, rows);
    if (m === 1) return [out === xs[0] ? B.lincomb([1], [out]) : out];
    const rest = out.shape.slice(1);
    const parts = xs.map((_, k) => B.slice(out, [k * this.n, ...rest.map(() => 0)], [this.n, ...rest]));
    out.dispose();
    return parts;
  }

  /**
   * F_i(x_i) for every step i in [begin, end) from inputs xs[i − begin]: one batched denoiser call per
   * stage. Returns fresh tensors (the caller disposes them).
   */
  async evaluate(begin: number, xs: readonly Tensor[]): Promise<Tensor[]> {
    if (this.stepper) return this.stepper.evaluate(begin, xs);
    const B = this.B;
    const m = xs.length;
    const specs = this.spec.slice(begin, begin + m);
    const temps: Tensor[] = [];
    try {
      const xh = specs.map((sp, k) => {
        if (!sp.churn) return xs[k]!;
        const t = B.lincomb([1, sp.churn], [xs[k]!, this.noise(begin + k, 0)]);
        temps.push(t);
        return t;
      });
      const den = await this.call(
        xh,
        specs.map((sp) => sp.sigma1),
      );
      temps.push(...den);
      const two = specs.map((sp, k) => (sp.mid ? k : -1)).filter((k) => k >= 0);
      const x2: (Tensor | undefined)[] = new Array(m).fill(undefined);
      const den2: (Tensor | undefined)[] = new Array(m).fill(undefined);
      if (two.length) {
        for (const k of two) {
          const t = B.lincomb(specs[k]!.mid!.coefs, [xh[k]!, den[k]!]);
          temps.push(t);
          x2[k] = t;
        }
        const d2 = await this.call(
          two.map((k) => x2[k]!),
          two.map((k) => specs[k]!.mid!.sigma),
        );
        temps.push(...d2);
        two.forEach((k, j) => {
          den2[k] = d2[j]!;
        });
      }
      const prev = (k: number): Tensor => {
        const d = k > 0 ? den[k - 1] : this.#dens.get(begin - 1);
        check(!!d, 'OUT_OF_RANGE', () => `parallel sampling: no denoised estimate of step ${begin + k - 1}`);
        return d!;
      };
      const out = specs.map((sp, k) => {
        const pick = (t: Term): Tensor =>
          t === 'x'
            ? xh[k]!
            : t === 'den'
              ? den[k]!
              : t === 'x2'
                ? x2[k]!
                : t === 'den2'
                  ? den2[k]!
                  : t === 'prev'
                    ? prev(k)
                    : this.noise(begin + k, sp.noiseDraw);
        return B.lincomb(
          sp.out.map(([, c]) => c),
          sp.out.map(([t]) => pick(t)),
        );
      });
      if (this.#history) {
        // keep this round's denoised estimates (the next window starts inside this one)
        for (const d of this.#dens.values()) d.dispose();
        this.#dens = new Map(den.map((d, k) => [begin + k, d] as const));
        den.length = 0;
      }
      return out;
    } finally {
      const kept = new Set(this.#dens.values());
      for (const t of temps) if (!kept.has(t)) t.dispose();
    }
  }

  /** Frees the kept denoised estimates except the one step `begin` − 1's history needs. */
  keepHistory(begin: number): void {
    this.stepper?.keepHistory(begin);
    for (const [k, d] of this.#dens) {
      if (k !== begin - 1) {
        d.dispose();
        this.#dens.delete(k);
      }
    }
  }

  /**
   * Per step and image, ‖d‖² over the image's values, for each tensor of `ds` (each [n, ...]): one
   * reduction on the device, one host read (the round's only readback). Returns [k·n + image].
   */
  async sumsq(ds: readonly Tensor[], extra?: Tensor): Promise<{ norms: Float64Array; extra?: Float64Array }> {
    const B = this.B;
    const cat = ds.length === 1 ? ds[0]! : B.concat(ds, 0);
    const flat = B.reshape(cat, [ds.length * this.n, this.dim]);
    const ss = B.reduce('sumsq', flat, 1);
    let all = ss;
    if (extra) {
      const e = B.reshape(extra, [extra.size]);
      all = B.concat([ss, e], 0);
      e.dispose();
    }
    const data = await all.data();
    for (const t of new Set([flat, ss, all])) t.dispose();
    if (cat !== ds[0]) cat.dispose();
    const k = ds.length * this.n;
    return {
      norms: Float64Array.from(data.subarray(0, k)),
      extra: extra ? Float64Array.from(data.subarray(k)) : undefined,
    };
  }

  /**
   * Normalised errors of outputs j = begin + 1 + k from their squared norms: per image
   * min(‖d‖²/(D·v·tol²), ‖d‖²/(D·(1 + σⱼ²)·atol²)), max over images; a step passes at ≤ 1. v is the
   * variance of the step that produced output j (vⱼ₋₁, ParaTAA's `noise_thr[t]`) or, with `next`, of the
   * step that starts from it (vⱼ, ParaDiGMS' `inverse_variance_norm[j]`; the last output, which upstream
   * scales by 1/0 so that it never passes, takes v_{T−1}: a failing last output ends the run either way).
   */
  ratios(begin: number, norms: Float64Array, count: number, next = false): number[] {
    const out: number[] = [];
    const t2 = this.tol * this.tol;
    const a2 = this.atol * this.atol;
    for (let k = 0; k < count; k++) {
      const sj = this.sigmas[begin + k + 1]!;
      const v = this.variances[next ? Math.min(begin + k + 1, this.steps - 1) : begin + k]!;
      // errors are judged in the x = x₀ + σε frame: a VP sample's error is 1/√(1+σ²) of it
      const frame = this.vpFrame ? 1 + sj * sj : 1;
      let worst = 0;
      for (let b = 0; b < this.n; b++) {
        const ms = (norms[k * this.n + b]! * frame) / this.dim;
        const rel = ms / (v * t2);
        const abs = a2 > 0 ? ms / ((1 + sj * sj) * a2) : Number.POSITIVE_INFINITY;
        const r = Math.min(rel, abs);
        worst = Number.isNaN(r) ? Number.POSITIVE_INFINITY : Math.max(worst, r);
      }
      out.push(worst);
    }
    return out;
  }

  /** Records a round and fires the callback. */
  async report(info: Omit<RoundInfo, 'round' | 'total' | 'evaluations' | 'x'>): Promise<void> {
    this.rounds++;
    this.residuals.push(info.residual);
    const cb = this.opts.callback;
    if (cb)
      await cb({
        ...info,
        round: this.rounds,
        total: this.steps,
        evaluations: this.evaluations,
        x: this.traj[info.end]!,
      });
  }

  /** Builds the result and frees everything else. */
  finish(converged: boolean): ParallelResult {
    let last = this.steps;
    while (last > 0 && !this.traj[last]) last--;
    const x = this.B.lincomb([1], [this.traj[last]!]);
    let trajectory: Tensor[] | undefined;
    if (this.opts.keepTrajectory) {
      trajectory = [this.B.lincomb([1], [this.traj[0]!])];
      for (let j = 1; j <= last; j++) {
        trajectory.push(this.traj[j]!);
        this.traj[j] = undefined;
      }
    }
    this.close();
    return {
      x,
      rounds: this.rounds,
      evaluations: this.evaluations,
      batchedCalls: this.batchedCalls,
      largestBatch: this.largestBatch,
      residuals: this.residuals,
      converged,
      steps: this.steps,
      tol: this.tol,
      atol: this.atol,
      trajectory,
    };
  }

  /** Squared-norm factor that takes output j's error into the variance-preserving frame x/√(1+σ²). */
  vpFactor(j: number): number {
    const s = this.sigmas[j]!;
    return this.vpFrame ? 1 : 1 / (1 + s * s);
  }

  /** Frees the noise, the cond copies and every trajectory tensor still held. */
  close(): void {
    this.stepper?.close();
    for (const z of this.#noise.values()) z.dispose();
    this.#noise.clear();
    for (const c of this.#condTensors) c.dispose();
    this.#condTensors.length = 0;
    this.#condByM.clear();
    for (const d of this.#dens.values()) d.dispose();
    this.#dens.clear();
    for (let j = 1; j < this.traj.length; j++) this.traj[j]?.dispose();
    this.traj.fill(undefined, 1);
  }
}

/** Smallest k with r[k] > 1 (r normalised by the tolerance; NaN fails), or r.length when none. */
export function firstFailing(r: readonly number[]): number {
  for (let k = 0; k < r.length; k++) if (!(r[k]! <= 1)) return k;
  return r.length;
}
