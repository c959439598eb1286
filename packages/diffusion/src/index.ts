// @tessera/diffusion: Forward noising, prediction conversions, k-diffusion samplers and diffusers-compatible schedulers.
export {};
