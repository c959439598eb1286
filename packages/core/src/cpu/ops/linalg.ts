import type { MatmulOptions } from '../../backend.js';
import { sizeOf } from '../../dtype.js';
import { checkDtype, matmulShape } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import type { CpuContext } from '../context.js';
import { broadcastIndex } from '../kernels.js';
import { gemmPacked, packedLength, packRows } from '../matmul.js';

/** CPU matmul (the packed, register-blocked kernel is in ../matmul.ts). */

export function matmul(c: CpuContext, a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const A = c.arr(a, 'matmul', 'a');
  const B = c.arr(b, 'matmul', 'b');
  checkDtype('matmul', a, ['float32'], 'a');
  checkDtype('matmul', b, ['float32'], 'b');
  const ta = !!options.transposeA;
  const tb = !!options.transposeB;
  const { shape, batch, m, k, n } = matmulShape(a.shape, b.shape, ta, tb);
  const nb = sizeOf(batch);
  const ia = broadcastIndex(batch, a.shape.slice(0, -2));
  const ib = broadcastIndex(batch, b.shape.slice(0, -2));
  const out = c.pool.take(nb * m * n);
  const [sam, sak] = ta ? [1, m] : [k, 1];
  const [sbk, sbn] = tb ? [1, k] : [n, 1];
  const ap = new Float64Array(packedLength(m, k));
  const bp = new Float64Array(packedLength(n, k));
  for (let bi = 0; bi < nb; bi++) {
    const ao = (ia ? ia[bi]! : bi) * m * k;
    const bo = (ib ? ib[bi]! : bi) * k * n;
    packRows({ data: A, off: ao, sr: sam, sc: sak }, m, k, ap);
    // the columns of B are the rows of Bᵀ
    packRows({ data: B, off: bo, sr: sbn, sc: sbk }, n, k, bp);
    gemmPacked(ap, bp, m, n, k, out, bi * m * n);
  }
  return c.make(out, shape, 'float32');
}
