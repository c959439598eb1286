import type { UnaryOp } from '@tessera/core';
import { scope } from '@tessera/core';
import { describe, expect, it } from 'vitest';
import { gpu, rng, SEED } from './helpers.ts';

// The WGSL kernels compute exp/log/sin/cos/… with their own float32 routines (WGSL's built-ins only
// promise loose bounds). Reference: JavaScript's float64 Math on the same float32 inputs.
const erf64 = (x: number): number => {
  // Abramowitz–Stegun 7.1.5 series for |x| < 3, asymptotic complement beyond: ample for 1e-9 here
  const a = Math.abs(x);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return (Math.sign(x) * 2 * sum) / Math.sqrt(Math.PI);
  }
  let f = a;
  for (let n = 400; n >= 1; n--) f = a + n / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f);
};

interface Case {
  op: UnaryOp;
  f: (x: number) => number;
  /** inputs: a sweep over [lo, hi] plus random points */
  lo: number;
  hi: number;
  /** |got − want| ≤ rel·|want| + abs */
  rel: number;
  abs: number;
}

const CASES: Case[] = [
  { op: 'exp', f: Math.exp, lo: -87, hi: 88, rel: 4e-7, abs: 1e-37 },
  { op: 'log', f: Math.log, lo: 1e-30, hi: 1e30, rel: 2e-7, abs: 1e-12 },
  { op: 'expm1', f: Math.expm1, lo: -20, hi: 20, rel: 4e-7, abs: 1e-37 },
  { op: 'log1p', f: Math.log1p, lo: -0.999, hi: 1e6, rel: 4e-7, abs: 1e-37 },
  { op: 'tanh', f: Math.tanh, lo: -12, hi: 12, rel: 4e-7, abs: 1e-37 },
  { op: 'sin', f: Math.sin, lo: -1000, hi: 1000, rel: 0, abs: 2e-7 },
  { op: 'cos', f: Math.cos, lo: -1000, hi: 1000, rel: 0, abs: 2e-7 },
  { op: 'erf', f: erf64, lo: -6, hi: 6, rel: 0, abs: 2e-7 },
  { op: 'sigmoid', f: (x) => 1 / (1 + Math.exp(-x)), lo: -80, hi: 80, rel: 4e-7, abs: 1e-37 },
];

describe.skipIf(!gpu)('webgpu float32 math against float64', () => {
  const B = gpu!;
  for (const c of CASES) {
    it(`${c.op} on [${c.lo}, ${c.hi}]`, async () => {
      const r = rng(SEED ^ c.op.length);
      const n = 4096;
      const logScale = c.lo > 0 && c.hi / c.lo > 1e3;
      const xs = Array.from({ length: n }, (_, i) => {
        const t = i < n / 2 ? i / (n / 2 - 1) : r();
        const x = logScale ? c.lo * (c.hi / c.lo) ** t : c.lo + (c.hi - c.lo) * t;
        return Math.fround(x);
      });
      // small magnitudes too, where relative accuracy is the hard part
      for (let i = 0; i < 64; i++) xs.push(Math.fround((r() < 0.5 ? -1 : 1) * 10 ** (-12 + 10 * r())));
      const inputs = xs.filter((x) => x >= c.lo && x <= c.hi);
      const got = await scope(() => B.unary(c.op, B.tensor(inputs, [inputs.length])).data());
      const bad: string[] = [];
      inputs.forEach((x, i) => {
        const want = c.f(x);
        if (!(Math.abs(got[i]! - want) <= c.rel * Math.abs(want) + c.abs) && bad.length < 5) {
          bad.push(`${c.op}(${x}) = ${got[i]}, want ${want}`);
        }
      });
      expect(bad, `seed ${SEED}`).toEqual([]);
    });
  }
  it('pow on a ∈ [0.1, 10] × b ∈ [−5, 5] (and negative bases with integer exponents); atan2 on all quadrants', async () => {
    const r = rng(SEED + 7);
    const n = 2048;
    const a = Array.from({ length: n }, (_, i) =>
      Math.fround(i % 8 === 0 ? -(1 + 4 * r()) : 0.1 * 100 ** r()),
    );
    const b = Array.from({ length: n }, (_, i) =>
      Math.fround(i % 8 === 0 ? Math.round(10 * r() - 5) : 10 * r() - 5),
    );
    const y = Array.from({ length: n }, () => Math.fround(20 * r() - 10));
    const [pw, at] = await scope(() =>
      Promise.all([
        B.binary('pow', B.tensor(a, [n]), B.tensor(b, [n])).data(),
        B.binary('atan2', B.tensor(y, [n]), B.tensor(a, [n])).data(),
      ]),
    );
    const bad: string[] = [];
    for (let i = 0; i < n; i++) {
      const w = a[i]! ** b[i]!;
      // float32 pow through exp(b·log a): about |b·ln a| ulps of log error reach the result
      const tol = 1e-7 * (2 + Math.abs(b[i]! * Math.log(Math.abs(a[i]!)))) * Math.abs(w);
      if (!(Math.abs(pw[i]! - w) <= tol) && bad.length < 5)
        bad.push(`pow(${a[i]}, ${b[i]}) = ${pw[i]}, want ${w}`);
      const t = Math.atan2(y[i]!, a[i]!);
      if (!(Math.abs(at[i]! - t) <= 3e-7 * Math.max(1, Math.abs(t))) && bad.length < 5) {
        bad.push(`atan2(${y[i]}, ${a[i]}) = ${at[i]}, want ${t}`);
      }
    }
    expect(bad, `seed ${SEED}`).toEqual([]);
  });
});
