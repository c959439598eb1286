import type { Kernels } from './kernels.js';

// Float64 dense linear algebra for the Fréchet distance: pivoted Cholesky, a symmetric sandwich
// product, Householder tridiagonalisation and implicit-shift QL eigenvalues. Matrices are row-major
// Float64Array. Loops are blocked / register-tiled so d = 2048 runs in seconds in plain JS.

/** Result of {@link pivotedCholesky}: P A Pᵀ ≈ L Lᵀ with L `n×rank` lower-trapezoidal. */
export interface PivotedCholesky {
  /** Numerical rank (number of columns of L that were produced). */
  rank: number;
  /** L transposed, `rank×n` row-major: row a holds column a of L (zeros before index a). */
  lt: Float64Array;
  /** perm[i] is the original index of pivoted position i. */
  perm: Int32Array;
}

/**
 * Pivoted (rank-revealing) Cholesky of a symmetric positive semi-definite `n×n` matrix, as LAPACK's
 * dpstrf: at each step the largest remaining Schur-complement diagonal is the pivot, and the
 * factorisation stops once it is ≤ `tol` (default n·ε·max diag, dpstrf's default).
 */
export function pivotedCholesky(
  a: Float64Array,
  n: number,
  tol?: number,
  kern: Kernels | null = null,
): PivotedCholesky {
  return runSteps(pivotedCholeskySteps(a, n, tol, kern));
}

/** Runs a step generator to completion. */
export function runSteps<T>(g: Generator<void, T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/** {@link pivotedCholesky} as a generator that pauses every 16 columns (for callers that yield). */
export function* pivotedCholeskySteps(
  a: Float64Array,
  n: number,
  tol?: number,
  kern: Kernels | null = null,
): Generator<void, PivotedCholesky> {
  const diag = new Float64Array(n);
  let maxDiag = 0;
  for (let i = 0; i < n; i++) {
    diag[i] = a[i * n + i]!;
    if (diag[i]! > maxDiag) maxDiag = diag[i]!;
  }
  const stop = tol ?? n * Number.EPSILON * maxDiag;
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  // Lᵀ's storage first (rank ≤ n), so that L's scratch rows can be released behind it.
  const ltStore = kern ? kern.alloc(n * n) : null;
  const scratch = kern ? kern.mark() : 0;
  // Rows of L, row-major n×n (row i = pivoted position i), columns filled left to right; 3 rows of
  // slack for the SIMD kernel's last block of four.
  const l = kern ? kern.alloc((n + 3) * n) : new Float64Array(n * n);
  const dots = kern ? kern.alloc(n) : null;
  let rank = 0;
  for (let k = 0; k < n; k++) {
    if ((k & 15) === 15) yield;
    let p = k;
    for (let i = k + 1; i < n; i++) if (diag[i]! > diag[p]!) p = i;
    if (!(diag[p]! > stop)) break;
    if (p !== k) {
      const tp = perm[p]!;
      perm[p] = perm[k]!;
      perm[k] = tp;
      const td = diag[p]!;
      diag[p] = diag[k]!;
      diag[k] = td;
      for (let m = 0; m < k; m++) {
        const t = l[p * n + m]!;
        l[p * n + m] = l[k * n + m]!;
        l[k * n + m] = t;
      }
    }
    const lkk = Math.sqrt(diag[k]!);
    l[k * n + k] = lkk;
    const inv = 1 / lkk;
    const arow = perm[k]! * n;
    const lk = k * n;
    if (kern && dots) {
      kern.rowdots(l, n, k, k, k + 1, n, dots);
      for (let i = k + 1; i < n; i++) {
        const c = (a[arow + perm[i]!]! - dots[i]!) * inv;
        l[i * n + k] = c;
        diag[i] = diag[i]! - c * c;
      }
      rank = k + 1;
      continue;
    }
    // Column k below the diagonal: (A[i,k] − L[i,:k]·L[k,:k]) / L[k,k], four rows at a time.
    let i = k + 1;
    for (; i + 3 < n; i += 4) {
      const l0 = i * n;
      const l1 = l0 + n;
      const l2 = l1 + n;
      const l3 = l2 + n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let m = 0; m < k; m++) {
        const v = l[lk + m]!;
        s0 += l[l0 + m]! * v;
        s1 += l[l1 + m]! * v;
        s2 += l[l2 + m]! * v;
        s3 += l[l3 + m]! * v;
      }
      const c0 = (a[arow + perm[i]!]! - s0) * inv;
      const c1 = (a[arow + perm[i + 1]!]! - s1) * inv;
      const c2 = (a[arow + perm[i + 2]!]! - s2) * inv;
      const c3 = (a[arow + perm[i + 3]!]! - s3) * inv;
      l[l0 + k] = c0;
      l[l1 + k] = c1;
      l[l2 + k] = c2;
      l[l3 + k] = c3;
      diag[i] = diag[i]! - c0 * c0;
      diag[i + 1] = diag[i + 1]! - c1 * c1;
      diag[i + 2] = diag[i + 2]! - c2 * c2;
      diag[i + 3] = diag[i + 3]! - c3 * c3;
    }
    for (; i < n; i++) {
      const li = i * n;
      let s = 0;
      for (let m = 0; m < k; m++) s += l[li + m]! * l[lk + m]!;
      const c = (a[arow + perm[i]!]! - s) * inv;
      l[li + k] = c;
      diag[i] = diag[i]! - c * c;
    }
    rank = k + 1;
  }
  const lt = ltStore ? ltStore.subarray(0, rank * n) : new Float64Array(rank * n);
  for (let i = 0; i < n; i++) {
    const li = i * n;
    const top = Math.min(i + 1, rank);
    for (let c = 0; c < top; c++) lt[c * n + i] = l[li + c]!;
  }
  kern?.release(scratch);
  return { rank, lt, perm };
}

const TILE = 64;
const KTILE = 256;

/**
 * out[i·ldo + j] = Σ_k x[i·n + k]·y[j·n + k] over k ∈ [kStart(i, j), n) for i < rows, j < cols —
 * a blocked, 4×4 register-tiled product of row-major x (`rows×n`) and yᵀ (y is `cols×n`). When
 * `kFrom` is given, k starts at kFrom(jTile start) (the caller guarantees zeros before it).
 * When `upper` is set only entries with j ≥ i are computed.
 */
export function gemmNT(
  x: Float64Array,
  rows: number,
  y: Float64Array,
  cols: number,
  n: number,
  out: Float64Array,
  opts: { upper?: boolean; yZerosBeforeRow?: boolean; xZerosBeforeRow?: boolean } = {},
  kern: Kernels | null = null,
): void {
  runSteps(gemmNTSteps(x, rows, y, cols, n, out, opts, kern));
}

/** {@link gemmNT} as a generator that pauses after each block of 64 output rows. */
export function* gemmNTSteps(
  x: Float64Array,
  rows: number,
  y: Float64Array,
  cols: number,
  n: number,
  out: Float64Array,
  opts: { upper?: boolean; yZerosBeforeRow?: boolean; xZerosBeforeRow?: boolean } = {},
  kern: Kernels | null = null,
): Generator<void, void> {
  out.fill(0, 0, rows * cols);
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    if (i0 > 0) yield;
    const i1 = Math.min(rows, i0 + TILE);
    for (let j0 = opts.upper ? i0 - (i0 % TILE) : 0; j0 < cols; j0 += TILE) {
      const j1 = Math.min(cols, j0 + TILE);
      // Zeros before index r in row r of y (or x): a tile of rows starting at j0 needs k ≥ j0 only.
      let kBegin = 0;
      if (opts.yZerosBeforeRow) kBegin = Math.max(kBegin, j0);
      if (opts.xZerosBeforeRow) kBegin = Math.max(kBegin, i0);
      for (let k0 = kBegin; k0 < n; k0 += KTILE) {
        const k1 = Math.min(n, k0 + KTILE);
        tileNT(x, y, n, out, cols, i0, i1, j0, j1, k0, k1, opts.upper === true, kern);
      }
    }
  }
}

function tileNT(
  x: Float64Array,
  y: Float64Array,
  n: number,
  out: Float64Array,
  ldo: number,
  i0: number,
  i1: number,
  j0: number,
  j1: number,
  k0: number,
  k1: number,
  upper: boolean,
  kern: Kernels | null,
): void {
  let i = i0;
  for (; i + 3 < i1; i += 4) {
    if (kern) {
      let jj = upper ? Math.max(j0, i - (i % 4)) : j0;
      for (; jj + 3 < j1; jj += 4)
        kern.dot4x4(x, i * n + k0, n, y, jj * n + k0, n, k1 - k0, out, i * ldo + jj, ldo);
      for (; jj < j1; jj++) {
        for (let r = i; r < i + 4; r++) {
          let s = 0;
          for (let k = k0; k < k1; k++) s += x[r * n + k]! * y[jj * n + k]!;
          out[r * ldo + jj] = out[r * ldo + jj]! + s;
        }
      }
      continue;
    }
    const a0 = i * n;
    const a1 = a0 + n;
    const a2 = a1 + n;
    const a3 = a2 + n;
    let j = upper ? Math.max(j0, i - (i % 4)) : j0;
    for (; j + 3 < j1; j += 4) {
      const b0 = j * n;
      const b1 = b0 + n;
      const b2 = b1 + n;
      const b3 = b2 + n;
      let s00 = 0;
      let s01 = 0;
      let s02 = 0;
      let s03 = 0;
      let s10 = 0;
      let s11 = 0;
      let s12 = 0;
      let s13 = 0;
      let s20 = 0;
      let s21 = 0;
      let s22 = 0;
      let s23 = 0;
      let s30 = 0;
      let s31 = 0;
      let s32 = 0;
      let s33 = 0;
      for (let k = k0; k < k1; k++) {
        const x0 = x[a0 + k]!;
        const x1 = x[a1 + k]!;
        const x2 = x[a2 + k]!;
        const x3 = x[a3 + k]!;
        const y0 = y[b0 + k]!;
        const y1 = y[b1 + k]!;
        const y2 = y[b2 + k]!;
        const y3 = y[b3 + k]!;
        s00 += x0 * y0;
        s01 += x0 * y1;
        s02 += x0 * y2;
        s03 += x0 * y3;
        s10 += x1 * y0;
        s11 += x1 * y1;
        s12 += x1 * y2;
        s13 += x1 * y3;
        s20 += x2 * y0;
        s21 += x2 * y1;
        s22 += x2 * y2;
        s23 += x2 * y3;
        s30 += x3 * y0;
        s31 += x3 * y1;
        s32 += x3 * y2;
        s33 += x3 * y3;
      }
      const o0 = i * ldo + j;
      const o1 = o0 + ldo;
      const o2 = o1 + ldo;
      const o3 = o2 + ldo;
      out[o0] = out[o0]! + s00;
      out[o0 + 1] = out[o0 + 1]! + s01;
      out[o0 + 2] = out[o0 + 2]! + s02;
      out[o0 + 3] = out[o0 + 3]! + s03;
      out[o1] = out[o1]! + s10;
      out[o1 + 1] = out[o1 + 1]! + s11;
      out[o1 + 2] = out[o1 + 2]! + s12;
      out[o1 + 3] = out[o1 + 3]! + s13;
      out[o2] = out[o2]! + s20;
      out[o2 + 1] = out[o2 + 1]! + s21;
      out[o2 + 2] = out[o2 + 2]! + s22;
      out[o2 + 3] = out[o2 + 3]! + s23;
      out[o3] = out[o3]! + s30;
      out[o3 + 1] = out[o3 + 1]! + s31;
      out[o3 + 2] = out[o3 + 2]! + s32;
      out[o3 + 3] = out[o3 + 3]! + s33;
    }
    for (; j < j1; j++) {
      const b = j * n;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let k = k0; k < k1; k++) {
        const yv = y[b + k]!;
        s0 += x[a0 + k]! * yv;
        s1 += x[a1 + k]! * yv;
        s2 += x[a2 + k]! * yv;
        s3 += x[a3 + k]! * yv;
      }
      out[i * ldo + j] = out[i * ldo + j]! + s0;
      out[(i + 1) * ldo + j] = out[(i + 1) * ldo + j]! + s1;
      out[(i + 2) * ldo + j] = out[(i + 2) * ldo + j]! + s2;
      out[(i + 3) * ldo + j] = out[(i + 3) * ldo + j]! + s3;
    }
  }
  for (; i < i1; i++) {
    const a = i * n;
    for (let j = upper ? Math.max(j0, i) : j0; j < j1; j++) {
      const b = j * n;
      let s = 0;
      for (let k = k0; k < k1; k++) s += x[a + k]! * y[b + k]!;
      out[i * ldo + j] = out[i * ldo + j]! + s;
    }
  }
}

/**
 * Eigenvalues of a symmetric `n×n` matrix (full row-major storage, destroyed): Householder
 * reduction to tridiagonal form, then implicit-shift QL. Returns them unsorted.
 */
export function symmetricEigenvalues(a: Float64Array, n: number, kern: Kernels | null = null): Float64Array {
  return runSteps(symmetricEigenvaluesSteps(a, n, kern));
}

/** {@link symmetricEigenvalues} as a generator that pauses every 16 Householder steps. */
export function* symmetricEigenvaluesSteps(
  a: Float64Array,
  n: number,
  kern: Kernels | null = null,
): Generator<void, Float64Array> {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  yield* tridiagonalizeSteps(a, n, d, e, kern);
  tridiagonalQL(d, e, n);
  return d;
}

/**
 * Householder tridiagonalisation of the symmetric matrix `a` (row-major, both triangles valid,
 * destroyed): diagonal → d, sub-diagonal → e[0..n−2]. Step k's rank-2 update of the trailing
 * block is fused with step k+1's matrix–vector product, so the trailing block is swept once per step.
 */
export function tridiagonalize(
  a: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  kern: Kernels | null = null,
): void {
  runSteps(tridiagonalizeSteps(a, n, d, e, kern));
}

/** {@link tridiagonalize} as a generator that pauses every 16 steps. */
export function* tridiagonalizeSteps(
  a: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  kern: Kernels | null = null,
): Generator<void, void> {
  const vec = () => (kern ? kern.alloc(n) : new Float64Array(n));
  const v = vec();
  const w = vec();
  const p = vec();
  let havePrev = false; // whether (v, w) from the previous step still need applying
  const vPrev = vec();
  const wPrev = vec();
  for (let k = 0; k < n - 1; k++) {
    if ((k & 15) === 15) yield;
    // Bring row k (from column k+1 on) and the diagonal up to date with the previous update.
    const rk = k * n;
    if (havePrev) {
      const vk = vPrev[k]!;
      const wk = wPrev[k]!;
      for (let j = k; j < n; j++) a[rk + j] = a[rk + j]! - vk * wPrev[j]! - wk * vPrev[j]!;
    }
    d[k] = a[rk + k]!;
    // Householder vector for x = a[k, k+1:].
    let norm2 = 0;
    for (let j = k + 1; j < n; j++) norm2 += a[rk + j]! * a[rk + j]!;
    const x0 = a[rk + k + 1]!;
    const norm = Math.sqrt(norm2);
    const tail2 = norm2 - x0 * x0;
    if (k === n - 2 || tail2 === 0) {
      // Already tridiagonal in this column: no reflection, but the trailing block still needs the
      // pending update.
      e[k] = x0;
      if (havePrev) applyRank2(a, n, k + 1, vPrev, wPrev);
      havePrev = false;
      continue;
    }
    const alpha = x0 > 0 ? -norm : norm;
    e[k] = alpha;
    v.fill(0, 0, k + 1);
    v[k + 1] = x0 - alpha;
    for (let j = k + 2; j < n; j++) v[j] = a[rk + j]!;
    const vtv = tail2 + v[k + 1]! * v[k + 1]!;
    const beta = 2 / vtv;
    // p = S v over the trailing block S = a[k+1:, k+1:], applying the pending update on the way.
    if (!havePrev) {
      vPrev.fill(0);
      wPrev.fill(0);
    }
    if (kern) {
      p.fill(0, k + 1, n);
      kern.sweep(a, n, k + 1, vPrev, wPrev, v, p);
    } else fusedUpdateSymv(a, n, k + 1, vPrev, wPrev, v, p);
    let vp = 0;
    for (let j = k + 1; j < n; j++) {
      p[j] = p[j]! * beta;
      vp += v[j]! * p[j]!;
    }
    const half = (beta * vp) / 2;
    for (let j = k + 1; j < n; j++) w[j] = p[j]! - half * v[j]!;
    vPrev.set(v);
    wPrev.set(w);
    w.fill(0);
    havePrev = true;
  }
  if (havePrev) {
    const r = (n - 1) * n + n - 1;
    a[r] = a[r]! - 2 * vPrev[n - 1]! * wPrev[n - 1]!;
  }
  d[n - 1] = a[(n - 1) * n + n - 1]!;
  e[n - 1] = 0;
}

/** a[i][j] −= v_i w_j + w_i v_j for i, j ≥ s (lower triangle and diagonal kept; rows read later). */
function applyRank2(a: Float64Array, n: number, s: number, v: Float64Array, w: Float64Array): void {
  for (let i = s; i < n; i++) {
    const vi = v[i]!;
    const wi = w[i]!;
    const r = i * n;
    for (let j = s; j < n; j++) a[r + j] = a[r + j]! - vi * w[j]! - wi * v[j]!;
  }
}

/**
 * For the trailing block S = a[s:, s:]: optionally applies S −= uwᵀ + wuᵀ (u = `u`, w = `uw`), then
 * p[s:] = S x[s:], in one sweep over the upper triangle (j ≥ i), which is the only part kept current.
 */
function fusedUpdateSymv(
  a: Float64Array,
  n: number,
  s: number,
  u: Float64Array,
  uw: Float64Array,
  x: Float64Array,
  p: Float64Array,
): void {
  p.fill(0, s, n);
  let i = s;
  // Four rows at a time: each column j loads u, w, x and p once for four matrix entries.
  for (; i + 3 < n; i += 4) {
    for (let q = i; q < i + 4; q++) p[q] = p[q]! + updateRowSpan(a, n, q, q, i + 4, u, uw, x, p);
    const r0 = i * n;
    const r1 = r0 + n;
    const r2 = r1 + n;
    const r3 = r2 + n;
    const u0 = u[i]!;
    const u1 = u[i + 1]!;
    const u2 = u[i + 2]!;
    const u3 = u[i + 3]!;
    const w0 = uw[i]!;
    const w1 = uw[i + 1]!;
    const w2 = uw[i + 2]!;
    const w3 = uw[i + 3]!;
    const x0 = x[i]!;
    const x1 = x[i + 1]!;
    const x2 = x[i + 2]!;
    const x3 = x[i + 3]!;
    let acc0 = 0;
    let acc1 = 0;
    let acc2 = 0;
    let acc3 = 0;
    for (let j = i + 4; j < n; j++) {
      const wj = uw[j]!;
      const uj = u[j]!;
      const xj = x[j]!;
      const a0 = a[r0 + j]! - u0 * wj - w0 * uj;
      const a1 = a[r1 + j]! - u1 * wj - w1 * uj;
      const a2 = a[r2 + j]! - u2 * wj - w2 * uj;
      const a3 = a[r3 + j]! - u3 * wj - w3 * uj;
      a[r0 + j] = a0;
      a[r1 + j] = a1;
      a[r2 + j] = a2;
      a[r3 + j] = a3;
      acc0 += a0 * xj;
      acc1 += a1 * xj;
      acc2 += a2 * xj;
      acc3 += a3 * xj;
      p[j] = p[j]! + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
    }
    p[i] = p[i]! + acc0;
    p[i + 1] = p[i + 1]! + acc1;
    p[i + 2] = p[i + 2]! + acc2;
    p[i + 3] = p[i + 3]! + acc3;
  }
  for (; i < n; i++) p[i] = p[i]! + updateRowSpan(a, n, i, i, n, u, uw, x, p);
}

/**
 * Row i, columns [j0, j1) with j0 ≥ i: applies the rank-2 update to the upper-triangle entries, adds
 * their off-diagonal symv contributions into p[j], and returns row i's own dot product.
 */
function updateRowSpan(
  a: Float64Array,
  n: number,
  i: number,
  j0: number,
  j1: number,
  u: Float64Array,
  uw: Float64Array,
  x: Float64Array,
  p: Float64Array,
): number {
  const r = i * n;
  const ui = u[i]!;
  const wi = uw[i]!;
  const xi = x[i]!;
  let acc = 0;
  for (let j = j0; j < j1; j++) {
    const aij = a[r + j]! - ui * uw[j]! - wi * u[j]!;
    a[r + j] = aij;
    acc += aij * x[j]!;
    if (j !== i) p[j] = p[j]! + aij * xi;
  }
  return acc;
}

/**
 * Eigenvalues of the symmetric tridiagonal matrix with diagonal d and sub-diagonal e[0..n−2]
 * (implicit QL with Wilkinson shifts, eigenvalues only); d is overwritten by the eigenvalues.
 */
export function tridiagonalQL(d: Float64Array, e: Float64Array, n: number): void {
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]!) + Math.abs(d[m + 1]!);
        if (Math.abs(e[m]!) <= Number.EPSILON * dd) break;
      }
      if (m === l) break;
      if (++iter > 60) throw new Error('tridiagonalQL: no convergence');
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      let underflow = false;
      for (; i >= l; i--) {
        let f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          d[i + 1] = d[i + 1]! - p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        f = 0;
      }
      if (underflow) continue;
      d[l] = d[l]! - p;
      e[l] = g;
      e[m] = 0;
    }
  }
}
