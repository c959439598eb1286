// @tessera/schedules: Noise schedules, timestep spacing and diffusers scheduler_config interop, computed in float64.
export {};
