import { TesseraError } from '@tessera/core';

/** A set of feature vectors: an array of rows, or a flat row-major array with its `dim`. */
export type Features =
  | readonly (readonly number[] | Float32Array | Float64Array)[]
  | { data: Float32Array | Float64Array | readonly number[]; dim: number };

/** Features as a validated row-major float64 matrix. */
export interface Matrix {
  data: Float64Array;
  n: number;
  dim: number;
}

/** Validates `x` (finite values, consistent row length) and copies it into a float64 matrix. */
export function toMatrix(x: Features, op: string, what: string): Matrix {
  let data: Float64Array;
  let dim: number;
  if (Array.isArray(x)) {
    const rows = x as readonly (readonly number[] | Float32Array | Float64Array)[];
    if (rows.length === 0) throw new TesseraError('INVALID_ARGUMENT', `${op}: ${what} has no rows`);
    dim = rows[0]!.length;
    data = new Float64Array(rows.length * dim);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (r == null || r.length !== dim) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${op}: ${what} row ${i} should have ${dim} values like row 0, got ${r == null ? String(r) : r.length}`,
        );
      }
      for (let j = 0; j < dim; j++) data[i * dim + j] = r[j]!;
    }
  } else if (x && typeof x === 'object' && 'data' in x && 'dim' in x) {
    dim = x.dim;
    if (!Number.isInteger(dim) || dim < 1) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${op}: ${what}.dim should be a positive integer, got ${dim}`,
      );
    }
    if (x.data.length % dim !== 0 || x.data.length === 0) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${op}: ${what} should hold a positive multiple of dim ${dim} values, got ${x.data.length}`,
      );
    }
    data = Float64Array.from(x.data);
  } else {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: ${what} should be an array of rows or { data, dim }`);
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${op}: ${what} should be finite, got ${data[i]} at row ${Math.floor(i / dim)}, column ${i % dim}`,
      );
    }
  }
  return { data, n: data.length / dim, dim };
}

/** Throws unless both matrices have the same feature dimension. */
export function sameDim(a: Matrix, b: Matrix, op: string): void {
  if (a.dim !== b.dim) {
    throw new TesseraError(
      'SHAPE_MISMATCH',
      `${op}: both feature sets need the same dimension, got ${a.dim} and ${b.dim}`,
    );
  }
}

/** Rows `idx` of `m`, as a new row-major matrix. */
export function gatherRows(m: Matrix, idx: ArrayLike<number>): Float64Array {
  const out = new Float64Array(idx.length * m.dim);
  for (let i = 0; i < idx.length; i++)
    out.set(m.data.subarray(idx[i]! * m.dim, (idx[i]! + 1) * m.dim), i * m.dim);
  return out;
}
