/**
 * Σ cᵢ·xᵢ over float32 arrays of one length, accumulated in float64 and rounded once on store.
 * Specialised by arity (1–4 inputs: one tight loop each, unrolled by four, no per-element dispatch over
 * the inputs); more inputs are folded four at a time into a float64 scratch row per block.
 */
export function lincombInto(out: Float32Array, coefs: readonly number[], xs: readonly Float32Array[]): void {
  const n = out.length;
  const c0 = coefs[0] ?? 0;
  const c1 = coefs[1] ?? 0;
  const c2 = coefs[2] ?? 0;
  const c3 = coefs[3] ?? 0;
  const [a, b, c, d] = xs;
  switch (xs.length) {
    case 1: {
      const x0 = a!;
      if (c0 === 1) out.set(x0);
      else for (let j = 0; j < n; j++) out[j] = c0 * x0[j]!;
      return;
    }
    case 2: {
      const [x0, x1] = [a!, b!];
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        out[j] = c0 * x0[j]! + c1 * x1[j]!;
        out[j + 1] = c0 * x0[j + 1]! + c1 * x1[j + 1]!;
        out[j + 2] = c0 * x0[j + 2]! + c1 * x1[j + 2]!;
        out[j + 3] = c0 * x0[j + 3]! + c1 * x1[j + 3]!;
      }
      for (; j < n; j++) out[j] = c0 * x0[j]! + c1 * x1[j]!;
      return;
    }
    case 3: {
      const [x0, x1, x2] = [a!, b!, c!];
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        out[j] = c0 * x0[j]! + c1 * x1[j]! + c2 * x2[j]!;
        out[j + 1] = c0 * x0[j + 1]! + c1 * x1[j + 1]! + c2 * x2[j + 1]!;
        out[j + 2] = c0 * x0[j + 2]! + c1 * x1[j + 2]! + c2 * x2[j + 2]!;
        out[j + 3] = c0 * x0[j + 3]! + c1 * x1[j + 3]! + c2 * x2[j + 3]!;
      }
      for (; j < n; j++) out[j] = c0 * x0[j]! + c1 * x1[j]! + c2 * x2[j]!;
      return;
    }
    case 4: {
      const [x0, x1, x2, x3] = [a!, b!, c!, d!];
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        out[j] = c0 * x0[j]! + c1 * x1[j]! + c2 * x2[j]! + c3 * x3[j]!;
        out[j + 1] = c0 * x0[j + 1]! + c1 * x1[j + 1]! + c2 * x2[j + 1]! + c3 * x3[j + 1]!;
        out[j + 2] = c0 * x0[j + 2]! + c1 * x1[j + 2]! + c2 * x2[j + 2]! + c3 * x3[j + 2]!;
        out[j + 3] = c0 * x0[j + 3]! + c1 * x1[j + 3]! + c2 * x2[j + 3]! + c3 * x3[j + 3]!;
      }
      for (; j < n; j++) out[j] = c0 * x0[j]! + c1 * x1[j]! + c2 * x2[j]! + c3 * x3[j]!;
      return;
    }
  }
  lincombMany(out, coefs, xs);
}

const BLOCK = 4096;

/** Five or more inputs: per block, a float64 row accumulates the inputs four at a time. */
function lincombMany(out: Float32Array, coefs: readonly number[], xs: readonly Float32Array[]): void {
  const n = out.length;
  const acc = new Float64Array(Math.min(BLOCK, n));
  for (let start = 0; start < n; start += BLOCK) {
    const len = Math.min(BLOCK, n - start);
    acc.fill(0, 0, len);
    let i = 0;
    for (; i + 4 <= xs.length; i += 4) {
      const [c0, c1, c2, c3] = [coefs[i]!, coefs[i + 1]!, coefs[i + 2]!, coefs[i + 3]!];
      const x0 = xs[i]!.subarray(start, start + len);
      const x1 = xs[i + 1]!.subarray(start, start + len);
      const x2 = xs[i + 2]!.subarray(start, start + len);
      const x3 = xs[i + 3]!.subarray(start, start + len);
      for (let j = 0; j < len; j++) acc[j]! += c0 * x0[j]! + c1 * x1[j]! + c2 * x2[j]! + c3 * x3[j]!;
    }
    for (; i < xs.length; i++) {
      const ci = coefs[i]!;
      const xi = xs[i]!.subarray(start, start + len);
      for (let j = 0; j < len; j++) acc[j]! += ci * xi[j]!;
    }
    out.set(acc.subarray(0, len), start);
  }
}
