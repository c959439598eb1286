import { type Backend, fmtShape, type Tensor, TesseraError, tidy } from '@tessera/core';

/** Default cap on the elements of one [rows, codes] block (4 Mi floats = 16 MiB). */
export const DEFAULT_BLOCK_ELEMENTS = 1 << 22;

/** Throws unless `t` is a float32 tensor whose last axis is `dim` (when given). */
export function checkFloat(op: string, t: Tensor, dim?: number, name = 'input'): void {
  if (t.dtype !== 'float32') {
    throw new TesseraError(
      'DTYPE_MISMATCH',
      `${op}: ${name} must be float32, got ${t.dtype} ${fmtShape(t.shape)}`,
    );
  }
  if (t.rank < 1)
    throw new TesseraError('SHAPE_MISMATCH', `${op}: ${name} needs at least one axis, got a scalar`);
  if (dim !== undefined && t.shape[t.rank - 1] !== dim) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: ${name} must end in the code dimension ${dim}, got ${fmtShape(t.shape)}`,
    );
  }
}

/** Throws unless `t` holds integer indices (int32 or uint32). */
export function checkIndices(op: string, t: Tensor, name = 'indices'): void {
  if (t.dtype !== 'int32' && t.dtype !== 'uint32') {
    throw new TesseraError(
      'DTYPE_MISMATCH',
      `${op}: ${name} must be int32, got ${t.dtype} ${fmtShape(t.shape)}`,
    );
  }
}

/** Throws unless `t` lives on backend `B`. */
export function checkSameBackend(op: string, B: Backend, t: Tensor, name = 'input'): void {
  if (t.backend !== B) {
    throw new TesseraError(
      'BACKEND_MISMATCH',
      `${op}: ${name} lives on backend '${t.backend.name}' but the codebook lives on '${B.name}'`,
    );
  }
}

/** Throws unless `codebook` is a float32 matrix [K, D] with K, D ≥ 1. */
export function checkCodebook(op: string, codebook: Tensor): [number, number] {
  if (
    codebook.dtype !== 'float32' ||
    codebook.rank !== 2 ||
    codebook.shape[0]! < 1 ||
    codebook.shape[1]! < 1
  ) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: codebook must be a float32 [K, D] matrix with K, D ≥ 1, got ${codebook.dtype} ${fmtShape(codebook.shape)}`,
    );
  }
  return [codebook.shape[0]!, codebook.shape[1]!];
}

/** Rows divided by the L2 norm along the last axis (zero rows stay zero), like `F.normalize(x, dim=-1)`. */
export function l2normalize(x: Tensor, eps = 1e-12): Tensor {
  const B = x.backend;
  return tidy(() => {
    const n = B.unary('sqrt', B.reduce('sumsq', x, -1, true));
    return B.binary('div', x, B.clamp(n, eps, Number.POSITIVE_INFINITY));
  });
}

/** Product of the leading axes (all but the last). */
export function leadingSize(t: Tensor): number {
  let n = 1;
  for (let i = 0; i < t.rank - 1; i++) n *= t.shape[i]!;
  return n;
}

/** Rows per block so that rows × width stays under `maxElements` (at least 1). */
export function rowsPerBlock(width: number, maxElements = DEFAULT_BLOCK_ELEMENTS): number {
  return Math.max(1, Math.floor(maxElements / Math.max(1, width)));
}

/**
 * Per-code counts of int32 `indices` (any shape, values in [0, K)) as float32 [K], on the backend:
 * a one-hot comparison against `arange(K)`, summed in row blocks so memory stays bounded. Values
 * outside [0, K) (e.g. -1 for dropped layers) are not counted.
 */
export function bincount(indices: Tensor, K: number, maxElements = DEFAULT_BLOCK_ELEMENTS): Tensor {
  checkIndices('bincount', indices);
  const B = indices.backend;
  return tidy(() => {
    const flat = B.reshape(indices, [indices.size, 1]);
    const ids = B.reshape(B.arange(0, K, 1, indices.dtype), [1, K]);
    const step = rowsPerBlock(K, maxElements);
    let acc: Tensor | undefined;
    for (let r = 0; r < indices.size; r += step) {
      const n = Math.min(step, indices.size - r);
      const part = n === indices.size ? flat : B.slice(flat, [r, 0], [n, 1]);
      const onehot = B.cast(B.binary('eq', part, ids), 'float32');
      const c = B.reduce('sum', onehot, 0);
      acc = acc ? B.binary('add', acc, c) : c;
    }
    return acc ?? B.fill([K], 0);
  });
}

/**
 * Per-code counts [K] and per-code sums of the rows of `z` [N, D] assigned to each code [K, D]
 * (`onehotᵀ · z`), on the backend in row blocks. The statistics of a k-means / EMA update.
 */
export function clusterStats(
  z: Tensor,
  indices: Tensor,
  K: number,
  maxElements = DEFAULT_BLOCK_ELEMENTS,
): { counts: Tensor; sums: Tensor } {
  const B = z.backend;
  const N = z.shape[0]!;
  const D = z.shape[1]!;
  return tidy(() => {
    const flat = B.reshape(indices, [N, 1]);
    const ids = B.reshape(B.arange(0, K, 1, indices.dtype), [1, K]);
    const step = rowsPerBlock(K, maxElements);
    let counts: Tensor | undefined;
    let sums: Tensor | undefined;
    for (let r = 0; r < N; r += step) {
      const n = Math.min(step, N - r);
      const part = n === N ? flat : B.slice(flat, [r, 0], [n, 1]);
      const zs = n === N ? z : B.slice(z, [r, 0], [n, D]);
      const onehot = B.cast(B.binary('eq', part, ids), 'float32');
      const c = B.reduce('sum', onehot, 0);
      const s = B.matmul(onehot, zs, { transposeA: true });
      counts = counts ? B.binary('add', counts, c) : c;
      sums = sums ? B.binary('add', sums, s) : s;
    }
    return { counts: counts ?? B.fill([K], 0), sums: sums ?? B.fill([K, D], 0) };
  });
}

/**
 * Fraction of codes used and the perplexity exp(−Σ pₖ log(pₖ + 1e-10)) of count vector `counts` [K]
 * (taming-transformers `VectorQuantizer2.forward` perplexity), as float32 scalars on the backend.
 */
export function usageAndPerplexity(counts: Tensor): { usage: Tensor; perplexity: Tensor } {
  const B = counts.backend;
  return tidy(() => {
    const total = B.clamp(B.reduce('sum', counts), 1e-30, Number.POSITIVE_INFINITY);
    const p = B.binary('div', counts, total);
    const plogp = B.binary('mul', p, B.unary('log', B.binary('add', p, 1e-10)));
    const perplexity = B.unary('exp', B.unary('neg', B.reduce('sum', plogp)));
    const usage = B.reduce('mean', B.cast(B.binary('gt', counts, 0), 'float32'));
    return { usage, perplexity };
  });
}
