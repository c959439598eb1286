import { type ResizeMode, resizeTaps, shapes, type Tensor } from '@tessera/core';
import type { WebGPUBackend } from '../backend.js';
import { bitsOf, groupsFor, Params } from '../shaders/common.js';
import { RESIZE_SOURCE } from '../shaders/resize.js';

function flatten(taps: Array<Array<[number, number]>>): { off: number[]; idx: number[]; wts: number[] } {
  const off = [0];
  const idx: number[] = [];
  const wts: number[] = [];
  for (const row of taps) {
    for (const [k, wt] of row) {
      idx.push(k);
      wts.push(bitsOf(wt, 'float32'));
    }
    off.push(idx.length);
  }
  return { off, idx, wts };
}

export function resize(
  B: WebGPUBackend,
  x: Tensor,
  size: readonly [number, number],
  mode: ResizeMode,
): Tensor {
  const buf = B.buf(x, 'resize');
  const { H, W, h, w } = shapes.checkResize(x, size, mode);
  const out = B.make([...x.shape.slice(0, -2), h, w], 'float32');
  if (out.size === 0) return out;
  const ty = flatten(resizeTaps(H, h, mode));
  const tx = flatten(resizeTaps(W, w, mode));
  const words = [...ty.off, ...tx.off, ...ty.idx, ...tx.idx, ...ty.wts, ...tx.wts];
  const offX = ty.off.length;
  const idxY = offX + tx.off.length;
  const idxX = idxY + ty.idx.length;
  const wY = idxX + tx.idx.length;
  const wX = wY + ty.wts.length;
  const table = B.upload(new Uint32Array(words), [words.length], 'uint32');
  const p = new Params().u(out.size, H, W, h, w, offX, idxY, idxX, wY, wX);
  B.run('resize', () => RESIZE_SOURCE, [buf, B.buf(table, 'resize')], out, p, groupsFor(out.size));
  table.dispose();
  return out;
}
