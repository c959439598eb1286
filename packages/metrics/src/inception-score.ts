import { TesseraError } from '@tessera/core';
import { type Features, toMatrix } from './features.js';
import { Mt19937 } from './numpy-random.js';

/** Options of {@link inceptionScore}. */
export interface InceptionScoreOptions {
  /** Number of splits (default 10, as torch-fidelity and the original IS code). */
  splits?: number;
  /** Whether rows are class logits (default) or class probabilities. */
  input?: 'logits' | 'probabilities';
  /**
   * Shuffle rows before splitting by `np.random.RandomState(shuffleSeed).permutation(N)`, an integer in
   * [0, 2³²). torch-fidelity shuffles this way with seed 2020 by default, so `shuffleSeed: 2020` gives
   * its values; default: no shuffle, rows split in order (the original IS code).
   */
  shuffleSeed?: number;
}

/** Inception Score: mean and population std (np.std) over the splits, and each split's score. */
export interface InceptionScoreResult {
  mean: number;
  std: number;
  scores: Float64Array;
}

/**
 * Inception Score as torch-fidelity computes it (float64): split i holds rows
 * [⌊iN/splits⌋, ⌊(i+1)N/splits⌋); its score is exp(mean over rows of KL(p(y|x) ‖ p(y))) with p(y) the
 * split's mean of p(y|x). Logits go through softmax / log-softmax; probabilities must be ≥ 0 and sum to
 * 1 per row (within 1e-6 relative), and 0·log 0 counts as 0.
 */
export function inceptionScore(classes: Features, opts: InceptionScoreOptions = {}): InceptionScoreResult {
  const op = 'inceptionScore';
  const m = toMatrix(classes, op, 'class scores');
  const splits = opts.splits ?? 10;
  const { n, dim: c } = m;
  if (!Number.isInteger(splits) || splits < 1 || splits > n) {
    throw new TesseraError(
      'OUT_OF_RANGE',
      `${op}: splits should be an integer in [1, ${n}] (the number of rows), got ${splits}`,
    );
  }
  if (c < 2) throw new TesseraError('SHAPE_MISMATCH', `${op}: need at least 2 classes per row, got ${c}`);
  const p = new Float64Array(n * c);
  const logp = new Float64Array(n * c);
  for (let r = 0; r < n; r++) {
    const o = r * c;
    if ((opts.input ?? 'logits') === 'logits') {
      let mx = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < c; j++) mx = Math.max(mx, m.data[o + j]!);
      let s = 0;
      for (let j = 0; j < c; j++) s += Math.exp(m.data[o + j]! - mx);
      const lse = mx + Math.log(s);
      for (let j = 0; j < c; j++) {
        logp[o + j] = m.data[o + j]! - lse;
        p[o + j] = Math.exp(logp[o + j]!);
      }
    } else {
      let s = 0;
      for (let j = 0; j < c; j++) {
        const v = m.data[o + j]!;
        if (v < 0)
          throw new TesseraError('OUT_OF_RANGE', `${op}: probability ${v} < 0 at row ${r}, column ${j}`);
        s += v;
      }
      if (Math.abs(s - 1) > 1e-6) {
        throw new TesseraError('OUT_OF_RANGE', `${op}: row ${r} of probabilities should sum to 1, got ${s}`);
      }
      for (let j = 0; j < c; j++) {
        p[o + j] = m.data[o + j]!;
        logp[o + j] = Math.log(m.data[o + j]!);
      }
    }
  }
  const seed = opts.shuffleSeed;
  if (seed !== undefined && (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: shuffleSeed should be an integer in [0, 2^32), got ${seed}`,
    );
  }
  const order = seed === undefined ? null : new Mt19937(seed).choice(n, n);
  const scores = new Float64Array(splits);
  const q = new Float64Array(c);
  for (let s = 0; s < splits; s++) {
    const lo = Math.floor((s * n) / splits);
    const hi = Math.floor(((s + 1) * n) / splits);
    q.fill(0);
    for (let i = lo; i < hi; i++) {
      const o = (order ? order[i]! : i) * c;
      for (let j = 0; j < c; j++) q[j] = q[j]! + p[o + j]!;
    }
    for (let j = 0; j < c; j++) q[j] = q[j]! / (hi - lo);
    let kl = 0;
    for (let i = lo; i < hi; i++) {
      const o = (order ? order[i]! : i) * c;
      for (let j = 0; j < c; j++) {
        const pj = p[o + j]!;
        if (pj > 0) kl += pj * (logp[o + j]! - Math.log(q[j]!));
      }
    }
    scores[s] = Math.exp(kl / (hi - lo));
  }
  let mean = 0;
  for (const v of scores) mean += v;
  mean /= splits;
  let v2 = 0;
  for (const v of scores) v2 += (v - mean) ** 2;
  return { mean, std: Math.sqrt(v2 / splits), scores };
}
