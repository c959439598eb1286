/**
 * @tessera/backend-onnx: the Tessera Backend interface and model adapters on ONNX Runtime. The runtime
 * (onnxruntime-node or onnxruntime-web) is injected by the caller.
 */
export { OnnxBackend } from './backend.js';
export {
  createOnnxBackend,
  type OnnxBackendOptions,
  openOnnxBackend,
  registerOnnxBackend,
} from './create.js';
export {
  type DiscreteSchedule,
  type OnnxDenoiser,
  type OnnxDenoiserCond,
  type OnnxDenoiserOptions,
  onnxDenoiser,
  type PredictionType,
  scheduleSigmas,
  sigmaToTimestep,
} from './denoiser.js';
export { GraphBuilder } from './graph.js';
export {
  type GPUBufferLike,
  type GpuBufferBackend,
  type MovedTensor,
  moveToBackend,
  moveToOnnx,
} from './interop.js';
export { type ModelSource, OnnxModel, type OnnxModelOptions, onnxModel } from './model.js';
export { fmtSpec, type IOSpec, type ModelExpectation, type ValueExpectation } from './model-io.js';
export {
  type DecoderNames,
  type DecoderState,
  type OnnxNextTokenModel,
  type OnnxNextTokenOptions,
  onnxNextTokenModel,
} from './next-token.js';
export {
  type AttrValue,
  encodeModel,
  type ModelInit,
  type NodeInit,
  type OnnxElem,
  type TensorInit,
  type ValueInit,
} from './proto.js';
export { type ModelHeader, readModelHeader } from './proto-read.js';
export { type ExecutionProvider, type OrtRuntime, WEB_EXECUTION_PROVIDERS } from './runtime.js';
export type {
  OnnxTokenModelBase,
  OnnxTokenModelOptions,
  TokenCond,
  TokenControl,
  TokenGraphNames,
  TokenModelKind,
  TokenModelStateBase,
} from './token-graph.js';
export {
  type OnnxMaskedModel,
  type OnnxRasterModel,
  type OnnxRasterState,
  type OnnxScaleModel,
  type OnnxScaleState,
  onnxMaskedModel,
  onnxRasterModel,
  onnxScaleModel,
} from './token-models.js';
