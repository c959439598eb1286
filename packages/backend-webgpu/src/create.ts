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

// One Dawn instance per process: Dawn prints its two "maxDynamic… artificially reduced" notices to
// stderr (from native code, past any JS hook) when an instance first enumerates adapters, so a new
// instance per backend would print them every time a device starts.
let nodeGpu: Promise<GPU> | undefined;

function findGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return Promise.resolve(nav.gpu);
  nodeGpu ??= createNodeGpu().catch((err) => {
    nodeGpu = undefined;
    throw err;
  });
  return nodeGpu;
}

/**
 * Every numeric limit the adapter reports, to request as is: a device gets only WebGPU's defaults
 * unless it asks (on lavapipe 128 MiB per binding and 1,024 invocations per workgroup, not 128 MiB/256).
 */
export function adapterLimits(adapter: GPUAdapter): Record<string, number> {
  const out: Record<string, number> = {};
  const L = adapter.limits as unknown as Record<string, unknown>;
  for (const key in L) {
    const v = L[key];
    if (typeof v === 'number') out[key] = v;
  }
  return out;
}

async function createNodeGpu(): Promise<GPU> {
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
 * `options.gpu`, `navigator.gpu` (browsers) or the `webgpu` npm package (Node; one instance per process),
 * and a device with every limit the adapter reports. Rejects with `BACKEND_UNAVAILABLE` when there is no adapter.
 *
 * @example
 * const B = await createWebGPUBackend();
 * const x = B.randn([4, 4], { seed: 1 });
 * console.log(await x.data());
 */
export async function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  if (options.device) return new WebGPUBackend(options.device, false);
  const gpu = options.gpu ?? (await findGpu());
  if (options.gpu) keepAlive.push(gpu);
  const adapter = await gpu.requestAdapter(
    options.powerPreference ? { powerPreference: options.powerPreference } : undefined,
  );
  if (!adapter)
    throw new TesseraError(
      'BACKEND_UNAVAILABLE',
      'webgpu: no GPU adapter is available on this machine (requestAdapter returned null)',
    );
  keepAlive.push(adapter);
  const device = await adapter.requestDevice({ requiredLimits: adapterLimits(adapter) });
  device.addEventListener('uncapturederror', (ev) => {
    console.error(`[tessera webgpu] ${(ev as GPUUncapturedErrorEvent).error.message}`);
  });
  return new WebGPUBackend(device, true);
}

/** Registers `webgpu` in core's backend registry (nothing happens on import). */
export function registerWebGPUBackend(priority = 2): void {
  registerBackend('webgpu', () => createWebGPUBackend(), priority);
}
