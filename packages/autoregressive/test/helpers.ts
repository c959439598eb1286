// Float64 re-derivations used by the tests (independent of the code under test).
import { philoxWords, wordToUniform } from '@tessera/core';

/** A fresh seed per run (printed by the tests on failure); TESSERA_SEED or TESSERA_TEST_SEED fixes it. */
export function freshSeed(): number {
  const env = process.env.TESSERA_SEED ?? process.env.TESSERA_TEST_SEED;
  if (env) return Number(env) % 2 ** 31;
  return (Date.now() * 7919 + Math.floor(Math.random() * 1e6)) % 2 ** 31;
}

export { mulberry32 as mulberry } from '../../../test-utils/random.ts';

export function softmax64(row: number[]): number[] {
  const m = Math.max(...row);
  if (m === Number.NEGATIVE_INFINITY) return row.map(() => 0);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Float64 filter pipeline: temperature, top-k, top-p (VAR's formula), min-p (HF MinPLogitsWarper). */
export function filter64(
  row: number[],
  o: { temperature?: number; topK?: number; topP?: number; minP?: number },
): number[] {
  let x = row.map((v) => v / (o.temperature && o.temperature > 0 ? o.temperature : 1));
  const V = x.length;
  const k = o.topK ?? 0;
  if (k > 0 && k < V) {
    const kth = [...x].sort((a, b) => b - a)[k - 1]!;
    x = x.map((v) => (v < kth ? Number.NEGATIVE_INFINITY : v));
  }
  const p = o.topP ?? 0;
  if (p > 0 && p < 1) {
    // VAR models/helpers.py sample_with_top_k_top_p_: sort ascending, remove where
    // cumsum(softmax) <= 1 - top_p, always keep the largest.
    const probs = softmax64(x);
    const idx = x.map((_, i) => i).sort((a, b) => x[a]! - x[b]!);
    let cum = 0;
    const remove = new Set<number>();
    idx.forEach((i, r) => {
      cum += probs[i]!;
      if (cum <= 1 - p && r < V - 1) remove.add(i);
    });
    x = x.map((v, i) => (remove.has(i) ? Number.NEGATIVE_INFINITY : v));
  }
  const mp = o.minP ?? 0;
  if (mp > 0) {
    const probs = softmax64(x);
    const top = Math.max(...probs);
    x = x.map((v, i) => (probs[i]! < mp * top ? Number.NEGATIVE_INFINITY : v));
  }
  return x;
}

/**
 * Inverse-CDF draw of core's sampleCategorical contract: row r uses u = U(word offset + r); returns the
 * first index whose cumulative probability exceeds u (and the distance of u to the nearest boundary).
 */
export function draw64(probs: number[], seed: number, offset: number): { index: number; margin: number } {
  const u = wordToUniform(philoxWords(seed, offset, 1)[0]!);
  let cum = 0;
  let margin = Number.POSITIVE_INFINITY;
  for (let i = 0; i < probs.length; i++) {
    const prev = cum;
    cum += probs[i]!;
    if (probs[i]! > 0) margin = Math.min(margin, Math.abs(u - cum), Math.abs(u - prev));
    if (cum > u && probs[i]! > 0) return { index: i, margin };
  }
  return { index: probs.length - 1, margin };
}

export function rows<T extends ArrayLike<number>>(a: T, width: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < a.length; i += width) out.push(Array.from(a).slice(i, i + width) as number[]);
  return out;
}
