// Test page (bundled by test-utils/browser.ts, run in Chromium): onnxruntime-web's WebGPU provider and
// @tessera/backend-webgpu on one GPUDevice. The test calls the functions on `globalThis.tessera`.
import {
  createOnnxBackend,
  moveToBackend,
  moveToOnnx,
  type OnnxBackend,
  type OrtRuntime,
  onnxDenoiser,
} from '@tessera/backend-onnx';
import { createWebGPUBackend, type WebGPUBackend } from '@tessera/backend-webgpu';
import { sample } from '@tessera/diffusion';
import { defaultDigitsModel } from '@tessera/reference';
import * as ortModule from 'onnxruntime-web/webgpu';
import { runAll } from '../../../../test-utils/browser-vitest.ts';
import { describeConformance } from '../../../core/src/testing/suite.ts';
// By path: reference-onnx depends on this package, so it cannot be a (dev) dependency here.
import { exportGaussianMixtureDenoiser } from '../../../reference-onnx/src/index.ts';

const ort = ortModule as unknown as OrtRuntime & typeof ortModule;

interface Setup {
  G: WebGPUBackend;
  onnx: OnnxBackend;
  adapter: string;
}

let setup: Promise<Setup> | undefined;

/** One WebGPU backend (navigator.gpu) and one ONNX backend whose WebGPU provider uses its device. */
function shared(): Promise<Setup> {
  setup ??= (async () => {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.logLevel = 'error';
    const G = await createWebGPUBackend();
    // the provider runs on this device instead of making its own
    const onnx = createOnnxBackend({ ort, executionProviders: [{ name: 'webgpu', device: G.device }] });
    const info = (G.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return {
      G,
      onnx,
      adapter: info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : '?',
    };
  })();
  return setup;
}

/** Moves host values WebGPU → ONNX → WebGPU, requiring zero copies both ways; returns what came back. */
async function roundTrip(values: number[], shape: number[]) {
  const { G, onnx } = await shared();
  const t = G.tensor(Float32Array.from(values), shape);
  const r0 = G.readbacks;
  const s0 = onnx.transferStats();
  const there = await moveToOnnx(t, onnx, { requireZeroCopy: true });
  // an op on the ONNX side so the value passes through ONNX Runtime's WebGPU provider
  const doubled = onnx.lincomb([2], [there.tensor]);
  const back = await moveToBackend(doubled, onnx, G, { requireZeroCopy: true });
  const transfers = G.readbacks - r0 + onnx.transferStats().readbacks - s0.readbacks;
  const hostOutputs = onnx.transferStats().hostOutputs - s0.hostOutputs;
  const got = Array.from(await back.tensor.data());
  for (const x of [t, there.tensor, doubled, back.tensor]) x.dispose();
  return { got, zeroCopy: [there.zeroCopy, back.zeroCopy], transfers, hostOutputs };
}

/** A second WebGPU device: ONNX outputs must not be wrapped there (a host copy instead, or an error). */
async function otherDevice(values: number[]) {
  const { onnx } = await shared();
  const other = await createWebGPUBackend();
  const x = onnx.lincomb([1], [onnx.tensor(Float32Array.from(values), [values.length])]);
  const moved = await moveToBackend(x, onnx, other);
  const got = Array.from(await moved.tensor.data());
  const err = await moveToBackend(x, onnx, other, { requireZeroCopy: true }).then(
    () => 'no error',
    (e: Error) => `${(e as { code?: string }).code}: ${e.message}`,
  );
  moved.tensor.dispose();
  x.dispose();
  await other.dispose();
  return { got, zeroCopy: moved.zeroCopy, err };
}

/**
 * The default digits model exported as a float32 ONNX graph, sampled with dpmpp_2m for the given σ on
 * the WebGPU backend (`images` samples of 1×16×16), the model running in ONNX Runtime's WebGPU provider
 * on the same device.
 */
async function sampleLoop(seed: number, sigmas: number[], rounds: number, images: number) {
  const { G, onnx, adapter } = await shared();
  const model = defaultDigitsModel();
  const bytes = exportGaussianMixtureDenoiser(model.canonical, { sampleShape: [1, 16, 16] });
  const D = await onnxDenoiser(bytes, {
    backend: onnx,
    predictionType: 'sample',
    inputNames: { sample: 'x', timestep: 'sigma' },
    outputName: 'x0',
  });
  const results: Array<{
    data: number[];
    readbacksInLoop: number;
    readbacks: number;
    hostOutputs: number;
    tensors: number;
    buffers: number;
  }> = [];
  for (let r = 0; r < rounds; r++) {
    const r0 = G.readbacks;
    const s0 = onnx.transferStats();
    const z = G.randn([images, 1, 16, 16], { seed });
    const x = G.lincomb([sigmas[0]!], [z]);
    const out = await sample('dpmpp_2m', { denoiser: D, x, sigmas, seed });
    const readbacksInLoop = G.readbacks - r0 + onnx.transferStats().readbacks - s0.readbacks;
    const data = Array.from(await out.data());
    for (const t of [z, x, out]) t.dispose();
    await onnx.engine.idle();
    results.push({
      data,
      readbacksInLoop,
      readbacks: G.readbacks - r0 + onnx.transferStats().readbacks - s0.readbacks,
      hostOutputs: onnx.transferStats().hostOutputs - s0.hostOutputs,
      tensors: G.memory().tensors + onnx.memory().tensors,
      buffers: G.memory().buffers,
    });
  }
  await D.dispose();
  return { adapter, results };
}

/** Core's conformance suite on onnxruntime-web's WebGPU provider (its own ONNX backend on the shared device). */
async function conformance(seed: number) {
  Object.assign(globalThis, { process: { env: { TESSERA_TEST_SEED: String(seed) } } });
  const { G } = await shared();
  const B = createOnnxBackend({ ort, executionProviders: [{ name: 'webgpu', device: G.device }] });
  // WebGPU shaders use float32 transcendental approximations: 1e-4, as on the other WebGPU targets
  describeConformance('onnx-web-webgpu', async () => B, { tolerance: { float32: 1e-4 } });
  const result = await runAll();
  await B.engine.idle();
  return { ...result, tensors: B.memory().tensors };
}

Object.assign(globalThis, { tessera: { roundTrip, otherDevice, sampleLoop, conformance } });
(globalThis as { __ready?: boolean }).__ready = true;
