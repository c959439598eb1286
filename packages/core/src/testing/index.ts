/**
 * `@tessera/core/testing`: the Backend conformance suite, for anyone writing a backend. Register it from
 * a vitest test file; every op of the Backend interface is checked against float64 references.
 *
 * @example
 * import { describeConformance } from '@tessera/core/testing';
 * import { createMyBackend } from '../src/index.js';
 * describeConformance('my-backend', async () => createMyBackend(), { tolerance: { float32: 1e-4 } });
 */
export { type ConformanceOptions, describeConformance } from './suite.js';
