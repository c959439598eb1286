import { type Backend, type DType, type Shape, shapes, type Tensor, TesseraError } from '@tessera/core';
import type { OnnxBackend } from './backend.js';
import type { Slot } from './engine.js';

/** A backend that can adopt an existing GPU buffer (as @tessera/backend-webgpu's `WebGPUBackend` can). */
export interface GpuBufferBackend extends Backend {
  wrapBuffer(buffer: GPUBufferLike, shape: Shape, dtype?: DType): Tensor;
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
 * Hands a tensor of an {@link OnnxBackend} to another backend. When the value sits in a WebGPU buffer
 * that the target can adopt (onnxruntime-web's WebGPU provider with the WebGPU backend created on
 * `ort.env.webgpu.device`), the buffer is wrapped and copied on the GPU: no host readback. Otherwise
 * (onnxruntime-node, whose WebGPU provider hands out opaque native buffers that JavaScript WebGPU
 * implementations cannot use, or any other target) the data goes through the host, unless
 * `requireZeroCopy` makes that an UNSUPPORTED error.
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
  const wrap = (target as Partial<GpuBufferBackend>).wrapBuffer;
  if (typeof wrap === 'function' && isGpuBuffer(buf)) {
    const wrapped = wrap.call(target, buf, t.shape, t.dtype);
    // copy on the GPU so the ONNX tensor and the new one can be disposed independently
    const tensor = t.dtype === 'float32' ? target.lincomb([1], [wrapped]) : target.binary('add', wrapped, 0);
    wrapped.dispose();
    return { tensor, zeroCopy: true };
  }
  if (options.requireZeroCopy) {
    const why =
      value.location !== 'gpu-buffer'
        ? `the value is in ${value.location} memory (use the webgpu execution provider with gpuResident)`
        : typeof wrap !== 'function'
          ? `backend '${target.name}' cannot adopt GPU buffers (no wrapBuffer)`
          : 'the runtime exposes its GPU buffers as opaque native handles (onnxruntime-node), not WebGPU GPUBuffer objects';
    throw new TesseraError(
      'UNSUPPORTED',
      `moveToBackend: no zero-copy path from '${source.name}' to '${target.name}': ${why}`,
    );
  }
  return { tensor: target.tensor(await t.data(), t.shape, t.dtype), zeroCopy: false };
}
