import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createOnnxBackend, type OnnxBackend } from '@tessera/backend-onnx';
import * as ort from 'onnxruntime-node';

/** The repository's models/ folder. */
export const MODELS_DIR = fileURLToPath(new URL('../../../models/', import.meta.url));

/** A fresh seed per run (printed in failure messages); TESSERA_TEST_SEED fixes it. */
export function freshSeed(): number {
  const env = process.env.TESSERA_TEST_SEED ?? process.env.TESSERA_SEED;
  return env !== undefined ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

/** mulberry32: a small seeded generator for test inputs. */
export function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An ONNX Runtime (node, CPU) backend with two intra-op threads. */
export function onnxBackend(): OnnxBackend {
  return createOnnxBackend({
    ort: ort as never,
    executionProviders: ['cpu'],
    sessionOptions: { intraOpNumThreads: 2 },
  });
}

/** A JSON file under models/. */
export function readModelJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(`${MODELS_DIR}${path}`, 'utf8')) as T;
}

/** Largest |a − b| / max|b| over the arrays (relative to the reference's scale). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

let ortGpu: Promise<OnnxBackend | undefined> | undefined;

/**
 * An ONNX Runtime backend on onnxruntime-node's WebGPU execution provider (values stay in GPU buffers),
 * probed with one op; undefined with a printed notice when this machine has no adapter, unless
 * TESSERA_REQUIRE_WEBGPU=1 (CI), which turns that into a failure.
 */
export function onnxWebGPUBackend(): Promise<OnnxBackend | undefined> {
  ortGpu ??= (async () => {
    let B: OnnxBackend | undefined;
    try {
      B = createOnnxBackend({ ort: ort as never, executionProviders: ['webgpu'] });
      const x = B.tensor([1, 2], [2]);
      const y = B.binary('add', x, 1);
      const v = await y.data();
      x.dispose();
      y.dispose();
      if (v[0] !== 2 || v[1] !== 3) throw new Error(`probe 1 + [1, 2] gave [${Array.from(v).join(', ')}]`);
      return B;
    } catch (err) {
      await B?.dispose().catch(() => {});
      if (process.env.TESSERA_REQUIRE_WEBGPU === '1') {
        throw new Error(
          `ONNX Runtime's WebGPU provider is required here (TESSERA_REQUIRE_WEBGPU=1) but unavailable: ${(err as Error).message}`,
        );
      }
      console.warn(`[tessera] ONNX Runtime WebGPU tests skipped: ${(err as Error).message}`);
      return undefined;
    }
  })();
  return ortGpu;
}
