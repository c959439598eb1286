import { describeConformance } from '@tessera/core/testing';
import { tryOnnxBackend } from './targets.ts';

describeConformance('onnx-web-wasm', () => tryOnnxBackend('web-wasm'));
