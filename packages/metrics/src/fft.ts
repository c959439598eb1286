/**
 * In-place complex DFT of length n over (re, im) at stride `stride` from `offset`: radix-2 Cooley–Tukey
 * when n is a power of two, the direct O(n²) sum otherwise (images here are small). Forward sign (e^−iθ).
 */
export function dft1d(re: Float64Array, im: Float64Array, offset: number, stride: number, n: number): void {
  if (n <= 1) return;
  if ((n & (n - 1)) === 0) {
    fftPow2(re, im, offset, stride, n);
    return;
  }
  const tr = new Float64Array(n);
  const ti = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      const ang = (-2 * Math.PI * ((k * t) % n)) / n;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      const xr = re[offset + t * stride]!;
      const xi = im[offset + t * stride]!;
      sr += xr * c - xi * s;
      si += xr * s + xi * c;
    }
    tr[k] = sr;
    ti[k] = si;
  }
  for (let k = 0; k < n; k++) {
    re[offset + k * stride] = tr[k]!;
    im[offset + k * stride] = ti[k]!;
  }
}

function fftPow2(re: Float64Array, im: Float64Array, offset: number, stride: number, n: number): void {
  // Bit-reversal permutation.
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const a = offset + i * stride;
      const b = offset + j * stride;
      const tr = re[a]!;
      re[a] = re[b]!;
      re[b] = tr;
      const ti = im[a]!;
      im[a] = im[b]!;
      im[b] = ti;
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    const ang = (-2 * Math.PI) / len;
    for (let k = 0; k < half; k++) {
      const wr = Math.cos(ang * k);
      const wi = Math.sin(ang * k);
      for (let s = 0; s < n; s += len) {
        const a = offset + (s + k) * stride;
        const b = offset + (s + k + half) * stride;
        const br = re[b]! * wr - im[b]! * wi;
        const bi = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - br;
        im[b] = im[a]! - bi;
        re[a] = re[a]! + br;
        im[a] = im[a]! + bi;
      }
    }
  }
}
