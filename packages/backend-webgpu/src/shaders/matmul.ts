import { kernel } from './common.js';

/** Tile edge of the matmul kernel (TILE² threads per workgroup, one output each). */
export const TILE = 16;

/**
 * Batched, tiled matmul with transposes and broadcast batch axes, all in params:
 * [M, N, K, batches, batchRank, sam, sak, sbk, sbn, tilesN, tilesM, batchShape, aBatchStrides,
 * bBatchStrides]. One workgroup per TILE×TILE output tile of one batch entry.
 */
export const MATMUL_SOURCE = kernel({
  inputs: [
    ['A', 'f32'],
    ['Bm', 'f32'],
  ],
  output: ['O', 'f32'],
  wg: TILE * TILE,
  extra: `const T = ${TILE}u;
var<workgroup> As: array<array<f32, ${TILE}>, ${TILE}>;
var<workgroup> Bs: array<array<f32, ${TILE}>, ${TILE}>;`,
  body: `let M = P[0];
  let N = P[1];
  let K = P[2];
  let nb = P[3];
  let br = P[4];
  let tilesN = P[9];
  let tilesM = P[10];
  let tn = row % tilesN;
  let tm = (row / tilesN) % tilesM;
  let bi = row / (tilesN * tilesM);
  let bs = min(bi, nb - 1u);
  let aoff = strided(bs, br, 11u, 11u + br);
  let boff = strided(bs, br, 11u, 11u + 2u * br);
  let tx = tid % T;
  let ty = tid / T;
  let gi = tm * T + ty;
  let gj = tn * T + tx;
  var acc = 0.0;
  for (var k0 = 0u; k0 < K; k0 += T) {
    let ka = k0 + tx;
    var av = 0.0;
    if (gi < M && ka < K) { av = A[aoff + gi * P[5] + ka * P[6]]; }
    As[ty][tx] = av;
    let kb = k0 + ty;
    var bv = 0.0;
    if (kb < K && gj < N) { bv = Bm[boff + kb * P[7] + gj * P[8]]; }
    Bs[ty][tx] = bv;
    workgroupBarrier();
    for (var kk = 0u; kk < T; kk++) { acc += As[ty][kk] * Bs[kk][tx]; }
    workgroupBarrier();
  }
  if (bi < nb && gi < M && gj < N) { O[bi * M * N + gi * N + gj] = acc; }`,
});
