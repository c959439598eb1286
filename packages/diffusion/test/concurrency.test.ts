import { currentBackend } from '@tessera/core';
import { tryWebGPU } from '../../../test-utils/backends.js';
import { describeConcurrency } from './concurrency-suite.js';

describeConcurrency('cpu', async () => currentBackend());
describeConcurrency('webgpu', tryWebGPU);
