import type { InferenceSession, Tensor as OrtTensor, TensorConstructor } from 'onnxruntime-common';

/**
 * The part of an ONNX Runtime module (`onnxruntime-node`, `onnxruntime-web`, or anything else that
 * implements the `onnxruntime-common` API) that Tessera uses. Pass the imported module itself:
 * `createOnnxBackend({ ort: await import('onnxruntime-node'), executionProviders: ['cpu'] })`.
 */
export interface OrtRuntime {
  InferenceSession: {
    create(model: Uint8Array | string, options?: InferenceSession.SessionOptions): Promise<InferenceSession>;
  };
  Tensor: TensorConstructor;
  /**
   * The execution providers this build offers (onnxruntime-node has it); used to reject a wrong
   * provider when the backend is created rather than at its first op.
   */
  listSupportedBackends?: () => ReadonlyArray<{ name: string; bundled?: boolean }>;
}

/** Execution providers onnxruntime-web knows (it has no `listSupportedBackends`). */
export const WEB_EXECUTION_PROVIDERS: readonly string[] = [
  'wasm',
  'cpu',
  'webgpu',
  'webgl',
  'webnn',
  'xnnpack',
];

export type { InferenceSession, OrtTensor };

/** An execution provider name or config object, as `onnxruntime-common` takes it. */
export type ExecutionProvider = InferenceSession.ExecutionProviderConfig;

/** `onnxruntime-common` tensor type names of the Tessera dtypes. */
export const ORT_TYPE = { float32: 'float32', int32: 'int32', uint32: 'uint32' } as const;
