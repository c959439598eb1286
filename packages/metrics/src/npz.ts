import { TesseraError } from '@tessera/core';
import type { GaussianStats } from './frechet.js';
import { type NpyArray, parseNpy } from './npy.js';
import { type ReadZipOptions, readZip } from './zip.js';

/** Reads every array of a numpy `.npz` archive (`np.savez` or `np.savez_compressed`), keyed without `.npy`. */
export async function loadNpz(bytes: Uint8Array, opts: ReadZipOptions = {}): Promise<Map<string, NpyArray>> {
  const files = await readZip(bytes, opts);
  const out = new Map<string, NpyArray>();
  for (const [name, data] of files) {
    const key = name.endsWith('.npy') ? name.slice(0, -4) : name;
    out.set(key, parseNpy(data, `${opts.source ?? '.npz'}:${name}`));
  }
  return out;
}

/** Reference statistics read from an `.npz` file: `mu` (d) and `sigma` (d×d, row-major float64). */
export interface ReferenceStats extends GaussianStats {
  mu: Float64Array;
  sigma: Float64Array;
  dim: number;
}

/**
 * Loads pytorch-fid (`np.savez(path, mu=mu, sigma=sigma)`) or clean-fid reference statistics: the
 * arrays `mu` of shape (d) and `sigma` of shape (d, d). The result feeds `frechetDistance` directly.
 * A missing array or a shape mismatch is a `CORRUPT_FILE` TesseraError naming what was found.
 */
export async function loadReferenceStats(
  bytes: Uint8Array,
  opts: ReadZipOptions = {},
): Promise<ReferenceStats> {
  const src = opts.source ?? '.npz';
  const arrays = await loadNpz(bytes, opts);
  const mu = arrays.get('mu');
  const sigma = arrays.get('sigma');
  if (!mu || !sigma) {
    throw new TesseraError(
      'CORRUPT_FILE',
      `loadReferenceStats: ${src}: expected arrays 'mu' and 'sigma', found [${[...arrays.keys()].join(', ')}]`,
    );
  }
  const d = mu.shape.length === 1 ? mu.shape[0]! : -1;
  if (d < 1 || sigma.shape.length !== 2 || sigma.shape[0] !== d || sigma.shape[1] !== d) {
    throw new TesseraError(
      'CORRUPT_FILE',
      `loadReferenceStats: ${src}: mu of shape (d) and sigma of shape (d, d) expected, got ` +
        `(${mu.shape.join(', ')}) and (${sigma.shape.join(', ')})`,
    );
  }
  return { mu: mu.data, sigma: sigma.data, dim: d };
}
