import { describeConformance } from '@tessera/core/testing';
import { tryWebGPU } from '../../../test-utils/backends.ts';

// The shared Backend conformance suite (float64 references, fresh inputs each run) on this machine's
// WebGPU adapter; skipped with a notice when there is none, unless TESSERA_REQUIRE_WEBGPU=1.
describeConformance('webgpu', tryWebGPU);
