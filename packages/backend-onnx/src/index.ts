// @tessera/backend-onnx: The Tessera Backend interface and model adapters on ONNX Runtime (runtime injected).
export {};
