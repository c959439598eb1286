import { TesseraError } from './errors.js';

/** Element types every backend supports. */
export type DType = 'float32' | 'int32' | 'uint32';

/** Any typed array a tensor can hold. */
export type TypedArray = Float32Array | Int32Array | Uint32Array;

/** The typed array that holds elements of dtype `D`. */
export type ArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'int32'
    ? Int32Array
    : Uint32Array;

/** A tensor shape: non-negative integer extents, outermost first. `[]` is a scalar. */
export type Shape = readonly number[];

/** All dtypes, in a stable order. */
export const DTYPES: readonly DType[] = ['float32', 'int32', 'uint32'];

/**
 * Most elements one tensor may hold (2^30, 4 GiB of float32): shapes beyond it are rejected with
 * `OUT_OF_RANGE` before anything is allocated. A backend may still fail below it when memory runs out,
 * which is an `OUT_OF_RANGE` TesseraError too.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 30;

/**
 * Allocates a zeroed typed array for `dtype`. An unknown dtype is an `INVALID_ARGUMENT` TesseraError, a
 * size the host cannot allocate an `OUT_OF_RANGE` one (never a raw RangeError).
 */
export function allocArray(dtype: DType, size: number): TypedArray {
  const make = (): TypedArray => {
    switch (dtype) {
      case 'float32':
        return new Float32Array(size);
      case 'int32':
        return new Int32Array(size);
      case 'uint32':
        return new Uint32Array(size);
      default:
        throw new TesseraError(
          'INVALID_ARGUMENT',
          `dtype must be one of ${DTYPES.join(', ')}, got ${JSON.stringify(dtype) ?? String(dtype)}`,
        );
    }
  };
  try {
    return make();
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new TesseraError(
      'OUT_OF_RANGE',
      `cannot allocate ${size} ${dtype} elements on the host (${err.message})`,
      { cause: err },
    );
  }
}

/** The dtype of a typed array, or undefined for other arrays. */
export function dtypeOf(a: unknown): DType | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint32Array) return 'uint32';
  return undefined;
}

/** Number of elements of a shape (1 for a scalar). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}
