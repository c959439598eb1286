import { TesseraError } from '@tessera/core';

/**
 * Numeric helpers that mirror numpy and PyTorch exactly where diffusers' results depend on them:
 * numpy's `linspace` and `arange` fill rules, numpy's round-half-to-even, and PyTorch's float32
 * `linspace` (CPU kernel: `start + step·i` below the halfway point, `end − step·(n−1−i)` above it,
 * every operation rounded to float32).
 */

/** Rounds to the nearest float32 (alias of `Math.fround`). */
export const f32 = Math.fround;

/** numpy `round` / `np.round`: halves go to the even neighbour (498.5 → 498, 499.5 → 500). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * numpy `linspace(start, stop, num)` in float64, bit for bit: `k·step + start` with
 * `step = (stop − start)/(num − 1)`, and the last value set to `stop` exactly.
 */
export function linspace(start: number, stop: number, num: number): Float64Array {
  checkCount('linspace', num, 0);
  const out = new Float64Array(num);
  if (num === 0) return out;
  if (num === 1) {
    out[0] = start;
    return out;
  }
  const div = num - 1;
  const step = (stop - start) / div;
  if (step === 0) {
    for (let k = 0; k < num; k++) out[k] = (k / div) * (stop - start) + start;
  } else {
    for (let k = 0; k < num; k++) out[k] = k * step + start;
  }
  out[num - 1] = stop;
  return out;
}

/**
 * numpy `arange(start, stop, step)` for floats, bit for bit: length `ceil((stop − start)/step)`, then
 * `start + i·δ` with `δ = (start + step) − start` (numpy's fill rule).
 */
export function arange(start: number, stop: number, step: number): Float64Array {
  if (!(step !== 0 && Number.isFinite(step))) {
    throw new TesseraError('INVALID_ARGUMENT', `arange: step must be a finite non-zero number, got ${step}`);
  }
  const len = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(len);
  if (len === 0) return out;
  out[0] = start;
  if (len === 1) return out;
  const second = start + step;
  const delta = second - start;
  out[1] = second;
  for (let i = 2; i < len; i++) out[i] = start + i * delta;
  return out;
}

/**
 * PyTorch `torch.linspace(start, end, steps, dtype=torch.float32)` on the CPU: endpoints rounded to
 * float32, `step = f32((end − start)/(steps − 1))`, values `start + step·i` for `i < ⌊steps/2⌋` and
 * `end − step·(steps − 1 − i)` after, each operation rounded to float32. PyTorch's vectorised path
 * may differ from this scalar formula by one float32 ulp in the middle of the range.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float64Array {
  checkCount('torch.linspace', steps, 0);
  const out = new Float64Array(steps);
  const s = f32(start);
  const e = f32(end);
  if (steps === 0) return out;
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - 1 - i)));
  }
  return out;
}

/** Throws unless `n` is an integer ≥ `min`. */
export function checkCount(op: string, n: number, min: number, name = 'count'): void {
  if (!Number.isInteger(n) || n < min) {
    throw new TesseraError('INVALID_ARGUMENT', `${op}: ${name} must be an integer >= ${min}, got ${n}`);
  }
}

/** Throws unless `x` is a finite number (and positive when `positive`). */
export function checkNumber(op: string, x: unknown, name: string, positive = false): asserts x is number {
  if (typeof x !== 'number' || !Number.isFinite(x) || (positive && !(x > 0))) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: ${name} must be a finite${positive ? ' positive' : ''} number, got ${String(x)}`,
    );
  }
}

/** Reverses a typed array into a new one. */
export function reversed<T extends Float64Array | Int32Array>(a: T): T {
  const out = a.slice() as T;
  out.reverse();
  return out;
}

/** Returns `[...values, 0]` as a new Float64Array (k-diffusion `append_zero`). */
export function appendZero(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length + 1);
  for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  return out;
}
