import { kernel } from './common.js';

/** Outputs per invocation along each axis (an R×R register block). */
export const R = 4;
/** Invocations per workgroup along each axis (WG_SIDE² = 64 threads). */
const WG_SIDE = 8;
/** Output tile edge of one workgroup. */
export const TILE = R * WG_SIDE;

/**
 * Batched matmul with transposes and broadcast batch axes, all in params:
 * [M, N, K, batches, batchRank, sam, sak, sbk, sbn, tilesN, tilesM, batchShape, aBatchStrides,
 * bBatchStrides]. One workgroup per TILE×TILE output tile of one batch entry; each invocation keeps an
 * R×R block of sums in registers and streams A and B from memory (no workgroup barriers, which are
 * costly on CPU-emulated devices such as lavapipe).
 */
export const MATMUL_SOURCE = kernel({
  inputs: [
    ['A', 'f32'],
    ['Bm', 'f32'],
  ],
  output: ['O', 'f32'],
  wg: WG_SIDE * WG_SIDE,
  body: `let M = P[0];
  let N = P[1];
  let K = P[2];
  let nb = P[3];
  let br = P[4];
  let sam = P[5];
  let sak = P[6];
  let sbk = P[7];
  let sbn = P[8];
  let tilesN = P[9];
  let tilesM = P[10];
  let tn = row % tilesN;
  let tm = (row / tilesN) % tilesM;
  let bi = row / (tilesN * tilesM);
  if (bi >= nb) { return; }
  let aoff = strided(bi, br, 11u, 11u + br);
  let boff = strided(bi, br, 11u, 11u + 2u * br);
  let i0 = tm * ${TILE}u + (tid / ${WG_SIDE}u) * ${R}u;
  let j0 = tn * ${TILE}u + (tid % ${WG_SIDE}u) * ${R}u;
  if (i0 >= M || j0 >= N) { return; }
  // clamp rows/columns past the edge onto the last one (their sums are computed but not stored)
  var ia: array<u32, ${R}>;
  var jb: array<u32, ${R}>;
  for (var r = 0u; r < ${R}u; r++) {
    ia[r] = aoff + min(i0 + r, M - 1u) * sam;
    jb[r] = boff + min(j0 + r, N - 1u) * sbn;
  }
  var acc: array<array<f32, ${R}>, ${R}>;
  for (var p = 0u; p < K; p++) {
    var av: array<f32, ${R}>;
    var bv: array<f32, ${R}>;
    for (var r = 0u; r < ${R}u; r++) {
      av[r] = A[ia[r] + p * sak];
      bv[r] = Bm[jb[r] + p * sbk];
    }
    for (var r = 0u; r < ${R}u; r++) {
      for (var c = 0u; c < ${R}u; c++) { acc[r][c] += av[r] * bv[c]; }
    }
  }
  let ob = bi * M * N;
  for (var r = 0u; r < ${R}u; r++) {
    for (var c = 0u; c < ${R}u; c++) {
      if (i0 + r < M && j0 + c < N) { O[ob + (i0 + r) * N + j0 + c] = acc[r][c]; }
    }
  }`,
});

/** k-slab depth of the tiled kernel's workgroup tiles. */
const KT = 16;

/**
 * The same product staged through workgroup memory: per k-slab of {@link KT}, the workgroup loads the
 * TILE×KT block of A and the KT×TILE block of B once (zero past the edges), then each invocation
 * accumulates its R×R block from them; two barriers per slab. Fewer global reads per FLOP than
 * {@link MATMUL_SOURCE} (each element is read once per workgroup instead of once per invocation row or
 * column), which pays on real GPUs; on CPU-emulated devices the barriers cost more. Same params.
 */
export const MATMUL_TILED_SOURCE = kernel({
  inputs: [
    ['A', 'f32'],
    ['Bm', 'f32'],
  ],
  output: ['O', 'f32'],
  wg: WG_SIDE * WG_SIDE,
  extra: `var<workgroup> As: array<f32, ${TILE * KT}>;
var<workgroup> Bs: array<f32, ${KT * TILE}>;`,
  body: `let M = P[0];
  let N = P[1];
  let K = P[2];
  let nb = P[3];
  let br = P[4];
  let sam = P[5];
  let sak = P[6];
  let sbk = P[7];
  let sbn = P[8];
  let tilesN = P[9];
  let tilesM = P[10];
  let tn = row % tilesN;
  let tm = (row / tilesN) % tilesM;
  let bi = row / (tilesN * tilesM);
  if (bi >= nb) { return; }
  let aoff = strided(bi, br, 11u, 11u + br);
  let boff = strided(bi, br, 11u, 11u + 2u * br);
  let li = (tid / ${WG_SIDE}u) * ${R}u;
  let lj = (tid % ${WG_SIDE}u) * ${R}u;
  let i0 = tm * ${TILE}u + li;
  let j0 = tn * ${TILE}u + lj;
  var acc: array<array<f32, ${R}>, ${R}>;
  for (var p0 = 0u; p0 < K; p0 += ${KT}u) {
    for (var e = tid; e < ${TILE * KT}u; e += WGS) {
      let gi = tm * ${TILE}u + e / ${KT}u;
      let ga = p0 + e % ${KT}u;
      As[e] = select(0.0, A[aoff + min(gi, M - 1u) * sam + min(ga, K - 1u) * sak], gi < M && ga < K);
      let gb = p0 + e / ${TILE}u;
      let gj = tn * ${TILE}u + e % ${TILE}u;
      Bs[e] = select(0.0, Bm[boff + min(gb, K - 1u) * sbk + min(gj, N - 1u) * sbn], gj < N && gb < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${KT}u; kk++) {
      var av: array<f32, ${R}>;
      var bv: array<f32, ${R}>;
      for (var r = 0u; r < ${R}u; r++) {
        av[r] = As[(li + r) * ${KT}u + kk];
        bv[r] = Bs[kk * ${TILE}u + lj + r];
      }
      for (var r = 0u; r < ${R}u; r++) {
        for (var c = 0u; c < ${R}u; c++) { acc[r][c] += av[r] * bv[c]; }
      }
    }
    workgroupBarrier();
  }
  let ob = bi * M * N;
  for (var r = 0u; r < ${R}u; r++) {
    for (var c = 0u; c < ${R}u; c++) {
      if (i0 + r < M && j0 + c < N) { O[ob + (i0 + r) * N + j0 + c] = acc[r][c]; }
    }
  }`,
});
