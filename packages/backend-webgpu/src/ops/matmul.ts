import { type MatmulOptions, shapes, sizeOf, type Tensor } from '@tessera/core';
import type { WebGPUBackend } from '../backend.js';
import { broadcastStrides, Params } from '../shaders/common.js';
import { MATMUL_SOURCE, MATMUL_TILED_SOURCE, TILE } from '../shaders/matmul.js';

export function matmul(B: WebGPUBackend, a: Tensor, b: Tensor, options: MatmulOptions): Tensor {
  const ab = B.buf(a, 'matmul', 'a');
  const bb = B.buf(b, 'matmul', 'b');
  shapes.checkDtype('matmul', a, ['float32'], 'a');
  shapes.checkDtype('matmul', b, ['float32'], 'b');
  const ta = !!options.transposeA;
  const tb = !!options.transposeB;
  const { shape, batch, m, k, n } = shapes.matmulShape(a.shape, b.shape, ta, tb);
  const out = B.make(shape, 'float32');
  if (out.size === 0) return out;
  if (k === 0) {
    out.dispose();
    return B.fill(shape, 0, 'float32');
  }
  const nb = sizeOf(batch);
  const [sam, sak] = ta ? [1, m] : [k, 1];
  const [sbk, sbn] = tb ? [1, k] : [n, 1];
  const tilesM = Math.ceil(m / TILE);
  const tilesN = Math.ceil(n / TILE);
  const p = new Params().u(m, n, k, nb, batch.length, sam, sak, sbk, sbn, tilesN, tilesM);
  p.list(batch);
  p.list(broadcastStrides(a.shape.slice(0, -2), batch).map((s) => s * m * k));
  p.list(broadcastStrides(b.shape.slice(0, -2), batch).map((s) => s * k * n));
  const groups = tilesM * tilesN * nb;
  if (B.matmulKernel === 'tiled')
    return B.run('matmulTiled', () => MATMUL_TILED_SOURCE, [ab, bb], out, p, groups);
  return B.run('matmul', () => MATMUL_SOURCE, [ab, bb], out, p, groups);
}
