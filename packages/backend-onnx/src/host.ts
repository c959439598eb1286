import {
  allocArray,
  type DType,
  philoxWords,
  type ResizeMode,
  resizeTaps,
  TesseraError,
  type TypedArray,
  wordToUniform,
} from '@tessera/core';

/**
 * Host-side pieces of ops: values that depend only on op arguments (never on tensor data) are computed
 * in JavaScript and uploaded. That includes the Philox words of `rand`, `randn` and `sampleCategorical`
 * (ONNX has no 32×32→64-bit multiply-high, so Philox4x32-10 is computed with core's `philoxWords`),
 * which makes them bit-identical to the CPU backend.
 */

/** `[start, start+step, …)` below `stop`, as the CPU backend computes it. */
export function arange(start: number, stop: number, step: number, dtype: DType): TypedArray {
  if (step === 0 || !Number.isFinite(start) || !Number.isFinite(stop)) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `arange: need finite start/stop and non-zero step, got ${start}, ${stop}, ${step}`,
    );
  }
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = allocArray(dtype, n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return out;
}

/** Clamp bounds in the tensor's dtype: integers clamp to trunc(bound) within the dtype's range. */
export function clampBounds(min: number, max: number, dtype: DType): [number, number] {
  if (dtype === 'float32') return [min, max];
  const [lo, hi] = dtype === 'int32' ? [-2147483648, 2147483647] : [0, 4294967295];
  const f = (v: number) => Math.trunc(Math.min(Math.max(v, lo), hi));
  return [f(min), f(max)];
}

/** `count` uniforms from words `offset…` of the stream of `seed`. */
export function uniforms(seed: number, offset: number, count: number): Float32Array {
  const w = philoxWords(seed, offset, count);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = wordToUniform(w[i]!);
  return out;
}

/** `Backend.rand` values. */
export function rand(seed: number, offset: number, count: number): Float32Array {
  return uniforms(seed, offset, count);
}

/** `Backend.randn` values (Box–Muller in float64, rounded once). */
export function randn(seed: number, offset: number, count: number): Float32Array {
  const w = philoxWords(seed, offset, 2 * count);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u1 = wordToUniform(w[2 * i]!);
    const u2 = wordToUniform(w[2 * i + 1]!);
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

/** The dense `[outSize, inSize]` resampling matrix of PyTorch `interpolate` along one axis. */
export function resizeMatrix(inSize: number, outSize: number, mode: ResizeMode): Float32Array {
  const m = new Float64Array(outSize * inSize);
  resizeTaps(inSize, outSize, mode).forEach((row, o) => {
    for (const [i, w] of row) m[o * inSize + i]! += w;
  });
  return Float32Array.from(m);
}
