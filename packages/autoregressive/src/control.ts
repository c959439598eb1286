import { fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';
import type { ControlInput } from './types.js';

/**
 * Control embeddings from control tokens (ControlAR encodes a control image into tokens/features):
 * `table[tokens]`, `[B, L]` int32 × `[Vc, D]` → `[B, L, D]`.
 */
export function controlFromTokens(tokens: Tensor, table: Tensor, strength = 1): ControlInput {
  if (tokens.rank !== 2 || table.rank !== 2) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `controlFromTokens: expected tokens [B, L] and table [Vc, D], got ${fmtShape(tokens.shape)} and ${fmtShape(table.shape)}`,
    );
  }
  return { embeddings: tokens.backend.gather(table, tokens, 0), strength };
}

/**
 * Adds `strength · control.embeddings[:, begin : begin + n, :]` to `hidden` `[B, n, D]` (or `[B, D]` when
 * n = 1 and `hidden` is rank 2): the ControlAR-style control injection a model applies to the hidden
 * inputs of the positions it is predicting. Returns `hidden` unchanged (a new handle) when strength is 0.
 */
export function addControl(hidden: Tensor, control: ControlInput | undefined, begin: number): Tensor {
  const B = hidden.backend;
  if (!control || control.strength === 0) return B.reshape(hidden, hidden.shape);
  const e = control.embeddings;
  const rows = hidden.shape[0]!;
  const n = hidden.rank === 3 ? hidden.shape[1]! : 1;
  const D = hidden.shape[hidden.rank - 1]!;
  if (e.rank !== 3 || e.shape[0] !== rows || e.shape[2] !== D || begin + n > e.shape[1]!) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `addControl: control embeddings ${fmtShape(e.shape)} do not cover hidden ${fmtShape(hidden.shape)} at positions [${begin}, ${begin + n})`,
    );
  }
  return tidy(() => {
    const part = B.reshape(B.slice(e, [0, begin, 0], [rows, n, D]), hidden.shape);
    return B.lincomb([1, control.strength], [hidden, part]);
  });
}
