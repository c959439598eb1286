import { TesseraError } from '@tessera/core';

/** Rows of features: a row-major `[n, dim]` flat array, or one array per row. */
export type FeatureRows =
  | Float32Array
  | Float64Array
  | readonly (readonly number[] | Float32Array | Float64Array)[];

/** The JSON form of {@link FeatureStats} (`FeatureStats.toJSON()`); `m2` is the packed upper triangle. */
export interface FeatureStatsJSON {
  format: 'tessera-feature-stats';
  version: 1;
  dim: number;
  count: number;
  mean: number[];
  /** Σᵢ (xᵢ−μ)(xᵢ−μ)ᵀ, upper triangle packed row by row (`dim·(dim+1)/2` values). */
  m2: number[];
}

const MAGIC = 0x53465354; // 'TSFS' read as a little-endian u32
const BINARY_VERSION = 1;
const HEADER_BYTES = 24; // magic u32, version u32, dim u32, reserved u32, count f64
const CHUNK_ROWS = 64;
/** Largest feature dimension (the d×d M2 then takes 512 MB). */
const MAX_DIM = 8192;

/**
 * Streaming feature statistics in float64: count, mean and the centred sum of outer products
 * (M2 = Σ (x−μ)(x−μ)ᵀ), from which {@link FeatureStats.covariance} gives the unbiased covariance
 * (`np.cov(x, rowvar=False)`). Batches are folded in with Chan et al.'s pairwise update, so
 * `add(a); add(b)`, `add(concat(a, b))` and `merge` of stats built on separate machines agree to
 * rounding. Serialises to JSON and to a compact versioned binary form.
 */
export class FeatureStats {
  /** Feature dimension. */
  readonly dim: number;
  #count = 0;
  #mean: Float64Array;
  /** M2, d×d row-major; only the upper triangle (j ≥ i) is kept current. */
  #m2: Float64Array;

  /** Empty statistics for `dim`-dimensional features. */
  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `FeatureStats: dim must be an integer in [1, ${MAX_DIM}], got ${String(dim)}`,
      );
    }
    this.dim = dim;
    this.#mean = new Float64Array(dim);
    this.#m2 = new Float64Array(dim * dim);
  }

  /** Number of rows seen. */
  get count(): number {
    return this.#count;
  }

  /**
   * Folds a batch of rows in. `rows` is row-major `[n, dim]` (`n = rows.length / dim`) or an array
   * of rows. Every value must be finite. Returns `this`.
   */
  add(rows: FeatureRows): this {
    const x = toFlat(rows, this.dim, 'FeatureStats.add');
    const n = x.length / this.dim;
    if (n === 0) return this;
    const d = this.dim;
    const mb = new Float64Array(d);
    for (let r = 0; r < n; r++) {
      const o = r * d;
      for (let j = 0; j < d; j++) mb[j]! += x[o + j]!;
    }
    for (let j = 0; j < d; j++) mb[j]! /= n;
    const m2b = new Float64Array(d * d);
    accumulateCentred(x, n, d, mb, m2b);
    this.#combine(n, mb, m2b);
    return this;
  }

  /** Folds another statistics object (same dim) in, exactly as if its rows had been added. Returns `this`. */
  merge(other: FeatureStats): this {
    if (!(other instanceof FeatureStats)) {
      throw new TesseraError('INVALID_ARGUMENT', 'FeatureStats.merge: expected a FeatureStats');
    }
    if (other.dim !== this.dim) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `FeatureStats.merge: dim ${this.dim} expected, got stats of dim ${other.dim}`,
      );
    }
    if (other.#count === 0) return this;
    this.#combine(other.#count, other.#mean, other.#m2);
    return this;
  }

  /** A deep copy. */
  clone(): FeatureStats {
    const s = new FeatureStats(this.dim);
    s.#count = this.#count;
    s.#mean.set(this.#mean);
    s.#m2.set(this.#m2);
    return s;
  }

  /** The mean (a copy, length `dim`). Needs at least one row. */
  mean(): Float64Array {
    if (this.#count < 1) {
      throw new TesseraError('OUT_OF_RANGE', 'FeatureStats.mean: needs at least 1 row, got 0');
    }
    return this.#mean.slice();
  }

  /**
   * The unbiased covariance Σ = M2 / (count − 1) as a full symmetric `dim×dim` row-major matrix.
   * Needs at least two rows.
   */
  covariance(): Float64Array {
    const n = this.#count;
    if (n < 2) {
      throw new TesseraError('OUT_OF_RANGE', `FeatureStats.covariance: needs at least 2 rows, got ${n}`);
    }
    const d = this.dim;
    const c = new Float64Array(d * d);
    const s = 1 / (n - 1);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = this.#m2[i * d + j]! * s;
        c[i * d + j] = v;
        c[j * d + i] = v;
      }
    }
    return c;
  }

  /** JSON form (exact: float64 values survive `JSON.stringify`/`JSON.parse`). */
  toJSON(): FeatureStatsJSON {
    return {
      format: 'tessera-feature-stats',
      version: 1,
      dim: this.dim,
      count: this.#count,
      mean: Array.from(this.#mean),
      m2: Array.from(this.#packUpper()),
    };
  }

  /** Rebuilds statistics from {@link FeatureStats.toJSON}'s object or its JSON text. */
  static fromJSON(json: FeatureStatsJSON | string): FeatureStats {
    let o: unknown = json;
    if (typeof json === 'string') {
      try {
        o = JSON.parse(json);
      } catch (cause) {
        throw new TesseraError('CORRUPT_FILE', 'FeatureStats.fromJSON: text is not valid JSON', { cause });
      }
    }
    const j = o as Partial<FeatureStatsJSON> | null;
    if (!j || typeof j !== 'object' || j.format !== 'tessera-feature-stats') {
      throw new TesseraError(
        'CORRUPT_FILE',
        `FeatureStats.fromJSON: expected format 'tessera-feature-stats', got ${describe(j?.format)}`,
      );
    }
    if (j.version !== 1) {
      throw new TesseraError(
        'UNSUPPORTED',
        `FeatureStats.fromJSON: version 1 expected, got ${describe(j.version)}`,
      );
    }
    const dim = j.dim;
    if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) {
      throw new TesseraError('CORRUPT_FILE', `FeatureStats.fromJSON: bad dim ${describe(dim)}`);
    }
    const packed = (dim * (dim + 1)) / 2;
    if (!Array.isArray(j.mean) || j.mean.length !== dim || !Array.isArray(j.m2) || j.m2.length !== packed) {
      throw new TesseraError(
        'CORRUPT_FILE',
        `FeatureStats.fromJSON: expected mean of length ${dim} and m2 of length ${packed}, got ` +
          `${Array.isArray(j.mean) ? j.mean.length : describe(j.mean)} and ` +
          `${Array.isArray(j.m2) ? j.m2.length : describe(j.m2)}`,
      );
    }
    return FeatureStats.#build(dim, j.count, Float64Array.from(j.mean), Float64Array.from(j.m2), 'fromJSON');
  }

  /**
   * Compact binary form, little-endian: 'TSFS' magic, u32 version (1), u32 dim, u32 reserved (0),
   * f64 count, f64 mean[dim], f64 packed upper triangle of M2 (`dim·(dim+1)/2` values).
   */
  serialize(): Uint8Array {
    const d = this.dim;
    const packed = this.#packUpper();
    const buf = new ArrayBuffer(HEADER_BYTES + 8 * (d + packed.length));
    const view = new DataView(buf);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, BINARY_VERSION, true);
    view.setUint32(8, d, true);
    view.setUint32(12, 0, true);
    view.setFloat64(16, this.#count, true);
    let o = HEADER_BYTES;
    for (let i = 0; i < d; i++, o += 8) view.setFloat64(o, this.#mean[i]!, true);
    for (let i = 0; i < packed.length; i++, o += 8) view.setFloat64(o, packed[i]!, true);
    return new Uint8Array(buf);
  }

  /** Rebuilds statistics from {@link FeatureStats.serialize}'s bytes; anything else is a `CORRUPT_FILE` error. */
  static deserialize(bytes: Uint8Array): FeatureStats {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength < HEADER_BYTES) {
      throw new TesseraError(
        'CORRUPT_FILE',
        `FeatureStats.deserialize: expected at least ${HEADER_BYTES} bytes, got ${bytes?.byteLength ?? describe(bytes)}`,
      );
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const magic = view.getUint32(0, true);
    if (magic !== MAGIC) {
      throw new TesseraError(
        'CORRUPT_FILE',
        `FeatureStats.deserialize: magic 0x${MAGIC.toString(16)} ('TSFS') expected, got 0x${magic.toString(16)}`,
      );
    }
    const version = view.getUint32(4, true);
    if (version !== BINARY_VERSION) {
      throw new TesseraError(
        'UNSUPPORTED',
        `FeatureStats.deserialize: version ${BINARY_VERSION} expected, got ${version}`,
      );
    }
    const d = view.getUint32(8, true);
    if (d < 1 || d > MAX_DIM)
      throw new TesseraError('CORRUPT_FILE', `FeatureStats.deserialize: bad dim ${d}`);
    const packed = (d * (d + 1)) / 2;
    const want = HEADER_BYTES + 8 * (d + packed);
    if (bytes.byteLength !== want) {
      throw new TesseraError(
        'CORRUPT_FILE',
        `FeatureStats.deserialize: dim ${d} needs ${want} bytes, got ${bytes.byteLength}`,
      );
    }
    const count = view.getFloat64(16, true);
    const mean = new Float64Array(d);
    const m2 = new Float64Array(packed);
    let o = HEADER_BYTES;
    for (let i = 0; i < d; i++, o += 8) mean[i] = view.getFloat64(o, true);
    for (let i = 0; i < packed; i++, o += 8) m2[i] = view.getFloat64(o, true);
    return FeatureStats.#build(d, count, mean, m2, 'deserialize');
  }

  static #build(
    dim: number,
    count: unknown,
    mean: Float64Array,
    packed: Float64Array,
    op: string,
  ): FeatureStats {
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
      throw new TesseraError(
        'CORRUPT_FILE',
        `FeatureStats.${op}: count must be an integer ≥ 0, got ${describe(count)}`,
      );
    }
    for (const v of mean) {
      if (!Number.isFinite(v))
        throw new TesseraError('CORRUPT_FILE', `FeatureStats.${op}: non-finite mean value ${v}`);
    }
    const s = new FeatureStats(dim);
    s.#count = count;
    s.#mean.set(mean);
    let p = 0;
    for (let i = 0; i < dim; i++) {
      for (let j = i; j < dim; j++, p++) {
        const v = packed[p]!;
        if (!Number.isFinite(v))
          throw new TesseraError('CORRUPT_FILE', `FeatureStats.${op}: non-finite m2 value ${v}`);
        s.#m2[i * dim + j] = v;
      }
    }
    return s;
  }

  #packUpper(): Float64Array {
    const d = this.dim;
    const out = new Float64Array((d * (d + 1)) / 2);
    let p = 0;
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) out[p++] = this.#m2[i * d + j]!;
    }
    return out;
  }

  /** Chan et al.: n = na + nb, μ = μa + δ·nb/n, M2 = M2a + M2b + δδᵀ·na·nb/n (upper triangle). */
  #combine(nb: number, mb: Float64Array, m2b: Float64Array): void {
    const d = this.dim;
    const na = this.#count;
    const n = na + nb;
    if (na === 0) {
      this.#count = nb;
      this.#mean.set(mb);
      this.#m2.set(m2b);
      return;
    }
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = mb[j]! - this.#mean[j]!;
    const f = (na * nb) / n;
    const m2 = this.#m2;
    for (let i = 0; i < d; i++) {
      const di = delta[i]! * f;
      const row = i * d;
      for (let j = i; j < d; j++) m2[row + j] = m2[row + j]! + m2b[row + j]! + di * delta[j]!;
    }
    const w = nb / n;
    for (let j = 0; j < d; j++) this.#mean[j] = this.#mean[j]! + delta[j]! * w;
    this.#count = n;
  }
}

/** Adds Σᵣ (xᵣ−m)(xᵣ−m)ᵀ into the upper triangle of `m2`, in cache-sized chunks of rows. */
function accumulateCentred(
  x: ArrayLike<number>,
  n: number,
  d: number,
  m: Float64Array,
  m2: Float64Array,
): void {
  // Chunk transposed to feature-major so each (i, j) update is a contiguous dot product.
  const t = new Float64Array(d * CHUNK_ROWS);
  for (let r0 = 0; r0 < n; r0 += CHUNK_ROWS) {
    const k = Math.min(CHUNK_ROWS, n - r0);
    for (let r = 0; r < k; r++) {
      const o = (r0 + r) * d;
      for (let j = 0; j < d; j++) t[j * k + r] = x[o + j]! - m[j]!;
    }
    for (let i = 0; i < d; i++) {
      const ti = i * k;
      const row = i * d;
      for (let j = i; j < d; j++) {
        const tj = j * k;
        let s = 0;
        for (let r = 0; r < k; r++) s += t[ti + r]! * t[tj + r]!;
        m2[row + j] = m2[row + j]! + s;
      }
    }
  }
}

/** Validates rows and returns them flat, row-major (copying only for arrays of rows). */
export function toFlat(rows: FeatureRows, dim: number, op: string): Float32Array | Float64Array {
  let flat: Float32Array | Float64Array;
  if (rows instanceof Float32Array || rows instanceof Float64Array) {
    if (rows.length % dim !== 0) {
      throw new TesseraError(
        'SHAPE_MISMATCH',
        `${op}: flat rows of dim ${dim} expected (length a multiple of ${dim}), got length ${rows.length}`,
      );
    }
    flat = rows;
  } else if (Array.isArray(rows)) {
    flat = new Float64Array(rows.length * dim);
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r]!;
      if (row == null || typeof row.length !== 'number' || row.length !== dim) {
        throw new TesseraError(
          'SHAPE_MISMATCH',
          `${op}: row ${r} should have ${dim} values, got ${row == null ? String(row) : row.length}`,
        );
      }
      for (let j = 0; j < dim; j++) flat[r * dim + j] = Number(row[j]);
    }
  } else {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: expected a Float32Array, Float64Array or array of rows, got ${describe(rows)}`,
    );
  }
  for (let i = 0; i < flat.length; i++) {
    if (!Number.isFinite(flat[i]!)) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `${op}: features must be finite, got ${flat[i]} at row ${Math.floor(i / dim)}, column ${i % dim}`,
      );
    }
  }
  return flat;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return `${typeof v} ${String(v)}`;
}
