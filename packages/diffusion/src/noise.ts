import { type Backend, check, keep, type Shape, type Tensor } from '@tessera/core';
import type { NoiseSampler } from './types.js';

/**
 * A noise sampler that draws fresh standard normals from the Philox stream of `seed`, one block of
 * `2·size` words per call (call n starts at word offset `2·size·n`), so the same seed gives the same
 * bits on every backend.
 */
export function philoxNoiseSampler(backend: Backend, shape: Shape, seed: number): NoiseSampler {
  const size = shape.reduce((a, d) => a * d, 1);
  let n = 0;
  return () => backend.randn(shape, { seed, offset: 2 * size * n++ });
}

/** Options of {@link BrownianTree}. */
export interface BrownianTreeOptions {
  /**
   * Relative resolution: bisection stops once the interval around t is narrower than
   * `resolution`·(t − t0) (then a bridge draw at t finishes the value). Default 2⁻¹⁰ (increments over intervals much shorter than that are approximate).
   */
  resolution?: number;
}

/** splitmix64 of (seed, node) reduced to a 53-bit Philox seed: an independent stream per tree node. */
function nodeSeed(seed: number, node: number): number {
  const M = (1n << 64n) - 1n;
  let z = (BigInt(seed) * 0x9e3779b97f4a7c15n + BigInt(node) + 0x632be59bd9b4e019n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  z ^= z >> 31n;
  return Number(z >> 11n);
}

const MAX_LEVELS = 52;

/**
 * A Brownian motion W on [t0, t1] with W(t0) = 0, sampled lazily by bisection (a Brownian bridge at
 * every node), like torchsde's BrownianTree. Node k of the binary tree (root 1, children 2k and 2k+1;
 * k = 0 holds W(t1)) draws its normals from its own Philox stream (seed mixed with k by splitmix64), so
 * W(t) is a deterministic function of (seed, t): increments over any grid of query times are
 * consistent with each other, which makes stochastic samplers give similar results at different step
 * counts. Recently used node values and query results are cached.
 */
export class BrownianTree {
  readonly t0: number;
  readonly t1: number;
  readonly #backend: Backend;
  readonly #shape: number[];
  readonly #size: number;
  readonly #seed: number;
  readonly #resolution: number;
  readonly #nodes = new Map<number, { w: Tensor; used: number }>();
  readonly #points = new Map<number, { w: Tensor; used: number }>();
  #queries = 0;

  constructor(
    backend: Backend,
    shape: Shape,
    t0: number,
    t1: number,
    seed: number,
    options: BrownianTreeOptions = {},
  ) {
    check(
      Number.isFinite(t0) && Number.isFinite(t1) && t1 > t0,
      'INVALID_ARGUMENT',
      () => `BrownianTree: need finite t0 < t1, got t0=${t0}, t1=${t1}`,
    );
    check(
      Number.isSafeInteger(seed) && seed >= 0,
      'INVALID_ARGUMENT',
      `BrownianTree: seed must be a non-negative safe integer, got ${seed}`,
    );
    const resolution = options.resolution ?? 2 ** -10;
    check(
      resolution > 0 && resolution < 1,
      'INVALID_ARGUMENT',
      `BrownianTree: resolution must be in (0, 1), got ${resolution}`,
    );
    this.t0 = t0;
    this.t1 = t1;
    this.#backend = backend;
    this.#shape = [...shape];
    this.#size = shape.reduce((a, d) => a * d, 1);
    this.#seed = seed;
    this.#resolution = resolution;
  }

  /** Normals of node k: block 0 for its midpoint, block 1 for a leaf bridge. */
  #z(node: number, block: number): Tensor {
    return this.#backend.randn(this.#shape, {
      seed: nodeSeed(this.#seed, node),
      offset: 2 * this.#size * block,
    });
  }

  #cached(map: Map<number, { w: Tensor; used: number }>, key: number, make: () => Tensor): Tensor {
    const hit = map.get(key);
    if (hit) {
      hit.used = this.#queries;
      return hit.w;
    }
    const w = keep(make());
    map.set(key, { w, used: this.#queries });
    return w;
  }

  #evict(): void {
    for (const map of [this.#nodes, this.#points]) {
      for (const [k, v] of map) {
        if (v.used < this.#queries - 4) {
          v.w.dispose();
          map.delete(k);
        }
      }
    }
  }

  #value(t: number): Tensor {
    const B = this.#backend;
    let a = this.t0;
    let b = this.t1;
    let wa: Tensor | undefined; // undefined = 0 (W(t0))
    let wb = this.#cached(this.#nodes, 0, () => {
      const z = this.#z(0, 0);
      const w = B.lincomb([Math.sqrt(b - a)], [z]);
      z.dispose();
      return w;
    });
    const lin = (ca: number, cb: number, cz: number, z: Tensor): Tensor =>
      wa ? B.lincomb([ca, cb, cz], [wa, wb, z]) : B.lincomb([cb, cz], [wb, z]);
    let k = 1;
    const tol = this.#resolution * (t - this.t0);
    for (let level = 0; level < MAX_LEVELS && t !== a && t !== b && b - a > tol; level++) {
      const m = a + (b - a) / 2;
      if (m <= a || m >= b) break;
      const node = k;
      const wm = this.#cached(this.#nodes, node, () => {
        const z = this.#z(node, 0);
        const w = lin(0.5, 0.5, Math.sqrt(b - a) / 2, z);
        z.dispose();
        return w;
      });
      if (t < m) {
        b = m;
        wb = wm;
        k = 2 * k;
      } else {
        a = m;
        wa = wm;
        k = 2 * k + 1;
      }
    }
    if (t === a) return wa ? B.lincomb([1], [wa]) : B.fill(this.#shape, 0);
    if (t === b) return B.lincomb([1], [wb]);
    // Brownian bridge between the leaf's end points.
    const z = this.#z(k, 1);
    const out = lin((b - t) / (b - a), (t - a) / (b - a), Math.sqrt(((t - a) * (b - t)) / (b - a)), z);
    z.dispose();
    return out;
  }

  /** W(t), with t clamped to [t0, t1]. A fresh tensor. */
  at(t: number): Tensor {
    const w = this.#point(t);
    return this.#backend.lincomb([1], [w]);
  }

  #point(t: number): Tensor {
    this.#queries++;
    t = Math.min(Math.max(t, this.t0), this.t1);
    const w = this.#cached(this.#points, t, () => this.#value(t));
    this.#evict();
    return w;
  }

  /** W(tb) − W(ta). A fresh tensor. */
  increment(ta: number, tb: number): Tensor {
    const wa = this.#point(ta);
    const wb = this.#point(tb);
    return this.#backend.lincomb([1, -1], [wb, wa]);
  }

  /** Frees the cached values (the tree stays usable and recomputes them on demand). */
  dispose(): void {
    for (const map of [this.#nodes, this.#points]) {
      for (const v of map.values()) v.w.dispose();
      map.clear();
    }
  }
}

/**
 * k-diffusion's `BrownianTreeNoiseSampler`: standard normal noise (W(σ') − W(σ))/√|σ' − σ| from a
 * {@link BrownianTree} over [sigmaMin, sigmaMax] (after `transform`, identity by default). Call
 * `dispose()` when done to free the tree's small cache of node values.
 */
export function brownianTreeNoiseSampler(
  x: Tensor,
  sigmaMin: number,
  sigmaMax: number,
  seed: number,
  options: BrownianTreeOptions & { transform?: (sigma: number) => number } = {},
): NoiseSampler & { tree: BrownianTree; dispose(): void } {
  const tf = options.transform ?? ((s: number) => s);
  const a = tf(sigmaMin);
  const b = tf(sigmaMax);
  const tree = new BrownianTree(x.backend, x.shape, Math.min(a, b), Math.max(a, b), seed, options);
  const fn = (sigma: number, sigmaNext: number): Tensor => {
    const t0 = tf(sigma);
    const t1 = tf(sigmaNext);
    check(t0 !== t1, 'INVALID_ARGUMENT', `brownianTreeNoiseSampler: zero-length interval at sigma=${sigma}`);
    const w = tree.increment(t0, t1);
    const out = x.backend.lincomb([1 / Math.sqrt(Math.abs(t1 - t0))], [w]);
    w.dispose();
    return out;
  };
  return Object.assign(fn, { tree, dispose: () => tree.dispose() });
}
