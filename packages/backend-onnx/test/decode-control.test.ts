// Token decoders' run control on an ONNX Runtime backend (the suite lives with autoregressive's tests).
import { describeDecodeControl } from '../../autoregressive/test/run-control-suite.ts';
import { tryOnnxBackend } from './targets.ts';

describeDecodeControl('onnx-node-cpu', () => tryOnnxBackend('node-cpu'));
