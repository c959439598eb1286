// @tessera/autoregressive: Raster, next-scale (VAR) and masked (MAR) decoders, logit sampling, guidance and control.
export {};
