// @tessera/reference: Exact reference models (Gaussian, mixture, empirical denoisers; count-based token models) and procedural datasets.
export {};
