// The ONNX Runtime targets the tests run on: onnxruntime-node (cpu, webgpu) and onnxruntime-web (wasm).

import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOnnxBackend, type OnnxBackend, type OrtRuntime } from '@tessera/backend-onnx';

export type Target = 'node-cpu' | 'node-webgpu' | 'web-wasm';

/** The injected runtime module of a target. */
export async function ortFor(target: Target): Promise<OrtRuntime> {
  if (target === 'web-wasm') {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    return ort as unknown as OrtRuntime;
  }
  if (target === 'node-webgpu' && !process.env.XDG_RUNTIME_DIR) {
    // Dawn's Vulkan loader wants a runtime dir; lavapipe provides the adapter on CI machines
    const dir = join(tmpdir(), `xdg-tessera-${process.pid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  return (await import('onnxruntime-node')) as unknown as OrtRuntime;
}

/** Execution providers of a target. */
export function epsFor(target: Target): string[] {
  return target === 'node-cpu' ? ['cpu'] : target === 'node-webgpu' ? ['webgpu'] : ['wasm'];
}

/**
 * A backend on `target`, probed with one op; undefined (with a notice) when the target does not work on
 * this machine, unless TESSERA_REQUIRE_WEBGPU=1 makes a missing WebGPU provider a failure.
 */
export async function tryOnnxBackend(target: Target): Promise<OnnxBackend | undefined> {
  try {
    const ort = await ortFor(target);
    const B = createOnnxBackend({
      ort,
      executionProviders: epsFor(target),
      sessionOptions: { intraOpNumThreads: 1 },
    });
    const probe = B.binary('add', B.tensor([1, 2], [2]), 1);
    const v = await probe.data();
    if (v[0] !== 2 || v[1] !== 3) throw new Error(`probe gave ${Array.from(v)}`);
    return B;
  } catch (err) {
    if (target === 'node-webgpu' && process.env.TESSERA_REQUIRE_WEBGPU === '1') throw err;
    console.warn(`[tessera] ONNX Runtime target ${target} skipped: ${(err as Error).message}`);
    return undefined;
  }
}
