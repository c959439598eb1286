// @tessera/diffusion: forward noising, prediction conversions, k-diffusion samplers, diffusers-compatible schedulers.
export * from './schedulers/index.js';
