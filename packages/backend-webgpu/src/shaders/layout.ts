import { kernel, type WType } from './common.js';

/**
 * Layout kernels move 32-bit words, so one pipeline serves every dtype.
 */

/** O[i] = X[base + strided(i)]. Params: [n, rank, base, 0, shape(rank), strides(rank)]. */
export const STRIDED_COPY = kernel({
  inputs: [['X', 'u32']],
  output: ['O', 'u32'],
  body: `if (i >= P[0]) { return; }
  O[i] = X[P[2] + strided(i, P[1], 4u, 4u + P[1])];`,
});

/** numpy.take. Params: [n, ni, len, inner]. */
export function gatherSource(ti: WType): string {
  const clampIdx = ti === 'i32' ? 'u32(clamp(I[j], 0i, i32(len) - 1i))' : 'min(I[j], len - 1u)';
  return kernel({
    inputs: [
      ['X', 'u32'],
      ['I', ti],
    ],
    output: ['O', 'u32'],
    body: `if (i >= P[0]) { return; }
  let ni = P[1];
  let len = P[2];
  let inner = P[3];
  let n = i % inner;
  let j = (i / inner) % ni;
  let o = i / (inner * ni);
  O[i] = X[(o * len + ${clampIdx}) * inner + n];`,
  });
}

/**
 * numpy.take_along_axis. Params: [n, rank, axis, axisLen, shape(rank), xStrides(rank),
 * indexStrides(rank)]; x strides are 0 on broadcast axes.
 */
export function takeAlongSource(ti: WType): string {
  const clampIdx = ti === 'i32' ? 'u32(clamp(I[ii], 0i, i32(P[3]) - 1i))' : 'min(I[ii], P[3] - 1u)';
  return kernel({
    inputs: [
      ['X', 'u32'],
      ['I', ti],
    ],
    output: ['O', 'u32'],
    body: `if (i >= P[0]) { return; }
  let rank = P[1];
  let ii = strided(i, rank, 4u, 4u + 2u * rank);
  var rem = i;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let e = P[4u + u32(d)];
    let c = rem % e;
    rem = rem / e;
    if (u32(d) == P[2]) { off += ${clampIdx} * P[4u + rank + u32(d)]; }
    else { off += c * P[4u + rank + u32(d)]; }
  }
  O[i] = X[off];`,
  });
}

/** Writes one concat input into its place. Params: [n, lenInner, totalInner, posInner]. */
export const CONCAT_SOURCE = kernel({
  inputs: [['X', 'u32']],
  output: ['O', 'u32'],
  body: `if (i >= P[0]) { return; }
  let o = i / P[1];
  let r = i % P[1];
  O[o * P[2] + P[3] + r] = X[i];`,
});
