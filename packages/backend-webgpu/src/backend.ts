import {
  allocArray,
  type Backend,
  type BinaryOp,
  type DType,
  fmtShape,
  type MatmulOptions,
  type MemoryInfo,
  type RandomOptions,
  type ReduceOp,
  type ResizeMode,
  type Shape,
  shapes,
  sizeOf,
  Tensor,
  TesseraError,
  type TypedArray,
  type UnaryOp,
} from '@tessera/core';
import { Engine, type GpuStorage } from './engine.js';
import * as ew from './ops/elementwise.js';
import * as layout from './ops/layout.js';
import * as lin from './ops/matmul.js';
import * as prob from './ops/probability.js';
import * as red from './ops/reduce.js';
import { resize } from './ops/resize.js';
import type { Params } from './shaders/common.js';

/**
 * The Tessera {@link Backend} on WebGPU: every op is a WGSL compute kernel, queued without waiting;
 * `read()` (behind `Tensor.data()`) is the only host readback.
 */
export class WebGPUBackend implements Backend {
  #disposed = false;
  readonly name = 'webgpu';
  /** The device all tensors of this backend live on. */
  readonly device: GPUDevice;
  /** Kernels, pipelines, buffer pool and command batching. */
  readonly engine: Engine;
  /**
   * The matmul kernel: `direct` (default; register blocks streamed from memory, no barriers, best on
   * CPU-emulated devices such as lavapipe) or `tiled` (staged through workgroup memory, fewer global
   * reads, meant for real GPUs). `bench/webgpu-matmul.mjs` compares them on this machine's adapter.
   */
  matmulKernel: 'direct' | 'tiled' = 'direct';
  /** Host readbacks so far (one per `read()`), for tests that count them. */
  readbacks = 0;
  #tensors = 0;
  #bytes = 0;
  #ownsDevice: boolean;

  constructor(device: GPUDevice, ownsDevice = false) {
    this.device = device;
    this.engine = new Engine(device);
    this.#ownsDevice = ownsDevice;
  }

  /** Compute pipelines compiled so far (a new shape reuses the pipeline of its op). */
  get pipelineCount(): number {
    return this.engine.pipelinesCompiled;
  }

  /** Throws UNSUPPORTED when a tensor of `shape` would not fit one storage binding of this device. */
  #checkBinding(shape: Shape, dtype: DType): void {
    const bytes = sizeOf(shape) * 4;
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if (bytes > limit) {
      throw new TesseraError(
        'UNSUPPORTED',
        `webgpu: a ${fmtShape(shape)} ${dtype} tensor needs ${bytes} bytes; this device binds at most ${limit} per buffer (maxStorageBufferBindingSize)`,
      );
    }
  }

  // ---- helpers for the op modules ----
  /** A new tensor of `shape` on a fresh pooled buffer (or on `storage`, shared). */
  make(shape: Shape, dtype: DType, storage?: GpuStorage): Tensor {
    const bytes = sizeOf(shape) * 4;
    if (!storage) this.#checkBinding(shape, dtype);
    const s = storage ?? { buffer: this.engine.acquire(bytes), refs: 0, external: false };
    s.refs++;
    this.#tensors++;
    this.#bytes += sizeOf(shape) * 4;
    return new Tensor(this, s, shape, dtype);
  }

  /** Validates `t` (live, on this backend) and returns its buffer. */
  buf(t: Tensor, op: string, name = 'input'): GPUBuffer {
    shapes.checkTensor(op, t, this.name, name);
    if (t.backend !== this) {
      throw new TesseraError(
        'BACKEND_MISMATCH',
        `${op}: ${name} lives on another WebGPU backend (a different device)`,
      );
    }
    return (t.storage as GpuStorage).buffer;
  }

  /** Encodes one kernel over `groups` workgroups writing `out`. */
  run(
    key: string,
    source: () => string,
    inputs: readonly GPUBuffer[],
    out: Tensor,
    params: Params,
    groups: number,
    groupsZ = 1,
  ): Tensor {
    if (groups > 0 && out.size > 0) {
      const p = this.engine.params(params.array());
      this.engine.dispatch(key, source, [p, ...inputs, (out.storage as GpuStorage).buffer], groups, groupsZ);
    }
    return out;
  }

  // ---- storage ----
  tensor(data: TypedArray | readonly number[], shape: Shape, dtype?: DType): Tensor {
    const { arr, dtype: dt } = shapes.hostArray(data, shape, dtype);
    return this.upload(arr, shape, dt);
  }

  /** Uploads a typed array of the dtype's kind as a new tensor. */
  upload(arr: TypedArray, shape: Shape, dtype: DType): Tensor {
    this.#checkBinding(shape, dtype);
    return this.make(shape, dtype, { buffer: this.engine.upload(arr), refs: 0, external: false });
  }

  /**
   * Wraps an existing GPU buffer (for example an ONNX Runtime WebGPU output on this same device) as a
   * tensor, without copying. The buffer needs STORAGE and COPY_SRC usage and at least `size·4` bytes.
   * Ownership stays with the caller: disposing the tensor does not destroy the buffer, and the caller
   * must keep the buffer alive (and unmodified) while the tensor or anything reading it is in use.
   */
  wrapBuffer(buffer: GPUBuffer, shape: Shape, dtype: DType = 'float32'): Tensor {
    shapes.checkShape('wrapBuffer', shape);
    const need = sizeOf(shape) * 4;
    if (buffer.size < need) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `wrapBuffer: buffer has ${buffer.size} bytes, shape ${fmtShape(shape)} ${dtype} needs ${need}`,
      );
    }
    if ((buffer.usage & 0x80) === 0 || (buffer.usage & 0x04) === 0) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `wrapBuffer: buffer needs STORAGE and COPY_SRC usage, got usage ${buffer.usage}`,
      );
    }
    return this.make(shape, dtype, { buffer, refs: 0, external: true });
  }

  /**
   * The GPU buffer that holds `t`, for handing to another user of this same device (for example
   * `ort.Tensor.fromGpuBuffer` of onnxruntime-web's WebGPU provider). Everything queued so far is
   * submitted first, so work the other user submits afterwards sees the tensor's final contents. The
   * buffer may be larger than `t.size·4` bytes (pool size classes); it stays owned by `t`: the caller
   * must not write to it, and must keep `t` alive (undisposed) while the buffer is in use.
   */
  exportBuffer(t: Tensor): GPUBuffer {
    const buffer = this.buf(t, 'exportBuffer', 't');
    this.engine.flush();
    return buffer;
  }

  fill(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
    return ew.fill(this, shape, value, dtype);
  }

  arange(start: number, stop: number, step = 1, dtype: DType = 'int32'): Tensor {
    if (step === 0 || !Number.isFinite(start) || !Number.isFinite(stop)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `arange: need finite start/stop and non-zero step, got ${start}, ${stop}, ${step}`,
      );
    }
    const n = Math.max(0, Math.ceil((stop - start) / step));
    const out = allocArray(dtype, n);
    for (let i = 0; i < n; i++) out[i] = start + i * step;
    return this.upload(out, [n], dtype);
  }

  async read(t: Tensor): Promise<TypedArray> {
    const buffer = this.buf(t, 'read');
    this.readbacks++;
    const bytes = await this.engine.read(buffer, t.size * 4);
    if (t.dtype === 'float32') return new Float32Array(bytes);
    if (t.dtype === 'int32') return new Int32Array(bytes);
    return new Uint32Array(bytes);
  }

  release(storage: unknown, t: Tensor): void {
    const s = storage as GpuStorage;
    this.#tensors--;
    this.#bytes -= t.size * 4;
    if (--s.refs === 0 && !s.external) this.engine.recycle(s.buffer);
  }

  memory(): MemoryInfo {
    return { tensors: this.#tensors, bytes: this.#bytes, buffers: this.engine.buffersAllocated };
  }

  sync(): Promise<void> {
    return this.engine.sync();
  }

  /**
   * Destroys the pool's free buffers (they are otherwise kept for reuse, so a long session that saw
   * many shapes can hand memory back). Live tensors are untouched.
   */
  trim(): void {
    this.engine.trim();
  }

  /**
   * Waits for submitted work, then frees pooled buffers and pipelines and destroys the device if this
   * backend created it (a device passed in stays the caller's). Safe to call twice.
   */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      await this.engine.sync();
    } finally {
      this.engine.destroy();
      if (this.#ownsDevice) this.device.destroy();
    }
  }

  /** @deprecated Use `await backend.dispose()` (the same name on every backend). */
  destroy(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.engine.destroy();
    if (this.#ownsDevice) this.device.destroy();
  }

  // ---- elementwise ----
  lincomb(coefs: readonly number[], xs: readonly Tensor[]): Tensor {
    return ew.lincomb(this, coefs, xs);
  }
  unary(op: UnaryOp, x: Tensor): Tensor {
    return ew.unary(this, op, x);
  }
  binary(op: BinaryOp, a: Tensor | number, b: Tensor | number): Tensor {
    return ew.binary(this, op, a, b);
  }
  clamp(x: Tensor, min: number, max: number): Tensor {
    return ew.clamp(this, x, min, max);
  }
  cast(x: Tensor, dtype: DType): Tensor {
    return ew.cast(this, x, dtype);
  }
  where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
    return ew.where(this, cond, a, b);
  }

  // ---- reductions ----
  reduce(op: ReduceOp, x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
    return red.reduce(this, op, x, axes, keepDims);
  }
  argmax(x: Tensor, axis?: number, keepDims = false): Tensor {
    return red.argExt(this, x, axis, keepDims, 'argmax');
  }
  argmin(x: Tensor, axis?: number, keepDims = false): Tensor {
    return red.argExt(this, x, axis, keepDims, 'argmin');
  }
  cumsum(x: Tensor, axis: number, options: { exclusive?: boolean; reverse?: boolean } = {}): Tensor {
    return red.cumsum(this, x, axis, options);
  }

  // ---- linear algebra ----
  matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
    return lin.matmul(this, a, b, options);
  }

  // ---- indexing and layout ----
  gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
    return layout.gather(this, x, indices, axis);
  }
  takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
    return layout.takeAlongAxis(this, x, indices, axis);
  }
  concat(xs: readonly Tensor[], axis: number): Tensor {
    return layout.concat(this, xs, axis);
  }
  slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
    return layout.slice(this, x, begin, size);
  }
  reshape(x: Tensor, shape: Shape): Tensor {
    this.buf(x, 'reshape');
    return this.make(shapes.resolveReshape('reshape', x.shape, shape), x.dtype, x.storage as GpuStorage);
  }
  transpose(x: Tensor, perm?: readonly number[]): Tensor {
    return layout.transpose(this, x, perm);
  }
  broadcastTo(x: Tensor, shape: Shape): Tensor {
    return layout.broadcastTo(this, x, shape);
  }

  // ---- probability ----
  softmax(x: Tensor, axis = -1): Tensor {
    return red.softmax(this, x, axis, false);
  }
  logSoftmax(x: Tensor, axis = -1): Tensor {
    return red.softmax(this, x, axis, true);
  }
  topK(logits: Tensor, k: number): Tensor {
    return prob.topK(this, logits, k);
  }
  topP(logits: Tensor, p: number): Tensor {
    return prob.topP(this, logits, p);
  }
  minP(logits: Tensor, p: number): Tensor {
    return prob.minP(this, logits, p);
  }
  sampleCategorical(logits: Tensor, random: RandomOptions): Tensor {
    return prob.sampleCategorical(this, logits, random);
  }
  rand(shape: Shape, random: RandomOptions): Tensor {
    return prob.random(this, shape, random, 'rand');
  }
  randn(shape: Shape, random: RandomOptions): Tensor {
    return prob.random(this, shape, random, 'randn');
  }

  // ---- images ----
  resize(x: Tensor, size: readonly [number, number], mode: ResizeMode): Tensor {
    return resize(this, x, size, mode);
  }
}
