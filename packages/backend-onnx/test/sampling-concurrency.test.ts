// Diffusion runs interleaving on an ONNX Runtime backend (the suite lives with diffusion's tests).
import { describeConcurrency } from '../../diffusion/test/concurrency-suite.ts';
import { tryOnnxBackend } from './targets.ts';

describeConcurrency('onnx-node-cpu', () => tryOnnxBackend('node-cpu'));
