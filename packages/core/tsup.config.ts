import { defineConfig } from 'tsup';

export default defineConfig({
  // The library, and the conformance suite published as `@tessera/core/testing`.
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // The suite imports core by its own name (one copy of the registry and of TesseraError) and runs
  // under the user's vitest and fast-check.
  external: ['@tessera/core', 'vitest', 'fast-check'],
});
