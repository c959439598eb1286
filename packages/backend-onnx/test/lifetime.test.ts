// Backend lifetime (issue 13, item 12): one awaitable `dispose()` on the CPU, WebGPU and ONNX Runtime
// backends; a wrong ONNX execution provider fails when the backend is created, with a TesseraError.
import { createOnnxBackend, openOnnxBackend } from '@tessera/backend-onnx';
import { type Backend, createCpuBackend, TesseraError } from '@tessera/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { tryWebGPU } from '../../../test-utils/backends.js';

const listed = ort.listSupportedBackends().map((b) => b.name);

describe('backend lifetime', () => {
  it('every backend has an awaitable dispose(), safe to call twice', async () => {
    const made: Backend[] = [
      createCpuBackend(),
      createOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] }),
    ];
    const gpu = await tryWebGPU();
    if (gpu) {
      const { createWebGPUBackend } = await import('@tessera/backend-webgpu');
      made.push(await createWebGPUBackend());
    }
    for (const B of made) {
      const t = B.tensor([1, 2, 3], [3]);
      const y = B.binary('mul', t, 2);
      expect(Array.from(await y.data()), B.name).toEqual([2, 4, 6]);
      t.dispose();
      y.dispose();
      const p = B.dispose();
      expect(p, B.name).toBeInstanceOf(Promise);
      await p;
      await B.dispose();
    }
  });

  it('an execution provider this ONNX Runtime does not offer throws BACKEND_UNAVAILABLE at creation', () => {
    for (const ep of ['cuda-typo', 'gpu', 'WebGPU']) {
      let err: unknown;
      try {
        createOnnxBackend({ ort: ort as never, executionProviders: [ep] });
      } catch (e) {
        err = e;
      }
      expect(err, ep).toBeInstanceOf(TesseraError);
      expect((err as TesseraError).code).toBe('BACKEND_UNAVAILABLE');
      expect((err as Error).message).toContain(`'${ep}'`);
      for (const name of listed) expect((err as Error).message).toContain(name);
    }
    expect(() => createOnnxBackend({ ort: ort as never, executionProviders: [{} as never] })).toThrow(
      /must be a name or \{ name \}/,
    );
    // onnxruntime-web has no listSupportedBackends: its known provider names are checked instead.
    const web = { InferenceSession: ort.InferenceSession, Tensor: ort.Tensor };
    expect(() => createOnnxBackend({ ort: web as never, executionProviders: ['cuda'] })).toThrow(
      /'cuda' is not offered.*wasm/,
    );
  });

  it('a listed provider that cannot run here rejects openOnnxBackend with BACKEND_UNAVAILABLE', async () => {
    // cuda is listed by onnxruntime-node but not bundled; this machine has no CUDA libraries.
    const unbundled = ort.listSupportedBackends().find((b) => b.bundled === false);
    if (!unbundled) return;
    const err = await openOnnxBackend({ ort: ort as never, executionProviders: [unbundled.name] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TesseraError);
    expect((err as TesseraError).code).toBe('BACKEND_UNAVAILABLE');
    expect((err as Error).message).toContain(unbundled.name);
    const ok = await openOnnxBackend({ ort: ort as never, executionProviders: ['cpu'] });
    expect(ok.memory().tensors).toBe(0);
    await ok.dispose();
  });
});
