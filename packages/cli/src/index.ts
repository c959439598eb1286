/**
 * @tessera/cli: the `tessera` command (generate by diffusion or autoregression, print schedules, run the
 * showcase), also usable as a library.
 */
export {
  type ArJob,
  type ArModel,
  type ArResult,
  arDataset,
  DECODERS,
  type DecoderName,
  fitArModel,
  generateAr,
  PALETTE,
  tokensToImages,
} from './ar.js';
export { BACKEND_NAMES, type BackendName, selectBackend } from './backends.js';
export {
  DIGITS_UNET_MAX_STEPS,
  type DiffusionJob,
  type DiffusionResult,
  defaultSigmas,
  generateDiffusion,
} from './diffusion.js';
export { choiceFlag, intFlag, type NumRange, numFlag, oneLine, UsageError } from './errors.js';
export { checkImageSize, checkInt, checkNum, LIMITS, MAX_SEED } from './limits.js';
export { readConfig, runCli } from './main.js';
export {
  AR_MODELS,
  type ArModelName,
  DIFFUSION_MODELS,
  type DiffusionModelName,
  modelsDir,
  onnxBackendFor,
  parseModelFlag,
  TRAINED_AR_DECODER,
  trainedAvailable,
} from './models.js';
export {
  exportArModel,
  exportDefaultModel,
  loadOnnxTokenModel,
  MODEL_KINDS,
  type ModelKind,
  type OnnxTokenModel,
} from './onnx-model.js';
export { checkOutput, writeAtomic } from './output.js';
export { createProgress, type Progress, type ProgressOptions } from './progress.js';
export { SD15_CONFIG, schedulerFromConfig, scheduleTable } from './schedule.js';
export { runShowcase, type ShowcaseOptions } from './showcase.js';
export { VERSION } from './version.js';
