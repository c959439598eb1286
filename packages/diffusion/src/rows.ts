// One σ per batch row: normalising the σ argument, marking denoisers that accept it, and the
// fallback that serves per-row σ with a number-only denoiser (one call per distinct σ).
import { check, fmtShape, isTensor, type Tensor } from '@tessera/core';
import type { Denoiser, RowDenoiser, SigmaArg, TimestepModel } from './types.js';

/**
 * Marks `fn` (which must accept a number or one σ per row) as a {@link RowDenoiser}. Returns `fn`.
 *
 * @example
 * const D = rowDenoiser(async (x, sigma) => { const s = await rowSigmas('mine', sigma, x); ... });
 */
export function rowDenoiser(
  fn: (x: Tensor, sigma: SigmaArg, cond?: unknown) => Promise<Tensor> | Tensor,
): RowDenoiser {
  return Object.assign(fn, { perRowSigma: true as const });
}

/** Whether `d` is marked as accepting one σ per batch row. */
export function isRowDenoiser(d: unknown): d is RowDenoiser {
  return typeof d === 'function' && (d as Partial<RowDenoiser>).perRowSigma === true;
}

/**
 * Validates a σ argument against `x`'s batch and returns it as one number when every row shares it
 * (so per-row callers take the scalar path and match it bitwise), else as a `Float64Array` of length
 * `x.shape[0]`. A tensor σ is read back (one host read).
 */
export async function rowSigmas(op: string, sigma: SigmaArg, x: Tensor): Promise<number | Float64Array> {
  if (typeof sigma === 'number') return sigma;
  const n = x.shape[0] ?? 1;
  let vals: Float64Array;
  if (isTensor(sigma)) {
    check(
      sigma.size === n && sigma.rank <= 1,
      'SHAPE_MISMATCH',
      () => `${op}: a σ tensor must hold one value per row (${n}), got shape ${fmtShape(sigma.shape)}`,
    );
    vals = Float64Array.from(await sigma.data());
  } else {
    check(
      sigma !== null && typeof sigma === 'object' && typeof sigma.length === 'number',
      'INVALID_ARGUMENT',
      () => `${op}: sigma must be a number, an array of numbers or a tensor, got ${String(sigma)}`,
    );
    check(
      sigma.length === n,
      'SHAPE_MISMATCH',
      () => `${op}: sigma must hold one value per row (${n}), got ${sigma.length} values`,
    );
    vals = Float64Array.from(sigma);
  }
  for (let i = 0; i < n; i++) {
    check(
      Number.isFinite(vals[i]!) && vals[i]! >= 0,
      'INVALID_ARGUMENT',
      () => `${op}: sigma[${i}] must be finite and ≥ 0, got ${vals[i]}`,
    );
  }
  return vals.every((v) => v === vals[0]) ? vals[0]! : vals;
}

/** The distinct values of `s` in order of first appearance, with the rows holding each. */
export function sigmaGroups(s: ArrayLike<number>): { sigma: number; rows: number[] }[] {
  const map = new Map<number, number[]>();
  for (let i = 0; i < s.length; i++) {
    const v = s[i]!;
    const rows = map.get(v);
    if (rows) rows.push(i);
    else map.set(v, [i]);
  }
  return [...map].map(([sigma, rows]) => ({ sigma, rows }));
}

/** Rows `rows` of `t` along axis 0: a slice when contiguous, else a gather. A fresh tensor. */
function takeRows(t: Tensor, rows: readonly number[]): Tensor {
  const B = t.backend;
  const first = rows[0]!;
  if (rows.every((r, i) => r === first + i)) {
    return B.slice(
      t,
      t.shape.map((_, i) => (i === 0 ? first : 0)),
      t.shape.map((d, i) => (i === 0 ? rows.length : d)),
    );
  }
  const idx = B.tensor(Int32Array.from(rows), [rows.length], 'int32');
  const out = B.gather(t, idx, 0);
  idx.dispose();
  return out;
}

/** Concatenates per-group results (group g holds `groups[g].rows`) back into row order. */
function joinRows(parts: Tensor[], groups: readonly { rows: number[] }[]): Tensor {
  const B = parts[0]!.backend;
  const order = groups.flatMap((g) => g.rows);
  const cat = parts.length === 1 ? B.lincomb([1], parts) : B.concat(parts, 0);
  if (order.every((r, i) => r === i)) return cat;
  const inv = new Int32Array(order.length);
  order.forEach((r, i) => {
    inv[r] = i;
  });
  const idx = B.tensor(inv, [inv.length], 'int32');
  const out = B.gather(cat, idx, 0);
  idx.dispose();
  cat.dispose();
  return out;
}

/** `cond` restricted to some rows when it is a tensor batched like x (first axis = n); else as is. */
function condRows(cond: unknown, n: number, rows: readonly number[]): { cond: unknown; made?: Tensor } {
  if (isTensor(cond) && cond.rank >= 1 && cond.shape[0] === n && rows.length !== n) {
    const made = takeRows(cond, rows);
    return { cond: made, made };
  }
  return { cond };
}

/**
 * A {@link RowDenoiser} view of any denoiser. A marked one is returned as is; a number-only one is
 * wrapped: for a per-row σ it is called once per distinct σ on those rows (a tensor `cond` whose first
 * axis has the batch size is split the same way; any other `cond` is passed whole), and the results
 * are put back in row order.
 */
export function asRowDenoiser(denoiser: Denoiser | RowDenoiser): RowDenoiser {
  if (isRowDenoiser(denoiser)) return denoiser;
  check(
    typeof denoiser === 'function',
    'INVALID_ARGUMENT',
    `asRowDenoiser: denoiser must be a function, got ${typeof denoiser}`,
  );
  const d = denoiser as Denoiser;
  return rowDenoiser(async (x, sigma, cond) => {
    const s = await rowSigmas('asRowDenoiser', sigma, x);
    if (typeof s === 'number') return d(x, s, cond);
    const n = x.shape[0]!;
    const groups = sigmaGroups(s);
    const parts: Tensor[] = [];
    try {
      for (const g of groups) {
        const xs = takeRows(x, g.rows);
        const c = condRows(cond, n, g.rows);
        try {
          const out = await d(xs, g.sigma, c.cond);
          checkOut('asRowDenoiser', out, xs);
          parts.push(out === xs ? x.backend.lincomb([1], [xs]) : out);
        } finally {
          xs.dispose();
          c.made?.dispose();
        }
      }
      return joinRows(parts, groups);
    } finally {
      for (const p of parts) p.dispose();
    }
  });
}

/** Per-σ coefficients of a timestep-model wrapper: xin = cin·x, model(xin, t), D = cSkip·x + cOut·out. */
export interface RowCoefs {
  /** Input scale: the model sees cin·x. */
  cin: number;
  /** The model's timestep. */
  t: number;
  /** Coefficient of x in the x0 estimate. */
  cSkip: number;
  /** Coefficient of the model output in the x0 estimate. */
  cOut: number;
}

/** Throws SHAPE_MISMATCH unless `out` is a tensor of `x`'s shape. */
export function checkOut(op: string, out: Tensor, x: Tensor): void {
  check(
    out &&
      typeof out === 'object' &&
      out.shape?.length === x.shape.length &&
      out.shape.every((d, i) => d === x.shape[i]),
    'SHAPE_MISMATCH',
    () =>
      `${op}: the model returned ${out?.shape ? fmtShape(out.shape) : String(out)}, expected ${fmtShape(x.shape)}`,
  );
}

/**
 * The per-row path of the timestep-model wrappers: each group of equal σ gets the scalar path's own
 * lincombs (so row i matches the scalar call bitwise when the model is row-independent); the model is
 * called once with per-row `t` when `rowT`, else once per group.
 */
export async function rowWise(
  op: string,
  model: TimestepModel,
  x: Tensor,
  s: Float64Array,
  cond: unknown,
  coefs: (sigma: number) => RowCoefs,
  rowT = false,
): Promise<Tensor> {
  const B = x.backend;
  const n = x.shape[0]!;
  const groups = sigmaGroups(s);
  const ks = groups.map((g) => coefs(g.sigma));
  const owned: Tensor[] = [];
  const own = <T extends Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  try {
    const xs = groups.map((g) => own(takeRows(x, g.rows)));
    const xins = xs.map((xg, i) => (ks[i]!.cin === 1 ? xg : own(B.lincomb([ks[i]!.cin], [xg]))));
    let outs: Tensor[];
    if (rowT) {
      const xin = own(B.concat(xins, 0));
      const t = new Float64Array(n);
      let o = 0;
      groups.forEach((g, i) => {
        t.fill(ks[i]!.t, o, o + g.rows.length);
        o += g.rows.length;
      });
      const ordered = groups.flatMap((g) => g.rows);
      const c = condRows(cond, n, ordered);
      if (c.made) own(c.made);
      // with a non-identity order cond is gathered to match xin's row order
      const out = await model(xin, t as unknown as number, c.cond);
      checkOut(op, out, xin);
      if (out !== xin) own(out);
      o = 0;
      outs = groups.map((g) => {
        const part = own(
          B.slice(
            out,
            out.shape.map((_, i) => (i === 0 ? o : 0)),
            out.shape.map((d, i) => (i === 0 ? g.rows.length : d)),
          ),
        );
        o += g.rows.length;
        return part;
      });
    } else {
      outs = [];
      for (let i = 0; i < groups.length; i++) {
        const c = condRows(cond, n, groups[i]!.rows);
        if (c.made) own(c.made);
        const out = await model(xins[i]!, ks[i]!.t, c.cond);
        checkOut(op, out, xs[i]!);
        outs.push(out === xins[i] ? out : own(out));
      }
    }
    const parts = groups.map((_, i) => own(B.lincomb([ks[i]!.cSkip, ks[i]!.cOut], [xs[i]!, outs[i]!])));
    return joinRows(parts, groups);
  } finally {
    for (const t of new Set(owned)) if (!t.isDisposed) t.dispose();
  }
}
