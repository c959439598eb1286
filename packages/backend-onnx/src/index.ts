/**
 * @tessera/backend-onnx: the Tessera Backend interface and model adapters on ONNX Runtime. The runtime
 * (onnxruntime-node or onnxruntime-web) is injected by the caller.
 */
export { OnnxBackend } from './backend.js';
export { createOnnxBackend, type OnnxBackendOptions } from './create.js';
export { GraphBuilder } from './graph.js';
export {
  type AttrValue,
  encodeModel,
  type ModelInit,
  type NodeInit,
  type OnnxElem,
  type TensorInit,
  type ValueInit,
} from './proto.js';
export type { ExecutionProvider, OrtRuntime } from './runtime.js';
