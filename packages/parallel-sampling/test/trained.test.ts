// ParaDiGMS and ParaTAA on the trained digits U-Net (models/unet-digits16 through @tessera/models, ONNX
// Runtime CPU), at the papers' settings, against the sequential sampler of @tessera/diffusion for the
// same seed (the independent reference), with the trained digit classifier's verdict on both images.
//
// Settings read from the upstream code: ParaDiGMS (AndyShih12/paradigms main.py / main_mp.py)
// tolerance 0.1 on ‖Δx‖²/(D·σ²) with σ² the scheduler's variance, window ("parallel") 48 for
// DDPM-1000 and 32 for DDIM-200 (the paper's 2,040 evaluations in 44 rounds and 425 in 16 fit those
// windows); ParaTAA (TZW1998/ParaTAA-Diffusion parallel_sd.py) window 100, order 20, memory 2,
// tol1 = tol2 = 1e-3, λ = 1e-3 on raw sums of squares (our λ is per value: 1e-3/D).
//
// Measured on this model (1 image, class seed % 10, guidance 1; rounds for seeds 1, 2, 3): ParaDiGMS
// DDIM-200 16–21 rounds (paper 16), DDPM-1000 69 (paper 44; 55 with window 80); ParaTAA DDIM-100 16–17
// (paper ~7; 13–18 over memory 2–4, order 20/100/∞, λ 1e-2…4e-6). The targets are not met on this
// network, so the round counts are guarded loosely and printed, not asserted at the papers' values.
// Default part ~8–15 s on the shared 2-core machine; DDPM-1000 and the tight ParaTAA run only with
// TESSERA_LONG_TESTS=1 (~20 s more).
import type { Tensor } from '@tessera/core';
import { sample } from '@tessera/diffusion';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ParallelResult, paradigms, parataa } from '../src/index.js';
import { relErr, SEED, why } from './helpers.js';

const long = process.env.TESSERA_LONG_TESTS === '1';

type Models = typeof import('@tessera/models');
type OnnxMod = typeof import('@tessera/backend-onnx');
let env: { models: Models; onnx: OnnxMod; ort: unknown } | undefined;
try {
  env = {
    models: await import('@tessera/models'),
    onnx: await import('@tessera/backend-onnx'),
    ort: await import('onnxruntime-node'),
  };
} catch (e) {
  console.warn(`[tessera] trained U-Net parallel-sampling tests skipped: ${(e as Error).message}`);
}

const B = env
  ? env.onnx.createOnnxBackend({
      ort: env.ort as never,
      executionProviders: ['cpu'],
      sessionOptions: { intraOpNumThreads: 2 },
    })
  : undefined;

describe.skipIf(!env || !B)(
  `parallel sampling on the trained digits U-Net, ONNX Runtime CPU (${why})`,
  () => {
    const models = env?.models as Models;
    const Bk = B!;
    let D: Awaited<ReturnType<Models['loadDigitsUNet']>>;
    let C: Awaited<ReturnType<Models['loadDigitClassifier']>>;
    beforeAll(async () => {
      D = await models.loadDigitsUNet({ backend: Bk });
      C = await models.loadDigitClassifier({ backend: Bk });
    });
    afterAll(async () => {
      await D?.dispose();
      await C?.dispose();
      await Bk.dispose();
    });
    const seed = SEED % 100_000;
    const cond = { classLabels: [seed % 10] };
    const seqCache = new Map<string, Float32Array>();

    /** Starting noise, the sequential image for (sampler, steps) and the parallel run. */
    async function scenario(
      sampler: 'ddim' | 'ddpm',
      steps: number,
      solve: (x: Tensor, sigmas: number[]) => Promise<ParallelResult>,
    ) {
      const sigmas = models.digitsDdimSigmas(steps);
      const before = Bk.memory().tensors;
      const z = Bk.randn([1, 1, 16, 16], { seed: seed + 12345 });
      const x = Bk.lincomb([sigmas[0]!], [z]);
      z.dispose();
      const key = `${sampler}-${steps}`;
      let seq = seqCache.get(key);
      if (!seq) {
        const s = await sample(sampler, { denoiser: D, x, sigmas, seed, cond });
        seq = (await s.data()) as Float32Array;
        s.dispose();
        seqCache.set(key, seq);
      }
      const run = await solve(x, sigmas);
      const par = (await run.x.data()) as Float32Array;
      const img = Bk.tensor(Float32Array.from([...seq, ...par]), [2, 1, 16, 16]);
      const [cSeq, cPar] = await C.predict(img);
      img.dispose();
      run.x.dispose();
      x.dispose();
      expect(Bk.memory().tensors, 'no tensor left behind').toBe(before);
      const err = relErr(par, seq);
      const label = `${sampler.toUpperCase()}-${steps} class ${cond.classLabels[0]}: ${run.rounds} rounds, ${run.evaluations} evaluations, rel. err ${err.toExponential(1)}, classes ${cSeq}/${cPar} (${why})`;
      console.log(`[parallel-sampling trained] ${label}`);
      return { run, err, cSeq, cPar, label };
    }

    it('ParaDiGMS DDIM-200 (window 32, tol 0.1): converges in fewer rounds than steps; the image is the sequential digit', async () => {
      const r = await scenario('ddim', 200, (x, sigmas) =>
        paradigms({ denoiser: D, x, sigmas, sampler: 'ddim', seed, cond, window: 32, tol: 0.1 }),
      );
      expect(r.run.converged, r.label).toBe(true);
      expect(r.run.largestBatch).toBe(32);
      expect(r.run.rounds, r.label).toBeLessThanOrEqual(40); // measured 17–20; 200 sequential steps
      expect(r.run.evaluations, r.label).toBeLessThanOrEqual(40 * 32);
      expect(r.cPar, r.label).toBe(r.cSeq);
    });

    it('ParaDiGMS DDIM-200 at tol 1e-4 reaches the sequential image to 1e-2', async () => {
      const r = await scenario('ddim', 200, (x, sigmas) =>
        paradigms({ denoiser: D, x, sigmas, sampler: 'ddim', seed, cond, window: 32, tol: 1e-4 }),
      );
      expect(r.run.converged, r.label).toBe(true);
      expect(r.err, r.label).toBeLessThan(1e-2);
      expect(r.cPar, r.label).toBe(r.cSeq);
    });

    it("ParaTAA DDIM-100 (upstream's window 100, order 20, memory 2, tol 1e-3): converges; the image is the sequential digit", async () => {
      const r = await scenario('ddim', 100, (x, sigmas) =>
        parataa({
          denoiser: D,
          x,
          sigmas,
          sampler: 'ddim',
          seed,
          cond,
          window: 100,
          order: 20,
          memory: 2,
          lambda: 1e-3 / 256,
          tol: 1e-3,
          atol: 1e-3,
        }),
      );
      expect(r.run.converged, r.label).toBe(true);
      expect(r.run.largestBatch).toBe(100);
      expect(r.run.rounds, r.label).toBeLessThanOrEqual(40); // measured 16–17; 100 sequential steps
      expect(r.cPar, r.label).toBe(r.cSeq);
    });

    it('two images of different digits in one run: per-image class labels are repeated for every step of a batch', async () => {
      const classes = [seed % 10, (seed + 3) % 10];
      const c2 = { classLabels: classes };
      const sigmas = models.digitsDdimSigmas(50);
      const before = Bk.memory().tensors;
      const z = Bk.randn([2, 1, 16, 16], { seed: seed + 777 });
      const x = Bk.lincomb([sigmas[0]!], [z]);
      z.dispose();
      const s = await sample('ddim', { denoiser: D, x, sigmas, seed, cond: c2 });
      const seq = (await s.data()) as Float32Array;
      const run = await paradigms({
        denoiser: D,
        x,
        sigmas,
        sampler: 'ddim',
        seed,
        cond: c2,
        window: 25,
        tol: 1e-4,
      });
      const par = (await run.x.data()) as Float32Array;
      const both = Bk.tensor(Float32Array.from([...seq, ...par]), [4, 1, 16, 16]);
      const cls = await C.predict(both);
      const label = `classes ${classes.join(', ')}: ${run.rounds} rounds, ${run.batchedCalls} calls; classifier ${[...cls].join(', ')} (${why})`;
      expect(run.converged, label).toBe(true);
      expect(run.largestBatch, label).toBe(50);
      // one batched call per round: the U-Net is row-capable (no per-σ fallback)
      expect(run.batchedCalls, label).toBe(run.rounds);
      for (let i = 0; i < 2; i++) {
        const e = relErr(par.subarray(i * 256, (i + 1) * 256), seq.subarray(i * 256, (i + 1) * 256));
        expect(e, `image ${i}, ${label}`).toBeLessThan(1e-2);
        expect(cls[2 + i], label).toBe(cls[i]);
      }
      for (const t of [both, s, run.x, x]) t.dispose();
      expect(Bk.memory().tensors, 'no tensor left behind').toBe(before);
    });

    it('diffusers DDIMScheduler (η = 0.5) with the U-Net as ε-model: window 1 is its loop bitwise; window 16 converges to it', async () => {
      const { DDIMScheduler } = await import('@tessera/diffusion');
      // the model card's scheduler config (linear β 1e-4 … 0.02, 1000 steps)
      const make = () => {
        const s = new DDIMScheduler({ ...models.UNET_DIGITS16_SCHEDULER_CONFIG });
        s.setTimesteps(25);
        return s;
      };
      const sch = make();
      const ab = sch.alphasCumprod;
      // ε from the k-diffusion denoiser: x̃ = x/√ᾱ, σ = √((1−ᾱ)/ᾱ), ε = (x̃ − D(x̃, σ))/σ, per row
      const model = async (x: Tensor, t: number | ArrayLike<number>, c?: unknown) => {
        const n = x.shape[0]!;
        const ts = typeof t === 'number' ? new Array<number>(n).fill(t) : Array.from(t);
        const rows = (f: (a: number) => number) =>
          Bk.tensor(
            Float32Array.from(ts, (ti) => f(ab[ti]!)),
            [n, 1, 1, 1],
          );
        const inv = rows((a) => 1 / Math.sqrt(a));
        const invSigma = rows((a) => Math.sqrt(a / (1 - a)));
        const xs = Bk.binary('mul', x, inv);
        const d = await D(
          xs,
          Float64Array.from(ts, (ti) => Math.sqrt((1 - ab[ti]!) / ab[ti]!)),
          c,
        );
        const diff = Bk.binary('sub', xs, d);
        const eps = Bk.binary('mul', diff, invSigma);
        for (const u of [inv, invSigma, xs, d, diff]) u.dispose();
        return eps;
      };
      const before = Bk.memory().tensors;
      const x = Bk.randn([1, 1, 16, 16], { seed: seed + 777 });
      const ref = make();
      const generator = { seed, offset: 0 };
      let y = Bk.lincomb([1], [x]);
      for (const t of Array.from(ref.timesteps)) {
        const e = await model(y, t, cond);
        const r = ref.step(e, t, y, { eta: 0.5, generator });
        for (const u of [e, y, r.predOriginalSample!]) u.dispose();
        y = r.prevSample;
      }
      const seq = (await y.data()) as Float32Array;
      const base = {
        scheduler: sch,
        model: model as never,
        rowTimesteps: true,
        x,
        seed,
        cond,
        stepOptions: { eta: 0.5 },
      };
      const one = await paradigms({ ...base, window: 1 });
      const got = (await one.x.data()) as Float32Array;
      expect(
        got.every((v, i) => Object.is(v, seq[i])),
        `window 1 (${why})`,
      ).toBe(true);
      const par = await paradigms({ ...base, window: 16, tol: 1e-3 });
      const err = relErr(await par.x.data(), seq);
      console.log(
        `trained U-Net, DDIMScheduler-25 η=0.5: ${par.rounds} rounds, error ${err.toExponential(2)} (${why})`,
      );
      expect(par.converged).toBe(true);
      expect(par.rounds).toBeLessThan(25);
      expect(err, why).toBeLessThan(1e-2);
      for (const t of [one.x, par.x, y, x]) t.dispose();
      expect(Bk.memory().tensors, 'no tensor left behind').toBe(before);
    });

    it.skipIf(!long)(
      'ParaTAA DDIM-100 at tol = atol = 1e-5 reaches the sequential image to 3e-2',
      async () => {
        const r = await scenario('ddim', 100, (x, sigmas) =>
          parataa({
            denoiser: D,
            x,
            sigmas,
            sampler: 'ddim',
            seed,
            cond,
            window: 100,
            tol: 1e-5,
            atol: 1e-5,
          }),
        );
        expect(r.run.converged, r.label).toBe(true);
        expect(r.err, r.label).toBeLessThan(3e-2);
      },
    );

    it.skipIf(!long)(
      'ParaDiGMS DDPM-1000 (window 48, tol 0.1): converges; the image is near the sequential one',
      async () => {
        const r = await scenario('ddpm', 1000, (x, sigmas) =>
          paradigms({ denoiser: D, x, sigmas, sampler: 'ddpm', seed, cond, window: 48, tol: 0.1 }),
        );
        expect(r.run.converged, r.label).toBe(true);
        expect(r.run.rounds, r.label).toBeLessThanOrEqual(120); // measured 69; 1000 sequential steps
        expect(r.err, r.label).toBeLessThan(0.15); // measured 6e-4–3e-2 (the classifier check below is the verdict)
        expect(r.cPar, r.label).toBe(r.cSeq);
      },
    );
  },
);
