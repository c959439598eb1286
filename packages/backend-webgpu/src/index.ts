// @tessera/backend-webgpu: The Tessera Backend interface in WGSL compute shaders.
export {};
