import { type Backend, type Tensor, TesseraError, tidy } from '@tessera/core';
import type { RngStream } from './rng.js';

/**
 * How logits become a token. Applied in this order: temperature, top-k, top-p, min-p, then one
 * categorical draw per row from core's Philox stream (`backend.sampleCategorical`).
 *
 * "Off" values: both upstream conventions are accepted. VAR (`sample_with_top_k_top_p_`) uses
 * `top_k=0, top_p=0.0` for off; LlamaGen (`generate.py` `sample`) uses `top_k=0, top_p=1.0`. Here
 * `topK ≤ 0` (or ≥ V) is off and `topP ≤ 0` or `topP ≥ 1` is off, so either project's defaults work.
 * `minP = 0` is off. `temperature = 0` is greedy (argmax, first index on ties); LlamaGen instead clamps
 * the temperature to 1e-5, which is the same except on exact ties.
 */
export interface SamplingOptions {
  /** Divides the logits; 0 = greedy. Default 1. */
  temperature?: number;
  /** Keeps the k largest logits per row (ties with the k-th kept). 0 = off. */
  topK?: number;
  /** Nucleus: smallest set of most probable tokens with mass ≥ p. 0 or ≥ 1 = off. */
  topP?: number;
  /** Keeps tokens with probability ≥ minP · max probability. 0 = off. */
  minP?: number;
}

function checkSampling(o: SamplingOptions): Required<SamplingOptions> {
  const temperature = o.temperature ?? 1;
  const topK = o.topK ?? 0;
  const topP = o.topP ?? 0;
  const minP = o.minP ?? 0;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `sampling: temperature must be a finite number ≥ 0, got ${temperature}`,
    );
  }
  if (!Number.isInteger(topK))
    throw new TesseraError('INVALID_ARGUMENT', `sampling: topK must be an integer, got ${topK}`);
  if (!(topP >= 0))
    throw new TesseraError('INVALID_ARGUMENT', `sampling: topP must be a number ≥ 0, got ${topP}`);
  if (!(minP >= 0 && minP <= 1))
    throw new TesseraError('INVALID_ARGUMENT', `sampling: minP must be in [0, 1], got ${minP}`);
  return { temperature, topK, topP, minP };
}

/**
 * Applies temperature (when > 0) and the top-k / top-p / min-p filters to logits `[..., V]`; filtered
 * entries become -Infinity. Returns a new tensor (the input is left alone).
 */
export function filterLogits(logits: Tensor, options: SamplingOptions = {}): Tensor {
  const o = checkSampling(options);
  const B = logits.backend;
  return tidy(() => {
    let x =
      o.temperature > 0 && o.temperature !== 1
        ? B.binary('div', logits, o.temperature)
        : B.reshape(logits, logits.shape);
    const V = logits.shape[logits.rank - 1]!;
    if (o.topK > 0 && o.topK < V) x = B.topK(x, o.topK);
    if (o.topP > 0 && o.topP < 1) x = B.topP(x, o.topP);
    if (o.minP > 0) x = B.minP(x, o.minP);
    return x;
  });
}

/**
 * Draws one token per row of `logits` `[..., V]` → int32 `[...]`. Takes `rows` words from `rng`
 * (also at temperature 0, so later draws stay where they would be), so a seed reproduces a sample on any
 * backend.
 */
export function sampleLogits(logits: Tensor, options: SamplingOptions, rng: RngStream): Tensor {
  const o = checkSampling(options);
  const B = logits.backend;
  const V = logits.shape[logits.rank - 1]!;
  const rows = logits.size / V;
  const random = rng.take(rows);
  if (o.temperature === 0) {
    return tidy(() => B.argmax(filterLogits(logits, { ...o, temperature: 0 }), -1));
  }
  return tidy(() => B.sampleCategorical(filterLogits(logits, o), random));
}

/**
 * Gumbel-softmax soft sample (VAR's `gumbel_softmax_with_rng`, hard=False): softmax((logits + g)/τ)
 * with g = −log(−log u), u uniform from the Philox stream (one word per element).
 */
export function gumbelSoftmax(logits: Tensor, tau: number, rng: RngStream): Tensor {
  if (!(tau > 0)) throw new TesseraError('INVALID_ARGUMENT', `gumbelSoftmax: tau must be > 0, got ${tau}`);
  const B: Backend = logits.backend;
  const random = rng.take(logits.size);
  return tidy(() => {
    const u = B.rand(logits.shape, random);
    const g = B.unary('neg', B.unary('log', B.unary('neg', B.unary('log', u))));
    return B.softmax(B.binary('div', B.binary('add', logits, g), tau), -1);
  });
}

/** VAR's `more_smooth` Gumbel temperature at progress `ratio` = k/(K−1): max(0.27·(1 − 0.95·ratio), 0.005). */
export function varGumbelTau(ratio: number): number {
  return Math.max(0.27 * (1 - ratio * 0.95), 0.005);
}
