import { type Backend, currentBackend, fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';

/** Structural copies of @tessera/autoregressive's Cond and ControlInput (reference does not import it). */
export interface ArControl {
  embeddings: Tensor;
  strength: number;
}
export interface ArCond {
  labels?: Tensor;
  control?: ArControl;
}

/** float32 `[B, 1]` label offsets `label · stride` (the null label C when no labels are given). */
export function labelOffsets(
  B: Backend,
  cond: ArCond | undefined,
  batch: number,
  numClasses: number,
  stride: number,
): Tensor {
  return tidy(() => {
    if (!cond?.labels) return B.fill([batch, 1], numClasses * stride, 'float32');
    const l = cond.labels;
    if (l.rank !== 1 || l.shape[0] !== batch)
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `reference model: labels must be [${batch}], got ${fmtShape(l.shape)}`,
      );
    return B.reshape(B.binary('mul', B.cast(B.clamp(l, 0, numClasses), 'float32'), stride), [batch, 1]);
  });
}

/** Adds `strength · embeddings[:, begin : begin+n, :]` to logits `[B, n, V]` (ControlAR-style hidden input). */
export function withControl(logits: Tensor, control: ArControl | undefined, begin: number): Tensor {
  const B = logits.backend;
  if (!control || control.strength === 0) return logits;
  const rows = logits.shape[0]!;
  const n = logits.rank === 3 ? logits.shape[1]! : 1;
  const V = logits.shape[logits.rank - 1]!;
  const e = control.embeddings;
  if (e.rank !== 3 || e.shape[0] !== rows || e.shape[2] !== V || begin + n > e.shape[1]!) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `reference model: control embeddings ${fmtShape(e.shape)} do not cover logits ${fmtShape(logits.shape)} at [${begin}, ${begin + n})`,
    );
  }
  return tidy(() =>
    B.lincomb(
      [1, control.strength],
      [logits, B.reshape(B.slice(e, [0, begin, 0], [rows, n, V]), logits.shape)],
    ),
  );
}

/** Rows [begin, begin+size) of a tensor. */
export function rows(x: Tensor, begin: number, size: number): Tensor {
  return x.backend.slice(
    x,
    x.shape.map((_, i) => (i === 0 ? begin : 0)),
    x.shape.map((d, i) => (i === 0 ? size : d)),
  );
}

/** Context index from neighbour tokens `[R, n]` int32: Σ tok_j·base^(n−1−j) + offset `[R, 1]`, int32 `[R]`. */
export function contextIndex(tok: Tensor, powers: Tensor, offset: Tensor): Tensor {
  const B = tok.backend;
  return tidy(() =>
    B.reshape(B.cast(B.binary('add', B.matmul(B.cast(tok, 'float32'), powers), offset), 'int32'), [
      tok.shape[0]!,
    ]),
  );
}

/** float32 `[n, 1]` column of base^(n−1−j). */
export function powersOf(B: Backend, base: number, n: number): Tensor {
  return B.tensor(
    Float32Array.from({ length: n }, (_, j) => base ** (n - 1 - j)),
    [n, 1],
    'float32',
  );
}

export function backendOf(b: Backend | undefined): Backend {
  return b ?? currentBackend();
}
