// The feature extractor a job's metrics use: the fixed domain features (default) or the trained digit
// classifier's penultimate features (`"features": "classifier"`), and the reference set's features.
import type { Backend } from '@tessera/core';
import { digitsDataset } from '@tessera/reference';
import type { ResolvedJobConfig } from './config.js';
import { FEATURE_DIM, FeatureStats, imageFeatures } from './stats.js';
import { onnxBackendFor } from './trained.js';

/** Feature extractors a job may name in `features`. */
export const FEATURE_EXTRACTORS = ['domain', 'classifier'] as const;
/** One of {@link FEATURE_EXTRACTORS}. */
export type FeatureExtractorName = (typeof FEATURE_EXTRACTORS)[number];

/** Dimension of the classifier's penultimate features. */
export const CLASSIFIER_FEATURE_DIM = 128;

/** Turns `[n, 1, 16, 16]` images in [-1, 1] into row-major float64 `[n, dim]` features. */
export interface FeatureExtractor {
  name: FeatureExtractorName;
  dim: number;
  extract(images: Float32Array, n: number): Promise<Float64Array>;
  dispose(): void | Promise<void>;
}

/** @tessera/metrics' 64 fixed random ReLU features of the pixels (no model, any backend). */
export function domainExtractor(): FeatureExtractor {
  return {
    name: 'domain',
    dim: FEATURE_DIM,
    extract: async (images, n) => imageFeatures(images, n),
    dispose: () => undefined,
  };
}

/**
 * The trained 16×16 digit classifier of @tessera/models (SHA-256-checked, from `dir` or the repository's
 * `models/`): its 128-d penultimate ReLU features, on `backend` when it is an ONNX backend, else on an
 * ONNX CPU backend of its own.
 */
export async function classifierExtractor(backend?: Backend, dir?: string): Promise<FeatureExtractor> {
  const models = await import('@tessera/models');
  const { onnx, own } = await onnxBackendFor(backend, "features 'classifier'");
  try {
    const c = await models.loadDigitClassifier({ backend: onnx, ...(dir !== undefined ? { dir } : {}) });
    return {
      name: 'classifier',
      dim: CLASSIFIER_FEATURE_DIM,
      extract: async (images, n) => {
        const x = onnx.tensor(images.subarray(0, n * 256), [n, 1, 16, 16]);
        try {
          const f = await c.features(x);
          try {
            return Float64Array.from(await f.data());
          } finally {
            f.dispose();
          }
        } finally {
          x.dispose();
        }
      },
      dispose: async () => {
        await c.dispose();
        if (own) await onnx.dispose();
      },
    };
  } catch (err) {
    if (own) await onnx.dispose();
    throw err;
  }
}

/** The job's feature extractor (`config.features`), bound to `backend`. */
export async function bindFeatures(
  backend: Backend,
  config: ResolvedJobConfig,
  dir?: string,
): Promise<FeatureExtractor> {
  return config.features === 'classifier' ? classifierExtractor(backend, dir) : domainExtractor();
}

/** Statistics and rows of the reference set's features. */
export interface ReferenceFeatures {
  stats: FeatureStats;
  features: Float64Array;
}

const refCache = new Map<string, ReferenceFeatures>();

/**
 * Features (and their statistics) of the procedural digits reference set `config.reference` under the
 * job's extractor, cached per (extractor, count, seed). The classifier runs on an ONNX CPU backend of its
 * own (the coordinator needs onnxruntime-node for such jobs).
 */
export async function referenceFeaturesFor(
  config: ResolvedJobConfig,
  dir?: string,
): Promise<ReferenceFeatures> {
  const name: FeatureExtractorName = config.features ?? 'domain';
  const { count, seed } = config.reference;
  const key = `${name}:${count}:${seed}`;
  let r = refCache.get(key);
  if (r) return r;
  const d = digitsDataset({ count, seed, size: 16 });
  const ext = name === 'classifier' ? await classifierExtractor(undefined, dir) : domainExtractor();
  try {
    const features = new Float64Array(count * ext.dim);
    for (let a = 0; a < count; a += 1000) {
      const b = Math.min(count, a + 1000);
      features.set(await ext.extract(d.data.subarray(a * 256, b * 256), b - a), a * ext.dim);
    }
    r = { stats: new FeatureStats(ext.dim).add(features), features };
  } finally {
    await ext.dispose();
  }
  refCache.set(key, r);
  return r;
}
