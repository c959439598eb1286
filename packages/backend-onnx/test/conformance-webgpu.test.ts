import { describeConformance } from '../../core/test/conformance/suite.ts';
import { tryOnnxBackend } from './targets.ts';

// WebGPU shaders use float32 transcendental approximations; 1e-4 as for @tessera/backend-webgpu
describeConformance('onnx-node-webgpu', () => tryOnnxBackend('node-webgpu'), {
  tolerance: { float32: 1e-4 },
});
