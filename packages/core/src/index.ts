/**
 * @tessera/core: tensors, the Backend interface, the backend registry, the Philox RNG, the CPU reference
 * backend and errors. Everything else in Tessera stands on this package.
 *
 * @example
 * import { tensor, randn, getBackend } from '@tessera/core';
 * const t = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * console.log(await t.data()); // Float32Array [1, 2, 3, 4, 5, 6]
 * const z = randn([1024], { seed: 42 }); // identical words on every backend
 */
import type { RandomOptions } from './backend.js';
import { createCpuBackend } from './cpu/cpu-backend.js';
import type { DType, Shape, TypedArray } from './dtype.js';
import { currentBackend, registerBackend, setDefaultBackendFactory } from './registry.js';
import type { Tensor } from './tensor.js';

export {
  type Backend,
  BINARY_OP_NAMES,
  type BinaryOp,
  COMPARE_OP_NAMES,
  type MatmulOptions,
  type MemoryInfo,
  type RandomOptions,
  REDUCE_OP_NAMES,
  RESIZE_MODES,
  type ReduceOp,
  type ResizeMode,
  type RngPosition,
  UNARY_OP_NAMES,
  type UnaryOp,
} from './backend.js';
export { CpuBackend, createCpuBackend } from './cpu/cpu-backend.js';
export { cubicWeight, resizeTaps } from './cpu/kernels.js';
export {
  type ArrayFor,
  allocArray,
  DTYPES,
  type DType,
  dtypeOf,
  MAX_TENSOR_ELEMENTS,
  type Shape,
  sizeOf,
  stridesOf,
  type TypedArray,
} from './dtype.js';
export { check, fmtShape, TesseraError, type TesseraErrorCode } from './errors.js';
export { philox4x32, philoxWords, split64, wordsToNormal, wordToUniform } from './philox.js';
export {
  type BackendFactory,
  type BackendFailure,
  backendFailures,
  currentBackend,
  getBackend,
  listBackends,
  registerBackend,
  resetBackends,
  setBackend,
} from './registry.js';
export { captureTensors, dispose, keep, RunScope, scope, tensorWatermark, tidy } from './scope.js';
export * as shapes from './shape.js';
export { isTensor, Tensor } from './tensor.js';
export { nextMacrotask, pacer, throwIfAborted, YIELD_INTERVAL_MS } from './yield.js';

let cpuSingleton: ReturnType<typeof createCpuBackend> | undefined;
function cpu() {
  cpuSingleton ??= createCpuBackend();
  return cpuSingleton;
}
setDefaultBackendFactory(cpu);
registerBackend('cpu', cpu, 1);

/** Creates a tensor on the active backend (CPU unless `setBackend` chose another). */
export function tensor(data: TypedArray | readonly number[], shape: Shape, dtype?: DType): Tensor {
  return currentBackend().tensor(data, shape, dtype);
}

/** Standard normal float32 tensor from the Philox stream of `seed` on the active backend. */
export function randn(shape: Shape, random: RandomOptions): Tensor {
  return currentBackend().randn(shape, random);
}

/** Uniform (0, 1) float32 tensor from the Philox stream of `seed` on the active backend. */
export function rand(shape: Shape, random: RandomOptions): Tensor {
  return currentBackend().rand(shape, random);
}

/** A tensor of zeros on the active backend. */
export function zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
  return currentBackend().fill(shape, 0, dtype);
}
