/**
 * @tessera/reference: exact reference models and procedural datasets, for tests and demos.
 *
 * Diffusion part: exact denoisers D(x, σ) of Gaussians, Gaussian mixtures and finite data sets, the
 * exact probability-flow map of a Gaussian, a float64 reference ODE solver, procedural digit and shape
 * images, EM-fitted Gaussian mixtures and the embedded default digits model; a small PNG encoder.
 */
export * from './ar/index.js';
export {
  type DigitsOptions,
  digitsDataset,
  type ImageDataset,
  type ShapesOptions,
  shapesDataset,
} from './datasets.js';
export {
  DEFAULT_DIGITS_RECIPE,
  type DefaultDigitsModel,
  type DigitsParameters,
  defaultDigitsModel,
  fitDefaultDigitsParameters,
  sampleMixture,
  shippedDigitsParameters,
} from './default-model.js';
export { DEFAULT_DIGITS_DATA, type DigitsData } from './default-model-data.js';
export {
  type Dataset,
  empiricalDenoiser,
  type GaussianDenoiser,
  gaussianDenoiser,
  gaussianMixtureDenoiser,
  type ReferenceDenoiser,
} from './denoisers.js';
export { type FitOptions, type FittedMixture, fitGaussianMixture } from './em.js';
export {
  gaussianFlowSolution,
  type HostDenoiser,
  type ReferenceOdeOptions,
  referenceOdeSolve,
  referenceOdeTrajectory,
} from './flow.js';
export { DIGIT_GLYPHS, DIGIT_STROKES } from './font.js';
export { cholesky, matmul64, type SymmetricEigen, spdInverse, symmetricEigen } from './linalg.js';
export { evaluatePlan, type MixturePlan, planMixture, uploadPlan } from './mixture-eval.js';
export { crc32, encodePng, imageGrid } from './png.js';
export {
  type CanonicalComponent,
  type CanonicalMixture,
  type CovarianceSpec,
  canonicalComponent,
  canonicalGaussian,
  canonicalMixture,
  componentPosterior64,
  type GaussianMixtureSpec,
  type GaussianSpec,
  type LowRankCovariance,
  mixtureLogDensity64,
  mixturePosteriorMean64,
} from './spec.js';
