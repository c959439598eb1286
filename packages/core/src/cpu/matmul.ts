/**
 * Float32 matrix product with float64 accumulation, packed and register-blocked: A is packed into panels
 * of 4 rows and B into panels of 4 columns (each panel contiguous along k, float64), so the 4×4 micro-
 * kernel reads both operands sequentially whatever the transposes, keeps its 16 sums in registers and
 * rounds to float32 once on store.
 */

/** A strided view of one [rows, cols] matrix inside a flat array: element (r, c) at `off + r·sr + c·sc`. */
export interface MatView {
  readonly data: ArrayLike<number>;
  readonly off: number;
  readonly sr: number;
  readonly sc: number;
}

const R = 4;
/** Doubles of packed B kept hot per block (128 KiB, within L2). */
const BLOCK_DOUBLES = 16384;

/** Packs rows [0, m) of the [m, k] view into ⌈m/4⌉ panels of k×4 (zero padded). */
export function packRows(v: MatView, m: number, k: number, dst: Float64Array): void {
  const { data, off, sr, sc } = v;
  for (let ib = 0; ib * R < m; ib++) {
    const base = ib * k * R;
    for (let ii = 0; ii < R; ii++) {
      const r = ib * R + ii;
      if (r >= m) {
        for (let p = 0; p < k; p++) dst[base + p * R + ii] = 0;
        continue;
      }
      const ro = off + r * sr;
      for (let p = 0; p < k; p++) dst[base + p * R + ii] = data[ro + p * sc]!;
    }
  }
}

/** Packed length for `rows` rows of length k. */
export const packedLength = (rows: number, k: number): number => Math.ceil(rows / R) * R * k;

/**
 * out[o + i·n + j] = Σ_p A(i, p)·B(p, j) for the packed panels `ap` (rows of A) and `bp` (columns of B,
 * i.e. rows of Bᵀ), each of inner length k.
 */
export function gemmPacked(
  ap: Float64Array,
  bp: Float64Array,
  m: number,
  n: number,
  k: number,
  out: Float32Array,
  o: number,
): void {
  const stride = k * R;
  const panelsB = Math.ceil(n / R);
  // a block of B panels stays in cache while every A panel streams past it
  const JB = Math.max(1, Math.floor(BLOCK_DOUBLES / stride));
  for (let jStart = 0; jStart < panelsB; jStart += JB) {
    const jEnd = Math.min(panelsB, jStart + JB);
    for (let ib = 0; ib * R < m; ib++) {
      const pa = ib * stride;
      const i0 = ib * R;
      const mi = Math.min(R, m - i0);
      for (let jb = jStart; jb < jEnd; jb++) {
        const pb = jb * stride;
        let s00 = 0,
          s01 = 0,
          s02 = 0,
          s03 = 0;
        let s10 = 0,
          s11 = 0,
          s12 = 0,
          s13 = 0;
        let s20 = 0,
          s21 = 0,
          s22 = 0,
          s23 = 0;
        let s30 = 0,
          s31 = 0,
          s32 = 0,
          s33 = 0;
        for (let p = 0; p < stride; p += R) {
          const a0 = ap[pa + p]!;
          const a1 = ap[pa + p + 1]!;
          const a2 = ap[pa + p + 2]!;
          const a3 = ap[pa + p + 3]!;
          const b0 = bp[pb + p]!;
          const b1 = bp[pb + p + 1]!;
          const b2 = bp[pb + p + 2]!;
          const b3 = bp[pb + p + 3]!;
          s00 += a0 * b0;
          s01 += a0 * b1;
          s02 += a0 * b2;
          s03 += a0 * b3;
          s10 += a1 * b0;
          s11 += a1 * b1;
          s12 += a1 * b2;
          s13 += a1 * b3;
          s20 += a2 * b0;
          s21 += a2 * b1;
          s22 += a2 * b2;
          s23 += a2 * b3;
          s30 += a3 * b0;
          s31 += a3 * b1;
          s32 += a3 * b2;
          s33 += a3 * b3;
        }
        const j0 = jb * R;
        const nj = Math.min(R, n - j0);
        const q = o + i0 * n + j0;
        if (mi === R && nj === R) {
          out[q] = s00;
          out[q + 1] = s01;
          out[q + 2] = s02;
          out[q + 3] = s03;
          out[q + n] = s10;
          out[q + n + 1] = s11;
          out[q + n + 2] = s12;
          out[q + n + 3] = s13;
          const q2 = q + 2 * n;
          out[q2] = s20;
          out[q2 + 1] = s21;
          out[q2 + 2] = s22;
          out[q2 + 3] = s23;
          const q3 = q + 3 * n;
          out[q3] = s30;
          out[q3 + 1] = s31;
          out[q3 + 2] = s32;
          out[q3 + 3] = s33;
        } else {
          const s = [s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33];
          for (let ii = 0; ii < mi; ii++)
            for (let jj = 0; jj < nj; jj++) out[q + ii * n + jj] = s[ii * R + jj]!;
        }
      }
    }
  }
}
