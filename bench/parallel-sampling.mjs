// Parallel sampling (ParaDiGMS, ParaTAA) against the sequential sampler on the reference digits model
// (@tessera/reference's default model, 16×16), on each backend, next to the papers' figures; and the
// cost of one batched denoiser call as the batch grows 1…64 (which decides whether parallel rounds can
// win on a device: a round costs one call of window·n rows instead of window calls of n rows).
//
//   npm run build && node bench/parallel-sampling.mjs
//   TESSERA_BENCH_ONLY=cpu node bench/parallel-sampling.mjs
//   TESSERA_BENCH_PARALLEL_FULL=1 node bench/parallel-sampling.mjs   (DDPM-1000 on every backend, not only CPU)
//
// Then the same scenarios on the trained digits U-Net (models/unet-digits16 via @tessera/models, ONNX
// Runtime CPU; skipped when onnxruntime-node or the model is missing) at the papers' settings read from
// the upstream code: ParaDiGMS tol 0.1, window 48 for DDPM-1000 and 32 for DDIM/DPMSolver-200
// (AndyShih12/paradigms main_mp.py; the paper's evaluation counts fit those windows); ParaTAA window
// 100, order 20, memory 2, tol1 = tol2 = 1e-3, λ 1e-3 on raw sums (TZW1998/ParaTAA-Diffusion
// parallel_sd.py). TESSERA_BENCH_PARALLEL_TRAINED=0 skips that part.
//
// Always exits 0; a backend or scenario that fails prints a [fail] row.

import { createCpuBackend } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { paradigms, parataa } from '@tessera/parallel-sampling';
import { defaultDigitsModel } from '@tessera/reference';
import { alphasCumprod, betas, sigmasFromAlphasCumprod } from '@tessera/schedules';
import { backendMakers, median } from './common.mjs';

const full = process.env.TESSERA_BENCH_PARALLEL_FULL === '1';
const reps = Number(process.env.REPS ?? 5);

/** DDPM linear-β σ at `steps` evenly spaced training timesteps ('leading'), descending, then 0. */
function ddpmSigmas(steps) {
  const s = sigmasFromAlphasCumprod(alphasCumprod(betas('linear', { precision: 'float64' })));
  const k = 1000 / steps;
  const out = [];
  for (let i = steps - 1; i >= 0; i--) out.push(s[i * k]);
  return [...out, 0];
}

function relErr(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

// Published figures (Stable Diffusion; ParaDiGMS on 8×A100, ParaTAA on A800), at the papers' windows
// (ParaDiGMS 48 for DDPM-1000, 32 for DDIM/DPMSolver-200, tol 0.1). The reference rows' ParaTAA uses
// this package's defaults (memory 4, unbounded order, λ 1e-2); the trained rows below use upstream's.
const SCENARIOS = [
  {
    label: 'ParaDiGMS DDPM-1000',
    solver: 'paradigms',
    sampler: 'ddpm',
    steps: 1000,
    window: 48,
    paper: '44 rounds, 2040 evals, 3.1× wall',
    heavy: true,
  },
  {
    label: 'ParaDiGMS DDIM-200',
    solver: 'paradigms',
    sampler: 'ddim',
    steps: 200,
    window: 32,
    paper: '16 rounds, 425 evals, 1.8× wall',
  },
  {
    label: 'ParaDiGMS DPMSolver-200',
    solver: 'paradigms',
    sampler: 'dpmpp_2m',
    steps: 200,
    window: 32,
    paper: '16 rounds, 411 evals, 1.8× wall',
  },
  { label: 'ParaDiGMS DDIM-100', solver: 'paradigms', sampler: 'ddim', steps: 100, window: 100, paper: '—' },
  {
    label: 'ParaTAA DDIM-100',
    solver: 'parataa',
    sampler: 'ddim',
    steps: 100,
    window: 100,
    paper: '~7 rounds',
  },
];

// The trained U-Net (16×16, D = 256 values per image), the papers' settings.
const TRAINED = [
  {
    label: 'ParaDiGMS DDPM-1000',
    solver: 'paradigms',
    sampler: 'ddpm',
    steps: 1000,
    opts: { window: 48, tol: 0.1 },
    paper: '44 rounds, 2040 evals, 3.1× wall',
  },
  {
    label: 'ParaDiGMS DDIM-200',
    solver: 'paradigms',
    sampler: 'ddim',
    steps: 200,
    opts: { window: 32, tol: 0.1 },
    paper: '16 rounds, 425 evals, 1.8× wall',
  },
  {
    label: 'ParaDiGMS DPMSolver-200',
    solver: 'paradigms',
    sampler: 'dpmpp_2m',
    steps: 200,
    opts: { window: 32, tol: 0.1 },
    paper: '16 rounds, 411 evals, 1.8× wall',
  },
  {
    label: 'ParaTAA DDIM-100',
    solver: 'parataa',
    sampler: 'ddim',
    steps: 100,
    opts: { window: 100, order: 20, memory: 2, lambda: 1e-3 / 256, tol: 1e-3, atol: 1e-3 },
    paper: '~7 rounds',
  },
];

async function wall(B, fn) {
  const t0 = performance.now();
  const out = await fn();
  await B.sync();
  return { ms: performance.now() - t0, out };
}

async function scenarios(name, B, D) {
  console.log(
    `\n${name}: sequential vs parallel (1 image, seed 1; rel. err = max|x_par − x_seq| / max|x_seq|)`,
  );
  console.log(
    'scenario'.padEnd(25) +
      'window'.padStart(7) +
      'seq steps'.padStart(10) +
      'seq ms'.padStart(9) +
      'rounds'.padStart(8) +
      'evals'.padStart(7) +
      'par ms'.padStart(9) +
      'speedup'.padStart(9) +
      'rel.err'.padStart(9) +
      '   paper',
  );
  for (const sc of SCENARIOS) {
    if (sc.heavy && name !== 'cpu' && !full) {
      console.log(
        `${sc.label.padEnd(25)}[skip] off CPU without TESSERA_BENCH_PARALLEL_FULL=1 (minutes here)`,
      );
      continue;
    }
    try {
      const sigmas = ddpmSigmas(sc.steps);
      const z = B.randn([1, 1, 16, 16], { seed: 1 });
      const x = B.lincomb([sigmas[0]], [z]);
      z.dispose();
      const seq = await wall(B, () => sample(sc.sampler, { denoiser: D, x, sigmas, seed: 1 }));
      const solve = sc.solver === 'paradigms' ? paradigms : parataa;
      const par = await wall(B, () =>
        solve({ denoiser: D, x, sigmas, sampler: sc.sampler, seed: 1, window: sc.window }),
      );
      const err = relErr(await par.out.x.data(), await seq.out.data());
      const r = par.out;
      console.log(resultRow(sc, sc.window, seq.ms, par.ms, r, err));
      for (const t of [seq.out, r.x, x]) t.dispose();
    } catch (err) {
      console.log(`${sc.label.padEnd(25)}[fail] ${err?.message ?? err}`);
    }
  }
}

/** One table row: scenario, window, steps, sequential ms, rounds, evaluations, parallel ms, ratio, error. */
function resultRow(sc, window, seqMs, parMs, r, err) {
  return (
    sc.label.padEnd(25) +
    String(window).padStart(7) +
    String(sc.steps).padStart(10) +
    seqMs.toFixed(0).padStart(9) +
    `${r.rounds}${r.converged ? '' : '!'}`.padStart(8) +
    String(r.evaluations).padStart(7) +
    parMs.toFixed(0).padStart(9) +
    `${(seqMs / parMs).toFixed(2)}×`.padStart(9) +
    err.toExponential(1).padStart(9) +
    `   ${sc.paper}`
  );
}

async function batchCost(name, B, D) {
  console.log(`\n${name}: one denoiser call on a batch of rows with per-row σ (median of ${reps})`);
  console.log(
    'rows'.padStart(6) + 'ms/call'.padStart(10) + 'ms/row'.padStart(9) + '  rows per time of 1 row',
  );
  let one;
  for (const rows of [1, 2, 4, 8, 16, 32, 64]) {
    try {
      const z = B.randn([rows, 1, 16, 16], { seed: rows });
      const sig = Float64Array.from({ length: rows }, (_, i) => 80 * 0.9 ** i + 0.05);
      const x = B.binary('mul', z, B.tensor(Float32Array.from(sig), [rows, 1, 1, 1]));
      (await D(x, sig)).dispose(); // warm-up
      await B.sync();
      const ts = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        const out = await D(x, sig);
        await B.sync();
        ts.push(performance.now() - t0);
        out.dispose();
      }
      const ms = median(ts);
      one ??= ms;
      console.log(
        String(rows).padStart(6) +
          ms.toFixed(2).padStart(10) +
          (ms / rows).toFixed(3).padStart(9) +
          `  ${((rows * one) / ms).toFixed(1)}`,
      );
      z.dispose();
      x.dispose();
    } catch (err) {
      console.log(`${String(rows).padStart(6)}  [fail] ${err?.message ?? err}`);
    }
  }
}

for (const [name, make] of backendMakers(['cpu', 'webgpu', 'onnx'])) {
  let B;
  try {
    B = await make();
  } catch (err) {
    console.log(`[skip] ${name}: ${err?.message ?? err}`);
    continue;
  }
  try {
    const D = defaultDigitsModel().denoiser(B);
    await batchCost(name, B, D);
    await scenarios(name, B, D);
    D.dispose();
  } catch (err) {
    console.log(`[fail] ${name}: ${err?.message ?? err}`);
  } finally {
    B.destroy?.();
  }
}

async function trained() {
  if (process.env.TESSERA_BENCH_PARALLEL_TRAINED === '0') return;
  let B;
  let D;
  let digitsDdimSigmas;
  try {
    const ort = await import('onnxruntime-node');
    const { createOnnxBackend } = await import('@tessera/backend-onnx');
    const models = await import('@tessera/models');
    B = createOnnxBackend({ ort, executionProviders: ['cpu'] });
    D = await models.loadDigitsUNet({ backend: B });
    digitsDdimSigmas = models.digitsDdimSigmas;
  } catch (err) {
    console.log(`\n[skip] trained U-Net: ${String(err?.message ?? err).split('\n')[0]}`);
    await B?.dispose?.();
    return;
  }
  const cond = { classLabels: [1] };
  // the call's result is read back so that the timing includes the network's run
  const Dc = async (x, sig) => {
    const out = await D(x, sig, cond);
    await out.data();
    return out;
  };
  try {
    await batchCost('trained U-Net, onnx cpu', B, Dc);
  } catch (err) {
    console.log(`[fail] trained U-Net batch cost: ${err?.message ?? err}`);
  }
  // the solver's tensors on the ONNX backend (every small op is an ORT run) and on the CPU backend
  // (the U-Net moves each batch to ONNX Runtime and back)
  const hosts = [
    ['onnx', B],
    ['cpu', createCpuBackend()],
  ];
  for (const [host, H] of hosts) {
    console.log(
      `\ntrained digits U-Net (unet-digits16, onnx cpu), trajectory on ${host}: sequential vs parallel at the papers' settings (1 image, class 1, seed 1)`,
    );
    console.log(
      'scenario'.padEnd(25) +
        'window'.padStart(7) +
        'seq steps'.padStart(10) +
        'seq ms'.padStart(9) +
        'rounds'.padStart(8) +
        'evals'.padStart(7) +
        'par ms'.padStart(9) +
        'speedup'.padStart(9) +
        'rel.err'.padStart(9) +
        '   paper',
    );
    for (const sc of TRAINED) {
      try {
        const sigmas = digitsDdimSigmas(sc.steps);
        const z = H.randn([1, 1, 16, 16], { seed: 1 });
        const x = H.lincomb([sigmas[0]], [z]);
        z.dispose();
        const seq = await wall(H, async () => {
          const s = await sample(sc.sampler, { denoiser: D, x, sigmas, seed: 1, cond });
          await s.data();
          return s;
        });
        const solve = sc.solver === 'paradigms' ? paradigms : parataa;
        const par = await wall(H, async () => {
          const r = await solve({ denoiser: D, x, sigmas, sampler: sc.sampler, seed: 1, cond, ...sc.opts });
          await r.x.data();
          return r;
        });
        const err = relErr(await par.out.x.data(), await seq.out.data());
        const r = par.out;
        console.log(resultRow(sc, sc.opts.window, seq.ms, par.ms, r, err));
        for (const t of [seq.out, r.x, x]) t.dispose();
      } catch (err) {
        console.log(`${sc.label.padEnd(25)}[fail] ${err?.message ?? err}`);
      }
    }
  }
  await D.dispose();
  await B.dispose();
}

await trained();
