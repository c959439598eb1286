// Test helper shared by every package: the backends a test suite should run on.
// WebGPU is optional on a developer machine (a notice, then skip) and required in CI
// (TESSERA_REQUIRE_WEBGPU=1 turns a missing adapter into a failure).
import type { Backend } from '@tessera/core';
import { currentBackend } from '@tessera/core';

let webgpu: Promise<Backend | undefined> | undefined;

/** A WebGPU backend on this machine's adapter, or undefined (with a printed notice) when none exists. */
export function tryWebGPU(): Promise<Backend | undefined> {
  webgpu ??= (async () => {
    try {
      const m = await import('@tessera/backend-webgpu');
      return (await m.createWebGPUBackend()) as Backend;
    } catch (err) {
      if (process.env.TESSERA_REQUIRE_WEBGPU === '1') {
        throw new Error(
          `WebGPU is required here (TESSERA_REQUIRE_WEBGPU=1) but unavailable: ${(err as Error).message}`,
        );
      }
      console.warn(`[tessera] WebGPU tests skipped: ${(err as Error).message}`);
      return undefined;
    }
  })();
  return webgpu;
}

/** [name, backend] pairs to run a suite on: always CPU, plus WebGPU when available. */
export async function testBackends(): Promise<Array<[string, Backend]>> {
  const list: Array<[string, Backend]> = [['cpu', currentBackend()]];
  const gpu = await tryWebGPU();
  if (gpu) list.push(['webgpu', gpu]);
  return list;
}

let onnx: Promise<Backend | undefined> | undefined;

/**
 * An ONNX Runtime backend (onnxruntime-node, CPU execution provider, one thread), probed with one op;
 * undefined (with a printed notice) when onnxruntime-node cannot load here.
 */
export function tryOnnx(): Promise<Backend | undefined> {
  onnx ??= (async () => {
    try {
      const m = await import('@tessera/backend-onnx');
      const ort = await import('onnxruntime-node');
      const B = m.createOnnxBackend({
        ort: ort as never,
        executionProviders: ['cpu'],
        sessionOptions: { intraOpNumThreads: 1 },
      }) as Backend;
      const input = B.tensor([1, 2], [2]);
      const probe = B.binary('add', input, 1);
      const v = await probe.data();
      input.dispose();
      probe.dispose();
      if (v[0] !== 2 || v[1] !== 3) throw new Error(`probe gave ${Array.from(v)}`);
      return B;
    } catch (err) {
      console.warn(`[tessera] ONNX Runtime tests skipped: ${(err as Error).message}`);
      return undefined;
    }
  })();
  return onnx;
}

/** {@link testBackends} plus the ONNX Runtime (CPU) backend when it loads. */
export async function allTestBackends(): Promise<Array<[string, Backend]>> {
  const list = await testBackends();
  const o = await tryOnnx();
  if (o) list.push(['onnx', o]);
  return list;
}
