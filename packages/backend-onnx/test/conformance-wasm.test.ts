import { describeConformance } from '../../core/test/conformance/suite.ts';
import { tryOnnxBackend } from './targets.ts';

describeConformance('onnx-web-wasm', () => tryOnnxBackend('web-wasm'));
