// Per-token sampling at transformer vocabulary sizes (interleaved, median and min of REPS): `sampleCategorical` over [rows, V] logits against
// one streaming pass over the same logits (a max-reduce over the last axis), on each backend. The ratio
// sample / max-reduce says how many such passes a draw costs: the draw needs three (max, Σ exp, the
// inverse-CDF search), so ~3 is the floor for a kernel that reads the row with the whole device.
//
//   npm run build && node bench/sampling.mjs
//   TESSERA_BENCH_ONLY=webgpu REPS=9 node bench/sampling.mjs
//
// Figures and the machine they came from: bench/README.md.

import { lcg, median, onEachBackend, timed } from './common.mjs';

const reps = Number(process.env.REPS ?? 11);
const shapes = [
  [16, 4096], // VAR's codebook, 16 rows (a batch of 8 under guidance)
  [16, 16384], // LlamaGen's codebook
  [256, 16384], // a next-scale step draws every token of a scale at once (16×16 = 256 rows)
];

await onEachBackend(['cpu', 'webgpu'], async (name, B) => {
  for (const [rows, V] of shapes) {
    const x = B.tensor(
      lcg(rows * V, rows + V).map((v) => 4 * v),
      [rows, V],
    );
    const sample = () => B.sampleCategorical(x, { seed: 7, offset: 0 });
    const pass = () => B.reduce('max', x, -1);
    for (let w = 0; w < 3; w++) {
      await timed(B, sample); // warm-up (pipelines, pools, the JIT)
      await timed(B, pass);
    }
    const ts = [];
    const tp = [];
    for (let r = 0; r < reps; r++) {
      ts.push(await timed(B, sample));
      tp.push(await timed(B, pass));
    }
    const [s, p] = [median(ts), median(tp)];
    const [s0, p0] = [Math.min(...ts), Math.min(...tp)];
    console.log(
      `${name.padEnd(7)} [${rows}, ${V}]`.padEnd(24) +
        `sample ${s.toFixed(2).padStart(8)} ms   max-reduce ${p.toFixed(2).padStart(7)} ms   sample/pass median ${(s / p).toFixed(1)}, min ${(s0 / p0).toFixed(1)}`,
    );
    x.dispose();
  }
});
