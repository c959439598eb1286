import { defineConfig } from 'tsup';

export default defineConfig({
  // The library, and the conformance suite published as `@tessera/core/testing`.
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
  format: ['esm'],
  // the suite's `@tessera/core` imports type-check against the sources: dist/index.d.ts does not exist
  // yet while a clean build emits both entries' declarations
  dts: { compilerOptions: { baseUrl: '.', paths: { '@tessera/core': ['./src/index.ts'] } } },
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // The suite imports core by its own name (one copy of the registry and of TesseraError) and runs
  // under the user's vitest and fast-check.
  external: ['@tessera/core', 'vitest', 'fast-check'],
});
