import { describeConformance } from '@tessera/core/testing';
import { tryOnnxBackend } from './targets.ts';

// onnxruntime-node's WebGPU provider compiles a shader per op shape: 10–60 s of CPU on Mesa's lavapipe
// depending on load. TESSERA_ONNX_WEBGPU=0 skips the suite locally (never where TESSERA_REQUIRE_WEBGPU=1).
const skip = process.env.TESSERA_ONNX_WEBGPU === '0' && process.env.TESSERA_REQUIRE_WEBGPU !== '1';
if (skip) console.warn('[tessera] onnx-node-webgpu conformance skipped (TESSERA_ONNX_WEBGPU=0)');

// WebGPU shaders use float32 transcendental approximations: 1e-4, as for @tessera/backend-webgpu
describeConformance('onnx-node-webgpu', async () => (skip ? undefined : tryOnnxBackend('node-webgpu')), {
  tolerance: { float32: 1e-4 },
});
