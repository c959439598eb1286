import { LINALG_WASM_BASE64 } from './wasm-linalg-bytes.js';

/**
 * The f64x2 WebAssembly kernels of the Fréchet distance (wasm/linalg.wat) on one private memory, with
 * a bump allocator for the float64 buffers they work on. Arrays passed to a kernel must come from
 * {@link Kernels.alloc} of the same instance; indices and strides are in elements.
 */
export interface Kernels {
  /** A zeroed float64 view of `count` elements inside the kernels' memory. */
  alloc(count: number): Float64Array;
  /** The allocator's current top, for {@link Kernels.release}. */
  mark(): number;
  /** Frees everything allocated since `mark()` returned `top` (views into it must no longer be used). */
  release(top: number): void;
  /** out[r·ldo + c] += Σ_{t<kc} x[xi + r·ldx + t]·y[yi + c·ldy + t] for r, c < 4 (out at index oi). */
  dot4x4(
    x: Float64Array,
    xi: number,
    ldx: number,
    y: Float64Array,
    yi: number,
    ldy: number,
    kc: number,
    out: Float64Array,
    oi: number,
    ldo: number,
  ): void;
  /** out[i] = Σ_{m<k} l[i·ld + m]·l[kRow·ld + m] for i ∈ [i0, i1); l needs 3 rows of slack past i1. */
  rowdots(
    l: Float64Array,
    ld: number,
    kRow: number,
    k: number,
    i0: number,
    i1: number,
    out: Float64Array,
  ): void;
  /** The fused tridiagonal sweep (linalg.ts `fusedUpdateSymv`) over rows [s, n) of the n×n matrix a. */
  sweep(
    a: Float64Array,
    n: number,
    s: number,
    u: Float64Array,
    w: Float64Array,
    x: Float64Array,
    p: Float64Array,
  ): void;
}

/** The slice of the WebAssembly JS API used here (the package compiles without the DOM lib). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Memory: new (d: { initial: number; maximum: number }) => { buffer: ArrayBuffer };
  Instance: new (m: object, imports: object) => { exports: unknown };
}

const WA = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
let module: object | null | undefined;

function compiled(): object | null {
  if (module !== undefined) return module;
  if (!WA) {
    module = null;
    return module;
  }
  try {
    const text = atob(LINALG_WASM_BASE64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    module = new WA.Module(bytes);
  } catch {
    module = null; // no WebAssembly or no SIMD here: the plain-JS loops run instead
  }
  return module;
}

/**
 * Kernels on a fresh memory holding at least `doubles` float64 values (released with the returned
 * object), or null where WebAssembly SIMD is unavailable or the memory cannot be had.
 */
export function createKernels(doubles: number): Kernels | null {
  const mod = compiled();
  const bytes = doubles * 8 + 64;
  const pages = Math.ceil(bytes / 65536);
  if (!mod || !WA) return null;
  let memory: { buffer: ArrayBuffer };
  let inst: { exports: unknown };
  try {
    memory = new WA.Memory({ initial: pages, maximum: pages });
    inst = new WA.Instance(mod, { env: { memory } });
  } catch {
    return null;
  }
  const ex = inst.exports as {
    dot4x4: (x: number, y: number, ldx: number, ldy: number, kc: number, out: number, ldo: number) => void;
    rowdots: (l: number, ld: number, krow: number, k: number, i0: number, i1: number, out: number) => void;
    sweep: (a: number, n: number, s: number, u: number, w: number, x: number, p: number) => void;
  };
  let top = 0;
  const ptr = (a: Float64Array, i: number) => a.byteOffset + 8 * i;
  return {
    alloc(count) {
      if (top + count * 8 > memory.buffer.byteLength) throw new RangeError('Kernels.alloc: arena exhausted');
      const view = new Float64Array(memory.buffer, top, count);
      view.fill(0);
      top += count * 8;
      return view;
    },
    mark: () => top,
    release(t) {
      top = t;
    },
    dot4x4(x, xi, ldx, y, yi, ldy, kc, out, oi, ldo) {
      ex.dot4x4(ptr(x, xi), ptr(y, yi), 8 * ldx, 8 * ldy, kc, ptr(out, oi), 8 * ldo);
    },
    rowdots(l, ld, kRow, k, i0, i1, out) {
      ex.rowdots(l.byteOffset, 8 * ld, ptr(l, kRow * ld), k, i0, i1, out.byteOffset);
    },
    sweep(a, n, s, u, w, x, p) {
      ex.sweep(a.byteOffset, n, s, u.byteOffset, w.byteOffset, x.byteOffset, p.byteOffset);
    },
  };
}
