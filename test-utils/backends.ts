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
