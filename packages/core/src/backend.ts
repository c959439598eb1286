import type { DType, Shape, TypedArray } from './dtype.js';
import type { Tensor } from './tensor.js';

/**
 * Every unary op name, the one list both the {@link UnaryOp} type and the runtime checks derive from.
 * Integer dtypes support `neg`, `abs`, `square`, `sign`.
 */
export const UNARY_OP_NAMES = [
  'neg',
  'abs',
  'sign',
  'square',
  'sqrt',
  'rsqrt',
  'reciprocal',
  'exp',
  'expm1',
  'log',
  'log1p',
  'sin',
  'cos',
  'tanh',
  'sigmoid',
  'softplus',
  'relu',
  'silu',
  'gelu',
  'erf',
  'floor',
  'ceil',
  'round',
] as const;

/** Elementwise functions of one tensor. Integer dtypes support `neg`, `abs`, `square`, `sign`. */
export type UnaryOp = (typeof UNARY_OP_NAMES)[number];

/** Comparison op names (their output is uint32 0/1). */
export const COMPARE_OP_NAMES = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;

/** Every binary op name, the one list both the {@link BinaryOp} type and the runtime checks derive from. */
export const BINARY_OP_NAMES = [
  'add',
  'sub',
  'mul',
  'div',
  'floorDiv',
  'mod',
  'pow',
  'max',
  'min',
  'atan2',
  ...COMPARE_OP_NAMES,
] as const;

/**
 * Elementwise functions of two tensors, with numpy broadcasting. Arithmetic ops keep the dtype
 * (both inputs must match); comparisons (`eq` … `ge`) return `uint32` 0/1. `floorDiv` and `mod` follow
 * Python (floor) semantics. `pow` and `atan2` are float32 only.
 */
export type BinaryOp = (typeof BINARY_OP_NAMES)[number];

/** Every reduction name, the one list both the {@link ReduceOp} type and the runtime checks derive from. */
export const REDUCE_OP_NAMES = ['sum', 'mean', 'max', 'min', 'sumsq', 'prod', 'logsumexp'] as const;

/** Reductions over axes. `sumsq` is Σx²; `logsumexp` is log Σ exp(x), computed stably. */
export type ReduceOp = (typeof REDUCE_OP_NAMES)[number];

/** Every resampling kernel name of {@link Backend.resize}. */
export const RESIZE_MODES = ['nearest', 'bilinear', 'bicubic', 'area'] as const;

/** Resampling kernels of {@link Backend.resize}, with PyTorch `interpolate` semantics (align_corners=false). */
export type ResizeMode = (typeof RESIZE_MODES)[number];

/**
 * Position in the Philox4x32-10 stream. The stream of `seed` is the sequence of 32-bit words
 * w₀, w₁, …, where block b = ⌊j/4⌋ is Philox4x32-10(counter = [b mod 2³², ⌊b/2³²⌋, 0, 0],
 * key = [seed mod 2³², ⌊seed/2³²⌋]) and w_j is its word j mod 4. `offset` (in words, default 0) says
 * where a draw starts, so any slice of a stream can be drawn without drawing what comes before it.
 */
export interface RandomOptions {
  /** Non-negative integer below 2⁵³. */
  seed: number;
  /** Word offset into the stream (non-negative integer below 2⁵³). Default 0. */
  offset?: number;
}

/**
 * The one RNG-position type of Tessera: a Philox stream (`seed`) and a word `offset` into it. Ops take
 * it as {@link RandomOptions}; diffusion's scheduler `Generator` is this shape used mutably (a step
 * advances its `offset` by the words it drew, like a torch.Generator); autoregressive's `RngStream` is a
 * cursor whose `seed` and `offset` make it one too, and whose `take(words)` hands out the next one.
 */
export type RngPosition = RandomOptions;

/** Options of {@link Backend.matmul}. */
export interface MatmulOptions {
  /** Use the transpose of the last two axes of `a`. */
  transposeA?: boolean;
  /** Use the transpose of the last two axes of `b`. */
  transposeB?: boolean;
}

/** Counts a backend reports for leak tests. */
export interface MemoryInfo {
  /** Live (not disposed) tensors created by this backend. */
  tensors: number;
  /** Bytes held by live tensors. */
  bytes: number;
  /** Device buffers allocated, pooled ones included (WebGPU); equals `tensors` on CPU. */
  buffers: number;
}

/**
 * The op set every backend implements. Every op returns a new tensor, validates shapes and dtypes
 * synchronously (throwing {@link TesseraError}), and may compute lazily: a device backend enqueues work
 * and only `read` (behind `Tensor.data()`) waits for it. Ops never read values back to the host.
 *
 * Axes may be negative (counted from the end). Inputs must belong to this backend.
 */
export interface Backend {
  /** Registry name, e.g. `cpu`, `webgpu`, `onnx`. */
  readonly name: string;

  // ---- storage ----
  /** Uploads host data. `data` length must equal the shape's size; dtype defaults to the array's or float32. */
  tensor(data: TypedArray | readonly number[], shape: Shape, dtype?: DType): Tensor;
  /** A tensor filled with `value`. */
  fill(shape: Shape, value: number, dtype?: DType): Tensor;
  /** `[start, start+step, …)` below `stop` (1-D). dtype defaults to int32. */
  arange(start: number, stop: number, step?: number, dtype?: DType): Tensor;
  /** Reads a tensor back to the host. Prefer `tensor.data()`. */
  read(t: Tensor): Promise<TypedArray>;
  /** Frees a tensor's storage; called by `Tensor.dispose()`. */
  release(storage: unknown, t: Tensor): void;
  /** Live tensor and buffer counts. */
  memory(): MemoryInfo;
  /** Resolves when all queued work has finished (for benchmarks). */
  sync(): Promise<void>;
  /**
   * Frees the backend's own resources (pipelines, buffer pools, sessions; the device if the backend
   * created it). The one lifetime call on every backend: `await backend.dispose()`. Live tensors should
   * be disposed first; the backend must not be used afterwards. Safe to call twice.
   */
  dispose(): Promise<void>;
  /** @deprecated Use `await backend.dispose()`, which every backend has. */
  destroy?(): void;

  // ---- elementwise ----
  /**
   * Fused linear combination Σᵢ coefs[i]·xs[i] (the sampler workhorse). All `xs` are float32 with the
   * same shape; one pass, one output.
   */
  lincomb(coefs: readonly number[], xs: readonly Tensor[]): Tensor;
  /** Elementwise unary function. */
  unary(op: UnaryOp, x: Tensor): Tensor;
  /** Elementwise binary function with broadcasting; a number operand is a scalar of the other's dtype. */
  binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor;
  /** Clamps to [min, max] (either bound may be omitted with ±Infinity). */
  clamp(x: Tensor, min: number, max: number): Tensor;
  /** Converts dtype (float→int truncates toward zero). */
  cast(x: Tensor, dtype: DType): Tensor;
  /** Picks `a` where `cond` is non-zero, else `b`; broadcasting over all three. */
  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor;

  // ---- reductions ----
  /** Reduces over `axes` (default: all). float32 in, float32 out (`sum`/`max`/`min`/`prod` keep int dtypes). */
  reduce(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepDims?: boolean): Tensor;
  /** Index of the largest value along `axis` (first on ties), int32. */
  argmax(x: Tensor, axis?: number, keepDims?: boolean): Tensor;
  /** Index of the smallest value along `axis` (first on ties), int32. */
  argmin(x: Tensor, axis?: number, keepDims?: boolean): Tensor;
  /** Cumulative sum along `axis`; `exclusive` shifts by one, `reverse` sums from the end. */
  cumsum(x: Tensor, axis: number, options?: { exclusive?: boolean; reverse?: boolean }): Tensor;

  // ---- linear algebra ----
  /**
   * Batched matrix product of float32 tensors: `[..., M, K] × [..., K, N] → [..., M, N]`, batch axes
   * broadcast; rank-1 operands are not promoted (use reshape).
   */
  matmul(a: Tensor, b: Tensor, options?: MatmulOptions): Tensor;

  // ---- indexing and layout ----
  /**
   * `numpy.take`: picks slices of `x` along `axis` by int32 `indices`.
   * Output shape: `x.shape[:axis] + indices.shape + x.shape[axis+1:]`. Out-of-range indices are clamped.
   */
  gather(x: Tensor, indices: Tensor, axis?: number): Tensor;
  /** `numpy.take_along_axis`: `indices` has x's rank; output has indices' shape (broadcast on other axes). */
  takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor;
  /** Joins tensors of one dtype along `axis`. */
  concat(xs: readonly Tensor[], axis: number): Tensor;
  /** A box of `x`: `begin` per axis, `size` per axis (-1 = to the end). */
  slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor;
  /** Same data, new shape (one extent may be -1). A new tensor that the caller disposes. */
  reshape(x: Tensor, shape: Shape): Tensor;
  /** Permutes axes (default: reverse them). */
  transpose(x: Tensor, perm?: readonly number[]): Tensor;
  /** Broadcasts to `shape` (numpy rules), materialised. */
  broadcastTo(x: Tensor, shape: Shape): Tensor;

  // ---- probability ----
  /** Softmax along `axis` (default -1), max-subtracted. */
  softmax(x: Tensor, axis?: number): Tensor;
  /** Log-softmax along `axis` (default -1). */
  logSoftmax(x: Tensor, axis?: number): Tensor;
  /**
   * Keeps the `k` largest logits of each row (last axis) and sets the rest to -Infinity. Values equal
   * to the k-th largest are kept. `k` ≤ 0 or ≥ the row length keeps everything.
   */
  topK(logits: Tensor, k: number): Tensor;
  /**
   * Nucleus filter over the last axis: keeps the smallest set of most probable tokens whose total
   * probability (softmax of the logits) reaches `p`, always at least one; the rest become -Infinity.
   * `p` ≥ 1 keeps everything.
   */
  topP(logits: Tensor, p: number): Tensor;
  /** Keeps tokens whose probability is at least `p` times the row's largest probability. */
  minP(logits: Tensor, p: number): Tensor;
  /**
   * Draws one index per row of `logits` (last axis) from softmax(logits), int32 of shape `logits.shape[:-1]`.
   * Row r uses the uniform u = rand word (offset + r) of the Philox stream and returns the first index
   * whose cumulative probability exceeds u · total.
   */
  sampleCategorical(logits: Tensor, random: RandomOptions): Tensor;
  /**
   * Uniform float32 in (0, 1): element i is ((w_{offset+i} >>> 9) + 0.5) · 2⁻²³, exact on every backend.
   */
  rand(shape: Shape, random: RandomOptions): Tensor;
  /**
   * Standard normal float32 by Box–Muller: element i takes u₁ = U(w_{offset+2i}), u₂ = U(w_{offset+2i+1})
   * (U as in `rand`) and returns √(−2 ln u₁)·cos(2π u₂). Uses 2·size words of the stream.
   */
  randn(shape: Shape, random: RandomOptions): Tensor;

  // ---- images ----
  /**
   * Resizes the last two axes of a `[N, C, H, W]` (or any rank ≥ 2) float32 tensor to `[h, w]` like
   * PyTorch `F.interpolate(x, size, mode, align_corners=False)`: `nearest` (floor(dst·scale)),
   * `bilinear`, `bicubic` (a = −0.75, border-clamped taps) and `area` (adaptive average pooling).
   */
  resize(x: Tensor, size: readonly [number, number], mode: ResizeMode): Tensor;
}
