import { type Backend, type Tensor, TesseraError, tidy } from '@tessera/core';
import type { Cond } from './types.js';

/**
 * Classifier-free guidance in one doubled batch: rows [0, B) are conditional, rows [B, 2B) use the null
 * label. Guided logits are `uncond + w · (cond − uncond)` (LlamaGen and MAR's convention; w = 1 is no
 * guidance).
 *
 * - `constant`: w = scale at every step.
 * - `linear`: w = 1 + (scale − 1) · progress. Next-scale decoding uses progress = k/(K−1), which is
 *   VAR's `autoregressive_infer_cfg` ramp (`t = cfg·ratio; (1+t)·cond − t·uncond`) with
 *   scale = 1 + VAR's `cfg`. Masked decoding uses progress = (L − maskLen)/L, MAR's `sample_tokens`
 *   `cfg_iter = 1 + (cfg − 1)·(seq_len − mask_len)/seq_len`.
 * - `cutoff`: from step `cutoff` on (token index, scale index or iteration), guidance stops and the
 *   batch is really halved (the model's state is sliced to the conditional rows), unlike LlamaGen's
 *   `cfg_interval`, which keeps computing the doubled batch and drops the unconditional half.
 */
export interface GuidanceOptions {
  /** Guidance scale w (or its end value for `linear`). */
  scale: number;
  /** Default `constant`. */
  schedule?: 'constant' | 'linear';
  /** First step index that runs unguided on a halved batch. Default: never. */
  cutoff?: number;
}

/** Guidance weight w at `progress` ∈ [0, 1]. */
export function guidanceWeight(g: GuidanceOptions, progress: number): number {
  const s = g.schedule ?? 'constant';
  if (s === 'constant') return g.scale;
  if (s === 'linear') return 1 + (g.scale - 1) * progress;
  throw new TesseraError('INVALID_ARGUMENT', `guidance: schedule must be 'constant' or 'linear', got '${s}'`);
}

/** Validates guidance options against a model (guidance needs `numClasses` for the null label). */
export function checkGuidance(
  g: GuidanceOptions | undefined,
  numClasses: number | undefined,
  op: string,
): boolean {
  if (!g) return false;
  if (!Number.isFinite(g.scale))
    throw new TesseraError('INVALID_ARGUMENT', `${op}: guidance.scale must be finite, got ${g.scale}`);
  guidanceWeight(g, 0);
  if (numClasses === undefined) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: guidance needs a model with numClasses (the null label), got none`,
    );
  }
  if (g.cutoff !== undefined && !(Number.isInteger(g.cutoff) && g.cutoff >= 0)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: guidance.cutoff must be a non-negative integer, got ${g.cutoff}`,
    );
  }
  return true;
}

/**
 * Combines doubled-batch logits `[2B, ...]` into guided logits `[B, ...]`:
 * `uncond + w · (cond − uncond)`, one fused `lincomb`.
 */
export function applyGuidance(logits: Tensor, w: number): Tensor {
  const B = logits.backend;
  const n = logits.shape[0]!;
  if (n % 2 !== 0)
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `applyGuidance: logits need an even batch (cond then uncond), got ${n}`,
    );
  return tidy(() => {
    const rest = logits.shape.slice(1).map(() => -1);
    const cond = B.slice(logits, [0, ...rest.map(() => 0)], [n / 2, ...rest]);
    const unc = B.slice(logits, [n / 2, ...rest.map(() => 0)], [n / 2, ...rest]);
    // -Infinity entries (filtered or impossible tokens) stay -Infinity instead of becoming NaN
    // (w·(−∞) + (1−w)·(−∞) is ∞ − ∞ for w > 1). Detected by comparison, without NaN arithmetic.
    const out = B.lincomb([w, 1 - w], [cond, unc]);
    const dead = B.binary('max', B.binary('lt', cond, -3e38), B.binary('lt', unc, -3e38));
    return B.where(dead, Number.NEGATIVE_INFINITY, out);
  });
}

/** The conditional rows `[0, n)` of a doubled tensor. */
export function firstRows(x: Tensor, n: number): Tensor {
  return x.backend.slice(
    x,
    x.shape.map(() => 0),
    x.shape.map((_, i) => (i === 0 ? n : -1)),
  );
}

/**
 * Doubles a condition for guidance: labels become `[labels, numClasses…]` (the null label for the
 * second half); control embeddings are repeated. `batch` is B.
 */
export function doubleCond(B: Backend, cond: Cond | undefined, numClasses: number, batch: number): Cond {
  return tidy(() => {
    const null_ = B.fill([batch], numClasses, 'int32');
    const labels = cond?.labels ? B.concat([cond.labels, null_], 0) : B.concat([null_, null_], 0);
    const out: Cond = { labels };
    if (cond?.control)
      out.control = {
        strength: cond.control.strength,
        embeddings: B.concat([cond.control.embeddings, cond.control.embeddings], 0),
      };
    return out;
  });
}

/** Rows `[0, n)` of a condition (labels and control). */
export function sliceCond(cond: Cond | undefined, n: number): Cond | undefined {
  if (!cond) return undefined;
  const out: Cond = {};
  if (cond.labels) out.labels = firstRows(cond.labels, n);
  if (cond.control)
    out.control = { strength: cond.control.strength, embeddings: firstRows(cond.control.embeddings, n) };
  return out;
}
