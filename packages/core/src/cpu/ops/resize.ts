import type { ResizeMode } from '../../backend.js';
import { checkResize } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import type { CpuContext } from '../context.js';
import { resizeTaps } from '../kernels.js';

/** CPU resize (PyTorch interpolate semantics). */

export function resize(c: CpuContext, x: Tensor, size: readonly [number, number], mode: ResizeMode): Tensor {
  const a = c.arr(x, 'resize');
  const { H, W, h, w } = checkResize(x, size, mode);
  const planes = x.size / (H * W) || 0;
  const ty = resizeTaps(H, h, mode);
  const tx = resizeTaps(W, w, mode);
  const out = new Float32Array(planes * h * w);
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        let s = 0;
        for (const [yi, wy] of ty[i]!) {
          for (const [xi, wx] of tx[j]!) s += wy * wx * a[base + yi * W + xi]!;
        }
        out[(p * h + i) * w + j] = s;
      }
    }
  }
  return c.make(out, [...x.shape.slice(0, -2), h, w], 'float32');
}
