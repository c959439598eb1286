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
      // Imported by a computed name: packages whose tests use this helper need not depend on (or be
      // type-checked against) backend-webgpu.
      const name = '@tessera/backend-webgpu';
      const m = (await import(/* @vite-ignore */ name)) as { createWebGPUBackend(): Promise<Backend> };
      return await m.createWebGPUBackend();
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
      // Computed names, as in tryWebGPU: no type or build dependency on backend-onnx for the caller.
      const names = ['@tessera/backend-onnx', 'onnxruntime-node'];
      const m = (await import(/* @vite-ignore */ names[0]!)) as {
        createOnnxBackend(o: object): Backend;
      };
      const ort: unknown = await import(/* @vite-ignore */ names[1]!);
      const B = m.createOnnxBackend({
        ort,
        executionProviders: ['cpu'],
        sessionOptions: { intraOpNumThreads: 1 },
      });
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
