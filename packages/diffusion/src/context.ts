import {
  type Backend,
  check,
  fmtShape,
  isTensor,
  pacer,
  RunScope,
  scope,
  type Tensor,
  tensorWatermark,
  throwIfAborted,
  YIELD_INTERVAL_MS,
} from '@tessera/core';
import { brownianTreeNoiseSampler } from './noise.js';
import { churn } from './samplers/churn.js';
import type { NoiseSampler, SampleOptions } from './types.js';

/**
 * Noise draws reserved per step in a run's Philox stream (a step may draw up to this many; step i,
 * draw j starts at word 2·size·(8i + j): {@link stepNoiseOffset}).
 */
export const DRAWS_PER_STEP = 8;

/**
 * Philox offset of noise draw `draw` of step `step` in a run on samples of `size` elements: the layout
 * `sample` draws from, so another solver (e.g. @tessera/parallel-sampling) can reproduce its noise.
 */
export function stepNoiseOffset(size: number, step: number, draw: number): number {
  return 2 * size * (DRAWS_PER_STEP * step + draw);
}

/**
 * The runtime a sampler function works against: validated sigmas, the denoiser call with progress
 * reporting, noise, fused linear combinations, and tensors carried across steps.
 *
 * A run owns its tensors explicitly (a {@link RunScope} per step plus the carried ones), never through
 * the global scope stack, so any number of runs interleave on one backend. Every tensor a sampler makes
 * goes through `lc`, `randn`, `noise`, `model` or `churn`, which record it for the current step.
 */
export class SampleContext {
  readonly backend: Backend;
  readonly sigmas: Float64Array;
  readonly steps: number;
  readonly opts: SampleOptions;
  readonly seed: number;
  readonly #x0: Tensor;
  readonly #carried = new Map<string, Tensor>();
  readonly #retired = new Set<Tensor>();
  /** Tensors made during the current step (disposed when it ends unless returned or carried). */
  readonly #stepOwned = new RunScope();
  #noise: NoiseSampler | undefined;
  #ownNoise: { dispose(): void } | undefined;
  #step = 0;
  #draw = 0;
  #reported = false;

  constructor(opts: SampleOptions, defaultNoise: 'philox' | 'brownian') {
    const { x, denoiser } = opts;
    check(
      typeof denoiser === 'function',
      'INVALID_ARGUMENT',
      `sample: denoiser must be a function, got ${typeof denoiser}`,
    );
    check(x && typeof x === 'object' && 'shape' in x, 'INVALID_ARGUMENT', 'sample: x must be a Tensor');
    check(
      x.dtype === 'float32',
      'DTYPE_MISMATCH',
      () => `sample: x must be float32, got ${x.dtype} ${fmtShape(x.shape)}`,
    );
    check(!x.isDisposed, 'DISPOSED', `sample: x (tensor #${x.id}) was disposed`);
    const s = Float64Array.from(opts.sigmas ?? []);
    check(s.length >= 1, 'INVALID_ARGUMENT', 'sample: sigmas must hold at least one value');
    for (let i = 0; i < s.length; i++) {
      check(
        Number.isFinite(s[i]!) && s[i]! >= 0,
        'INVALID_ARGUMENT',
        () => `sample: sigmas[${i}] must be finite and ≥ 0, got ${s[i]}`,
      );
      if (i > 0) {
        check(
          s[i]! < s[i - 1]!,
          'INVALID_ARGUMENT',
          () =>
            `sample: sigmas must be strictly descending, got sigmas[${i - 1}]=${s[i - 1]}, sigmas[${i}]=${s[i]}`,
        );
      }
    }
    check(s.length < 2 || s[0]! > 0, 'INVALID_ARGUMENT', 'sample: sigmas[0] must be positive');
    const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 32);
    check(
      Number.isSafeInteger(seed) && seed >= 0,
      'INVALID_ARGUMENT',
      `sample: seed must be a non-negative safe integer, got ${seed}`,
    );
    this.backend = x.backend;
    this.sigmas = s;
    this.steps = s.length - 1;
    this.opts = opts;
    this.seed = seed;
    this.#x0 = x;
    const ns = opts.noiseSampler ?? defaultNoise;
    if (typeof ns === 'function') this.#noise = ns;
    else if (ns === 'brownian') {
      const pos = [...s].filter((v) => v > 0);
      const lo = Math.min(...pos);
      const hi = Math.max(...pos);
      if (hi > lo) {
        const ns = brownianTreeNoiseSampler(x, lo, hi, seed);
        this.#noise = ns;
        this.#ownNoise = ns;
      }
    } else {
      check(
        ns === 'philox',
        'INVALID_ARGUMENT',
        `sample: noiseSampler must be 'philox', 'brownian' or a function, got ${String(ns)}`,
      );
    }
  }

  /** Fused Σ cᵢ·xᵢ on the sample's backend. */
  lc(coefs: readonly number[], xs: readonly Tensor[]): Tensor {
    return this.#stepOwned.own(this.backend.lincomb(coefs, xs));
  }

  /**
   * Calls user code that returns a fresh tensor (a denoiser, a noise sampler): tensors it creates
   * synchronously are freed except its result, and the result is owned by the step. A result that
   * existed before the call (the input itself, a cached constant) is copied, never disposed.
   */
  async #fresh(call: () => Tensor | Promise<Tensor>): Promise<Tensor> {
    const mark = tensorWatermark();
    const t = await scope(call);
    return isTensor(t) && t.id > mark ? this.#stepOwned.own(t) : t;
  }

  #freshSync(call: () => Tensor): Tensor {
    const mark = tensorWatermark();
    const t = scope(call);
    return isTensor(t) && t.id > mark ? this.#stepOwned.own(t) : t;
  }

  /** Standard normal draw from the Philox stream at a step-dependent offset. */
  randn(): Tensor {
    const shape = this.#x0.shape;
    const size = this.#x0.size;
    check(this.#draw < DRAWS_PER_STEP, 'OUT_OF_RANGE', 'sample: too many noise draws in one step');
    const offset = stepNoiseOffset(size, this.#step, this.#draw++);
    return this.#stepOwned.own(this.backend.randn(shape, { seed: this.seed, offset }));
  }

  /** Noise for the interval (sigma → sigmaNext) from the configured noise sampler. */
  noise(sigma: number, sigmaNext: number): Tensor {
    if (!this.#noise) return this.randn();
    const ns = this.#noise;
    const z = this.#freshSync(() => ns(sigma, sigmaNext));
    this.#checkOut('noiseSampler', z);
    return this.#stepOwned.has(z) ? z : this.lc([1], [z]);
  }

  #checkOut(what: string, t: Tensor): void {
    const x = this.#x0;
    check(
      t && typeof t === 'object' && 'shape' in t,
      'INVALID_ARGUMENT',
      `sample: ${what} must return a Tensor`,
    );
    check(
      t.shape.length === x.shape.length && t.shape.every((d, i) => d === x.shape[i]),
      'SHAPE_MISMATCH',
      () => `sample: ${what} returned shape ${fmtShape(t.shape)}, expected ${fmtShape(x.shape)}`,
    );
    check(
      t.backend === this.backend,
      'BACKEND_MISMATCH',
      () => `sample: ${what} returned a tensor on '${t.backend.name}', expected '${this.backend.name}'`,
    );
  }

  /** Calls the denoiser at (x, sigma). The first call of a step also fires the progress callback. */
  async model(x: Tensor, sigma: number, sigmaHat = sigma): Promise<Tensor> {
    const { denoiser, cond } = this.opts;
    let d = await this.#fresh(() => denoiser(x, sigmaHat, cond));
    this.#checkOut('denoiser', d);
    // The step owns what the denoiser made; a tensor that existed before the call is copied instead.
    if (!this.#stepOwned.has(d)) d = this.lc([1], [d]);
    if (!this.#reported) {
      this.#reported = true;
      const cb = this.opts.callback;
      if (cb) {
        const i = this.#step;
        await cb({
          step: i,
          total: this.steps,
          sigma,
          sigmaNext: this.sigmas[i + 1]!,
          sigmaHat,
          x,
          denoised: d,
        });
      }
    }
    return d;
  }

  /**
   * Keeps `t` alive across steps under `key` (undefined: forget the key). What was kept there before
   * stays valid until the current step ends, then is disposed unless still carried. Everything carried
   * is disposed when the run ends.
   */
  carry(key: string, t: Tensor | undefined): void {
    const old = this.#carried.get(key);
    if (t) {
      this.#stepOwned.release(t);
      this.#carried.set(key, t);
    } else this.#carried.delete(key);
    if (old && old !== t) this.#retired.add(old);
  }

  #retire(): void {
    const live = new Set(this.#carried.values());
    for (const t of this.#retired) if (!live.has(t)) t.dispose();
    this.#retired.clear();
  }

  /** A carried tensor. */
  get(key: string): Tensor | undefined {
    return this.#carried.get(key);
  }

  /**
   * Churn (Karras et al. Algorithm 2): raises σ to σ̂ = σ(1 + γ) with fresh noise when s_tmin ≤ σ ≤ s_tmax.
   */
  churn(i: number, x: Tensor): { x: Tensor; sigmaHat: number } {
    const { sigmaHat, noiseStd } = churn(this.sigmas[i]!, this.steps, this.opts);
    if (noiseStd === 0) return { x, sigmaHat };
    return { x: this.lc([1, noiseStd], [x, this.randn()]), sigmaHat };
  }

  /**
   * Runs `body` once per step, passing the current sample and taking the next one; what the step made
   * is freed when it ends, except the next sample and carried tensors. Before every step it yields to
   * the event loop when a few tens of milliseconds have passed since the last yield, then checks the
   * abort signal, so an abort fired from a timer stops the run before the next step. Returns a fresh
   * tensor the caller owns.
   */
  async loop(body: (i: number, x: Tensor) => Promise<Tensor>): Promise<Tensor> {
    let cur = this.#x0;
    const pace = pacer(YIELD_INTERVAL_MS, this.backend);
    const signal = this.opts.signal;
    try {
      for (let i = 0; i < this.steps; i++) {
        await pace();
        throwIfAborted(signal, `sample: aborted before step ${i + 1} of ${this.steps}`);
        this.#step = i;
        this.#draw = 0;
        this.#reported = false;
        const input = cur;
        let next = await body(i, input);
        const carried = new Set(this.#carried.values());
        if (carried.has(next) || next === this.#x0) next = this.lc([1], [next]);
        this.#stepOwned.release(next);
        this.#stepOwned.dispose();
        this.#retire();
        if (input !== this.#x0 && input !== next && !carried.has(input)) input.dispose();
        cur = next;
      }
      if (cur === this.#x0) cur = this.lc([1], [cur]);
      this.#stepOwned.release(cur);
      return cur;
    } catch (e) {
      if (cur !== this.#x0 && ![...this.#carried.values()].includes(cur)) cur.dispose();
      throw e;
    } finally {
      this.#stepOwned.dispose();
      for (const t of this.#carried.values()) this.#retired.add(t);
      this.#carried.clear();
      this.#retire();
      this.#ownNoise?.dispose();
    }
  }
}
