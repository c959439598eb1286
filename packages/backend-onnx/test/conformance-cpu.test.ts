import { describeConformance } from '@tessera/core/testing';
import { tryOnnxBackend } from './targets.ts';

describeConformance('onnx-node-cpu', () => tryOnnxBackend('node-cpu'));
