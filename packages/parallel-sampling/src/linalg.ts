/**
 * Solves (A + λI)·y = b for a small symmetric positive semi-definite A (row-major q×q) in float64 by
 * Gaussian elimination with partial pivoting. A singular system (λ = 0 and rank-deficient A) gives
 * zeros in the undetermined components instead of NaN.
 */
export function solveRegularized(
  A: ArrayLike<number>,
  b: ArrayLike<number>,
  q: number,
  lambda: number,
): Float64Array {
  const M = new Float64Array(q * (q + 1));
  for (let i = 0; i < q; i++) {
    for (let j = 0; j < q; j++) M[i * (q + 1) + j] = A[i * q + j]! + (i === j ? lambda : 0);
    M[i * (q + 1) + q] = b[i]!;
  }
  const w = q + 1;
  for (let c = 0; c < q; c++) {
    let p = c;
    for (let r = c + 1; r < q; r++) if (Math.abs(M[r * w + c]!) > Math.abs(M[p * w + c]!)) p = r;
    if (p !== c) {
      for (let k = 0; k < w; k++) {
        const t = M[c * w + k]!;
        M[c * w + k] = M[p * w + k]!;
        M[p * w + k] = t;
      }
    }
    const piv = M[c * w + c]!;
    if (!(Math.abs(piv) > 0)) continue;
    for (let r = c + 1; r < q; r++) {
      const f = M[r * w + c]! / piv;
      if (f === 0) continue;
      for (let k = c; k < w; k++) M[r * w + k]! -= f * M[c * w + k]!;
    }
  }
  const y = new Float64Array(q);
  for (let r = q - 1; r >= 0; r--) {
    const piv = M[r * w + r]!;
    if (!(Math.abs(piv) > 0)) continue;
    let s = M[r * w + q]!;
    for (let k = r + 1; k < q; k++) s -= M[r * w + k]! * y[k]!;
    y[r] = s / piv;
  }
  return y;
}
