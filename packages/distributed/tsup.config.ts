import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // An optional dependency: tsup would bundle it (native bindings included) and break its dynamic import.
  external: ['onnxruntime-node'],
});
