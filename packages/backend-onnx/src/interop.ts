import { type Backend, type DType, type Shape, shapes, type Tensor, TesseraError } from '@tessera/core';
import type { OnnxBackend } from './backend.js';
import type { Slot } from './engine.js';

/**
 * A backend whose tensors live in WebGPU buffers of one device, which it can adopt and hand out (as
 * @tessera/backend-webgpu's `WebGPUBackend` does).
 */
export interface GpuBufferBackend extends Backend {
  /** The `GPUDevice` the tensors live on. */
  readonly device?: unknown;
  /** Adopts a buffer of the same device as a tensor, without copying. */
  wrapBuffer(buffer: GPUBufferLike, shape: Shape, dtype?: DType): Tensor;
  /** The buffer holding a tensor, after submitting the work queued so far. */
  exportBuffer?(t: Tensor): GPUBufferLike;
}

/** A `GPUBuffer` of the WebGPU API (structural, so this package needs no WebGPU types). */
export interface GPUBufferLike {
  readonly size: number;
  readonly usage: number;
}

/** Result of {@link moveToBackend}. */
export interface MovedTensor {
  /** The tensor on the target backend (a new tensor the caller owns; the source is left as is). */
  tensor: Tensor;
  /** True when the data never left the GPU (the buffer was shared), false after a host round trip. */
  zeroCopy: boolean;
}

function isGpuBuffer(b: unknown): b is GPUBufferLike {
  return (
    typeof b === 'object' &&
    b !== null &&
    typeof (b as GPUBufferLike).size === 'number' &&
    typeof (b as GPUBufferLike).usage === 'number'
  );
}

/**
 * The `GPUDevice` ONNX Runtime's WebGPU provider runs on: the `device` of the backend's
 * `{ name: 'webgpu', device }` execution provider entry, the one place onnxruntime-web 1.30 takes it
 * from. (`ort.env.webgpu.device` is not trusted: a device assigned there is reported back but not used,
 * so comparing against it would hand buffers across devices.) Undefined otherwise.
 */
function ortDevice(onnx: OnnxBackend): unknown {
  return onnx.engine.webgpuDevice;
}

/**
 * Hands a tensor of an {@link OnnxBackend} to another backend. When the value sits in a WebGPU buffer
 * of the device the target's tensors live on (onnxruntime-web's WebGPU provider created with
 * `executionProviders: [{ name: 'webgpu', device }]`, `device` the WebGPU backend's), the buffer is wrapped and copied on the
 * GPU: no host readback. Otherwise (onnxruntime-node, whose WebGPU provider hands out opaque native
 * buffers that JavaScript WebGPU implementations cannot use; another device; any other target) the
 * data goes through the host, unless `requireZeroCopy` makes that an UNSUPPORTED error.
 */
export async function moveToBackend(
  t: Tensor,
  source: OnnxBackend,
  target: Backend,
  options: { requireZeroCopy?: boolean } = {},
): Promise<MovedTensor> {
  shapes.checkTensor('moveToBackend', t, source.name);
  const slot = t.storage as Slot;
  const value = slot.value ?? (await slot.ready);
  const buf = value.location === 'gpu-buffer' ? (value as { gpuBuffer?: unknown }).gpuBuffer : undefined;
  const gpuTarget = target as Partial<GpuBufferBackend>;
  const wrap = gpuTarget.wrapBuffer;
  let why: string | undefined;
  if (value.location !== 'gpu-buffer')
    why = `the value is in ${value.location} memory (use the webgpu execution provider with gpuResident)`;
  else if (typeof wrap !== 'function')
    why = `backend '${target.name}' cannot adopt GPU buffers (no wrapBuffer)`;
  else if (!isGpuBuffer(buf))
    why =
      'the runtime exposes its GPU buffers as opaque native handles (onnxruntime-node), not WebGPU GPUBuffer objects';
  else if (ortDevice(source) === undefined || ortDevice(source) !== gpuTarget.device)
    why = `ONNX Runtime's WebGPU device is not the device of '${target.name}' (pass executionProviders: [{ name: 'webgpu', device }] with that device)`;
  if (!why) {
    const wrapped = wrap!.call(target, buf as GPUBufferLike, t.shape, t.dtype);
    // copy on the GPU so the ONNX tensor and the new one can be disposed independently
    const tensor = t.dtype === 'float32' ? target.lincomb([1], [wrapped]) : target.binary('add', wrapped, 0);
    wrapped.dispose();
    return { tensor, zeroCopy: true };
  }
  if (options.requireZeroCopy) {
    throw new TesseraError(
      'UNSUPPORTED',
      `moveToBackend: no zero-copy path from '${source.name}' to '${target.name}': ${why}`,
    );
  }
  return { tensor: target.tensor(await t.data(), t.shape, t.dtype), zeroCopy: false };
}

/**
 * Hands a tensor of another backend to an {@link OnnxBackend}, the reverse of {@link moveToBackend}.
 * When the source is a WebGPU backend on the device of ONNX Runtime's WebGPU provider (onnxruntime-web
 * with `executionProviders: [{ name: 'webgpu', device }]`) and the target keeps its values on the GPU, the tensor is
 * copied on the GPU and the copy is given to ONNX Runtime with `Tensor.fromGpuBuffer` (freed when the
 * returned tensor is disposed): no host round trip. Otherwise the data goes through the host, unless
 * `requireZeroCopy` makes that an UNSUPPORTED error.
 */
export async function moveToOnnx(
  t: Tensor,
  target: OnnxBackend,
  options: { requireZeroCopy?: boolean } = {},
): Promise<MovedTensor> {
  const source = t?.backend as Partial<GpuBufferBackend> | undefined;
  shapes.checkTensor('moveToOnnx', t, source?.name ?? '?');
  let why: string | undefined;
  if (!target.engine.gpuResident)
    why = `backend '${target.name}' keeps values in host memory (use the webgpu execution provider)`;
  else if (typeof source!.exportBuffer !== 'function')
    why = `backend '${source!.name}' cannot hand out GPU buffers (no exportBuffer)`;
  else if (typeof target.engine.runtime.Tensor.fromGpuBuffer !== 'function')
    why = 'the runtime has no Tensor.fromGpuBuffer';
  else if (source!.device === undefined || ortDevice(target) !== source!.device)
    why = `ONNX Runtime's WebGPU device is not the device of '${source!.name}' (pass executionProviders: [{ name: 'webgpu', device }] with that device)`;
  if (!why) {
    const B = source as GpuBufferBackend;
    const copy = t.dtype === 'float32' ? B.lincomb([1], [t]) : B.binary('add', t, 0);
    const value = target.engine.runtime.Tensor.fromGpuBuffer(B.exportBuffer!(copy) as never, {
      dataType: t.dtype,
      dims: t.shape,
      dispose: () => copy.dispose(),
    });
    return { tensor: target.wrap(value, t.dtype), zeroCopy: true };
  }
  if (options.requireZeroCopy) {
    throw new TesseraError(
      'UNSUPPORTED',
      `moveToOnnx: no zero-copy path from '${source!.name}' to '${target.name}': ${why}`,
    );
  }
  return { tensor: target.tensor(await t.data(), t.shape, t.dtype), zeroCopy: false };
}
