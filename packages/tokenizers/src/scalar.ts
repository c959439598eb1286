import { type Tensor, TesseraError, tidy } from '@tessera/core';
import { checkFloat, checkIndices } from './util.js';

const INT32_MAX = 2 ** 31 - 1;

/** Codes and indices of a scalar quantizer; the caller disposes both. */
export interface ScalarQuantizeResult {
  /** Quantized codes, the input's shape. */
  codes: Tensor;
  /** int32 indices, the input's shape without its last axis. */
  indices: Tensor;
}

/** Mixed-radix index Σᵢ digitᵢ·basisᵢ over the last axis of int32 `digits` [..., d]. */
function digitsToIndex(digits: Tensor, basis: readonly number[]): Tensor {
  const B = digits.backend;
  return tidy(() =>
    B.reduce('sum', B.binary('mul', digits, B.tensor(Int32Array.from(basis), [basis.length], 'int32')), -1),
  );
}

/** Digits (idx ÷ basisᵢ) mod radixᵢ of int32 `indices` [...] → int32 [..., d]. */
function indexToDigits(indices: Tensor, basis: readonly number[], radix: readonly number[]): Tensor {
  const B = indices.backend;
  return tidy(() => {
    const d = basis.length;
    const idx = B.reshape(B.cast(indices, 'int32'), [...indices.shape, 1]);
    const q = B.binary('floorDiv', idx, B.tensor(Int32Array.from(basis), [d], 'int32'));
    return B.binary('mod', q, B.tensor(Int32Array.from(radix), [d], 'int32'));
  });
}

/**
 * Finite scalar quantization (Mentzer et al. 2023, arXiv:2309.15505, Appendix A.1; vector-quantize-pytorch
 * `FSQ`): each of the d channels is bounded by a shifted tanh to (L−1)(1+ε)/2 half-width, rounded to one of
 * L levels and rescaled to [−1, 1]. Index = Σ digitᵢ·basisᵢ with basis = cumprod([1, L₀, …, L_{d−2}]).
 */
export class FSQ {
  readonly levels: readonly number[];
  readonly basis: readonly number[];
  readonly codebookSize: number;
  readonly eps: number;
  #halfL: Float32Array;
  #offset: Float32Array;
  #shift: Float32Array;
  #halfWidth: Float32Array;

  constructor(options: { levels: readonly number[]; eps?: number }) {
    const levels = options?.levels;
    if (
      !Array.isArray(levels) ||
      levels.length === 0 ||
      !levels.every((l) => Number.isInteger(l) && l >= 2)
    ) {
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `FSQ: levels must be a non-empty list of integers ≥ 2, got ${JSON.stringify(levels)}`,
      );
    }
    this.levels = [...levels];
    this.eps = options.eps ?? 1e-3;
    const basis: number[] = [];
    let size = 1;
    for (const l of levels) {
      basis.push(size);
      size *= l;
    }
    if (size > INT32_MAX)
      throw new TesseraError(
        'INVALID_ARGUMENT',
        `FSQ: codebook size Π levels = ${size} exceeds int32 indices`,
      );
    this.basis = basis;
    this.codebookSize = size;
    const d = levels.length;
    this.#halfL = new Float32Array(d);
    this.#offset = new Float32Array(d);
    this.#shift = new Float32Array(d);
    this.#halfWidth = new Float32Array(d);
    levels.forEach((l, i) => {
      const halfL = ((l - 1) * (1 + this.eps)) / 2;
      const offset = l % 2 === 0 ? 0.5 : 0;
      this.#halfL[i] = halfL;
      this.#offset[i] = offset;
      this.#shift[i] = Math.atanh(offset / halfL);
      this.#halfWidth[i] = Math.floor(l / 2);
    });
  }

  /** Number of channels d. */
  get dim(): number {
    return this.levels.length;
  }

  #const(z: Tensor, a: Float32Array): Tensor {
    return z.backend.tensor(a, [a.length], 'float32');
  }

  /** tanh(z + shift)·halfL − offset, per channel (the bounded, not yet rounded value). */
  bound(z: Tensor): Tensor {
    checkFloat('FSQ.bound', z, this.dim, 'z');
    const B = z.backend;
    return tidy(() =>
      B.binary(
        'sub',
        B.binary(
          'mul',
          B.unary('tanh', B.binary('add', z, this.#const(z, this.#shift))),
          this.#const(z, this.#halfL),
        ),
        this.#const(z, this.#offset),
      ),
    );
  }

  /** Quantized codes in [−1, 1] and indices of `z` [..., d]. */
  quantize(z: Tensor): ScalarQuantizeResult {
    const B = z.backend;
    return tidy(() => {
      const codes = B.binary('div', B.unary('round', this.bound(z)), this.#const(z, this.#halfWidth));
      return { codes, indices: this.codesToIndices(codes) };
    });
  }

  /** Indices of `z` [..., d] → int32 [...]. */
  async encode(z: Tensor): Promise<Tensor> {
    const r = this.quantize(z);
    r.codes.dispose();
    return r.indices;
  }

  /** Codes of int32 `indices` [...] → [..., d]. */
  decode(indices: Tensor): Tensor {
    return this.indicesToCodes(indices);
  }

  /** Index of each code vector [..., d] (values on the FSQ grid) → int32 [...]. */
  codesToIndices(codes: Tensor): Tensor {
    checkFloat('FSQ.codesToIndices', codes, this.dim, 'codes');
    const B = codes.backend;
    return tidy(() => {
      const hw = this.#const(codes, this.#halfWidth);
      const digits = B.cast(B.unary('round', B.binary('add', B.binary('mul', codes, hw), hw)), 'int32');
      return digitsToIndex(digits, this.basis);
    });
  }

  /** Code vectors [..., d] of int32 `indices` [...]. */
  indicesToCodes(indices: Tensor): Tensor {
    checkIndices('FSQ.indicesToCodes', indices);
    const B = indices.backend;
    return tidy(() => {
      const hw = B.tensor(this.#halfWidth, [this.dim], 'float32');
      const digits = B.cast(indexToDigits(indices, this.basis, this.levels), 'float32');
      return B.binary('div', B.binary('sub', digits, hw), hw);
    });
  }
}

function bitBasis(d: number): number[] {
  return Array.from({ length: d }, (_, i) => 2 ** (d - 1 - i));
}

function checkBits(op: string, dim: number): void {
  if (!Number.isInteger(dim) || dim < 1 || dim > 30) {
    throw new TesseraError(
      'INVALID_ARGUMENT',
      `${op}: dim must be an integer in [1, 30] (2^dim int32 codes), got ${dim}`,
    );
  }
}

/** Sign bits of `z` (z > 0 → 1) as an MSB-first index (vector-quantize-pytorch LFQ `mask`). */
function signIndex(z: Tensor, d: number): Tensor {
  const B = z.backend;
  return tidy(() => digitsToIndex(B.cast(B.binary('gt', z, 0), 'int32'), bitBasis(d)));
}

/** Bits of `indices` [...] → float32 {0, 1} [..., d], MSB first. */
function indexBits(indices: Tensor, d: number): Tensor {
  return tidy(() =>
    indices.backend.cast(indexToDigits(indices, bitBasis(d), new Array(d).fill(2)), 'float32'),
  );
}

/**
 * Lookup-free quantization (MAGVIT-v2, arXiv:2310.05737; vector-quantize-pytorch `LFQ`): each channel is
 * quantized to ±scale by its sign; the index is the MSB-first bit string (channel 0 = highest bit), so the
 * implicit codebook has 2^d codes.
 */
export class LFQ {
  readonly dim: number;
  readonly scale: number;
  readonly codebookSize: number;

  constructor(options: { dim: number; scale?: number }) {
    checkBits('LFQ', options?.dim);
    this.dim = options.dim;
    this.scale = options.scale ?? 1;
    this.codebookSize = 2 ** this.dim;
  }

  /** Codes (±scale) and indices of `z` [..., d]. */
  quantize(z: Tensor): ScalarQuantizeResult {
    checkFloat('LFQ.quantize', z, this.dim, 'z');
    const B = z.backend;
    return tidy(() => ({
      codes: B.where(B.binary('gt', z, 0), this.scale, -this.scale),
      indices: signIndex(z, this.dim),
    }));
  }

  /** Indices of `z` [..., d] → int32 [...]. */
  async encode(z: Tensor): Promise<Tensor> {
    checkFloat('LFQ.encode', z, this.dim, 'z');
    return signIndex(z, this.dim);
  }

  /** Codes of `indices`. */
  decode(indices: Tensor): Tensor {
    return this.indicesToCodes(indices);
  }

  /** Index of each code vector [..., d] (by sign). */
  codesToIndices(codes: Tensor): Tensor {
    checkFloat('LFQ.codesToIndices', codes, this.dim, 'codes');
    return signIndex(codes, this.dim);
  }

  /** Code vectors (±scale) [..., d] of int32 `indices` [...]. */
  indicesToCodes(indices: Tensor): Tensor {
    checkIndices('LFQ.indicesToCodes', indices);
    const B = indices.backend;
    return tidy(() =>
      B.binary('sub', B.binary('mul', indexBits(indices, this.dim), 2 * this.scale), this.scale),
    );
  }
}

/**
 * Binary spherical quantization (Zhao et al. 2024, arXiv:2406.07548; Infinity's BSQ): z is projected to the
 * unit sphere and each channel quantized to ±1/√d by its sign, so every code lies on the unit sphere; the
 * index is the MSB-first bit string ((ẑ√d + 1)/2 · basis, basis = 2^(d−1) … 1).
 */
export class BSQ {
  readonly dim: number;
  readonly codebookSize: number;
  readonly qScale: number;

  constructor(options: { dim: number }) {
    checkBits('BSQ', options?.dim);
    this.dim = options.dim;
    this.codebookSize = 2 ** this.dim;
    this.qScale = 1 / Math.sqrt(this.dim);
  }

  /** Codes (±1/√d) and indices of `z` [..., d] (the sign of z equals the sign of z/‖z‖). */
  quantize(z: Tensor): ScalarQuantizeResult {
    checkFloat('BSQ.quantize', z, this.dim, 'z');
    const B = z.backend;
    return tidy(() => ({
      codes: B.where(B.binary('gt', z, 0), this.qScale, -this.qScale),
      indices: signIndex(z, this.dim),
    }));
  }

  /** Indices of `z` [..., d] → int32 [...]. */
  async encode(z: Tensor): Promise<Tensor> {
    checkFloat('BSQ.encode', z, this.dim, 'z');
    return signIndex(z, this.dim);
  }

  /** Codes of `indices`. */
  decode(indices: Tensor): Tensor {
    return this.indicesToCodes(indices);
  }

  /** Index of each code vector [..., d] (by sign). */
  codesToIndices(codes: Tensor): Tensor {
    checkFloat('BSQ.codesToIndices', codes, this.dim, 'codes');
    return signIndex(codes, this.dim);
  }

  /** Code vectors (±1/√d, unit norm) [..., d] of int32 `indices` [...]. */
  indicesToCodes(indices: Tensor): Tensor {
    checkIndices('BSQ.indicesToCodes', indices);
    const B = indices.backend;
    return tidy(() =>
      B.binary('sub', B.binary('mul', indexBits(indices, this.dim), 2 * this.qScale), this.qScale),
    );
  }
}
