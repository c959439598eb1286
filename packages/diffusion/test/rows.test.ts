// One σ per batch row: the wrappers against float64 re-derivations of their formulas, the fallback
// for number-only denoisers (one call per distinct σ), and row-wise agreement with scalar calls.
import { currentBackend, type Tensor, TesseraError } from '@tessera/core';
import {
  asRowDenoiser,
  cfgDenoiser,
  clipDenoiser,
  type Denoiser,
  epsDenoiser,
  flowDenoiser,
  isRowDenoiser,
  rowSigmas,
  sigmaGroups,
  type TimestepModel,
  vDenoiser,
} from '@tessera/diffusion';
import { alphasCumprod, betas } from '@tessera/schedules';
import { describe, expect, it } from 'vitest';
import { normals, rng } from './gaussian.js';

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 2 ** 31);
const why = `TEST_SEED=${SEED}`;
const B = currentBackend();
const r = rng(SEED);

const N = 3;
const d = 4;
const xv = Float32Array.from(normals(r, N * d), (v) => 3 * v);
// rows 0 and 2 share σ (a non-contiguous group), row 1 differs
const sA = 0.2 + 5 * r();
const sB = 0.05 + r();
const sig = [sA, sB, sA];
const ac = alphasCumprod(betas('linear', { precision: 'float64' }));
const logS = Array.from(ac, (a) => 0.5 * Math.log((1 - a) / a));

/** diffusers `_sigma_to_t`, re-derived: linear interpolation of the index in log σ. */
function sigmaToT64(s: number): number {
  const l = Math.log(s);
  if (l <= logS[0]!) return 0;
  if (l >= logS[logS.length - 1]!) return logS.length - 1;
  let i = 0;
  while (logS[i + 1]! < l) i++;
  return i + (l - logS[i]!) / (logS[i + 1]! - logS[i]!);
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, msg: string) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i]! - want[i]!), `${msg} [${i}]: ${got[i]} vs ${want[i]} (${why})`).toBeLessThan(
      tol * (1 + Math.abs(want[i]!)),
    );
  }
}

/** A toy timestep model 0.5·x + 0.01·t (t a number, or one per row), counting its calls. */
function toyModel() {
  const seen: (number | Float64Array)[] = [];
  const model: TimestepModel = (x, t) => {
    seen.push(t);
    const tv = typeof t === 'number' ? null : (t as unknown as Float64Array);
    const rows = x.shape[0]!;
    const tt = B.tensor(
      Float32Array.from({ length: rows }, (_, i) => 0.01 * (tv ? tv[i]! : t)),
      [rows, 1],
    );
    const half = B.lincomb([0.5], [x]);
    const out = B.binary('add', half, tt);
    half.dispose();
    tt.dispose();
    return out;
  };
  return { model, seen };
}

async function rowAlone(D: Denoiser, i: number, s: number): Promise<Float32Array> {
  const xi = B.tensor(xv.slice(i * d, (i + 1) * d), [1, d]);
  const out = await D(xi, s);
  const v = await out.data();
  xi.dispose();
  out.dispose();
  return v as Float32Array;
}

describe('per-row σ in the timestep-model wrappers', () => {
  for (const rowTimesteps of [false, true]) {
    it(`epsDenoiser (rowTimesteps ${rowTimesteps}): x − σ·ε̂ per row; ${rowTimesteps ? 'one call' : 'one call per distinct σ'}`, async () => {
      const { model, seen } = toyModel();
      const D = epsDenoiser(model, { alphasCumprod: ac, rowTimesteps });
      expect(isRowDenoiser(D)).toBe(true);
      const x = B.tensor(xv, [N, d]);
      const before = B.memory().tensors;
      const out = await D(x, Float64Array.from(sig));
      const got = await out.data();
      out.dispose();
      expect(B.memory().tensors).toBe(before);
      expect(seen.length).toBe(rowTimesteps ? 1 : 2);
      const want = Array.from(xv, (xi, j) => {
        const s = sig[Math.floor(j / d)]!;
        const cin = 1 / Math.sqrt(s * s + 1);
        return xi - s * (0.5 * xi * cin + 0.01 * sigmaToT64(s));
      });
      expectClose(got, want, 1e-5, 'eps per-row');
      for (let i = 0; i < N; i++) {
        const alone = await rowAlone(D, i, sig[i]!);
        expect(Array.from(got.slice(i * d, (i + 1) * d)), `row ${i} vs its scalar call (${why})`).toEqual(
          Array.from(alone),
        );
      }
      x.dispose();
    });
  }

  it('vDenoiser per row: x/(σ²+1) − σ/√(σ²+1)·v̂', async () => {
    const { model } = toyModel();
    const D = vDenoiser(model, { alphasCumprod: ac });
    const x = B.tensor(xv, [N, d]);
    const out = await D(x, sig);
    const want = Array.from(xv, (xi, j) => {
      const s = sig[Math.floor(j / d)]!;
      const cin = 1 / Math.sqrt(s * s + 1);
      return xi / (s * s + 1) - (s / Math.sqrt(s * s + 1)) * (0.5 * xi * cin + 0.01 * sigmaToT64(s));
    });
    expectClose(await out.data(), want, 1e-5, 'v per-row');
    out.dispose();
    x.dispose();
  });

  it('flowDenoiser per row (σ as a tensor): x/(1+σ) − t·v̂ at t = σ/(1+σ)', async () => {
    const { model } = toyModel();
    const D = flowDenoiser(model);
    const x = B.tensor(xv, [N, d]);
    const st = B.tensor(Float32Array.from(sig), [N]);
    const s32 = Array.from(Float32Array.from(sig));
    const out = await D(x, st as unknown as number);
    const want = Array.from(xv, (xi, j) => {
      const s = s32[Math.floor(j / d)]!;
      const t = s / (1 + s);
      const xt = xi / (1 + s);
      return xt - t * (0.5 * xt + 0.01 * t * 1000);
    });
    expectClose(await out.data(), want, 1e-5, 'flow per-row');
    for (const t of [out, x, st]) t.dispose();
  });
});

describe('number-only denoisers and guidance with per-row σ', () => {
  // D(x, σ, c) = 0.5·x + c/(1+σ) + 0.1·x², with c a tensor batched like x
  const cv = Float32Array.from(normals(r, N * d));
  const uv = Float32Array.from(normals(r, N * d));
  const D64 = (xi: number, c: number, s: number) => 0.5 * xi + c / (1 + s) + 0.1 * xi * xi;
  const calls: { rows: number; sigma: number }[] = [];
  const plain: Denoiser = (x, s, c) => {
    calls.push({ rows: x.shape[0]!, sigma: s });
    expect(typeof s).toBe('number');
    const half = B.lincomb([0.5, 1 / (1 + s)], [x, c as Tensor]);
    const sq = B.unary('square', x);
    const out = B.lincomb([1, 0.1], [half, sq]);
    half.dispose();
    sq.dispose();
    return out;
  };

  it('asRowDenoiser: one call per distinct σ on those rows (cond split alike), rows back in order', async () => {
    calls.length = 0;
    const R = asRowDenoiser(plain);
    expect(asRowDenoiser(R)).toBe(R);
    const x = B.tensor(xv, [N, d]);
    const c = B.tensor(cv, [N, d]);
    const before = B.memory().tensors;
    const out = await R(x, sig, c);
    const got = await out.data();
    out.dispose();
    expect(B.memory().tensors).toBe(before);
    expect(calls).toEqual([
      { rows: 2, sigma: sA },
      { rows: 1, sigma: sB },
    ]);
    const want = Array.from(xv, (xi, j) => D64(xi, cv[j]!, sig[Math.floor(j / d)]!));
    expectClose(got, want, 1e-5, 'asRowDenoiser');
    x.dispose();
    c.dispose();
  });

  it('cfgDenoiser over a number-only denoiser with per-row σ: D_u + w·(D_c − D_u) per row', async () => {
    calls.length = 0;
    const w = 4.5;
    const uncond = B.tensor(uv, [N, d]);
    const G = cfgDenoiser(plain, { scale: w, uncond });
    expect(isRowDenoiser(G)).toBe(true);
    const x = B.tensor(xv, [N, d]);
    const c = B.tensor(cv, [N, d]);
    const out = await G(x, sig, c);
    // doubled batch [cond; uncond] has σ = [a, b, a, a, b, a]: two distinct values, two calls
    expect(calls.map((k) => k.rows)).toEqual([4, 2]);
    const want = Array.from(xv, (xi, j) => {
      const s = sig[Math.floor(j / d)]!;
      const dc = D64(xi, cv[j]!, s);
      const du = D64(xi, uv[j]!, s);
      return du + w * (dc - du);
    });
    expectClose(await out.data(), want, 1e-5, 'cfg per-row');
    for (const t of [out, x, c, uncond]) t.dispose();
  });

  it('clipDenoiser keeps the marker and clamps per row', async () => {
    const x = B.tensor(xv, [N, d]);
    const c = B.tensor(cv, [N, d]);
    const out = await clipDenoiser(plain, 1)(x, sig, c);
    const want = Array.from(xv, (xi, j) =>
      Math.max(-1, Math.min(1, D64(xi, cv[j]!, sig[Math.floor(j / d)]!))),
    );
    expectClose(await out.data(), want, 1e-5, 'clip per-row');
    for (const t of [out, x, c]) t.dispose();
  });
});

describe('rowSigmas', () => {
  const x = B.tensor(xv, [N, d]);
  it('one shared value collapses to a number; distinct values come back as Float64Array', async () => {
    expect(await rowSigmas('t', [sA, sA, sA], x)).toBe(sA);
    expect(Array.from((await rowSigmas('t', sig, x)) as Float64Array)).toEqual(sig);
    expect(sigmaGroups(sig)).toEqual([
      { sigma: sA, rows: [0, 2] },
      { sigma: sB, rows: [1] },
    ]);
  });
  it('wrong length, negative or non-finite σ → TesseraError', async () => {
    const bad = async (s: unknown, code: string) => {
      const e = await rowSigmas('t', s as number, x).catch((err: unknown) => err);
      expect(e).toBeInstanceOf(TesseraError);
      expect((e as TesseraError).code).toBe(code);
    };
    await bad([1, 2], 'SHAPE_MISMATCH');
    await bad([1, -2, 3], 'INVALID_ARGUMENT');
    await bad([1, Number.NaN, 3], 'INVALID_ARGUMENT');
    const t = B.tensor(Float32Array.of(1, 2), [2]);
    await bad(t, 'SHAPE_MISMATCH');
    t.dispose();
  });
});
