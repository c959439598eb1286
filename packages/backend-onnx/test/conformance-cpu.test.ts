import { describeConformance } from '../../core/test/conformance/suite.ts';
import { tryOnnxBackend } from './targets.ts';

describeConformance('onnx-node-cpu', () => tryOnnxBackend('node-cpu'));
