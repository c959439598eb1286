import type { DType } from '@tessera/core';
import { WG } from '../engine.js';

/** WGSL scalar type of a dtype. */
export type WType = 'f32' | 'i32' | 'u32';

/** The WGSL element type that stores `dtype`. */
export function wtype(dtype: DType): WType {
  return dtype === 'float32' ? 'f32' : dtype === 'int32' ? 'i32' : 'u32';
}

/** A WGSL f32 literal for `x` (finite). */
export function lit(x: number): string {
  const s = Math.fround(x).toPrecision(9);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

/** Converts a number to the 32-bit pattern its dtype stores (JS typed-array conversion rules). */
export function bitsOf(value: number, dtype: DType): number {
  const buf = new ArrayBuffer(4);
  if (dtype === 'float32') new Float32Array(buf)[0] = value;
  else if (dtype === 'int32') new Int32Array(buf)[0] = value;
  else new Uint32Array(buf)[0] = value;
  return new Uint32Array(buf)[0]!;
}

/** Builds a params word array: `u` for unsigned/int words, `f` for float32 words. */
export class Params {
  readonly words: number[] = [];
  u(...xs: number[]): this {
    for (const x of xs) this.words.push(x >>> 0);
    return this;
  }
  f(...xs: number[]): this {
    for (const x of xs) this.words.push(bitsOf(x, 'float32'));
    return this;
  }
  /** Appends a list (e.g. a shape) and returns the word index where it starts. */
  list(xs: readonly number[]): number {
    const at = this.words.length;
    this.u(...xs);
    return at;
  }
  get length(): number {
    return this.words.length;
  }
  array(): Uint32Array {
    return new Uint32Array(this.words);
  }
}

export interface KernelSpec {
  /** Read-only inputs: [name, element type]. */
  inputs: ReadonlyArray<readonly [string, WType]>;
  /** The read-write output: [name, element type]. */
  output: readonly [string, WType];
  /** Body of `main`; `i` is the flat invocation index (1-D kernels), `row` the flat workgroup index. */
  body: string;
  /** Helper functions and workgroup variables. */
  extra?: string;
  /** Workgroup size (default {@link WG}). */
  wg?: number;
}

/**
 * A compute shader: params `P` (array<u32>) at binding 0, the inputs, then the output. `main` gets
 * `i` (flat invocation index over a 2-D grid), `row` (flat workgroup index) and `tid` (local index).
 */
export function kernel(spec: KernelSpec): string {
  const wg = spec.wg ?? WG;
  const lines = ['@group(0) @binding(0) var<storage, read> P: array<u32>;'];
  spec.inputs.forEach(([name, t], k) => {
    lines.push(`@group(0) @binding(${k + 1}) var<storage, read> ${name}: array<${t}>;`);
  });
  lines.push(
    `@group(0) @binding(${spec.inputs.length + 1}) var<storage, read_write> ${spec.output[0]}: array<${spec.output[1]}>;`,
  );
  lines.push(`const WGS = ${wg}u;`);
  lines.push(COMMON);
  if (spec.extra) lines.push(spec.extra);
  lines.push(`@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = gid.x + gid.y * nwg.x * WGS;
  let row = wid.x + wid.y * nwg.x;
  ${spec.body}
}`);
  return lines.join('\n');
}

const COMMON = /* wgsl */ `
fn pf(k: u32) -> f32 { return bitcast<f32>(P[k]); }
fn pi(k: u32) -> i32 { return bitcast<i32>(P[k]); }
// Offset of flat output index j in an operand: shape at P[sh..sh+rank), operand strides at P[st..).
fn strided(j: u32, rank: u32, sh: u32, st: u32) -> u32 {
  var rem = j;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let e = P[sh + u32(d)];
    off += (rem % e) * P[st + u32(d)];
    rem = rem / e;
  }
  return off;
}
`;

/** Row-major strides of `shape` where broadcast axes (extent 1 against a larger output) get stride 0. */
export function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const n = outShape.length;
  const s = new Array<number>(n).fill(0);
  let acc = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    const o = n - inShape.length + i;
    s[o] = inShape[i] === 1 && outShape[o] !== 1 ? 0 : acc;
    acc *= inShape[i]!;
  }
  return s;
}

/** Workgroups needed for `n` invocations of a 1-D kernel. */
export function groupsFor(n: number, wg = WG): number {
  return Math.ceil(n / wg);
}
