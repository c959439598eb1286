import { moveToBackend, moveToOnnx, type OnnxBackend } from '@tessera/backend-onnx';
import type { Backend, Tensor } from '@tessera/core';

/**
 * Runs `fn` on `x` as a tensor of the ONNX backend `B` and gives its result back on `target` (default:
 * `x`'s backend). Tensors of another backend (CPU, `@tessera/backend-webgpu`) cross with
 * `moveToOnnx` / `moveToBackend`: on the GPU where ONNX Runtime shares the WebGPU device (onnxruntime-web
 * with `{ name: 'webgpu', device }`), through the host otherwise. Intermediate copies are freed; the
 * caller owns the result.
 */
export async function viaOnnx(
  B: OnnxBackend,
  x: Tensor,
  fn: (xo: Tensor) => Promise<Tensor>,
  target: Backend = x.backend,
): Promise<Tensor> {
  if (x.backend === B && target === B) return fn(x);
  const xo = x.backend === B ? undefined : (await moveToOnnx(x, B)).tensor;
  let out: Tensor | undefined;
  try {
    out = await fn(xo ?? x);
  } finally {
    xo?.dispose();
  }
  if (target === B) return out;
  try {
    return (await moveToBackend(out, B, target)).tensor;
  } finally {
    out.dispose();
  }
}
