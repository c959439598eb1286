import { type Backend, philoxWords, TesseraError, wordToUniform } from '@tessera/core';

/** A tokenized data set: equal-size grids of token indices, with optional class labels. */
export interface TokenDataset {
  /** Row-major grids, each `height·width` tokens in [0, vocabSize). */
  grids: Int32Array[];
  /** Class label per grid in [0, numClasses). */
  labels: Int32Array;
  height: number;
  width: number;
  vocabSize: number;
  numClasses: number;
}

/**
 * Procedural token images: a palette-index grid (0 = background) with one to three shapes per image;
 * the class decides the shape kind: 0 = filled rectangles, 1 = disks, 2 = horizontal or vertical bars
 * (stripes). Colours 1..vocabSize−1. Deterministic in `seed` (Philox words).
 */
export function proceduralTokenGrids(options: {
  count: number;
  height?: number;
  width?: number;
  vocabSize?: number;
  seed?: number;
}): TokenDataset {
  const { count } = options;
  const H = options.height ?? 16;
  const W = options.width ?? 16;
  const V = options.vocabSize ?? 6;
  if (!(Number.isInteger(count) && count > 0))
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `proceduralTokenGrids: count must be a positive integer, got ${count}`,
    );
  if (!(V >= 2))
    throw new TesseraError('INVALID_ARGUMENT', `proceduralTokenGrids: vocabSize must be ≥ 2, got ${V}`);
  const words = philoxWords(options.seed ?? 0, 0, count * 32);
  const grids: Int32Array[] = [];
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    let w = n * 32;
    const u = () => wordToUniform(words[w++]!);
    const ri = (k: number) => Math.min(k - 1, Math.floor(u() * k));
    const label = ri(3);
    labels[n] = label;
    const g = new Int32Array(H * W);
    const shapes = 1 + ri(3);
    for (let s = 0; s < shapes; s++) {
      const colour = 1 + ri(V - 1);
      if (label === 0) {
        const r0 = ri(H - 2);
        const c0 = ri(W - 2);
        const h = 2 + ri(Math.max(1, H - r0 - 1));
        const wd = 2 + ri(Math.max(1, W - c0 - 1));
        for (let r = r0; r < Math.min(H, r0 + h); r++)
          for (let c = c0; c < Math.min(W, c0 + wd); c++) g[r * W + c] = colour;
      } else if (label === 1) {
        const cy = u() * H;
        const cx = u() * W;
        const rad = 1.5 + u() * (Math.min(H, W) / 3);
        for (let r = 0; r < H; r++) {
          for (let c = 0; c < W; c++)
            if ((r + 0.5 - cy) ** 2 + (c + 0.5 - cx) ** 2 <= rad * rad) g[r * W + c] = colour;
        }
      } else {
        const vertical = u() < 0.5;
        const len = vertical ? W : H;
        const at = ri(len);
        const thick = 1 + ri(3);
        for (let r = 0; r < H; r++) {
          for (let c = 0; c < W; c++) {
            const k = vertical ? c : r;
            if (k >= at && k < at + thick) g[r * W + c] = colour;
          }
        }
      }
    }
    grids.push(g);
  }
  return { grids, labels, height: H, width: W, vocabSize: V, numClasses: 3 };
}

/**
 * Token pyramid of one grid for next-scale models: scale k is the `p×p` map with entry
 * `grid[⌊i·H/p⌋, ⌊j·W/p⌋]` (PyTorch `interpolate(mode='nearest')` indexing), so the last scale (p = H = W)
 * is the grid itself.
 */
export function tokenPyramid(
  grid: ArrayLike<number>,
  height: number,
  width: number,
  patchNums: readonly number[],
): Int32Array[] {
  return patchNums.map((p) => {
    const out = new Int32Array(p * p);
    for (let i = 0; i < p; i++) {
      for (let j = 0; j < p; j++)
        out[i * p + j] = grid[Math.floor((i * height) / p) * width + Math.floor((j * width) / p)]!;
    }
    return out;
  });
}

/** VAR's default patch numbers. */
export const VAR_PATCH_NUMS: readonly number[] = [1, 2, 3, 4, 5, 6, 8, 10, 13, 16];

/**
 * A table of log-probabilities from counts with add-`alpha` (Laplace) smoothing:
 * row c is log((count[c, v] + α) / (Σ_v count[c, v] + α·V)), uploaded as float32 `[contexts, V]`.
 */
export function countLogProbTable(
  B: Backend,
  counts: Float64Array,
  contexts: number,
  V: number,
  alpha: number,
) {
  return B.tensor(countLogProbs(counts, contexts, V, alpha), [contexts, V], 'float32');
}

/** The host float32 values of {@link countLogProbTable}. */
export function countLogProbs(
  counts: Float64Array,
  contexts: number,
  V: number,
  alpha: number,
): Float32Array {
  const out = new Float32Array(contexts * V);
  for (let c = 0; c < contexts; c++) {
    let total = 0;
    for (let v = 0; v < V; v++) total += counts[c * V + v]!;
    for (let v = 0; v < V; v++) out[c * V + v] = Math.log((counts[c * V + v]! + alpha) / (total + alpha * V));
  }
  return out;
}

/** Checks a data set's shape and values. */
export function checkTokenDataset(op: string, d: TokenDataset): void {
  if (d.grids.length === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: the data set is empty`);
  if (d.labels.length !== d.grids.length)
    throw new TesseraError('SHAPE_MISMATCH', `${op}: ${d.grids.length} grids but ${d.labels.length} labels`);
  for (const g of d.grids) {
    if (g.length !== d.height * d.width)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${op}: grid of ${g.length} tokens, expected ${d.height}×${d.width}`,
      );
    for (const t of g)
      if (!(t >= 0 && t < d.vocabSize))
        throw new TesseraError('OUT_OF_RANGE', `${op}: token ${t} outside [0, ${d.vocabSize})`);
  }
  for (const l of d.labels)
    if (!(l >= 0 && l < d.numClasses))
      throw new TesseraError('OUT_OF_RANGE', `${op}: label ${l} outside [0, ${d.numClasses})`);
}
