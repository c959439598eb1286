// Forward process q(x_t | x0) = N(α·x0, σ²) for the VE, VP and flow-matching parameterisations, and
// conversions between the prediction targets a network may be trained on.
import { check, fmtShape, type Tensor } from '@tessera/core';

/**
 * A noise level: VE `{ sigma }` (x = x0 + σε); VP `{ t, alphasCumprod }` (x = √ᾱ_t x0 + √(1−ᾱ_t) ε,
 * `t` an integer index into the table); flow matching `{ t, flow: true }` (x = (1−t)x0 + tε, t ∈ [0, 1]).
 * `sigma` and `t` may be one number or one per batch row (axis 0).
 */
export type NoiseLevel =
  | { sigma: number | readonly number[] }
  | { t: number | readonly number[]; alphasCumprod: ArrayLike<number> }
  | { t: number | readonly number[]; flow: true };

/** Signal and noise scales (α, σ) of a parameterisation, x_t = α·x0 + σ·ε. */
export interface AlphaSigma {
  alpha: number;
  sigma: number;
}

/** (α, σ) of one noise level given as a single number. */
export function alphaSigma(level: NoiseLevel): AlphaSigma {
  const list = alphaSigmaList(level, 1, 'alphaSigma');
  return list[0]!;
}

function alphaSigmaList(level: NoiseLevel, batch: number, op: string): AlphaSigma[] {
  const one = (v: number): AlphaSigma => {
    if ('sigma' in level) {
      check(
        Number.isFinite(v) && v >= 0,
        'INVALID_ARGUMENT',
        `${op}: sigma must be finite and ≥ 0, got ${v}`,
      );
      return { alpha: 1, sigma: v };
    }
    if ('flow' in level) {
      check(v >= 0 && v <= 1, 'INVALID_ARGUMENT', `${op}: flow time t must be in [0, 1], got ${v}`);
      return { alpha: 1 - v, sigma: v };
    }
    const ac = level.alphasCumprod;
    check(
      Number.isInteger(v) && v >= 0 && v < ac.length,
      'OUT_OF_RANGE',
      `${op}: t must be an integer in [0, ${ac.length - 1}] for a table of ${ac.length} alphasCumprod, got ${v}`,
    );
    const a = ac[v]!;
    return { alpha: Math.sqrt(a), sigma: Math.sqrt(1 - a) };
  };
  const raw = 'sigma' in level ? level.sigma : level.t;
  if (typeof raw === 'number') return Array.from({ length: batch }, () => one(raw));
  check(
    raw.length === batch,
    'SHAPE_MISMATCH',
    `${op}: got ${raw.length} noise levels for a batch of ${batch} (one per row of axis 0, or a single number)`,
  );
  return raw.map(one);
}

/** Per-row coefficient tensor of shape [B, 1, …, 1] for broadcasting over `x`. */
function rowCoef(x: Tensor, values: readonly number[]): Tensor {
  return x.backend.tensor(Float32Array.from(values), [values.length, ...x.shape.slice(1).map(() => 1)]);
}

/** Σ coefs_k(row)·xs_k with per-row coefficients; one lincomb when all rows share them. */
function rowLincomb(coefs: readonly (readonly number[])[], xs: readonly Tensor[]): Tensor {
  const B = xs[0]!.backend;
  const same = coefs.every((c) => c.every((v) => v === c[0]));
  if (same)
    return B.lincomb(
      coefs.map((c) => c[0]!),
      xs,
    );
  let acc: Tensor | undefined;
  for (let k = 0; k < xs.length; k++) {
    const ck = rowCoef(xs[0]!, coefs[k]!);
    const term = B.binary('mul', xs[k]!, ck);
    ck.dispose();
    if (acc) {
      const next = B.binary('add', acc, term);
      acc.dispose();
      term.dispose();
      acc = next;
    } else acc = term;
  }
  return acc!;
}

function sameShape(op: string, a: Tensor, b: Tensor, an: string, bn: string): void {
  check(
    a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]),
    'SHAPE_MISMATCH',
    () => `${op}: ${an} ${fmtShape(a.shape)} and ${bn} ${fmtShape(b.shape)} must have the same shape`,
  );
}

/**
 * Samples q(x_t | x0): α·x0 + σ·noise for the given noise level (see {@link NoiseLevel}).
 *
 * @example
 * addNoise(x0, eps, { sigma: 2.5 });                    // VE: x0 + 2.5·ε
 * addNoise(x0, eps, { t: 999, alphasCumprod });         // VP (diffusers add_noise)
 * addNoise(x0, eps, { t: 0.3, flow: true });            // rectified flow: 0.7·x0 + 0.3·ε
 */
export function addNoise(x0: Tensor, noise: Tensor, level: NoiseLevel): Tensor {
  sameShape('addNoise', x0, noise, 'x0', 'noise');
  const as = alphaSigmaList(level, x0.shape[0] ?? 1, 'addNoise');
  return rowLincomb([as.map((v) => v.alpha), as.map((v) => v.sigma)], [x0, noise]);
}

/** Prediction targets: x0, ε, v = αε − σx0, score = −ε/σ, flow velocity u = ε − x0. */
export type Prediction = 'x0' | 'eps' | 'v' | 'score' | 'flow';

/** (a, b) with target = a·x0 + b·ε. */
function targetCoefs(p: Prediction, { alpha, sigma }: AlphaSigma): [number, number] {
  switch (p) {
    case 'x0':
      return [1, 0];
    case 'eps':
      return [0, 1];
    case 'v':
      return [-sigma, alpha];
    case 'score':
      return [0, -1 / sigma];
    case 'flow':
      return [-1, 1];
    default:
      throw new Error('unreachable');
  }
}

const PREDICTIONS: readonly Prediction[] = ['x0', 'eps', 'v', 'score', 'flow'];

/**
 * The coefficients (cx, cp) with `to = cx·x + cp·pred`, for x = α·x0 + σ·ε and `pred` of kind `from`.
 * Every conversion between x0, ε, v, score and flow velocity is linear in (x, pred).
 */
export function predictionCoefs(from: Prediction, to: Prediction, as: AlphaSigma): [number, number] {
  for (const [n, p] of [
    ['from', from],
    ['to', to],
  ] as const) {
    check(
      PREDICTIONS.includes(p),
      'UNKNOWN_NAME',
      `convertPrediction: ${n} must be one of ${PREDICTIONS.join(', ')}, got '${String(p)}'`,
    );
  }
  const [pa, pb] = targetCoefs(from, as);
  const [ta, tb] = targetCoefs(to, as);
  // [x; pred] = M·[x0; ε] with M = [[α, σ], [pa, pb]]; invert M.
  const det = as.alpha * pb - as.sigma * pa;
  check(
    Math.abs(det) > 1e-300 && Number.isFinite(det),
    'INVALID_ARGUMENT',
    `convertPrediction: cannot recover x0 and ε from x and a '${from}' prediction at α=${as.alpha}, σ=${as.sigma}`,
  );
  // x0 = (pb·x − σ·pred)/det, ε = (−pa·x + α·pred)/det
  const cx = (ta * pb - tb * pa) / det;
  const cp = (-ta * as.sigma + tb * as.alpha) / det;
  check(
    Number.isFinite(cx) && Number.isFinite(cp),
    'INVALID_ARGUMENT',
    `convertPrediction: '${from}' → '${to}' is undefined at α=${as.alpha}, σ=${as.sigma}`,
  );
  return [cx, cp];
}

/**
 * Converts a model prediction `pred` made at `x` (noise level `level`) from one target to another,
 * e.g. ε → x0 or v → ε. Returns a fresh tensor.
 *
 * @example
 * const x0 = convertPrediction(x, eps, { from: 'eps', to: 'x0', level: { t: 500, alphasCumprod } });
 */
export function convertPrediction(
  x: Tensor,
  pred: Tensor,
  options: { from: Prediction; to: Prediction; level: NoiseLevel },
): Tensor {
  sameShape('convertPrediction', x, pred, 'x', 'pred');
  const as = alphaSigmaList(options.level, x.shape[0] ?? 1, 'convertPrediction');
  const cs = as.map((v) => predictionCoefs(options.from, options.to, v));
  return rowLincomb([cs.map((c) => c[0]), cs.map((c) => c[1])], [x, pred]);
}
