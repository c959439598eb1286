import { describeConformance } from '../../core/test/conformance/suite.ts';
import { tryOnnxBackend } from './targets.ts';

// onnxruntime-node's WebGPU provider compiles a shader per op shape; on Mesa's lavapipe the whole suite
// takes about a minute of CPU, so it runs where WebGPU is required (CI: TESSERA_REQUIRE_WEBGPU=1) or
// when asked for (TESSERA_ONNX_WEBGPU=1). The default-model and interop tests use the provider always.
const wanted = process.env.TESSERA_REQUIRE_WEBGPU === '1' || process.env.TESSERA_ONNX_WEBGPU === '1';
if (!wanted)
  console.warn('[tessera] onnx-node-webgpu conformance skipped; set TESSERA_ONNX_WEBGPU=1 to run it');

// WebGPU shaders use float32 transcendental approximations: 1e-4, as for @tessera/backend-webgpu
describeConformance('onnx-node-webgpu', async () => (wanted ? tryOnnxBackend('node-webgpu') : undefined), {
  tolerance: { float32: 1e-4 },
});
