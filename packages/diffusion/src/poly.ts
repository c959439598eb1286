// Small float64 polynomial and linear-algebra helpers for multistep coefficients.
// Polynomials are coefficient arrays, lowest power first.

/** Product of two polynomials. */
function mul(p: readonly number[], q: readonly number[]): number[] {
  const out = new Array<number>(p.length + q.length - 1).fill(0);
  for (let i = 0; i < p.length; i++) for (let j = 0; j < q.length; j++) out[i + j]! += p[i]! * q[j]!;
  return out;
}

/**
 * The Lagrange basis polynomial Lⱼ over `nodes` (1 at nodes[j], 0 at the others), as a polynomial in
 * v = u − shift.
 */
export function lagrangeBasis(nodes: readonly number[], j: number, shift = 0): number[] {
  let p = [1];
  for (let k = 0; k < nodes.length; k++) {
    if (k === j) continue;
    const den = nodes[j]! - nodes[k]!;
    p = mul(p, [-(nodes[k]! - shift) / den, 1 / den]);
  }
  return p;
}

/** p(v). */
export function evalPoly(p: readonly number[], v: number): number {
  let s = 0;
  for (let i = p.length - 1; i >= 0; i--) s = s * v + p[i]!;
  return s;
}

/** ∫ₐᵇ p(v) dv. */
export function integratePoly(p: readonly number[], a: number, b: number): number {
  const q = [0, ...p.map((c, i) => c / (i + 1))];
  return evalPoly(q, b) - evalPoly(q, a);
}

/** ∫ₐᵇ eᵛ p(v) dv, exactly (antiderivative eᵛ Σₖ (−1)ᵏ p⁽ᵏ⁾(v)); either bound may be −∞. */
export function integrateExpPoly(p: readonly number[], a: number, b: number): number {
  // Q = Σ (−1)^k p^(k): Q satisfies Q + Q' = p, solved from the top power down.
  const n = p.length;
  const q = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) q[i] = p[i]! - (i + 1 < n ? (i + 1) * q[i + 1]! : 0);
  const F = (v: number) => (v === Number.NEGATIVE_INFINITY ? 0 : Math.exp(v) * evalPoly(q, v));
  return F(b) - F(a);
}

/** Solves the small dense system A·x = b by Gaussian elimination with partial pivoting. */
export function solve(A: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(M[r]![col]!) > Math.abs(M[piv]![col]!)) piv = r;
    [M[col], M[piv]] = [M[piv]!, M[col]!];
    for (let r = col + 1; r < n; r++) {
      const f = M[r]![col]! / M[col]![col]!;
      for (let k = col; k <= n; k++) M[r]![k]! -= f * M[col]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}
