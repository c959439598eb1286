/**
 * Plain-data descriptions of the autoregressive reference models, for exporters (e.g.
 * `@tessera/reference-onnx`'s `exportTokenModel`) and for checking a model by recomputing its logits.
 * They hold only numbers and typed arrays, no tensors, so a package that does not import
 * `@tessera/reference` can declare the same interfaces structurally.
 */

/** Which decoder interface a model serves. */
export type TokenModelKind = 'raster' | 'next-scale' | 'masked';

/**
 * A count-based token model as a table lookup. For token input `tok` (`length` positions: the grid in
 * raster order, or all scales concatenated for `next-scale`) and label `c`, the logits at position p are
 * row `r(p)` of `table`:
 *
 * ```
 * digit_j(p) = boundaryToken          if neighbours[p·n + j] = −1
 *            = tok[neighbours[p·n + j]] if that token is in [0, vocabSize)
 *            = unknownToken           otherwise (not generated yet / masked)
 * r(p) = clamp(c, 0, numClasses)·labelStride + positionOffsets[p] + Σ_j digit_j(p)·powers[j]
 * ```
 *
 * Label `numClasses` is the null (unconditional) label. Raster models read only causal neighbours, so the
 * logits at p given the full grid are the logits given the tokens before p; next-scale models read only the
 * previous scale; masked models read up/down/left/right with masked positions as `unknownToken`.
 */
export interface CountModelSpec {
  kind: TokenModelKind;
  /** Class name of the source model, e.g. `RasterCountModel`. */
  model: string;
  /** Token values V (logits have V entries). */
  vocabSize: number;
  /** Classes C; label C is the null label. */
  numClasses: number;
  /** Positions L of the token input (H·W, or Σp² for next-scale). */
  length: number;
  /** Grid height and width (the last scale for next-scale). */
  height: number;
  width: number;
  /** Scale side lengths (next-scale only); scale k occupies positions [Σ_{i<k} pᵢ², Σ_{i≤k} pᵢ²). */
  patchNums?: readonly number[];
  /** float32 `[contexts, V]` log-probabilities, row-major. */
  table: Float32Array;
  /** Rows of `table`. */
  contexts: number;
  /** Neighbours n per position. */
  numNeighbours: number;
  /** int32 `[L, n]`: the input position neighbour j of position p reads, −1 for the boundary. */
  neighbours: Int32Array;
  /** `[n]` place values of the neighbour digits (base^(n−1−j)). */
  powers: number[];
  /** int32 `[L]`: added to the row index (next-scale: k·base³ for positions of scale k; else 0). */
  positionOffsets: Int32Array;
  /** Rows per label. */
  labelStride: number;
  /** Digit of an out-of-grid neighbour. */
  boundaryToken: number;
  /** Digit of an unknown (not yet generated or masked) neighbour. */
  unknownToken: number;
}

/**
 * An exact empirical token model as its training sequences. For token input `tok` (`length` positions;
 * values outside [0, vocabSize) are unknown) and label c, the logits at position p are
 * `log #{s : labels[s] = c or c = numClasses (or no labels), and seq_s[q] = tok[q] for every known q, and seq_s[p] = v}`
 * (−∞ where none). Raster and next-scale decoding see the generated tokens as known and the rest as
 * unknown, so the same formula serves all three kinds.
 */
export interface EmpiricalModelSpec {
  kind: TokenModelKind;
  /** Class name of the source model, e.g. `EmpiricalRasterModel`. */
  model: string;
  vocabSize: number;
  /** Classes C (label C matches every sequence); absent when the model takes no labels. */
  numClasses?: number;
  /** Positions L per sequence. */
  length: number;
  /** Scale side lengths (next-scale only). */
  patchNums?: readonly number[];
  /** Number of sequences S. */
  count: number;
  /** int32 `[S, L]` training sequences, row-major. */
  sequences: Int32Array;
  /** int32 `[S]` sequence labels; absent: every label matches every sequence. */
  labels?: Int32Array;
}

/** `[begin of scale k]` for patch numbers. */
export function scaleBegins(patchNums: readonly number[]): number[] {
  const out: number[] = [];
  let s = 0;
  for (const p of patchNums) {
    out.push(s);
    s += p * p;
  }
  return out;
}
