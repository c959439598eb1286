import { currentBackend } from '@tessera/core';
import { tryWebGPU } from '../../../test-utils/backends.js';
import { describeDecodeControl } from './run-control-suite.js';

describeDecodeControl('cpu', async () => currentBackend());
describeDecodeControl('webgpu', tryWebGPU);
