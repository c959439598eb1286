/**
 * @tessera/reference-onnx: ONNX exports of `@tessera/reference`'s exact models — Gaussian-mixture
 * denoisers (`exportGaussianMixtureDenoiser`) and the count-based and empirical token models
 * (`exportTokenModel`) — written with `@tessera/backend-onnx`'s graph builder, so the ONNX adapters
 * (`onnxDenoiser`, `onnxRasterModel`, …) can be tested and demonstrated against models whose every
 * value is known.
 */
export {
  type ExportTokenModelOptions,
  exportCountModel,
  exportEmpiricalModel,
  exportTokenModel,
} from './export-ar.js';
export {
  type DiagComponent,
  diagonalMixture,
  type ExportDenoiserOptions,
  empiricalMixture,
  exportGaussianMixtureDenoiser,
  type MixtureParams,
  type SpectralComponent,
} from './export-gmm.js';
