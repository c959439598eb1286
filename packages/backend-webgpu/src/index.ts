/// <reference types="@webgpu/types" />
/**
 * @tessera/backend-webgpu: the Tessera Backend interface in WGSL compute shaders.
 *
 * @example
 * import { createWebGPUBackend } from '@tessera/backend-webgpu';
 * const B = await createWebGPUBackend();
 * const z = B.randn([1024], { seed: 42 }); // the CPU backend's normals, to 1e-6
 * console.log(await z.data());
 */
export { WebGPUBackend } from './backend.js';
export { createWebGPUBackend, registerWebGPUBackend, type WebGPUBackendOptions } from './create.js';
export { type GpuStorage, sizeClass } from './engine.js';
