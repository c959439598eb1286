// The diffusers-API schedulers of @tessera/diffusion as the parallel solvers' step: each round steps a
// fresh copy of the scheduler over the window (after replaying the multistep history), so every step
// is the scheduler's own arithmetic and its own noise draws.
import { check, isTensor, type Tensor, TesseraError } from '@tessera/core';
import {
  asRowDenoiser,
  type ConfigInput,
  type RowDenoiser,
  rowDenoiser,
  type Scheduler,
  type TimestepModel,
} from '@tessera/diffusion';
import type { Run } from './engine.js';
import type { ParallelOptions, SchedulerParallelOptions } from './types.js';

/**
 * The diffusers scheduler classes the parallel solvers run: each step is a function of the sample,
 * the model output at it, the timestep and the step's own noise, and for the multistep solvers also of
 * earlier steps, which the solvers treat as part of the fixed point: DPMSolverMultistep reads the
 * model outputs of the last `solver_order` steps (replayed before each window), UniPCMultistep also
 * its corrected previous sample, which chains back to the first step (the whole solved prefix is
 * replayed before each window: O(steps) cheap scheduler steps per round, no model calls).
 */
export const PARALLEL_SCHEDULERS = [
  'DDIMScheduler',
  'DDPMScheduler',
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'LCMScheduler',
  'DPMSolverMultistepScheduler',
  'UniPCMultistepScheduler',
] as const;

/** A scheduler class name accepted by `paradigms` and `parataa` (see {@link PARALLEL_SCHEDULERS}). */
export type ParallelSchedulerName = (typeof PARALLEL_SCHEDULERS)[number];

/** Classes whose samples are x = x₀ + σε (the others keep variance-preserving samples). */
const VE_CLASSES = new Set(['EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler']);

/** Whether the options name a scheduler (rather than `sampler` + `sigmas`). */
export function isSchedulerOptions(
  o: ParallelOptions | SchedulerParallelOptions,
): o is SchedulerParallelOptions {
  return o !== null && typeof o === 'object' && 'scheduler' in o && o.scheduler !== undefined;
}

type SchedulerClass = new (config: ConfigInput) => Scheduler;

/**
 * The steps of a diffusers scheduler for a {@link Run}: σ of every point of the grid (for the
 * tolerances), the model as a row-batched callable, and `evaluate`.
 */
export class SchedulerStepper {
  readonly sigmas: Float64Array;
  readonly timesteps: Float64Array;
  readonly vpFrame: boolean;
  /** Steps replayed before the window to rebuild the scheduler's history (0 for step-local ones). */
  readonly replay: number;
  readonly denoiser: RowDenoiser;
  readonly rowCapable: boolean;
  readonly #run: Run;
  readonly #cls: SchedulerClass;
  readonly #config: ConfigInput;
  readonly #n: number;
  readonly #stepOptions: Record<string, unknown>;
  /** Philox offset of the generator before step i (known up to the furthest step taken). */
  readonly #offsets: number[];
  /** Model outputs by step, kept for the history replay. */
  readonly #outputs = new Map<number, Tensor>();
  /** Per-step copies for `scaleModelInput` (its scaling reads the copy's step index). */
  readonly #scalers = new Map<number, Scheduler>();

  constructor(op: string, opts: SchedulerParallelOptions, run: Run) {
    const s = opts.scheduler;
    const name = (s as Partial<Scheduler> | null)?.config?.className;
    check(
      s !== null &&
        typeof s === 'object' &&
        typeof s.step === 'function' &&
        typeof s.setTimesteps === 'function' &&
        typeof name === 'string',
      'INVALID_ARGUMENT',
      () => `${op}: scheduler must be a diffusers-API Scheduler of @tessera/diffusion, got ${typeof s}`,
    );
    if (!(PARALLEL_SCHEDULERS as readonly string[]).includes(name!))
      throw new TesseraError(
        'UNSUPPORTED',
        `${op}: the parallel solvers cannot run ${name} (its step is not a function of the sample, the model output and the step's noise); supported: ${PARALLEL_SCHEDULERS.join(', ')}`,
      );
    const n = s.numInferenceSteps;
    check(
      n !== null && n !== undefined,
      'INVALID_ARGUMENT',
      () =>
        `${op}: ${name} has no inference grid of n steps: call scheduler.setTimesteps(n) before passing it (custom timesteps are not supported)`,
    );
    check(
      typeof opts.model === 'function',
      'INVALID_ARGUMENT',
      () =>
        `${op}: model must be a function (sample, timestep, cond) → model output, got ${typeof opts.model}`,
    );
    const so = opts.stepOptions ?? {};
    check(
      so !== null && typeof so === 'object' && !('generator' in so) && !('varianceNoise' in so),
      'INVALID_ARGUMENT',
      () =>
        `${op}: stepOptions must be a plain object without generator or varianceNoise (the noise comes from seed), got ${JSON.stringify(Object.keys(so ?? {}))}`,
    );
    this.#cls = s.constructor as SchedulerClass;
    this.#config = s.config;
    this.#n = n!;
    // the copies every round steps must have the scheduler's grid
    const probe = this.#fresh();
    try {
      const a = Array.from(probe.timesteps);
      const b = Array.from(s.timesteps);
      check(
        a.length === b.length && a.every((v, i) => v === b[i]),
        'UNSUPPORTED',
        () =>
          `${op}: ${name}'s timesteps are not what setTimesteps(${n}) gives for its config (custom timesteps, sigmas or strength are not supported by the parallel solvers)`,
      );
    } finally {
      probe.dispose();
    }
    const ts = Float64Array.from(s.timesteps);
    const T = ts.length;
    const sg = Array.from(s.sigmas).slice(0, T + 1);
    if (sg.length === T) sg.push(0);
    check(
      sg.length === T + 1 && sg.every((v) => Number.isFinite(v) && v >= 0),
      'INVALID_ARGUMENT',
      () => `${op}: ${name}'s sigmas must be ${T + 1} finite values ≥ 0`,
    );
    this.sigmas = Float64Array.from(sg);
    this.timesteps = ts;
    this.vpFrame = !VE_CLASSES.has(name!);
    const order = Number(s.config.get('solver_order' as never) ?? 1);
    this.replay =
      name === 'DPMSolverMultistepScheduler'
        ? order
        : name === 'UniPCMultistepScheduler'
          ? Number.MAX_SAFE_INTEGER
          : 0;
    this.rowCapable = opts.rowTimesteps === true;
    const model = opts.model as TimestepModel;
    // timesteps travel where the engine's σ's would: one per batch row, or one number
    this.denoiser = this.rowCapable
      ? rowDenoiser((x, t, c) => model(x, t as number, c))
      : asRowDenoiser((x: Tensor, t: number, c?: unknown) => model(x, t, c));
    this.#stepOptions = { ...so };
    this.#offsets = [0];
    this.#run = run;
  }

  /** A copy of the scheduler with the same grid and no state. */
  #fresh(): Scheduler {
    const c = new this.#cls(this.#config);
    c.setTimesteps(this.#n);
    return c;
  }

  /** The model input of step i (the scheduler's `scaleModelInput`, or `x` itself for VP schedulers). */
  #scale(i: number, x: Tensor): Tensor {
    if (this.vpFrame) return x;
    let c = this.#scalers.get(i);
    if (!c) {
      c = this.#fresh();
      c.setBeginIndex(i);
      this.#scalers.set(i, c);
    }
    return c.scaleModelInput(x, this.timesteps[i]!);
  }

  #options(i: number): Record<string, unknown> & { generator: { seed: number; offset: number } } {
    const offset = this.#offsets[i];
    check(offset !== undefined, 'OUT_OF_RANGE', () => `parallel sampling: no noise offset for step ${i}`);
    return { ...this.#stepOptions, generator: { seed: this.#run.seed, offset: offset! } };
  }

  /**
   * F_i(x_i) for every step i in [begin, end): one batched model call, then a fresh copy of the
   * scheduler (begin index at `begin − replay`) replays the history steps on their final samples and
   * kept model outputs, and steps the window in order, each step with the generator offset the
   * sequential loop reaches there. Returns fresh tensors (the caller disposes them).
   */
  async evaluate(begin: number, xs: readonly Tensor[]): Promise<Tensor[]> {
    const run = this.#run;
    const m = xs.length;
    const scaled = xs.map((x, k) => this.#scale(begin + k, x));
    let outs: Tensor[];
    try {
      outs = await run.call(scaled, Array.from(this.timesteps.subarray(begin, begin + m)));
    } finally {
      scaled.forEach((t, k) => {
        if (t !== xs[k]) t.dispose();
      });
    }
    const F: Tensor[] = [];
    const from = Math.max(0, begin - this.replay);
    const c = this.#fresh();
    try {
      c.setBeginIndex(from);
      for (let j = from; j < begin; j++) {
        const mo = this.#outputs.get(j);
        const xj = run.traj[j];
        check(
          !!mo && !!xj,
          'OUT_OF_RANGE',
          () => `parallel sampling: no model output or sample kept for step ${j}`,
        );
        const o = c.step(mo!, this.timesteps[j]!, xj!, this.#options(j));
        free(o);
      }
      for (let k = 0; k < m; k++) {
        const i = begin + k;
        const opt = this.#options(i);
        const o = c.step(outs[k]!, this.timesteps[i]!, xs[k]!, opt);
        if (o.predOriginalSample && o.predOriginalSample !== o.prevSample) o.predOriginalSample.dispose();
        F.push(o.prevSample);
        this.#offsets[i + 1] = opt.generator.offset;
      }
    } catch (e) {
      for (const t of [...F, ...outs]) t.dispose();
      throw e;
    } finally {
      c.dispose();
    }
    if (this.replay > 0) {
      outs.forEach((t, k) => {
        this.#outputs.get(begin + k)?.dispose();
        this.#outputs.set(begin + k, t);
      });
    } else for (const t of outs) t.dispose();
    return F;
  }

  /** Frees the model outputs and scaling copies the window no longer needs once it starts at `begin`. */
  keepHistory(begin: number): void {
    for (const [j, t] of this.#outputs) {
      if (j < begin - this.replay) {
        t.dispose();
        this.#outputs.delete(j);
      }
    }
    for (const [j, c] of this.#scalers) {
      if (j < begin) {
        c.dispose();
        this.#scalers.delete(j);
      }
    }
  }

  /** Frees everything held. */
  close(): void {
    for (const t of this.#outputs.values()) t.dispose();
    this.#outputs.clear();
    for (const c of this.#scalers.values()) c.dispose();
    this.#scalers.clear();
  }
}

function free(o: { prevSample: Tensor; predOriginalSample?: Tensor }): void {
  if (isTensor(o.predOriginalSample) && o.predOriginalSample !== o.prevSample) o.predOriginalSample.dispose();
  o.prevSample.dispose();
}
