import type { DType, Shape, TypedArray } from '../dtype.js';
import type { Tensor } from '../tensor.js';
import type { Float32Pool } from './pool.js';

/** What the CPU op files (`./ops/*.ts`) need from the backend instance that calls them. */
export interface CpuContext {
  /** The backend's name (for tensor checks and messages). */
  readonly name: string;
  /** The live typed array of `t` (validated for `op`; `name` labels the operand in messages). */
  arr(t: Tensor, op: string, name?: string): TypedArray;
  /** Wraps `data` as a new tensor of this backend (counted for `memory()`). */
  make(data: TypedArray, shape: Shape, dtype: DType): Tensor;
  /** Recycled float32 outputs, for kernels that write every element. */
  readonly pool: Float32Pool;
}
