#!/usr/bin/env node
// WebGPU matmul kernels side by side (interleaved) in one run: `direct` (register blocks streamed from
// memory, the default) against `tiled` (staged through workgroup memory), GFLOP/s and the ratio
// tiled/direct, on this machine's adapter. On lavapipe (Vulkan on the CPU) barriers are costly and the
// direct kernel wins; on a real GPU the tiled one should. Checks one product against float64 first.
//
//   npx turbo run build --filter=@tessera/backend-webgpu && node bench/webgpu-matmul.mjs
//   REPS=7 TESSERA_BENCH_SIZES=256,512,1024 node bench/webgpu-matmul.mjs
import { lcg, median, onEachBackend, timed } from './common.mjs';

const REPS = Math.max(1, Number(process.env.REPS ?? 5));
const SIZES = (process.env.TESSERA_BENCH_SIZES ?? '128,256,512').split(',').map(Number);

await onEachBackend(['webgpu'], async (_name, B) => {
  const info = B.device.adapterInfo ?? {};
  console.log(
    `adapter: ${[info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') || 'unknown'}`,
  );
  console.log(`median of ${REPS} interleaved reps\n`);
  console.log('size (m=k=n) | direct GFLOP/s (ms) | tiled GFLOP/s (ms) | tiled/direct');
  console.log('-------------|---------------------|--------------------|-------------');
  for (const s of SIZES) {
    const a = B.tensor(lcg(s * s, 1), [s, s]);
    const b = B.tensor(lcg(s * s, 2), [s, s]);
    const run = (kernel) => () => {
      B.matmulKernel = kernel;
      return B.matmul(a, b);
    };
    // sanity: one entry of each kernel against float64
    const ah = lcg(s * s, 1);
    const bh = lcg(s * s, 2);
    let want = 0;
    for (let p = 0; p < s; p++) want += ah[(7 % s) * s + p] * bh[p * s + (3 % s)];
    for (const kernel of ['direct', 'tiled']) {
      const out = run(kernel)();
      const got = (await out.data())[(7 % s) * s + (3 % s)];
      out.dispose();
      if (Math.abs(got - want) > 1e-4 * s) throw new Error(`${kernel} matmul ${s}: ${got} vs ${want}`);
    }
    const t = { direct: [], tiled: [] };
    for (let r = 0; r < REPS; r++) for (const k of ['direct', 'tiled']) t[k].push(await timed(B, run(k)));
    B.matmulKernel = 'direct';
    const [d, ti] = [median(t.direct), median(t.tiled)];
    const gf = (ms) => (2 * s ** 3) / (ms * 1e6);
    console.log(
      `${String(s).padStart(12)} | ${gf(d).toFixed(2).padStart(9)} (${d.toFixed(1).padStart(7)}) | ${gf(ti).toFixed(2).padStart(9)} (${ti.toFixed(1).padStart(6)}) | ${(d / ti).toFixed(2).padStart(11)}`,
    );
    a.dispose();
    b.dispose();
  }
});
