/**
 * @tessera/tokenizers: visual tokenizers on any Tessera backend: vector quantization (L2 / cosine), codebook
 * training (k-means++, k-means, EMA with Laplace smoothing, dead-code replacement, usage meters), residual
 * VQ, VAR's multi-scale residual quantizer, FSQ, LFQ, BSQ, pixel tokens, and codebook loading from
 * safetensors / .npy / JSON.
 *
 * @example
 * import { VectorQuantizer } from '@tessera/tokenizers';
 * import { tensor } from '@tessera/core';
 * const vq = new VectorQuantizer({ codebook: tensor(codes, [K, D]) });
 * const idx = await (await vq.encode(tensor(z, [N, D]))).data(); // Int32Array(N)
 */
export {
  detectFormat,
  encodeNpy,
  encodeSafetensors,
  type HostArray,
  type LoadCodebookOptions,
  loadCodebook,
  loadCodebookFile,
  parseCodebookJson,
  parseNpy,
  parseSafetensors,
} from './io.js';
export {
  flattenTokens,
  type MultiScaleOptions,
  MultiScaleResidualQuantizer,
  type MultiScaleResult,
  type PhiFn,
  phiIndex,
  phiTicks,
  residualPhi,
  VAR_PATCH_NUMS,
} from './multiscale.js';
export { type Metric, NearestCodeSearch, type NearestOptions, nearestCode } from './nearest.js';
export { PixelTokenizer, type PixelTokenizerOptions } from './pixel.js';
export { type ResidualQuantizeResult, ResidualVQ, type ResidualVQOptions } from './residual.js';
export { BSQ, FSQ, LFQ, type ScalarQuantizeResult } from './scalar.js';
export {
  distortion,
  EmaCodebook,
  type EmaCodebookOptions,
  type KmeansOptions,
  type KmeansPlusPlusOptions,
  kmeans,
  kmeansPlusPlus,
  kmeansStep,
  UsageMeter,
} from './training.js';
export { bincount, clusterStats, l2normalize, usageAndPerplexity } from './util.js';
export { type QuantizeResult, VectorQuantizer, type VectorQuantizerOptions } from './vq.js';
