import { kernel } from './common.js';

/**
 * Separable resampling with tap tables computed on the host by core's `resizeTaps` (the CPU backend's
 * own tables, so both backends use the same PyTorch `interpolate` taps). Table T (u32 words):
 * [offY(h+1), offX(w+1), idxY, idxX, weightY bits, weightX bits], positions in params:
 * [n, H, W, h, w, offX, idxY, idxX, wY, wX].
 */
export const RESIZE_SOURCE = kernel({
  inputs: [
    ['X', 'f32'],
    ['T', 'u32'],
  ],
  output: ['O', 'f32'],
  body: `if (i >= P[0]) { return; }
  let H = P[1];
  let W = P[2];
  let h = P[3];
  let w = P[4];
  let plane = i / (h * w);
  let rem = i % (h * w);
  let oy = rem / w;
  let ox = rem % w;
  let base = plane * H * W;
  var s = 0.0;
  for (var ty = T[oy]; ty < T[oy + 1u]; ty++) {
    let iy = T[P[6] + ty];
    let wy = bitcast<f32>(T[P[8] + ty]);
    var sx = 0.0;
    for (var tx = T[P[5] + ox]; tx < T[P[5] + ox + 1u]; tx++) {
      sx += bitcast<f32>(T[P[9] + tx]) * X[base + iy * W + T[P[7] + tx]];
    }
    s += wy * sx;
  }
  O[i] = s;`,
});
