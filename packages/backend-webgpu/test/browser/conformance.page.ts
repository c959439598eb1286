// Test page (bundled by test-utils/browser.ts with `vitest` aliased to test-utils/browser-vitest.ts):
// core's backend conformance suite on a WebGPU backend created from the browser's navigator.gpu.
import { createWebGPUBackend } from '@tessera/backend-webgpu';
import { runAll } from '../../../../test-utils/browser-vitest.ts';
import { describeConformance } from '../../../core/src/testing/suite.ts';

async function conformance(seed: number) {
  // the suite reads its seed from process.env, as under vitest
  Object.assign(globalThis, { process: { env: { TESSERA_TEST_SEED: String(seed) } } });
  const B = await createWebGPUBackend();
  const info = (B.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  describeConformance('webgpu (navigator.gpu)', async () => B);
  const result = await runAll();
  const adapter = info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : '?';
  const memory = B.memory();
  await B.dispose();
  return { ...result, adapter, memory };
}

Object.assign(globalThis, { tessera: { conformance } });
(globalThis as { __ready?: boolean }).__ready = true;
