import { registerBackend, TesseraError } from '@tessera/core';
import { WebGPUBackend } from './backend.js';

/** Options of {@link createWebGPUBackend}. */
export interface WebGPUBackendOptions {
  /** Use this device (e.g. the one ONNX Runtime's WebGPU execution provider runs on). */
  device?: GPUDevice;
  /** Use this `GPU` object instead of `navigator.gpu` or the `webgpu` npm package. */
  gpu?: GPU;
  /** Adapter preference when this backend requests its own adapter. */
  powerPreference?: GPUPowerPreference;
}

// Dawn's Node binding tears the device down when its GPU instance is garbage-collected, so the
// instances this module creates are kept alive for the life of the process.
const keepAlive: unknown[] = [];

async function findGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode)
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      'webgpu: navigator.gpu is missing (this browser has no WebGPU)',
    );
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    const name = 'webgpu';
    mod = (await import(/* @vite-ignore */ name)) as typeof mod;
  } catch (err) {
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      `webgpu: Node needs the 'webgpu' package (npm install webgpu): ${(err as Error).message}`,
      { cause: err },
    );
  }
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  keepAlive.push(gpu);
  return gpu;
}

/**
 * Creates the WebGPU backend. With `device`, uses it as is (sharing it with, e.g., ONNX Runtime's
 * WebGPU execution provider; the caller keeps ownership). Otherwise requests an adapter from
 * `options.gpu`, `navigator.gpu` (browsers) or the `webgpu` npm package (Node), and a device with the
 * adapter's storage limits. Rejects with `BACKEND_UNAVAILABLE` when there is no adapter.
 *
 * @example
 * const B = await createWebGPUBackend();
 * const x = B.randn([4, 4], { seed: 1 });
 * console.log(await x.data());
 */
export async function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  if (options.device) return new WebGPUBackend(options.device, false);
  const gpu = options.gpu ?? (await findGpu());
  keepAlive.push(gpu);
  const adapter = await gpu.requestAdapter(
    options.powerPreference ? { powerPreference: options.powerPreference } : undefined,
  );
  if (!adapter)
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      'webgpu: no GPU adapter is available on this machine (requestAdapter returned null)',
    );
  const L = adapter.limits;
  keepAlive.push(adapter);
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
      maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxBufferSize: L.maxBufferSize,
      maxComputeWorkgroupSizeX: Math.min(L.maxComputeWorkgroupSizeX, 256),
      maxComputeInvocationsPerWorkgroup: Math.min(L.maxComputeInvocationsPerWorkgroup, 256),
    },
  });
  device.addEventListener('uncapturederror', (ev) => {
    console.error(`[tessera webgpu] ${(ev as GPUUncapturedErrorEvent).error.message}`);
  });
  return new WebGPUBackend(device, true);
}

/** Registers `webgpu` in core's backend registry (nothing happens on import). */
export function registerWebGPUBackend(priority = 2): void {
  registerBackend('webgpu', () => createWebGPUBackend(), priority);
}
